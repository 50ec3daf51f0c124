"""A small Python API: load a trained module or approach archive once, then extract from texts
or DyGIE documents without the command line.

    from ere_allennlp.api import Extractor

    extractor = Extractor.from_archive("runs/scierc_a4/model.tar.gz")
    results = extractor.extract_texts(["We propose a neural model for parsing."])
"""
from typing import Any, Dict, List, Sequence

from allennlp.predictors.predictor import Predictor

from ere_allennlp import archival
from ere_allennlp.predictors.ere import ErePredictor


class Extractor:
    """Entity and relation extraction with a trained archive (a module such as ``ner`` or an
    approach built by ``allennlp ere-approach``), through the ``ere`` predictor.

    Each result is the predictor's JSON dict for one input, in input order: ``doc_key``,
    ``sentences``, ``predicted_ner`` (per sentence ``[start, end, label, probability]``) and
    ``predicted_relations`` (per sentence ``[start1, end1, start2, end2, label, probability]``),
    with document token offsets, ends inclusive.
    """

    def __init__(self, predictor: ErePredictor, batch_size: int = 32) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.predictor = predictor
        self.batch_size = batch_size

    @classmethod
    def from_archive(cls, path: str, cuda_device: int = -1, batch_size: int = 32) -> "Extractor":
        """Loads `path` (``model.tar.gz``) once; `batch_size` documents go through the model at a time."""
        archive = archival.load(path, cuda_device=cuda_device)
        predictor = Predictor.from_archive(archive, "ere")
        assert isinstance(predictor, ErePredictor)
        return cls(predictor, batch_size)

    def extract_texts(self, texts: Sequence[str]) -> List[Dict[str, Any]]:
        """Raw texts, split into sentences and tokens offline (spaCy's blank English pipeline);
        one result per text, ``doc_key`` ``"input document <i>"``."""
        if isinstance(texts, str):
            raise TypeError("extract_texts takes a list of texts, got a single string")
        for n, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"text {n}: expected a string, got {type(text).__name__}")
        return self._predict([{"text": text} for text in texts])

    def extract_documents(self, docs: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
        """DyGIE documents (``doc_key``, ``sentences``; gold ``ner``/``relations`` are ignored),
        or ``{"text": ...}`` records; one result per document. A document without ``doc_key`` is
        named ``"input document <i>"`` after its position in `docs`."""
        if isinstance(docs, dict):
            raise TypeError("extract_documents takes a list of documents, got a single dict")
        return self._predict(list(docs))

    def _predict(self, inputs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        # Parse (and split) every input first: errors name the input's position in the whole
        # list, and nothing is computed for a list with a bad input.
        records = []
        for n, item in enumerate(inputs):
            if not isinstance(item, dict):
                raise TypeError(f"input document {n}: expected a dict, got {type(item).__name__}")
            document = ErePredictor.to_document(item, where=f"input document {n}")
            records.append({"doc_key": document.doc_key, "sentences": document.sentences})
        results: List[Dict[str, Any]] = []
        for start in range(0, len(records), self.batch_size):
            results.extend(self.predictor.predict_batch_json(records[start : start + self.batch_size]))
        return results
