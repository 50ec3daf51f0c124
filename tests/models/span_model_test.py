"""Train/save/load every module from its real training config, on the tiny BERT and fixtures."""
import pytest
import torch
from allennlp.common.testing import ModelTestCase

from ere_allennlp import configs
from ere_allennlp.models.span_model import SpanModel

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
        assert set(metrics) == {f"{m}_{k}" for m in ("rel_i", "rel_c", "strict_rel_i", "strict_rel_c") for k in ("p", "r", "f1")}
        assert metrics["strict_rel_c_f1"] == pytest.approx(metrics["rel_c_f1"])
