"""Document-level prediction: DyGIE JSON (or raw text) in, DyGIE-style predictions out."""
import json
import logging
from typing import Any, Dict, List, Optional, Tuple

from allennlp.common.checks import ConfigurationError
from allennlp.common.util import JsonDict, sanitize
from allennlp.data import DatasetReader, Instance
from allennlp.models import Model
from allennlp.predictors.predictor import Predictor
from overrides import overrides

from ere_allennlp.predictors import atomic_output
from ere_allennlp.common import blank_sentencizer, shifted_predictions
from ere_allennlp.dataset_readers.ere_json import Document, EreDataError, EreJsonReader, parse_document

logger = logging.getLogger(__name__)

# Keys that `load_line` adds to an input record: where it came from, and why it is unreadable.
WHERE_KEY = "_ere_where"
ERROR_KEY = "_ere_error"


def split_text_with_offsets(text: str) -> List[List[Tuple[str, int, int]]]:
    """Raw text -> sentences of ``(token, start, end)``: each token with its character offsets in
    `text` (``text[start:end] == token``), split with spaCy's blank English pipeline and its
    rule-based sentencizer (no model download). Whitespace tokens and empty sentences are left out."""
    doc = blank_sentencizer()(text)
    sentences = [[(t.text, t.idx, t.idx + len(t.text)) for t in sent if not t.is_space] for sent in doc.sents]
    return [s for s in sentences if s]


def split_text(text: str) -> List[List[str]]:
    """Raw text -> tokenised sentences (`split_text_with_offsets` without the offsets)."""
    return [[token for token, _, _ in sentence] for sentence in split_text_with_offsets(text)]


