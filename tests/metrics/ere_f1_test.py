"""Tests for the EreF1 metric; every expected value is computed by hand in the comments."""
from typing import Dict, List

import pytest
from allennlp.common import Params
from allennlp.training.metrics import Metric

from ere_allennlp.common import Entity, Relation
from ere_allennlp.metrics.ere_f1 import (
    CLASSIFICATION_METRICS, DISPLAY_NAMES, ENTITY_METRICS, MACRO_METRICS, METRIC_NAMES, RELATION_METRICS, SCORES, EreF1,
    macro_prf, prf,
)

ALL_KEYS = {
    f"{metric}_{part}"
    for metric in ("ent_i", "ent_c", "rel_i", "rel_c", "strict_rel_i", "strict_rel_c",
                   "ent_c_macro", "rel_c_macro", "strict_rel_c_macro")
    for part in ("p", "r", "f1")
}


def sentence(entities=(), relations=()) -> Dict[str, List]:
    return {"entities": list(entities), "relations": list(relations)}


def assert_prf(values: Dict[str, float], name: str, p: float, r: float, f1: float) -> None:
    assert values[f"{name}_p"] == pytest.approx(p)
    assert values[f"{name}_r"] == pytest.approx(r)
    assert values[f"{name}_f1"] == pytest.approx(f1)


def evaluate(predicted, gold, symmetric_relations=None) -> Dict[str, float]:
    metric = EreF1(symmetric_relations=symmetric_relations)
    metric(predicted, gold)
    return metric.get_metric()


# A small ACE-like gold sentence used by several tests.
GOLD = sentence(
    [Entity(0, 0, "PER"), Entity(2, 3, "ORG"), Entity(5, 5, "LOC"), Entity(7, 8, "PER")],
    [
        Relation(0, 0, 2, 3, "ORG-AFF"),  # g1: PER -> ORG
        Relation(7, 8, 5, 5, "PHYS"),  # g2: PER -> LOC
        Relation(0, 0, 7, 8, "PER-SOC"),  # g3: PER -> PER
    ],
)


def test_keys_and_range():
    values = evaluate([GOLD], [GOLD])
    assert set(values) == ALL_KEYS
    assert len(values) == 27
    assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in values.values())


def test_perfect_prediction():
    values = evaluate([GOLD], [GOLD])
    # Every metric: tp = n_pred = n_gold (4 entities, 3 relations) -> P = R = F1 = 1.
    for name in ("ent_i", "ent_c", "rel_i", "rel_c", "strict_rel_i", "strict_rel_c"):
        assert_prf(values, name, 1.0, 1.0, 1.0)
    metric = EreF1()
    metric([GOLD], [GOLD])
    assert metric.get_counts() == {
        "ent_i": (4, 4, 4),
        "ent_c": (4, 4, 4),
        "rel_i": (3, 3, 3),
        "rel_c": (3, 3, 3),
        "strict_rel_i": (3, 3, 3),
        "strict_rel_c": (3, 3, 3),
    }


