"""brat standoff (``.ann``) lines: read into text-bound annotations and binary relations, every
other line reported with its reason; and written from entities, relations and notes.

Read: ``T<n>\\t<type> <start> <end>\\t<text>`` (character offsets, end exclusive) and
``R<n>\\t<type> Arg1:<id> Arg2:<id>``. Not carried over, each recorded in the report with its
file and line: discontinuous spans (``<start> <end>;<start> <end>``), events (``E``), attributes
(``A``, ``M``), normalisations (``N``), notes (``#``), equivalences (``*``), a second line with an
id already used, and malformed lines (missing fields, offsets that are not integers, an end before
the start, relation roles other than ``Arg1`` / ``Arg2``, an unknown id prefix).
"""
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple, Union

from ere_allennlp.convert import report as reasons
from ere_allennlp.convert.report import Report

_OTHER = {"E": reasons.EVENT, "A": reasons.ATTRIBUTE, "M": reasons.ATTRIBUTE, "N": reasons.NORMALIZATION,
          "#": reasons.NOTE, "*": reasons.EQUIVALENCE}
_OFFSET = re.compile(r"\d+")
_LINE_BREAKING = re.compile(r"[\r\n\t]")


@dataclass
class TextBound:
    """A continuous text-bound annotation (``T``) as written, with its .ann line number."""

    ident: str
    type: str
    start: int
    end: int
    text: str
    line: int


@dataclass
class BinaryRelation:
    """A relation (``R``): `head` is its ``Arg1``, `tail` its ``Arg2``."""

    ident: str
    type: str
    head: str
    tail: str
    line: int


@dataclass
class Standoff:
    """The readable annotations of one .ann file, in file order; `dropped` gives the id of each
    ``T`` not carried over and why (so that a relation naming it says so)."""

    entities: List[TextBound] = field(default_factory=list)
    relations: List[BinaryRelation] = field(default_factory=list)
    dropped: Dict[str, str] = field(default_factory=dict)


def flat(text: str) -> str:
    """`text` as an .ann line holds it: tabs and line breaks as spaces."""
    return _LINE_BREAKING.sub(" ", text)


def _shown(line: str) -> str:
    shown = line.replace("\t", " ")
    return shown if len(shown) <= 100 else shown[:97] + "..."


def _text_bound(line: str, number: int) -> Union[TextBound, Tuple[str, str]]:
    """A ``T`` line -> its annotation, or (reason, problem) when it cannot be carried over."""
    fields = line.split("\t")
    head = fields[1].split() if len(fields) >= 3 else []
    if len(head) < 3:
        return reasons.MALFORMED, "expected 'T<n>\\t<type> <start> <end>\\t<text>'"
    fragments = [f.split() for f in " ".join(head[1:]).split(";")]
    if not all(len(f) == 2 and all(_OFFSET.fullmatch(x) for x in f) for f in fragments):
        return reasons.MALFORMED, "offsets must be '<start> <end>' pairs of integers"
    if len(fragments) > 1:
        return reasons.DISCONTINUOUS, f"{len(fragments)} fragments"
    start, end = int(fragments[0][0]), int(fragments[0][1])
    if end < start:
        return reasons.MALFORMED, f"end {end} is before start {start}"
    return TextBound(fields[0], head[0], start, end, "\t".join(fields[2:]), number)


def _relation(line: str, number: int) -> Union[BinaryRelation, Tuple[str, str]]:
    """An ``R`` line -> its relation, or (reason, problem) when it cannot be carried over."""
    fields = line.split("\t")
    parts = fields[1].split() if len(fields) >= 2 else []
    roles = dict(p.split(":", 1) for p in parts[1:] if ":" in p)
    if len(parts) != 3 or sorted(roles) != ["Arg1", "Arg2"]:
        return reasons.MALFORMED, "expected 'R<n>\\t<type> Arg1:<id> Arg2:<id>'"
    return BinaryRelation(fields[0], parts[0], roles["Arg1"], roles["Arg2"], number)


def parse_standoff(content: str, path: str, report: Report) -> Standoff:
    """The ``T`` and ``R`` annotations of the .ann `content` (the file `path`); every other
    line, and every ``T`` or ``R`` that cannot be carried over, goes to `report` with
    ``path:line``. Counts the ``T`` and ``R`` lines read."""
    standoff = Standoff()
    seen = set()
    for number, raw in enumerate(content.split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        ident = line.split("\t", 1)[0].strip()
        kind = {"T": "entity", "R": "relation"}.get(ident[:1], "other")
        report.read.entities += kind == "entity"
        report.read.relations += kind == "relation"
        where = f"{path}:{number}"
        if ident != "*" and ident in seen:
            report.skip(where, reasons.DUPLICATE_ID, kind, _shown(line))
            continue
        seen.add(ident)
        parsed = _parsed(line, ident, number)
        if isinstance(parsed, tuple):
            report.skip(where, parsed[0], kind, f"{parsed[1]}: {_shown(line)}" if parsed[1] else _shown(line))
            if kind == "entity":
                standoff.dropped[ident] = parsed[0]
        elif isinstance(parsed, TextBound):
            standoff.entities.append(parsed)
        else:
            standoff.relations.append(parsed)
    return standoff


def _parsed(line: str, ident: str, number: int) -> Union[TextBound, BinaryRelation, Tuple[str, str]]:
    if ident[:1] in _OTHER:
        return _OTHER[ident[:1]], ""
    if ident[:1] == "T" and len(ident) > 1:
        return _text_bound(line, number)
    if ident[:1] == "R" and len(ident) > 1:
        return _relation(line, number)
    return reasons.MALFORMED, "unknown annotation id"


def text_bound_line(ident: str, type_: str, start: int, end: int, text: str) -> str:
    return f"{ident}\t{type_} {start} {end}\t{flat(text)}"


def relation_line(ident: str, type_: str, head: str, tail: str) -> str:
    return f"{ident}\t{type_} Arg1:{head} Arg2:{tail}"


def note_line(ident: str, target: str, text: str) -> str:
    """An ``AnnotatorNotes`` line (brat shows it with the annotation `target`)."""
    return f"{ident}\tAnnotatorNotes {target}\t{flat(text)}"


def matches(annotated: str, actual: str) -> bool:
    """Whether a ``T``'s text is the .txt's at its offsets (an .ann line holds tabs and line
    breaks as spaces)."""
    return annotated == actual or annotated == flat(actual)


def brat_type(label: Optional[str], unlabelled: str) -> Tuple[str, bool]:
    """A label as a brat type (no whitespace; `unlabelled` for None) and whether it changed."""
    if label is None:
        return unlabelled, False
    written = re.sub(r"\s", "_", label) or "_"
    return written, written != label
