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


class DeviceLog:
    """What code given a GPU index asked for (`pretend_cuda`): archives loaded (model type, the
    ``cuda_device`` ``Model.load`` was given), modules moved by ``.cuda()`` (class name, device),
    batches moved (device) and the trainers built."""

    def __init__(self) -> None:
        self.loads: list = []
        self.moved: list = []
        self.batches: list = []
        self.trainers: list = []

    def loaded(self, model_type: str) -> list:
        """The ``cuda_device`` of every load of a model of `model_type`, in order."""
        return [device for kind, device in self.loads if kind == model_type]


@pytest.fixture
def pretend_cuda(monkeypatch: pytest.MonkeyPatch) -> DeviceLog:
    """Runs code given a GPU index (``cuda_device=0``) on this CPU-only machine, recording where it
    asks for things to go: ``Model.load`` (every archive loaded: ``load_archive``, ``from_archive``,
    an approach's stages) records its ``cuda_device`` and reads the weights onto the CPU,
    ``Module.cuda`` records and leaves the module where it is, AllenNLP's ``move_to_device`` records
    and leaves the batch, ``check_for_gpu`` passes. What AllenNLP does with the device itself
    (autocast, the gradient scaler) runs as it does on a machine without CUDA."""
    import allennlp.commands.predict
    import allennlp.commands.train
    import allennlp.evaluation.evaluator
    import allennlp.nn.util
    import allennlp.training.gradient_descent_trainer as gradient_descent_trainer
    import allennlp.training.trainer
    import allennlp.training.util
    from allennlp.models import Model

    log = DeviceLog()
    load = Model.__dict__["load"].__func__

    def recording_load(cls, config, serialization_dir, weights_file=None, cuda_device=-1):
        model = config["model"]
        log.loads.append((model if isinstance(model, str) else model["type"], cuda_device))
        return load(cls, config, serialization_dir, weights_file, cuda_device)

    def recording_cuda(module: torch.nn.Module, device=None) -> torch.nn.Module:
        log.moved.append((type(module).__name__, device))
        return module

    read_state_dict = allennlp.nn.util.read_state_dict

    def cpu_state_dict(path, strip_prefix=None, ignore=None, strict=True, cuda_device=-1):
        return read_state_dict(path, strip_prefix, ignore, strict, cuda_device=-1)

    def recording_move(obj, cuda_device):
        log.batches.append(allennlp.nn.util.int_to_device(cuda_device))
        return obj

    trainer_init = gradient_descent_trainer.GradientDescentTrainer.__init__

    def recording_trainer(trainer, *args, **kwargs):
        trainer_init(trainer, *args, **kwargs)
        log.trainers.append(trainer)

    monkeypatch.setattr(Model, "load", classmethod(recording_load))
    monkeypatch.setattr(torch.nn.Module, "cuda", recording_cuda)
    monkeypatch.setattr(allennlp.nn.util, "read_state_dict", cpu_state_dict)
    monkeypatch.setattr(allennlp.nn.util, "move_to_device", recording_move)
    for module in (allennlp.commands.predict, allennlp.commands.train, allennlp.evaluation.evaluator,
                   gradient_descent_trainer, allennlp.training.trainer, allennlp.training.util):
        monkeypatch.setattr(module, "check_for_gpu", lambda device: None)
    monkeypatch.setattr(gradient_descent_trainer.GradientDescentTrainer, "__init__", recording_trainer)
    return log
