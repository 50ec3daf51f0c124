"""Every shipped training config builds (as allennlp-models' training_config_test.py does), with
the paper's settings and with each recipe, and a recipe's options reach the models it names."""
from pathlib import Path
from typing import Any, Dict

import pytest
from allennlp.common import Params

from ere_allennlp.study.runner import recipe_names
from tests.conftest import REPO_ROOT

CONFIGS = sorted((REPO_ROOT / "training_configs").glob("*.jsonnet"))


def config_of(config: Path, monkeypatch: pytest.MonkeyPatch, recipe: str) -> Dict[str, Any]:
    monkeypatch.setenv("ERE_RECIPE", recipe)
    return Params.from_file(str(config)).as_dict()


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_every_config_builds_with_every_recipe(config: Path, tiny_env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    paper = config_of(config, monkeypatch, "")
    assert paper["trainer"]["learning_rate_scheduler"]["cut_frac"] == 0.5  # Table 7's warm-up rate
    for recipe in recipe_names(str(REPO_ROOT / "training_configs")):
        built = config_of(config, monkeypatch, recipe)
        assert built["trainer"]["learning_rate_scheduler"]["cut_frac"] != 0.5  # the recipe took effect
        assert built["model"]["type"] == paper["model"]["type"]


def test_cpu_recipe_options(tiny_env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERE_LR", "")
    nerre = config_of(REPO_ROOT / "training_configs/scierc_nerre.jsonnet", monkeypatch, "cpu")
    re = config_of(REPO_ROOT / "training_configs/scierc_re.jsonnet", monkeypatch, "cpu")
    paper = config_of(REPO_ROOT / "training_configs/scierc_nerre.jsonnet", monkeypatch, "")
    assert nerre["model"]["null_relation_weight"] == 0.3  # pruned modules only
    assert "null_relation_weight" not in re["model"] and "null_relation_weight" not in paper["model"]
    assert nerre["trainer"]["learning_rate_scheduler"]["cut_frac"] == 0.1
    assert nerre["trainer"]["optimizer"]["lr"] == 1e-4 and paper["trainer"]["optimizer"]["lr"] == 1e-5
    monkeypatch.setenv("ERE_LR", "3e-5")  # an explicit variable wins over the recipe
    assert config_of(REPO_ROOT / "training_configs/scierc_nerre.jsonnet", monkeypatch, "cpu")["trainer"]["optimizer"]["lr"] == 3e-5
    monkeypatch.setenv("ERE_RECIPE", "gpu")
    with pytest.raises(Exception, match="ERE_RECIPE=gpu is not a recipe; choose one of cpu"):
        Params.from_file(str(REPO_ROOT / "training_configs/scierc_nerre.jsonnet"))
