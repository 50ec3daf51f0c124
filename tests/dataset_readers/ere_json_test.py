"""Tests for the ``ere_json`` reader: DyGIE JSON lines -> one instance per non-empty sentence.

Every expected offset is worked out by hand in the comments. The input format uses DOCUMENT
offsets with inclusive ends; instances use SENTENCE-LOCAL offsets.
"""
import json
from pathlib import Path
from typing import Any, Dict, List, Sequence

import pytest
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Batch, Instance, Vocabulary
from allennlp.data.fields import AdjacencyField, SequenceLabelField
from allennlp.modules.token_embedders import PretrainedTransformerMismatchedEmbedder

from ere_allennlp.common import NULL_LABEL, Entity, Relation
from ere_allennlp.data.fields import SpanListField
from ere_allennlp.dataset_readers.ere_json import (
    EreDataError,
    EreJsonReader,
    enumerate_spans,
    parse_document,
    read_documents,
)

TINY_BERT = "fixtures/tiny_bert"  # relative to the repo root (conftest chdirs there)
TRAIN = "fixtures/data/train.json"

# Three sentences, document offsets:
#   s0 = tokens 0..4   ["We", "study", "neural", "parsing", "."]
#   s1 = tokens 5..9   ["Parsing", "uses", "beam", "search", "."]
#   s2 = tokens 10..20 ["Hidden", "Markov", "models", "are", "used", "for", "part", "of", "speech", "tagging", "."]
#   s3 = tokens 21..23 ["It", "works", "."]  (no entities)
DOC: Dict[str, Any] = {
    "doc_key": "doc1",
    "sentences": [
        ["We", "study", "neural", "parsing", "."],
        ["Parsing", "uses", "beam", "search", "."],
        ["Hidden", "Markov", "models", "are", "used", "for", "part", "of", "speech", "tagging", "."],
        ["It", "works", "."],
    ],
    "ner": [
        [[2, 3, "Task"]],  # s0 local (2, 3)
        [[5, 5, "Task"], [7, 8, "Method"]],  # s1 local (0, 0), (2, 3)
        [[10, 12, "Method"], [16, 19, "Task"]],  # s2 local (0, 2) width 3, (6, 9) width 4
        [],
    ],
    "relations": [
        [],
        [[7, 8, 5, 5, "USED-FOR"]],  # s1 local (2, 3) -> (0, 0)
        [[10, 12, 16, 19, "USED-FOR"]],  # s2 local (0, 2) -> (6, 9)
        [],
    ],
}
SENTENCE_STARTS = [0, 5, 10, 21]


def write_lines(tmp_path: Path, lines: Sequence[Any], name: str = "data.json") -> str:
    """Writes records (dicts, json-encoded) or raw strings, one per line; returns the path."""
    path = tmp_path / name
    text = "".join((line if isinstance(line, str) else json.dumps(line, ensure_ascii=False)) + "\n" for line in lines)
    path.write_text(text, encoding="utf-8")
    return str(path)


def make_reader(**kwargs) -> EreJsonReader:
    kwargs.setdefault("max_span_width", 3)
    return EreJsonReader(model_name=TINY_BERT, **kwargs)


def spans_of(instance: Instance) -> List[tuple]:
    field = instance["spans"]
    assert isinstance(field, SpanListField)
    return list(field.spans)


def labels_by_span(instance: Instance) -> Dict[tuple, str]:
    field = instance["span_labels"]
    assert isinstance(field, SequenceLabelField)
    spans = spans_of(instance)
    assert len(field.labels) == len(spans)
    return dict(zip(spans, field.labels))


def pair_labels(instance: Instance) -> Dict[tuple, str]:
    """{(head span, tail span): label} of the relation_labels field."""
    field = instance["relation_labels"]
    assert isinstance(field, AdjacencyField)
    spans = spans_of(instance)
    assert len(field.indices) == len(field.labels)
    result = {(spans[i], spans[j]): label for (i, j), label in zip(field.indices, field.labels)}
    assert len(result) == len(field.indices)  # no pair listed twice
    return result


