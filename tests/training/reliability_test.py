"""Issue #7: determinism on CPU and exact continuation of a killed run with ``allennlp train --recover``.

Both use the real training configs on the tiny BERT (``TINY_ENV``). The recover test needs the
``rng_state`` callback (``ere_allennlp/training/rng_state.py``): without it the recovered run
re-seeds its generators and its losses differ from the uninterrupted run's.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict

import pytest
from ere_allennlp.configs import train_model_from_file

import ere_allennlp  # noqa: F401  (defaults of the configs' environment variables, before a config is read)

from tests.conftest import REPO_ROOT, TINY_ENV


def numeric_metrics(serialization_dir: Path) -> Dict[str, float]:
    """metrics.json without what depends on the machine (durations, memory)."""
    metrics = json.loads((serialization_dir / "metrics.json").read_text())
    return {
        key: value
        for key, value in metrics.items()
        if isinstance(value, (int, float)) and "duration" not in key and "memory" not in key
    }


def assert_same_metrics(actual: Dict[str, float], expected: Dict[str, float]) -> None:
    assert set(actual) == set(expected)
    assert any(key.startswith("best_validation_") for key in expected)
    assert "training_loss" in expected and "validation_loss" in expected
    for key, value in expected.items():
        assert actual[key] == pytest.approx(value, rel=1e-6, abs=1e-12), key


@pytest.mark.parametrize("module", ["ner", "re"])
def test_same_config_and_seed_give_the_same_metrics(module: str, tiny_env: dict, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ERE_EPOCHS", "2")
    runs = []
    for run in ("first", "second"):
        train_model_from_file(f"training_configs/scierc_{module}.jsonnet", str(tmp_path / run), include_package=["ere_allennlp"])
        runs.append(numeric_metrics(tmp_path / run))
    assert runs[0] == runs[1]  # exactly equal, not only approximately


def _env(epochs: int) -> dict:
    env = dict(os.environ)
    env.update(TINY_ENV)
    env.update(ERE_EPOCHS=str(epochs), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return env


def _train(serialization_dir: Path, epochs: int, log: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "allennlp", "ere-train", "training_configs/scierc_ner.jsonnet", "-s", str(serialization_dir),
         "--include-package", "ere_allennlp", *extra],
        cwd=REPO_ROOT, env=_env(epochs), stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )


def _kill_after_first_epoch(process: subprocess.Popen, log: Path, timeout: float = 300.0) -> bool:
    """SIGKILLs the run's process group once epoch 1 has started, i.e. after the checkpoint of
    epoch 0 was written (the trainer logs "Epoch 1/..." after saving it). False if it finished first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "Epoch 1/" in log.read_text(errors="replace"):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    raise AssertionError(f"training did not reach epoch 1 in {timeout} s:\n{log.read_text()[-3000:]}")


def _finish(process: subprocess.Popen, log: Path) -> None:
    assert process.wait(timeout=600) == 0, log.read_text()[-3000:]


def test_recover_after_kill_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    for epochs in (3, 6, 12):  # longer if the run finished before it could be killed
        interrupted = tmp_path / f"interrupted_{epochs}"
        killed_log = tmp_path / f"killed_{epochs}.log"
        if _kill_after_first_epoch(_train(interrupted, epochs, killed_log), killed_log):
            break
    else:
        pytest.fail("every run finished before it could be killed")

    # The uninterrupted run with the same config and seed, while the killed one recovers.
    reference = tmp_path / "reference"
    reference_log = tmp_path / "reference.log"
    reference_run = _train(reference, epochs, reference_log)

    assert not (interrupted / "model.tar.gz").exists()
    assert (interrupted / "metrics_epoch_0.json").exists() and (interrupted / "rng_state_epoch_0.pt").exists()
    epoch_0 = (interrupted / "metrics_epoch_0.json").read_text()
    recover_log = tmp_path / "recover.log"
    _finish(_train(interrupted, epochs, recover_log, "--recover"), recover_log)
    _finish(reference_run, reference_log)

    # It really continued from the checkpoint: epoch 0 was not trained (nor its metrics rewritten) again.
    assert "rng_state: restored the RNG states saved after epoch" in recover_log.read_text()
    assert (interrupted / "metrics_epoch_0.json").read_text() == epoch_0
    assert (interrupted / "model.tar.gz").exists()
    assert_same_metrics(numeric_metrics(interrupted), numeric_metrics(reference))
    assert json.loads((interrupted / "metrics.json").read_text())["epoch"] == epochs - 1