def test_mixed_errors():
    predicted = sentence(
        [
            Entity(0, 0, "PER"),  # correct
            Entity(2, 3, "LOC"),  # type error (gold ORG)
            Entity(5, 6, "LOC"),  # boundary error (gold 5-5)
            Entity(7, 8, "PER"),  # correct
        ],
        [
            # p1: boundaries and relation type right, but the tail's predicted entity type is LOC
            #     (gold ORG): Rel-I ok, Rel-C ok, Rel+-I wrong, Rel+-C wrong.
            Relation(0, 0, 2, 3, "ORG-AFF"),
            # p2: g2 reversed; PHYS is not symmetric: wrong everywhere.
            Relation(5, 5, 7, 8, "PHYS"),
            # p3: g3's boundaries, wrong relation type, argument types PER/PER right:
            #     Rel-I ok, Rel-C wrong, Rel+-I ok, Rel+-C wrong.
            Relation(0, 0, 7, 8, "GEN-AFF"),
            # p4: spurious pair.
            Relation(2, 3, 7, 8, "PART-WHOLE"),
        ],
    )
    metric = EreF1()
    metric([predicted], [GOLD])
    assert metric.get_counts() == {
        "ent_i": (3, 4, 4),  # spans 0-0, 2-3, 7-8 right; 5-6 wrong
        "ent_c": (2, 4, 4),  # 0-0 PER, 7-8 PER
        "rel_i": (2, 4, 3),  # p1, p3
        "rel_c": (1, 4, 3),  # p1
        "strict_rel_i": (1, 4, 3),  # p3
        "strict_rel_c": (0, 4, 3),
    }
    values = metric.get_metric()
    assert_prf(values, "ent_i", 3 / 4, 3 / 4, 3 / 4)  # P = R -> F1 = 0.75
    assert_prf(values, "ent_c", 2 / 4, 2 / 4, 2 / 4)
    # P = 2/4, R = 2/3, F1 = 2 * (1/2)(2/3) / (1/2 + 2/3) = (2/3) / (7/6) = 4/7
    assert_prf(values, "rel_i", 1 / 2, 2 / 3, 4 / 7)
    # P = 1/4, R = 1/3, F1 = 2 * (1/12) / (7/12) = 2/7
    assert_prf(values, "rel_c", 1 / 4, 1 / 3, 2 / 7)
    assert_prf(values, "strict_rel_i", 1 / 4, 1 / 3, 2 / 7)
    assert_prf(values, "strict_rel_c", 0.0, 0.0, 0.0)


def test_boundary_error_only():
    gold = sentence([Entity(1, 2, "PER")])
    predicted = sentence([Entity(1, 3, "PER")])
    # Span 1-3 != 1-2: tp = 0, n_pred = 1, n_gold = 1 for Ent-I and Ent-C.
    counts = EreF1.count(predicted, gold)
    assert counts["ent_i"] == (0, 1, 1)
    assert counts["ent_c"] == (0, 1, 1)


def test_type_error_only():
    gold = sentence([Entity(1, 2, "PER")])
    predicted = sentence([Entity(1, 2, "ORG")])
    counts = EreF1.count(predicted, gold)
    assert counts["ent_i"] == (1, 1, 1)  # boundaries right
    assert counts["ent_c"] == (0, 1, 1)  # type wrong


def test_reversed_relation_is_wrong_by_default():
    entities = [Entity(0, 0, "PER"), Entity(3, 3, "ORG")]
    gold = sentence(entities, [Relation(0, 0, 3, 3, "ORG-AFF")])
    predicted = sentence(entities, [Relation(3, 3, 0, 0, "ORG-AFF")])
    counts = EreF1.count(predicted, gold)
    for name in ("rel_i", "rel_c", "strict_rel_i", "strict_rel_c"):
        assert counts[name] == (0, 1, 1)


def test_wrong_argument_type_rel_c_right_strict_wrong():
    gold = sentence([Entity(0, 0, "PER"), Entity(3, 3, "ORG")], [Relation(0, 0, 3, 3, "ORG-AFF")])
    predicted = sentence([Entity(0, 0, "PER"), Entity(3, 3, "GPE")], [Relation(0, 0, 3, 3, "ORG-AFF")])
    counts = EreF1.count(predicted, gold)
    assert counts["rel_i"] == (1, 1, 1)
    assert counts["rel_c"] == (1, 1, 1)
    assert counts["strict_rel_i"] == (0, 1, 1)  # tail type GPE != ORG
    assert counts["strict_rel_c"] == (0, 1, 1)


