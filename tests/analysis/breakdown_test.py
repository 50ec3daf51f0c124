"""The error breakdown: every entity outcome and relation cause on constructed sentences, counted
by hand; its totals equal ere_f1's on the fixtures and on random sentences."""
import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ere_allennlp.analysis.breakdown import Breakdown, argument_distance
from ere_allennlp.analysis.report import analyze, breakdown_of
from ere_allennlp.common import Entity as E
from ere_allennlp.common import Relation as R
from ere_allennlp.metrics.ere_f1 import EreF1
from tests.conftest import FIXTURES

GOLD = {
    "entities": [E(0, 0, "Task"), E(2, 3, "Method"), E(5, 5, "Metric"), E(7, 8, "Task"), E(10, 10, "Method"),
                 E(12, 12, "Task"), E(14, 14, "Method"), E(16, 16, "Task"), E(18, 18, "Material")],
    "relations": [
        R(0, 0, 2, 3, "USED-FOR"),      # correct
        R(5, 5, 0, 0, "EVALUATE-FOR"),  # argument 5-5 not found (no overlapping prediction)
        R(7, 8, 0, 0, "PART-OF"),       # argument 7-8 predicted as 7-7: boundary
        R(10, 10, 0, 0, "USED-FOR"),    # 10-10 predicted with the wrong type
        R(12, 12, 14, 14, "COMPARE"),   # both right, a relation with another label
        R(14, 14, 16, 16, "USED-FOR"),  # both right, only the reverse predicted
        R(16, 16, 18, 18, "FEATURE-OF"),  # both right, nothing predicted between them
    ],
}
PREDICTED = {
    "entities": [E(0, 0, "Task"), E(2, 3, "Method"),  # correct, correct
                 E(7, 7, "Task"),                     # boundary, right type
                 E(10, 10, "Task"),                   # wrong type
                 E(12, 12, "Task"), E(14, 14, "Method"), E(16, 16, "Task"), E(18, 18, "Material"),  # correct x4
                 E(19, 20, "Method"),                 # spurious
                 E(8, 9, "Metric")],                  # boundary (overlaps 7-8 Task), wrong type
    "relations": [
        R(0, 0, 2, 3, "USED-FOR"),       # correct
        R(12, 12, 14, 14, "USED-FOR"),   # wrong label for the COMPARE
        R(16, 16, 14, 14, "USED-FOR"),   # reversed
        R(19, 20, 0, 0, "USED-FOR"),     # spurious: an argument is no gold entity
        R(2, 3, 12, 12, "USED-FOR"),     # spurious: both arguments are gold entities
    ],
}


def test_every_outcome_and_cause_counted_by_hand() -> None:
    breakdown = Breakdown()
    breakdown.add_sentence(PREDICTED, GOLD, length=21)
    result = breakdown.to_json()
    assert result["entity_outcomes"] == {"correct": 6, "wrong_type": 1, "boundary_right_type": 1,
                                         "boundary_wrong_type": 1, "spurious": 1}
    # 9 gold: 6 predicted right, 10-10 with the wrong type, 5-5 and 7-8 not at their span
    assert result["gold_entity_outcomes"] == {"correct": 6, "gold_wrong_type": 1, "missed": 2}
    assert result["relation_causes"] == {"argument_not_found": 1, "argument_boundary": 1, "argument_type": 1,
                                         "no_relation": 1, "wrong_label": 1, "reversed": 1}
    assert result["spurious_relations"] == {"argument_not_an_entity": 1, "both_arguments_entities": 3}
    assert result["correct_relations"] == 1 and result["lost_relations"] == 6
    assert result["error_propagation_share"] == 3 / 6
    # The totals are ere_f1's: Ent-C 6 / 10 / 9, Rel+-C 1 / 5 / 7
    assert result["totals"] == {"ent_c": [6, 10, 9], "strict_rel_c": [1, 5, 7]}
    assert result["ere_f1_counts"]["ent_c"] == [6, 10, 9] and result["ere_f1_counts"]["strict_rel_c"] == [1, 5, 7]
    assert result["relation_labels"]["USED-FOR"]["support"] == 3 and result["relation_labels"]["USED-FOR"]["tp"] == 1
    assert result["entity_labels"]["Task"]["support"] == 4
    confusion = {(g, p): n for g, p, n in result["entity_confusion"]}
    assert confusion[("Method", "Task")] == 1 and confusion[("NONE", "Method")] == 1 and confusion[("Metric", "NONE")] == 1
    relation_confusion = {(g, p): n for g, p, n in result["relation_confusion"]}
    assert relation_confusion[("COMPARE", "USED-FOR")] == 1 and relation_confusion[("FEATURE-OF", "NONE")] == 1


