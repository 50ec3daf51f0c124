"""Tests for mean-field high-order inference against a slow, loop-based reference implementation."""
import math
from typing import List, Optional, Tuple

import pytest
import torch
from allennlp.common import Params

from ere_allennlp.modules.high_order_inference import HighOrderInference, MeanFieldInference
from ere_allennlp.modules.ternary_scorer import TernaryScorer

PATHS = ("dense", "factorised")


# ---------------------------------------------------------------------------------------------------
# Reference implementation: plain Python floats and explicit loops over b, i, j, a, b', r (and k).
# ---------------------------------------------------------------------------------------------------


def _log_softmax(values: List[float]) -> List[float]:
    top = max(values)
    log_total = top + math.log(sum(math.exp(value - top) for value in values))
    return [value - log_total for value in values]


def reference_pair_mask(span_mask: torch.Tensor, pair_mask: Optional[torch.Tensor]) -> List[List[List[bool]]]:
    batch_size, num_spans = span_mask.shape
    return [
        [
            [
                bool(span_mask[b, i])
                and bool(span_mask[b, j])
                and i != j
                and (pair_mask is None or bool(pair_mask[b, i, j]))
                for j in range(num_spans)
            ]
            for i in range(num_spans)
        ]
        for b in range(batch_size)
    ]


def reference_ternary(head: torch.Tensor, tail: torch.Tensor, weight: torch.Tensor) -> list:
    """f[b][i][j][a][b'][r] = sum_k head[b][i][k] tail[b][j][k] weight[k][a][b'][r]."""
    batch_size, num_spans, hidden_dim = head.shape
    _, num_entity, _, num_relation = weight.shape
    h, t, w = head.tolist(), tail.tolist(), weight.tolist()
    f = [[[[[[0.0] * num_relation for _ in range(num_entity)] for _ in range(num_entity)] for _ in range(num_spans)]
          for _ in range(num_spans)] for _ in range(batch_size)]
    for b in range(batch_size):
        for i in range(num_spans):
            for j in range(num_spans):
                for a in range(num_entity):
                    for c in range(num_entity):
                        for r in range(num_relation):
                            f[b][i][j][a][c][r] = sum(
                                h[b][i][k] * t[b][j][k] * w[k][a][c][r] for k in range(hidden_dim)
                            )
    return f


def reference_messages(
    f: list, mask: list, span_q: list, pair_q: list, head_span_q: Optional[list] = None
) -> Tuple[list, list]:
    """F_i(a) and F_ij(r) of the paper, with explicit loops: F_i from the given Q; F_ij from
    `head_span_q` for span i (the paper's Q^T_i; default: `span_q`, the synchronous update) and
    `span_q` for span j."""
    head_span_q = span_q if head_span_q is None else head_span_q
    batch_size, num_spans = len(f), len(f[0])
    num_entity, num_relation = len(f[0][0][0]), len(f[0][0][0][0][0])
    span_message = [[[0.0] * num_entity for _ in range(num_spans)] for _ in range(batch_size)]
    pair_message = [
        [[[0.0] * num_relation for _ in range(num_spans)] for _ in range(num_spans)] for _ in range(batch_size)
    ]
    for b in range(batch_size):
        for i in range(num_spans):
            for a in range(num_entity):
                total = 0.0
                for j in range(num_spans):
                    for c in range(num_entity):
                        for r in range(num_relation):
                            if mask[b][i][j]:
                                total += span_q[b][j][c] * pair_q[b][i][j][r] * f[b][i][j][a][c][r]
                            if mask[b][j][i]:
                                total += span_q[b][j][c] * pair_q[b][j][i][r] * f[b][j][i][c][a][r]
                span_message[b][i][a] = total
        for i in range(num_spans):
            for j in range(num_spans):
                for r in range(num_relation):
                    pair_message[b][i][j][r] = sum(
                        head_span_q[b][i][a] * span_q[b][j][c] * f[b][i][j][a][c][r]
                        for a in range(num_entity)
                        for c in range(num_entity)
                    )
    return span_message, pair_message


