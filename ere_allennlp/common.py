"""Plain data types shared by the reader, the models, the metric and the predictor.

Offsets are token indices with inclusive ends, as in the DyGIE JSON format. Inside the models and
the metric they are sentence-local; the reader and the predictor convert to and from document
offsets.
"""
from typing import List, NamedTuple, Optional

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


def sentence_offsets(sentences: List[List[str]]) -> List[int]:
    """Document offset of the first token of each sentence."""
    offsets, total = [], 0
    for sentence in sentences:
        offsets.append(total)
        total += len(sentence)
    return offsets
