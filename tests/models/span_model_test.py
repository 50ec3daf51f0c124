"""Train/save/load every module from its real training config, on the tiny BERT and fixtures;
every tensor of a module moves with it; half precision (autocast) against float32."""
import itertools

import pytest
import torch
from allennlp.common.testing import ModelTestCase

from ere_allennlp import configs
from ere_allennlp.models.span_model import SpanModel
from tests.models.fixture_models import (
    AUTOCAST_LOSS_TOLERANCE,
    AUTOCAST_PROBABILITY_TOLERANCE,
    AUTOCAST_SAME_DECISIONS,
    autocast_agreement,
    build,
    fit,
    tensors,
    unregistered_tensors,
)

MODULES = [m for m in configs.module_order() if m != "pruner"]
# The pooler of the tiny BERT is not used by the mismatched embedder.
POOLER = {
    "_embedder.token_embedder_tokens._matched_embedder.transformer_model.pooler.dense.weight",
    "_embedder.token_embedder_tokens._matched_embedder.transformer_model.pooler.dense.bias",
}


class TestSpanModules(ModelTestCase):
    def config(self, module: str) -> str:
        """training_configs/scierc_<module>.jsonnet read with the tiny settings (`tiny_env`), as a
        JSON file: ModelTestCase reads its config with AllenNLP's Params.from_file."""
        path = self.TEST_DIR / f"scierc_{module}.json"
        configs.params_from_file(f"training_configs/scierc_{module}.jsonnet").to_file(str(path))
        return str(path)

    @pytest.mark.parametrize("module", MODULES)
    def test_train_save_load(self, module: str, tiny_env: dict) -> None:
        self.set_up_model(self.config(module), "fixtures/data/dev.json", seed=1)
        ignore = set(POOLER)
        if module in ("nerri", "nerre", "nerre_star"):
            ignore |= {n.replace("_embedder", "_pruner._embedder", 1) for n in POOLER}
            # softmax over a span's tokens is invariant to the attention scorer's bias
            ignore.add("_pruner._attentive._global_attention._module.bias")
        self.ensure_model_can_train_save_and_load(self.param_file, gradients_to_ignore=ignore, seed=1)
        assert isinstance(self.model, SpanModel)

    def test_joint_modules_use_mean_field(self, tiny_env: dict) -> None:
        self.set_up_model(self.config("nerre"), "fixtures/data/dev.json")
        assert self.model._inference is not None and self.model._inference.iterations == 3
        assert self.model._ternary is not None and self.model._ternary.get_hidden_dim() == 200
        self.set_up_model(self.config("nerre_star"), "fixtures/data/dev.json")
        assert self.model._inference is None and self.model._ternary is None

    def test_relation_only_module_metrics_use_given_entities(self, tiny_env: dict) -> None:
        """Re on gold spans reports relation metrics, and its strict metrics use the gold labels
        of the entities it was given."""
        self.set_up_model(self.config("re"), "fixtures/data/dev.json")
        self.model.eval()
        batch = self.dataset.as_tensor_dict()
        with torch.no_grad():
            self.model(**batch)
        metrics = self.model.get_metrics(reset=True)
        assert set(metrics) == {f"{m}_{k}" for m in ("rel_i", "rel_c", "strict_rel_i", "strict_rel_c", "rel_c_macro",
                                                     "strict_rel_c_macro") for k in ("p", "r", "f1")}
        assert metrics["strict_rel_c_f1"] == pytest.approx(metrics["rel_c_f1"])


# ------------------------------------------------------------------ devices and precision
@pytest.mark.parametrize("module", MODULES)
def test_every_tensor_moves_with_the_module(module: str) -> None:
    """Everything a module computes with is a registered parameter or buffer, its pruner's
    included, so ``.cuda()`` moves it all: after ``.to(torch.float64)`` no parameter or buffer is
    left in float32 and the module runs on float64 inputs, giving float64 log-probabilities. The
    one tensor held outside is the pruner's folded weight, a cache derived from its weights and
    recomputed when they move or change dtype (below)."""
    model, instances = build(module, split="dev")
    batch = tensors(instances)
    model.eval()
    with torch.no_grad():
        model(**batch)  # fills the caches
    pruned = model.pruner is not None
    assert unregistered_tensors(model) == (["_pruner._folded[1]"] if pruned else [])
    model.to(torch.float64)
    floating = [t for t in itertools.chain(model.parameters(), model.buffers()) if t.is_floating_point()]
    assert floating and {t.dtype for t in floating} == {torch.float64}
    with torch.no_grad():
        output = model(**batch)
        scores = model.score(batch["tokens"], batch["spans"])
    assert output["loss"].dtype == torch.float64 and torch.isfinite(output["loss"])
    for log_probs in (scores.entity_lp, scores.relation_lp):
        assert log_probs is None or log_probs.dtype == torch.float64
    if pruned:
        assert model.pruner._folded[1].dtype == torch.float64


@pytest.mark.parametrize("module", MODULES)
def test_bfloat16_autocast_agrees_with_float32(module: str) -> None:
    """Under ``torch.autocast("cpu", dtype=torch.bfloat16)`` a module trains (finite loss and
    gradients), and in eval mode its loss and log-probabilities are finite, the log-probabilities
    float32 (the logits are upcast before they are normalised), its probabilities within
    `AUTOCAST_PROBABILITY_TOLERANCE` of float32's on the same spans and its decisions the same."""
    model, instances = build(module, split="dev")
    batch = tensors(instances)
    fit(model, batch, steps=20)
    model.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = model(**batch)["loss"]
    loss.backward()
    gradients = [p.grad for p in model.parameters() if p.grad is not None]
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert gradients and all(bool(torch.isfinite(g).all()) for g in gradients)

    model.eval()
    result = autocast_agreement(model, batch)
    assert result["finite"] and set(result["dtypes"].values()) == {torch.float32}
    full, half = result["loss"]
    assert abs(full - half) <= AUTOCAST_LOSS_TOLERANCE * abs(full) + 1e-3
    tasks = [task for task in ("entity", "relation") if task in result]
    assert tasks
    for task in tasks:
        assert result[task]["max_diff"] <= AUTOCAST_PROBABILITY_TOLERANCE, (task, result[task])
        assert result[task]["agree"] >= AUTOCAST_SAME_DECISIONS * result[task]["total"], (task, result[task])
