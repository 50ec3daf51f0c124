"""Regression test: the joint modules learn. NerRe (pruner + mean-field) and EcRe (mean-field on
gold spans), trained through their shipped configs on the fixture train split with the tiny BERT,
must fit their training sentences.

Predicting null for every pair scores Rel+-C F1 0, and so does any model whose relation head stops
learning (measured: with ``relation_loss_weight: 0`` NerRe's train Rel+-C stays 0). Fitted, both
reach 1.0 (measured: NerRe 1.0 after 30 epochs, 0.49 after 15; EcRe 1.0 after 15). The
threshold 0.8 leaves room for seeds and thread counts while failing anything that learns relations
only partly. The configs are the paper's (sum loss, T = 3, nulls in the ternary factors), with
lr 1e-3 everywhere as ``TINY_ENV`` sets, so the test guards the defaults users train.
"""
import json
import logging
from pathlib import Path

import pytest
from ere_allennlp.configs import train_model_from_file

from tests.models.module_runs import PRUNER_OVERRIDES, single_thread

FIT = {"nerre": 30, "ecre": 15}  # epochs


@pytest.mark.parametrize("module", sorted(FIT))
def test_joint_module_fits_its_training_sentences(module: str, tiny_env: dict, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ERE_EPOCHS", str(FIT[module]))
    overrides = json.loads(PRUNER_OVERRIDES) if module == "nerre" else {}
    overrides["validation_data_path"] = "fixtures/data/train.json"  # validate on what it trains on
    logging.disable(logging.INFO)
    try:
        with single_thread():
            train_model_from_file(
                f"training_configs/scierc_{module}.jsonnet", str(tmp_path), overrides=json.dumps(overrides), force=True
            )
    finally:
        logging.disable(logging.NOTSET)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["best_validation_strict_rel_c_f1"] >= 0.8, metrics
    assert metrics["best_validation_ent_c_f1"] >= 0.8, metrics
