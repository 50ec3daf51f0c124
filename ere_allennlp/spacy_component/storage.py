"""What the spaCy component ``ere_allennlp`` leaves on a ``Doc``, and how it is read back: plain
numbers, strings and lists, so that ``DocBin(store_user_data=True)`` and ``Doc.to_bytes`` keep it
(msgpack cannot hold a ``Span``). No config keys of its own: the component passes its
``spans_key`` and ``set_ents`` (``ere_allennlp/spacy_component/component.py``).

- Entities: ``doc.spans[spans_key]``, a SpanGroup (SciERC's entities nest, which ``doc.ents``
  cannot hold), sorted by (start, end), each Span labelled with its entity label (``"ENTITY"``
  where the model only identifies). Its probability is ``span._.ere_prob``: spaCy keeps a span
  extension's value in ``doc.user_data`` under the span's character offsets, so the same text
  range read from ``doc.ents`` or a relation has it too. With ``set_ents``, ``doc.ents`` is
  replaced by the longest non-overlapping entities (``spacy.util.filter_spans``); tokens outside
  them become "O".
- Relations: ``doc.user_data[("ere_allennlp", "relations", spans_key)]`` =
  ``{"sentences": [[start, end], ...], "relations": [[head_start, head_end, tail_start, tail_end,
  label, probability], ...]}``, spaCy token offsets with exclusive ends (a Span's ``start`` and
  ``end``), label ``"RELATED"`` where the model only identifies. ``sentences`` are the token
  ranges the model read as sentences (every relation lies within one; ``doc.sents`` is not set).
- ``doc._.ere_relations``: the relations of every spans key, as ``EreRelation(head, tail, label,
  probability)`` with head and tail Spans (labelled like the entity at that range, if any).

After a DocBin round trip msgpack gives tuples where lists were stored; readers accept both.
"""
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

from spacy.tokens import Doc, Span, SpanGroup
from spacy.util import filter_spans

PROBABILITY = "ere_prob"  # the Span extension: an entity's probability
RELATIONS = "ere_relations"  # the Doc extension: the relations, read from user_data
KEY_PREFIX = ("ere_allennlp", "relations")
NO_ENTITY_LABEL = "ENTITY"  # a Span needs a label: the one of an entity the model only identified
NO_RELATION_LABEL = "RELATED"

# (start, end, label, probability): spaCy token offsets, end exclusive.
EntityRow = Tuple[int, int, str, float]
# (head_start, head_end, tail_start, tail_end, label, probability), the same offsets.
RelationRow = Tuple[int, int, int, int, str, float]


class EreRelation(NamedTuple):
    head: Span
    tail: Span
    label: str
    probability: float


def storage_key(spans_key: str) -> Tuple[str, str, str]:
    """The ``doc.user_data`` key of the relations written next to ``doc.spans[spans_key]``."""
    return (*KEY_PREFIX, spans_key)


def register_extensions() -> None:
    """``span._.ere_prob`` and ``doc._.ere_relations`` (once; a second call changes nothing)."""
    if not Span.has_extension(PROBABILITY):
        Span.set_extension(PROBABILITY, default=None)
    if not Doc.has_extension(RELATIONS):
        Doc.set_extension(RELATIONS, getter=all_relations)


def write(
    doc: Doc,
    spans_key: str,
    entities: Sequence[EntityRow],
    relations: Sequence[RelationRow],
    sentences: Sequence[Tuple[int, int]],
    set_ents: bool = False,
) -> None:
    """Replaces what an earlier run left under `spans_key` with `entities` and `relations`."""
    register_extensions()
    if spans_key in doc.spans:
        for old in doc.spans[spans_key]:
            doc.user_data.pop(("._.", PROBABILITY, old.start_char, old.end_char), None)
    spans = []
    for start, end, label, probability in sorted(entities, key=lambda row: (row[0], row[1])):
        span = Span(doc, start, end, label=label)
        span._.set(PROBABILITY, float(probability))
        spans.append(span)
    doc.spans[spans_key] = SpanGroup(doc, name=spans_key, spans=spans)
    doc.user_data[storage_key(spans_key)] = {
        "sentences": [[int(s), int(e)] for s, e in sentences],
        "relations": [[int(hs), int(he), int(ts), int(te), str(label), float(p)]
                      for hs, he, ts, te, label, p in relations],
    }
    if set_ents:
        doc.set_ents(filter_spans(spans), default="outside")


def stored(doc: Doc, spans_key: str) -> Optional[Dict[str, Any]]:
    """The raw record of `spans_key` (lists or, after msgpack, tuples), None if there is none."""
    return doc.user_data.get(storage_key(spans_key))


def sentences(doc: Doc, spans_key: str = "ere") -> List[Tuple[int, int]]:
    """The token ranges [start, end) the model read as sentences."""
    record = stored(doc, spans_key)
    return [] if record is None else [(int(s), int(e)) for s, e in record["sentences"]]


def relations(doc: Doc, spans_key: str = "ere") -> List[EreRelation]:
    """The relations written with ``doc.spans[spans_key]``, in the model's order."""
    record = stored(doc, spans_key)
    if record is None:
        return []
    labels = {(s.start, s.end): s.label_ for s in doc.spans[spans_key]} if spans_key in doc.spans else {}

    def argument(start: int, end: int) -> Span:
        return Span(doc, start, end, label=labels.get((start, end), ""))

    return [EreRelation(argument(hs, he), argument(ts, te), label, float(p))
            for hs, he, ts, te, label, p in record["relations"]]


def spans_keys(doc: Doc) -> List[str]:
    """The spans keys with relations stored on `doc`, in the order they were first written."""
    return [key[2] for key in doc.user_data
            if isinstance(key, tuple) and len(key) == 3 and key[:2] == KEY_PREFIX]


def all_relations(doc: Doc) -> List[EreRelation]:
    """``doc._.ere_relations``: the relations of every spans key (usually the one, ``"ere"``)."""
    return [relation for key in spans_keys(doc) for relation in relations(doc, key)]
