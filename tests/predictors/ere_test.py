"""Tests for the ``ere`` predictor: whole documents (or raw text) in, document offsets out.

The models are untrained. To make the offset checks exact (rather than vacuous when an untrained
model predicts nothing), the "forced" models have their final scorer set so that every candidate
span (and pair) gets the same non-null label: the expected output is then every span up to the
maximum width, shifted by its sentence's document offset.
"""
import json
from typing import Any, Dict, List

import pytest
import torch
from allennlp.data import Vocabulary
from allennlp.modules.text_field_embedders import BasicTextFieldEmbedder
from allennlp.modules.token_embedders import PretrainedTransformerMismatchedEmbedder

from ere_allennlp.common import sentence_offsets
from ere_allennlp.dataset_readers.ere_json import EreJsonReader, enumerate_spans, parse_document
from ere_allennlp.models.modules import Ner, NerRe
from ere_allennlp.predictors.ere import ErePredictor, split_text

TINY_BERT = "fixtures/tiny_bert"  # relative to the repo root (conftest chdirs there)
TRAIN = "fixtures/data/train.json"
L = 4  # max span width

DOC_A = {
    "doc_key": "A",
    "sentences": [["We", "propose", "a", "neural", "model", "."], ["It", "is", "used", "for", "parsing", "."]],
    # gold annotation is ignored by the predictor
    "ner": [[[3, 4, "Method"]], [[10, 10, "Task"]]],
    "relations": [[], []],
}
DOC_B = {
    "doc_key": "B",
    "sentences": [["Machine", "translation", "."], ["BLEU", "score", "is", "reported", "."], ["Results", "are", "clear", "."]],
}


def make_embedder() -> BasicTextFieldEmbedder:
    return BasicTextFieldEmbedder(
        {"tokens": PretrainedTransformerMismatchedEmbedder(TINY_BERT, sub_token_mode="first")}
    )


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    reader = EreJsonReader(model_name=TINY_BERT, max_span_width=L, relation_pairs="related")
    return Vocabulary.from_instances(reader.read(TRAIN))


@pytest.fixture(scope="module")
def reader() -> EreJsonReader:
    return EreJsonReader(model_name=TINY_BERT, max_span_width=L)


@pytest.fixture(scope="module")
def predictor(vocab, reader) -> ErePredictor:
    torch.manual_seed(0)
    return ErePredictor(Ner(vocab, embedder=make_embedder(), max_span_width=L), reader)


def force(scorer: torch.nn.Linear, index: int) -> None:
    """Every input scores label `index` highest (by a wide margin)."""
    with torch.no_grad():
        scorer.weight.zero_()
        scorer.bias.zero_()
        scorer.bias[index] = 10.0


@pytest.fixture(scope="module")
def forced_predictor(vocab, reader) -> ErePredictor:
    """A Ner model that labels every candidate span "Method"."""
    model = Ner(vocab, embedder=make_embedder(), max_span_width=L)
    force(model._entity_scorer, model.entity_head.labels.index("Method"))
    return ErePredictor(model, reader)


@pytest.fixture(scope="module")
def forced_joint_predictor(vocab, reader) -> ErePredictor:
    """A first-order NerRe (NerRe*, no pruner) that labels every span "Task" and every ordered
    pair "USED-FOR"."""
    model = NerRe(vocab, embedder=make_embedder(), max_span_width=L, span_width_dim=8, span_hidden_dim=8,
                  relation_hidden_dim=8)
    force(model._entity_scorer, model.entity_head.labels.index("Task"))
    force(model._relation_scorer, model.relation_head.labels.index("USED-FOR"))
    return ErePredictor(model, reader)


def expected_ner(sentences: List[List[str]]) -> List[List[List[int]]]:
    """Every span up to L of each sentence, in document offsets."""
    return [
        sorted([s + start, e + start] for s, e in enumerate_spans(len(words), L))
        for words, start in zip(sentences, sentence_offsets(sentences))
    ]


def spans(predicted_sentence: List[List[Any]]) -> List[List[int]]:
    return sorted(item[:2] for item in predicted_sentence)


