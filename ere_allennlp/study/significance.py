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
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Sequence, Set, Tuple

import numpy as np

from ere_allennlp.common import Entity, Relation, local_span
from ere_allennlp.dataset_readers.ere_json import Document, read_documents, read_json_lines
from ere_allennlp.metrics.ere_f1 import METRIC_NAMES, EreF1, prf

Counts = Tuple[int, int, int]
DocumentCounts = Dict[str, Dict[str, Counts]]

ALPHA = 0.05  # reject the null hypothesis when p < ALPHA (paper, Section 3.1)
MAX_EXACT_DOCUMENTS = 16  # exact=True enumerates all 2**documents swaps
_BLOCK_CELLS = 1 << 22  # at most this many (trial, document) cells of the swap matrix at once


class SignificanceError(ValueError):
    """Prediction and gold files do not fit together; the message names the file and doc_key."""


def _read_predictions(predictions_path: str) -> Dict[str, Tuple[str, Dict[str, Any]]]:
    """doc_key -> (``file:line``, record) of a prediction file (one JSON line per document)."""
    records: Dict[str, Tuple[str, Dict[str, Any]]] = {}
    for where, record in read_json_lines(predictions_path, error=SignificanceError):
        if not isinstance(record, dict) or "doc_key" not in record:
            raise SignificanceError(f"{where}: expected a JSON object with a 'doc_key'")
        doc_key = str(record["doc_key"])
        if "error" in record:
            raise SignificanceError(
                f"{where}: doc_key {doc_key!r} was not predicted (error record: {record['error']})"
            )
        if doc_key in records:
            raise SignificanceError(f"{where}: doc_key {doc_key!r} appears twice (first at {records[doc_key][0]})")
        records[doc_key] = (where, record)
    return records


def _local_prediction(
    record: Dict[str, Any], offsets: Sequence[int], lengths: Sequence[int], where: str
) -> List[Dict[str, List[Any]]]:
    """Per sentence ``{"entities": [Entity], "relations": [Relation]}`` in sentence-local offsets."""
    n = len(offsets)
    doc_key = record["doc_key"]
    for field in ("predicted_ner", "predicted_relations"):
        value = record.get(field, [[] for _ in range(n)])
        if not isinstance(value, list) or len(value) != n:
            got = len(value) if isinstance(value, list) else type(value).__name__
            raise SignificanceError(
                f"{where}: doc_key {doc_key!r}: field '{field}' needs one list per sentence: "
                f"the gold document has {n} sentences, got {got} (predict whole documents, "
                "without --use-dataset-reader)"
            )
    sentences = []
    for k in range(n):
        start, end = offsets[k], offsets[k] + lengths[k] - 1

        def local(first: Any, last: Any, field: str) -> Tuple[int, int]:
            try:
                return local_span(first, last, start, end, k)
            except ValueError as error:
                raise SignificanceError(f"{where}: doc_key {doc_key!r}: field '{field}': {error}") from None

        entities = []
        for m, item in enumerate(record.get("predicted_ner", [[]] * n)[k]):
            field = f"predicted_ner[{k}][{m}]"
            if not isinstance(item, list) or len(item) < 3:
                raise SignificanceError(f"{where}: doc_key {doc_key!r}: field '{field}': got {item!r}")
            entities.append(Entity(*local(item[0], item[1], field), item[2]))
        relations = []
        for m, item in enumerate(record.get("predicted_relations", [[]] * n)[k]):
            field = f"predicted_relations[{k}][{m}]"
            if not isinstance(item, list) or len(item) < 5:
                raise SignificanceError(f"{where}: doc_key {doc_key!r}: field '{field}': got {item!r}")
            relations.append(Relation(*local(item[0], item[1], field), *local(item[2], item[3], field), item[4]))
        sentences.append({"entities": entities, "relations": relations})
    return sentences


def aligned_sentences(
    predictions_path: str, gold_path: str
) -> Iterator[Tuple[Document, List[Dict[str, List[Any]]], List[Dict[str, List[Any]]]]]:
    """Per gold document: (the gold `Document`, predicted sentences, gold sentences), each
    sentence ``{"entities": [Entity], "relations": [Relation]}`` in sentence-local offsets, against
    the prediction of the same doc_key (``allennlp predict`` output, document offsets). Every gold
    document needs exactly one prediction with the same sentences, and every prediction a gold
    document; otherwise a `SignificanceError` names file and doc_key."""
    predictions = _read_predictions(predictions_path)
    seen: Set[str] = set()
    for where, document in read_documents(gold_path):
        doc_key = document.doc_key
        if doc_key in seen:
            raise SignificanceError(f"{where}: doc_key {doc_key!r} appears twice in the gold file")
        seen.add(doc_key)
        if not document.has_gold:
            raise SignificanceError(f"{where}: doc_key {doc_key!r} has neither 'ner' nor 'relations': not a gold file")
        if doc_key not in predictions:
            raise SignificanceError(
                f"{predictions_path}: no prediction for doc_key {doc_key!r} (gold document at {where})"
            )
        pred_where, record = predictions[doc_key]
        lengths = [len(sentence) for sentence in document.sentences]
        if "sentences" in record:
            predicted_lengths = [len(s) for s in record["sentences"]] if isinstance(record["sentences"], list) else None
            if predicted_lengths != lengths:
                raise SignificanceError(
                    f"{pred_where}: doc_key {doc_key!r}: the prediction's sentences do not match the gold "
                    f"document's ({where}): {len(record['sentences'])} sentences of lengths "
                    f"{predicted_lengths}, gold has {len(lengths)} of lengths {lengths}"
                )
        predicted = _local_prediction(record, document.offsets, lengths, pred_where)
        gold = [{"entities": document.entities[k], "relations": document.relations[k]} for k in range(len(lengths))]
        yield document, predicted, gold
    extra = sorted(set(predictions) - seen)
    if extra:
        raise SignificanceError(
            f"{predictions_path}: {len(extra)} predicted document(s) not in the gold file {gold_path}, "
            f"e.g. doc_key {extra[0]!r} ({predictions[extra[0]][0]})"
        )


def document_counts(
    predictions_path: str, gold_path: str, symmetric_relations: Iterable[str] = ()
) -> DocumentCounts:
    """``{doc_key: {metric: (tp, n_pred, n_gold)}}``: `EreF1.count` summed over the sentences of
    each gold document (`aligned_sentences`: the same checks)."""
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
    trials: int = 10000,
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
        p, r, f1 = prf(*summed)
        metrics.update({f"{name}_p": p, f"{name}_r": r, f"{name}_f1": f1})
    return metrics


def compare(
    pred_a: str,
    pred_b: str,
    gold: str,
    trials: int = 10000,
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
