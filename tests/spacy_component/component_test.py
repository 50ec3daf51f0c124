"""The ``ere_allennlp`` component over a trained a4 (tests/spacy_component/conftest.py): what the
model reads of a Doc, that its output is ``allennlp predict``'s on the same tokens, batching,
awkward Docs (empty, one token, whitespace, 2000 tokens, a sentence longer than the encoder's
window), ``set_ents``, ``entity_null_offset``, spans keys and devices."""
import json
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest
import spacy
from spacy.tokens import Doc
from transformers import AutoTokenizer

from ere_allennlp.predictors.ere import split_text
from ere_allennlp.spacy_component.component import EreComponent, doc_predictions, is_blank
from tests.conftest import REPO_ROOT
from tests.spacy_component.conftest import TEXTS, Archives, assert_same, entity_rows, pipeline, summary


def allennlp_predict(archive: str, records: List[Dict[str, Any]], tmp_path: Path) -> List[Dict[str, Any]]:
    """`allennlp predict` (the command, in this process) on DyGIE documents."""
    from allennlp.commands import main

    data, out = tmp_path / "input.jsonl", tmp_path / "output.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    argv = ["allennlp", "predict", archive, str(data), "--predictor", "ere", "--silent", "--output-file", str(out),
            "--cuda-device", "-1"]
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(sys, "argv", argv)
        main(prog="allennlp")
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def independent_input(doc: Doc) -> Dict[str, Any]:
    """What the model should read of `doc`, worked out here: the sentences (doc.sents, else the
    blank pipeline's sentencizer run on a copy), without whitespace and zero-width-space tokens."""
    if not doc.has_annotation("SENT_START"):
        sentencizer = spacy.blank("en")
        sentencizer.add_pipe("sentencizer")
        doc = sentencizer(doc.copy())
    sentences = [[t for t in sent if not t.is_space and t.text != "\u200b"] for sent in doc.sents]
    sentences = [s for s in sentences if s]
    return {"sentences": [[t.text for t in s] for s in sentences], "tokens": [t.i for s in sentences for t in s]}


def expected_rows(result: Dict[str, Any], tokens: List[int]) -> Dict[str, List[tuple]]:
    """The predictor's result in Doc offsets (ends exclusive), entities sorted as the SpanGroup is."""
    entities = sorted(((tokens[s], tokens[e] + 1, label, p) for sent in result["predicted_ner"] for s, e, label, p in sent),
                      key=lambda row: row[:2])
    relations = [(tokens[a], tokens[b] + 1, tokens[c], tokens[d] + 1, label, p)
                 for sent in result["predicted_relations"] for a, b, c, d, label, p in sent]
    return {"entities": entities, "relations": relations}


def test_the_model_reads_the_docs_tokens_and_sentences(a4_nlp) -> None:
    component = a4_nlp.get_pipe("ere_allennlp")
    for text in TEXTS:
        doc = a4_nlp.make_doc(text)
        item = component.model_input(doc)
        expected = independent_input(doc)
        assert item.record["sentences"] == expected["sentences"]
        assert item.tokens == expected["tokens"]
        if "\u200b" not in text:  # the predictor's own raw-text splitting gives the same input
            assert item.record["sentences"] == split_text(text)
        assert not doc.has_annotation("SENT_START")  # the sentencizer's boundaries are not set on the Doc
    # spaCy splits what the corpus keeps whole ("graph based" is two corpus tokens, "graph-based" three here)
    assert ["graph", "-", "based"] == component.model_input(a4_nlp.make_doc(TEXTS[2])).record["sentences"][1][1:4]
    assert "does" in component.model_input(a4_nlp.make_doc(TEXTS[3])).record["sentences"][1]


def test_entities_and_relations_equal_allennlp_predict(archives: Archives, a4_nlp, tmp_path: Path) -> None:
    docs = [a4_nlp.make_doc(text) for text in TEXTS]
    # A Doc with its own sentence boundaries, not the sentencizer's: the model reads those.
    words = ["We", "propose", "a", "neural", "network", "model", "for", "machine", "translation", "The", "model",
             "is", "evaluated", "with", "BLEU", "score", "."]
    starts = [True] + [False] * 5 + [True] + [False] * 10
    docs.append(Doc(a4_nlp.vocab, words=words, sent_starts=starts))
    inputs = [independent_input(doc) for doc in docs]
    assert inputs[-1]["sentences"][1] == ["for", "machine", "translation", "The", "model", "is", "evaluated", "with",
                                          "BLEU", "score", "."]
    results = allennlp_predict(archives.a4, [{"doc_key": f"d{n}", "sentences": i["sentences"]}
                                             for n, i in enumerate(inputs)], tmp_path)
    annotated = list(a4_nlp.pipe(docs, batch_size=4))
    got = [summary(doc) for doc in annotated]
    expected = [expected_rows(result, item["tokens"]) for result, item in zip(results, inputs)]
    for n, (g, e) in enumerate(zip(got, expected)):
        assert_same(g, e)
    assert sum(len(g["entities"]) for g in got) >= 15 and sum(len(g["relations"]) for g in got) >= 5
    # every Doc but TEXTS[5] (a corpus sentence without entities) has entities
    assert [bool(g["entities"]) for g in got] == [True] * 5 + [False, True]
    # the spans cover exactly the model's tokens of each prediction (whitespace inside, if any)
    for doc, result, item in zip(annotated, results, inputs):
        words = [w for sentence in item["sentences"] for w in sentence]
        predicted = {(s, e): label for sent in result["predicted_ner"] for s, e, label, _ in sent}
        spans = {tuple(t.text for t in span if not is_blank(t)): span.label_ for span in doc.spans["ere"]}
        assert spans == {tuple(words[s:e + 1]): label for (s, e), label in predicted.items()}


