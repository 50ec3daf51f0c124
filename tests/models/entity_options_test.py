"""The entity options of the pruned modules that are not the paper's (issue #22): an entity loss over
all candidate spans, a decoding offset on the null entity label, relation arguments decoded as
entities, and the mean-field flip diagnostic; on the tiny BERT and the fixtures."""
import math

import pytest
import torch
from allennlp.common.checks import ConfigurationError

from ere_allennlp.common import Entity, Relation
from ere_allennlp.metrics.training_diagnostics import TrainingDiagnostics
from ere_allennlp.models.decoding import add_relation_arguments, decide_relation_arguments
from ere_allennlp.models.heads import Head
from tests.models.fixture_models import build, tensors


def null_head() -> Head:
    model, _ = build("ner")
    return model.entity_head


def test_null_offset_moves_the_threshold_and_keeps_the_probability() -> None:
    """A label is chosen over null once P(label) > P(null) * exp(-offset); the probability given is
    the label's own; offset 0 is the argmax."""
    head = null_head()
    size = head.size
    rows = []
    for null_p, best_p in ((0.6, 0.3), (0.5, 0.45), (0.9, 0.05)):
        row = [null_p, best_p] + [(1 - null_p - best_p) / (size - 2)] * (size - 2)
        rows.append(row)
    log_probs = torch.tensor(rows).log()
    keep, index, score = head.decide(log_probs)
    assert keep.tolist() == [False, False, False]
    for offset in (0.5, 1.0, 3.0):
        keep, index, score = head.decide(log_probs, offset)
        expected = [best > null * math.exp(-offset) for null, best, *_ in rows]
        assert keep.tolist() == expected
        assert head.decided(log_probs, offset).tolist() == [1 if kept else 0 for kept in expected]
        for k, kept in enumerate(expected):
            if kept:
                assert index[k] == 1 and float(score[k]) == pytest.approx(rows[k][1])
    best, probability = head.best_label(log_probs)
    assert best.tolist() == [1, 1, 1] and probability.tolist() == pytest.approx([0.3, 0.45, 0.05])


def test_null_offset_only_adds_entities_of_the_same_label() -> None:
    """Decoded entities at a larger offset include every entity of a smaller one, with its label."""
    model, instances = build("nerre", {"train_pruner": False})
    model.eval()
    batch = tensors(instances[:8])
    found = []
    with torch.no_grad():
        for offset in (0.0, 1.0, 4.0, 50.0):
            model.entity_null_offset = offset
            output = model(**batch)
            found.append({(k, tuple(e[:3])) for k, s in enumerate(output["predicted_ner"]) for e in s})
    for smaller, larger in zip(found, found[1:]):
        assert smaller <= larger
    assert len(found[-1]) > len(found[0])
    kept = int((model.score(batch["tokens"], batch["spans"]).span_mask).sum())
    assert len(found[-1]) == kept  # with a huge offset every kept span is an entity


def test_entity_loss_over_all_candidates() -> None:
    """``entity_loss_spans="all"`` adds -log softmax(g_i)[gold] over every candidate span before
    pruning to the loss; its gradient reaches the entity scorer through spans the pruner dropped."""
    model, instances = build("nerre", {"train_pruner": False, "entity_loss_spans": "all", "diagnostic_metrics": True})
    model.eval()  # no dropout: the two losses see the same network
    batch = tensors(instances[:6])
    with_all = model(**batch)["loss"]
    model.entity_loss_spans = "kept"
    kept_only = model(**batch)["loss"]
    # By hand, without SpanModel's real-span path: b_i from the extractor, MLP, scorer.
    x = model._embedder(batch["tokens"])
    spans = batch["spans"]
    mask = spans[..., 0] >= 0
    from allennlp.nn import util

    vectors = model._span_extractor(x, spans.clamp(min=0), util.get_text_field_mask(batch["tokens"]), mask)
    logits = model._entity_scorer(model._span_mlp(vectors))
    targets = model.entity_head.targets(batch["span_labels"]).masked_fill(~mask, -1)
    expected = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-1, reduction="sum")
    assert float(with_all - kept_only) == pytest.approx(float(expected), rel=1e-4)
    metrics = model.get_metrics(reset=True)
    assert metrics["loss_ent_all"] == pytest.approx(float(expected) / 6, rel=1e-4)
    assert "loss_ent_all" not in build("nerre", {"train_pruner": False, "diagnostic_metrics": True})[0].get_metrics()
    model.entity_loss_spans, model.entity_loss_all_weight = "all", 0.25
    assert float(model(**batch)["loss"] - kept_only) == pytest.approx(0.25 * float(expected), rel=1e-4)


