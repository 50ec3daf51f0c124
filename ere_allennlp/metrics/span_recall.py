"""Precision, recall and F1 of a set of kept candidate spans against the gold entity spans."""
from typing import Dict, Iterable, List, Sequence, Tuple

import torch
from allennlp.nn.util import dist_reduce_sum
from allennlp.training.metrics.metric import Metric
from overrides import overrides

from ere_allennlp.metrics.ere_f1 import prf

Span = Tuple[int, int]


@Metric.register("span_recall")
class SpanRecall(Metric):
    """
    Compares, per sentence, the set of kept spans (e.g. the pruner's top-K candidates) with the
    set of gold entity spans (boundaries only, labels ignored). True positives, kept spans, gold
    spans and sentences are summed over all sentences (and distributed workers).

    `get_metric` returns `p` (tp / kept), `r` (tp / gold: every gold entity counts, also one that
    could never be a candidate, e.g. wider than the span width limit, as in Table 4 of the paper),
    `f1`, and `k`, the mean number of kept spans per sentence.
    """

    supports_distributed = True

    def __init__(self) -> None:
        # tp, number kept, number gold, number of sentences
        self._counts = torch.zeros(4, dtype=torch.long)

    @overrides
    def __call__(  # type: ignore[override]
        self, kept: Sequence[Iterable[Sequence[int]]], gold: Sequence[Iterable[Sequence[int]]]
    ) -> None:
        """One iterable of spans per sentence in each list; a span is `(start, end, ...)`,
        e.g. an `Entity` (only its first two fields are compared)."""
        if len(kept) != len(gold):
            raise ValueError(f"{len(kept)} sentences of kept spans but {len(gold)} of gold spans")
        batch: List[int] = [0, 0, 0, len(kept)]
        for kept_sentence, gold_sentence in zip(kept, gold):
            kept_spans = {(int(s[0]), int(s[1])) for s in kept_sentence}
            gold_spans = {(int(s[0]), int(s[1])) for s in gold_sentence}
            batch[0] += len(kept_spans & gold_spans)
            batch[1] += len(kept_spans)
            batch[2] += len(gold_spans)
        self._counts += dist_reduce_sum(torch.tensor(batch, dtype=torch.long)).cpu()

    def get_counts(self) -> Dict[str, int]:
        tp, n_kept, n_gold, n_sentences = (int(c) for c in self._counts.tolist())
        return {"tp": tp, "kept": n_kept, "gold": n_gold, "sentences": n_sentences}

    @overrides
    def get_metric(self, reset: bool = False) -> Dict[str, float]:
        counts = self.get_counts()
        precision, recall, f1 = prf(counts["tp"], counts["kept"], counts["gold"])
        mean_kept = counts["kept"] / counts["sentences"] if counts["sentences"] > 0 else 0.0
        if reset:
            self.reset()
        return {"p": precision, "r": recall, "f1": f1, "k": mean_kept}

    @overrides
    def reset(self) -> None:
        self._counts = torch.zeros(4, dtype=torch.long)