def test_relation_argument_without_predicted_entity_is_never_strictly_correct():
    gold = sentence([Entity(0, 0, "PER"), Entity(3, 3, "ORG")], [Relation(0, 0, 3, 3, "ORG-AFF")])
    # The prediction has no entity at 3-3, so the tail's type is None.
    predicted = sentence([Entity(0, 0, "PER")], [Relation(0, 0, 3, 3, "ORG-AFF")])
    counts = EreF1.count(predicted, gold)
    assert counts["rel_c"] == (1, 1, 1)
    assert counts["strict_rel_i"] == (0, 1, 1)
    assert counts["strict_rel_c"] == (0, 1, 1)


def test_multiple_sentences_are_micro_averaged():
    gold_a = sentence([Entity(0, 0, "A")])
    pred_a = sentence([Entity(0, 0, "A")])  # Ent-C counts (1, 1, 1)
    gold_b = sentence([Entity(0, 0, "A"), Entity(1, 1, "A"), Entity(2, 2, "A")])
    pred_b = sentence([Entity(0, 0, "B")])  # Ent-C counts (0, 1, 3); Ent-I (1, 1, 3)
    values = evaluate([pred_a, pred_b], [gold_a, gold_b])
    # Ent-C micro: tp = 1, n_pred = 2, n_gold = 4 -> P = 1/2, R = 1/4, F1 = 2 (1/8) / (3/4) = 1/3.
    # (Macro would be P = R = F1 = (1 + 0) / 2 = 0.5.)
    assert_prf(values, "ent_c", 1 / 2, 1 / 4, 1 / 3)
    # Ent-I micro: tp = 2, n_pred = 2, n_gold = 4 -> P = 1, R = 1/2, F1 = 2 (1/2) / (3/2) = 2/3.
    assert_prf(values, "ent_i", 1.0, 1 / 2, 2 / 3)

    # Accumulating over two calls (batches) gives the same result as one call.
    metric = EreF1()
    metric([pred_a], [gold_a])
    metric([pred_b], [gold_b])
    assert metric.get_metric() == pytest.approx(values)
    assert metric.get_counts()["ent_c"] == (1, 2, 4)


def test_empty_gold():
    # Convention: a ratio with denominator 0 is 0.0. Here n_gold = 0 so R = 0; P = 0/1 = 0; F1 = 0.
    predicted = sentence([Entity(0, 0, "PER"), Entity(2, 2, "ORG")], [Relation(0, 0, 2, 2, "ORG-AFF")])
    metric = EreF1()
    metric([predicted], [sentence()])
    assert metric.get_counts()["ent_i"] == (0, 2, 0)
    assert metric.get_counts()["rel_c"] == (0, 1, 0)
    assert all(value == 0.0 for value in metric.get_metric().values())


def test_empty_predictions():
    # n_pred = 0 -> P = 0.0 by convention; R = 0/4 (entities), 0/3 (relations) = 0; F1 = 0.
    metric = EreF1()
    metric([sentence()], [GOLD])
    assert metric.get_counts()["ent_i"] == (0, 0, 4)
    assert metric.get_counts()["rel_i"] == (0, 0, 3)
    assert all(value == 0.0 for value in metric.get_metric().values())


def test_both_empty():
    # Nothing predicted and nothing to find: every denominator is 0 -> everything 0.0 (not 1.0).
    # Missing keys are treated as empty lists.
    metric = EreF1()
    metric([sentence(), {}], [sentence(), {}])
    assert metric.get_counts() == {name: (0, 0, 0) for name in metric.get_counts()}
    values = metric.get_metric()
    assert set(values) == ALL_KEYS
    assert all(value == 0.0 for value in values.values())
    # Also with no sentences at all.
    empty = EreF1()
    empty([], [])
    assert all(value == 0.0 for value in empty.get_metric().values())


