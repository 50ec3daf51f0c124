"""Tests for the paired permutation test between two approaches (ere_allennlp.study) and
`allennlp ere-compare`; expected counts and p-values are worked out in the comments."""
import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

from ere_allennlp.alignment import AlignmentError
from ere_allennlp.metrics.ere_f1 import MACRO_METRICS, METRIC_NAMES, macro_prf, prf
from ere_allennlp.study.significance import (
    compare,
    document_counts,
    document_label_counts,
    macro_metrics,
    paired_permutation_test,
    paired_permutation_test_macro,
)
from tests.conftest import REPO_ROOT

# Every gold document: two sentences, tokens 0..4 and 5..8 (document offsets).
SENTENCES = [["A", "b", "c", "d", "."], ["E", "f", "g", "h"]]
GOLD_NER = [[[0, 0, "X"], [2, 3, "Y"]], [[5, 5, "X"], [7, 8, "Y"]]]
GOLD_RELATIONS = [[[0, 0, 2, 3, "R"]], [[7, 8, 5, 5, "S"]]]
N_DOCS = 20


def write_lines(path: Path, records: List[Dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return str(path)


def gold_records(n: int = N_DOCS) -> List[Dict[str, Any]]:
    return [
        {"doc_key": f"doc{i:02d}", "sentences": SENTENCES, "ner": GOLD_NER, "relations": GOLD_RELATIONS}
        for i in range(n)
    ]


def prediction(doc_key: str, ner: List[List[List[Any]]], relations: List[List[List[Any]]]) -> Dict[str, Any]:
    """A line of `allennlp predict` output (a probability appended to every item)."""
    return {
        "doc_key": doc_key,
        "sentences": SENTENCES,
        "predicted_ner": [[item + [0.9] for item in sentence] for sentence in ner],
        "predicted_relations": [[item + [0.8] for item in sentence] for sentence in relations],
    }


def perfect(doc_key: str) -> Dict[str, Any]:
    return prediction(doc_key, GOLD_NER, GOLD_RELATIONS)


def empty(doc_key: str) -> Dict[str, Any]:
    return prediction(doc_key, [[], []], [[], []])


@pytest.fixture
def gold(tmp_path: Path) -> str:
    return write_lines(tmp_path / "gold.json", gold_records())


def test_counts_of_one_document_by_hand(tmp_path: Path) -> None:
    gold = write_lines(tmp_path / "gold.json", gold_records(1))
    # Sentence 0: (0,0,X) right, (2,3,Z) right span, wrong type; relation right, but its tail's
    #   predicted type Z != Y, so not strictly right.
    # Sentence 1: (5,5,X) right, (6,8,Y) wrong span; relation (7,8)->(5,5) S right, but (7,8) is no
    #   predicted entity, so its head has no type: not strictly right.
    pred = prediction(
        "doc00",
        [[[0, 0, "X"], [2, 3, "Z"]], [[5, 5, "X"], [6, 8, "Y"]]],
        [[[0, 0, 2, 3, "R"]], [[7, 8, 5, 5, "S"]]],
    )
    counts = document_counts(write_lines(tmp_path / "pred.json", [pred]), gold)
    assert counts == {
        "doc00": {
            "ent_i": (3, 4, 4),  # (0,0) (2,3) (5,5) of (0,0) (2,3) (5,5) (6,8)
            "ent_c": (2, 4, 4),  # (0,0,X) (5,5,X)
            "rel_i": (2, 2, 2),
            "rel_c": (2, 2, 2),
            "strict_rel_i": (0, 2, 2),
            "strict_rel_c": (0, 2, 2),
        }
    }
    # Symmetric S: a reversed prediction matches once S is declared symmetric.
    reversed_pred = prediction("doc00", GOLD_NER, [GOLD_RELATIONS[0], [[5, 5, 7, 8, "S"]]])
    path = write_lines(tmp_path / "reversed.json", [reversed_pred])
    assert document_counts(path, gold)["doc00"]["rel_c"] == (1, 2, 2)
    assert document_counts(path, gold, symmetric_relations=["S"])["doc00"]["rel_c"] == (2, 2, 2)


def test_identical_systems_give_p_one(tmp_path: Path, gold: str) -> None:
    # Half perfect, half empty, so the F1s are neither 0 nor 1.
    records = [perfect(f"doc{i:02d}") if i % 2 else empty(f"doc{i:02d}") for i in range(N_DOCS)]
    a = write_lines(tmp_path / "a.json", records)
    b = write_lines(tmp_path / "b.json", records[::-1])  # order of lines does not matter
    results = compare(a, b, gold, trials=2000, seed=3)
    assert list(results) == list(METRIC_NAMES) + list(MACRO_METRICS)
    for row in results.values():
        assert row["p_value"] == 1.0 and row["significant"] is False
        assert row["f1_a"] == row["f1_b"]
    assert results["ent_c"]["f1_a"] == pytest.approx(prf(20, 20, 40)[2])  # 10 docs x 2 sentences x 2 entities


def test_right_everywhere_versus_wrong_everywhere_is_significant(tmp_path: Path, gold: str) -> None:
    a = write_lines(tmp_path / "a.json", [perfect(f"doc{i:02d}") for i in range(N_DOCS)])
    b = write_lines(tmp_path / "b.json", [empty(f"doc{i:02d}") for i in range(N_DOCS)])
    results = compare(a, b, gold, trials=1000, seed=0)
    for row in results.values():
        assert row["f1_a"] == 1.0 and row["f1_b"] == 0.0
        # Only swapping none or all of the 20 documents reaches |1 - 0|: chance 2 / 2**20 per trial,
        # so no trial does and p = (1 + 0) / (1 + 1000).
        assert row["p_value"] == pytest.approx(1 / 1001)
        assert row["p_value"] < 0.01 and row["significant"] is True


def test_difference_on_one_document_is_not_significant(tmp_path: Path, gold: str) -> None:
    a = write_lines(tmp_path / "a.json", [perfect(f"doc{i:02d}") for i in range(N_DOCS)])
    b = write_lines(tmp_path / "b.json", [empty("doc00")] + [perfect(f"doc{i:02d}") for i in range(1, N_DOCS)])
    results = compare(a, b, gold, trials=1000, seed=0)
    for row in results.values():
        assert row["f1_a"] == 1.0 and 0.9 < row["f1_b"] < 1.0
        # Swapping doc00 or not gives the same |difference|: every trial counts.
        assert row["p_value"] > 0.3 and row["significant"] is False


# Four documents' (tp, n_pred, n_gold) of one metric for two systems.
COUNTS_A = {"d0": (3, 4, 5), "d1": (2, 2, 3), "d2": (5, 6, 6), "d3": (0, 1, 2)}
COUNTS_B = {"d0": (1, 4, 5), "d1": (2, 3, 3), "d2": (3, 6, 6), "d3": (1, 1, 2)}


def enumerated_p(counts_a: Dict[str, tuple], counts_b: Dict[str, tuple]) -> float:
    """The exact permutation p-value by a plain loop over all 2**documents swaps."""
    keys = sorted(counts_a)

    def statistic(a: List[tuple], b: List[tuple]) -> float:
        f1 = [prf(*(sum(c[i] for c in side) for i in range(3)))[2] for side in (a, b)]
        return abs(f1[0] - f1[1])

    observed = statistic([counts_a[k] for k in keys], [counts_b[k] for k in keys])
    hits = 0
    for swaps in itertools.product((False, True), repeat=len(keys)):
        a = [counts_b[k] if s else counts_a[k] for k, s in zip(keys, swaps)]
        b = [counts_a[k] if s else counts_b[k] for k, s in zip(keys, swaps)]
        hits += statistic(a, b) >= observed - 1e-12
    return hits / 2 ** len(keys)


def test_p_value_against_full_enumeration() -> None:
    a = {key: {"ent_c": counts} for key, counts in COUNTS_A.items()}
    b = {key: {"ent_c": counts} for key, counts in COUNTS_B.items()}
    expected = enumerated_p(COUNTS_A, COUNTS_B)
    assert 0 < expected < 1  # a case where the swaps matter
    assert paired_permutation_test(a, b, "ent_c", exact=True) == expected
    sampled = paired_permutation_test(a, b, "ent_c", trials=200_000, seed=1)
    assert sampled == pytest.approx(expected, abs=0.005)
    # Symmetric in A and B, deterministic for a seed.
    assert paired_permutation_test(b, a, "ent_c", exact=True) == expected
    assert paired_permutation_test(a, b, "ent_c", trials=500, seed=7) == paired_permutation_test(
        a, b, "ent_c", trials=500, seed=7
    )


def test_missing_prediction_names_file_and_doc_key(tmp_path: Path, gold: str) -> None:
    pred = write_lines(tmp_path / "pred.json", [perfect(f"doc{i:02d}") for i in range(N_DOCS) if i != 7])
    with pytest.raises(AlignmentError, match=r"pred\.json: no prediction for doc_key 'doc07'"):
        document_counts(pred, gold)
    # A prediction whose sentences differ from the gold document's.
    bad = perfect("doc03")
    bad["sentences"] = SENTENCES[:1]
    records = [perfect(f"doc{i:02d}") for i in range(N_DOCS)]
    records[3] = bad
    pred = write_lines(tmp_path / "pred2.json", records)
    with pytest.raises(AlignmentError, match=r"pred2\.json:4: doc_key 'doc03'.*1 sentences.*gold has 2"):
        document_counts(pred, gold)
    # A prediction with no gold document.
    pred = write_lines(tmp_path / "pred3.json", [perfect(f"doc{i:02d}") for i in range(N_DOCS)] + [perfect("extra")])
    with pytest.raises(AlignmentError, match=r"pred3\.json: 1 predicted document.*'extra'"):
        document_counts(pred, gold)


def test_cli_prints_table_and_writes_json(tmp_path: Path, gold: str) -> None:
    a = write_lines(tmp_path / "a.json", [perfect(f"doc{i:02d}") for i in range(N_DOCS)])
    b = write_lines(tmp_path / "b.json", [empty(f"doc{i:02d}") for i in range(N_DOCS)])
    out = tmp_path / "out" / "compare.json"
    result = subprocess.run(
        [sys.executable, "-m", "allennlp", "ere-compare", a, b, gold, "--trials", "500", "--seed", "2",
         "--output-file", str(out)],
        cwd=REPO_ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    table = [line for line in result.stdout.splitlines() if line.startswith(("Ent", "Rel"))]
    assert [line[:12].strip() for line in table] == ["Ent-I", "Ent-C", "Rel-I", "Rel-C", "Rel+-I", "Rel+-C",
                                                      "Ent-C macro", "Rel-C macro", "Rel+-C macro"]
    for line in table:
        assert line[12:].split() == ["100.00", "0.00", f"{1 / 501:.4f}", "*"]
    written = json.loads(out.read_text())
    assert set(written) == set(METRIC_NAMES) | set(MACRO_METRICS)
    assert written["rel_c"] == {"f1_a": 1.0, "f1_b": 0.0, "p_value": pytest.approx(1 / 501), "significant": True}


def test_label_counts_and_macro_f1_of_one_document_by_hand(tmp_path: Path) -> None:
    """The document of `test_counts_of_one_document_by_hand`, counted per label."""
    gold = write_lines(tmp_path / "gold.json", gold_records(1))
    pred = prediction(
        "doc00",
        [[[0, 0, "X"], [2, 3, "Z"]], [[5, 5, "X"], [6, 8, "Y"]]],
        [[[0, 0, 2, 3, "R"]], [[7, 8, 5, 5, "S"]]],
    )
    counts = document_label_counts(write_lines(tmp_path / "pred.json", [pred]), gold)
    assert counts["doc00"]["ent_c"] == {"X": (2, 2, 2), "Y": (0, 1, 2), "Z": (0, 1, 0)}
    assert counts["doc00"]["rel_c"] == {"R": (1, 1, 1), "S": (1, 1, 1)}
    assert counts["doc00"]["strict_rel_c"] == {"R": (0, 1, 1), "S": (0, 1, 1)}
    macro = macro_metrics(counts)
    # Ent-C: X F1 1, Y P 0 R 0 F1 0, Z 0 -> (1 + 0 + 0) / 3.
    assert macro["ent_c_macro_f1"] == pytest.approx(1 / 3)
    assert macro["rel_c_macro_f1"] == 1.0 and macro["strict_rel_c_macro_f1"] == 0.0


def test_macro_permutation_test_enumerated_by_hand() -> None:
    """Exact test on 3 documents: every one of the 2**3 swap sets, macro F1 recomputed by hand."""
    a = {"d0": {"rel_c": {"R": (1, 1, 1)}}, "d1": {"rel_c": {"S": (1, 2, 1)}}, "d2": {"rel_c": {"R": (0, 1, 1)}}}
    b = {"d0": {"rel_c": {"R": (0, 0, 1)}}, "d1": {"rel_c": {"S": (0, 1, 1), "T": (0, 1, 0)}}, "d2": {"rel_c": {"R": (1, 1, 1)}}}

    def macro(system: Dict[str, Dict[str, Dict[str, tuple]]]) -> float:
        summed: Dict[str, List[int]] = {}
        for doc in system.values():
            for label, c in doc["rel_c"].items():
                summed[label] = [x + y for x, y in zip(summed.get(label, [0, 0, 0]), c)]
        return macro_prf({k: tuple(v) for k, v in summed.items()})[2]

    observed = abs(macro(a) - macro(b))
    hits = 0
    for swap in itertools.product((False, True), repeat=3):
        docs = sorted(a)
        a2 = {d: (b if s else a)[d] for d, s in zip(docs, swap)}
        b2 = {d: (a if s else b)[d] for d, s in zip(docs, swap)}
        hits += abs(macro(a2) - macro(b2)) >= observed - 1e-12
    assert paired_permutation_test_macro(a, b, "rel_c", exact=True) == pytest.approx(hits / 8)
    assert paired_permutation_test_macro(a, a, "rel_c", trials=200) == 1.0
    with pytest.raises(ValueError, match="unknown metric 'rel_i' for macro F1"):
        paired_permutation_test_macro(a, b, "rel_i")
