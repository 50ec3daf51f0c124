"""Tests for the span pruner: the top-K rule, the loss and metrics on hand-made scores, and training."""
import math
from typing import List, Optional

import pytest
import torch
from allennlp.common.testing import ModelTestCase
from allennlp.data import Vocabulary
from allennlp.modules.text_field_embedders import BasicTextFieldEmbedder
from allennlp.modules.token_embedders import Embedding

from ere_allennlp.common import NULL_LABEL, Entity
from ere_allennlp.metrics.span_recall import SpanRecall
from ere_allennlp.models.span_pruner import SpanPruner
from tests.models.fixture_models import (
    AUTOCAST_LOSS_TOLERANCE,
    AUTOCAST_PROBABILITY_TOLERANCE,
    AUTOCAST_SAME_DECISIONS,
    autocast_agreement,
    build,
    fit,
    tensors,
    unregistered_tensors,
)

CONFIG = "fixtures/configs/span_pruner.jsonnet"  # relative to the repo root (tests run from there)
# BERT's pooler is unused (the pruner reads the last layer's first sub-tokens), so it gets no gradient.
POOLER = "_embedder.token_embedder_tokens._matched_embedder.transformer_model.pooler.dense"


def make_pruner(labels: Optional[List[str]] = (NULL_LABEL, "Task"), **kwargs) -> SpanPruner:
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(list(labels or []), "entity_labels")
    embedder = BasicTextFieldEmbedder({"tokens": Embedding(embedding_dim=4, num_embeddings=10)})
    return SpanPruner(vocab, embedder, biaffine_dim=3, hidden_dim=5, **kwargs)


def all_real(batch_size: int, num_spans: int) -> torch.Tensor:
    return torch.ones(batch_size, num_spans, dtype=torch.bool)


# ---------------------------------------------------------------- select()
def test_k_follows_the_formula_per_sentence():
    pruner = make_pruner()  # alpha 0.5, ml 3, mu 18
    num_tokens = torch.tensor([1, 2, 7, 8, 11, 36, 37, 100])
    # floor(0.5 n) = 0, 1, 3, 4, 5, 18, 18, 50 -> max(3, min(18, .)) = 3, 3, 3, 4, 5, 18, 18, 18
    expected = [3, 3, 3, 4, 5, 18, 18, 18]
    scores = torch.randn(8, 60)
    indices, keep = pruner.select(scores, all_real(8, 60), num_tokens)
    assert indices.shape == keep.shape == (8, 18)
    assert keep.sum(-1).tolist() == expected
    for row, k in enumerate(expected):
        assert keep[row].tolist() == [True] * k + [False] * (18 - k)
        assert set(indices[row, :k].tolist()) == set(scores[row].topk(k).indices.tolist())
        assert indices[row, :k].tolist() == sorted(indices[row, :k].tolist())
        assert (indices[row, k:] == 0).all()


def test_other_settings_of_the_rule():
    pruner = make_pruner(ratio=0.3, min_spans=1, max_spans=4)
    # floor(0.3 n): n=2 -> 0 -> 1; n=10 -> 3; n=20 -> 6 -> 4
    _, keep = pruner.select(torch.zeros(3, 30), all_real(3, 30), torch.tensor([2, 10, 20]))
    assert keep.sum(-1).tolist() == [1, 3, 4]


def test_top_k_is_per_sentence_not_per_batch():
    pruner = make_pruner()
    # Every span of sentence 0 scores above every span of sentence 1: a batch-wide top-6 would take
    # only sentence 0's spans. Each sentence has 8 words, so K = 4 each.
    scores = torch.tensor(
        [
            [9.0, 8.0, 1.0, 7.0, 6.5, 2.0, 10.0, 5.0],
            [-5.0, -1.0, -9.0, -2.0, -3.0, -8.0, -7.0, -4.0],
        ]
    )
    indices, keep = pruner.select(scores, all_real(2, 8), torch.tensor([8, 8]))
    assert keep.all()
    assert indices.tolist() == [[0, 1, 3, 6], [1, 3, 4, 7]]


def test_k_is_capped_by_candidates_and_padding_is_never_kept():
    pruner = make_pruner()
    # Sentence 0: 10 words (K = 5) but only two real candidates, whose padding slots score high.
    # Sentence 1: 12 words (K = 6), seven candidates.
    scores = torch.tensor(
        [
            [0.1, 0.2, 50.0, 50.0, 50.0, 50.0, 50.0],
            [3.0, 1.0, 7.0, 2.0, 6.0, 5.0, 4.0],
        ]
    )
    span_mask = torch.tensor([[True, True] + [False] * 5, [True] * 7])
    indices, keep = pruner.select(scores, span_mask, torch.tensor([10, 12]))
    assert indices.shape == (2, 6)
    assert keep.tolist() == [[True, True] + [False] * 4, [True] * 6]
    assert indices.tolist() == [[0, 1, 0, 0, 0, 0], [0, 2, 3, 4, 5, 6]]


