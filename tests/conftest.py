"""Shared test setup: run every test from the repository root, offline.

Configs and fixtures name their files relative to the repository root (``fixtures/tiny_bert``,
``fixtures/data/train.json``), so each test runs with the root as its working directory.
"""
import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = REPO_ROOT / "fixtures"

# Everything the tests load is local; never try the Hugging Face hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _run_from_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO_ROOT)

# Settings under which training_configs/*.jsonnet run on the fixtures in seconds.
TINY_ENV = {
    "ERE_ENCODER": "fixtures/tiny_bert",
    "ERE_DATA_DIR": "fixtures/data",
    "ERE_EPOCHS": "1",
    "ERE_LR": "1e-3",
    "ERE_BATCH_SIZE": "4",
    "ERE_PRUNER": "",
    "ERE_SEED": "13370",
}


@pytest.fixture
def tiny_env(monkeypatch: pytest.MonkeyPatch) -> dict:
    """The real training configs, pointed at the tiny BERT and the fixture corpus."""
    for name, value in TINY_ENV.items():
        monkeypatch.setenv(name, value)
    return dict(TINY_ENV)


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory):
    """Tiny modules trained on first use, once per session (``tests/models/module_runs.py``).
    Shared by tests/models/approach_test.py, tests/models/approaches_all_test.py and
    tests/api_test.py; a fixture in tests/models/conftest.py would not reach tests/api_test.py."""
    from tests.models.module_runs import ModuleRuns  # imported lazily: it imports this module

    return ModuleRuns(tmp_path_factory.mktemp("module_runs"))

# `make test` runs two pytest workers on two cores: one torch thread each avoids oversubscription
# (measured: one tiny NerRe epoch took 41 s with 2 threads per worker, 0.4 s with 1).
torch.set_num_threads(1)
