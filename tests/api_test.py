"""The Python API: ``Extractor`` over a tiny trained approach (a4: Ner -> Re) and a module archive.

The modules come from the session fixture ``runs`` (one epoch, tests/models/module_runs.py) and
predict nothing yet. For exact checks of offsets and order the "forced" extractors zero the final
scorers and set one bias, so that every candidate span gets one label and every ordered pair
another: the expected output is then every span of each sentence (all are shorter than the
maximum width), shifted by the sentence's document offset, and every ordered pair of them.
"""
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
import torch

from ere_allennlp.api import Extractor
from ere_allennlp.common import sentence_offsets
from ere_allennlp.dataset_readers.ere_json import enumerate_spans
from ere_allennlp.models.approach import Approach
from ere_allennlp.models.modules import Ner
from ere_allennlp.predictors.ere import split_text
from tests.models.module_runs import ModuleRuns, single_thread

L = 12  # max span width of the scierc configs
TEXTS = [
    "We study parsing. It works well.",
    "Machine translation is evaluated with BLEU score.",
    "Neural networks are used for speech recognition. Word error rate is reported.",
    "Results are clear.",
    "Conditional random fields are used for tagging. Accuracy is high. Errors are rare.",
]
DOCS = [
    {"doc_key": "d0", "sentences": [["We", "study", "parsing", "."], ["It", "works", "."]],
     "ner": [[[2, 2, "Task"]], []], "relations": [[], []]},  # gold annotation is ignored
    {"doc_key": "d1", "sentences": [["Machine", "translation", "."]]},
    {"doc_key": "d2", "sentences": [["BLEU", "score", "is", "reported", "."], [], ["Results", "are", "clear", "."]]},
    {"doc_key": "d3", "sentences": [["Neural", "networks", "."]]},
    {"doc_key": "d4", "sentences": [["Accuracy", "is", "used", "."], ["We", "compare", "models", "."]]},
]


def force(scorer: torch.nn.Linear, index: int) -> None:
    """Every input scores label `index` highest, by a wide margin."""
    with torch.no_grad():
        scorer.weight.zero_()
        scorer.bias.zero_()
        scorer.bias[index] = 10.0


def expected(sentences: List[List[str]]) -> Tuple[List[List[Tuple[int, int]]], List[List[Tuple[int, ...]]]]:
    """Every span of each sentence and every ordered pair of them, in document offsets."""
    spans = [[(s + start, e + start) for s, e in enumerate_spans(len(words), L)]
             for words, start in zip(sentences, sentence_offsets(sentences))]
    pairs = [sorted((*h, *t) for h in sentence for t in sentence if h != t) for sentence in spans]
    return [sorted(s) for s in spans], pairs


def ner_spans(result: Dict[str, Any]) -> List[List[Tuple[int, int]]]:
    return [sorted((s, e) for s, e, *_ in sentence) for sentence in result["predicted_ner"]]


def relation_pairs(result: Dict[str, Any]) -> List[List[Tuple[int, ...]]]:
    return [sorted(tuple(r[:4]) for r in sentence) for sentence in result["predicted_relations"]]


def check_shape(result: Dict[str, Any]) -> None:
    sentences = result["sentences"]
    assert set(result) == {"doc_key", "sentences", "predicted_ner", "predicted_relations"}
    assert len(result["predicted_ner"]) == len(result["predicted_relations"]) == len(sentences)
    for words, start, ner in zip(sentences, sentence_offsets(sentences), result["predicted_ner"]):
        for s, e, label, p in ner:
            assert start <= s <= e < start + len(words) and 0.0 <= p <= 1.0