def test_duplicates_count_once_and_plain_tuples_accepted():
    gold = sentence([Entity(0, 0, "PER"), Entity(2, 2, "ORG")], [Relation(0, 0, 2, 2, "ORG-AFF")])
    predicted = sentence(
        [Entity(0, 0, "PER"), (0, 0, "PER"), [0, 0, "PER"], (2, 2, "ORG")],
        [Relation(0, 0, 2, 2, "ORG-AFF"), (0, 0, 2, 2, "ORG-AFF"), [0, 0, 2, 2, "ORG-AFF"]],
    )
    # Sets: 2 distinct entities, 1 distinct relation -> every metric (tp, n_pred, n_gold) all equal.
    counts = EreF1.count(predicted, gold)
    assert counts["ent_i"] == (2, 2, 2)
    assert counts["ent_c"] == (2, 2, 2)
    for name in ("rel_i", "rel_c", "strict_rel_i", "strict_rel_c"):
        assert counts[name] == (1, 1, 1)
    assert all(v == 1.0 for v in evaluate([predicted], [gold]).values())


def test_none_labels_count_for_identification_only():
    gold = sentence([Entity(0, 0, "PER"), Entity(2, 3, "ORG")], [Relation(0, 0, 2, 3, "ORG-AFF")])
    # Identified only: entity types and relation type unknown (label None).
    predicted = sentence([Entity(0, 0), (2, 3)], [Relation(0, 0, 2, 3)])
    metric = EreF1()
    metric([predicted], [gold])
    assert metric.get_counts() == {
        "ent_i": (2, 2, 2),  # boundaries right
        "ent_c": (0, 2, 2),  # None never matches; the None entities still count as predicted
        "rel_i": (1, 1, 1),
        "rel_c": (0, 1, 1),
        "strict_rel_i": (0, 1, 1),  # argument types None
        "strict_rel_c": (0, 1, 1),
    }
    values = metric.get_metric()
    assert_prf(values, "ent_i", 1.0, 1.0, 1.0)
    assert_prf(values, "rel_i", 1.0, 1.0, 1.0)
    for name in ("ent_c", "rel_c", "strict_rel_i", "strict_rel_c"):
        assert_prf(values, name, 0.0, 0.0, 0.0)


def test_none_never_equals_none():
    both_none = sentence([Entity(0, 0), Entity(2, 2)], [Relation(0, 0, 2, 2)])
    counts = EreF1.count(both_none, both_none)
    assert counts["ent_i"] == (2, 2, 2)
    assert counts["ent_c"] == (0, 2, 2)
    assert counts["rel_i"] == (1, 1, 1)
    assert counts["rel_c"] == (0, 1, 1)
    assert counts["strict_rel_i"] == (0, 1, 1)
    assert counts["strict_rel_c"] == (0, 1, 1)


def test_symmetric_relations_off_and_on():
    entities = [Entity(0, 0, "Method"), Entity(3, 4, "Task")]
    gold = sentence(entities, [Relation(0, 0, 3, 4, "COMPARE")])
    predicted = sentence(entities, [Relation(3, 4, 0, 0, "COMPARE")])  # reversed
    # Off (default): the reversed pair is wrong for every relation metric: (0, 1, 1) -> all 0.
    off = EreF1()
    off([predicted], [gold])
    for name in ("rel_i", "rel_c", "strict_rel_i", "strict_rel_c"):
        assert off.get_counts()[name] == (0, 1, 1)
        assert_prf(off.get_metric(), name, 0.0, 0.0, 0.0)
    # On: both normalised to (0, 0) -> (3, 4) with types Method/Task: (1, 1, 1) -> all 1.
    on = EreF1(symmetric_relations=["COMPARE"])
    on([predicted], [gold])
    for name in ("rel_i", "rel_c", "strict_rel_i", "strict_rel_c"):
        assert on.get_counts()[name] == (1, 1, 1)
        assert_prf(on.get_metric(), name, 1.0, 1.0, 1.0)
    # Entities are unaffected.
    assert on.get_counts()["ent_c"] == off.get_counts()["ent_c"] == (2, 2, 2)
    # Only listed labels are symmetric.
    assert EreF1.count(predicted, gold, ["CONJUNCTION"])["rel_c"] == (0, 1, 1)


