"""Property-based (hypothesis) tests of the DyGIE reader and the ERE metric over generated inputs.

- Valid generated documents (empty sentences, non-ASCII tokens and labels, documents without
  gold) go through `parse_document` and `EreJsonReader` without error, and every instance's
  candidate spans, gold entities and relations lie inside its sentence.
- Invalid documents (mutated offsets, unknown relation arguments, wrong types, arbitrary JSON)
  raise `EreDataError` and nothing else.
- `EreF1` counts stay consistent: 0 <= tp <= predicted, tp <= gold, P/R/F1 in [0, 1], identical
  inputs score F1 = 1, and the finer metrics never have more true positives than the coarser.
"""
import json
import os
import tempfile
from typing import Any, Dict, List, Optional, Tuple

import pytest
from allennlp.data import Batch, Vocabulary
from allennlp.data.fields import AdjacencyField
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ere_allennlp.common import Entity, Relation
from ere_allennlp.dataset_readers.ere_json import EreDataError, EreJsonReader, parse_document
from ere_allennlp.metrics.ere_f1 import METRIC_NAMES, EreF1
from tests.conftest import REPO_ROOT

TINY_BERT = str(REPO_ROOT / "fixtures" / "tiny_bert")
# No example database: nothing is written into the repository.
FUZZ = settings(database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Tokens and labels: ASCII, accented Latin, Greek, CJK, emoji.
ALPHABET = st.sampled_from(list("abcXYZ019.-") + ["é", "ß", "Ω", "λ", "中", "文", "😀", "ü"])
TOKENS = st.text(ALPHABET, min_size=1, max_size=5)
LABELS = st.text(ALPHABET, min_size=1, max_size=4)

# One reader per configuration, built once (loading the tokenizer is the slow part).
READERS: Dict[Tuple[str, str, int], EreJsonReader] = {}


def reader(candidates: str, pairs: str, width: int) -> EreJsonReader:
    key = (candidates, pairs, width)
    if key not in READERS:
        READERS[key] = EreJsonReader(
            model_name=TINY_BERT,
            max_span_width=width,
            candidates=candidates,
            relation_pairs=pairs,
            skip_sentences_without_candidates=candidates == "gold",
        )
    return READERS[key]


@st.composite
def documents(draw: Any) -> Dict[str, Any]:
    """A valid DyGIE record: document offsets, inclusive ends, relation arguments listed in ner."""
    sentences = draw(st.lists(st.lists(TOKENS, max_size=7), max_size=4))
    ner: List[List[List[Any]]] = []
    relations: List[List[List[Any]]] = []
    start = 0
    for sentence in sentences:
        n = len(sentence)
        spans = []
        if n:
            spans = draw(
                st.lists(
                    st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).map(lambda p: (min(p), max(p))),
                    max_size=4,
                )
            )
        entities = [[start + s, start + e, draw(LABELS)] for s, e in spans]
        ner.append(entities)
        rels = []
        if entities:
            for _ in range(draw(st.integers(0, 3))):
                head = draw(st.sampled_from(entities))
                tail = draw(st.sampled_from(entities))
                rels.append([head[0], head[1], tail[0], tail[1], draw(LABELS)])
        relations.append(rels)
        start += n
    record: Dict[str, Any] = {"doc_key": draw(st.text(ALPHABET, max_size=5)), "sentences": sentences}
    gold = draw(st.sampled_from(["both", "ner", "none"]))
    if gold in ("both", "ner"):
        record["ner"] = ner
    if gold == "both":
        record["relations"] = relations
    return record


