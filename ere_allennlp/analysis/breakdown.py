"""Why relations are lost: a breakdown of one prediction file against its gold file.

Every count is made on the same item sets as the ``ere_f1`` metric (`EreF1.items`: sets per
sentence, symmetric labels normalised, a None label never correct), so the totals agree with it:
Ent-C tp / predicted / gold and Rel+-C tp / predicted / gold are ``ere_f1``'s.

**Entities.** A predicted entity (span, type) is, first that applies:
``correct`` (a gold entity with the same span and type); ``wrong_type`` (a gold entity with the
same span, another type); ``boundary_right_type`` / ``boundary_wrong_type`` (no gold entity with
the same span, but one that overlaps it, of the same type / of none of the overlapping types);
``spurious`` (overlaps no gold entity). A gold entity that is not predicted correctly is
``gold_wrong_type`` (predicted with the same span, another type) or ``missed`` (no predicted
entity with its span).

**Gold relations lost** (not predicted exactly, Rel+-C), each attributed to its first cause in this
order: ``argument_not_found`` (an argument's span overlaps no predicted entity),
``argument_boundary`` (an argument is overlapped but not predicted with its exact span),
``argument_type`` (both spans predicted, a type differs from gold), ``no_relation`` (both
arguments right, no relation predicted between them in either direction), ``wrong_label`` (a
relation predicted between them in the same direction, another label), ``reversed`` (only the
reverse direction predicted). The first three are losses to entity errors: the **error-propagation
share** is their part of all lost gold relations.

**Spurious relations** (predicted, not gold under Rel+-C): ``argument_not_an_entity`` (an
argument's span is no gold entity's span) or ``both_arguments_entities``.

Per label: Ent-C by entity type, Rel+-C by relation label (support = gold count). Buckets: Rel+-C
by sentence length (words) and by argument distance (words between the two arguments; a
relation's bucket comes from its own spans, gold or predicted). Confusion matrices pair the
entities with the same span (``NONE``: no entity there) and the relations with the same ordered
argument spans.
"""
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from ere_allennlp.metrics.ere_f1 import EreF1, prf

ENTITY_OUTCOMES = ("correct", "wrong_type", "boundary_right_type", "boundary_wrong_type", "spurious")
GOLD_ENTITY_OUTCOMES = ("correct", "gold_wrong_type", "missed")
RELATION_CAUSES = ("argument_not_found", "argument_boundary", "argument_type", "no_relation", "wrong_label", "reversed")
ENTITY_CAUSES = RELATION_CAUSES[:3]  # losses to entity errors
SPURIOUS_RELATIONS = ("argument_not_an_entity", "both_arguments_entities")
LENGTH_BUCKETS = ((1, 10), (11, 20), (21, 30), (31, 40), (41, None))
DISTANCE_BUCKETS = ((0, 0), (1, 2), (3, 5), (6, 10), (11, None))
NONE = "NONE"

Span = Tuple[int, int]


def bucket_name(bucket: Tuple[int, Optional[int]]) -> str:
    low, high = bucket
    return f"{low}+" if high is None else (str(low) if low == high else f"{low}-{high}")


def _bucket(value: int, buckets: Sequence[Tuple[int, Optional[int]]]) -> str:
    for bucket in buckets:
        if value >= bucket[0] and (bucket[1] is None or value <= bucket[1]):
            return bucket_name(bucket)
    return bucket_name(buckets[0])


def _ordered(items: Iterable[Tuple[Any, ...]]) -> List[Tuple[Any, ...]]:
    """The items of one of `EreF1.items`' sets in position order: by offsets, then label (None
    first; a label that is no string, read from a prediction file, by its text). A set of tuples
    holding strings iterates in an order that changes with the process's string hashing
    (``PYTHONHASHSEED``); the order of the items in `Breakdown.records` (the HTML report) must not."""
    def key(item: Tuple[Any, ...]) -> Tuple[Any, ...]:
        return tuple((0, value, "") if isinstance(value, int) else (1, 0, "") if value is None else (2, 0, str(value))
                     for value in item)

    return sorted(items, key=key)


