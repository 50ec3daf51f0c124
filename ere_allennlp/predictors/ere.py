"""Document-level prediction: DyGIE JSON (or raw text) in, DyGIE-style predictions out."""
import json
from typing import Any, Dict, List

from allennlp.common.checks import ConfigurationError
from allennlp.common.util import JsonDict, sanitize
from allennlp.data import DatasetReader, Instance
from allennlp.models import Model
from allennlp.predictors.predictor import Predictor
from overrides import overrides

from ere_allennlp.dataset_readers.ere_json import Document, EreJsonReader, parse_document

_SENTENCIZER = None


def split_text(text: str) -> List[List[str]]:
    """Raw text -> tokenised sentences with spaCy's blank English pipeline and its rule-based
    sentencizer (no model download)."""
    global _SENTENCIZER
    if _SENTENCIZER is None:
        import spacy

        _SENTENCIZER = spacy.blank("en")
        _SENTENCIZER.add_pipe("sentencizer")
    doc = _SENTENCIZER(text)
    sentences = [[t.text for t in sent if not t.is_space] for sent in doc.sents]
    return [s for s in sentences if s]


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
    """

    def __init__(self, model: Model, dataset_reader: DatasetReader, frozen: bool = True) -> None:
        super().__init__(model, dataset_reader, frozen)
        if not isinstance(dataset_reader, EreJsonReader):
            raise ConfigurationError("the 'ere' predictor needs the 'ere_json' dataset reader")

    @staticmethod
    def to_document(inputs: JsonDict, where: str = "<input>") -> Document:
        if "text" in inputs and "sentences" not in inputs:
            if not isinstance(inputs["text"], str):
                raise ConfigurationError(f"{where}: field 'text': must be a string")
            record = {"doc_key": inputs.get("doc_key", where), "sentences": split_text(inputs["text"])}
        else:
            record = {k: v for k, v in inputs.items() if k in ("doc_key", "sentences")}
        return parse_document(record, where)

    def _document_instances(self, document: Document) -> List[Instance]:
        reader: EreJsonReader = self._dataset_reader  # type: ignore
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
        documents = [self.to_document(doc, where=f"input document {n}") for n, doc in enumerate(inputs)]
        instances: List[Instance] = []
        owners: List[int] = []
        for n, document in enumerate(documents):
            for instance in self._document_instances(document):
                instances.append(instance)
                owners.append(n)
        outputs = self.predict_batch_instance(instances) if instances else []
        results = [self._empty_result(d) for d in documents]
        for n, output in zip(owners, outputs):
            document = documents[n]
            k = output["sentence_index"]
            start = document.offsets[k]
            results[n]["predicted_ner"][k] = [[s + start, e + start, label, p] for s, e, label, p in output["predicted_ner"]]
            results[n]["predicted_relations"][k] = [
                [hs + start, he + start, ts + start, te + start, label, p]
                for hs, he, ts, te, label, p in output["predicted_relations"]
            ]
        return sanitize(results)

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
        try:
            return json.loads(line)
        except json.JSONDecodeError as error:
            raise ConfigurationError(f"malformed JSON input line: {error}: {line[:80]!r}") from None

    @overrides
    def dump_line(self, outputs: JsonDict) -> str:
        if "sentence_start" in outputs and "sentences" not in outputs:
            # One sentence (``--use-dataset-reader``): report document offsets as well.
            start = outputs["sentence_start"] or 0
            outputs = dict(outputs)
            outputs["predicted_ner"] = [[s + start, e + start, *rest] for s, e, *rest in outputs["predicted_ner"]]
            outputs["predicted_relations"] = [
                [hs + start, he + start, ts + start, te + start, *rest]
                for hs, he, ts, te, *rest in outputs["predicted_relations"]
            ]
        return json.dumps(outputs) + "\n"
