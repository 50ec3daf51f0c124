"""brat standoff (``.txt`` + ``.ann`` pairs) -> DyGIE documents.

Each ``.txt`` is split into sentences and tokens by spaCy's blank English pipeline and its
rule-based sentencizer (no model download). Text-bound annotations (``T``) become entities and
binary relations (``R``) relations. Where an annotation starts or ends inside a token, the token
is split there (counted in the report); an entity that crosses a sentence boundary merges those
sentences (reported as changed). Whitespace at an entity's edges is trimmed (reported).

Not carried over, each reported with ``file:line`` and its reason (`report`): everything
`brat.parse_standoff` does not read (discontinuous spans, events, attributes, normalisations,
notes, duplicate ids, malformed lines), entities whose offsets fall outside the text or whose
text differs from the ``.txt``'s, a second entity on the same token span (relations naming it use
the first), relations naming an entity that is missing or not carried over, relations across
sentences, and a second relation on the same ordered pair.
"""
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ere_allennlp.convert import report as reasons
from ere_allennlp.convert.brat import BinaryRelation, Standoff, TextBound, matches, parse_standoff
from ere_allennlp.convert.dygie import dygie_document
from ere_allennlp.convert.keys import UniqueKeys
from ere_allennlp.convert.report import ConvertError, Report
from ere_allennlp.convert.tokens import CharSpan, covered_tokens, merged_sentence_index, spacy_sentences, split_at


def brat_files(inputs: Sequence[str]) -> List[Tuple[str, Path]]:
    """(doc_key, .txt path) of every document the inputs name: a folder means every ``.txt``
    under it (doc_key: its path inside the folder without the suffix, ``sub/doc1``); a ``.txt``
    or ``.ann`` file means that document (doc_key: its stem). In sorted order, so that a run does
    not depend on the file system's listing order."""
    found = []
    for name in inputs:
        path = Path(name)
        if path.is_dir():
            found += [(str(p.relative_to(path).with_suffix("").as_posix()), p) for p in sorted(path.rglob("*.txt"))]
        elif path.suffix in (".txt", ".ann") and path.with_suffix(".txt").is_file():
            found.append((path.stem, path.with_suffix(".txt")))
        else:
            raise ConvertError(f"{name}: neither a folder nor a brat .txt / .ann file with its .txt beside it")
    return found


def read_brat(inputs: Sequence[str], report: Report, keys: UniqueKeys) -> List[Dict[str, Any]]:
    """The DyGIE documents of the brat documents `inputs` names (see `brat_files`)."""
    report.read.sentences = None
    documents = []
    for wanted, txt in brat_files(inputs):
        report.read.documents += 1
        ann = txt.with_suffix(".ann")
        if not ann.is_file():
            report.skip(str(txt), reasons.NO_ANN, "document")
            continue
        # newline="": brat offsets count the characters of the file as it is, "\r\n" included.
        with open(txt, encoding="utf-8", newline="") as handle:
            text = handle.read()
        with open(ann, encoding="utf-8", newline="") as handle:
            standoff = parse_standoff(handle.read(), str(ann), report)
        doc_key = keys.take(wanted)
        if doc_key != wanted:
            report.change(str(txt), reasons.DOC_KEY_CHANGED, "document", f"{wanted!r} -> {doc_key!r}")
        documents.append(brat_document(doc_key, text, standoff, str(ann), report))
    return documents


def _usable(entity: TextBound, text: str, where: str, report: Report) -> Optional[CharSpan]:
    """An entity's character span trimmed of edge whitespace, or None (reported) when it cannot be used."""
    if entity.end > len(text):
        report.skip(where, reasons.OUTSIDE_TEXT, "entity", f"{entity.ident} ends at {entity.end}, the text has "
                                                           f"{len(text)} characters")
        return None
    actual = text[entity.start:entity.end]
    if not matches(entity.text, actual):
        report.skip(where, reasons.TEXT_MISMATCH, "entity", f"{entity.ident}: .ann {entity.text!r}, .txt {actual!r}")
        return None
    start, end = entity.start + len(actual) - len(actual.lstrip()), entity.end - len(actual) + len(actual.rstrip())
    if start >= end:
        report.skip(where, reasons.EMPTY_SPAN, "entity", f"{entity.ident} {actual!r}")
        return None
    if (start, end) != (entity.start, entity.end):
        report.change(where, reasons.WHITESPACE_TRIMMED, "entity", f"{entity.ident} {actual!r}")
    return start, end


