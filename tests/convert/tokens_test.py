"""Tokens split at annotation boundaries, token spans of a character span, sentences merged."""
from ere_allennlp.convert.tokens import covered_tokens, merged_sentence_index, spacy_sentences, split_at


def test_split_at_cuts_only_strictly_inside():
    assert split_at([(0, 8), (9, 12)], [0, 4, 8, 9, 10, 11]) == ([(0, 4), (4, 8), (9, 10), (10, 11), (11, 12)], 2)
    assert split_at([(0, 3)], []) == ([(0, 3)], 0)


def test_covered_tokens():
    starts, ends = [0, 4, 9], [3, 8, 12]
    assert covered_tokens(starts, ends, (0, 8)) == (0, 1)
    assert covered_tokens(starts, ends, (4, 12)) == (1, 2)
    assert covered_tokens(starts, ends, (3, 4)) is None


def test_merged_sentence_index():
    # tokens 0-1 in sentence 0, 2-3 in 1, 4 in 2; a span over tokens 1..2 joins sentences 0 and 1
    assert merged_sentence_index([0, 0, 1, 1, 2], 3, [(1, 2)]) == [0, 0, 1]
    assert merged_sentence_index([0, 1, 2], 3, [(0, 2)]) == [0, 0, 0]
    assert merged_sentence_index([0, 1], 2, []) == [0, 1]


def test_spacy_sentences_drop_whitespace():
    text = "One two.  \n\nThree!\n"
    sentences = spacy_sentences(text)
    assert [[text[s:e] for s, e in sentence] for sentence in sentences] == [["One", "two", "."], ["Three", "!"]]
    assert spacy_sentences("   \n") == []
