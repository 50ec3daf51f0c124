"""The SpanModel options that are not the paper's (loss normalisation, ternary null labels, ternary
initialisation) and the frozen pruner's cache, on the tiny BERT and the fixtures."""
import pytest
import torch

from ere_allennlp.common import NULL_LABEL, Entity, Relation
from ere_allennlp.models.span_model import SpanModel
from tests.models.fixture_models import build, tensors


def test_frozen_pruner_cache_keeps_the_same_spans() -> None:
    """A frozen pruner's top-K is computed once per sentence and reused: the same spans (and
    labels) as computing it again, whatever the batch; the pruner is not run for a cached batch."""
    model, instances = build("nerre", {"train_pruner": False})
    uncached, _ = build("nerre", {"train_pruner": False, "cache_pruned_spans": False})
    uncached.load_state_dict(model.state_dict())
    assert model._pruned_cache == {} and uncached._pruned_cache is None
    model.train()
    uncached.train()
    calls = []
    original = model._pruner.score_spans
    model._pruner.score_spans = lambda *args: calls.append(1) or original(*args)
    first = tensors(instances[:8])
    model.prune(first["tokens"], first["spans"], first["span_labels"], first["relation_labels"], first["metadata"])
    assert len(calls) == 1 and len(model._pruned_cache) == len({tuple(m["words"]) for m in first["metadata"]})
    # Other batch compositions, cached sentences only: the pruner is not run again.
    for order in (list(range(7, -1, -1)), [3, 1, 5], [0]):
        batch = tensors([instances[k] for k in order])
        args = (batch["tokens"], batch["spans"], batch["span_labels"], batch["relation_labels"])
        cached = model.prune(*args, batch["metadata"])
        fresh = uncached.prune(*args, batch["metadata"])
        for got, want in zip(cached[:3], fresh[:3]):
            assert torch.equal(got, want)
    assert len(calls) == 1
    # A batch with one new sentence runs the pruner once more and caches it.
    model.prune(*(tensors(instances[7:10])[key] for key in ("tokens", "spans")), metadata=tensors(instances[7:10])["metadata"])
    assert len(calls) == 2
    # A pruner trained in the run is never cached (its choice changes as it learns).
    trained, _ = build("nerre", {"train_pruner": True})
    assert trained._pruned_cache is None


def test_loss_normalisation_and_relation_weight() -> None:
    """"sum" (the paper) adds the cross-entropy of every scored span and pair; "mean" divides the
    entity part by the scored spans and the relation part by the scored pairs of the batch."""
    model, instances = build("ecre", {"diagnostic_metrics": True}, split="dev")
    model.eval()
    batch = tensors(instances)
    with torch.no_grad():
        summed = float(model(**batch)["loss"])
        split = model.get_metrics(reset=True)
        num_sentences = len(instances)
        entity_sum, relation_sum = split["loss_ent"] * num_sentences, split["loss_rel"] * num_sentences
        assert summed == pytest.approx(entity_sum + relation_sum, rel=1e-5)
        num_spans = int((batch["spans"][..., 0] >= 0).sum())  # real candidates (labels pad with 0)
        num_pairs = sum(len(i["relation_labels"].indices) for i in instances)
        model.loss_normalisation = "mean"
        averaged = float(model(**batch)["loss"])
        assert averaged == pytest.approx(entity_sum / num_spans + relation_sum / num_pairs, rel=1e-5)
        model.relation_loss_weight = 0.0
        assert float(model(**batch)["loss"]) == pytest.approx(entity_sum / num_spans, rel=1e-5)
    with pytest.raises(Exception, match="loss_normalisation"):
        build("ecre", {"loss_normalisation": "median"})


