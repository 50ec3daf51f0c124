"""SpERT JSON -> DyGIE documents.

SpERT's format (the one SpERT, PFN and others ship CoNLL04, ADE and SciERC in) is one JSON array
of sentences, each ``{"tokens": [...], "entities": [{"type", "start", "end"}], "relations":
[{"type", "head", "tail"}]}`` (optionally ``orig_id``), where an entity's ``end`` is exclusive and
a relation's ``head`` / ``tail`` index the sentence's ``entities``. Each sentence becomes one DyGIE
document (the format holds no document grouping): ``doc_key`` is its ``orig_id`` where it has
one, ``<file stem>-<record index>`` otherwise, made unique.

A malformed record stops the conversion with one line naming the file, the record index and the
field (as the DyGIE reader names file, line and field). Two entities on the same span keep the
first (relations naming the second use it), and a second relation on the same ordered pair is
not carried over; both are reported.
"""
import json
import os
from typing import Any, Dict, List, Tuple

from ere_allennlp.convert import report as reasons
from ere_allennlp.convert.dygie import dygie_document
from ere_allennlp.convert.keys import UniqueKeys
from ere_allennlp.convert.report import ConvertError, Report


def read_spert(path: str, report: Report, keys: UniqueKeys) -> List[Dict[str, Any]]:
    """The DyGIE documents of the SpERT file `path`; counts and issues go to `report`, document
    keys come from `keys` (shared by every file of one conversion, so that they stay unique)."""
    if not os.path.isfile(path):
        raise ConvertError(f"{path}: no such file")
    try:
        with open(path, encoding="utf-8") as handle:
            records = json.load(handle)
    except json.JSONDecodeError as error:
        raise ConvertError(f"{path}: malformed JSON: {error}") from None
    except UnicodeDecodeError as error:
        raise ConvertError(f"{path}: not UTF-8 text: {error}") from None
    if not isinstance(records, list):
        raise ConvertError(f"{path}: expected a JSON array of sentences, got {type(records).__name__}")
    stem = os.path.splitext(os.path.basename(path))[0]
    documents = []
    for index, record in enumerate(records):
        where = f"{path}: record {index}"
        tokens, entities, relations = _validated(record, where)
        report.read.documents += 1
        report.read.sentences += 1
        report.read.entities += len(entities)
        report.read.relations += len(relations)
        wanted = str(record["orig_id"]) if record.get("orig_id") is not None else f"{stem}-{index}"
        doc_key = keys.take(wanted)
        if doc_key != wanted:
            report.change(where, reasons.DOC_KEY_CHANGED, "document", f"{wanted!r} -> {doc_key!r}")
        ner, rels = _annotations(tokens, entities, relations, where, report)
        documents.append(dygie_document(doc_key, [tokens], [ner], [rels]))
    return documents


def _validated(record: Any, where: str) -> Tuple[List[str], List[Dict[str, Any]], List[Dict[str, Any]]]:
    """The tokens, entities and relations of one record, or a ConvertError naming the field."""

    def fail(field: str, problem: str) -> ConvertError:
        return ConvertError(f"{where}: field '{field}': {problem}")

    if not isinstance(record, dict):
        raise fail("<record>", f"expected a JSON object, got {type(record).__name__}")
    tokens = record.get("tokens")
    if not isinstance(tokens, list):
        raise fail("tokens", "missing or not a list of strings")
    for j, token in enumerate(tokens):
        if not isinstance(token, str) or not token.strip():
            raise fail(f"tokens[{j}]", f"expected a non-blank string, got {token!r}")
    entities, relations = record.get("entities", []), record.get("relations", [])
    for name, items in (("entities", entities), ("relations", relations)):
        if not isinstance(items, list):
            raise fail(name, f"expected a list, got {type(items).__name__}")
    for j, entity in enumerate(entities):
        _check_item(entity, ("type", "start", "end"), f"entities[{j}]", fail)
        start, end = entity["start"], entity["end"]
        if not 0 <= start < end <= len(tokens):
            raise fail(f"entities[{j}]", f"needs 0 <= start < end <= {len(tokens)} tokens (end exclusive), "
                                         f"got start {start}, end {end}")
    for j, relation in enumerate(relations):
        _check_item(relation, ("type", "head", "tail"), f"relations[{j}]", fail)
        for role in ("head", "tail"):
            if not 0 <= relation[role] < len(entities):
                raise fail(f"relations[{j}].{role}", f"indexes entities, which has {len(entities)}; "
                                                     f"got {relation[role]}")
    return tokens, entities, relations


def _check_item(item: Any, keys: Tuple[str, str, str], field: str, fail: Any) -> None:
    """An entity or relation: an object with a string type and two integers."""
    if not isinstance(item, dict):
        raise fail(field, f"expected an object with {', '.join(keys)}, got {item!r}")
    if not isinstance(item.get(keys[0]), str) or not item[keys[0]]:
        raise fail(f"{field}.{keys[0]}", f"expected a non-empty string, got {item.get(keys[0])!r}")
    for key in keys[1:]:
        if not isinstance(item.get(key), int) or isinstance(item[key], bool):
            raise fail(f"{field}.{key}", f"expected an integer, got {item.get(key)!r}")


def _annotations(
    tokens: List[str], entities: List[Dict[str, Any]], relations: List[Dict[str, Any]], where: str, report: Report
) -> Tuple[List[List[Any]], List[List[Any]]]:
    """A sentence's entities and relations as DyGIE lists (end inclusive), the same span or the
    same pair once."""
    spans: Dict[Tuple[int, int], int] = {}
    kept = []  # entity index -> the index of the entity kept for its span
    ner = []
    for j, entity in enumerate(entities):
        span = (entity["start"], entity["end"] - 1)
        if span in spans:
            first = spans[span]
            report.skip(f"{where}: entities[{j}]", reasons.SAME_SPAN, "entity",
                        f"{entity['type']} {' '.join(tokens[span[0]:span[1] + 1])!r} as entities[{first}] "
                        f"({entities[first]['type']}); relations naming it use entities[{first}]")
        else:
            spans[span] = j
            ner.append([span[0], span[1], entity["type"]])
        kept.append(spans[span])
    pairs = set()
    rels = []
    for j, relation in enumerate(relations):
        head, tail = kept[relation["head"]], kept[relation["tail"]]
        if (head, tail) in pairs:
            report.skip(f"{where}: relations[{j}]", reasons.SAME_PAIR, "relation",
                        f"{relation['type']} from entities[{head}] to entities[{tail}]")
            continue
        pairs.add((head, tail))
        h, t = entities[head], entities[tail]
        rels.append([h["start"], h["end"] - 1, t["start"], t["end"] - 1, relation["type"]])
    return sorted(ner), rels
