"""Prediction files against their gold file: ``allennlp predict`` output (one JSON line per
document, document offsets) aligned, document by document and sentence by sentence, with the gold
DyGIE file it was predicted from.

Below both ``ere_allennlp.study`` (the significance test counts what `aligned_sentences` yields)
and ``ere_allennlp.analysis`` (the error breakdown classifies it); `AlignmentError` is what either
raises when the two files do not fit together.
"""
from typing import Any, Dict, Iterator, List, Sequence, Set, Tuple

from ere_allennlp.common import Entity, Relation, local_span
from ere_allennlp.dataset_readers.ere_json import Document, read_documents, read_json_lines


class AlignmentError(ValueError):
    """A prediction file and its gold file do not fit together; the message names the file and doc_key."""


def _read_predictions(predictions_path: str) -> Dict[str, Tuple[str, Dict[str, Any]]]:
    """doc_key -> (``file:line``, record) of a prediction file (one JSON line per document)."""
    records: Dict[str, Tuple[str, Dict[str, Any]]] = {}
    for where, record in read_json_lines(predictions_path, error=AlignmentError):
        if not isinstance(record, dict) or "doc_key" not in record:
            raise AlignmentError(f"{where}: expected a JSON object with a 'doc_key'")
        doc_key = str(record["doc_key"])
        if "error" in record:
            raise AlignmentError(
                f"{where}: doc_key {doc_key!r} was not predicted (error record: {record['error']})"
            )
        if doc_key in records:
            raise AlignmentError(f"{where}: doc_key {doc_key!r} appears twice (first at {records[doc_key][0]})")
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
            raise AlignmentError(
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
                raise AlignmentError(f"{where}: doc_key {doc_key!r}: field '{field}': {error}") from None

        entities = []
        for m, item in enumerate(record.get("predicted_ner", [[]] * n)[k]):
            field = f"predicted_ner[{k}][{m}]"
            if not isinstance(item, list) or len(item) < 3:
                raise AlignmentError(f"{where}: doc_key {doc_key!r}: field '{field}': got {item!r}")
            entities.append(Entity(*local(item[0], item[1], field), item[2]))
        relations = []
        for m, item in enumerate(record.get("predicted_relations", [[]] * n)[k]):
            field = f"predicted_relations[{k}][{m}]"
            if not isinstance(item, list) or len(item) < 5:
                raise AlignmentError(f"{where}: doc_key {doc_key!r}: field '{field}': got {item!r}")
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
    document; otherwise a `AlignmentError` names file and doc_key."""
    predictions = _read_predictions(predictions_path)
    seen: Set[str] = set()
    for where, document in read_documents(gold_path):
        doc_key = document.doc_key
        if doc_key in seen:
            raise AlignmentError(f"{where}: doc_key {doc_key!r} appears twice in the gold file")
        seen.add(doc_key)
        if not document.has_gold:
            raise AlignmentError(f"{where}: doc_key {doc_key!r} has neither 'ner' nor 'relations': not a gold file")
        if doc_key not in predictions:
            raise AlignmentError(
                f"{predictions_path}: no prediction for doc_key {doc_key!r} (gold document at {where})"
            )
        pred_where, record = predictions[doc_key]
        lengths = [len(sentence) for sentence in document.sentences]
        if "sentences" in record:
            predicted_lengths = [len(s) for s in record["sentences"]] if isinstance(record["sentences"], list) else None
            if predicted_lengths != lengths:
                raise AlignmentError(
                    f"{pred_where}: doc_key {doc_key!r}: the prediction's sentences do not match the gold "
                    f"document's ({where}): {len(record['sentences'])} sentences of lengths "
                    f"{predicted_lengths}, gold has {len(lengths)} of lengths {lengths}"
                )
        predicted = _local_prediction(record, document.offsets, lengths, pred_where)
        gold = [{"entities": document.entities[k], "relations": document.relations[k]} for k in range(len(lengths))]
        yield document, predicted, gold
    extra = sorted(set(predictions) - seen)
    if extra:
        raise AlignmentError(
            f"{predictions_path}: {len(extra)} predicted document(s) not in the gold file {gold_path}, "
            f"e.g. doc_key {extra[0]!r} ({predictions[extra[0]][0]})"
        )
