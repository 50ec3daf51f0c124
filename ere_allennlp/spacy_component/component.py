"""The spaCy pipeline component ``ere_allennlp``: a trained module or approach archive run over the
``Doc``'s own tokens and sentences, its entities and relations written back onto the ``Doc``.

Each Doc becomes one DyGIE document, ``{"doc_key", "sentences": [[token, ...], ...]}``, for the
``ere`` predictor (``ere_allennlp/predictors/ere.py``, through ``ere_allennlp.api.Extractor``),
so the predictions are those of ``allennlp predict`` on the same tokens. The sentences are
``doc.sents`` when the Doc has sentence boundaries, else those of the blank pipeline's rule-based
sentencizer (computed, not set on the Doc). Blank tokens (whitespace, and tokens of only control
or format characters such as a zero-width space, which a word-piece tokenizer drops) are left out
of the model's input and the offsets mapped back; an empty sentence or Doc is not sent at all.
What is written and where: ``ere_allennlp/spacy_component/storage.py``.

Config keys (``nlp.add_pipe("ere_allennlp", config={...})``; the factory is registered by
``ere_spacy.py``, beside the package, through the ``spacy_factories`` entry point):

- ``archive`` (required): ``model.tar.gz`` of a module or of an approach (``allennlp ere-approach``).
- ``cuda_device`` (-1): GPU index, -1 for the CPU.
- ``batch_size`` (32): the most documents in one forward pass. ``nlp.pipe(texts, batch_size=n)``
  sends each batch of n documents through the model in one pass when n <= batch_size (else in
  passes of batch_size); a single call is a pass of one document.
- ``spans_key`` ("ere"): the key of ``doc.spans`` (and of the stored relations).
- ``set_ents`` (false): also replace ``doc.ents`` with the longest non-overlapping entities.
- ``entity_null_offset`` (null: the archive's own): the entity threshold of every stage with a
  null entity label (Ner, NerRi, NerRe; ``SpanModel``'s option of that name): a span becomes an
  entity once its best label's probability exceeds P(null) * exp(-offset).
"""
import unicodedata
from typing import Any, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from spacy.language import Language
from spacy.pipeline import Sentencizer
from spacy.tokens import Doc, Token
from spacy.util import minibatch

from ere_allennlp.api import Extractor
from ere_allennlp.models.span_model import SpanModel
from ere_allennlp.spacy_component import storage

# Unicode categories of characters that show nothing: spaces and line breaks (Z*), control (Cc)
# and format (Cf) characters such as the zero-width space or the soft hyphen.
_BLANK_CATEGORIES = ("Zs", "Zl", "Zp", "Cc", "Cf")


def is_blank(token: Token) -> bool:
    """Whether `token` is left out of the model's input: whitespace, or nothing but invisible
    characters (BERT's tokenizer gives such a token no word piece; a sentence of them alone
    would crash the encoder)."""
    return token.is_space or all(ch.isspace() or unicodedata.category(ch) in _BLANK_CATEGORIES for ch in token.text)


class ModelInput(NamedTuple):
    """One Doc as the model reads it."""

    record: Dict[str, Any]  # the DyGIE document: doc_key, sentences (lists of token texts)
    tokens: List[int]  # the Doc index of each model token, in document order
    sentences: List[Tuple[int, int]]  # the Doc token range [start, end) of each sentence read


def sentence_ranges(doc: Doc, sentencizer: Sentencizer) -> List[Tuple[int, int]]:
    """The Doc's sentences as token ranges: ``doc.sents`` if set, else the sentencizer's."""
    if doc.has_annotation("SENT_START"):
        return [(sent.start, sent.end) for sent in doc.sents]
    starts = [i for i, start in enumerate(sentencizer.predict([doc])[0]) if start]
    return list(zip(starts, starts[1:] + [len(doc)]))


