"""What a conversion read, wrote, changed and could not carry over: the report every
``allennlp ere-convert`` run prints, and every conversion function returns."""
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

# Why an item was NOT carried over (`Report.skipped`).
DISCONTINUOUS = "discontinuous span"
CROSS_SENTENCE = "relation across sentences"
EVENT = "event"
ATTRIBUTE = "attribute"
NOTE = "note"
NORMALIZATION = "normalization"
EQUIVALENCE = "equivalence"
DUPLICATE_ID = "duplicate id"
MISSING_ARGUMENT = "relation argument missing or not carried over"
TEXT_MISMATCH = "text does not match the .txt"
OUTSIDE_TEXT = "offsets outside the text"
MALFORMED = "malformed line"
EMPTY_SPAN = "span covers no token"
SAME_SPAN = "same span as another entity"
SAME_PAIR = "same argument pair as another relation (the model holds one label per pair)"
NO_ANN = ".txt without .ann"
ERROR_RECORD = "error record of allennlp predict"

# Why an item was carried over CHANGED (`Report.changed`).
SENTENCES_MERGED = "sentences merged: an entity crosses a sentence boundary"
WHITESPACE_TRIMMED = "entity trimmed of the whitespace at its edges"
DOC_KEY_CHANGED = "doc_key made unique or filesystem-safe"
LABEL_CHANGED = "label written with '_' for whitespace (brat types have none)"



class ConvertError(ValueError):
    """An input that cannot be converted at all (a file that is not there, a malformed SpERT
    record, a DyGIE line the reader rejects): the message names the file, the record or line, and
    the field."""


# What an issue is about: the count of `Report.read` it comes from.
KINDS = ("document", "sentence", "entity", "relation", "other")


@dataclass
class Issue:
    """One item a conversion did not carry over, or changed: where (``file:line``, ``file: record
    n``), why (one of the reasons above), what kind of item, and the item itself."""

    where: str
    reason: str
    kind: str
    detail: str = ""

    def line(self) -> str:
        return f"{self.where}: {self.reason}" + (f": {self.detail}" if self.detail else "")


@dataclass
class Counts:
    """Documents, sentences, entities and relations (and brat notes) read or written; `sentences`
    is None where the format has none (brat)."""

    documents: int = 0
    sentences: Optional[int] = 0
    entities: int = 0
    relations: int = 0
    notes: int = 0

    def text(self) -> str:
        parts = [f"{self.documents} documents"]
        if self.sentences is not None:
            parts.append(f"{self.sentences} sentences")
        parts += [f"{self.entities} entities", f"{self.relations} relations"]
        if self.notes:
            parts.append(f"{self.notes} notes")
        return ", ".join(parts)


@dataclass
class Report:
    """A conversion from `source` to `target`: the counts read and written, the tokens split at
    annotation boundaries, and every item not carried over (`skipped`) or carried over changed
    (`changed`), each with where it was."""

    source: str
    target: str
    read: Counts = field(default_factory=Counts)
    written: Counts = field(default_factory=Counts)
    tokens_split: int = 0
    skipped: List[Issue] = field(default_factory=list)
    changed: List[Issue] = field(default_factory=list)

    def skip(self, where: str, reason: str, kind: str, detail: str = "") -> None:
        """Records an item not carried over."""
        assert kind in KINDS, kind
        self.skipped.append(Issue(where, reason, kind, detail))

    def change(self, where: str, reason: str, kind: str, detail: str = "") -> None:
        """Records an item carried over changed."""
        assert kind in KINDS, kind
        self.changed.append(Issue(where, reason, kind, detail))

    def skipped_by_reason(self, kind: Optional[str] = None) -> Dict[str, int]:
        """How many items (of `kind`, or all) were not carried over, per reason."""
        return dict(Counter(i.reason for i in self.skipped if kind is None or i.kind == kind))

    def changed_by_reason(self) -> Dict[str, int]:
        """How many items were carried over changed, per reason."""
        return dict(Counter(i.reason for i in self.changed))

    def format(self) -> str:
        """The text ``ere-convert`` prints: the counts, then per reason its count and its items."""
        lines = [f"ere-convert {self.source} -> {self.target}",
                 f"  read:    {self.read.text()}", f"  written: {self.written.text()}"]
        if self.tokens_split:
            lines.append(f"  tokens split at annotation boundaries: {self.tokens_split}")
        for title, issues in (("not carried over", self.skipped), ("carried over changed", self.changed)):
            lines.append(f"  {title}: {len(issues)}")
            for reason, count in sorted(Counter(i.reason for i in issues).items()):
                lines.append(f"    {reason}: {count}")
                lines.extend(f"      {i.line()}" for i in issues if i.reason == reason)
        return "\n".join(lines) + "\n"

    def as_dict(self) -> Dict[str, Any]:
        """The report as plain data (counts, and the issues as dicts)."""
        return {
            "source": self.source, "target": self.target, "read": vars(self.read), "written": vars(self.written),
            "tokens_split": self.tokens_split,
            "skipped": [vars(i) for i in self.skipped], "changed": [vars(i) for i in self.changed],
        }
