"""What the component stores on a Doc, by hand (no model) and from a trained a4: the SpanGroup,
``span._.ere_prob``, the relations in ``doc.user_data`` read as ``doc._.ere_relations``, and that
``DocBin`` and ``Doc.to_bytes`` round trips keep them all."""
import json
import subprocess
import sys

import spacy
from spacy.tokens import Doc, DocBin

from ere_allennlp.spacy_component import storage
from tests.conftest import REPO_ROOT
from tests.spacy_component.conftest import TEXTS, summary

WORDS = ["We", "use", "neural", "machine", "translation", "for", "parsing", "."]


def hand_written() -> Doc:
    doc = Doc(spacy.blank("en").vocab, words=WORDS)
    # nested: "neural machine translation" holds "machine translation"
    entities = [(3, 5, "Task", 0.6), (2, 5, "Method", 0.9), (6, 7, "Task", 0.8)]
    relations = [(2, 5, 6, 7, "USED-FOR", 0.7), (3, 5, 2, 5, "PART-OF", 0.55)]
    storage.write(doc, "ere", entities, relations, [(0, 8)])
    return doc


def rows(doc: Doc, spans_key: str = "ere"):
    return summary(doc, spans_key)


def test_write_and_read() -> None:
    doc = hand_written()
    assert [(s.start, s.end, s.label_, s._.ere_prob) for s in doc.spans["ere"]] == [
        (2, 5, "Method", 0.9), (3, 5, "Task", 0.6), (6, 7, "Task", 0.8)]  # sorted by (start, end)
    assert [(r.head.text, r.head.label_, r.tail.text, r.label, r.probability) for r in doc._.ere_relations] == [
        ("neural machine translation", "Method", "parsing", "USED-FOR", 0.7),
        ("machine translation", "Task", "neural machine translation", "PART-OF", 0.55)]
    assert doc.user_data[("ere_allennlp", "relations", "ere")]["relations"][0] == [2, 5, 6, 7, "USED-FOR", 0.7]
    assert storage.sentences(doc) == [(0, 8)] and storage.spans_keys(doc) == ["ere"]
    assert list(doc.ents) == []  # set_ents is off
    assert doc.spans["ere"][0]._.ere_prob == doc[2:5]._.ere_prob == 0.9  # by character offsets
    # a second write replaces the first, probabilities of spans no longer there included
    storage.write(doc, "ere", [(6, 7, "Task", 0.3)], [], [(0, 8)], set_ents=True)
    assert rows(doc) == {"entities": [(6, 7, "Task", 0.3)], "relations": []}
    assert doc[2:5]._.ere_prob is None and [(e.text, e.label_) for e in doc.ents] == [("parsing", "Task")]


def test_set_ents_keeps_the_longest_of_overlapping_entities() -> None:
    doc = Doc(spacy.blank("en").vocab, words=WORDS, ents=["B-X", "O", "O", "O", "O", "O", "O", "O"])
    storage.write(doc, "ere", [(3, 5, "Task", 0.6), (2, 5, "Method", 0.9), (6, 7, "Task", 0.8)], [], [(0, 8)],
                  set_ents=True)
    assert [(e.start, e.end, e.label_, e._.ere_prob) for e in doc.ents] == [(2, 5, "Method", 0.9), (6, 7, "Task", 0.8)]
    assert doc[0].ent_iob_ == "O"  # the earlier entity is replaced


def test_docbin_and_to_bytes_round_trips() -> None:
    doc = hand_written()
    vocab = spacy.blank("en").vocab
    binned = DocBin(store_user_data=True)
    binned.add(doc)
    back = list(DocBin().from_bytes(binned.to_bytes()).get_docs(vocab))[0]
    assert rows(back) == rows(doc) and storage.sentences(back) == [(0, 8)]
    assert isinstance(back.user_data[storage.storage_key("ere")]["relations"], tuple)  # msgpack: tuples
    assert rows(Doc(vocab).from_bytes(doc.to_bytes())) == rows(doc)
    # without store_user_data, DocBin keeps the spans only (docs/spacy.md says so)
    plain = DocBin()
    plain.add(doc)
    bare = list(DocBin().from_bytes(plain.to_bytes()).get_docs(vocab))[0]
    assert [(s.start, s.end, s.label_) for s in bare.spans["ere"]] == [r[:3] for r in rows(doc)["entities"]]
    assert bare._.ere_relations == [] and bare.spans["ere"][0]._.ere_prob is None


def test_docbin_round_trip_of_the_components_output(a4_nlp, tmp_path) -> None:
    docs = list(a4_nlp.pipe(TEXTS))
    expected = [rows(doc) for doc in docs]
    assert sum(len(e["relations"]) for e in expected) >= 5
    DocBin(docs=docs, store_user_data=True).to_disk(tmp_path / "docs.spacy")
    back = list(DocBin().from_disk(tmp_path / "docs.spacy").get_docs(spacy.blank("en").vocab))
    assert [rows(doc) for doc in back] == expected
    assert [doc.text for doc in back] == TEXTS
    # in a fresh process, importing the package registers the extensions: nothing else is needed
    script = ("import json, sys, spacy; from spacy.tokens import DocBin; import ere_allennlp.spacy_component; "
              f"docs = DocBin().from_disk({str(tmp_path / 'docs.spacy')!r}).get_docs(spacy.blank('en').vocab); "
              "print(json.dumps([[[r.head.start, r.head.end, r.tail.start, r.tail.end, r.label, r.probability] "
              "for r in d._.ere_relations] for d in docs]))")
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert [[tuple(r) for r in doc] for doc in json.loads(out.stdout.splitlines()[-1])] == \
        [e["relations"] for e in expected]