def num_spans(n: int, max_width: int) -> int:
    return sum(n - w + 1 for w in range(1, min(n, max_width) + 1))


# ---------------------------------------------------------------- enumerate_spans
def test_enumerate_spans_small_cases():
    assert enumerate_spans(3, 2) == [(0, 0), (0, 1), (1, 1), (1, 2), (2, 2)]
    assert enumerate_spans(2, 5) == [(0, 0), (0, 1), (1, 1)]
    assert enumerate_spans(0, 3) == []
    for n in range(0, 9):
        for width in range(1, 6):
            spans = enumerate_spans(n, width)
            assert len(spans) == len(set(spans)) == num_spans(n, width)
            assert all(0 <= s <= e < n and e - s + 1 <= width for s, e in spans)


def test_bad_reader_settings_are_rejected():
    with pytest.raises(ConfigurationError, match="candidates"):
        make_reader(candidates="some")
    with pytest.raises(ConfigurationError, match="relation_pairs"):
        make_reader(relation_pairs="some")
    with pytest.raises(ConfigurationError, match="max_span_width"):
        make_reader(max_span_width=0)


# ---------------------------------------------------------------- sentences, offsets, metadata
def test_one_instance_per_sentence_with_local_gold(tmp_path):
    path = write_lines(tmp_path, [DOC])
    instances = list(make_reader().read(path))
    assert len(instances) == 4
    metas = [instance["metadata"].metadata for instance in instances]
    assert [m["doc_key"] for m in metas] == ["doc1"] * 4
    assert [m["sentence_index"] for m in metas] == [0, 1, 2, 3]
    assert [m["sentence_start"] for m in metas] == SENTENCE_STARTS
    assert [m["words"] for m in metas] == DOC["sentences"]
    assert [m["where"] for m in metas] == [f"{path}:1"] * 4
    assert all(m["has_gold"] for m in metas)
    # Worked out by hand from the document offsets in DOC.
    assert metas[0]["gold_entities"] == [Entity(2, 3, "Task")]
    assert metas[1]["gold_entities"] == [Entity(0, 0, "Task"), Entity(2, 3, "Method")]
    assert metas[2]["gold_entities"] == [Entity(0, 2, "Method"), Entity(6, 9, "Task")]
    assert metas[3]["gold_entities"] == []
    assert metas[0]["gold_relations"] == []
    assert metas[1]["gold_relations"] == [Relation(2, 3, 0, 0, "USED-FOR")]
    assert metas[2]["gold_relations"] == [Relation(0, 2, 6, 9, "USED-FOR")]
    assert metas[3]["gold_relations"] == []
    for instance, meta in zip(instances, metas):
        assert [t.text for t in instance["tokens"].tokens] == meta["words"]
        # candidate spans are sentence-local
        assert all(0 <= s <= e < len(meta["words"]) for s, e in spans_of(instance))


def test_fixture_document_by_hand():
    # train_01: sentences of 10, 11 and 5 tokens -> starts 0, 10, 21.
    instances = [
        i for i in make_reader(max_span_width=4).read(TRAIN) if i["metadata"]["doc_key"] == "train_01"
    ]
    metas = [i["metadata"].metadata for i in instances]
    assert [m["sentence_start"] for m in metas] == [0, 10, 21]
    assert [len(m["words"]) for m in metas] == [10, 11, 5]
    assert metas[0]["gold_entities"] == [Entity(3, 5, "Method"), Entity(7, 8, "Task")]
    assert metas[0]["gold_relations"] == [Relation(3, 5, 7, 8, "USED-FOR")]
    # ner [11, 11] [15, 16] [18, 19] minus 10
    assert metas[1]["gold_entities"] == [Entity(1, 1, "Generic"), Entity(5, 6, "Metric"), Entity(8, 9, "Material")]
    assert metas[1]["words"][1] == "model" and metas[1]["words"][5:7] == ["BLEU", "score"]
    # relations [15, 16, 11, 11] and [18, 19, 11, 11] minus 10
    assert metas[1]["gold_relations"] == [
        Relation(5, 6, 1, 1, "EVALUATE-FOR"),
        Relation(8, 9, 1, 1, "EVALUATE-FOR"),
    ]
    assert metas[2]["gold_entities"] == [] and metas[2]["gold_relations"] == []


