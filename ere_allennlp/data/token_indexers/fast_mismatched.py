"""Word-piece indexing of pre-split words in one tokenizer call."""
from typing import List, Optional, Tuple

from allennlp.data.token_indexers import PretrainedTransformerMismatchedIndexer, TokenIndexer
from allennlp.data.token_indexers.token_indexer import IndexedTokenList
from allennlp.data.tokenizers import Token
from allennlp.data.vocabulary import Vocabulary
from overrides import overrides

from ere_allennlp.allennlp_internals import (
    add_encoding_to_vocabulary, allennlp_tokenizer, matched_indexer, postprocess_indexer_output, transformer_tokenizer,
)


@TokenIndexer.register("pretrained_transformer_mismatched_fast")
class FastMismatchedIndexer(PretrainedTransformerMismatchedIndexer):
    """
    ``pretrained_transformer_mismatched`` (same config keys, same output) that splits all words
    of a sentence into word pieces with one call of the fast (Rust) tokenizer
    (``is_split_into_words``) instead of one ``encode_plus`` call per word. Measured by
    ``benchmarks/data_reading.py``, the per-word calls were most of the reading time.

    Only for WordPiece vocabularies (BERT, SciBERT, MiniLM), where a word's pieces do not
    depend on its neighbours and the two ways give identical ids and offsets; any other
    tokenizer (BPE with prefix spaces, SentencePiece) falls back to the per-word path.
    """

    def __init__(self, model_name: str, **kwargs) -> None:
        super().__init__(model_name, **kwargs)
        tokenizer = transformer_tokenizer(self)
        backend = getattr(tokenizer, "backend_tokenizer", None)
        self._fast = bool(getattr(tokenizer, "is_fast", False)) and type(getattr(backend, "model", None)).__name__ == "WordPiece"

    def _word_pieces(self, words: List[str]) -> Tuple[List[Token], List[Optional[Tuple[int, int]]]]:
        """Word pieces with special tokens, and per word its inclusive piece range (None: no piece)."""
        # The Rust tokenizer directly (the Python wrapper around it cost as much as the split).
        encoding = transformer_tokenizer(self).backend_tokenizer.encode(words, is_pretokenized=True, add_special_tokens=False)
        ids: List[int] = encoding.ids
        special = allennlp_tokenizer(self)
        start = len(special.single_sequence_start_tokens)
        offsets: List[Optional[Tuple[int, int]]] = [None] * len(words)
        for position, word in enumerate(encoding.word_ids):
            if word is not None:
                first = offsets[word]
                offsets[word] = (position + start, position + start) if first is None else (first[0], position + start)
        # What the allennlp tokenizer's add_special_tokens gives, without a dataclasses.replace per piece.
        type_id = special.single_sequence_token_type_id
        pieces = [Token(text=text, text_id=i, type_id=type_id) for i, text in zip(ids, encoding.tokens)]
        pieces = special.single_sequence_start_tokens + pieces + special.single_sequence_end_tokens
        return pieces, offsets

    @overrides
    def tokens_to_indices(self, tokens: List[Token], vocabulary: Vocabulary) -> IndexedTokenList:
        if not self._fast or not tokens:
            return super().tokens_to_indices(tokens, vocabulary)
        add_encoding_to_vocabulary(matched_indexer(self), vocabulary)
        wordpieces, offsets = self._word_pieces([t.ensure_text() for t in tokens])
        output: IndexedTokenList = {
            "token_ids": [t.text_id for t in wordpieces],
            "mask": [True] * len(tokens),  # per word
            "type_ids": [t.type_id for t in wordpieces],
            # A word without word pieces (e.g. a control character) embeds as zeros.
            "offsets": [o if o is not None else (-1, -1) for o in offsets],
            "wordpiece_mask": [True] * len(wordpieces),  # per word piece
        }
        return postprocess_indexer_output(matched_indexer(self), output)