def test_entity_loss_spans_is_checked() -> None:
    with pytest.raises(ConfigurationError, match="needs a module with an entity head and a pruner"):
        build("ner", {"entity_loss_spans": "all"})
    with pytest.raises(ConfigurationError, match="entity_loss_spans must be one of"):
        build("nerre", {"entity_loss_spans": "every"})
    with pytest.raises(ConfigurationError, match="entity_loss_all_weight 0.3 weighs the loss of entity_loss_spans 'all'"):
        build("nerre", {"entity_loss_all_weight": 0.3})
    with pytest.raises(ConfigurationError, match="relation_arguments_as_entities needs"):
        build("re", {"relation_arguments_as_entities": True})


def test_relation_arguments_become_entities() -> None:
    """An argument of a predicted relation that is not a decoded entity is added with its best
    non-null label and that label's probability; entities already decoded are left as they are."""
    model, _ = build("nerre", {"train_pruner": False, "relation_arguments_as_entities": True})
    labels = model.entity_head.labels  # [None, gold labels...]
    spans = torch.tensor([[[0, 0], [1, 2], [4, 4], [-1, -1]]])
    probs = torch.full((1, 4, len(labels)), 0.01)
    probs[0, 0, 0], probs[0, 0, 2] = 0.9, 0.05  # span 0: null, then labels[2]
    probs[0, 1, 1] = 0.8  # span 1: labels[1] (decoded)
    probs[0, 2, 0], probs[0, 2, 3] = 0.7, 0.2  # span 2: null, then labels[3]
    probs = probs / probs.sum(-1, keepdim=True)
    entities = [[(Entity(1, 2, labels[1]), 0.8)]]
    relations = [[(Relation(0, 0, 1, 2, "USED-FOR"), 0.6), (Relation(1, 2, 4, 4, "PART-OF"), 0.7),
                  (Relation(0, 0, 4, 4, "COMPARE"), 0.5)]]
    out = add_relation_arguments(model.entity_head, entities, relations, probs.log(), spans)
    assert [e for e, _ in out[0]] == [Entity(1, 2, labels[1]), Entity(0, 0, labels[2]), Entity(4, 4, labels[3])]
    assert [p for _, p in out[0]] == pytest.approx([0.8, float(probs[0, 0, 2]), float(probs[0, 2, 3])])
    assert add_relation_arguments(model.entity_head, entities, [[]], probs.log(), spans) == entities


