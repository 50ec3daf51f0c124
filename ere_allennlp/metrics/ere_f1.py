"""Micro-averaged entity and relation P/R/F1 (Ent-I, Ent-C, Rel-I, Rel-C, Rel+-I, Rel+-C), and the
macro averages over labels of the typed ones (Ent-C, Rel-C, Rel+-C)."""
from typing import Any, Dict, FrozenSet, Iterable, List, Optional, Sequence, Set, Tuple

import torch
import torch.distributed as dist
from allennlp.nn.util import dist_reduce_sum
from allennlp.training.metrics.metric import Metric
from overrides import overrides

from ere_allennlp.common import Entity, Relation

# Metric names, in the order of the paper's tables (also the order of the count tensor rows): those
# a module with an entity head reports, then those a module with a relation head reports
# (`EreF1.reported_by`).
ENTITY_METRICS: Tuple[str, ...] = ("ent_i", "ent_c")
RELATION_METRICS: Tuple[str, ...] = ("rel_i", "rel_c", "strict_rel_i", "strict_rel_c")
METRIC_NAMES: Tuple[str, ...] = ENTITY_METRICS + RELATION_METRICS
# The metrics that compare types (-C; the study's Tables 5 and 6).
CLASSIFICATION_METRICS: Tuple[str, ...] = tuple(name for name in METRIC_NAMES if name.endswith("_c"))
# Positions of the fields that are labels (None never matches) in each metric's items (`EreF1.items`).
LABEL_POSITIONS: Dict[str, Tuple[int, ...]] = {
    "ent_i": (), "ent_c": (2,), "rel_i": (), "rel_c": (4,), "strict_rel_i": (4, 5), "strict_rel_c": (4, 5, 6),
}
# Macro averages over labels (not the paper's, which reports micro F1 only; SpERT and most CoNLL04
# papers report both): <metric>_macro for each -C metric, the mean over labels of the per-label
# P, R and F1. Extra metrics: micro stays the validation metric.
MACRO_SUFFIX = "_macro"
MACRO_METRICS: Tuple[str, ...] = tuple(name + MACRO_SUFFIX for name in CLASSIFICATION_METRICS)
# The position of the label each macro average is taken over, in the metric's items (`EreF1.items`):
# the entity type for Ent-C, the relation type for Rel-C and Rel+-C.
MACRO_LABEL_POSITION: Dict[str, int] = {"ent_c": 2, "rel_c": 4, "strict_rel_c": 6}
# The figures of each metric, reported as <name>_p, <name>_r, <name>_f1.
SCORES: Tuple[str, ...] = ("p", "r", "f1")
# How the paper's tables name them (Section 3.1); the study's tables and ere-compare print these.
DISPLAY_NAMES: Dict[str, str] = {
    "ent_i": "Ent-I", "ent_c": "Ent-C", "rel_i": "Rel-I", "rel_c": "Rel-C",
    "strict_rel_i": "Rel+-I", "strict_rel_c": "Rel+-C",
    "ent_c_macro": "Ent-C macro", "rel_c_macro": "Rel-C macro", "strict_rel_c_macro": "Rel+-C macro",
}

Span = Tuple[int, int]
Counts = Tuple[int, int, int]


def prf(tp: int, n_pred: int, n_gold: int) -> Tuple[float, float, float]:
    """Precision, recall and F1 from counts; each is 0.0 when its denominator is 0."""
    precision = tp / n_pred if n_pred > 0 else 0.0
    recall = tp / n_gold if n_gold > 0 else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return precision, recall, f1


def _as_entity(entity: Sequence[Any]) -> Entity:
    return entity if isinstance(entity, Entity) else Entity(*entity)


def _as_relation(relation: Sequence[Any]) -> Relation:
    return relation if isinstance(relation, Relation) else Relation(*relation)


def _normalise(relation: Relation, symmetric: FrozenSet[str]) -> Relation:
    """Put the argument with the smaller (start, end) first if the relation's own label is symmetric."""
    if relation.label is not None and relation.label in symmetric:
        head = (relation.head_start, relation.head_end)
        tail = (relation.tail_start, relation.tail_end)
        if tail < head:
            return Relation(tail[0], tail[1], head[0], head[1], relation.label)
    return relation


def _span_types(entities: Iterable[Entity]) -> Dict[Span, Optional[str]]:
    """Entity type of each span; None if the span's only labels are None or it has several labels."""
    labels: Dict[Span, Set[Optional[str]]] = {}
    for entity in entities:
        labels.setdefault((entity.start, entity.end), set()).add(entity.label)
    return {span: next(iter(found)) if len(found) == 1 else None for span, found in labels.items()}


def macro_prf(per_label: Dict[str, Counts]) -> Tuple[float, float, float]:
    """Macro P, R and F1: the means over the labels of `per_label` (``{label: (tp, n_pred, n_gold)}``)
    of each label's P, R and F1 (as scikit-learn's ``average="macro"``, which SpERT reports); 0.0
    without labels."""
    if not per_label:
        return 0.0, 0.0, 0.0
    scores = [prf(*counts) for counts in per_label.values()]
    return tuple(sum(score[k] for score in scores) / len(scores) for k in range(3))  # type: ignore[return-value]


