"""The AllenNLP command line, as users run it: train, ere-approach, evaluate, predict (subprocesses)."""
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest

from ere_allennlp.dataset_readers.ere_json import parse_document
from tests.conftest import REPO_ROOT, TINY_ENV

SIX = ("ent_i", "ent_c", "rel_i", "rel_c", "strict_rel_i", "strict_rel_c")


def allennlp(*args: str, env: dict, check: bool = True, cwd: Optional[Path] = None) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "allennlp", *args], cwd=cwd or REPO_ROOT, env=env, capture_output=True, text=True
    )
    if check and result.returncode != 0:
        raise AssertionError(f"allennlp {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory: pytest.TempPathFactory) -> dict:
    runs = tmp_path_factory.mktemp("cli_runs")
    env = dict(os.environ)
    env.update(TINY_ENV)
    env.update(ERE_EPOCHS="2", ERE_RUNS=str(runs), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1")
    return env


def test_train_compose_evaluate_predict(cli_env: dict) -> None:
    runs = Path(cli_env["ERE_RUNS"])
    for module in ("ner", "re"):
        allennlp("ere-train", f"training_configs/scierc_{module}.jsonnet", "-s", str(runs / f"scierc_{module}"),
                 "--include-package", "ere_allennlp", env=cli_env)
        assert (runs / f"scierc_{module}" / "model.tar.gz").exists()
    allennlp("ere-approach", "training_configs/approaches/scierc_a4.jsonnet", "-s", str(runs / "a4"), env=cli_env)
    archive = str(runs / "a4" / "model.tar.gz")

    metrics_file = runs / "a4_test.json"
    result = allennlp("evaluate", archive, "fixtures/data/test.json", "--output-file", str(metrics_file),
                      "--include-package", "ere_allennlp", env=cli_env)
    metrics = json.loads(metrics_file.read_text())
    for name in SIX:
        for key in ("p", "r", "f1"):
            assert 0.0 <= metrics[f"{name}_{key}"] <= 1.0
    assert "s1_ner_ent_i_r" in metrics
    assert "ent_c_f1" in result.stderr + result.stdout  # the metrics are printed too

    # DyGIE documents in, one line per document out, document offsets, readable again.
    out = runs / "pred.jsonl"
    allennlp("predict", archive, "fixtures/data/test.json", "--output-file", str(out), "--silent",
             "--include-package", "ere_allennlp", env=cli_env)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    docs = [json.loads(line) for line in (REPO_ROOT / "fixtures/data/test.json").read_text().splitlines() if line.strip()]
    assert [line["doc_key"] for line in lines] == [d["doc_key"] for d in docs]
    for line in lines:
        record = {
            "doc_key": line["doc_key"],
            "sentences": line["sentences"],
            "ner": [[e[:3] for e in s] for s in line["predicted_ner"]],
            "relations": [[r[:5] for r in s] for s in line["predicted_relations"]],
        }
        parse_document(record, "prediction")  # offsets in range, relation arguments are entities

    # Raw text in.
    raw_out = runs / "raw.jsonl"
    allennlp("predict", archive, "fixtures/data/raw_text.jsonl", "--output-file", str(raw_out), "--silent",
             "--batch-size", "2", "--cuda-device", "-1", "--include-package", "ere_allennlp", env=cli_env)
    raw = [json.loads(line) for line in raw_out.read_text().splitlines()]
    assert len(raw) == 3 and all(len(r["sentences"]) == 2 for r in raw)
    texts = [json.loads(line)["text"] for line in (REPO_ROOT / "fixtures/data/raw_text.jsonl").read_text().splitlines()]
    # documents stay in input order across batches of 2, and their tokens are the text's
    assert [" ".join(w for s in r["sentences"] for w in s).replace(" ", "") for r in raw] == [
        t.replace(" ", "") for t in texts
    ]


def test_bad_input_exits_non_zero_naming_file_and_line(cli_env: dict, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    good = (REPO_ROOT / "fixtures/data/dev.json").read_text().splitlines()[0]
    bad.write_text(good + "\n" + '{"doc_key": "x", "sentences": [["a", "b"]], "ner": [[[0, 5, "Task"]]]}\n')
    cli_env = dict(cli_env, ERE_EPOCHS="1")
    result = allennlp("ere-train", "training_configs/scierc_ner.jsonnet", "-s", str(tmp_path / "run"),
                      "-o", json.dumps({"train_data_path": str(bad)}), "--include-package", "ere_allennlp",
                      env=cli_env, check=False)
    assert result.returncode != 0
    assert f"{bad}:2" in result.stderr and "ner[0][0]" in result.stderr
