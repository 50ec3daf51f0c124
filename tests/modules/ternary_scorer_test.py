"""Tests for the ternary scorer: f_ij(a, b, r) = sum_k head_i[k] tail_j[k] W[k, a, b, r]."""
import pytest
import torch
from allennlp.common import Params

from ere_allennlp.modules.ternary_scorer import FactorisedTernaryScorer, TernaryScorer


def loop_ternary(head: torch.Tensor, tail: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """f [B, m, m, E, E, R] with explicit loops over the batch, spans, labels and hidden units."""
    batch_size, num_spans, hidden_dim = head.shape
    _, num_entity, _, num_relation = weight.shape
    h, t, w = head.tolist(), tail.tolist(), weight.tolist()
    out = [
        [
            [
                [
                    [
                        [
                            sum(h[b][i][k] * t[b][j][k] * w[k][a][c][r] for k in range(hidden_dim))
                            for r in range(num_relation)
                        ]
                        for c in range(num_entity)
                    ]
                    for a in range(num_entity)
                ]
                for j in range(num_spans)
            ]
            for i in range(num_spans)
        ]
        for b in range(batch_size)
    ]
    return torch.tensor(out, dtype=head.dtype)


def test_forward_shapes_and_dense_matches_loops():
    torch.manual_seed(0)
    scorer = FactorisedTernaryScorer(input_dim=6, num_entity_labels=3, num_relation_labels=2, hidden_dim=4).double()
    span_vectors = torch.randn(2, 4, 6, dtype=torch.float64)
    head, tail = scorer(span_vectors)
    assert head.shape == (2, 4, 4) and tail.shape == (2, 4, 4)
    assert scorer.weight.shape == (4, 3, 3, 2)
    # With no fixed label the mask is all ones.
    assert torch.equal(scorer.weight, scorer.raw_weight)
    dense = TernaryScorer.dense(head, tail, scorer.weight)
    assert dense.shape == (2, 4, 4, 3, 3, 2)
    torch.testing.assert_close(dense, loop_ternary(head, tail, scorer.weight), atol=1e-10, rtol=0)
    # head and tail are two different projections: f_ij != f_ji in general.
    assert not torch.allclose(dense, dense.transpose(1, 2))


def test_initial_weight_is_small():
    torch.manual_seed(0)
    scorer = FactorisedTernaryScorer(input_dim=8, num_entity_labels=4, num_relation_labels=3)
    assert scorer.get_hidden_dim() == 200 and scorer.get_input_dim() == 8
    assert scorer.raw_weight.abs().max() < 0.1
    assert 0.005 < scorer.raw_weight.std() < 0.02


def test_fixed_labels_have_zero_scores_and_zero_gradients():
    torch.manual_seed(0)
    # An identification entity head [absent, present] and a relation head [absent, A, B].
    scorer = FactorisedTernaryScorer(
        input_dim=5,
        num_entity_labels=2,
        num_relation_labels=3,
        hidden_dim=3,
        fixed_entity_labels=(0,),
        fixed_relation_labels=(0,),
    ).double()
    with torch.no_grad():
        scorer.raw_weight.normal_()  # make every raw entry clearly non-zero
    head, tail = scorer(torch.randn(2, 4, 5, dtype=torch.float64))
    f = TernaryScorer.dense(head, tail, scorer.weight)  # [2, 4, 4, 2, 2, 3]
    assert torch.all(f[:, :, :, 0, :, :] == 0)
    assert torch.all(f[:, :, :, :, 0, :] == 0)
    assert torch.all(f[:, :, :, :, :, 0] == 0)
    # Only (present, present, r > 0) is free.
    assert torch.all(f[:, :, :, 1, 1, 1:] != 0)

    (f * torch.randn_like(f)).sum().backward()
    grad = scorer.raw_weight.grad
    assert torch.all(grad[:, 0, :, :] == 0)
    assert torch.all(grad[:, :, 0, :] == 0)
    assert torch.all(grad[:, :, :, 0] == 0)
    assert torch.all(grad[:, 1, 1, 1:] != 0)
    assert scorer.head_projection.weight.grad is not None


def test_fixed_relation_label_only():
    scorer = FactorisedTernaryScorer(
        3, num_entity_labels=3, num_relation_labels=2, hidden_dim=2, fixed_relation_labels=[0]
    )
    mask = scorer.weight_mask
    assert mask.shape == (3, 3, 2)
    assert torch.all(mask[:, :, 0] == 0) and torch.all(mask[:, :, 1] == 1)
    # The mask is a constant derived from the arguments: not a parameter, not in the state dict.
    assert "weight_mask" not in scorer.state_dict()
    assert all(parameter is not mask for parameter in scorer.parameters())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fixed_entity_labels": (2,)},
        {"fixed_relation_labels": (-1,)},
        {"hidden_dim": 0},
    ],
)
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        FactorisedTernaryScorer(4, num_entity_labels=2, num_relation_labels=2, **kwargs)


def test_from_params_with_labels_supplied_by_the_model():
    scorer = TernaryScorer.from_params(
        Params({"type": "factorised", "input_dim": 7, "hidden_dim": 200}),
        num_entity_labels=3,
        num_relation_labels=2,
        fixed_relation_labels=(0,),
    )
    assert isinstance(scorer, FactorisedTernaryScorer)
    assert scorer.weight.shape == (200, 3, 3, 2)
    assert scorer.fixed_relation_labels == (0,)
    # "factorised" is the default implementation.
    default = TernaryScorer.from_params(
        Params({"input_dim": 7, "hidden_dim": 5}), num_entity_labels=2, num_relation_labels=1
    )
    assert isinstance(default, FactorisedTernaryScorer) and default.weight.shape == (5, 2, 2, 1)
    # Everything in the config.
    full = TernaryScorer.from_params(
        Params(
            {
                "type": "factorised",
                "input_dim": 4,
                "num_entity_labels": 2,
                "num_relation_labels": 2,
                "hidden_dim": 3,
                "fixed_entity_labels": [0],
                "fixed_relation_labels": [0],
            }
        )
    )
    assert full.fixed_entity_labels == (0,) and full.weight.shape == (3, 2, 2, 2)
