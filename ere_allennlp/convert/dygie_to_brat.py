"""DyGIE documents (gold files, or ``allennlp predict`` output) -> a brat folder of ``.txt`` +
``.ann`` pairs, to open predictions in brat next to the text.

The text of a document is its original ``.txt`` when `text_dir` holds ``<doc_key>.txt`` (the
tokens are found in it in order, so that the annotations land where they were: this is what a
brat -> DyGIE -> brat round trip uses); otherwise it is rebuilt from the tokens, one sentence per
line, tokens separated by one space. Which annotations are written (`annotations`): ``gold``
(``ner`` / ``relations``), ``predicted`` (``predicted_ner`` / ``predicted_relations``, each
prediction's probability as an ``AnnotatorNotes`` note), or ``auto`` (the predictions where a
record has them, the gold ones otherwise). A relation whose argument is not among the written
entities is reported, not written; labels with whitespace are written with ``_`` (reported).
"""
import os
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ere_allennlp.convert import report as reasons
from ere_allennlp.convert.brat import brat_type, note_line, relation_line, text_bound_line
from ere_allennlp.convert.keys import UniqueKeys, safe_name
from ere_allennlp.convert.report import ConvertError, Report

ANNOTATIONS = ("auto", "gold", "predicted")
UNLABELLED = "Entity"  # the type of an entity written without a label
_SPACE = re.compile(r"\s*")


def token_offsets(sentences: List[List[str]], text: Optional[str], where: str) -> Tuple[str, List[Tuple[int, int]]]:
    """The text of a document and each token's character span in it (document order): the
    tokens found in `text` in order, whitespace between them skipped, or (`text` None) a text
    rebuilt from the tokens."""
    tokens = [token for sentence in sentences for token in sentence]
    if text is None:
        text = "\n".join(" ".join(sentence) for sentence in sentences) + "\n"
    offsets, position = [], 0
    for n, token in enumerate(tokens):
        position = _SPACE.match(text, position).end()  # type: ignore[union-attr]
        if not text.startswith(token, position):
            found = text[position:position + len(token) + 10]
            raise ConvertError(f"{where}: token {n} {token!r} is not the next text of the .txt (found {found!r}): "
                               "the tokens are not this text's")
        offsets.append((position, position + len(token)))
        position += len(token)
    return text, offsets


def _chosen(record: Dict[str, Any], annotations: str) -> Tuple[List[List[Any]], List[List[Any]], bool]:
    """(entities, relations, predicted) per sentence as `annotations` chooses."""
    predicted = annotations == "predicted" or (annotations == "auto" and "predicted_ner" in record)
    if predicted:
        if "predicted_ner" not in record:
            raise ConvertError(f"{record['_where']}: field 'predicted_ner': missing (annotations=predicted needs "
                               "allennlp predict output)")
        empty = [[] for _ in record["sentences"]]
        return record["predicted_ner"], record.get("predicted_relations", empty), True
    empty = [[] for _ in record["sentences"]]
    return record.get("ner", empty), record.get("relations", empty), False


def brat_annotations(record: Dict[str, Any], offsets: List[Tuple[int, int]], text: str, annotations: str,
                     report: Report) -> List[str]:
    """The .ann lines of one record: T lines, then R lines, then the probability notes."""
    ner, relations, predicted = _chosen(record, annotations)
    where = record["_where"]
    lines, notes, ids = [], [], {}
    for item in sorted((tuple(item) for sentence in ner for item in sentence), key=lambda i: (i[0], i[1])):
        start, end, label = item[0], item[1], item[2]
        if (start, end) in ids:
            continue
        ids[(start, end)] = ident = f"T{len(ids) + 1}"
        written, changed = brat_type(label, UNLABELLED)
        if changed:
            report.change(where, reasons.LABEL_CHANGED, "entity", f"{label!r} -> {written!r}")
        begin, finish = offsets[start][0], offsets[end][1]
        lines.append(text_bound_line(ident, written, begin, finish, text[begin:finish]))
        if predicted and len(item) > 3:
            notes.append((ident, item[3]))
    count = 0
    for item in (item for sentence in relations for item in sentence):
        head, tail = ids.get((item[0], item[1])), ids.get((item[2], item[3]))
        if head is None or tail is None:
            report.skip(where, reasons.MISSING_ARGUMENT, "relation",
                        f"{item[4]} [{item[0]}, {item[1]}] -> [{item[2]}, {item[3]}]: an argument is no written entity")
            continue
        count += 1
        written, changed = brat_type(item[4], "Relation")
        if changed:
            report.change(where, reasons.LABEL_CHANGED, "relation", f"{item[4]!r} -> {written!r}")
        lines.append(relation_line(f"R{count}", written, head, tail))
        if predicted and len(item) > 5:
            notes.append((f"R{count}", item[5]))
    report.written.entities += len(ids)
    report.written.relations += count
    report.written.notes += len(notes)
    lines += [note_line(f"#{n}", target, f"p={float(p):.4f}") for n, (target, p) in enumerate(notes, start=1)]
    return lines


def write_brat_files(records: Sequence[Dict[str, Any]], folder: Path, text_dir: Optional[str], annotations: str,
                     report: Report) -> None:
    """Writes one ``.txt`` + ``.ann`` pair per record into `folder` (which exists and is empty)."""
    if annotations not in ANNOTATIONS:
        raise ConvertError(f"annotations must be one of {', '.join(ANNOTATIONS)}, got {annotations!r}")
    report.written.sentences = None
    keys = UniqueKeys(case_insensitive=True)
    for record in records:
        original = None
        if text_dir is not None:
            candidate = os.path.join(text_dir, record["doc_key"] + ".txt")
            if os.path.isfile(candidate):
                with open(candidate, encoding="utf-8", newline="") as handle:
                    original = handle.read()
        text, offsets = token_offsets(record["sentences"], original, record["_where"])
        lines = brat_annotations(record, offsets, text, annotations, report)
        name = keys.take(safe_name(record["doc_key"]))
        if name != record["doc_key"]:
            report.change(record["_where"], reasons.DOC_KEY_CHANGED, "document", f"{record['doc_key']!r} -> {name!r}")
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target.with_name(target.name + ".txt"), "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        with open(target.with_name(target.name + ".ann"), "w", encoding="utf-8", newline="") as handle:
            handle.write("".join(line + "\n" for line in lines))
        report.written.documents += 1
