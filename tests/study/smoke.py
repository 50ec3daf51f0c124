"""The smoke study on the fixtures (tiny BERT, 2 seeds, 1 epoch): its settings and its command,
shared by the sequential tests (study_test.py) and the Ray ones (ray_runner_test.py)."""
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import List, Sequence

from ere_allennlp.study import StudySettings
from tests.conftest import REPO_ROOT

# The pruner's paper dimensions make a 12.8 M-parameter bi-affine layer; the tiny BERT has 42k.
SMALL_PRUNER = {"pruner": {"model.biaffine_dim": 32, "model.biaffine_projection_dim": 16, "model.hidden_dim": 32}}
SEEDS = [1, 2]
# Tests that use the session's smoke study run on one xdist worker, so it is trained once.
GROUP = "smoke_study"


def smoke_settings(output_dir: Path, **changes) -> StudySettings:
    values = dict(
        output_dir=str(output_dir), dataset="scierc", data_dir=str(REPO_ROOT / "fixtures/data"), seeds=SEEDS,
        encoder=str(REPO_ROOT / "fixtures/tiny_bert"), epochs="1", lr="1e-3", batch_size=4,
        module_overrides=SMALL_PRUNER, trials=200,
    )
    values.update(changes)
    return StudySettings(**values)


def smoke_command(out: Path, *extra: str) -> List[str]:
    """`allennlp ere-study` of the smoke study into `out`, plus `extra` arguments."""
    return [
        sys.executable, "-m", "allennlp", "ere-study", "--data-dir", "fixtures/data", "-s", str(out),
        "--seeds", *map(str, SEEDS), "--epochs", "1", "--lr", "1e-3", "--batch-size", "4",
        "--encoder", "fixtures/tiny_bert", "--module-overrides", json.dumps(SMALL_PRUNER), "--trials", "200", *extra,
    ]


def smoke_env() -> dict:
    return dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")


def run_smoke(out: Path, *extra: str, timeout: int = 900) -> subprocess.CompletedProcess:
    result = subprocess.run(smoke_command(out, *extra), cwd=REPO_ROOT, env=smoke_env(), capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "### Table 2" in result.stdout
    return result


def approach_metrics(out: Path, approaches: Sequence[str], split: str = "test") -> dict:
    """{(seed, approach): the micro figures of its metrics file}."""
    return {
        (seed, a): json.loads((out / f"seed_{seed}/approaches/{a}/metrics_{split}.json").read_text(encoding="utf-8"))["metrics"]
        for seed in SEEDS for a in approaches
    }