def test_joint_argument_decision_keeps_a_relation_only_if_it_outweighs_its_null_arguments() -> None:
    """`relation_arguments_joint`: a relation with an argument decoded as null is kept (and the
    argument added) only if log P(r) + log P(best label) >= log P(no relation) + log P(null); taken
    from the most probable relation down, so an argument added earlier is no longer missing."""
    model, _ = build("nerre", {"train_pruner": False, "relation_arguments_as_entities": True,
                               "relation_arguments_joint": True})
    labels, rel_labels = model.entity_head.labels, model.relation_head.labels
    spans = torch.tensor([[[0, 0], [1, 2], [4, 4], [-1, -1]]])
    entity_p = torch.full((1, 4, len(labels)), 0.01)
    entity_p[0, 0, 0], entity_p[0, 0, 2] = 0.9, 0.05  # span 0: confidently null
    entity_p[0, 1, 1] = 0.8  # span 1: decoded entity
    entity_p[0, 2, 0], entity_p[0, 2, 3] = 0.5, 0.4  # span 2: null, narrowly
    relation_p = torch.full((1, 4, 4, len(rel_labels)), 0.01)
    relation_p[0, 0, 1, 1], relation_p[0, 0, 1, 0] = 0.6, 0.3  # 0 -> 1: -3.51 < -1.31, dropped
    relation_p[0, 1, 2, 2], relation_p[0, 1, 2, 0] = 0.7, 0.2  # 1 -> 2: -1.27 >= -2.30, kept, span 2 added
    relation_p[0, 2, 1, 3], relation_p[0, 2, 1, 0] = 0.45, 0.4  # 2 -> 1: alone -1.71 < -1.61, kept after 1 -> 2
    entities = [[(Entity(1, 2, labels[1]), 0.8)]]
    r01, r12, r21 = (Relation(0, 0, 1, 2, rel_labels[1]), 0.6), (Relation(1, 2, 4, 4, rel_labels[2]), 0.7), \
        (Relation(4, 4, 1, 2, rel_labels[3]), 0.45)
    out_entities, out_relations = decide_relation_arguments(
        model.entity_head, model.relation_head, entities, [[r01, r21, r12]], entity_p.log(), relation_p.log(), spans)
    assert out_relations == [[r21, r12]]  # the decoded order, without the dropped one
    assert out_entities == [[(Entity(1, 2, labels[1]), 0.8), (Entity(4, 4, labels[3]), pytest.approx(0.4))]]
    # Alone, 2 -> 1 does not outweigh its null argument.
    _, alone = decide_relation_arguments(model.entity_head, model.relation_head, entities, [[r21]],
                                         entity_p.log(), relation_p.log(), spans)
    assert alone == [[]]
    # Relations between decoded entities are never dropped.
    both = [[(Entity(0, 0, labels[2]), 0.05)] + entities[0]]
    assert decide_relation_arguments(model.entity_head, model.relation_head, both, [[r01]], entity_p.log(),
                                     relation_p.log(), spans) == (both, [[r01]])
    with pytest.raises(ConfigurationError, match="relation_arguments_joint .* needs relation_arguments_as_entities"):
        build("nerre", {"train_pruner": False, "relation_arguments_joint": True})


def test_decoded_relations_have_entity_arguments() -> None:
    """With the option every argument of every decoded relation is a decoded entity; without it the
    entities are the plain argmax ones (here a relation head pushed to predict everything)."""
    model, instances = build("nerre", {"train_pruner": False})
    model.eval()
    with torch.no_grad():
        null = model.relation_head.null_index
        model._relation_scorer.bias[null] = -50.0  # every pair related
        batch = tensors(instances[:4])
        plain = model(**batch)
        model.relation_arguments_as_entities = True
        joined = model(**batch)
    assert plain["predicted_relations"] == joined["predicted_relations"]
    missing = 0
    for ents, rels, plain_ents in zip(joined["predicted_ner"], joined["predicted_relations"], plain["predicted_ner"]):
        spans = {(e[0], e[1]) for e in ents}
        for r in rels:
            assert (r[0], r[1]) in spans and (r[2], r[3]) in spans
        assert [e for e in ents[: len(plain_ents)]] == plain_ents
        missing += len(ents) - len(plain_ents)
    assert missing > 0


def test_mean_field_flip_counts() -> None:
    """Right -> wrong and wrong -> right changes of the entity decisions per iteration, per 100 gold
    entities of the scored spans (-1 = not scored)."""
    diagnostics = TrainingDiagnostics()
    gold = torch.tensor([[1, 0, 2, -1], [0, 3, -1, -1]])  # 3 gold entities
    q0 = torch.tensor([[1, 1, 0, 2], [0, 3, 0, 0]])  # right: (0,0), (1,0), (1,1)
    q1 = torch.tensor([[0, 0, 2, 2], [0, 3, 1, 0]])  # (0,0) r->w, (0,1) w->r, (0,2) w->r; pad ignored
    q2 = torch.tensor([[0, 0, 2, 0], [1, 3, 0, 0]])  # (1,0) r->w
    diagnostics.mean_field_flips([q0, q1, q2], gold)
    metrics = diagnostics.get_metric(reset=True)
    assert metrics["mf_to_wrong_t1"] == pytest.approx(100 / 3) and metrics["mf_to_right_t1"] == pytest.approx(200 / 3)
    assert metrics["mf_to_wrong_t2"] == pytest.approx(100 / 3) and metrics["mf_to_right_t2"] == 0.0
    assert "mf_to_wrong_t1" not in diagnostics.get_metric()


