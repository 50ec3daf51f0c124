"""Document-level predictions of a model over a DyGIE file, as ``allennlp predict`` writes them."""
from typing import Any, Dict, List, Tuple

import torch

from ere_allennlp.common import shifted_predictions
from ere_allennlp.dataset_readers.ere_json import read_documents


def predict_documents(
    model: torch.nn.Module, reader: Any, path: str, batch_size: int
) -> Tuple[List[Dict[str, Any]], Dict[str, float]]:
    """Runs `model` over the DyGIE file `path` (its gold entities are what a gold-entity approach
    starts from). Returns the document-level predictions of every document (document offsets, as
    ``allennlp predict`` writes them; a sentence the reader skips predicts nothing) and the
    model's own metrics."""
    instances = list(reader.read(path))
    model.eval()
    outputs: Dict[Tuple[str, int], Dict[str, Any]] = {}
    with torch.no_grad():
        for start in range(0, len(instances), batch_size):
            batch = instances[start : start + batch_size]
            for output in model.forward_on_instances(batch):
                outputs[(str(output["doc_key"]), int(output["sentence_index"]))] = output
    model_metrics = {k: float(v) for k, v in model.get_metrics(reset=True).items()}
    documents: List[Dict[str, Any]] = []
    for _, document in read_documents(path):
        record: Dict[str, Any] = {"doc_key": document.doc_key, "sentences": document.sentences,
                                  "predicted_ner": [], "predicted_relations": []}
        for k in range(len(document.sentences)):
            output = outputs.get((document.doc_key, k), {"predicted_ner": [], "predicted_relations": []})
            entities, relations = shifted_predictions(output, document.offsets[k])
            record["predicted_ner"].append(entities)
            record["predicted_relations"].append(relations)
        documents.append(record)
    return documents, model_metrics
