"""Paired approximate randomization (permutation) test between two approaches.

Section 3.1 of the paper: "A significance analysis is done with the permutation test for the
results of every two approaches and we reject the null hypothesis when p < 0.05".

The unit that is permuted is the document: both systems' predictions of each gold document are
turned into per-document counts ``(tp, n_pred, n_gold)`` of every metric of `EreF1`; the test
statistic is ``|F1(A) - F1(B)|`` of the micro-summed counts; each trial swaps A's and B's counts
of every document independently with probability 0.5, and
``p = (1 + #trials whose statistic >= the observed one) / (1 + trials)``.

Macro F1 (not the paper's; `EreF1`'s ``*_macro``) is tested the same way on per-document counts
per label (`document_label_counts`): the statistic is the difference of the macro F1s, each the mean
of the per-label F1 over the labels that system's (swapped) predictions or the gold have.
"""
import itertools
from typing import Any, Callable, Dict, Iterable, List, Mapping, Tuple

import numpy as np

from ere_allennlp.alignment import aligned_sentences
from ere_allennlp.metrics.ere_f1 import MACRO_LABEL_POSITION, MACRO_SUFFIX, METRIC_NAMES, SCORES, EreF1, macro_prf, prf

Counts = Tuple[int, int, int]
DocumentCounts = Dict[str, Dict[str, Counts]]
# {doc_key: {metric: {label: counts}}} for the -C metrics (`MACRO_LABEL_POSITION`).
DocumentLabelCounts = Dict[str, Dict[str, Dict[str, Counts]]]

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


def document_label_counts(
    predictions_path: str, gold_path: str, symmetric_relations: Iterable[str] = ()
) -> DocumentLabelCounts:
    """``{doc_key: {metric: {label: (tp, n_pred, n_gold)}}}`` of the -C metrics: `EreF1.count_by_label`
    summed over the sentences of each gold document (aligned as `document_counts` aligns them)."""
    symmetric = tuple(symmetric_relations)
    result: DocumentLabelCounts = {}
    for document, predicted, gold in aligned_sentences(predictions_path, gold_path):
        totals: Dict[str, Dict[str, List[int]]] = {name: {} for name in MACRO_LABEL_POSITION}
        for predicted_sentence, gold_sentence in zip(predicted, gold):
            by_label = EreF1.count_by_label(EreF1.items(predicted_sentence, symmetric), EreF1.items(gold_sentence, symmetric))
            for name, per_label in by_label.items():
                for label, counts in per_label.items():
                    total = totals[name].setdefault(label, [0, 0, 0])
                    for i in range(3):
                        total[i] += counts[i]
        result[document.doc_key] = {name: {label: (c[0], c[1], c[2]) for label, c in sorted(per_label.items())}
                                    for name, per_label in totals.items()}
    return result


def macro_metrics(counts: Mapping[str, Mapping[str, Mapping[str, Counts]]]) -> Dict[str, float]:
    """Macro P/R/F1 (`<metric>_macro_<score>`) of per-document label counts summed over the documents."""
    metrics: Dict[str, float] = {}
    for name in MACRO_LABEL_POSITION:
        summed: Dict[str, List[int]] = {}
        for doc in counts.values():
            for label, c in doc.get(name, {}).items():
                total = summed.setdefault(label, [0, 0, 0])
                for i in range(3):
                    total[i] += c[i]
        values = macro_prf({label: (c[0], c[1], c[2]) for label, c in summed.items()})
        metrics.update({f"{name}{MACRO_SUFFIX}_{score}": value for score, value in zip(SCORES, values)})
    return metrics


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


def _macro_f1(counts: np.ndarray) -> np.ndarray:
    """Macro F1 of summed per-label counts ``[..., labels, 3]``: the mean F1 over the labels with a
    predicted or gold item (`macro_prf`); 0 without any."""
    present = (counts[..., 1] + counts[..., 2]) > 0
    total = np.where(present, _f1(counts), 0.0).sum(axis=-1)
    return np.divide(total, present.sum(axis=-1), out=np.zeros_like(total), where=present.sum(axis=-1) > 0)