def _overlaps(a: Span, b: Span) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def argument_distance(relation: Sequence[Any]) -> int:
    """Words between the two arguments (0 when they touch or overlap)."""
    (hs, he), (ts, te) = (relation[0], relation[1]), (relation[2], relation[3])
    return max(0, max(hs, ts) - min(he, te) - 1)


@dataclass
class Breakdown:
    """The counts of one prediction file (see the module docstring); `add_sentence` accumulates."""

    entity_outcomes: Counter = field(default_factory=Counter)
    gold_entity_outcomes: Counter = field(default_factory=Counter)
    relation_causes: Counter = field(default_factory=Counter)
    spurious_relations: Counter = field(default_factory=Counter)
    correct_relations: int = 0
    # label -> [tp, n_pred, n_gold]
    entity_labels: Dict[str, List[int]] = field(default_factory=dict)
    relation_labels: Dict[str, List[int]] = field(default_factory=dict)
    # bucket -> [tp, n_pred, n_gold] of Rel+-C
    by_length: Dict[str, List[int]] = field(default_factory=lambda: {bucket_name(b): [0, 0, 0] for b in LENGTH_BUCKETS})
    by_distance: Dict[str, List[int]] = field(default_factory=lambda: {bucket_name(b): [0, 0, 0] for b in DISTANCE_BUCKETS})
    # (gold label, predicted label) -> count
    entity_confusion: Counter = field(default_factory=Counter)
    relation_confusion: Counter = field(default_factory=Counter)
    # metric -> [tp, n_pred, n_gold], from EreF1.count on the same sentences (the totals to agree with)
    metric_counts: Dict[str, List[int]] = field(default_factory=dict)
    # (doc_key, tokens, kinds) of every sentence `breakdown_of` added (kinds: `add_sentence`'s
    # result); the HTML report reads them.
    records: List[Tuple[str, List[str], Dict[str, List[Tuple[Any, str]]]]] = field(default_factory=list)

    def add_sentence(
        self, predicted: Dict[str, Any], gold: Dict[str, Any], length: int, symmetric: Iterable[str] = ()
    ) -> Dict[str, List[Tuple[Any, str]]]:
        """One sentence: ``{"entities": [Entity], "relations": [Relation]}`` each, sentence-local.
        Returns the kind of every item: (item, kind) lists under "predicted entities", "gold
        entities", "gold relations" (a cause, or "correct") and "predicted relations" ("correct" or
        a spurious kind)."""
        symmetric = tuple(symmetric)
        p, g = EreF1.items(predicted, symmetric), EreF1.items(gold, symmetric)
        kinds: Dict[str, List[Tuple[Any, str]]] = {
            "predicted entities": [], "gold entities": [], "gold relations": [], "predicted relations": []}
        for name, counts in EreF1.count_items(p, g).items():
            total = self.metric_counts.setdefault(name, [0, 0, 0])
            for i in range(3):
                total[i] += counts[i]
        self._entities(p, g, kinds)
        self._relations(p, g, length, kinds)
        return kinds

    # ---------------------------------------------------------------- entities
    def _entities(self, p: Dict[str, Any], g: Dict[str, Any], kinds: Dict[str, List[Tuple[Any, str]]]) -> None:
        gold_by_span: Dict[Span, set] = {}
        for s, e, label in g["ent_c"]:
            gold_by_span.setdefault((s, e), set()).add(label)
        pred_by_span: Dict[Span, set] = {}
        for s, e, label in p["ent_c"]:
            pred_by_span.setdefault((s, e), set()).add(label)
        for s, e, label in _ordered(p["ent_c"]):
            span = (s, e)
            if label is not None and label in gold_by_span.get(span, ()):
                outcome = "correct"
            elif span in gold_by_span:
                outcome = "wrong_type"
            else:
                overlapping = [labels for other, labels in gold_by_span.items() if _overlaps(span, other)]
                if not overlapping:
                    outcome = "spurious"
                elif any(label is not None and label in labels for labels in overlapping):
                    outcome = "boundary_right_type"
                else:
                    outcome = "boundary_wrong_type"
            self.entity_outcomes[outcome] += 1
            kinds["predicted entities"].append(((s, e, label), outcome))
            row = self.entity_labels.setdefault(str(label), [0, 0, 0])
            row[1] += 1
            row[0] += outcome == "correct"
        for s, e, label in _ordered(g["ent_c"]):
            predicted_labels = pred_by_span.get((s, e), set())
            if label is not None and label in predicted_labels:
                outcome = "correct"
            elif predicted_labels:
                outcome = "gold_wrong_type"
            else:
                outcome = "missed"
            self.gold_entity_outcomes[outcome] += 1
            kinds["gold entities"].append(((s, e, label), outcome))
            self.entity_labels.setdefault(str(label), [0, 0, 0])[2] += 1
        for span in set(gold_by_span) | set(pred_by_span):
            gold_labels = sorted(map(str, gold_by_span.get(span, ()))) or [NONE]
            pred_labels = sorted(map(str, pred_by_span.get(span, ()))) or [NONE]
            for gold_label in gold_labels:
                for pred_label in pred_labels:
                    self.entity_confusion[(gold_label, pred_label)] += 1

    # ---------------------------------------------------------------- relations
    def _relations(self, p: Dict[str, Any], g: Dict[str, Any], length: int, kinds: Dict[str, List[Tuple[Any, str]]]) -> None:
        predicted_spans = p["ent_i"]
        gold_spans = g["ent_i"]
        predicted_types, gold_types = p["types"], g["types"]
        strict_predicted, strict_gold = p["strict_rel_c"], g["strict_rel_c"]
        length_bucket = _bucket(length, LENGTH_BUCKETS)

        def correct(item: Tuple[Any, ...], other: set) -> bool:
            return item in other and all(item[k] is not None for k in (4, 5, 6))

        for relation in _ordered(g["relations"]):
            strict = tuple(relation[:4]) + (gold_types.get(relation[:2]), gold_types.get(relation[2:4]), relation.label)
            label = str(relation.label)
            self.relation_labels.setdefault(label, [0, 0, 0])[2] += 1
            distance_bucket = _bucket(argument_distance(relation), DISTANCE_BUCKETS)
            self.by_length[length_bucket][2] += 1
            self.by_distance[distance_bucket][2] += 1
            if correct(strict, strict_predicted):
                kinds["gold relations"].append((tuple(relation), "correct"))
                self.correct_relations += 1
                self.relation_labels[label][0] += 1
                self.by_length[length_bucket][0] += 1
                self.by_distance[distance_bucket][0] += 1
                continue
            cause = self._cause(relation, p, predicted_spans, predicted_types, gold_types)
            self.relation_causes[cause] += 1
            kinds["gold relations"].append((tuple(relation), cause))
        for relation in _ordered(p["relations"]):
            strict = tuple(relation[:4]) + (predicted_types.get(relation[:2]), predicted_types.get(relation[2:4]), relation.label)
            self.relation_labels.setdefault(str(relation.label), [0, 0, 0])[1] += 1
            self.by_length[length_bucket][1] += 1
            self.by_distance[_bucket(argument_distance(relation), DISTANCE_BUCKETS)][1] += 1
            if not correct(strict, strict_gold):
                both = relation[:2] in gold_spans and relation[2:4] in gold_spans
                kind = "both_arguments_entities" if both else "argument_not_an_entity"
                self.spurious_relations[kind] += 1
                kinds["predicted relations"].append((tuple(relation), kind))
            else:
                kinds["predicted relations"].append((tuple(relation), "correct"))
        gold_pairs: Dict[Tuple[int, ...], set] = {}
        for relation in g["relations"]:
            gold_pairs.setdefault(tuple(relation[:4]), set()).add(str(relation.label))
        pred_pairs: Dict[Tuple[int, ...], set] = {}
        for relation in p["relations"]:
            pred_pairs.setdefault(tuple(relation[:4]), set()).add(str(relation.label))
        for pair in set(gold_pairs) | set(pred_pairs):
            for gold_label in sorted(gold_pairs.get(pair, ())) or [NONE]:
                for pred_label in sorted(pred_pairs.get(pair, ())) or [NONE]:
                    self.relation_confusion[(gold_label, pred_label)] += 1

    @staticmethod
    def _cause(relation: Any, p: Dict[str, Any], predicted_spans: set, predicted_types: Dict, gold_types: Dict) -> str:
        arguments = (tuple(relation[:2]), tuple(relation[2:4]))
        if any(not any(_overlaps(a, s) for s in predicted_spans) for a in arguments):
            return "argument_not_found"
        if any(a not in predicted_spans for a in arguments):
            return "argument_boundary"
        if any(predicted_types.get(a) is None or predicted_types.get(a) != gold_types.get(a) for a in arguments):
            return "argument_type"
        same = [r for r in p["relations"] if tuple(r[:4]) == tuple(relation[:4])]
        if same:
            return "wrong_label"
        if any(tuple(r[:2]) == arguments[1] and tuple(r[2:4]) == arguments[0] for r in p["relations"]):
            return "reversed"
        return "no_relation"

    # ---------------------------------------------------------------- summaries
    @property
    def lost_relations(self) -> int:
        return sum(self.relation_causes.values())

    @property
    def error_propagation_share(self) -> float:
        """Of the gold relations lost, the fraction lost to entity errors (0 when none is lost)."""
        lost = self.lost_relations
        return sum(self.relation_causes[c] for c in ENTITY_CAUSES) / lost if lost else 0.0

    def totals(self) -> Dict[str, Tuple[int, int, int]]:
        """Ent-C and Rel+-C (tp, n_pred, n_gold) from the breakdown itself."""
        return {
            "ent_c": (self.entity_outcomes["correct"], sum(self.entity_outcomes.values()),
                      sum(self.gold_entity_outcomes.values())),
            "strict_rel_c": (self.correct_relations, self.correct_relations + sum(self.spurious_relations.values()),
                             self.correct_relations + self.lost_relations),
        }

    def to_json(self) -> Dict[str, Any]:
        def labelled(rows: Dict[str, List[int]], ordered: bool = False) -> Dict[str, Dict[str, float]]:
            out = {}
            for label, (tp, n_pred, n_gold) in (rows.items() if ordered else sorted(rows.items())):
                p, r, f1 = prf(tp, n_pred, n_gold)
                out[label] = {"p": p, "r": r, "f1": f1, "support": n_gold, "tp": tp, "predicted": n_pred}
            return out

        return {
            "entity_outcomes": {k: self.entity_outcomes[k] for k in ENTITY_OUTCOMES},
            "gold_entity_outcomes": {k: self.gold_entity_outcomes[k] for k in GOLD_ENTITY_OUTCOMES},
            "relation_causes": {k: self.relation_causes[k] for k in RELATION_CAUSES},
            "spurious_relations": {k: self.spurious_relations[k] for k in SPURIOUS_RELATIONS},
            "correct_relations": self.correct_relations,
            "lost_relations": self.lost_relations,
            "error_propagation_share": self.error_propagation_share,
            "entity_labels": labelled(self.entity_labels),
            "relation_labels": labelled(self.relation_labels),
            "by_sentence_length": labelled(self.by_length, ordered=True),
            "by_argument_distance": labelled(self.by_distance, ordered=True),
            "entity_confusion": [[g, p, n] for (g, p), n in sorted(self.entity_confusion.items())],
            "relation_confusion": [[g, p, n] for (g, p), n in sorted(self.relation_confusion.items())],
            "totals": {k: list(v) for k, v in self.totals().items()},
            "ere_f1_counts": {k: list(v) for k, v in self.metric_counts.items()},
        }
