"""Plain data types shared by the reader, the models, the metric and the predictor.

Offsets are token indices with inclusive ends, as in the DyGIE JSON format. Inside the models and
the metric they are sentence-local; the reader and the predictor convert to and from document
offsets.
"""
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

# The label of a candidate span that is not an entity, or of an ordered span pair with no relation.
NULL_LABEL = "NULL"


class Entity(NamedTuple):
    start: int
    end: int  # inclusive
    label: Optional[str] = None  # None: identified only (Ei, the pruner), type unknown


class Relation(NamedTuple):
    head_start: int
    head_end: int
    tail_start: int
    tail_end: int
    label: Optional[str] = None  # None: identified only (Ri)


_SENTENCIZER: Optional[Any] = None


def blank_sentencizer() -> Any:
    """``spacy.blank("en")`` with its rule-based ``sentencizer`` (no model download), built once per
    process: how raw text is split into sentences and tokens (the ``ere`` predictor, the brat
    converter)."""
    global _SENTENCIZER
    if _SENTENCIZER is None:
        import spacy  # heavy, and only raw text needs it

        _SENTENCIZER = spacy.blank("en")
        _SENTENCIZER.add_pipe("sentencizer")
    return _SENTENCIZER


def sentence_offsets(sentences: List[List[str]]) -> List[int]:
    """Document offset of the first token of each sentence."""
    offsets, total = [], 0
    for sentence in sentences:
        offsets.append(total)
        total += len(sentence)
    return offsets


def local_span(first: Any, last: Any, start: int, end: int, sentence: int) -> Tuple[int, int]:
    """Document offsets [first, last] of a span in sentence `sentence` (document tokens
    start..end) -> sentence-local offsets; ValueError saying what is wrong otherwise (the reader
    and ere-compare prefix the file, line and field)."""
    if any(not isinstance(x, int) or isinstance(x, bool) for x in (first, last)):
        raise ValueError(f"offsets must be integers, got {first!r}, {last!r}")
    if last < first:
        raise ValueError(f"end {last} is before start {first}")
    if first < start or last > end:
        raise ValueError(f"span [{first}, {last}] lies outside sentence {sentence} (document tokens {start}..{end})")
    return first - start, last - start


def shifted_predictions(output: Dict[str, Any], offset: int) -> Tuple[List[List[Any]], List[List[Any]]]:
    """A sentence's ``predicted_ner`` and ``predicted_relations`` (`decoded_output`) with every
    token offset moved by `offset`: sentence-local -> document offsets (the sentence's start)."""
    entities = [[s + offset, e + offset, *rest] for s, e, *rest in output["predicted_ner"]]
    relations = [[hs + offset, he + offset, ts + offset, te + offset, *rest]
                 for hs, he, ts, te, *rest in output["predicted_relations"]]
    return entities, relations


# Where a sentence sits in its document; every model copies these from the metadata to its output.
SENTENCE_KEYS = ("doc_key", "sentence_index", "sentence_start")


def decoded_output(
    metadata: Sequence[Dict[str, Any]],
    entities: Optional[Sequence[Sequence[Tuple[Entity, float]]]] = None,
    relations: Optional[Sequence[Sequence[Tuple[Relation, float]]]] = None,
) -> Dict[str, Any]:
    """The per-sentence output of every model, as the ``ere`` predictor reads it:
    ``predicted_ner`` ``[start, end, label, probability]`` and ``predicted_relations``
    ``[start1, end1, start2, end2, label, probability]`` (sentence-local offsets; an empty list for
    a task the model lacks), plus the sentence's place in its document."""
    empty: List[List[Any]] = [[] for _ in metadata]
    output: Dict[str, Any] = {
        "predicted_ner": [[[e.start, e.end, e.label, p] for e, p in s] for s in (entities if entities is not None else empty)],
        "predicted_relations": [[list(r) + [p] for r, p in s] for s in (relations if relations is not None else empty)],
    }
    for key in SENTENCE_KEYS:
        output[key] = [meta.get(key) for meta in metadata]
    return output
