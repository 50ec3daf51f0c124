"""Paired approximate randomization (permutation) test between two approaches.

Section 3.1 of the paper: "A significance analysis is done with the permutation test for the
results of every two approaches and we reject the null hypothesis when p < 0.05".

The unit that is permuted is the document: both systems' predictions of each gold document are
turned into per-document counts ``(tp, n_pred, n_gold)`` of every metric of `EreF1`; the test
statistic is ``|F1(A) - F1(B)|`` of the micro-summed counts; each trial swaps A's and B's counts
of every document independently with probability 0.5, and
``p = (1 + #trials whose statistic >= the observed one) / (1 + trials)``.
"""
import itertools
from typing import Any, Dict, Iterable, Mapping, Tuple

import numpy as np

from ere_allennlp.alignment import aligned_sentences
from ere_allennlp.metrics.ere_f1 import METRIC_NAMES, SCORES, EreF1, prf

Counts = Tuple[int, int, int]
DocumentCounts = Dict[str, Dict[str, Counts]]

ALPHA = 0.05  # reject the null hypothesis when p < ALPHA (paper, Section 3.1)
TRIALS = 10000  # random swaps of a test unless told otherwise (ere-compare's and ere-study's --trials)
MAX_EXACT_DOCUMENTS = 16  # exact=True enumerates all 2**documents swaps
_BLOCK_CELLS = 1 << 22  # at most this many (trial, document) cells of the swap matrix at once


class SignificanceError(ValueError):
    """The two systems' counts cannot be compared (they cover different documents)."""


def document_counts(
    predictions_path: str, gold_path: str, symmetric_relations: Iterable[str] = ()
) -> DocumentCounts:
    """``{doc_key: {metric: (tp, n_pred, n_gold)}}``: `EreF1.count` summed over the sentences of
    each gold document (`ere_allennlp.alignment.aligned_sentences`: the same checks, an
    `AlignmentError` when the files do not fit together)."""
    symmetric = tuple(symmetric_relations)
    result: DocumentCounts = {}
    for document, predicted, gold in aligned_sentences(predictions_path, gold_path):
        totals = {name: [0, 0, 0] for name in METRIC_NAMES}
        for predicted_sentence, gold_sentence in zip(predicted, gold):
            for name, counts in EreF1.count(predicted_sentence, gold_sentence, symmetric).items():
                for i in range(3):
                    totals[name][i] += counts[i]
        result[document.doc_key] = {name: (c[0], c[1], c[2]) for name, c in totals.items()}
    return result


def _f1(counts: np.ndarray) -> np.ndarray:
    """F1 of summed counts ``[..., 3]`` (tp, n_pred, n_gold); 0 where undefined, as `prf`."""
    tp = counts[..., 0].astype(np.float64)
    denominator = (counts[..., 1] + counts[..., 2]).astype(np.float64)
    return np.divide(2.0 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)


def _count_matrices(counts_a: Mapping[str, Mapping[str, Counts]], counts_b: Mapping[str, Mapping[str, Counts]], metric: str) -> Tuple[np.ndarray, np.ndarray]:
    if set(counts_a) != set(counts_b):
        missing = sorted(set(counts_a) ^ set(counts_b))
        raise SignificanceError(f"the two systems cover different documents, e.g. doc_key {missing[0]!r}")
    keys = sorted(counts_a)
    a = np.array([counts_a[key][metric] for key in keys], dtype=np.int64).reshape(len(keys), 3)
    b = np.array([counts_b[key][metric] for key in keys], dtype=np.int64).reshape(len(keys), 3)
    return a, b


def _statistics(sum_a: np.ndarray, sum_b: np.ndarray, swaps: np.ndarray, difference: np.ndarray) -> np.ndarray:
    """|F1(A') - F1(B')| of each row of the boolean swap matrix ``[trials, docs]``."""
    moved = swaps.astype(np.int64) @ difference  # [trials, 3]: what swapping moves from B to A
    return np.abs(_f1(sum_a + moved) - _f1(sum_b - moved))