def _count(predicted: Set[Tuple[Any, ...]], gold: Set[Tuple[Any, ...]], label_positions: Sequence[int]) -> Counts:
    """(tp, n_pred, n_gold) of two item sets; an item with None at a label position never matches."""
    tp = sum(
        1 for item in predicted & gold if all(item[position] is not None for position in label_positions)
    )
    return tp, len(predicted), len(gold)


@Metric.register("ere_f1")
class EreF1(Metric):
    """
    Micro-averaged precision, recall and F1 for entities and relations, as defined in Section 3.1
    ("Evaluations") of the paper:

    - Ent-I (`ent_i_*`): entity boundaries match; Ent-C (`ent_c_*`): boundaries and type match.
    - Rel-I (`rel_i_*`): both argument boundaries match, relation type ignored; Rel-C (`rel_c_*`):
      argument boundaries and relation type match.
    - Rel+-I (`strict_rel_i_*`): argument boundaries and both argument entity types match, relation
      type ignored; Rel+-C (`strict_rel_c_*`): additionally the relation type matches. The type of a
      predicted argument is the label of the predicted entity with the same boundaries in the same
      sentence (gold: the gold entity's label); if there is none, or several different labels, or
      it is None, the relation cannot be strictly correct.

    Items are compared as sets per sentence (duplicates count once); tp, number predicted and
    number gold are summed over all sentences (and distributed workers) before computing P/R/F1.
    A None label (identified only) never equals anything: such items count as predicted/gold in
    every metric but are never true positives of a metric that compares that label.

    Macro averages (``ent_c_macro_*``, ``rel_c_macro_*``, ``strict_rel_c_macro_*``; not the
    paper's): the counts of each -C metric are also kept per label (entity type, relation type),
    and P, R and F1 are averaged over the labels seen in the gold or the predicted items, as SpERT
    does (a label that is only predicted has P = R = F1 = 0 and lowers the average).

    Symmetric relations: every relation, gold or predicted, whose *own* label is in
    `symmetric_relations` is rewritten so that the argument with the smaller (start, end) comes
    first; then all relation metrics compare ordered tuples. So direction is ignored when both the
    gold and the predicted label are symmetric (always so for the -C metrics); if only one of the two
    is symmetric (possible in Rel-I/Rel+-I), the pair matches only if the other relation is already
    in canonical order (smaller argument first).

    # Parameters

    symmetric_relations : `List[str]`, optional (default = `None`, i.e. none)
        Relation labels whose direction is ignored (e.g. `["COMPARE", "CONJUNCTION"]` for SciERC).
    """

    supports_distributed = True

    def __init__(self, symmetric_relations: Optional[List[str]] = None) -> None:
        self._symmetric_relations: FrozenSet[str] = frozenset(symmetric_relations or ())
        self._counts = torch.zeros(len(METRIC_NAMES), 3, dtype=torch.long)
        self._label_counts: Dict[str, Dict[str, List[int]]] = {name: {} for name in MACRO_LABEL_POSITION}

    @staticmethod
    def reported_by(entity_head: bool, relation_head: bool) -> Tuple[str, ...]:
        """The metric names a module with these heads reports: the entity metrics with an entity
        head, the relation metrics with a relation head (each with its macro average)."""
        names = (ENTITY_METRICS if entity_head else ()) + (RELATION_METRICS if relation_head else ())
        return names + tuple(name + MACRO_SUFFIX for name in names if name in MACRO_LABEL_POSITION)

    @staticmethod
    def items(sentence: Dict[str, Any], symmetric_relations: Iterable[str] = ()) -> Dict[str, Any]:
        """The sets each metric compares for one sentence (``{"entities", "relations"}``), keyed by
        metric name, plus ``relations`` (the normalised relations) and ``types`` (span -> the type
        a relation argument there gets). `count` and the error analysis both read these."""
        symmetric = frozenset(symmetric_relations)
        entities = {_as_entity(entity) for entity in sentence.get("entities", ())}
        relations = {_normalise(_as_relation(relation), symmetric) for relation in sentence.get("relations", ())}
        types = _span_types(entities)
        return {
            "ent_i": {(e.start, e.end) for e in entities},
            "ent_c": {(e.start, e.end, e.label) for e in entities},
            "rel_i": {tuple(r[:4]) for r in relations},
            "rel_c": {tuple(r) for r in relations},
            "strict_rel_i": {tuple(r[:4]) + (types.get(r[:2]), types.get(r[2:4])) for r in relations},
            "strict_rel_c": {tuple(r[:4]) + (types.get(r[:2]), types.get(r[2:4]), r.label) for r in relations},
            "relations": relations,
            "types": types,
        }

    @staticmethod
    def count(
        predicted_sentence: Dict[str, Any],
        gold_sentence: Dict[str, Any],
        symmetric_relations: Iterable[str] = (),
    ) -> Dict[str, Counts]:
        """`{metric name: (tp, n_pred, n_gold)}` for one sentence."""
        return EreF1.count_items(
            EreF1.items(predicted_sentence, symmetric_relations), EreF1.items(gold_sentence, symmetric_relations)
        )

    @staticmethod
    def count_items(predicted: Dict[str, Any], gold: Dict[str, Any]) -> Dict[str, Counts]:
        """`count` of a sentence's `items` (predicted and gold), already built."""
        return {name: _count(predicted[name], gold[name], LABEL_POSITIONS[name]) for name in METRIC_NAMES}

    @staticmethod
    def count_by_label(predicted: Dict[str, Any], gold: Dict[str, Any]) -> Dict[str, Dict[str, Counts]]:
        """`{metric: {label: (tp, n_pred, n_gold)}}` of a sentence's `items` for each -C metric
        (`MACRO_LABEL_POSITION`), over the labels its predicted or gold items have (None is no label)."""
        result: Dict[str, Dict[str, Counts]] = {}
        for name, position in MACRO_LABEL_POSITION.items():
            per_label: Dict[str, List[int]] = {}
            for k, items in ((1, predicted[name]), (2, gold[name])):
                for item in items:
                    if item[position] is not None:
                        per_label.setdefault(item[position], [0, 0, 0])[k] += 1
            for item in predicted[name] & gold[name]:
                if all(item[p] is not None for p in LABEL_POSITIONS[name]):
                    per_label[item[position]][0] += 1
            result[name] = {label: (c[0], c[1], c[2]) for label, c in per_label.items()}
        return result

    @overrides
    def __call__(self, predicted: List[Dict[str, Any]], gold: List[Dict[str, Any]]) -> None:  # type: ignore[override]
        """One dict `{"entities": [...], "relations": [...]}` per sentence in each list."""
        if len(predicted) != len(gold):
            raise ValueError(f"{len(predicted)} predicted sentences but {len(gold)} gold sentences")
        batch = torch.zeros(len(METRIC_NAMES), 3, dtype=torch.long)
        labels: Dict[str, Dict[str, List[int]]] = {name: {} for name in MACRO_LABEL_POSITION}
        for predicted_sentence, gold_sentence in zip(predicted, gold):
            p = self.items(predicted_sentence, self._symmetric_relations)
            g = self.items(gold_sentence, self._symmetric_relations)
            counts = self.count_items(p, g)
            for row, name in enumerate(METRIC_NAMES):
                batch[row] += torch.tensor(counts[name], dtype=torch.long)
            for name, per_label in self.count_by_label(p, g).items():
                for label, c in per_label.items():
                    total = labels[name].setdefault(label, [0, 0, 0])
                    for k in range(3):
                        total[k] += c[k]
        # As FBetaMeasure: sum the batch counts over workers, so every worker holds the global sums.
        self._counts += dist_reduce_sum(batch).cpu()
        self._add_label_counts(labels)

    def _add_label_counts(self, labels: Dict[str, Dict[str, List[int]]]) -> None:
        """Adds a batch's per-label counts (those of every worker when distributed: the label sets
        differ between workers, so they travel as objects, not as a tensor)."""
        gathered = [labels]
        if dist.is_available() and dist.is_initialized():
            gathered = [{} for _ in range(dist.get_world_size())]
            dist.all_gather_object(gathered, labels)
        for worker in gathered:
            for name, per_label in worker.items():
                for label, c in per_label.items():
                    total = self._label_counts[name].setdefault(label, [0, 0, 0])
                    for k in range(3):
                        total[k] += c[k]

    def get_counts(self) -> Dict[str, Counts]:
        """Accumulated `{metric name: (tp, n_pred, n_gold)}`."""
        return {
            name: (int(row[0]), int(row[1]), int(row[2])) for name, row in zip(METRIC_NAMES, self._counts.tolist())
        }

    def get_label_counts(self) -> Dict[str, Dict[str, Counts]]:
        """Accumulated `{metric: {label: (tp, n_pred, n_gold)}}` of the -C metrics."""
        return {name: {label: (c[0], c[1], c[2]) for label, c in sorted(per_label.items())}
                for name, per_label in self._label_counts.items()}

    @overrides
    def get_metric(self, reset: bool = False) -> Dict[str, float]:
        metrics: Dict[str, float] = {}
        for name, (tp, n_pred, n_gold) in self.get_counts().items():
            for score, value in zip(SCORES, prf(tp, n_pred, n_gold)):
                metrics[f"{name}_{score}"] = value
        for name, per_label in self.get_label_counts().items():
            for score, value in zip(SCORES, macro_prf(per_label)):
                metrics[f"{name}{MACRO_SUFFIX}_{score}"] = value
        if reset:
            self.reset()
        return metrics

    @overrides
    def reset(self) -> None:
        self._counts = torch.zeros(len(METRIC_NAMES), 3, dtype=torch.long)
        self._label_counts = {name: {} for name in MACRO_LABEL_POSITION}