def test_symmetric_rule_uses_each_relations_own_label():
    # Rule: a relation is put in canonical order (smaller (start, end) first) iff its OWN label is
    # symmetric; then ordered tuples are compared.
    entities = [Entity(0, 0, "Method"), Entity(3, 4, "Task")]
    gold = sentence(entities, [Relation(3, 4, 0, 0, "COMPARE")])  # normalised to 0-0 -> 3-4
    canonical = sentence(entities, [Relation(0, 0, 3, 4, "USED-FOR")])  # not symmetric, kept
    reversed_ = sentence(entities, [Relation(3, 4, 0, 0, "USED-FOR")])  # not symmetric, kept
    counts = EreF1.count(canonical, gold, ["COMPARE"])
    assert counts["rel_i"] == (1, 1, 1)  # (0,0,3,4) == normalised gold
    assert counts["strict_rel_i"] == (1, 1, 1)
    assert counts["rel_c"] == (0, 1, 1)  # USED-FOR != COMPARE
    counts = EreF1.count(reversed_, gold, ["COMPARE"])
    assert counts["rel_i"] == (0, 1, 1)  # (3,4,0,0) != (0,0,3,4)


def test_reset():
    metric = EreF1()
    metric([GOLD], [GOLD])
    # get_metric(reset=False) keeps the counts.
    assert metric.get_metric()["ent_i_f1"] == 1.0
    metric([sentence()], [GOLD])
    # Ent-I now: tp 4, n_pred 4, n_gold 8 -> P 1, R 1/2, F1 2/3.
    values = metric.get_metric(reset=True)
    assert_prf(values, "ent_i", 1.0, 1 / 2, 2 / 3)
    # After reset: all counts 0 and all values 0.0.
    assert metric.get_counts() == {name: (0, 0, 0) for name in metric.get_counts()}
    assert all(value == 0.0 for value in metric.get_metric().values())
    # Fresh accumulation after reset.
    metric([GOLD], [GOLD])
    assert all(value == 1.0 for value in metric.get_metric().values())
    metric.reset()
    assert metric.get_counts()["rel_c"] == (0, 0, 0)


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError):
        EreF1()([sentence()], [])


def test_prf():
    assert prf(0, 0, 0) == (0.0, 0.0, 0.0)
    assert prf(1, 2, 4) == pytest.approx((0.5, 0.25, 1 / 3))
    assert prf(3, 3, 3) == (1.0, 1.0, 1.0)


def test_registered_and_constructible_from_params():
    assert Metric.by_name("ere_f1") is EreF1
    metric = Metric.from_params(Params({"type": "ere_f1", "symmetric_relations": ["COMPARE"]}))
    assert isinstance(metric, EreF1)
    gold = sentence([Entity(0, 0, "A"), Entity(2, 2, "A")], [Relation(0, 0, 2, 2, "COMPARE")])
    predicted = sentence([Entity(0, 0, "A"), Entity(2, 2, "A")], [Relation(2, 2, 0, 0, "COMPARE")])
    metric([predicted], [gold])
    assert metric.get_counts()["strict_rel_c"] == (1, 1, 1)


def test_the_metric_names_and_which_head_reports_which():
    """The one definition of the metric names (read by SpanModel, ere-info, the study's tables):
    the entity metrics, then the relation ones, in the paper's order; each reported as P, R, F1."""
    assert METRIC_NAMES == ENTITY_METRICS + RELATION_METRICS == (
        "ent_i", "ent_c", "rel_i", "rel_c", "strict_rel_i", "strict_rel_c")
    assert CLASSIFICATION_METRICS == ("ent_c", "rel_c", "strict_rel_c")
    assert MACRO_METRICS == ("ent_c_macro", "rel_c_macro", "strict_rel_c_macro")
    assert list(DISPLAY_NAMES) == list(METRIC_NAMES) + list(MACRO_METRICS)
    assert list(EreF1().get_metric()) == [f"{name}_{score}" for name in METRIC_NAMES + MACRO_METRICS for score in SCORES]
    assert EreF1.reported_by(True, False) == ENTITY_METRICS + ("ent_c_macro",)
    assert EreF1.reported_by(False, True) == RELATION_METRICS + ("rel_c_macro", "strict_rel_c_macro")
    assert EreF1.reported_by(True, True) == METRIC_NAMES + MACRO_METRICS and EreF1.reported_by(False, False) == ()