def _statistics(sum_a: np.ndarray, sum_b: np.ndarray, swaps: np.ndarray, difference: np.ndarray,
                f1: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """|F1(A') - F1(B')| of each row of the boolean swap matrix ``[trials, docs]``; `difference` is
    ``[docs, ...]`` (B's counts minus A's) and `f1` maps summed counts ``[trials, ...]`` to F1."""
    moved = (swaps.astype(np.int64) @ difference.reshape(difference.shape[0], -1)).reshape(
        (swaps.shape[0],) + difference.shape[1:])  # [trials, ...]: what swapping moves from B to A
    return np.abs(f1(sum_a + moved) - f1(sum_b - moved))


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
    return _permutation_p(a, b, _f1, trials, seed, exact)


def paired_permutation_test_macro(
    counts_a: Mapping[str, Mapping[str, Mapping[str, Counts]]],
    counts_b: Mapping[str, Mapping[str, Mapping[str, Counts]]],
    metric: str,
    trials: int = TRIALS,
    seed: int = 0,
    exact: bool = False,
) -> float:
    """`paired_permutation_test` of macro F1 (`metric`: a -C metric, e.g. ``"rel_c"``) on the
    per-label counts of `document_label_counts`."""
    if metric not in MACRO_LABEL_POSITION:
        raise ValueError(f"unknown metric {metric!r} for macro F1; one of {tuple(MACRO_LABEL_POSITION)}")
    if set(counts_a) != set(counts_b):
        missing = sorted(set(counts_a) ^ set(counts_b))
        raise SignificanceError(f"the two systems cover different documents, e.g. doc_key {missing[0]!r}")
    keys = sorted(counts_a)
    labels = sorted({label for counts in (counts_a, counts_b) for key in keys for label in counts[key].get(metric, {})})
    a, b = (np.array([[counts[key].get(metric, {}).get(label, (0, 0, 0)) for label in labels] for key in keys],
                     dtype=np.int64).reshape(len(keys), len(labels), 3) for counts in (counts_a, counts_b))
    return _permutation_p(a, b, _macro_f1, trials, seed, exact)


def _permutation_p(a: np.ndarray, b: np.ndarray, f1: Callable[[np.ndarray], np.ndarray], trials: int, seed: int,
                   exact: bool) -> float:
    """The test of `paired_permutation_test` on count arrays ``[docs, ..., 3]`` of A and B."""
    docs = a.shape[0]
    sum_a, sum_b = a.sum(axis=0), b.sum(axis=0)
    difference = b - a
    observed = float(np.abs(f1(sum_a) - f1(sum_b)))
    tolerance = 1e-12  # the same F1 reached through a different swap set must count as >=
    if exact:
        if docs > MAX_EXACT_DOCUMENTS:
            raise ValueError(f"exact=True enumerates 2**documents swaps: at most {MAX_EXACT_DOCUMENTS} documents, got {docs}")
        swaps = np.array(list(itertools.product((False, True), repeat=docs)), dtype=bool).reshape(2 ** docs, docs)
        hits = int(np.count_nonzero(_statistics(sum_a, sum_b, swaps, difference, f1) >= observed - tolerance))
        return hits / float(2 ** docs)
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    rng = np.random.default_rng(seed)
    block = max(1, _BLOCK_CELLS // max(int(np.prod(a.shape[:-1])), 1))
    hits = 0
    for first in range(0, trials, block):
        rows = min(block, trials - first)
        swaps = rng.random((rows, docs)) < 0.5
        hits += int(np.count_nonzero(_statistics(sum_a, sum_b, swaps, difference, f1) >= observed - tolerance))
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
    prediction files of the same gold file, then the three macro F1s (``ent_c_macro``, ...);
    ``significant`` is ``p_value < 0.05``."""
    symmetric = tuple(symmetric_relations)
    counts_a = document_counts(pred_a, gold, symmetric)
    counts_b = document_counts(pred_b, gold, symmetric)
    micro_a, micro_b = micro_metrics(counts_a), micro_metrics(counts_b)
    result: Dict[str, Dict[str, Any]] = {}
    for metric in METRIC_NAMES:
        f1s = [micro_a[f"{metric}_f1"], micro_b[f"{metric}_f1"]]
        p_value = paired_permutation_test(counts_a, counts_b, metric, trials=trials, seed=seed, exact=exact)
        result[metric] = {"f1_a": f1s[0], "f1_b": f1s[1], "p_value": p_value, "significant": p_value < ALPHA}
    labels_a = document_label_counts(pred_a, gold, symmetric)
    labels_b = document_label_counts(pred_b, gold, symmetric)
    macro_a, macro_b = macro_metrics(labels_a), macro_metrics(labels_b)
    for metric in MACRO_LABEL_POSITION:
        name = metric + MACRO_SUFFIX
        p_value = paired_permutation_test_macro(labels_a, labels_b, metric, trials=trials, seed=seed, exact=exact)
        result[name] = {"f1_a": macro_a[f"{name}_f1"], "f1_b": macro_b[f"{name}_f1"], "p_value": p_value,
                        "significant": p_value < ALPHA}
    return result
