"""`convert` end to end: brat -> DyGIE -> brat round trips, DyGIE predictions -> brat, SpERT ->
DyGIE read back by the package's reader, and outputs written atomically."""
import json
from pathlib import Path

import pytest

from ere_allennlp.convert import report as reasons
from ere_allennlp.convert.report import ConvertError
from ere_allennlp.convert.run import convert
from ere_allennlp.dataset_readers.ere_json import read_documents
from tests.conftest import REPO_ROOT
from tests.convert.brat_fixtures import CLEAN_ANN, CLEAN_TEXT, DOC1_ANN, DOC1_TEXT, write_brat


def _annotations(ann: Path):
    """The T lines as (type, start, end, text) and the R lines as (type, Arg1's T, Arg2's T), by content."""
    entities, relations = {}, []
    for line in ann.read_text(encoding="utf-8").splitlines():
        fields = line.split("\t")
        if line.startswith("T"):
            kind, start, end = fields[1].split()
            entities[fields[0]] = (kind, int(start), int(end), fields[2])
        elif line.startswith("R"):
            kind, arg1, arg2 = fields[1].split()
            relations.append((kind, arg1.split(":")[1], arg2.split(":")[1]))
    resolved = {(kind, entities[a], entities[b]) for kind, a, b in relations}
    return set(entities.values()), resolved


def test_brat_to_dygie_to_brat_keeps_every_t_and_r_with_the_original_text(tmp_path):
    brat = write_brat(tmp_path / "brat", {"clean": (CLEAN_TEXT, CLEAN_ANN), "sub/other": ("One entity.\n",
                                                                                          "T1\tX 4 10\tentity\n")})
    dygie = tmp_path / "train.json"
    first = convert("brat", "dygie", [str(brat)], str(dygie))
    assert (first.read.entities, first.read.relations) == (6, 3) and not first.skipped and not first.changed
    assert (first.written.documents, first.written.sentences, first.written.entities) == (2, 3, 6)
    back = tmp_path / "back"
    second = convert("dygie", "brat", [str(dygie)], str(back), text_dir=str(brat))
    assert not second.skipped and not second.changed
    for name in ("clean", "sub/other"):
        assert (back / f"{name}.txt").read_bytes() == (brat / f"{name}.txt").read_bytes()
        assert _annotations(back / f"{name}.ann") == _annotations(brat / f"{name}.ann")


def test_without_the_text_the_text_is_rebuilt_and_the_annotations_cover_the_same_words(tmp_path):
    brat = write_brat(tmp_path / "brat", {"clean": (CLEAN_TEXT, CLEAN_ANN)})
    convert("brat", "dygie", [str(brat)], str(tmp_path / "d.json"))
    convert("dygie", "brat", [str(tmp_path / "d.json")], str(tmp_path / "back"))
    assert (tmp_path / "back/clean.txt").read_text() == "We parse trees with CRF .\nParsing helps MT .\n"
    entities, relations = _annotations(tmp_path / "back/clean.ann")
    original_entities, original_relations = _annotations(brat / "clean.ann")
    assert {(k, text) for k, _, _, text in entities} == {(k, text) for k, _, _, text in original_entities}
    assert len(relations) == len(original_relations) == 3


def test_predictions_become_brat_with_their_probabilities_as_notes(tmp_path):
    predictions = tmp_path / "predictions.json"
    records = [
        {"doc_key": "p/1", "sentences": [["Parsing", "with", "CRF", "."]],
         "predicted_ner": [[[0, 0, "Task", 0.91], [2, 2, "Method", 0.5]]],
         "predicted_relations": [[[2, 2, 0, 0, "USED-FOR", 0.75], [2, 2, 1, 1, "USED-FOR", 0.4]]]},
        {"doc_key": "p/2", "error": "the model failed"},
    ]
    predictions.write_text("".join(json.dumps(r) + "\n" for r in records))
    report = convert("dygie", "brat", [str(predictions)], str(tmp_path / "view"))
    assert (tmp_path / "view/p/1.ann").read_text() == (
        "T1\tTask 0 7\tParsing\nT2\tMethod 13 16\tCRF\nR1\tUSED-FOR Arg1:T2 Arg2:T1\n"
        "#1\tAnnotatorNotes T1\tp=0.9100\n#2\tAnnotatorNotes T2\tp=0.5000\n#3\tAnnotatorNotes R1\tp=0.7500\n")
    assert (report.read.documents, report.read.entities, report.read.relations) == (2, 2, 2)
    assert (report.written.documents, report.written.entities, report.written.relations, report.written.notes) == (
        1, 2, 1, 3)
    assert sorted(report.skipped_by_reason().items()) == sorted([(reasons.MISSING_ARGUMENT, 1), (reasons.ERROR_RECORD, 1)])
    gold = tmp_path / "gold.json"
    gold.write_text(json.dumps({"doc_key": "g", "sentences": [["a"]], "ner": [[]], "relations": [[]]}) + "\n")
    with pytest.raises(ConvertError, match=r"gold.json:1: field 'predicted_ner': missing"):
        convert("dygie", "brat", [str(gold)], str(tmp_path / "v2"), annotations="predicted")


def test_tokens_that_are_not_the_texts_are_one_clear_error(tmp_path):
    gold = tmp_path / "gold.json"
    gold.write_text(json.dumps({"doc_key": "d", "sentences": [["Other", "words"]], "ner": [[]],
                                "relations": [[]]}) + "\n")
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts/d.txt").write_text("Some text.\n")
    with pytest.raises(ConvertError, match=r"gold.json:1: token 0 'Other' is not the next text of the .txt"):
        convert("dygie", "brat", [str(gold)], str(tmp_path / "view"), text_dir=str(tmp_path / "texts"))
    assert not (tmp_path / "view").exists()


def test_spert_to_dygie_is_what_the_reader_reads(tmp_path):
    out = tmp_path / "conll04.json"
    report = convert("spert", "dygie", [str(REPO_ROOT / "fixtures/conll04/train.json")], str(out))
    documents = [document for _, document in read_documents(str(out))]
    assert len(documents) == report.written.documents == report.read.documents
    assert sum(len(e) for d in documents for e in d.entities) == report.written.entities
    assert sum(len(r) for d in documents for r in d.relations) == report.written.relations


def test_a_failed_run_leaves_no_output_and_an_old_one_unchanged(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps([{"tokens": ["a"], "entities": []}]))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"tokens": ["a"], "entities": [{"type": "X", "start": 0, "end": 5}]}]))
    out = tmp_path / "out.json"
    with pytest.raises(ConvertError, match="bad.json: record 0: field 'entities"):
        convert("spert", "dygie", [str(good), str(bad)], str(out))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json", "good.json"]
    convert("spert", "dygie", [str(good)], str(out))
    before = out.read_bytes()
    with pytest.raises(ConvertError, match="exists"):
        convert("spert", "dygie", [str(good)], str(out))
    with pytest.raises(ConvertError, match="bad.json"):
        convert("spert", "dygie", [str(bad)], str(out), force=True)
    assert out.read_bytes() == before
    brat = write_brat(tmp_path / "brat", {"d": (DOC1_TEXT, DOC1_ANN)})
    convert("brat", "dygie", [str(brat)], str(out), force=True)
    assert out.read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json", "brat", "good.json", "out.json"]


def test_unknown_formats_and_no_input_are_errors(tmp_path):
    with pytest.raises(ConvertError, match="cannot convert 'spert' to 'spert'"):
        convert("spert", "spert", ["x"], str(tmp_path / "o"))
    with pytest.raises(ConvertError, match="no input given"):
        convert("spert", "dygie", [], str(tmp_path / "o"))