def test_fixture_files_read_completely():
    reader = make_reader(max_span_width=4)
    for split, num_docs in (("train", 16), ("dev", 6), ("test", 6)):
        path = f"fixtures/data/{split}.json"
        documents = [d for _, d in read_documents(path)]
        assert len(documents) == num_docs
        instances = list(reader.read(path))
        assert len(instances) == sum(1 for d in documents for s in d.sentences if s)
        for instance in instances:
            meta = instance["metadata"].metadata
            n = len(meta["words"])
            for e in meta["gold_entities"]:
                assert 0 <= e.start <= e.end < n
            for r in meta["gold_relations"]:
                assert 0 <= r.head_start <= r.head_end < n and 0 <= r.tail_start <= r.tail_end < n


# ---------------------------------------------------------------- candidates
def test_all_candidates(tmp_path):
    path = write_lines(tmp_path, [DOC])
    instances = list(make_reader(max_span_width=3, candidates="all").read(path))
    for instance in instances:
        meta = instance["metadata"].metadata
        n = len(meta["words"])
        spans = spans_of(instance)
        assert spans == enumerate_spans(n, 3)
        assert len(spans) == num_spans(n, 3)
        assert meta["candidate_spans"] == spans
    assert [len(spans_of(i)) for i in instances] == [5 + 4 + 3, 5 + 4 + 3, 11 + 10 + 9, 3 + 2 + 1]
    # Labels: gold label on gold spans, NULL everywhere else.
    labels = labels_by_span(instances[1])
    assert labels[(0, 0)] == "Task" and labels[(2, 3)] == "Method"
    assert [label for span, label in labels.items() if span not in {(0, 0), (2, 3)}] == [NULL_LABEL] * 10
    labels = labels_by_span(instances[2])
    assert labels[(0, 2)] == "Method"
    assert (6, 9) not in labels  # width 4 > 3: not a candidate
    assert sum(label != NULL_LABEL for label in labels.values()) == 1
    assert set(labels_by_span(instances[3]).values()) == {NULL_LABEL}


def test_gold_candidates(tmp_path):
    path = write_lines(tmp_path, [DOC])
    instances = list(make_reader(max_span_width=3, candidates="gold").read(path))
    assert len(instances) == 4  # not skipped by default
    assert spans_of(instances[0]) == [(2, 3)]
    assert spans_of(instances[1]) == [(0, 0), (2, 3)]
    assert spans_of(instances[2]) == [(0, 2)]  # (6, 9) is 4 wide > max_span_width 3
    assert labels_by_span(instances[1]) == {(0, 0): "Task", (2, 3): "Method"}
    assert labels_by_span(instances[2]) == {(0, 2): "Method"}
    # A sentence without gold entities: one padding span labelled NULL (masked out of every
    # loss), so that it batches with the other sentences; still gold.
    assert spans_of(instances[3]) == [(-1, -1)]
    assert list(instances[3]["span_labels"].labels) == [NULL_LABEL]
    with_pairs = list(make_reader(max_span_width=3, candidates="gold", relation_pairs="all").read(path))
    assert with_pairs[3]["relation_labels"].indices == []
    vocab = Vocabulary.from_instances(with_pairs)
    batch = Batch(with_pairs)
    batch.index_instances(vocab)
    assert batch.as_tensor_dict()["span_labels"].shape[0] == 4
    meta = instances[3]["metadata"].metadata
    assert meta["has_gold"] and meta["candidate_spans"] == [] and meta["sentence_index"] == 3

    wide = list(make_reader(max_span_width=4, candidates="gold").read(path))
    assert spans_of(wide[2]) == [(0, 2), (6, 9)]


