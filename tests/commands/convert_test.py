"""`allennlp ere-convert` as users run it (subprocesses): SpERT's CoNLL04 sample converted, then
`allennlp ere-study --dataset conll04` on the converted folder (issue #24), and a malformed input's
one-line error."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ere_allennlp.dataset_readers.ere_json import parse_document
from tests.conftest import REPO_ROOT
from tests.study.smoke import SMALL_PRUNER, smoke_env

# The hand-written sample (fixtures/conll04, SpERT's format), counted by hand.
SAMPLE = {"train": (10, 19, 9), "dev": (4, 9, 4)}  # split: (sentences, entities, relations); fixtures/README.md


def allennlp(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "allennlp", *args], cwd=REPO_ROOT, env=smoke_env(),
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fixtures/conll04/{train,dev}.json converted to DyGIE with the command line."""
    folder = tmp_path_factory.mktemp("conll04_dygie")
    for split in SAMPLE:
        result = allennlp("ere-convert", "--from", "spert", "--to", "dygie", f"fixtures/conll04/{split}.json",
                          "-o", str(folder / f"{split}.json"), "--report-json", str(folder / f"{split}.report.json"))
        assert result.returncode == 0, result.stderr[-3000:]
        assert "ere-convert spert -> dygie" in result.stdout
    return folder


def test_the_sample_converts_with_the_counts_made_by_hand(converted: Path) -> None:
    for split, (sentences, entities, relations) in SAMPLE.items():
        report = json.loads((converted / f"{split}.report.json").read_text())
        assert report["written"] == {"documents": sentences, "sentences": sentences, "entities": entities,
                                     "relations": relations, "notes": 0}
        assert report["skipped"] == []
        lines = (converted / f"{split}.json").read_text().splitlines()
        documents = [parse_document(json.loads(line), f"{split}.json", k + 1) for k, line in enumerate(lines)]
        assert len(documents) == sentences


def test_the_study_runs_on_the_converted_sample(converted: Path, tmp_path: Path) -> None:
    out = tmp_path / "study"
    result = allennlp(
        "ere-study", "--dataset", "conll04", "--data-dir", str(converted), "-s", str(out), "--seeds", "1",
        "--approaches", "a4", "a8", "--epochs", "1", "--lr", "1e-3", "--batch-size", "4", "--eval-split", "dev",
        "--encoder", "fixtures/tiny_bert", "--module-overrides", json.dumps(SMALL_PRUNER), "--trials", "50",
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "### Table 2" in result.stdout
    for approach in ("a4", "a8"):
        metrics = json.loads((out / f"seed_1/approaches/{approach}/metrics_dev.json").read_text())["metrics"]
        assert 0.0 <= metrics["strict_rel_c_f1"] <= 1.0 and "rel_c_macro_f1" in metrics
    assert (out / "seed_1/conll04_nerre/model.tar.gz").exists()


def test_a_malformed_record_is_one_line_and_no_output(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"tokens": ["a", "b"], "entities": [{"type": "X", "start": 1, "end": 5}], "relations": []}]))
    output = tmp_path / "out.json"
    result = allennlp("ere-convert", "--from", "spert", "--to", "dygie", str(bad), "-o", str(output))
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "ere-convert: error" in line]
    assert len(errors) == 1 and str(bad) in errors[0] and "record 0" in errors[0] and "end" in errors[0], result.stderr[-2000:]
    assert not output.exists()
