"""Multi-process training through AllenNLP's distributed trainer (torch.distributed, gloo on CPU).

`ERE_DISTRIBUTED="[-1,-1]"` turns a training config into two CPU worker processes. Each worker
reads its own shard of the documents (`EreJsonReader` shards with `shard_iterable`) and `EreF1`
sums its counts over the workers, so the validation metrics of an epoch must equal a
single-process evaluation of the same weights on the whole validation file.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, TINY_ENV

SIX = ("ent_i", "ent_c", "rel_i", "rel_c", "strict_rel_i", "strict_rel_c")


def allennlp(*args: str, env: dict) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "allennlp", *args, "--include-package", "ere_allennlp"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    if result.returncode != 0:
        raise AssertionError(f"allennlp {' '.join(args)} failed:\n{result.stderr[-4000:]}")
    return result


def test_two_cpu_workers_train_and_aggregate_metrics(tmp_path: Path) -> None:
    env = dict(os.environ)
    env.update(TINY_ENV)
    # Batch size 4 gives each worker two validation batches (the dev shards hold 8 and 6
    # sentences), so no validation batch is dropped (see the check of the worker logs below).
    # A larger head learning rate and 15 epochs make the tiny model predict some entities.
    env.update(
        ERE_DISTRIBUTED="[-1,-1]", ERE_EPOCHS="15", ERE_HEAD_LR="1e-2", ERE_BATCH_SIZE="4",
        HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1",
    )
    run = tmp_path / "run"
    allennlp("ere-train", "training_configs/scierc_ner.jsonnet", "-s", str(run), env=env)
    assert (run / "model.tar.gz").exists()
    assert (run / "out_worker0.log").exists() and (run / "out_worker1.log").exists()
    config = json.loads((run / "config.json").read_text())
    assert config["distributed"]["cuda_devices"] == [-1, -1]
    assert "cuda_device" not in config["trainer"]
    # AllenNLP stops every worker when the first runs out of validation batches; the metrics
    # then miss the others' remaining batches. Make sure the comparison below is on all data.
    for worker in (0, 1):
        assert "finishing validation early" not in (run / f"out_worker{worker}.log").read_text()

    metrics = json.loads((run / "metrics.json").read_text())
    best = metrics["best_epoch"]
    distributed = json.loads((run / f"metrics_epoch_{best}.json").read_text())
    names = [key for key in distributed if key.startswith("validation_") and key.rsplit("_", 1)[0][11:] in SIX]
    assert {key[11:] for key in names} == {f"{m}_{k}" for m in ("ent_i", "ent_c") for k in ("p", "r", "f1")}
    assert distributed["validation_ent_i_r"] > 0.0, "the comparison needs some predicted entities"

    # The archive holds the best epoch's weights: evaluate them in one process on the whole file.
    single_env = dict(env, ERE_DISTRIBUTED="")
    out = tmp_path / "eval.json"
    allennlp("evaluate", str(run / "model.tar.gz"), "fixtures/data/dev.json", "--output-file", str(out),
             "--cuda-device", "-1", env=single_env)
    single = json.loads(out.read_text())
    for key in names:
        assert single[key[11:]] == pytest.approx(distributed[key], abs=1e-12), key