def test_no_candidates_at_all():
    pruner = make_pruner()
    indices, keep = pruner.select(torch.zeros(2, 1), torch.zeros(2, 1, dtype=torch.bool), torch.tensor([4, 5]))
    assert indices.shape == keep.shape == (2, 0)


def test_ties_are_deterministic():
    pruner = make_pruner()
    first = pruner.select(torch.zeros(3, 20), all_real(3, 20), torch.tensor([8, 8, 8]))
    second = pruner.select(torch.zeros(3, 20), all_real(3, 20), torch.tensor([8, 8, 8]))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])


# ---------------------------------------------------------------- metric, loss and outputs
def test_span_recall_metric_by_hand():
    metric = SpanRecall()
    kept = [[(0, 0), (1, 2), (3, 3)], [(0, 1)]]
    gold = [[Entity(0, 0, "Task"), Entity(3, 3, "Method"), Entity(5, 9, "Task")], []]
    metric(kept, gold)
    # tp = 2 of 4 kept and 3 gold (the wide gold span [5, 9] still counts); 2 sentences.
    values = metric.get_metric(reset=True)
    assert values["p"] == pytest.approx(0.5)
    assert values["r"] == pytest.approx(2 / 3)
    assert values["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert values["k"] == pytest.approx(2.0)
    assert metric.get_metric() == {"p": 0.0, "r": 0.0, "f1": 0.0, "k": 0.0}


def fixed_forward(pruner: SpanPruner, scores: torch.Tensor, labels: List[str]):
    """Runs forward on two sentences (4 and 3 words) with the span scores replaced by `scores`."""
    spans = torch.tensor(
        [
            [[0, 0], [0, 1], [1, 1], [1, 2], [2, 3], [3, 3]],
            [[0, 0], [1, 1], [2, 2], [0, 2], [-1, -1], [-1, -1]],
        ]
    )
    span_mask = spans[..., 0] >= 0
    pruner.score_spans = lambda tokens, spans: (scores, span_mask)  # type: ignore[method-assign]
    tokens = {"tokens": {"tokens": torch.tensor([[1, 2, 3, 4], [5, 6, 7, 0]])}}
    index = {label: pruner.vocab.get_token_index(label, "entity_labels") for label in set(labels)}
    span_labels = torch.tensor([[index[label] for label in labels[:6]], [index[label] for label in labels[6:]] + [0, 0]])
    metadata = [
        {"doc_key": "d", "sentence_index": 0, "sentence_start": 0, "has_gold": True,
         "gold_entities": [Entity(0, 1, "Task"), Entity(3, 3, "Task"), Entity(0, 3, "Task")]},
        {"doc_key": "d", "sentence_index": 1, "sentence_start": 4, "has_gold": True,
         "gold_entities": [Entity(2, 2, "Task")]},
    ]
    return pruner(tokens=tokens, spans=spans, metadata=metadata, span_labels=span_labels)


def test_forward_loss_outputs_and_metrics_on_fixed_scores():
    pruner = make_pruner()
    scores = torch.tensor([[2.0, 1.0, -1.0, 0.5, -2.0, 3.0], [0.0, -1.0, 1.0, 4.0, 99.0, 99.0]])
    labels = ["NULL", "Task", "NULL", "NULL", "NULL", "Task"] + ["NULL", "NULL", "Task", "NULL"]
    output = fixed_forward(pruner, scores, labels)

    def bce(logit: float, target: int) -> float:
        p = 1 / (1 + math.exp(-logit))
        return -math.log(p) if target else -math.log(1 - p)

    targets = [0, 1, 0, 0, 0, 1, 0, 0, 1, 0]
    logits = scores[0].tolist() + scores[1, :4].tolist()  # padding spans are not in the loss
    assert output["loss"].item() == pytest.approx(sum(bce(g, t) for g, t in zip(logits, targets)), rel=1e-5)

    # K = 3 for both (4 and 3 words -> floor(n / 2) < ml); sentence 1 has only 4 real candidates.
    sigmoid = lambda g: 1 / (1 + math.exp(-g))  # noqa: E731
    predicted = output["predicted_ner"]
    assert [p[:3] for p in predicted[0]] == [[0, 0, None], [0, 1, None], [3, 3, None]]
    assert [p[:3] for p in predicted[1]] == [[0, 0, None], [2, 2, None], [0, 2, None]]
    assert [p[3] for p in predicted[0]] == pytest.approx([sigmoid(2.0), sigmoid(1.0), sigmoid(3.0)])
    assert output["doc_key"] == ["d", "d"]
    assert output["sentence_start"] == [0, 4]

    # Kept 6; gold 4 ([0, 3] is wider than any candidate but counts); tp: (0,1), (3,3), (2,2) = 3.
    metrics = pruner.get_metrics(reset=True)
    assert metrics["pruner_p"] == pytest.approx(0.5)
    assert metrics["pruner_r"] == pytest.approx(0.75)
    assert metrics["pruner_f1"] == pytest.approx(0.6)
    assert metrics["pruner_k"] == pytest.approx(3.0)


def test_vocabulary_without_null_label():
    pruner = make_pruner(labels=["Task"])
    scores = torch.zeros(2, 6)
    output = fixed_forward(pruner, scores, ["Task"] * 10)
    # Every real span is an entity: 10 spans with loss log 2 each.
    assert output["loss"].item() == pytest.approx(10 * math.log(2), rel=1e-5)


def test_forward_without_candidates_or_gold():
    pruner = make_pruner()
    pruner.eval()
    tokens = {"tokens": {"tokens": torch.tensor([[1, 2, 3], [4, 5, 0]])}}
    spans = torch.full((2, 1, 2), -1, dtype=torch.long)
    metadata = [{"doc_key": "d", "sentence_index": k, "sentence_start": 3 * k, "has_gold": False} for k in range(2)]
    output = pruner(tokens=tokens, spans=spans, metadata=metadata)
    assert "loss" not in output
    assert output["predicted_ner"] == [[], []]
    assert pruner.get_metrics()["pruner_k"] == 0.0
    indices, keep = pruner.prune(tokens, spans)
    assert indices.shape == keep.shape == (2, 0)


# ---------------------------------------------------------------- training
# Softmax over a span's tokens is invariant to the attention scorer's bias: its gradient is 0.
ATTENTION_BIAS = "_attentive._global_attention._module.bias"


class TestSpanPrunerTraining(ModelTestCase):
    def test_train_save_and_load(self):
        self.set_up_model(CONFIG, "fixtures/data/train.json")
        model, _ = self.ensure_model_can_train_save_and_load(
            CONFIG, gradients_to_ignore={f"{POOLER}.weight", f"{POOLER}.bias", ATTENTION_BIAS}, seed=1
        )
        model.eval()
        with torch.no_grad():
            batch = self.dataset.as_tensor_dict()
            indices, keep = model.prune(batch["tokens"], batch["spans"])
        words = torch.tensor([len(instance["metadata"]["words"]) for instance in self.instances])
        expected = torch.clamp(torch.clamp(words // 2, max=18), min=3)
        num_candidates = torch.tensor([len(instance["metadata"]["candidate_spans"]) for instance in self.instances])
        assert keep.sum(-1).tolist() == torch.minimum(expected, num_candidates).tolist()
        assert set(model.get_metrics()) == {"pruner_p", "pruner_r", "pruner_f1", "pruner_k"}


# ---------------------------------------------------------------- score_spans()
def test_scores_of_a_padded_batch_equal_each_sentence_scored_alone():
    """score_spans flattens the batch and scores only the real spans: a sentence's scores must not
    depend on the other sentences or the padding, and padding rows score 0."""
    torch.manual_seed(0)
    pruner = make_pruner()
    pruner.eval()
    lengths, spans_per_sentence = [5, 2, 4], [[(0, 0), (1, 3), (4, 4), (2, 4)], [(0, 1)], [(0, 0), (3, 3), (1, 2)]]
    ids = torch.zeros(3, 5, dtype=torch.long)
    for k, n in enumerate(lengths):
        ids[k, :n] = torch.randint(1, 10, (n,))
    spans = torch.full((3, 4, 2), -1, dtype=torch.long)
    for k, sentence in enumerate(spans_per_sentence):
        spans[k, : len(sentence)] = torch.tensor(sentence)
    with torch.no_grad():
        scores, mask = pruner.score_spans({"tokens": {"tokens": ids}}, spans)
        assert mask.sum(-1).tolist() == [4, 1, 3]
        assert torch.all(scores[~mask] == 0)
        for k, n in enumerate(lengths):
            alone, _ = pruner.score_spans(
                {"tokens": {"tokens": ids[k : k + 1, :n]}}, spans[k : k + 1, : len(spans_per_sentence[k])]
            )
            assert torch.allclose(scores[k, : len(spans_per_sentence[k])], alone[0], atol=1e-6)


def test_eval_scores_fold_the_first_mlp_layer_exactly_and_follow_weight_changes():
    """In eval mode without gradients, score_spans folds the MLP's first layer into the bi-affine
    weight and the token projections; the scores must equal the unfolded computation, also after the
    weights change (the folded weight is cached)."""
    torch.manual_seed(1)
    pruner = make_pruner(biaffine_projection_dim=2)
    ids = torch.randint(1, 10, (2, 6))
    ids[1, 4:] = 0
    spans = torch.tensor([[[0, 0], [1, 4], [2, 5], [3, 3]], [[0, 3], [1, 1], [2, 3], [-1, -1]]])
    tokens = {"tokens": {"tokens": ids}}

    def unfolded() -> torch.Tensor:
        pruner.train()  # the unfolded path (dropout is set to 0 below)
        try:
            with torch.no_grad():
                return pruner.score_spans(tokens, spans)[0]
        finally:
            pruner.eval()

    pruner._dropout.p = 0.0
    for dropout in pruner._span_mlp._dropout:
        dropout.p = 0.0
    pruner.eval()
    assert pruner._folded is None
    with torch.no_grad():
        folded = pruner.score_spans(tokens, spans)[0]
    assert pruner._folded is not None  # the folded path ran
    torch.testing.assert_close(folded, unfolded(), rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        pruner._biaffine.weight.mul_(2.0)
        pruner._span_mlp._linear_layers[0].weight.add_(0.5)
        changed = pruner.score_spans(tokens, spans)[0]
    assert not torch.allclose(changed, folded)
    torch.testing.assert_close(changed, unfolded(), rtol=1e-4, atol=1e-5)
    # With gradients asked for, the weights get them (no detached fold).
    scores = pruner.score_spans(tokens, spans)[0]
    scores.sum().backward()
    assert pruner._biaffine.weight.grad is not None and pruner._span_mlp._linear_layers[0].weight.grad is not None


# ---------------------------------------------------------------- devices and precision
def test_folded_weight_follows_autocast_device_and_dtype():
    """The folded weight is the one tensor the pruner holds outside its parameters and buffers.
    Computed under autocast it is still in the weights' dtype (a bfloat16 fold, reused without
    autocast, failed: "expected m1 and m2 to have the same dtype"), and it is recomputed after the
    pruner moves to another dtype, as after ``.cuda()``."""
    model, instances = build("pruner", split="dev")
    batch = tensors(instances)
    model.eval()
    with torch.no_grad():
        reference = model.score_spans(batch["tokens"], batch["spans"])[0]
        model._folded = None
        with torch.autocast("cpu", dtype=torch.bfloat16):
            model.score_spans(batch["tokens"], batch["spans"])
        assert model._folded[1].dtype == torch.float32
        assert unregistered_tensors(model) == ["<model>._folded[1]"]
        torch.testing.assert_close(model.score_spans(batch["tokens"], batch["spans"])[0], reference, rtol=0, atol=0)
        model.to(torch.float64)
        scores = model.score_spans(batch["tokens"], batch["spans"])[0]
    assert model._folded[1].dtype == torch.float64 and scores.dtype == torch.float64
    torch.testing.assert_close(scores.float(), reference, rtol=1e-4, atol=1e-4)


def test_bfloat16_autocast_agrees_with_float32():
    """As the modules' test (tests/models/span_model_test.py, tolerances in tests/models/fixture_models.py): trains under bfloat16 autocast, and
    in eval mode its loss and span scores are finite, the scores float32, their sigmoid within
    `AUTOCAST_PROBABILITY_TOLERANCE` of float32's (measured: 0.0011 after the 20 float32 steps,
    0.0003 untrained) and the kept spans the same (measured: all 58; 55 of 58 untrained)."""
    model, instances = build("pruner", split="dev")
    batch = tensors(instances)
    fit(model, batch, steps=20)
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(**batch)["loss"]
    loss.backward()
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert all(bool(torch.isfinite(p.grad).all()) for p in model.parameters() if p.grad is not None)
    model.eval()
    result = autocast_agreement(model, batch)
    assert result["finite"] and result["dtypes"] == {"pruner": torch.float32}
    full, half = result["loss"]
    assert abs(full - half) <= AUTOCAST_LOSS_TOLERANCE * abs(full) + 1e-3
    assert result["pruner"]["max_diff"] <= AUTOCAST_PROBABILITY_TOLERANCE
    assert result["pruner"]["agree"] >= AUTOCAST_SAME_DECISIONS * result["pruner"]["total"] > 0