def test_ternary_null_labels_off_fixes_null_factors_at_zero() -> None:
    paper, _ = build("ecre")
    assert float(paper._ternary.weight[:, :, :, 0].abs().sum()) > 0  # the paper: nulls take part
    model, instances = build("ecre", {"ternary_null_labels": "none", "ternary_init_std": 0.5})
    ternary = model._ternary
    null_relation = model.relation_head.null_index
    assert ternary.fixed_relation_labels == (null_relation,)
    assert ternary.fixed_entity_labels == ()  # Ec has no null entity label
    assert float(ternary.weight[:, :, :, null_relation].abs().sum()) == 0
    assert float(ternary.raw_weight.std()) == pytest.approx(0.5, rel=0.1)
    loss = model(**tensors(instances[:4]))["loss"]
    loss.backward()
    assert float(ternary.raw_weight.grad[:, :, :, null_relation].abs().sum()) == 0
    assert float(ternary.raw_weight.grad.abs().sum()) > 0
    # NerRe: the null entity label is left out too; "relation" (CRFIE) leaves out the entity null only.
    nerre, _ = build("nerre", {"ternary_null_labels": "none"})
    assert nerre._ternary.fixed_entity_labels == (0,) and nerre._ternary.fixed_relation_labels == (0,)
    assert nerre.entity_head.labels[0] is None and NULL_LABEL not in nerre.entity_head.labels
    crfie, _ = build("nerre", {"ternary_null_labels": "relation"})
    assert crfie._ternary.fixed_entity_labels == (0,) and crfie._ternary.fixed_relation_labels == ()
    assert float(crfie._ternary.weight[:, 0].abs().sum()) == 0 and float(crfie._ternary.weight[:, 1:, 1:, 0].abs().sum()) > 0
    with pytest.raises(Exception, match="ternary_null_labels"):
        build("nerre", {"ternary_null_labels": False})


def test_diagnostics_of_a_pruned_module() -> None:
    model, instances = build("nerre", {"train_pruner": False, "diagnostic_metrics": True})
    model.eval()
    with torch.no_grad():
        model(**tensors(instances))
    metrics = model.get_metrics(reset=True)
    assert isinstance(model, SpanModel)
    for name in ("loss_ent", "loss_rel", "pair_nonnull", "pair_related", "pruned_ent_ceiling", "pruned_rel_ceiling"):
        assert name in metrics
    assert 0 < metrics["pruned_ent_ceiling"] <= 1 and 0 <= metrics["pruned_rel_ceiling"] <= metrics["pruned_ent_ceiling"] + 1e-9
    assert metrics["loss_rel"] > 0 and metrics["loss_ent"] > 0
    # A pruner that keeps every candidate: both ceilings are 1 and pair_related is the share of
    # ordered candidate pairs that hold a gold relation, counted by hand.
    keep_all = {"train_pruner": False, "diagnostic_metrics": True}
    model, instances = build("nerre", keep_all, split="dev")
    model._pruner.ratio, model._pruner.max_spans = 1000.0, 100_000
    model.eval()
    with torch.no_grad():
        model(**tensors(instances))
    metrics = model.get_metrics(reset=True)
    assert metrics["pruned_ent_ceiling"] == 1.0 and metrics["pruned_rel_ceiling"] == 1.0
    pairs = sum(len(i["metadata"]["candidate_spans"]) * (len(i["metadata"]["candidate_spans"]) - 1) for i in instances)
    related = sum(len(i["metadata"]["gold_relations"]) for i in instances)
    assert metrics["pair_related"] == pytest.approx(related / pairs)
    # Counted by hand: a kept set holding every candidate reaches every gold entity within L.
    entities = [Entity(0, 0, "Task"), Entity(1, 2, "Task"), Entity(3, 3, "Task")]
    relations = [Relation(0, 0, 1, 2, "USED-FOR"), Relation(0, 0, 3, 3, "USED-FOR")]
    model._diagnostics.pruning([[(0, 0), (1, 2)]], [entities], [relations], 12)
    counts = model._diagnostics.get_metric(reset=True)
    assert counts["pruned_ent_ceiling"] == pytest.approx(2 / 3) and counts["pruned_rel_ceiling"] == pytest.approx(1 / 2)


def test_null_relation_weight_scales_the_null_pairs_only() -> None:
    model, instances = build("ecre", split="dev")
    model.eval()
    batch = tensors(instances)
    with torch.no_grad():
        full = float(model(**batch)["loss"])
        model.null_relation_weight = 0.0
        without_null = float(model(**batch)["loss"])
        model.null_relation_weight = 0.5
        half = float(model(**batch)["loss"])
    assert without_null < full
    # linear in the weight: half way between the two
    assert half == pytest.approx((full + without_null) / 2, rel=1e-5)


def test_relation_mention_scores() -> None:
    """g_ij(r) + m_i + m_j for the non-null relation labels, m = log-odds of being an entity."""
    model, _ = build("nerre_star", {"train_pruner": False, "relation_mention_scores": True})
    entity_logits = torch.randn(2, 3, model.entity_head.size)
    relation_logits = torch.randn(2, 3, 3, model.relation_head.size)
    out = model._add_mention_scores(entity_logits, relation_logits)
    probability = torch.softmax(entity_logits, -1)
    mention = torch.log((1 - probability[..., 0]) / probability[..., 0])  # [2, 3]
    expected = relation_logits.clone()
    expected[..., 1:] += (mention[:, :, None] + mention[:, None, :])[..., None]
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    with pytest.raises(Exception, match="relation_mention_scores"):
        build("ecre", {"relation_mention_scores": True})