def model_input(doc: Doc, sentencizer: Sentencizer, doc_key: str = "spacy doc") -> ModelInput:
    """`doc`'s tokens and sentences without blank tokens and empty sentences."""
    sentences: List[List[str]] = []
    tokens: List[int] = []
    ranges: List[Tuple[int, int]] = []
    for start, end in sentence_ranges(doc, sentencizer):
        kept = [token for token in doc[start:end] if not is_blank(token)]
        if kept:
            sentences.append([token.text for token in kept])
            tokens.extend(token.i for token in kept)
            ranges.append((start, end))
    return ModelInput({"doc_key": doc_key, "sentences": sentences}, tokens, ranges)


def doc_predictions(
    result: Dict[str, Any], tokens: Sequence[int]
) -> Tuple[List[storage.EntityRow], List[storage.RelationRow]]:
    """The predictor's result for one document (model token offsets, ends inclusive, label None
    where the model only identifies) -> entity and relation rows in Doc offsets, ends exclusive."""
    entities: List[storage.EntityRow] = [
        (tokens[s], tokens[e] + 1, storage.NO_ENTITY_LABEL if label is None else label, p)
        for sentence in result["predicted_ner"] for s, e, label, p in sentence
    ]
    relations: List[storage.RelationRow] = [
        (tokens[hs], tokens[he] + 1, tokens[ts], tokens[te] + 1, storage.NO_RELATION_LABEL if label is None else label, p)
        for sentence in result["predicted_relations"] for hs, he, ts, te, label, p in sentence
    ]
    return entities, relations


def set_entity_null_offset(model: Any, offset: float) -> int:
    """Sets ``entity_null_offset`` on every module of `model` (itself, or an approach's stages)
    with a null entity label; returns how many there are (ValueError if none)."""
    stages = [m for m in model.modules()
              if isinstance(m, SpanModel) and m.entity_head is not None and m.entity_head.kind == "classify_null"]
    if not stages:
        raise ValueError("entity_null_offset: the archive has no module with a null entity label (Ner, NerRi, NerRe)")
    for stage in stages:
        stage.entity_null_offset = float(offset)
    return len(stages)


class EreComponent:
    """The ``ere_allennlp`` pipeline component (module docstring: its config keys)."""

    def __init__(
        self,
        nlp: Language,
        name: str,
        archive: str,
        cuda_device: int = -1,
        batch_size: int = 32,
        spans_key: str = "ere",
        set_ents: bool = False,
        entity_null_offset: Optional[float] = None,
    ) -> None:
        self.name = name
        self.spans_key = spans_key
        self.set_ents = set_ents
        self.extractor = Extractor.from_archive(archive, cuda_device=cuda_device, batch_size=batch_size)
        if entity_null_offset is not None:
            set_entity_null_offset(self.extractor.predictor._model, entity_null_offset)
        self.sentencizer = Sentencizer()
        storage.register_extensions()

    def __call__(self, doc: Doc) -> Doc:
        self.annotate([doc])
        return doc

    def pipe(self, stream: Iterable[Doc], batch_size: Optional[int] = None) -> Iterator[Doc]:
        """Annotates `stream` in batches of `batch_size` documents (default: the config's)."""
        for batch in minibatch(stream, size=batch_size or self.extractor.batch_size):
            self.annotate(batch)
            yield from batch

    def model_input(self, doc: Doc, doc_key: str = "spacy doc") -> ModelInput:
        """What the model reads of `doc` (the DyGIE document and the token map)."""
        return model_input(doc, self.sentencizer, doc_key)

    def annotate(self, docs: Sequence[Doc]) -> None:
        """Runs the model over `docs` (batch_size documents per forward pass) and writes the results."""
        inputs = [self.model_input(doc, f"spacy doc {n}") for n, doc in enumerate(docs)]
        sent = [n for n, item in enumerate(inputs) if item.tokens]
        results = self.extractor.extract_documents([inputs[n].record for n in sent]) if sent else []
        predictions = {n: doc_predictions(result, inputs[n].tokens) for n, result in zip(sent, results)}
        for n, (doc, item) in enumerate(zip(docs, inputs)):
            entities, relations = predictions.get(n, ([], []))
            storage.write(doc, self.spans_key, entities, relations, item.sentences, self.set_ents)