def test_skip_sentences_without_candidates(tmp_path):
    path = write_lines(tmp_path, [DOC])
    skipped = list(make_reader(candidates="gold", skip_sentences_without_candidates=True).read(path))
    metas = [i["metadata"].metadata for i in skipped]
    assert [m["sentence_index"] for m in metas] == [0, 1, 2]
    assert [m["sentence_start"] for m in metas] == SENTENCE_STARTS[:3]
    # With every span as a candidate no sentence is empty, so nothing is skipped.
    kept = list(make_reader(candidates="all", skip_sentences_without_candidates=True).read(path))
    assert len(kept) == 4
    # candidates="none": every sentence is without candidates.
    assert list(make_reader(candidates="none", skip_sentences_without_candidates=True).read(path)) == []
    nothing = list(make_reader(candidates="none").read(path))
    assert len(nothing) == 4
    for instance in nothing:
        assert spans_of(instance) == [(-1, -1)]
        assert list(instance["span_labels"].labels) == [NULL_LABEL]  # the padding span
        assert "relation_labels" not in instance.fields


# ---------------------------------------------------------------- relation pairs
def test_relation_pairs_all(tmp_path):
    path = write_lines(tmp_path, [DOC])
    instances = list(make_reader(max_span_width=3, candidates="all", relation_pairs="all").read(path))
    for instance in instances:
        spans = spans_of(instance)
        m = len(spans)
        field = instance["relation_labels"]
        assert sorted(field.indices) == [(i, j) for i in range(m) for j in range(m) if i != j]
        assert len(field.indices) == m * (m - 1)
        assert field._label_namespace == "relation_labels"
    pairs = pair_labels(instances[1])
    assert pairs[((2, 3), (0, 0))] == "USED-FOR"
    assert pairs[((0, 0), (2, 3))] == NULL_LABEL  # direction matters
    assert sum(label != NULL_LABEL for label in pairs.values()) == 1
    # s2: the tail (6, 9) is wider than 3, so its relation has no candidate pair.
    assert set(pair_labels(instances[2]).values()) == {NULL_LABEL}
    assert set(pair_labels(instances[0]).values()) == {NULL_LABEL}

    gold = list(make_reader(max_span_width=4, candidates="gold", relation_pairs="all").read(path))
    assert pair_labels(gold[1]) == {((0, 0), (2, 3)): NULL_LABEL, ((2, 3), (0, 0)): "USED-FOR"}
    assert pair_labels(gold[2]) == {((0, 2), (6, 9)): "USED-FOR", ((6, 9), (0, 2)): NULL_LABEL}
    assert pair_labels(gold[0]) == {}  # one candidate: no pair i != j


def test_relation_pairs_related(tmp_path):
    path = write_lines(tmp_path, [DOC])
    instances = list(make_reader(max_span_width=4, candidates="all", relation_pairs="related").read(path))
    assert pair_labels(instances[0]) == {}
    assert pair_labels(instances[1]) == {((2, 3), (0, 0)): "USED-FOR"}
    assert pair_labels(instances[2]) == {((0, 2), (6, 9)): "USED-FOR"}
    assert pair_labels(instances[3]) == {}
    gold = list(make_reader(max_span_width=4, candidates="gold", relation_pairs="related").read(path))
    assert pair_labels(gold[1]) == {((2, 3), (0, 0)): "USED-FOR"}
    assert NULL_LABEL not in {label for i in gold[:3] for label in pair_labels(i).values()}


def test_relation_pairs_none_and_no_entity_labels(tmp_path):
    path = write_lines(tmp_path, [DOC])
    for instance in make_reader(relation_pairs="none").read(path):
        assert "relation_labels" not in instance.fields
        assert "span_labels" in instance.fields
    for instance in make_reader(relation_pairs="all", entity_labels=False).read(path):
        assert "span_labels" not in instance.fields
        assert "relation_labels" in instance.fields
    for instance in make_reader(entity_labels=False).read(path):
        assert set(instance.fields) == {"tokens", "spans", "metadata"}