def brat_document(doc_key: str, text: str, standoff: Standoff, ann: str, report: Report) -> Dict[str, Any]:
    """One brat document as a DyGIE record (see the module docstring)."""
    spans: Dict[str, CharSpan] = {}
    for entity in standoff.entities:
        span = _usable(entity, text, f"{ann}:{entity.line}", report)
        if span is None:
            standoff.dropped[entity.ident] = "not carried over"
        else:
            spans[entity.ident] = span
    boundaries = [offset for span in spans.values() for offset in span]
    sentences = []
    for sentence in spacy_sentences(text):
        pieces, split = split_at(sentence, boundaries)
        sentences.append(pieces)
        report.tokens_split += split
    tokens = [token for sentence in sentences for token in sentence]
    sentence_of = [k for k, sentence in enumerate(sentences) for _ in sentence]
    starts, ends = [t[0] for t in tokens], [t[1] for t in tokens]
    entity_tokens, alias, labels = _entity_tokens(standoff, spans, starts, ends, ann, report)
    index = merged_sentence_index(sentence_of, len(sentences), entity_tokens.values())
    for ident, (first, last) in entity_tokens.items():
        if sentence_of[first] != sentence_of[last]:
            report.change(f"{ann}:{_line(standoff, ident)}", reasons.SENTENCES_MERGED, "entity", ident)
    count = index[-1] + 1 if index else 0
    words: List[List[str]] = [[] for _ in range(count)]
    for (start, end), k in zip(tokens, sentence_of):
        words[index[k]].append(text[start:end])
    ner: List[List[List[Any]]] = [[] for _ in range(count)]
    for ident, (first, last) in sorted(entity_tokens.items(), key=lambda item: item[1]):
        ner[index[sentence_of[first]]].append([first, last, labels[ident]])
    relations = _relations(standoff.relations, entity_tokens, alias, standoff.dropped,
                           lambda t: index[sentence_of[t]], count, ann, report)
    return dygie_document(doc_key, words, ner, relations)


def _line(standoff: Standoff, ident: str) -> int:
    return next(e.line for e in standoff.entities if e.ident == ident)


def _entity_tokens(
    standoff: Standoff, spans: Dict[str, CharSpan], starts: List[int], ends: List[int], ann: str, report: Report
) -> Tuple[Dict[str, Tuple[int, int]], Dict[str, str], Dict[str, str]]:
    """Entity id -> (first, last) token for the entities kept; id -> the kept id on the same
    token span (itself for a kept one); id -> label."""
    entity_tokens: Dict[str, Tuple[int, int]] = {}
    by_span: Dict[Tuple[int, int], str] = {}
    alias: Dict[str, str] = {}
    labels = {}
    for entity in standoff.entities:
        if entity.ident not in spans:
            continue
        where = f"{ann}:{entity.line}"
        covered = covered_tokens(starts, ends, spans[entity.ident])
        if covered is None:
            report.skip(where, reasons.EMPTY_SPAN, "entity", entity.ident)
            standoff.dropped[entity.ident] = reasons.EMPTY_SPAN
            continue
        if covered in by_span:
            first = by_span[covered]
            report.skip(where, reasons.SAME_SPAN, "entity", f"{entity.ident} ({entity.type}) on the span of {first} "
                                                            f"({labels[first]}); relations naming it use {first}")
            alias[entity.ident] = first
            continue
        by_span[covered] = alias[entity.ident] = entity.ident
        entity_tokens[entity.ident] = covered
        labels[entity.ident] = entity.type
    return entity_tokens, alias, labels


def _relations(
    relations: List[BinaryRelation], entity_tokens: Dict[str, Tuple[int, int]], alias: Dict[str, str],
    dropped: Dict[str, str], sentence: Any, count: int, ann: str, report: Report
) -> List[List[List[Any]]]:
    """The relations per (merged) sentence, each once per ordered pair of kept entities."""
    per_sentence: List[List[List[Any]]] = [[] for _ in range(count)]
    pairs = set()
    for relation in relations:
        where = f"{ann}:{relation.line}"
        missing = [arg for arg in (relation.head, relation.tail) if arg not in alias]
        if missing:
            why = ", ".join(f"{arg} ({dropped.get(arg, 'no such entity')})" for arg in missing)
            report.skip(where, reasons.MISSING_ARGUMENT, "relation", f"{relation.ident}: {why}")
            continue
        head, tail = entity_tokens[alias[relation.head]], entity_tokens[alias[relation.tail]]
        if sentence(head[0]) != sentence(tail[0]):
            report.skip(where, reasons.CROSS_SENTENCE, "relation", f"{relation.ident} {relation.type}")
            continue
        if (head, tail) in pairs:
            report.skip(where, reasons.SAME_PAIR, "relation", f"{relation.ident} {relation.type}")
            continue
        pairs.add((head, tail))
        per_sentence[sentence(head[0])].append([*head, *tail, relation.type])
    return per_sentence