def reference_mean_field(
    span_scores: torch.Tensor,
    pair_scores: torch.Tensor,
    head: torch.Tensor,
    tail: torch.Tensor,
    weight: torch.Tensor,
    span_mask: torch.Tensor,
    pair_mask: Optional[torch.Tensor],
    iterations: int,
    sequential: bool = False,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Padded spans and masked pairs keep their first-order distribution. `sequential`: the paper's
    order, spans updated first and F_ij taking the new Q_i (each step written out below)."""
    batch_size, num_spans, _ = span_scores.shape
    mask = reference_pair_mask(span_mask, pair_mask)
    f = reference_ternary(head, tail, weight)
    g_span, g_pair = span_scores.tolist(), pair_scores.tolist()
    span_log_q = [[_log_softmax(g_span[b][i]) for i in range(num_spans)] for b in range(batch_size)]
    pair_log_q = [[[_log_softmax(g_pair[b][i][j]) for j in range(num_spans)] for i in range(num_spans)]
                  for b in range(batch_size)]
    for _ in range(iterations):
        span_q = [[[math.exp(x) for x in row] for row in batch] for batch in span_log_q]
        pair_q = [[[[math.exp(x) for x in cell] for cell in row] for row in batch] for batch in pair_log_q]
        span_message, pair_message = reference_messages(f, mask, span_q, pair_q)
        for b in range(batch_size):
            for i in range(num_spans):
                if bool(span_mask[b, i]):
                    span_log_q[b][i] = _log_softmax([g + m for g, m in zip(g_span[b][i], span_message[b][i])])
        if sequential:
            new_span_q = [[[math.exp(x) for x in row] for row in batch] for batch in span_log_q]
            _, pair_message = reference_messages(f, mask, span_q, pair_q, head_span_q=new_span_q)
        for b in range(batch_size):
            for i in range(num_spans):
                for j in range(num_spans):
                    if mask[b][i][j]:
                        pair_log_q[b][i][j] = _log_softmax(
                            [g + m for g, m in zip(g_pair[b][i][j], pair_message[b][i][j])]
                        )
    dtype = span_scores.dtype
    return torch.tensor(span_log_q, dtype=dtype), torch.tensor(pair_log_q, dtype=dtype)


# ---------------------------------------------------------------------------------------------------
# Random inputs
# ---------------------------------------------------------------------------------------------------


def make_inputs(
    batch_size: int,
    num_spans: int,
    num_entity: int,
    num_relation: int,
    hidden_dim: int,
    seed: int,
    weight_scale: float = 0.5,
    pad: bool = True,
    custom_pair_mask: bool = False,
    dtype: torch.dtype = torch.float64,
):
    generator = torch.Generator().manual_seed(seed)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator, dtype=dtype)

    span_scores = randn(batch_size, num_spans, num_entity)
    pair_scores = randn(batch_size, num_spans, num_spans, num_relation)
    head = randn(batch_size, num_spans, hidden_dim)
    tail = randn(batch_size, num_spans, hidden_dim)
    weight = randn(hidden_dim, num_entity, num_entity, num_relation) * weight_scale
    lengths = torch.full((batch_size,), num_spans)
    if pad and batch_size > 1:
        # The first row is full, the others have some False at the end.
        lengths[1:] = torch.randint(0, num_spans + 1, (batch_size - 1,), generator=generator)
        lengths[-1] = max(num_spans - 1, 0)
    span_mask = torch.arange(num_spans)[None, :] < lengths[:, None]
    pair_mask = None
    if custom_pair_mask:
        pair_mask = torch.rand(batch_size, num_spans, num_spans, generator=generator) < 0.7
    return span_scores, pair_scores, head, tail, weight, span_mask, pair_mask


SHAPES = [
    # (B, m, E, R, dt, custom_pair_mask)
    (1, 1, 1, 1, 2, False),
    (1, 2, 2, 2, 2, False),
    (2, 3, 3, 1, 3, True),
    (3, 4, 2, 3, 4, False),
    (2, 5, 4, 3, 2, True),
    (3, 5, 1, 2, 3, True),
    (1, 5, 4, 3, 4, True),
    (3, 3, 2, 2, 2, True),
]


# ---------------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("iterations", [1, 3])
def test_matches_loop_reference(path, shape, iterations):
    batch_size, num_spans, num_entity, num_relation, hidden_dim, custom = shape
    seed = hash((shape, iterations)) % 10_000
    inputs = make_inputs(batch_size, num_spans, num_entity, num_relation, hidden_dim, seed, custom_pair_mask=custom)
    inference = MeanFieldInference(iterations=iterations, force=path)
    span_log_q, pair_log_q = inference(*inputs)
    expected_span, expected_pair = reference_mean_field(*inputs, iterations=iterations)
    assert span_log_q.shape == (batch_size, num_spans, num_entity)
    assert pair_log_q.shape == (batch_size, num_spans, num_spans, num_relation)
    torch.testing.assert_close(span_log_q, expected_span, atol=1e-5, rtol=0)
    torch.testing.assert_close(pair_log_q, expected_pair, atol=1e-5, rtol=0)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("shape", [SHAPES[3], SHAPES[4], SHAPES[6]])
def test_sequential_order_matches_loop_reference(path, shape):
    """update_order="sequential" is the paper's Section 2.3 as written: F^T_ij uses Q^T_i."""
    batch_size, num_spans, num_entity, num_relation, hidden_dim, custom = shape
    inputs = make_inputs(batch_size, num_spans, num_entity, num_relation, hidden_dim, seed=11, custom_pair_mask=custom)
    span_log_q, pair_log_q = MeanFieldInference(iterations=3, force=path, update_order="sequential")(*inputs)
    expected_span, expected_pair = reference_mean_field(*inputs, iterations=3, sequential=True)
    torch.testing.assert_close(span_log_q, expected_span, atol=1e-5, rtol=0)
    torch.testing.assert_close(pair_log_q, expected_pair, atol=1e-5, rtol=0)
    # The two orders are different computations (after one step the pairs already differ).
    synchronous = MeanFieldInference(iterations=3, force=path)(*inputs)
    assert (synchronous[1] - pair_log_q).abs().max() > 1e-3


def test_reference_differs_from_first_order():
    """Guards the reference tests against comparing two copies of first-order inference."""
    inputs = make_inputs(2, 4, 3, 2, 3, seed=1, weight_scale=1.0)
    span_log_q, pair_log_q = MeanFieldInference(iterations=2, force="dense")(*inputs)
    assert (span_log_q - torch.log_softmax(inputs[0], -1)).abs().max() > 1e-2
    assert (pair_log_q - torch.log_softmax(inputs[1], -1)).abs().max() > 1e-2


@pytest.mark.parametrize(
    "shape", [(1, 7, 3, 4, 5), (4, 9, 2, 2, 6), (2, 6, 5, 3, 8), (3, 8, 1, 1, 3), (2, 1, 3, 2, 2)]
)
def test_dense_equals_factorised(shape):
    inputs = make_inputs(*shape, seed=sum(shape), weight_scale=0.7, custom_pair_mask=shape[0] % 2 == 0)
    dense = MeanFieldInference(iterations=4, force="dense")(*inputs)
    factorised = MeanFieldInference(iterations=4, force="factorised")(*inputs)
    for d, f in zip(dense, factorised):
        torch.testing.assert_close(d, f, atol=1e-10, rtol=0)
    # float32 agrees too, more loosely.
    inputs32 = [x.float() if x is not None and x.is_floating_point() else x for x in inputs]
    dense32 = MeanFieldInference(iterations=4, force="dense")(*inputs32)
    factorised32 = MeanFieldInference(iterations=4, force="factorised")(*inputs32)
    for d, f, d64 in zip(dense32, factorised32, dense):
        assert d.dtype == torch.float32
        torch.testing.assert_close(d, f, atol=1e-4, rtol=0)
        torch.testing.assert_close(d.double(), d64, atol=1e-4, rtol=0)


@pytest.mark.parametrize("path", PATHS)
def test_fixed_point_after_many_iterations(path):
    inputs = make_inputs(2, 5, 3, 2, 3, seed=7, weight_scale=0.1, custom_pair_mask=True)
    span_scores, pair_scores, head, tail, weight, span_mask, pair_mask = inputs
    span_log_q, pair_log_q = MeanFieldInference(iterations=200, force=path)(*inputs)
    # The messages of the final Q, recomputed by the reference.
    mask = reference_pair_mask(span_mask, pair_mask)
    f = reference_ternary(head, tail, weight)
    span_message, pair_message = reference_messages(f, mask, span_log_q.exp().tolist(), pair_log_q.exp().tolist())
    span_fixed = torch.log_softmax(span_scores + torch.tensor(span_message, dtype=torch.float64), dim=-1)
    pair_fixed = torch.log_softmax(pair_scores + torch.tensor(pair_message, dtype=torch.float64), dim=-1)
    valid_spans = span_mask
    valid_pairs = torch.tensor(mask)
    torch.testing.assert_close(span_log_q[valid_spans], span_fixed[valid_spans], atol=1e-9, rtol=0)
    torch.testing.assert_close(pair_log_q[valid_pairs], pair_fixed[valid_pairs], atol=1e-9, rtol=0)
    # ... and Q has moved away from the first-order distribution.
    assert (span_log_q - torch.log_softmax(span_scores, -1))[valid_spans].abs().max() > 1e-3


@pytest.mark.parametrize("path", PATHS)
def test_gradcheck(path):
    span_scores, pair_scores, head, tail, weight, span_mask, _ = make_inputs(2, 3, 2, 2, 2, seed=3)
    pair_mask = torch.tensor([[[True, False, True], [True, True, True], [True, True, True]]] * 2)
    inference = MeanFieldInference(iterations=2, force=path)

    def function(*tensors):
        return inference(*tensors, span_mask=span_mask, pair_mask=pair_mask)

    tensors = tuple(x.clone().requires_grad_() for x in (span_scores, pair_scores, head, tail, weight))
    assert torch.autograd.gradcheck(function, tensors, eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("path", PATHS)
def test_zero_iterations_is_first_order(path):
    inputs = make_inputs(3, 4, 3, 2, 3, seed=11, custom_pair_mask=True)
    span_log_q, pair_log_q = MeanFieldInference(iterations=0, force=path)(*inputs)
    assert torch.equal(span_log_q, torch.log_softmax(inputs[0], dim=-1))
    assert torch.equal(pair_log_q, torch.log_softmax(inputs[1], dim=-1))


def test_first_order_list_receives_the_unary_log_softmax_with_its_gradient():
    """`first_order` (SpanModel's ``first_order_loss_weight``) gets Q^0 of spans and pairs, not detached."""
    span_scores, pair_scores, *rest = make_inputs(2, 4, 3, 2, 3, seed=5, weight_scale=1.0)
    span_scores, pair_scores = span_scores.requires_grad_(), pair_scores.requires_grad_()
    first_order: List[torch.Tensor] = []
    span_log_q, _ = MeanFieldInference(iterations=2)(span_scores, pair_scores, *rest, first_order=first_order)
    assert len(first_order) == 2 and (span_log_q - first_order[0]).abs().max() > 1e-2
    assert torch.equal(first_order[0], torch.log_softmax(span_scores, dim=-1))
    assert torch.equal(first_order[1], torch.log_softmax(pair_scores, dim=-1))
    first_order[1].sum().backward()
    assert pair_scores.grad is not None and span_scores.grad is None


@pytest.mark.parametrize("path", PATHS)
def test_fully_padded_rows_are_finite(path):
    span_scores, pair_scores, head, tail, weight, _, _ = make_inputs(3, 4, 3, 2, 3, seed=5)
    span_mask = torch.tensor([[True, True, False, False], [False] * 4, [False] * 4])
    tensors = [x.clone().requires_grad_() for x in (span_scores, pair_scores, head, tail, weight)]
    span_log_q, pair_log_q = MeanFieldInference(iterations=3, force=path)(*tensors, span_mask=span_mask)
    assert torch.isfinite(span_log_q).all() and torch.isfinite(pair_log_q).all()
    # Padded rows keep their first-order distribution.
    torch.testing.assert_close(span_log_q[1:], torch.log_softmax(span_scores[1:], -1))
    torch.testing.assert_close(pair_log_q[1:], torch.log_softmax(pair_scores[1:], -1))
    (span_log_q.sum() + pair_log_q.sum()).backward()
    assert all(torch.isfinite(x.grad).all() for x in tensors)
    # Padded spans send nothing: head/tail of padded spans get no gradient.
    assert torch.all(tensors[2].grad[1:] == 0) and torch.all(tensors[2].grad[0, 2:] == 0)


@pytest.mark.parametrize("path", PATHS)
def test_padding_does_not_influence_real_spans(path):
    inputs = make_inputs(2, 5, 3, 2, 3, seed=13, custom_pair_mask=True)
    span_scores, pair_scores, head, tail, weight, span_mask, pair_mask = inputs
    inference = MeanFieldInference(iterations=3, force=path)
    span_log_q, pair_log_q = inference(*inputs)
    full_pair_mask = span_mask[:, :, None] & span_mask[:, None, :] & ~torch.eye(5, dtype=torch.bool) & pair_mask

    # Garbage, even NaN, in padded spans and masked pairs changes nothing at real ones.
    noisy_span, noisy_pair = span_scores.clone(), pair_scores.clone()
    noisy_head, noisy_tail = head.clone(), tail.clone()
    noisy_span[~span_mask] = float("nan")
    noisy_pair[~full_pair_mask] = float("nan")
    noisy_head[~span_mask] = float("nan")
    noisy_tail[~span_mask] = 1e30
    noisy = inference(noisy_span, noisy_pair, noisy_head, noisy_tail, weight, span_mask, pair_mask)
    torch.testing.assert_close(noisy[0][span_mask], span_log_q[span_mask], atol=0, rtol=0)
    torch.testing.assert_close(noisy[1][full_pair_mask], pair_log_q[full_pair_mask], atol=0, rtol=0)

    # Finite garbage: every output stays finite.
    big_span, big_pair = span_scores.clone(), pair_scores.clone()
    big_span[~span_mask] = 1e4
    big_pair[~full_pair_mask] = -1e4
    big_head = head.clone()
    big_head[~span_mask] = -1e30
    big = inference(big_span, big_pair, big_head, noisy_tail, weight, span_mask, pair_mask)
    assert all(torch.isfinite(x).all() for x in big)
    torch.testing.assert_close(big[0][span_mask], span_log_q[span_mask], atol=0, rtol=0)


@pytest.mark.parametrize("path", PATHS)
def test_pair_mask_is_and_ed_with_span_mask_and_diagonal(path):
    inputs = make_inputs(2, 4, 2, 2, 3, seed=17)
    span_scores, pair_scores, head, tail, weight, span_mask, _ = inputs
    inference = MeanFieldInference(iterations=2, force=path)
    default = inference(span_scores, pair_scores, head, tail, weight, span_mask)
    all_true = inference(*inputs[:6], torch.ones(2, 4, 4, dtype=torch.bool))
    for d, a in zip(default, all_true):
        torch.testing.assert_close(d, a, atol=0, rtol=0)
    # The diagonal is first-order whatever the caller's mask says.
    diagonal = torch.arange(4)
    first_order_pairs = torch.log_softmax(pair_scores, -1)
    torch.testing.assert_close(default[1][:, diagonal, diagonal], first_order_pairs[:, diagonal, diagonal])
    # Masking every pair leaves the spans first-order too.
    none = inference(*inputs[:6], torch.zeros(2, 4, 4, dtype=torch.bool))
    torch.testing.assert_close(none[0], torch.log_softmax(span_scores, -1), atol=1e-12, rtol=0)


def test_outputs_are_normalised_log_probabilities():
    inputs = make_inputs(2, 4, 3, 2, 3, seed=19, weight_scale=2.0)
    for path in PATHS:
        span_log_q, pair_log_q = MeanFieldInference(iterations=5, force=path)(*inputs)
        torch.testing.assert_close(span_log_q.exp().sum(-1), torch.ones(2, 4, dtype=torch.float64))
        torch.testing.assert_close(pair_log_q.exp().sum(-1), torch.ones(2, 4, 4, dtype=torch.float64))


def test_path_selection():
    inference = MeanFieldInference(max_dense_elements=1000)
    assert inference.use_dense(1, 5, 2, 10)  # 5 * 5 * 4 * 10 = 1000
    assert not inference.use_dense(1, 5, 2, 11)
    assert MeanFieldInference(force="dense", max_dense_elements=0).use_dense(8, 100, 10, 10)
    assert not MeanFieldInference(force="factorised").use_dense(1, 1, 1, 1)
    # Both automatic choices give the reference result.
    inputs = make_inputs(2, 3, 2, 2, 2, seed=23)
    expected = reference_mean_field(*inputs, iterations=2)
    for limit in (0, 2**26):
        result = MeanFieldInference(iterations=2, max_dense_elements=limit)(*inputs)
        for r, e in zip(result, expected):
            torch.testing.assert_close(r, e, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kwargs", [{"iterations": -1}, {"force": "sparse"}, {"max_dense_elements": -5}, {"update_order": "parallel"}])
def test_invalid_configuration(kwargs):
    with pytest.raises(Exception):
        MeanFieldInference(**kwargs)


def test_shape_errors():
    span_scores, pair_scores, head, tail, weight, span_mask, _ = make_inputs(1, 3, 2, 2, 2, seed=0)
    inference = MeanFieldInference()
    with pytest.raises(ValueError):
        inference(span_scores, pair_scores, head, tail, weight[:, :, :1], span_mask)
    with pytest.raises(ValueError):
        inference(span_scores, pair_scores[:, :2], head, tail, weight, span_mask)


def test_from_params():
    inference = HighOrderInference.from_params(Params({"type": "mean_field", "iterations": 2}))
    assert isinstance(inference, MeanFieldInference)
    assert inference.iterations == 2 and inference.force is None and inference.max_dense_elements == 2**26
    default = HighOrderInference.from_params(Params({"force": "factorised", "max_dense_elements": 10}))
    assert isinstance(default, MeanFieldInference) and default.force == "factorised" and default.iterations == 3


def test_sum_over_relations_loop_and_batched_matmul_agree(monkeypatch):
    """Without gradients, small inputs take the loop; large ones and any needing gradients the
    batched matmul. Both must give sum_r q[:, r] * f[:, r]."""
    from ere_allennlp.modules import high_order_inference as hoi

    torch.manual_seed(7)
    flat, q = torch.randn(30, 4, 9), torch.rand(30, 4)
    expected = (flat * q.unsqueeze(-1)).sum(1)
    with torch.no_grad():
        looped = hoi._sum_over_relations(flat, q)
        monkeypatch.setattr(hoi, "_LOOP_MAX_ELEMENTS", 0)
        batched = hoi._sum_over_relations(flat, q)
    torch.testing.assert_close(looped, expected)
    torch.testing.assert_close(batched, expected)
    monkeypatch.setattr(hoi, "_LOOP_MAX_ELEMENTS", 2**20)
    flat.requires_grad_(True)
    hoi._sum_over_relations(flat, q).sum().backward()
    torch.testing.assert_close(flat.grad, q.unsqueeze(-1).expand_as(flat))


# ---------------------------------------------------------------------------------------------------
# Half precision: the layer runs in float32 (module docstring, "Precision")
# ---------------------------------------------------------------------------------------------------
FLOAT16_MAX = 65504.0


def overflowing_inputs() -> tuple:
    """float16 inputs whose every ternary score fits float16 (|f| <= 20000) but whose mean-field
    messages, sums over the 7 other spans as head and as tail, do not (up to ~280000)."""
    generator = torch.Generator().manual_seed(3)
    batch_size, num_spans, num_entity, num_relation, hidden_dim = 1, 8, 3, 2, 4
    span_scores = torch.randn(batch_size, num_spans, num_entity, generator=generator)
    pair_scores = torch.randn(batch_size, num_spans, num_spans, num_relation, generator=generator)
    head = torch.full((batch_size, num_spans, hidden_dim), 10.0)
    tail = torch.full((batch_size, num_spans, hidden_dim), 10.0)
    weight = 50.0 * torch.randn(hidden_dim, num_entity, num_entity, num_relation, generator=generator).sign()
    span_mask = torch.ones(batch_size, num_spans, dtype=torch.bool)
    return tuple(x.half() for x in (span_scores, pair_scores, head, tail, weight)) + (span_mask,)


@pytest.mark.parametrize("path", PATHS)
def test_float16_inputs_beyond_the_float16_range_give_the_float32_result(path):
    """With float16 inputs whose messages exceed 65504 the layer computes in float32: finite
    log-probabilities, float32, equal to the float32 layer's on the same values and within 0.05 of
    the float64 loop reference (measured: 0.0096 on log-probabilities of magnitude up to 2e5; two
    iterations: at the third, float32 rounding alone moves one by 98 on these extreme inputs, which
    the float64 layer matches to 1e-10). The same steps in float16 (the layer without its upcast)
    give nan."""
    *inputs16, span_mask = overflowing_inputs()
    span_scores, pair_scores, head, tail, weight = (x.float() for x in inputs16)
    # Each ternary score fits float16; the first span messages (from Q^0, all pairs i != j) do not.
    ternary = TernaryScorer.dense(head, tail, weight.permute(0, 3, 1, 2))  # [B, m, m, R, E, E]
    pair_q = torch.softmax(pair_scores, -1) * ~torch.eye(8, dtype=torch.bool)[None, :, :, None]
    message = MeanFieldInference._dense_span_message(ternary, torch.softmax(span_scores, -1), pair_q)
    assert ternary.abs().max() <= FLOAT16_MAX < message.abs().max()

    inference = MeanFieldInference(iterations=2, force=path)
    naive = inference._infer(*inputs16, span_mask, None)  # the same steps in float16
    assert naive[0].dtype == torch.float16 and not all(bool(torch.isfinite(x).all()) for x in naive)

    span_log_q, pair_log_q = inference(*inputs16, span_mask)
    assert span_log_q.dtype == pair_log_q.dtype == torch.float32
    assert torch.isfinite(span_log_q).all() and torch.isfinite(pair_log_q).all()
    expected = inference(span_scores, pair_scores, head, tail, weight, span_mask)
    torch.testing.assert_close((span_log_q, pair_log_q), expected, rtol=0, atol=0)
    inputs64 = (x.double() for x in (span_scores, pair_scores, head, tail, weight))
    reference = reference_mean_field(*inputs64, span_mask, None, iterations=2)
    torch.testing.assert_close((span_log_q.double(), pair_log_q.double()), reference, rtol=0, atol=0.05)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["float16", "bfloat16"])
@pytest.mark.parametrize("path", PATHS)
def test_autocast_does_not_reach_inside_the_layer(dtype, path):
    """Under ``torch.autocast`` (what ``use_amp`` turns on, in float16 on a GPU) the layer's
    products stay float32: the same result as without autocast, bit for bit. Without turning
    autocast off inside, float16 overflows on the inputs above and bfloat16 changes the results."""
    *inputs16, span_mask = overflowing_inputs()
    inputs = [x.float() for x in inputs16]
    inference = MeanFieldInference(iterations=3, force=path)
    expected = inference(*inputs, span_mask)
    with torch.autocast("cpu", dtype=dtype):
        got = inference(*inputs, span_mask)
        unguarded = inference._infer(*inputs, span_mask, None)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    if dtype == torch.float16:
        assert not all(bool(torch.isfinite(x).all()) for x in unguarded)
    else:
        assert max(float((u - e).abs().max()) for u, e in zip(unguarded, expected)) > 1.0
