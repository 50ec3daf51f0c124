"""DyGIE JSON lines as a conversion reads and writes them: documents built from sentence lists,
files validated with the reader's own checks, and written atomically."""
import json
import os
from typing import Any, Dict, Iterable, List

from ere_allennlp.atomic import atomic_path
from ere_allennlp.convert import report as reasons
from ere_allennlp.convert.report import ConvertError, Counts, Report
from ere_allennlp.dataset_readers.ere_json import EreDataError, parse_document, read_json_lines


def dygie_document(doc_key: str, sentences: List[List[str]], ner: List[List[List[Any]]],
                   relations: List[List[List[Any]]]) -> Dict[str, Any]:
    """A DyGIE record: `ner` and `relations` per sentence, document token offsets, end inclusive."""
    return {"doc_key": doc_key, "sentences": sentences, "ner": ner, "relations": relations}


def read_dygie(path: str, report: Report) -> List[Dict[str, Any]]:
    """The records of a DyGIE JSON-lines file (gold documents, or ``allennlp predict`` output with
    ``predicted_ner`` / ``predicted_relations``), each checked by the reader's `parse_document`; a
    bad line is a ConvertError naming file, line and field. ``allennlp predict``'s error records
    (``{"doc_key", "error"}``) are reported, not carried over. The entities and relations counted
    as read are the predicted ones where a record has predictions, the gold ones otherwise."""
    if not os.path.isfile(path):
        raise ConvertError(f"{path}: no such file")
    records = []
    try:
        for where, record in read_json_lines(path, error=ConvertError):
            if isinstance(record, dict) and "error" in record and "sentences" not in record:
                report.read.documents += 1
                report.skip(where, reasons.ERROR_RECORD, "document", str(record["error"])[:100])
                continue
            document = parse_document(record, where, skip_empty=True)
            report.read.documents += 1
            report.read.sentences += len(document.sentences)
            if "predicted_ner" in record:  # allennlp predict output: count what it predicted
                report.read.entities += sum(map(len, record["predicted_ner"]))
                report.read.relations += sum(map(len, record.get("predicted_relations", [])))
            else:
                report.read.entities += sum(map(len, document.entities))
                report.read.relations += sum(map(len, document.relations))
            records.append(dict(record, doc_key=document.doc_key, _where=where))
    except EreDataError as error:
        raise ConvertError(str(error)) from None
    return records


def counts(documents: Iterable[Dict[str, Any]]) -> Counts:
    """What a list of DyGIE documents holds."""
    total = Counts()
    for document in documents:
        total.documents += 1
        total.sentences += len(document["sentences"])
        total.entities += sum(map(len, document["ner"]))
        total.relations += sum(map(len, document["relations"]))
    return total


def write_dygie(documents: List[Dict[str, Any]], path: str, report: Report) -> None:
    """Writes `documents` as JSON lines to `path` through a temporary file (an existing `path`
    stays as it was until the whole file is written)."""
    with atomic_path(path) as temporary, open(temporary, "w", encoding="utf-8") as handle:
        for document in documents:
            handle.write(json.dumps(document, ensure_ascii=False) + "\n")
    report.written = counts(documents)
