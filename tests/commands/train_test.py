"""`allennlp ere-train` hands the device and mixed precision to AllenNLP's trainer: run in this
process under `pretend_cuda` (tests/conftest.py), which records where things are asked to go and
keeps them on this CPU-only machine."""
import json
import math
import sys
import warnings
from pathlib import Path

import pytest
import torch

from ere_allennlp.configs import train_model_from_file
from tests.conftest import DeviceLog
from tests.models.module_runs import single_thread

TINY_SETTINGS = ["--setting", "encoder=fixtures/tiny_bert", "--setting", "data_dir=fixtures/data", "--setting", "epochs=1",
                 "--setting", "batch_size=4", "--setting", "lr=1e-3"]


def ere_train(monkeypatch: pytest.MonkeyPatch, *argv: str) -> None:
    from allennlp.commands import main

    monkeypatch.setattr(sys, "argv", ["allennlp", "ere-train", *argv])
    with single_thread():
        main(prog="allennlp")


def test_cuda_device_and_use_amp_reach_the_trainer(tmp_path: Path, monkeypatch, pretend_cuda: DeviceLog) -> None:
    """``ERE_CUDA_DEVICE=0 ERE_USE_AMP=true allennlp ere-train``: the trainer gets cuda:0 and
    ``use_amp``, moves the model and every batch there, and builds its gradient scaler. On a machine
    without CUDA, torch disables that CUDA scaler and CUDA autocast themselves (with a warning), so
    the epoch runs in float32 on the CPU: this checks the wiring, not mixed precision (which the
    autocast tests of tests/models/ check on the CPU in bfloat16). With the CPU as the device
    AllenNLP refuses ``use_amp`` (tests/training_configs_test.py)."""
    monkeypatch.setenv("ERE_CUDA_DEVICE", "0")
    monkeypatch.setenv("ERE_USE_AMP", "true")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ere_train(monkeypatch, "scierc_ner", "-s", str(tmp_path / "ner"), *TINY_SETTINGS)
    (trainer,) = pretend_cuda.trainers
    assert trainer.cuda_device == torch.device("cuda", 0)
    assert trainer._use_amp and trainer._scaler is not None and not trainer._scaler.is_enabled()
    messages = {str(w.message) for w in caught}
    assert any("GradScaler is enabled, but CUDA is not available" in m for m in messages)
    assert any("CUDA is not available" in m and "Disabling autocast" in m for m in messages)
    assert ("Ner", 0) in pretend_cuda.moved
    assert pretend_cuda.batches and set(pretend_cuda.batches) == {torch.device("cuda", 0)}
    metrics = json.loads((tmp_path / "ner" / "metrics.json").read_text())
    assert math.isfinite(metrics["training_loss"])
    config = json.loads((tmp_path / "ner" / "config.json").read_text())
    assert config["trainer"]["cuda_device"] == 0 and config["trainer"]["use_amp"] is True


def test_a_pruner_archive_is_loaded_on_the_cpu_and_moves_with_its_module(
    tmp_path: Path, monkeypatch, pretend_cuda: DeviceLog
) -> None:
    """NerRe with a trained pruner (setting ``pruner``): AllenNLP's ``from_archive`` loads the pruner
    archive on the CPU (it takes no device), and the trainer's ``.cuda(0)`` of NerRe moves it, a
    registered submodule (tests/models/span_model_test.py checks that every tensor moves)."""
    small = json.dumps({"model.biaffine_dim": 16, "model.biaffine_projection_dim": 8, "model.hidden_dim": 16})
    settings = {"encoder": "fixtures/tiny_bert", "data_dir": "fixtures/data", "epochs": 1, "batch_size": 4}
    with single_thread():
        train_model_from_file("training_configs/scierc_pruner.jsonnet", tmp_path / "pruner", small, settings)
    pretend_cuda.loads.clear()
    pretend_cuda.trainers.clear()
    ere_train(monkeypatch, "scierc_nerre", "-s", str(tmp_path / "nerre"), *TINY_SETTINGS, "--setting", "cuda_device=0",
              "--setting", f"pruner={tmp_path / 'pruner' / 'model.tar.gz'}")
    assert pretend_cuda.loads == [("span_pruner", -1)]
    (trainer,) = pretend_cuda.trainers
    assert trainer.cuda_device == torch.device("cuda", 0) and not trainer._use_amp
    assert ("NerRe", 0) in pretend_cuda.moved
    assert trainer.model.pruner in set(trainer.model.modules())