def check_inside_sentences(result: Dict[str, Any]) -> None:
    sentences = result["sentences"]
    assert len(result["predicted_ner"]) == len(result["predicted_relations"]) == len(sentences)
    for words, start, ner, relations in zip(
        sentences, sentence_offsets(sentences), result["predicted_ner"], result["predicted_relations"]
    ):
        end = start + len(words) - 1
        for s, e, label, p in ner:
            assert start <= s <= e <= end and e - s < L
            assert label is None or isinstance(label, str)
            assert 0.0 <= p <= 1.0
        for hs, he, ts, te, label, p in relations:
            assert start <= hs <= he <= end and start <= ts <= te <= end
            assert 0.0 <= p <= 1.0


# ---------------------------------------------------------------- documents
def test_predict_json_document(predictor):
    result = predictor.predict_json(DOC_A)
    assert set(result) == {"doc_key", "sentences", "predicted_ner", "predicted_relations"}
    assert result["doc_key"] == "A"
    assert result["sentences"] == DOC_A["sentences"]
    assert result["predicted_relations"] == [[], []]  # Ner has no relation head
    check_inside_sentences(result)
    json.dumps(result)  # plain JSON types only


def test_predictions_use_document_offsets(forced_predictor):
    result = forced_predictor.predict_json(DOC_A)
    check_inside_sentences(result)
    # s0 = tokens 0..5, s1 = tokens 6..11: every span up to width 4, shifted by 0 and 6.
    assert [spans(sentence) for sentence in result["predicted_ner"]] == expected_ner(DOC_A["sentences"])
    assert min(s for s, *_ in result["predicted_ner"][1]) == 6
    assert max(e for _, e, *_ in result["predicted_ner"][1]) == 11
    assert {item[2] for sentence in result["predicted_ner"] for item in sentence} == {"Method"}
    assert all(item[3] > 0.99 for sentence in result["predicted_ner"] for item in sentence)


def test_relations_use_document_offsets(forced_joint_predictor):
    result = forced_joint_predictor.predict_json(DOC_B)
    check_inside_sentences(result)
    assert [spans(sentence) for sentence in result["predicted_ner"]] == expected_ner(DOC_B["sentences"])
    for k, (words, start) in enumerate(zip(DOC_B["sentences"], sentence_offsets(DOC_B["sentences"]))):
        candidates = [(s + start, e + start) for s, e in enumerate_spans(len(words), L)]
        expected = sorted([*h, *t] for h in candidates for t in candidates if h != t)
        assert sorted(r[:4] for r in result["predicted_relations"][k]) == expected
        assert {r[4] for r in result["predicted_relations"][k]} == {"USED-FOR"}


def test_predict_batch_json_keeps_documents_apart(forced_predictor):
    results = forced_predictor.predict_batch_json([DOC_A, DOC_B])
    assert [r["doc_key"] for r in results] == ["A", "B"]
    assert [r["sentences"] for r in results] == [DOC_A["sentences"], DOC_B["sentences"]]
    assert [len(r["predicted_ner"]) for r in results] == [2, 3]
    for result, doc in zip(results, (DOC_A, DOC_B)):
        check_inside_sentences(result)
        assert [spans(sentence) for sentence in result["predicted_ner"]] == expected_ner(doc["sentences"])
    # the same as one at a time, in reverse order too
    assert forced_predictor.predict_batch_json([DOC_B, DOC_A]) == results[::-1]
    assert [forced_predictor.predict_json(d) for d in (DOC_A, DOC_B)] == results
    assert forced_predictor.predict_batch_json([]) == []


def test_untrained_batch_matches_single_documents(predictor):
    results = predictor.predict_batch_json([DOC_A, DOC_B])
    singles = [predictor.predict_json(DOC_A), predictor.predict_json(DOC_B)]
    for batched, single in zip(results, singles):
        assert batched["doc_key"] == single["doc_key"]
        assert [spans(s) for s in batched["predicted_ner"]] == [spans(s) for s in single["predicted_ner"]]
        check_inside_sentences(batched)


# ---------------------------------------------------------------- raw text
def test_split_text():
    assert split_text("We study parsing. It works well.") == [
        ["We", "study", "parsing", "."],
        ["It", "works", "well", "."],
    ]
    assert split_text("  ") == []
    assert split_text("One  sentence\nonly") == [["One", "sentence", "only"]]