# ---------------------------------------------------------------- prediction input
def test_prediction_input_has_no_label_fields(tmp_path):
    record = {"doc_key": "raw", "sentences": DOC["sentences"]}
    path = write_lines(tmp_path, [record])
    instances = list(make_reader(candidates="all", relation_pairs="all").read(path))
    assert len(instances) == 4
    for instance, words in zip(instances, DOC["sentences"]):
        assert set(instance.fields) == {"tokens", "spans", "metadata"}
        meta = instance["metadata"].metadata
        assert meta["has_gold"] is False
        assert meta["gold_entities"] == [] and meta["gold_relations"] == []
        assert spans_of(instance) == enumerate_spans(len(words), 3)
    document = parse_document(record, "here")
    assert not document.has_gold
    # An empty annotation is still gold: sentences without entities count in evaluation.
    gold = parse_document({"sentences": [["a"]], "ner": [[]]}, "here")
    assert gold.has_gold and gold.entities == [[]] and gold.relations == [[]]
    # gold candidates without gold: nothing to score
    assert all(spans_of(i) == [(-1, -1)] for i in make_reader(candidates="gold").read(path))


# ---------------------------------------------------------------- indexing with the tiny BERT
def tensor_shapes(tensors: Dict[str, Any], prefix: str = "") -> Dict[str, tuple]:
    shapes = {}
    for key, value in tensors.items():
        if isinstance(value, dict):
            shapes.update(tensor_shapes(value, f"{prefix}{key}."))
        elif isinstance(value, torch.Tensor):
            shapes[prefix + key] = tuple(value.shape)
    return shapes


def test_index_a_batch(tmp_path):
    path = write_lines(tmp_path, [DOC])
    instances = list(make_reader(max_span_width=3, relation_pairs="all").read(path))
    vocab = Vocabulary.from_instances(instances)
    assert set(vocab.get_token_to_index_vocabulary("entity_labels")) == {NULL_LABEL, "Task", "Method"}
    assert set(vocab.get_token_to_index_vocabulary("relation_labels")) == {NULL_LABEL, "USED-FOR"}
    batch = Batch(instances)
    batch.index_instances(vocab)
    tensors = batch.as_tensor_dict()
    shapes = tensor_shapes(tensors)
    # 4 sentences, longest 11 words, at most 30 candidates (11 + 10 + 9). Words outside the tiny
    # vocabulary split into several word pieces, so only the word-level shapes are exact.
    assert shapes["spans"] == (4, 30, 2)
    assert shapes["span_labels"] == (4, 30)
    assert shapes["relation_labels"] == (4, 30, 30)
    assert shapes["tokens.tokens.mask"] == (4, 11)
    assert shapes["tokens.tokens.offsets"] == (4, 11, 2)
    wordpieces = shapes["tokens.tokens.token_ids"]
    assert wordpieces[0] == 4 and wordpieces[1] >= 11 + 2
    assert shapes["tokens.tokens.wordpiece_mask"] == wordpieces
    assert tensors["tokens"]["tokens"]["mask"].sum(-1).tolist() == [5, 5, 11, 3]
    # s3 has 6 candidates; AllenNLP pads span lists with -1
    assert tensors["spans"][3, 6:].eq(-1).all()
    assert tensors["spans"][2].tolist() == [list(s) for s in enumerate_spans(11, 3)]
    null = vocab.get_token_index(NULL_LABEL, "entity_labels")
    task = vocab.get_token_index("Task", "entity_labels")
    assert tensors["span_labels"][1, 0].item() == task  # span (0, 0) of s1
    assert tensors["span_labels"][1, 1].item() == null  # span (0, 1)
    used_for = vocab.get_token_index("USED-FOR", "relation_labels")
    spans1 = enumerate_spans(5, 3)
    i, j = spans1.index((2, 3)), spans1.index((0, 0))
    assert tensors["relation_labels"][1, i, j].item() == used_for
    assert tensors["relation_labels"][1, j, i].item() == vocab.get_token_index(NULL_LABEL, "relation_labels")
    # the embedder accepts the indexed batch
    embedder = PretrainedTransformerMismatchedEmbedder(model_name=TINY_BERT, sub_token_mode="first")
    assert tuple(embedder(**tensors["tokens"]["tokens"]).shape) == (4, 11, 32)


