"""Running figures that show how a span model learns (``SpanModel(diagnostic_metrics=True)``)."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from ere_allennlp.common import Entity, Relation


class TrainingDiagnostics:
    """Averages, per epoch, of:

    - ``loss_ent`` / ``loss_rel``: the entity and relation parts of the loss, per sentence (the
      summed cross-entropy of the sentence's spans / pairs whatever ``loss_normalisation`` is; with
      ``null_relation_weight`` the relation part is the weighted sum);
    - ``pair_nonnull``: the share of scored span pairs predicted to hold a relation, and
      ``pair_related``: the share that hold one in the gold data (what ``pair_nonnull`` would be
      for a perfect model);
    - ``pruned_ent_ceiling``: the share of gold entities (up to the width limit) that are among the
      kept spans, and ``pruned_rel_ceiling``: the share of gold relations whose two arguments both
      are: the most a pruned module can find.

    Reported only once counted (a module with ``entity_loss_spans="all"``, with mean field):

    - ``loss_ent_all``: the first-order entity loss over all candidate spans, per sentence;
    - ``loss_ent_first_order`` / ``loss_rel_first_order``: with ``first_order_loss_weight``, the
      entity / relation loss on the first-order posteriors, per sentence (unweighted);
    - ``mf_to_wrong_t<t>`` / ``mf_to_right_t<t>``: entity decisions that mean-field iteration t
      changed from right to wrong / from wrong to right (against the previous iteration's), per 100
      gold entities among the scored spans.
    """

    NAMES = ("loss_ent", "loss_rel", "pair_nonnull", "pair_related", "pruned_ent_ceiling", "pruned_rel_ceiling")
    MEAN_FIELD_PREFIX = "mf_"  # of the mean-field flips' names (the study's mean-field table reads them)

    def __init__(self) -> None:
        # name -> [numerator, denominator]
        self._counts: Dict[str, List[float]] = {name: [0.0, 0.0] for name in self.NAMES}

    def loss(self, name: str, total: float, num_sentences: int) -> None:
        """`total`: the loss part summed over a batch of `num_sentences` sentences."""
        self._add(name, total, num_sentences)

    def relation_pairs(
        self, predicted: int, targets: Optional[torch.Tensor], pair_mask: torch.Tensor, null_index: Optional[int]
    ) -> None:
        """`predicted` relations among the scored pairs of pair_mask [B, m, m]; targets [B, m, m]
        the gold head labels of the pairs (-1 = not given; None without gold): the related ones
        are those with a label other than `null_index`."""
        related = 0
        if targets is not None:
            gold = targets[pair_mask]  # [scored pairs]
            related = int(((gold >= 0) & (gold != null_index)).sum()) if null_index is not None else int((gold >= 0).sum())
        scored = int(pair_mask.sum())
        self._add("pair_nonnull", predicted, scored)
        self._add("pair_related", related, scored)

    def pruning(
        self,
        kept: Sequence[Sequence[Tuple[int, int]]],
        gold_entities: Sequence[Sequence[Entity]],
        gold_relations: Sequence[Sequence[Relation]],
        max_span_width: int,
    ) -> None:
        for spans, entities, relations in zip(kept, gold_entities, gold_relations):
            spans = set(spans)
            reachable = {(e.start, e.end) for e in entities if e.end - e.start < max_span_width}
            self._add("pruned_ent_ceiling", len(reachable & spans), len({(e.start, e.end) for e in entities}))
            found = sum(
                1 for r in relations if (r.head_start, r.head_end) in spans and (r.tail_start, r.tail_end) in spans
            )
            self._add("pruned_rel_ceiling", found, len(relations))

    def mean_field_flips(self, decisions: Sequence[torch.Tensor], gold: torch.Tensor) -> None:
        """`decisions`: the head label index chosen at each mean-field iteration, Q^0 first
        ([B, m] each); `gold` [B, m] the gold head labels (-1 = not scored; 0 = null)."""
        scored = gold >= 0
        entities = float(((gold > 0) & scored).sum())
        for t in range(1, len(decisions)):
            before, after = decisions[t - 1] == gold, decisions[t] == gold
            self._add(f"{self.MEAN_FIELD_PREFIX}to_wrong_t{t}", 100.0 * float((before & ~after & scored).sum()), entities)
            self._add(f"{self.MEAN_FIELD_PREFIX}to_right_t{t}", 100.0 * float((~before & after & scored).sum()), entities)

    def mean_field_flip_counts(self) -> Dict[str, int]:
        """The decisions behind ``mf_*`` (their numerators are counts times 100), e.g.
        ``{"to_wrong_t1": 143, ...}``, accumulated since the last reset."""
        return {name[len("mf_"):]: round(numerator / 100) for name, (numerator, _) in self._counts.items()
                if name.startswith("mf_")}

    def _add(self, name: str, numerator: float, denominator: float) -> None:
        counts = self._counts.setdefault(name, [0.0, 0.0])
        counts[0] += numerator
        counts[1] += denominator

    def get_metric(self, reset: bool = False, pruned: bool = True) -> Dict[str, float]:
        metrics: Dict[str, float] = {}
        for name, (numerator, denominator) in self._counts.items():
            if name.startswith("pruned_") and not pruned:
                continue
            if name not in self.NAMES and not denominator:
                continue
            metrics[name] = numerator / denominator if denominator else 0.0
        if reset:
            self._counts = {name: [0.0, 0.0] for name in self.NAMES}
        return metrics