@settings(FUZZ, max_examples=60)
@given(
    record=documents(),
    candidates=st.sampled_from(["all", "gold"]),
    pairs=st.sampled_from(["all", "related"]),
    width=st.integers(1, 4),
)
def test_reader_on_valid_documents(record: Dict[str, Any], candidates: str, pairs: str, width: int) -> None:
    document = parse_document(record, "fuzz:1")
    sentences = record["sentences"]
    assert document.sentences == sentences
    for k, words in enumerate(sentences):
        for e in document.entities[k]:
            assert 0 <= e.start <= e.end < len(words)
        for r in document.relations[k]:
            assert 0 <= r.head_start <= r.head_end < len(words)
            assert 0 <= r.tail_start <= r.tail_end < len(words)

    # Through a file, as training reads it (json encoding, shard_iterable, read_documents).
    the_reader = reader(candidates, pairs, width)
    handle, path = tempfile.mkstemp(suffix=".json")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as data_file:
            data_file.write(json.dumps(record, ensure_ascii=False) + "\n")
        instances = list(the_reader.read(path))
    finally:
        os.remove(path)

    has_gold = "ner" in record
    expected = [
        k for k, words in enumerate(sentences)
        if words and not (candidates == "gold" and has_gold and not the_reader.candidate_spans(words, document.entities[k]))
        and not (candidates == "gold" and not has_gold)
    ]
    assert [i["metadata"]["sentence_index"] for i in instances] == expected
    for instance in instances:
        meta = instance["metadata"].metadata
        k = meta["sentence_index"]
        n = len(sentences[k])
        assert meta["words"] == sentences[k]
        assert meta["sentence_start"] == sum(len(s) for s in sentences[:k])
        spans = list(instance["spans"].spans)
        if meta["candidate_spans"]:
            assert spans == meta["candidate_spans"]
            assert all(0 <= s <= e < n and e - s < width for s, e in spans)
        else:
            assert spans == [(-1, -1)]
        assert meta["gold_entities"] == (document.entities[k] if has_gold else [])
        if has_gold and pairs != "none":
            relation_field = instance["relation_labels"]
            assert isinstance(relation_field, AdjacencyField)
            assert all(0 <= i < len(spans) and 0 <= j < len(spans) and i != j for i, j in relation_field.indices)
        if not has_gold:
            assert "span_labels" not in instance.fields and "relation_labels" not in instance.fields
    # The instances index and pad with the tiny BERT's word pieces (non-ASCII included).
    if instances:
        vocab = Vocabulary.from_instances(instances)
        batch = Batch(instances)
        batch.index_instances(vocab)
        tensors = batch.as_tensor_dict()
        assert tensors["spans"].shape[0] == len(instances)


@st.composite
def invalid_documents(draw: Any) -> Dict[str, Any]:
    """A valid document with one mutation that makes it invalid."""
    record = draw(documents())
    sentences = record["sentences"]
    starts = [sum(len(s) for s in sentences[:k]) for k in range(len(sentences))]
    nonempty = [k for k, s in enumerate(sentences) if s]
    mutations = ["sentences_type", "token_type", "record_type", "ner_length"]
    if nonempty:
        mutations += ["out_of_range", "end_before_start", "unknown_argument", "offset_type", "label_type"]
    mutation = draw(st.sampled_from(mutations))
    record.setdefault("ner", [[] for _ in sentences])
    record.setdefault("relations", [[] for _ in sentences])
    if mutation == "sentences_type":
        record["sentences"] = draw(st.sampled_from(["text", None, 3, {"a": 1}, [["ok"], "bad"]]))
    elif mutation == "token_type":
        record["sentences"] = sentences + [["ok", draw(st.sampled_from([None, 1, ["x"], 2.5]))]]
        record["ner"].append([])
        record["relations"].append([])
    elif mutation == "record_type":
        return draw(st.sampled_from([[], "doc", 7, None, [record]]))  # type: ignore[return-value]
    elif mutation == "ner_length":
        field = draw(st.sampled_from(["ner", "relations"]))
        record[field] = record[field] + [[]] if draw(st.booleans()) or not record[field] else record[field][:-1]
    else:
        k = draw(st.sampled_from(nonempty))
        n, start = len(sentences[k]), starts[k]
        if mutation == "out_of_range":
            first, last = draw(
                st.sampled_from(
                    [(start - 1, start), (start, start + n), (start + n, start + n + 2), (-5, -3)]
                )
            )
            if draw(st.booleans()):
                record["ner"][k].append([first, last, "X"])
            else:
                record["relations"][k].append([first, last, start, start, "R"])
        elif mutation == "end_before_start":
            first = start + draw(st.integers(0, n - 1))
            record["ner"][k].append([first, first - draw(st.integers(1, 3)), "X"])
        elif mutation == "unknown_argument":
            listed = {(e[0], e[1]) for e in record["ner"][k]}
            free = [(start + s, start + e) for s in range(n) for e in range(s, n) if (start + s, start + e) not in listed]
            assume(free)
            head = draw(st.sampled_from(free))
            tail = draw(st.sampled_from(free + sorted(listed)))
            pair = [*head, *tail] if draw(st.booleans()) else [*tail, *head]
            record["relations"][k].append(pair + ["R"])
        elif mutation == "offset_type":
            bad = draw(st.sampled_from([1.0, "0", None, True, [0]]))
            record["ner"][k].append([bad, start, "X"] if draw(st.booleans()) else [start, bad, "X"])
        elif mutation == "label_type":
            record["ner"][k].append([start, start, draw(st.sampled_from([None, 3, ["X"]]))])
    return record


@settings(FUZZ, max_examples=150)
@given(record=invalid_documents())
def test_invalid_documents_raise_ere_data_error(record: Any) -> None:
    with pytest.raises(EreDataError):
        parse_document(record, "fuzz:1")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 12) | st.floats(allow_nan=False) | LABELS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["doc_key", "sentences", "ner", "relations", "x"]), children, max_size=4
    ),
    max_leaves=20,
)


@settings(FUZZ, max_examples=150)
@given(record=JSON | st.fixed_dictionaries({"sentences": JSON}, optional={"ner": JSON, "relations": JSON}))
def test_arbitrary_json_parses_or_raises_ere_data_error(record: Any) -> None:
    try:
        parse_document(record, "fuzz:1")
    except EreDataError:
        pass