def test_sentence_longer_than_max_length_is_encoded_in_segments(tmp_path):
    words = ["translation", "model"] * 300  # 600 words, each one word piece: 602 > 512
    path = write_lines(tmp_path, [{"doc_key": "long", "sentences": [words]}])
    reader = make_reader(max_length=512, max_span_width=2)
    instances = list(reader.read(path))
    assert len(instances) == 1
    batch = Batch(instances)
    batch.index_instances(Vocabulary.from_instances(instances))
    tensors = batch.as_tensor_dict()
    token_tensors = tensors["tokens"]["tokens"]
    assert token_tensors["offsets"].shape == (1, 600, 2)
    assert token_tensors["mask"].shape == (1, 600)
    assert token_tensors["token_ids"].shape[1] > 512  # segments of <= 512, each with [CLS]/[SEP]
    assert "segment_concat_mask" in token_tensors
    assert tensors["spans"].shape == (1, num_spans(600, 2), 2)
    embedder = PretrainedTransformerMismatchedEmbedder(
        model_name=TINY_BERT, max_length=512, sub_token_mode="first"
    )
    with torch.no_grad():
        embedded = embedder(**token_tensors)
    assert tuple(embedded.shape) == (1, 600, 32)
    assert torch.isfinite(embedded).all()


# ---------------------------------------------------------------- bad input
GOOD = {"doc_key": "good", "sentences": [["a", "b"], ["c", "d", "e"]], "ner": [[[0, 1, "X"]], [[2, 2, "Y"]]]}


def bad(**changes) -> Dict[str, Any]:
    record = {"doc_key": "bad", "sentences": [["a", "b"], ["c", "d", "e"]]}
    record.update(changes)
    return record


BAD_LINES = {
    "malformed_json": ('{"doc_key": "bad", "sentences": [["a", "b"]', None, "malformed JSON"),
    "not_an_object": ("[1, 2]", "<record>", "expected a JSON object"),
    "missing_sentences": ({"doc_key": "bad", "ner": []}, "sentences", "missing"),
    "sentences_not_strings": (bad(sentences=[["a", 1]]), "sentences", "list of token strings"),
    "ner_length": (bad(ner=[[[0, 1, "X"]]]), "ner", "2 sentences, got 1"),
    "relations_length": (bad(ner=[[], []], relations=[[], [], []]), "relations", "2 sentences, got 3"),
    "ner_not_a_list": (bad(ner={"0": []}), "ner", "one list per sentence"),
    # [0, 1] are document tokens of sentence 0, not of sentence 1 (tokens 2..4).
    "entity_outside_sentence": (bad(ner=[[], [[0, 1, "X"]]]), "ner[1][0]", "outside sentence 1"),
    "entity_past_document_end": (bad(ner=[[], [[2, 2, "X"], [4, 5, "Y"]]]), "ner[1][1]", "outside sentence 1"),
    "entity_crosses_sentences": (bad(ner=[[[1, 2, "X"]], []]), "ner[0][0]", "outside sentence 0"),
    "end_before_start": (bad(ner=[[], [[4, 3, "X"]]]), "ner[1][0]", "end 3 is before start 4"),
    "relation_argument_not_an_entity": (
        bad(ner=[[], [[2, 2, "X"], [3, 4, "Y"]]], relations=[[], [[2, 2, 3, 3, "R"]]]),
        "relations[1][0]",
        "is not an entity listed in ner[1]",
    ),
    "relation_outside_sentence": (
        bad(ner=[[[0, 0, "X"]], [[2, 2, "Y"]]], relations=[[[0, 0, 2, 2, "R"]], []]),
        "relations[0][0]",
        "outside sentence 0",
    ),
    "string_offset": (bad(ner=[[["0", 1, "X"]], []]), "ner[0][0]", "offsets must be integers"),
    "float_offset": (bad(ner=[[], [[2, 3.0, "X"]]]), "ner[1][0]", "offsets must be integers"),
    "bool_start": (bad(ner=[[[True, 1, "X"]], []]), "ner[0][0]", "offsets must be integers"),
    "bool_end": (bad(ner=[[[0, True, "X"]], []]), "ner[0][0]", "offsets must be integers"),
    "null_offset": (bad(ner=[[[0, None, "X"]], []]), "ner[0][0]", "offsets must be integers"),
    "relation_float_offset": (
        bad(ner=[[[0, 0, "X"], [1, 1, "Y"]], []], relations=[[[0, 0, 1.5, 1, "R"]], []]),
        "relations[0][0]",
        "offsets must be integers",
    ),
    "label_not_a_string": (bad(ner=[[[0, 1, 3]], []]), "ner[0][0]", "expected [start, end, label]"),
    "label_missing": (bad(ner=[[], [[2, 3]]]), "ner[1][0]", "expected [start, end, label]"),
    "relation_label_not_a_string": (
        bad(ner=[[[0, 0, "X"], [1, 1, "Y"]], []], relations=[[[0, 0, 1, 1, None]], []]),
        "relations[0][0]",
        "expected [start1, end1, start2, end2, label]",
    ),
    "sentence_annotation_not_a_list": (bad(ner=[[], None]), "ner[1][0]", "expected [start, end, label]"),
}


