"""Decoding of the three head kinds on hand-made scores."""
import math

import pytest
import torch
from allennlp.data import Vocabulary

from ere_allennlp.common import NULL_LABEL
from ere_allennlp.models.heads import Head


@pytest.fixture
def vocab() -> Vocabulary:
    vocab = Vocabulary(non_padded_namespaces=["entity_labels"])
    for label in (NULL_LABEL, "Method", "Task"):
        vocab.add_token_to_namespace(label, "entity_labels")
    return vocab


def test_identify_head_fixes_absent_at_zero_and_predicts_positive_scores(vocab: Vocabulary) -> None:
    head = Head("identify", vocab, "entity_labels")
    assert head.size == 2 and head.num_scores == 1 and head.fixed == (0,)
    logits = head.logits(torch.tensor([[[2.0], [-1.0], [0.0]]]))  # [1, 3, 1] -> [1, 3, 2]
    assert logits[..., 0].eq(0).all()
    keep, index, score = head.decide(torch.log_softmax(logits, -1))
    assert keep.tolist() == [[True, False, False]]  # score > 0  <=>  P(present) > 0.5
    assert score[0, 0].item() == pytest.approx(1 / (1 + math.exp(-2)))
    # NULL -> absent (0), any gold label -> present (1), padding -> ignored
    assert head.targets(torch.tensor([0, 1, 2, -1])).tolist() == [0, 1, 1, -1]


def test_classify_head_has_no_null_and_always_predicts(vocab: Vocabulary) -> None:
    head = Head("classify", vocab, "entity_labels")
    assert head.labels == ["Method", "Task"] and head.null_index is None
    keep, index, _ = head.decide(torch.log_softmax(torch.tensor([[0.1, 3.0], [5.0, 1.0]]), -1))
    assert keep.tolist() == [True, True]
    assert [head.labels[i] for i in index.tolist()] == ["Task", "Method"]
    # NULL spans are not targets of a classification head
    assert head.targets(torch.tensor([0, 1, 2])).tolist() == [-1, 0, 1]


def test_classify_null_head_drops_null_predictions(vocab: Vocabulary) -> None:
    head = Head("classify_null", vocab, "entity_labels")
    assert head.labels == [None, "Method", "Task"] and head.null_index == 0
    scores = torch.tensor([[4.0, 1.0, 0.0], [0.0, 0.5, 2.0]])
    keep, index, score = head.decide(torch.log_softmax(scores, -1))
    assert keep.tolist() == [False, True]
    assert head.labels[index[1]] == "Task"
    assert score[1].item() == pytest.approx(torch.softmax(scores[1], -1)[2].item())
    assert head.targets(torch.tensor([0, 1, 2, -1])).tolist() == [0, 1, 2, -1]