# ---------------------------------------------------------------- the metric

SPANS = st.tuples(st.integers(0, 3), st.integers(0, 3)).map(lambda p: (min(p), max(p)))
METRIC_LABELS = st.sampled_from([None, "A", "B", "ü", "関係"])


@st.composite
def sentence_items(draw: Any, single_label: bool = True, labelled: bool = False) -> Dict[str, Any]:
    """Entities and relations of one sentence. `single_label`: at most one label per span and per
    unordered argument pair (what parse_document and the decoders produce); `labelled`: no None
    labels and every relation argument is an entity."""
    labels = st.sampled_from(["A", "B", "ü", "関係"]) if labelled else METRIC_LABELS
    if single_label:
        spans = draw(st.lists(SPANS, unique=True, max_size=5))
    else:
        spans = draw(st.lists(SPANS, max_size=5))
    entities = [Entity(s, e, draw(labels)) for s, e in spans]
    arguments = spans if labelled else spans + draw(st.lists(SPANS, max_size=2))
    relations = []
    if arguments:
        pairs = draw(st.lists(st.tuples(st.sampled_from(arguments), st.sampled_from(arguments)), max_size=5))
        seen = set()
        for head, tail in pairs:
            key = frozenset((head, tail))
            if single_label and key in seen:
                continue
            seen.add(key)
            relations.append(Relation(*head, *tail, draw(labels)))
    return {"entities": entities, "relations": relations}


def check_counts(counts: Dict[str, Tuple[int, int, int]]) -> None:
    for name in METRIC_NAMES:
        tp, n_pred, n_gold = counts[name]
        assert 0 <= tp <= n_pred and tp <= n_gold, (name, counts[name])


def check_metrics(metric: EreF1) -> None:
    for name, value in metric.get_metric().items():
        assert 0.0 <= value <= 1.0, (name, value)


SYMMETRIC = st.lists(st.sampled_from(["A", "B", "ü", "関係"]), unique=True, max_size=2)


@settings(FUZZ, max_examples=200)
@given(
    sentences=st.lists(st.tuples(sentence_items(), sentence_items()), max_size=4),
    symmetric=SYMMETRIC,
)
def test_metric_counts_are_consistent(sentences: List[Tuple[Dict, Dict]], symmetric: List[str]) -> None:
    metric = EreF1(symmetric)
    metric([p for p, _ in sentences], [g for _, g in sentences])
    counts = metric.get_counts()
    check_counts(counts)
    check_metrics(metric)
    tp = {name: counts[name][0] for name in METRIC_NAMES}
    assert tp["ent_c"] <= tp["ent_i"]
    assert tp["rel_c"] <= tp["rel_i"]
    assert tp["strict_rel_i"] <= tp["rel_i"]
    assert tp["strict_rel_c"] <= tp["rel_c"]
    assert tp["strict_rel_c"] <= tp["strict_rel_i"]
    # The accumulated counts are the sums of the per-sentence counts.
    for row, name in enumerate(METRIC_NAMES):
        assert counts[name] == tuple(
            sum(EreF1.count(p, g, symmetric)[name][i] for p, g in sentences) for i in range(3)
        )


@settings(FUZZ, max_examples=150)
@given(
    sentences=st.lists(st.tuples(sentence_items(single_label=False), sentence_items(single_label=False)), max_size=4),
    symmetric=SYMMETRIC,
)
def test_metric_counts_with_several_labels_per_span(sentences: List[Tuple[Dict, Dict]], symmetric: List[str]) -> None:
    """A span (or argument pair) listed with several labels: each metric's counts stay in range.
    (Ent-C may then count more true positives than Ent-I: typed items are distinct, spans not.)"""
    metric = EreF1(symmetric)
    metric([p for p, _ in sentences], [g for _, g in sentences])
    check_counts(metric.get_counts())
    check_metrics(metric)


@settings(FUZZ, max_examples=150)
@given(sentences=st.lists(sentence_items(labelled=True), min_size=1, max_size=4), symmetric=SYMMETRIC)
def test_identical_inputs_score_one(sentences: List[Dict[str, Any]], symmetric: List[str]) -> None:
    metric = EreF1(symmetric)
    metric(sentences, [dict(s) for s in sentences])
    counts = metric.get_counts()
    check_counts(counts)
    scores = metric.get_metric()
    for name in METRIC_NAMES:
        tp, n_pred, n_gold = counts[name]
        assert tp == n_pred == n_gold
        assert scores[f"{name}_f1"] == (1.0 if n_gold else 0.0), name
    assert (counts["ent_i"][1] > 0) == any(s["entities"] for s in sentences)
    assert (counts["rel_c"][1] > 0) == any(s["relations"] for s in sentences)