@pytest.mark.parametrize("case", sorted(BAD_LINES))
def test_bad_input_names_file_line_and_field(tmp_path, case):
    line, field, problem = BAD_LINES[case]
    # Line 2 is blank: line numbers count physical lines.
    path = write_lines(tmp_path, [GOOD, "", line, GOOD])
    reader = make_reader()
    read = []
    with pytest.raises(EreDataError) as info:
        for instance in reader.read(path):
            read.append(instance["metadata"].metadata["doc_key"])
    message = str(info.value)
    assert isinstance(info.value, ConfigurationError)
    assert message.startswith(f"{path}:3: ")
    assert problem in message
    if field is not None:
        assert f"field '{field}'" in message
    # Everything before the bad line was read, nothing of it or after it.
    assert read == ["good", "good"]
    # The lower-level helpers say the same.
    with pytest.raises(EreDataError, match=f"{path}:3"):
        list(read_documents(path))


def test_bad_document_yields_none_of_its_sentences(tmp_path):
    # Sentence 0 of the bad document is fine; its sentence 1 is not. No instance of the bad
    # document may come out before the error.
    broken = {
        "doc_key": "broken",
        "sentences": [["a", "b"], ["c", "d"]],
        "ner": [[[0, 1, "X"]], [[2, 3, "Y"]]],
        "relations": [[], [[2, 3, 0, 1, "R"]]],  # [0, 1] lies in sentence 0
    }
    path = write_lines(tmp_path, [GOOD, broken, GOOD])
    read = []
    iterator = iter(make_reader().read(path))
    with pytest.raises(EreDataError) as info:
        for instance in iterator:
            read.append((instance["metadata"].metadata["doc_key"], instance["metadata"].metadata["sentence_index"]))
    assert read == [("good", 0), ("good", 1)]
    assert f"{path}:2" in str(info.value) and "relations[1][0]" in str(info.value)


def test_parse_document_names_the_given_place():
    with pytest.raises(EreDataError, match=r"^somewhere:7: field 'ner\[0\]\[0\]'"):
        parse_document({"sentences": [["a"]], "ner": [[[0, 1, "X"]]]}, "somewhere:7")