def test_raw_text(forced_predictor):
    result = forced_predictor.predict_json({"text": "We study parsing. It works well.", "doc_key": "raw"})
    assert result["doc_key"] == "raw"
    assert result["sentences"] == [["We", "study", "parsing", "."], ["It", "works", "well", "."]]
    assert len(result["predicted_ner"]) == len(result["predicted_relations"]) == 2
    check_inside_sentences(result)
    assert [spans(s) for s in result["predicted_ner"]] == expected_ner(result["sentences"])
    assert min(s for s, *_ in result["predicted_ner"][1]) == 4
    # without a doc_key the document is named after its position
    unnamed = forced_predictor.predict_batch_json([DOC_A, {"text": "We study parsing."}])
    assert unnamed[1]["doc_key"] == "input document 1"
    assert unnamed[1]["sentences"] == [["We", "study", "parsing", "."]]


def test_raw_text_file(forced_predictor):
    with open("fixtures/data/raw_text.jsonl", encoding="utf-8") as lines:
        inputs = [forced_predictor.load_line(line) for line in lines if line.strip()]
    results = forced_predictor.predict_batch_json(inputs)
    assert len(results) == 3
    for result in results:
        assert len(result["sentences"]) == 2
        check_inside_sentences(result)
        assert [spans(s) for s in result["predicted_ner"]] == expected_ner(result["sentences"])


# ---------------------------------------------------------------- empty sentences and documents
def test_empty_sentence_keeps_its_place(forced_predictor):
    doc = {"doc_key": "gap", "sentences": [["We", "study", "parsing", "."], [], ["It", "works", "."]]}
    result = forced_predictor.predict_json(doc)
    assert result["sentences"] == doc["sentences"]
    assert len(result["predicted_ner"]) == 3
    assert result["predicted_ner"][1] == [] and result["predicted_relations"][1] == []
    # s2 starts at token 4 (the empty sentence has no tokens)
    assert spans(result["predicted_ner"][2]) == sorted([s + 4, e + 4] for s, e in enumerate_spans(3, L))
    check_inside_sentences(result)


def test_empty_document(forced_predictor):
    result = forced_predictor.predict_json({"doc_key": "empty", "sentences": []})
    assert result == {"doc_key": "empty", "sentences": [], "predicted_ner": [], "predicted_relations": []}
    results = forced_predictor.predict_batch_json([{"doc_key": "e", "sentences": [[]]}, DOC_B])
    assert results[0]["predicted_ner"] == [[]]
    assert [spans(s) for s in results[1]["predicted_ner"]] == expected_ner(DOC_B["sentences"])


# ---------------------------------------------------------------- output format
def as_gold(output: Dict[str, Any]) -> Dict[str, Any]:
    """A predictor output line -> a DyGIE document (labels only, identified-only entries dropped)."""
    ner = [[[s, e, label] for s, e, label, _ in sentence if label is not None] for sentence in output["predicted_ner"]]
    kept = [{(s, e) for s, e, _ in sentence} for sentence in ner]
    relations = [
        [[hs, he, ts, te, label] for hs, he, ts, te, label, _ in sentence
         if label is not None and (hs, he) in kept[k] and (ts, te) in kept[k]]
        for k, sentence in enumerate(output["predicted_relations"])
    ]
    return {"doc_key": output["doc_key"], "sentences": output["sentences"], "ner": ner, "relations": relations}


@pytest.mark.parametrize("which", ["forced_predictor", "forced_joint_predictor", "predictor"])
def test_dump_line_round_trip(request, tmp_path, which):
    predictor: ErePredictor = request.getfixturevalue(which)
    docs = [DOC_A, DOC_B, {"doc_key": "gap", "sentences": [["It", "works", "."], [], ["Parsing", "."]]}]
    outputs = predictor.predict_batch_json(docs)
    lines = [predictor.dump_line(output) for output in outputs]
    assert all(line.endswith("\n") and line.count("\n") == 1 for line in lines)
    # a document output has no sentence_start: dump_line leaves its offsets alone
    assert [json.loads(line) for line in lines] == outputs
    path = tmp_path / "predictions.json"
    path.write_text("".join(json.dumps(as_gold(json.loads(line))) + "\n" for line in lines), encoding="utf-8")
    for number, (line, doc) in enumerate(zip(lines, docs), start=1):
        output = json.loads(line)
        document = parse_document(as_gold(output), f"predictions:{number}")
        assert document.doc_key == doc["doc_key"] and document.sentences == doc["sentences"]
        for k, start in enumerate(document.offsets):
            local = sorted((e.start + start, e.end + start) for e in document.entities[k])
            assert local == sorted({(s, e) for s, e, label, _ in output["predicted_ner"][k] if label is not None})
    # the ere_json reader reads the file (with the predictions as gold) again
    instances = list(EreJsonReader(model_name=TINY_BERT, max_span_width=L, relation_pairs="all").read(str(path)))
    assert len(instances) == sum(1 for d in docs for s in d["sentences"] if s)
    if which != "predictor":
        first = instances[0]["metadata"].metadata
        assert len(first["gold_entities"]) == len(enumerate_spans(len(DOC_A["sentences"][0]), L))


