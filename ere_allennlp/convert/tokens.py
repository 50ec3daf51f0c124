"""Text -> sentences of tokens with character offsets (spaCy's blank English tokenizer and its
rule-based sentencizer, no model download), tokens split at annotation boundaries, and sentences
merged where an entity crosses a sentence boundary."""
import bisect
import re
from typing import Iterable, List, Optional, Sequence, Tuple

from ere_allennlp.common import blank_sentencizer

CharSpan = Tuple[int, int]  # character offsets, end exclusive
_NON_SPACE = re.compile(r"\S+")


def spacy_sentences(text: str) -> List[List[CharSpan]]:
    """The sentences of `text` as spaCy splits them, each the character spans of its tokens;
    whitespace is never part of a token (whitespace-only tokens are dropped, and a token with
    whitespace inside, which spaCy does not make, would be cut there), and sentences left
    without a token are dropped."""
    nlp = blank_sentencizer()
    nlp.max_length = max(nlp.max_length, len(text) + 1)
    sentences = []
    for sentence in nlp(text).sents:
        spans = []
        for token in sentence:
            start = token.idx
            spans.extend((start + m.start(), start + m.end()) for m in _NON_SPACE.finditer(token.text))
        if spans:
            sentences.append(spans)
    return sentences


def split_at(tokens: Sequence[CharSpan], boundaries: Iterable[int]) -> Tuple[List[CharSpan], int]:
    """`tokens` with each one cut at every boundary strictly inside it (so that an annotation
    starting or ending there starts or ends on a token boundary), and how many tokens were cut."""
    cuts = sorted(set(boundaries))
    pieces: List[CharSpan] = []
    split = 0
    for start, end in tokens:
        inside = cuts[bisect.bisect_right(cuts, start):bisect.bisect_left(cuts, end)]
        if inside:
            split += 1
        edges = [start, *inside, end]
        pieces.extend(zip(edges[:-1], edges[1:]))
    return pieces, split


def covered_tokens(starts: Sequence[int], ends: Sequence[int], span: CharSpan) -> Optional[Tuple[int, int]]:
    """The first and last index of the tokens (sorted, disjoint; `starts` and `ends` their
    offsets) inside the character span, or None when none is."""
    first = bisect.bisect_left(starts, span[0])
    last = bisect.bisect_right(ends, span[1]) - 1
    return (first, last) if first <= last else None


def merged_sentence_index(sentence_of: Sequence[int], count: int, spans: Iterable[Tuple[int, int]]) -> List[int]:
    """Old sentence -> new sentence, where every run of sentences that a token span (first, last
    token) crosses becomes one sentence; `sentence_of` gives each token's old sentence."""
    joined = [False] * count  # joined[k]: sentence k is merged with sentence k + 1
    for first, last in spans:
        for k in range(sentence_of[first], sentence_of[last]):
            joined[k] = True
    index, current = [], 0
    for k in range(count):
        index.append(current)
        if not joined[k]:
            current += 1
    return index