@pytest.fixture
def a4_archive(runs: ModuleRuns, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    runs.ensure(["ner", "re"])
    return runs.build("a4", monkeypatch, tmp_path)


def forced_a4(path: str, batch_size: int) -> Extractor:
    extractor = Extractor.from_archive(path, batch_size=batch_size)
    model = extractor.predictor._model
    assert isinstance(model, Approach) and model.stage_names == ["ner", "re"]
    ner, re = model._stages
    force(ner._entity_scorer, ner.entity_head.labels.index("Method"))
    force(re._relation_scorer, re.relation_head.labels.index("USED-FOR"))
    return extractor


def test_approach_archive_texts(a4_archive: str) -> None:
    extractor = Extractor.from_archive(a4_archive, batch_size=2)
    assert isinstance(extractor.predictor._model, Approach)
    with single_thread():
        results = extractor.extract_texts(TEXTS)
        assert extractor.extract_texts([]) == []
        whole = Extractor(extractor.predictor, batch_size=32).extract_texts(TEXTS)
    assert len(results) == len(TEXTS)
    assert [r["doc_key"] for r in results] == [f"input document {n}" for n in range(len(TEXTS))]
    assert [r["sentences"] for r in results] == [split_text(t) for t in TEXTS]
    assert [len(r["sentences"]) for r in results] == [2, 1, 2, 1, 3]
    for result in results:
        check_shape(result)
    assert results == whole  # batching does not change the output


def test_approach_archive_documents_order_and_offsets(a4_archive: str) -> None:
    extractor = forced_a4(a4_archive, batch_size=2)  # 5 documents: batches of 2, 2, 1
    with single_thread():
        results = extractor.extract_documents(DOCS)
        reverse = extractor.extract_documents(DOCS[::-1])
        one_batch = Extractor(extractor.predictor, batch_size=5).extract_documents(DOCS)
        singles = [extractor.extract_documents([doc])[0] for doc in DOCS]
    assert [r["doc_key"] for r in results] == ["d0", "d1", "d2", "d3", "d4"]
    assert [r["sentences"] for r in results] == [d["sentences"] for d in DOCS]
    for result, doc in zip(results, DOCS):
        check_shape(result)
        spans, pairs = expected(doc["sentences"])
        assert ner_spans(result) == spans
        assert relation_pairs(result) == pairs
        assert {e[2] for s in result["predicted_ner"] for e in s} == {"Method"}
        assert {r[4] for s in result["predicted_relations"] for r in s} == {"USED-FOR"}
    # d2: the empty sentence gets empty lists, the third starts at document token 5
    assert results[2]["predicted_ner"][1] == [] and results[2]["predicted_relations"][1] == []
    assert min(s for s, *_ in results[2]["predicted_ner"][2]) == 5
    assert max(e for _, e, *_ in results[4]["predicted_ner"][1]) == 7
    for other in (reverse[::-1], one_batch, singles):
        assert [r["doc_key"] for r in other] == [r["doc_key"] for r in results]
        assert [ner_spans(r) for r in other] == [ner_spans(r) for r in results]
        assert [relation_pairs(r) for r in other] == [relation_pairs(r) for r in results]


def test_module_archive_texts_and_documents(runs: ModuleRuns) -> None:
    runs.ensure(["ner"])
    extractor = Extractor.from_archive(str(runs.archive("ner")), batch_size=2)
    model = extractor.predictor._model
    assert isinstance(model, Ner)
    force(model._entity_scorer, model.entity_head.labels.index("Task"))
    unnamed = [{"sentences": d["sentences"]} for d in DOCS]
    with single_thread():
        texts = extractor.extract_texts(TEXTS)
        docs = extractor.extract_documents(unnamed)
    assert [r["doc_key"] for r in texts] == [f"input document {n}" for n in range(5)]
    # documents without doc_key are named by their position in the whole list, across batches
    assert [r["doc_key"] for r in docs] == [f"input document {n}" for n in range(5)]
    for result, sentences in [*zip(texts, (split_text(t) for t in TEXTS)), *zip(docs, (d["sentences"] for d in DOCS))]:
        check_shape(result)
        assert result["sentences"] == sentences
        assert ner_spans(result) == expected(sentences)[0]
        assert {e[2] for s in result["predicted_ner"] for e in s} == {"Task"}
        assert result["predicted_relations"] == [[] for _ in sentences]  # Ner has no relation head
    # "It works well ." starts at document token 4 of the first text
    assert min(s for s, *_ in texts[0]["predicted_ner"][1]) == 4


def test_input_errors(runs: ModuleRuns) -> None:
    from ere_allennlp.dataset_readers.ere_json import EreDataError

    runs.ensure(["ner"])
    extractor = Extractor.from_archive(str(runs.archive("ner")), batch_size=2)
    with pytest.raises(TypeError, match="single string"):
        extractor.extract_texts("We study parsing.")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="text 1"):
        extractor.extract_texts(["fine", None])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="single dict"):
        extractor.extract_documents(DOCS[0])  # type: ignore[arg-type]
    # the bad document is named by its position in the whole list, not in its batch
    with pytest.raises(EreDataError, match="input document 3"):
        extractor.extract_documents([*DOCS[:3], {"doc_key": "bad"}, DOCS[4]])
    with pytest.raises(ValueError, match="batch_size"):
        Extractor(extractor.predictor, batch_size=0)


def test_cuda_device_reaches_the_approach_and_its_stages(a4_archive: str, runs: ModuleRuns, pretend_cuda) -> None:
    """``Extractor.from_archive(path, cuda_device=0)`` loads the approach and each of its stages
    with ``cuda_device=0`` (recorded; nothing moves on this CPU-only machine), as it does a module."""
    pretend_cuda.loads.clear()
    extractor = Extractor.from_archive(a4_archive, cuda_device=0)
    assert pretend_cuda.loads == [("ere_approach", 0), ("ner", 0), ("re", 0)]
    assert ("Approach", 0) in pretend_cuda.moved
    with single_thread():
        assert len(extractor.extract_texts(TEXTS[:2])) == 2
    pretend_cuda.loads.clear()
    Extractor.from_archive(str(runs.archive("ner")), cuda_device=0)
    assert pretend_cuda.loads == [("ner", 0)]