# ---------------------------------------------------------------- non-ASCII, empty sentences and documents
def test_non_ascii_tokens_and_an_empty_sentence(tmp_path):
    # s0 = tokens 0..4, s1 empty, s2 = tokens 5..7 (starts 0, 5, 5), s3 = tokens 8..9.
    record = {
        "doc_key": "unicodé",
        "sentences": [["Zürich", "liegt", "in", "der", "Schweiz"], [], ["北京", "是", "首都"], ["naïve", "Bayes"]],
        "ner": [[[0, 0, "LOC"], [4, 4, "LOC"]], [], [[5, 5, "LOC"], [5, 7, "MISC"]], [[8, 9, "Method"]]],
        "relations": [[[0, 0, 4, 4, "PART-WHOLE"]], [], [[5, 5, 5, 7, "PART-WHOLE"]], []],
    }
    path = write_lines(tmp_path, [record])  # written as UTF-8, not \u escapes
    assert "Zürich" in Path(path).read_text(encoding="utf-8")
    instances = list(make_reader(max_span_width=3, relation_pairs="all").read(path))
    metas = [i["metadata"].metadata for i in instances]
    assert [m["sentence_index"] for m in metas] == [0, 2, 3]
    assert [m["sentence_start"] for m in metas] == [0, 5, 8]
    assert [m["doc_key"] for m in metas] == ["unicodé"] * 3
    assert metas[0]["words"] == ["Zürich", "liegt", "in", "der", "Schweiz"]
    assert metas[1]["words"] == ["北京", "是", "首都"]
    assert metas[0]["gold_entities"] == [Entity(0, 0, "LOC"), Entity(4, 4, "LOC")]
    assert metas[1]["gold_entities"] == [Entity(0, 0, "LOC"), Entity(0, 2, "MISC")]
    assert metas[1]["gold_relations"] == [Relation(0, 0, 0, 2, "PART-WHOLE")]
    assert metas[2]["gold_entities"] == [Entity(0, 1, "Method")]
    assert labels_by_span(instances[1])[(0, 2)] == "MISC"
    assert pair_labels(instances[1])[((0, 0), (0, 2))] == "PART-WHOLE"
    # An entity placed in the empty sentence cannot exist.
    bad_record = dict(record, ner=[[], [[5, 5, "LOC"]], [], []], relations=[[], [], [], []])
    with pytest.raises(EreDataError, match=r"ner\[1\]\[0\]"):
        parse_document(bad_record, "x:1")
    # Unknown characters become [UNK] word pieces; the sentence still indexes and embeds.
    vocab = Vocabulary.from_instances(instances)
    batch = Batch(instances)
    batch.index_instances(vocab)
    tokens = batch.as_tensor_dict()["tokens"]["tokens"]
    assert tokens["offsets"].shape == (3, 5, 2)
    assert tokens["mask"].sum(-1).tolist() == [5, 3, 2]
    embedder = PretrainedTransformerMismatchedEmbedder(model_name=TINY_BERT, sub_token_mode="first")
    with torch.no_grad():
        assert tuple(embedder(**tokens).shape) == (3, 5, 32)


def test_empty_documents_yield_nothing(tmp_path):
    lines = [
        {"doc_key": "empty", "sentences": []},
        {"doc_key": "empty_with_gold", "sentences": [], "ner": [], "relations": []},
        {"doc_key": "only_empty_sentences", "sentences": [[], []]},
        GOOD,
    ]
    path = write_lines(tmp_path, lines)
    instances = list(make_reader().read(path))
    assert [(i["metadata"].metadata["doc_key"], i["metadata"].metadata["sentence_index"]) for i in instances] == [
        ("good", 0),
        ("good", 1),
    ]
    assert instances[0]["metadata"].metadata["where"] == f"{path}:4"
    documents = [d for _, d in read_documents(path)]
    assert [d.sentences for d in documents[:3]] == [[], [], [[], []]]
    assert documents[0].offsets == [] and documents[2].offsets == [0, 0]
    empty_file = write_lines(tmp_path, [], name="empty.json")
    assert list(make_reader().read(empty_file)) == []