def test_macro_averages_by_hand():
    """Per label P/R/F1, then their mean over the labels seen in gold or predictions."""
    predicted = sentence([Entity(0, 0, "A"), Entity(1, 1, "B"), Entity(2, 2, "C")],
                         [Relation(0, 0, 1, 1, "R"), Relation(1, 1, 2, 2, "S")])
    gold = sentence([Entity(0, 0, "A"), Entity(1, 1, "A"), Entity(3, 3, "B")], [Relation(0, 0, 1, 1, "R")])
    metric = EreF1()
    metric([predicted], [gold])
    values = metric.get_metric()
    # Ent-C: A tp 1 / pred 1 / gold 2 -> P 1, R 1/2, F1 2/3; B 0/1/1 -> 0; C 0/1/0 (only predicted) -> 0.
    assert metric.get_label_counts()["ent_c"] == {"A": (1, 1, 2), "B": (0, 1, 1), "C": (0, 1, 0)}
    assert_prf(values, "ent_c_macro", 1 / 3, 1 / 6, 2 / 9)
    assert_prf(values, "ent_c", 1 / 3, 1 / 3, 1 / 3)  # micro: 1 of 3 predicted, 1 of 3 gold
    # Rel-C: R 1/1/1 -> 1, 1, 1; S 0/1/0 -> 0.
    assert_prf(values, "rel_c_macro", 1 / 2, 1 / 2, 1 / 2)
    # Rel+-C: the gold argument (1, 1) is an A, the predicted one a B: no label is right.
    assert metric.get_label_counts()["strict_rel_c"] == {"R": (0, 1, 1), "S": (0, 1, 0)}
    assert_prf(values, "strict_rel_c_macro", 0.0, 0.0, 0.0)
    metric.reset()
    assert metric.get_label_counts()["ent_c"] == {} and metric.get_metric()["ent_c_macro_f1"] == 0.0


def test_macro_averages_equal_scikit_learns_over_spert_style_flattening():
    """SpERT's evaluation: every span predicted or gold is one item, its gold and predicted type (0
    for none); scikit-learn's macro average over the types seen. Two sentences, summed first."""
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    sentences = [
        (sentence([Entity(0, 1, "Peop"), Entity(3, 3, "Loc"), Entity(5, 5, "Org")]),
         sentence([Entity(0, 1, "Peop"), Entity(3, 3, "Org"), Entity(7, 7, "Loc")])),
        (sentence([Entity(0, 0, "Loc"), Entity(2, 2, "Other")]), sentence([Entity(0, 0, "Loc"), Entity(4, 4, "Peop")])),
    ]
    metric = EreF1()
    metric([p for p, _ in sentences], [g for _, g in sentences])
    types = {"Peop": 1, "Loc": 2, "Org": 3, "Other": 4}
    flat_gold, flat_predicted = [], []
    for predicted, gold in sentences:
        p = {(e.start, e.end): e.label for e in predicted["entities"]}
        g = {(e.start, e.end): e.label for e in gold["entities"]}
        for span in sorted(set(p) | set(g)):
            flat_gold.append(types.get(g.get(span), 0))
            flat_predicted.append(types.get(p.get(span), 0))
    seen = sorted({t for t in flat_gold + flat_predicted if t})
    expected = sklearn_metrics.precision_recall_fscore_support(
        flat_gold, flat_predicted, labels=seen, average="macro", zero_division=0)
    assert_prf(metric.get_metric(), "ent_c_macro", *expected[:3])
    assert macro_prf({}) == (0.0, 0.0, 0.0)