@Predictor.register("ere")
class ErePredictor(Predictor):
    """Predicts entities and relations for whole documents.

    Input lines: a DyGIE document (``doc_key``, ``sentences``; gold ``ner``/``relations`` are
    ignored) or raw text ``{"text": "...", "doc_key": optional}``, split into sentences and tokens
    offline. Output, one JSON object per document: ``doc_key``, ``sentences``, ``predicted_ner``
    (per sentence ``[start, end, label, probability]``) and ``predicted_relations`` (per sentence
    ``[start1, end1, start2, end2, label, probability]``), with DOCUMENT token offsets, so the
    output is readable by the ``ere_json`` reader again. A label is null where the model only
    identifies (Ei, Ri, the pruner).

    A bad input line (malformed JSON, an invalid document) stops the run with an EreDataError
    naming the input file and line (``allennlp predict``) or the document's position in the
    batch, and the field. With ``skip_bad_documents`` (``--predictor-args
    '{"skip_bad_documents": true}'``) it yields ``{"doc_key": ..., "error": message}`` instead,
    and a warning reports how many documents were skipped so far.

    # Parameters

    model : `Model`
        A module or an approach (``ere_approach``).
    dataset_reader : `DatasetReader`
        The archive's ``ere_json`` reader.
    frozen : `bool`, optional (default = `True`)
    skip_bad_documents : `bool`, optional (default = `False`)
        Yield an error record for a bad document instead of stopping (see above).
    sentences_per_pass : `int`, optional (default = `16`)
        The sentences of the documents predicted together (``--batch-size`` documents with
        ``allennlp predict``) go through the model sorted by length, this many at a time, so that
        a forward pass pads little. Each sentence's prediction is the same whatever its
        batch-mates, to float rounding. Measured on 2 CPU cores, MiniLM a8, SciERC dev in calls of
        16 documents: 3.98 documents/s in one pass per call, 7.32 with 16, 7.59 with 8
        (docs/benchmarks.md); on a GPU a larger value may pay (``--predictor-args
        '{"sentences_per_pass": 128}'``).
    """

    def __init__(
        self, model: Model, dataset_reader: DatasetReader, frozen: bool = True, skip_bad_documents: bool = False,
        sentences_per_pass: int = 16,
    ) -> None:
        super().__init__(model, dataset_reader, frozen)
        if not isinstance(dataset_reader, EreJsonReader):
            raise ConfigurationError("the 'ere' predictor needs the 'ere_json' dataset reader")
        # Our own reference to the reader (AllenNLP keeps it as the private ``_dataset_reader``).
        self._ere_reader = dataset_reader
        self.skip_bad_documents = skip_bad_documents
        if sentences_per_pass < 1:
            raise ConfigurationError(f"sentences_per_pass must be at least 1, got {sentences_per_pass}")
        self.sentences_per_pass = sentences_per_pass
        self.skipped_documents = 0
        # Set by `allennlp predict` (ere_allennlp/predictors/atomic_output.py) before each
        # `load_line`: ``file:line`` of that line.
        self.input_location: Optional[str] = None
        # `allennlp predict` builds the predictor before its _PredictManager: from here on, a
        # manager running this predictor writes --output-file atomically (other predictors' not).
        atomic_output.install(ErePredictor)

    @staticmethod
    def to_document(inputs: JsonDict, where: str = "<input>") -> Document:
        if not isinstance(inputs, dict):
            raise EreDataError(f"{where}: field '<record>': expected a JSON object, got {type(inputs).__name__}")
        if ERROR_KEY in inputs:
            raise EreDataError(inputs[ERROR_KEY])
        if "text" in inputs and "sentences" not in inputs:
            if not isinstance(inputs["text"], str):
                raise EreDataError(f"{where}: field 'text': must be a string")
            record = {"doc_key": inputs.get("doc_key", where), "sentences": split_text(inputs["text"])}
        else:
            record = {k: v for k, v in inputs.items() if k in ("doc_key", "sentences")}
        return parse_document(record, where)

    def _document_instances(self, document: Document) -> List[Instance]:
        reader = self._ere_reader
        instances = []
        for k, words in enumerate(document.sentences):
            if not words:
                continue
            instance = reader.text_to_instance(
                words,
                metadata={"doc_key": document.doc_key, "sentence_index": k, "sentence_start": document.offsets[k]},
            )
            instances.append(instance)
        return instances

    @overrides
    def predict_json(self, inputs: JsonDict) -> JsonDict:
        return self.predict_batch_json([inputs])[0]

    @overrides
    def predict_batch_json(self, inputs: List[JsonDict]) -> List[JsonDict]:
        documents: List[Optional[Document]] = []
        results: List[Dict[str, Any]] = []
        for n, doc in enumerate(inputs):
            where = doc.get(WHERE_KEY) if isinstance(doc, dict) else None
            try:
                document = self.to_document(doc, where=where or f"input document {n}")
            except EreDataError as error:
                if not self.skip_bad_documents:
                    raise
                self.skipped_documents += 1
                logger.warning("skipped a bad document (%d so far): %s", self.skipped_documents, error)
                doc_key = doc.get("doc_key") if isinstance(doc, dict) else None
                documents.append(None)
                results.append({"doc_key": str(doc_key or where or f"input document {n}"), "error": str(error)})
                continue
            documents.append(document)
            results.append(self._empty_result(document))
        instances: List[Instance] = []
        owners: List[int] = []
        for n, document in enumerate(documents):
            for instance in self._document_instances(document) if document is not None else []:
                instances.append(instance)
                owners.append(n)
        outputs = self._predict_sorted(instances)
        for n, output in zip(owners, outputs):
            document = documents[n]
            assert document is not None
            k = output["sentence_index"]
            results[n]["predicted_ner"][k], results[n]["predicted_relations"][k] = shifted_predictions(
                output, document.offsets[k]
            )
        return sanitize(results)

    def _predict_sorted(self, instances: List[Instance]) -> List[JsonDict]:
        """`predict_batch_instance` on `instances` sorted by sentence length, `sentences_per_pass`
        at a time; the outputs in the order of `instances`."""
        order = sorted(range(len(instances)), key=lambda i: len(instances[i]["tokens"]))
        outputs: List[Optional[JsonDict]] = [None] * len(instances)
        for start in range(0, len(order), self.sentences_per_pass):
            chunk = order[start : start + self.sentences_per_pass]
            for i, output in zip(chunk, self.predict_batch_instance([instances[i] for i in chunk])):
                outputs[i] = output
        return outputs  # type: ignore[return-value]

    @staticmethod
    def _empty_result(document: Document) -> Dict[str, Any]:
        return {
            "doc_key": document.doc_key,
            "sentences": document.sentences,
            "predicted_ner": [[] for _ in document.sentences],
            "predicted_relations": [[] for _ in document.sentences],
        }

    @overrides(check_signature=False)
    def _json_to_instance(self, json_dict: JsonDict) -> Instance:  # pragma: no cover - documents span several instances
        raise NotImplementedError("the 'ere' predictor works on whole documents: use predict_json")

    @overrides
    def load_line(self, line: str) -> JsonDict:
        """One input line -> its record, tagged with where it came from. With
        ``skip_bad_documents``, malformed JSON becomes a marker that `predict_batch_json` turns
        into an error record."""
        where = self.input_location or "input line"
        try:
            record = json.loads(line)
            message = None
        except json.JSONDecodeError as error:
            message = f"{where}: malformed JSON: {error}: {line[:80]!r}"
        if message is None and not isinstance(record, dict):
            message = f"{where}: field '<record>': expected a JSON object, got {type(record).__name__}"
        if message is not None:
            if not self.skip_bad_documents:
                raise EreDataError(message)
            return {WHERE_KEY: where, ERROR_KEY: message}
        if self.input_location is not None:
            record[WHERE_KEY] = self.input_location  # also the doc_key of a document without one
        return record

    @overrides
    def dump_line(self, outputs: JsonDict) -> str:
        if "sentence_start" in outputs and "sentences" not in outputs:
            # One sentence (``--use-dataset-reader``): report document offsets as well.
            outputs = dict(outputs)
            outputs["predicted_ner"], outputs["predicted_relations"] = shifted_predictions(
                outputs, outputs["sentence_start"] or 0
            )
        return json.dumps(outputs) + "\n"