def test_first_order_loss_adds_the_unary_posteriors_cross_entropy() -> None:
    """``first_order_loss_weight`` w: the loss is the mean-field one plus w times the loss of the
    first-order posteriors, which is the loss with 0 mean-field iterations (log_softmax of the
    unary scores); decoding does not change."""
    model, instances = build(
        "ecre", {"first_order_loss_weight": 0.5, "diagnostic_metrics": True, "ternary_init_std": 0.5}, split="dev"
    )
    model.eval()  # no dropout: every pass sees the same network
    batch = tensors(instances)
    with torch.no_grad():
        with_first_order = model(**batch)
        metrics = model.get_metrics(reset=True)
        model.first_order_loss_weight = 0.0
        mean_field_only = model(**batch)
        assert "loss_ent_first_order" not in model.get_metrics(reset=True)
        model._inference.iterations = 0
        first_order = float(model(**batch)["loss"])
    assert abs(float(mean_field_only["loss"]) - first_order) > 1.0  # mean field changes the loss
    assert float(with_first_order["loss"]) == pytest.approx(float(mean_field_only["loss"]) + 0.5 * first_order, rel=1e-5)
    per_sentence = (metrics["loss_ent_first_order"] + metrics["loss_rel_first_order"]) * len(instances)
    assert per_sentence == pytest.approx(first_order, rel=1e-4)
    decoded = [key for key in with_first_order if key != "loss"]
    assert decoded and all(with_first_order[key] == mean_field_only[key] for key in decoded)


def test_first_order_loss_needs_mean_field() -> None:
    with pytest.raises(Exception, match="first_order_loss_weight must be >= 0, and > 0 only with mean-field"):
        build("nerre_star", {"first_order_loss_weight": 0.5})
    with pytest.raises(Exception, match="first_order_loss_weight must be >= 0"):
        build("nerre", {"first_order_loss_weight": -1.0})


def test_mean_field_start_epoch_trains_first_order_before_it() -> None:
    """``mean_field_start_epoch`` N: in training epochs before N the loss is the first-order one
    (the loss with 0 mean-field iterations), from N on the paper's mean-field loss; validation and
    decoding run mean field in every epoch; training without the ``model_epoch`` callback says so."""
    model, instances = build("ecre", {"mean_field_start_epoch": 1, "ternary_init_std": 0.5}, split="dev")
    batch = tensors(instances)
    iterations = model._inference.iterations

    def training_loss(epoch: int, start: int, its: int) -> float:
        model.mean_field_start_epoch, model._inference.iterations = start, its
        model.set_training_epoch(epoch)
        model.train()
        torch.manual_seed(0)  # the same dropout masks in every pass
        with torch.no_grad():
            return float(model(**batch)["loss"])

    first_order = training_loss(0, 0, 0)
    mean_field = training_loss(0, 0, iterations)
    assert abs(mean_field - first_order) > 1.0  # mean field changes the loss
    assert training_loss(0, 1, iterations) == pytest.approx(first_order, rel=1e-6)
    assert training_loss(1, 1, iterations) == pytest.approx(mean_field, rel=1e-6)
    assert training_loss(2, 1, iterations) == pytest.approx(mean_field, rel=1e-6)
    # Evaluation runs mean field whatever the epoch.
    model.eval()
    with torch.no_grad():
        model.set_training_epoch(0)
        model.mean_field_start_epoch = 1
        early = model(**batch)
        model.mean_field_start_epoch = 0
        paper = model(**batch)
    assert float(early["loss"]) == pytest.approx(float(paper["loss"]), rel=1e-6)
    assert all(early[key] == paper[key] for key in early if key != "loss")
    # Training without the callback: a clear error, not a silent first-order training.
    fresh, _ = build("ecre", {"mean_field_start_epoch": 1}, split="dev")
    fresh.train()
    with pytest.raises(Exception, match='mean_field_start_epoch 1 needs to know the training epoch: add ."type": "model_epoch".'):
        fresh(**batch)


def test_mean_field_start_epoch_needs_mean_field() -> None:
    with pytest.raises(Exception, match="mean_field_start_epoch must be >= 0, and > 0 only with mean-field"):
        build("nerre_star", {"mean_field_start_epoch": 1})
    with pytest.raises(Exception, match="mean_field_start_epoch must be >= 0"):
        build("nerre", {"mean_field_start_epoch": -1})