def test_mean_field_history_of_a_module() -> None:
    """A mean-field module with diagnostics keeps Q^0 ... Q^T of the entities: Q^T is the module's
    output, Q^0 the first-order softmax; it reports one pair of flip counts per iteration."""
    model, instances = build("nerre", {"train_pruner": False, "diagnostic_metrics": True})
    model.eval()
    batch = tensors(instances[:6])
    with torch.no_grad():
        scores = model.score(batch["tokens"], batch["spans"], span_labels=batch["span_labels"],
                             relation_labels=batch["relation_labels"], metadata=batch["metadata"])
        history = scores.entity_history
        assert len(history) == model._inference.iterations + 1
        real = scores.span_mask
        assert torch.allclose(history[-1][real], scores.entity_lp[real])
        first = torch.log_softmax(model.entity_logits(scores.encoding), dim=-1)
        assert torch.allclose(history[0][real], first[real], atol=1e-6)
        model(**batch)
    metrics = model.get_metrics(reset=True)
    for t in range(1, model._inference.iterations + 1):
        assert f"mf_to_wrong_t{t}" in metrics and f"mf_to_right_t{t}" in metrics
    star, _ = build("nerre_star", {"train_pruner": False, "diagnostic_metrics": True})
    assert star.score(batch["tokens"], batch["spans"]).entity_history is None


@pytest.mark.parametrize("module", ["nerre", "nerri"])
def test_joint_argument_decision_in_the_module(module: str) -> None:
    """In a module (NerRe: a relation head with a null label; NerRi: an identification head), the
    joint decision keeps a subset of the decoded relations, every kept relation's arguments are
    entities, and it adds a subset of what the plain rule adds; a relation head sure of every pair
    (P(no relation) ~ e^-50) loses no relation, so the two rules then agree."""
    model, instances = build(module, {"train_pruner": False})
    model.eval()
    batch = tensors(instances[:4])
    with torch.no_grad():
        outputs = {}
        for bias in (0.0, 50.0):
            if module == "nerri":
                model._relation_scorer.bias[0] = bias  # the "present" score against the fixed 0 of "absent"
            else:
                model._relation_scorer.bias[model.relation_head.null_index] = -bias
            for joined, joint in ((False, False), (True, False), (True, True)):
                model.relation_arguments_as_entities, model.relation_arguments_joint = joined, joint
                outputs[(bias, joined, joint)] = model(**batch)
    for bias in (0.0, 50.0):
        plain, rule, joint = (outputs[(bias, *setting)] for setting in ((False, False), (True, False), (True, True)))
        for k in range(4):
            assert set(map(tuple, joint["predicted_relations"][k])) <= set(map(tuple, plain["predicted_relations"][k]))
            spans = {(e[0], e[1]) for e in joint["predicted_ner"][k]}
            assert all((r[0], r[1]) in spans and (r[2], r[3]) in spans for r in joint["predicted_relations"][k])
            assert set(map(tuple, plain["predicted_ner"][k])) <= set(map(tuple, joint["predicted_ner"][k])) \
                <= set(map(tuple, rule["predicted_ner"][k]))
    sure_rule, sure_joint = outputs[(50.0, True, False)], outputs[(50.0, True, True)]
    assert sure_joint["predicted_relations"] == sure_rule["predicted_relations"]
    assert sure_joint["predicted_ner"] == sure_rule["predicted_ner"]
    assert sum(len(r) for r in sure_joint["predicted_relations"]) > 0
