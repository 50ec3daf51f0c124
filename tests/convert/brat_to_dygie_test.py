"""brat -> DyGIE on constructed documents: every case the converter cannot carry over, counted
by hand (tests/convert/brat_fixtures.py), and the documents it writes."""
import pytest

from ere_allennlp.convert import report as reasons
from ere_allennlp.convert.brat import parse_standoff
from ere_allennlp.convert.brat_to_dygie import brat_document, brat_files, read_brat
from ere_allennlp.convert.keys import UniqueKeys
from ere_allennlp.convert.report import ConvertError, Report
from tests.convert.brat_fixtures import (DOC1_ANN, DOC1_DYGIE, DOC1_SKIPPED, DOC1_TEXT, DOC2_ANN, DOC2_DYGIE,
                                         DOC2_TEXT, write_brat)


@pytest.fixture
def corpus(tmp_path):
    return write_brat(tmp_path / "brat", {"doc1": (DOC1_TEXT, DOC1_ANN), "doc2": (DOC2_TEXT, DOC2_ANN),
                                          "doc3": ("No annotations here.\n", None)})


def test_documents_are_the_hand_made_ones(corpus):
    report = Report("brat", "dygie")
    documents = read_brat([str(corpus)], report, UniqueKeys())
    assert documents == [DOC1_DYGIE, DOC2_DYGIE]


def test_every_item_not_carried_over_is_reported_with_file_line_and_reason(corpus):
    report = Report("brat", "dygie")
    read_brat([str(corpus)], report, UniqueKeys())
    ann = str(corpus / "doc1.ann")
    expected = [(f"{ann}:{line}", reason) for line, reason in DOC1_SKIPPED] + [(str(corpus / "doc3.txt"),
                                                                                 reasons.NO_ANN)]
    assert sorted((i.where, i.reason) for i in report.skipped) == sorted(expected)
    assert sorted((i.where, i.reason) for i in report.changed) == [
        (f"{ann}:12", reasons.WHITESPACE_TRIMMED), (f"{corpus / 'doc2.ann'}:1", reasons.SENTENCES_MERGED)]
    assert report.tokens_split == 1  # AcmeCorp at 19
    # read: 13 + 1 T lines, 9 R lines (the duplicate R1 included), 3 documents
    assert (report.read.documents, report.read.entities, report.read.relations) == (3, 14, 9)


def test_skip_reasons_per_kind(corpus):
    report = Report("brat", "dygie")
    read_brat([str(corpus)], report, UniqueKeys())
    assert report.skipped_by_reason("entity") == {
        reasons.SAME_SPAN: 1, reasons.DISCONTINUOUS: 1, reasons.TEXT_MISMATCH: 1, reasons.OUTSIDE_TEXT: 1,
        reasons.EMPTY_SPAN: 1, reasons.MALFORMED: 1}
    assert report.skipped_by_reason("relation") == {
        reasons.SAME_PAIR: 1, reasons.CROSS_SENTENCE: 1, reasons.MISSING_ARGUMENT: 2, reasons.DUPLICATE_ID: 1,
        reasons.MALFORMED: 1}
    assert report.skipped_by_reason("other") == {
        reasons.EVENT: 1, reasons.ATTRIBUTE: 1, reasons.NOTE: 1, reasons.NORMALIZATION: 1, reasons.EQUIVALENCE: 1}


def test_missing_argument_says_why():
    report = Report("brat", "dygie")
    standoff = parse_standoff(DOC1_ANN, "d.ann", report)
    brat_document("d", DOC1_TEXT, standoff, "d.ann", report)
    details = [i.detail for i in report.skipped if i.reason == reasons.MISSING_ARGUMENT]
    assert details == ["R5: T9 (not carried over)", "R6: T99 (no such entity)"]


def test_files_are_read_in_sorted_order_and_keys_stay_unique(tmp_path):
    folder = write_brat(tmp_path / "b", {"z": ("Z.\n", ""), "a": ("A.\n", "")})
    write_brat(folder / "sub", {"a": ("B.\n", "")})
    assert [key for key, _ in brat_files([str(folder)])] == ["a", "sub/a", "z"]
    report = Report("brat", "dygie")
    documents = read_brat([str(folder / "a.txt"), str(folder / "sub" / "a.ann")], report, UniqueKeys())
    assert [d["doc_key"] for d in documents] == ["a", "a_2"]
    assert report.changed_by_reason() == {reasons.DOC_KEY_CHANGED: 1}


def test_an_input_that_is_no_brat_document_is_one_clear_error(tmp_path):
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ConvertError, match=r"x.json: neither a folder nor a brat .txt / .ann file"):
        brat_files([str(tmp_path / "x.json")])