def test_pipe_equals_single_calls_in_one_forward_pass_per_batch(a4_nlp, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = TEXTS + ["", "A", "   "] + TEXTS[:3]  # 12 texts: batches of 5 -> 5, 5, 2
    singles = [summary(a4_nlp(text)) for text in texts]
    predictor = a4_nlp.get_pipe("ere_allennlp").extractor.predictor
    passes: List[List[str]] = []
    original = predictor.predict_batch_instance

    def counting(instances):
        passes.append(sorted({instance["metadata"]["doc_key"] for instance in instances}))
        return original(instances)

    monkeypatch.setattr(predictor, "predict_batch_instance", counting)
    piped = [summary(doc) for doc in a4_nlp.pipe(texts, batch_size=5)]
    for got, expected in zip(piped, singles):
        assert_same(got, expected)
    assert sum(len(s["relations"]) for s in singles) >= 5
    # one forward pass per batch of 5; in the second, "" and "   " (its documents 1 and 3) are not sent
    assert passes == [[f"spacy doc {n}" for n in range(5)], ["spacy doc 0", "spacy doc 2", "spacy doc 4"],
                      ["spacy doc 0", "spacy doc 1"]]


def test_batch_size_caps_the_documents_of_a_forward_pass(archives: Archives, monkeypatch: pytest.MonkeyPatch) -> None:
    nlp = pipeline(archives.a4, batch_size=2)
    predictor = nlp.get_pipe("ere_allennlp").extractor.predictor
    sizes: List[int] = []
    original = predictor.predict_batch_instance
    monkeypatch.setattr(predictor, "predict_batch_instance",
                        lambda instances: sizes.append(len({i["metadata"]["doc_key"] for i in instances})) or original(instances))
    list(nlp.pipe(TEXTS, batch_size=1000))  # spaCy's default buffer: passes of 2 documents
    assert sizes == [2, 2, 2]


def test_empty_whitespace_and_one_token_docs(a4_nlp) -> None:
    for text in ["", " ", "\n\n\t", "\u200b", " \u200b \n", "A", "translation", "Hello . \u200b"]:
        doc = a4_nlp(text)
        assert all(0 <= s.start < s.end <= len(doc) for s in doc.spans["ere"])
        assert all(not is_blank(s[0]) and not is_blank(s[-1]) for s in doc.spans["ere"])
        if not text.strip(" \n\t\u200b"):
            assert list(doc.spans["ere"]) == [] and doc._.ere_relations == []
    one = a4_nlp("model")
    assert [len(s) for s in a4_nlp.get_pipe("ere_allennlp").model_input(one).record["sentences"]] == [1]


def test_whitespace_tokens_are_dropped_and_offsets_mapped_back(a4_nlp) -> None:
    plain = a4_nlp(TEXTS[0])
    spaced = a4_nlp("  " + TEXTS[0].replace(" neural ", " neural  \n ").replace(". The", ".\n\n The") + "\n")
    assert len(spaced) > len(plain) and any(t.is_space for t in spaced)
    words = lambda doc: [(tuple(t.text for t in s if not t.is_space), s.label_) for s in doc.spans["ere"]]
    assert words(spaced) == words(plain) and len(words(plain)) >= 4
    assert any(any(t.is_space for t in span) for span in spaced.spans["ere"])  # "neural \n network model"
    assert [(r.head.text.split(), r.tail.text.split(), r.label) for r in spaced._.ere_relations] == \
        [(r.head.text.split(), r.tail.text.split(), r.label) for r in plain._.ere_relations]
    assert all(not s[0].is_space and not s[-1].is_space for s in spaced.spans["ere"])


def test_long_docs(a4_nlp) -> None:
    """2000 tokens in sentences, and one sentence longer than the encoder's 512 word pieces (the
    embedder folds it into windows)."""
    text = " ".join(TEXTS[:4]).replace("\n", " ")
    long_text = " ".join([text] * (2000 // len(a4_nlp.make_doc(text)) + 1))
    doc = a4_nlp(long_text)
    assert len(doc) >= 2000
    assert len(doc.spans["ere"]) >= 100 and len(doc._.ere_relations) >= 30
    first = summary(a4_nlp(text))
    assert_same({"entities": summary(doc)["entities"][:len(first["entities"])]}, {"entities": first["entities"]})
    sentence = " ".join(["neural network model for machine translation"] * 110)
    tokenizer = AutoTokenizer.from_pretrained(str(REPO_ROOT / "fixtures/tiny_bert"))
    assert len(tokenizer.tokenize(sentence)) > 600
    doc = a4_nlp(sentence)
    assert len(a4_nlp.get_pipe("ere_allennlp").model_input(doc).record["sentences"]) == 1
    assert doc.spans["ere"] and all(s.end <= len(doc) for s in doc.spans["ere"])


def test_set_ents(archives: Archives, a4_nlp) -> None:
    doc = a4_nlp.make_doc(TEXTS[0])
    doc.ents = [doc.char_span(0, 2, label="PRESET")]
    a4_nlp.get_pipe("ere_allennlp")(doc)
    assert [e.label_ for e in doc.ents] == ["PRESET"]  # untouched without set_ents
    nlp = pipeline(archives.a4, set_ents=True)
    text = "We propose a neural network model for machine translation. A neural network model is proposed."
    doc = nlp(text)
    group = [(s.start, s.end, s.label_) for s in doc.spans["ere"]]
    ents = [(e.start, e.end, e.label_) for e in doc.ents]
    assert set(ents) <= set(group) and ents and all(a[1] <= b[0] for a, b in zip(ents, ents[1:]))
    for start, end, _ in group:  # every entity left out overlaps a kept one at least as long
        if (start, end, _) not in ents:
            assert any(s < end and start < e and e - s >= end - start for s, e, _ in ents)
    assert [e._.ere_prob for e in doc.ents] == [s._.ere_prob for s in doc.spans["ere"] if (s.start, s.end, s.label_) in ents]


def test_entity_null_offset(archives: Archives, a4_nlp) -> None:
    text = " ".join(TEXTS[:4])
    spans = lambda nlp: {row[:3] for row in entity_rows(nlp(text))}
    default = spans(a4_nlp)
    assert default < spans(pipeline(archives.a4, entity_null_offset=4.0))  # a lower threshold: more, same labels
    assert spans(pipeline(archives.a4, entity_null_offset=-8.0)) < default
    with pytest.raises(ValueError, match="no module with a null entity label"):
        pipeline(archives.re, entity_null_offset=1.0)


def test_two_components_with_their_own_spans_keys(archives: Archives) -> None:
    nlp = pipeline(archives.a4)
    nlp.add_pipe("ere_allennlp", name="ner_only", config={"archive": archives.ner, "spans_key": "ner"})
    doc = nlp(TEXTS[0])
    from ere_allennlp.spacy_component import relations

    assert doc.spans["ere"] and doc.spans["ner"] and relations(doc, "ere") and relations(doc, "ner") == []
    assert {(s.start, s.end) for s in doc.spans["ere"]} == {(s.start, s.end) for s in doc.spans["ner"]}  # a4's Ner
    rows = lambda rels: [(r.head.start, r.head.end, r.tail.start, r.tail.end, r.label, r.probability) for r in rels]
    assert rows(doc._.ere_relations) == rows(relations(doc, "ere"))  # every key's relations: a4's
    again = nlp.get_pipe("ere_allennlp")(doc)  # a second run replaces its own results
    assert summary(again) == summary(nlp(TEXTS[0]))


def test_none_labels_become_placeholder_labels() -> None:
    result = {"predicted_ner": [[[0, 1, None, 0.9]], [[3, 3, "Task", 0.8]]],
              "predicted_relations": [[], [[3, 3, 3, 3, None, 0.7]]]}
    entities, relations = doc_predictions(result, [0, 2, 3, 5])
    assert entities == [(0, 3, "ENTITY", 0.9), (5, 6, "Task", 0.8)]
    assert relations == [(5, 6, 5, 6, "RELATED", 0.7)]


def test_cuda_device_reaches_the_archive(archives: Archives, pretend_cuda) -> None:
    pretend_cuda.loads.clear()
    nlp = spacy.blank("en")
    nlp.add_pipe("ere_allennlp", config={"archive": archives.a4, "cuda_device": 0})
    assert pretend_cuda.loads == [("ere_approach", 0), ("ner", 0), ("re", 0)]
    assert nlp(TEXTS[0]).spans["ere"]
    assert isinstance(nlp.get_pipe("ere_allennlp"), EreComponent)


def test_config_is_validated(archives: Archives) -> None:
    nlp = spacy.blank("en")
    with pytest.raises(Exception, match="archive"):
        nlp.add_pipe("ere_allennlp")
    with pytest.raises(Exception, match="no_such_key"):
        nlp.add_pipe("ere_allennlp", config={"archive": archives.a4, "no_such_key": 1})