def paired_permutation_test(
    counts_a: Mapping[str, Mapping[str, Counts]],
    counts_b: Mapping[str, Mapping[str, Counts]],
    metric: str,
    trials: int = TRIALS,
    seed: int = 0,
    exact: bool = False,
) -> float:
    """p-value of the paired approximate randomization test of ``|F1(A) - F1(B)|`` (micro F1 of
    `metric`) over documents; `counts_a`/`counts_b` as returned by `document_counts`.

    ``p = (1 + #trials with statistic >= observed) / (1 + trials)``; identical systems give 1.
    With ``exact=True`` (at most 16 documents) all ``2**documents`` swaps are enumerated instead
    and p is the fraction of them whose statistic is >= the observed one."""
    if metric not in METRIC_NAMES:
        raise ValueError(f"unknown metric {metric!r}; one of {METRIC_NAMES}")
    a, b = _count_matrices(counts_a, counts_b, metric)
    docs = a.shape[0]
    sum_a, sum_b = a.sum(axis=0), b.sum(axis=0)
    difference = b - a
    observed = float(np.abs(_f1(sum_a) - _f1(sum_b)))
    tolerance = 1e-12  # the same F1 reached through a different swap set must count as >=
    if exact:
        if docs > MAX_EXACT_DOCUMENTS:
            raise ValueError(f"exact=True enumerates 2**documents swaps: at most {MAX_EXACT_DOCUMENTS} documents, got {docs}")
        swaps = np.array(list(itertools.product((False, True), repeat=docs)), dtype=bool).reshape(2 ** docs, docs)
        hits = int(np.count_nonzero(_statistics(sum_a, sum_b, swaps, difference) >= observed - tolerance))
        return hits / float(2 ** docs)
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    rng = np.random.default_rng(seed)
    block = max(1, _BLOCK_CELLS // max(docs, 1))
    hits = 0
    for first in range(0, trials, block):
        rows = min(block, trials - first)
        swaps = rng.random((rows, docs)) < 0.5
        hits += int(np.count_nonzero(_statistics(sum_a, sum_b, swaps, difference) >= observed - tolerance))
    return (1 + hits) / (1 + trials)


def micro_metrics(counts: Mapping[str, Mapping[str, Counts]]) -> Dict[str, float]:
    """Micro P/R/F1 (the 18 keys of `EreF1`) of per-document counts summed over the documents."""
    metrics: Dict[str, float] = {}
    for name in METRIC_NAMES:
        summed = [sum(doc[name][i] for doc in counts.values()) for i in range(3)]
        metrics.update({f"{name}_{score}": value for score, value in zip(SCORES, prf(*summed))})
    return metrics


def compare(
    pred_a: str,
    pred_b: str,
    gold: str,
    trials: int = TRIALS,
    seed: int = 0,
    symmetric_relations: Iterable[str] = (),
    exact: bool = False,
) -> Dict[str, Dict[str, Any]]:
    """``{metric: {"f1_a", "f1_b", "p_value", "significant"}}`` for the six metrics of two
    prediction files of the same gold file; ``significant`` is ``p_value < 0.05``."""
    symmetric = tuple(symmetric_relations)
    counts_a = document_counts(pred_a, gold, symmetric)
    counts_b = document_counts(pred_b, gold, symmetric)
    micro_a, micro_b = micro_metrics(counts_a), micro_metrics(counts_b)
    result: Dict[str, Dict[str, Any]] = {}
    for metric in METRIC_NAMES:
        f1s = [micro_a[f"{metric}_f1"], micro_b[f"{metric}_f1"]]
        p_value = paired_permutation_test(counts_a, counts_b, metric, trials=trials, seed=seed, exact=exact)
        result[metric] = {"f1_a": f1s[0], "f1_b": f1s[1], "p_value": p_value, "significant": p_value < ALPHA}
    return result
