"""ere_allennlp/models/candidate_pruning.py: the pruner's one loss function, on padded batches, as
`SpanPruner.forward` and a module's in-run pruner use it."""
import pytest
import torch

from ere_allennlp.models.candidate_pruning import pruner_loss
from tests.models.fixture_models import build, tensors


def bce(logit: float, target: float) -> float:
    p = torch.sigmoid(torch.tensor(logit))
    return float(-(target * torch.log(p) + (1 - target) * torch.log(1 - p)))


def test_pruner_loss_counts_real_spans_only_whatever_the_padding_label() -> None:
    """Real spans: entity unless labelled null; padded spans add nothing, whether their label is
    the padding 0 (which may be a real label's index), -1 or the null index."""
    null = 3
    scores = torch.tensor([[2.0, -1.0, 0.5, 4.0], [-3.0, 1.5, 7.0, -7.0]])
    labels = torch.tensor([[1, null, 0, -1], [null, 2, 0, null]])
    mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    expected = bce(2.0, 1) + bce(-1.0, 0) + bce(0.5, 1) + bce(-3.0, 0) + bce(1.5, 1)
    assert float(pruner_loss(scores, labels, mask, null)) == pytest.approx(expected, rel=1e-6)
    # Changing what the padded positions hold changes nothing.
    padded = labels.clone()
    padded[~mask] = torch.tensor([1, -1, 2])
    assert float(pruner_loss(scores, padded, mask, null)) == pytest.approx(expected, rel=1e-6)
    # No null label in the vocabulary (-1 or -2): every real span is an entity.
    no_null = bce(2.0, 1) + bce(-1.0, 1) + bce(0.5, 1) + bce(-3.0, 1) + bce(1.5, 1)
    for missing in (-1, -2):
        assert float(pruner_loss(scores, labels, mask, missing)) == pytest.approx(no_null, rel=1e-6)


def test_span_pruner_and_in_run_pruner_give_the_same_loss_on_a_padded_batch() -> None:
    """A batch of sentences of different lengths (padded candidates): the loss of `SpanPruner`
    itself and that of NerRe's pruner trained in the same run are the same function's."""
    model, instances = build("nerre", {"train_pruner": True})
    model.eval()
    batch = tensors(instances[:5])
    assert not bool((batch["spans"][..., 0] >= 0).all())  # the batch has padding
    with torch.no_grad():
        in_run = model.prune(batch["tokens"], batch["spans"], batch["span_labels"], batch["relation_labels"], batch["metadata"])[3]
        alone = model.pruner(batch["tokens"], batch["spans"], batch["metadata"], batch["span_labels"])["loss"]
        scores, mask = model.pruner.score_spans(batch["tokens"], batch["spans"])
        null = model.vocab.get_token_to_index_vocabulary("entity_labels")["NULL"]
        direct = pruner_loss(scores, batch["span_labels"], mask, null)
    assert float(in_run) == pytest.approx(float(alone), rel=1e-6)
    assert float(alone) == pytest.approx(float(direct), rel=1e-6)
    frozen, _ = build("nerre", {"train_pruner": False})
    assert frozen.prune(batch["tokens"], batch["spans"], batch["span_labels"])[3] is None