def test_dump_line_shifts_per_sentence_output(forced_predictor):
    output = {
        "doc_key": "d",
        "sentence_index": 1,
        "sentence_start": 7,
        "predicted_ner": [[0, 1, "Task", 0.9], [3, 3, None, 0.6]],
        "predicted_relations": [[0, 1, 3, 3, "USED-FOR", 0.8]],
    }
    original = json.loads(json.dumps(output))
    dumped = json.loads(forced_predictor.dump_line(output))
    assert dumped["predicted_ner"] == [[7, 8, "Task", 0.9], [10, 10, None, 0.6]]
    assert dumped["predicted_relations"] == [[7, 8, 10, 10, "USED-FOR", 0.8]]
    assert dumped["sentence_start"] == 7 and dumped["doc_key"] == "d"
    assert output == original  # the caller's dict is not modified
    # sentence 0 (or an unknown start) keeps its offsets
    for start in (0, None):
        same = json.loads(forced_predictor.dump_line(dict(output, sentence_start=start)))
        assert same["predicted_ner"] == output["predicted_ner"]


def test_dump_line_on_a_real_sentence_instance(forced_predictor, reader, tmp_path):
    # What `allennlp predict --use-dataset-reader` produces: one output per sentence instance.
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(DOC_A) + "\n", encoding="utf-8")
    instances = list(reader.read(str(path)))
    assert [i["metadata"].metadata["sentence_start"] for i in instances] == [0, 6]
    output = forced_predictor.predict_instance(instances[1])
    assert output["sentence_start"] == 6 and "sentences" not in output
    dumped = json.loads(forced_predictor.dump_line(output))
    assert spans(dumped["predicted_ner"]) == expected_ner(DOC_A["sentences"])[1]
    document_level = forced_predictor.predict_json(DOC_A)
    assert sorted(dumped["predicted_ner"]) == sorted(document_level["predicted_ner"][1])


# ---------------------------------------------------------------- sentences per pass
def test_sentences_go_through_the_model_sorted_by_length_in_capped_passes(vocab, reader, monkeypatch) -> None:
    torch.manual_seed(0)
    model = NerRe(vocab, embedder=make_embedder(), max_span_width=L, span_width_dim=8, span_hidden_dim=8,
                  relation_hidden_dim=8)
    documents = [json.loads(line) for line in open(TRAIN, encoding="utf-8")][:4]
    lengths = [len(s) for d in documents for s in d["sentences"]]
    assert len(lengths) > 5 and len(set(lengths)) > 3
    results = {}
    for per_pass in (1, 3, 1000):
        predictor = ErePredictor(model, reader, sentences_per_pass=per_pass)
        passes: List[List[int]] = []
        original = predictor.predict_batch_instance

        def recording(instances, original=original, passes=passes):
            passes.append([len(i["tokens"]) for i in instances])
            return original(instances)

        monkeypatch.setattr(predictor, "predict_batch_instance", recording)
        results[per_pass] = predictor.predict_batch_json(documents)
        assert [n for p in passes for n in p] == sorted(lengths)
        assert all(len(p) <= per_pass for p in passes) and len(passes) == -(-len(lengths) // per_pass)
    for per_pass in (1, 3):  # the same predictions, in the same places, to float rounding
        for got, expected in zip(results[per_pass], results[1000]):
            for key in ("predicted_ner", "predicted_relations"):
                assert [[r[:-1] for r in s] for s in got[key]] == [[r[:-1] for r in s] for s in expected[key]]
                assert [r[-1] for s in got[key] for r in s] == pytest.approx(
                    [r[-1] for s in expected[key] for r in s], abs=1e-5)
    assert sum(len(s) for r in results[1000] for s in r["predicted_ner"]) > 0
    with pytest.raises(Exception, match="sentences_per_pass must be at least 1"):
        ErePredictor(model, reader, sentences_per_pass=0)