def test_buckets_and_distance() -> None:
    assert argument_distance(R(0, 0, 2, 3)) == 1 and argument_distance(R(5, 6, 0, 4)) == 0
    breakdown = Breakdown()
    breakdown.add_sentence(PREDICTED, GOLD, length=21)
    result = breakdown.to_json()
    assert result["by_sentence_length"]["21-30"]["support"] == 7
    assert result["by_argument_distance"]["1-2"]["support"] == 4  # 0-2/3, 12-14, 14-16, 16-18
    assert list(result["by_argument_distance"]) == ["0", "1-2", "3-5", "6-10", "11+"]


def _write(path: Path, records) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def test_totals_agree_with_ere_f1_on_the_fixtures(tmp_path: Path) -> None:
    gold = FIXTURES / "data" / "test.json"
    records = [json.loads(line) for line in gold.read_text().splitlines() if line.strip()]
    # A prediction: the gold shifted by a few edits (a dropped entity, a relabelled relation).
    predicted = []
    for record in records:
        ner = [[list(e) for e in s] for s in record["ner"]]
        rels = [[list(r) for r in s] for s in record["relations"]]
        for s in ner:
            if len(s) > 1:
                s.pop()
        for s in rels:
            if s:
                s[0][4] = "COMPARE"
        predicted.append({"doc_key": record["doc_key"], "sentences": record["sentences"], "predicted_ner": ner,
                          "predicted_relations": rels})
    path = _write(tmp_path / "pred.jsonl", predicted)
    result = breakdown_of(path, str(gold)).to_json()
    assert result["totals"]["ent_c"] == result["ere_f1_counts"]["ent_c"]
    assert result["totals"]["strict_rel_c"] == result["ere_f1_counts"]["strict_rel_c"]
    analyzed = analyze([path, path], str(gold), str(tmp_path / "out"), names=["x", "y"])
    assert analyzed["x"] == analyzed["y"]
    for name in ("analysis.md", "analysis.json", "error_propagation.csv", "relation_causes.csv", "relation_causes.png",
                 "by_argument_distance.png"):
        assert (tmp_path / "out" / name).is_file(), name
    assert "| x |" in (tmp_path / "out" / "analysis.md").read_text()


LABELS = ["A", "B"]
spans = st.tuples(st.integers(0, 6), st.integers(0, 2)).map(lambda t: (t[0], t[0] + t[1]))
entities = st.lists(st.tuples(spans, st.sampled_from(LABELS + [None])), max_size=6).map(
    lambda items: [E(s[0], s[1], label) for s, label in items])


@st.composite
def sentences(draw):
    ents = draw(entities)
    pairs = draw(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5), st.sampled_from(["R", "S", None])), max_size=6))
    rels = [R(ents[i].start, ents[i].end, ents[j].start, ents[j].end, label) for i, j, label in pairs
            if i < len(ents) and j < len(ents) and i != j]
    return {"entities": ents, "relations": rels}


@settings(max_examples=200, deadline=None)
@given(sentences(), sentences(), st.booleans())
def test_totals_agree_with_ere_f1(predicted, gold, symmetric) -> None:
    breakdown = Breakdown()
    breakdown.add_sentence(predicted, gold, length=9, symmetric=["S"] if symmetric else [])
    counts = EreF1.count(predicted, gold, ["S"] if symmetric else [])
    totals = breakdown.totals()
    assert totals["ent_c"] == counts["ent_c"]
    assert totals["strict_rel_c"] == counts["strict_rel_c"]
    assert sum(breakdown.entity_outcomes.values()) == counts["ent_c"][1]


def test_command_writes_the_report_and_names_bad_files(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    gold = FIXTURES / "data" / "test.json"
    records = [json.loads(line) for line in gold.read_text().splitlines() if line.strip()]
    predicted = [{"doc_key": r["doc_key"], "sentences": r["sentences"], "predicted_ner": r["ner"],
                  "predicted_relations": r["relations"]} for r in records]
    path = _write(tmp_path / "perfect.jsonl", predicted)
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    command = [sys.executable, "-m", "allennlp", "ere-analyze", path, str(gold), "--output-dir", str(tmp_path / "out"), "--no-plots"]
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "| perfect | 0 | 0 | 0.00 |" in result.stdout  # a perfect prediction loses nothing
    report = json.loads((tmp_path / "out" / "analysis.json").read_text())["approaches"]["perfect"]
    assert report["totals"]["strict_rel_c"][0] == report["totals"]["strict_rel_c"][2] > 0
    bad = _write(tmp_path / "bad.jsonl", predicted[:-1])
    result = subprocess.run(command[:4] + [bad] + command[5:], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 1 and f"{bad}: no prediction for doc_key" in result.stderr
