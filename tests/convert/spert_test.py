"""SpERT JSON -> DyGIE: records, keys, the same span and pair reported, malformed records one line each."""
import json

import pytest

from ere_allennlp.convert import report as reasons
from ere_allennlp.convert.keys import UniqueKeys
from ere_allennlp.convert.report import ConvertError, Report
from ere_allennlp.convert.spert import read_spert

RECORDS = [
    {"tokens": ["John", "Smith", "lives", "in", "New", "York", "."], "orig_id": 7,
     "entities": [{"type": "Peop", "start": 0, "end": 2}, {"type": "Loc", "start": 4, "end": 6},
                  {"type": "Org", "start": 4, "end": 6}],  # same span as entities[1]
     "relations": [{"type": "Live_In", "head": 0, "tail": 1},
                   {"type": "Located_In", "head": 0, "tail": 2}]},  # entities[2] -> [1]: same pair
    {"tokens": ["Hi", "."], "entities": [], "relations": []},
    {"tokens": ["Again", "."], "orig_id": 7, "entities": [{"type": "Other", "start": 0, "end": 1}]},
]


def _write(tmp_path, records, name="train.json"):
    path = tmp_path / name
    path.write_text(json.dumps(records))
    return str(path)


def test_records_become_one_document_each(tmp_path):
    path = _write(tmp_path, RECORDS)
    report = Report("spert", "dygie")
    documents = read_spert(path, report, UniqueKeys())
    assert documents == [
        {"doc_key": "7", "sentences": [RECORDS[0]["tokens"]], "ner": [[[0, 1, "Peop"], [4, 5, "Loc"]]],
         "relations": [[[0, 1, 4, 5, "Live_In"]]]},
        {"doc_key": "train-1", "sentences": [["Hi", "."]], "ner": [[]], "relations": [[]]},
        {"doc_key": "7_2", "sentences": [["Again", "."]], "ner": [[[0, 0, "Other"]]], "relations": [[]]},
    ]
    assert (report.read.documents, report.read.sentences, report.read.entities, report.read.relations) == (3, 3, 4, 2)
    assert [(i.where, i.reason) for i in report.skipped] == [
        (f"{path}: record 0: entities[2]", reasons.SAME_SPAN), (f"{path}: record 0: relations[1]", reasons.SAME_PAIR)]
    assert [(i.where, i.reason) for i in report.changed] == [(f"{path}: record 2", reasons.DOC_KEY_CHANGED)]


GOOD = {"tokens": ["a", "b"], "entities": [{"type": "X", "start": 0, "end": 1}], "relations": []}


@pytest.mark.parametrize("record, message", [
    ("oops", r"record 1: field '<record>': expected a JSON object, got str"),
    ({"entities": []}, r"record 1: field 'tokens': missing or not a list"),
    ({"tokens": ["a", " "]}, r"record 1: field 'tokens\[1\]': expected a non-blank string"),
    ({"tokens": ["a"], "entities": {}}, r"record 1: field 'entities': expected a list, got dict"),
    ({"tokens": ["a"], "entities": [{"type": "X", "start": 0, "end": 2}]},
     r"record 1: field 'entities\[0\]': needs 0 <= start < end <= 1 tokens \(end exclusive\), got start 0, end 2"),
    ({"tokens": ["a"], "entities": [{"type": "X", "start": 0, "end": 0}]}, r"field 'entities\[0\]': needs 0 <= start"),
    ({"tokens": ["a"], "entities": [{"type": 3, "start": 0, "end": 1}]}, r"field 'entities\[0\].type': expected a"),
    ({"tokens": ["a"], "entities": [{"type": "X", "start": "0", "end": 1}]}, r"field 'entities\[0\].start': expected an"),
    ({"tokens": ["a"], "entities": [{"type": "X", "start": True, "end": 1}]}, r"field 'entities\[0\].start'"),
    ({"tokens": ["a"], "entities": [{"type": "X", "start": 0, "end": 1}], "relations": [{"type": "R", "head": 0,
                                                                                         "tail": 1}]},
     r"record 1: field 'relations\[0\].tail': indexes entities, which has 1; got 1"),
    ({"tokens": ["a"], "relations": [{"type": "R", "head": 0}]}, r"field 'relations\[0\].tail': expected an integer"),
])
def test_a_malformed_record_is_one_line_naming_file_record_and_field(tmp_path, record, message):
    path = _write(tmp_path, [GOOD, record])
    with pytest.raises(ConvertError, match=message) as error:
        read_spert(path, Report("spert", "dygie"), UniqueKeys())
    assert str(error.value).startswith(f"{path}: record 1: field ")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("content, message", [
    ("[{", r"malformed JSON"), ('{"tokens": []}', r"expected a JSON array of sentences, got dict"),
    (b"\xff\xfe[]", r"not UTF-8 text"),
])
def test_a_file_that_is_no_spert_json_is_one_line(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ConvertError, match=f"{path}: {message}"):
        read_spert(str(path), Report("spert", "dygie"), UniqueKeys())
    with pytest.raises(ConvertError, match="no such file"):
        read_spert(str(tmp_path / "missing.json"), Report("spert", "dygie"), UniqueKeys())
