"""Every shipped training config builds (as allennlp-models' training_config_test.py does): read
without the package or any environment variable, read with each recipe, and built into its reader
and model on the fixtures. Settings reach the configs (ere_allennlp.configs) and only them."""
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import DatasetReader, Vocabulary
from allennlp.models import Model

from ere_allennlp import configs
from ere_allennlp.metrics.ere_f1 import SCORES, EreF1
from ere_allennlp.models.registry import register_module
from ere_allennlp.models.span_model import SpanModel
from ere_allennlp.models.span_pruner import SpanPruner
from tests.conftest import REPO_ROOT
from tests.models.fixture_models import build

MODULE_CONFIGS = sorted(configs.CONFIG_DIR.glob("*.jsonnet"))
APPROACH_CONFIGS = sorted(configs.CONFIG_DIR.glob("approaches/*.jsonnet"))
TINY = {"encoder": "fixtures/tiny_bert", "data_dir": "fixtures/data", "epochs": 1, "batch_size": 4}
SMALL_PRUNER = {"biaffine_dim": 16, "biaffine_projection_dim": 8, "hidden_dim": 16}


def read(config: Path, **settings: Any) -> Dict[str, Any]:
    return configs.params_from_file(config, settings).as_dict(quiet=True)


def test_the_repository_folder_is_the_package_folder() -> None:
    assert (REPO_ROOT / "training_configs").resolve() == configs.CONFIG_DIR
    datasets = len(configs.datasets())
    assert len(MODULE_CONFIGS) == datasets * len(configs.module_order()) and len(APPROACH_CONFIGS) == datasets * len(configs.approaches())


def test_configs_read_without_the_package_or_the_environment(tmp_path: Path) -> None:
    """AllenNLP's own Params.from_file, in a process that never imports ere_allennlp, with no ERE_* set."""
    script = (
        "import json, sys; from allennlp.common import Params\n"
        "out = {p: Params.from_file(p).as_dict(quiet=True) for p in sys.argv[1:]}\n"
        "assert 'ere_allennlp' not in sys.modules\n"
        "print(json.dumps(out))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERE_")}
    paths = [str(p) for p in MODULE_CONFIGS + APPROACH_CONFIGS]
    result = subprocess.run([sys.executable, "-c", script, *paths], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    built = json.loads(result.stdout.splitlines()[-1])
    for path in paths:
        assert built[path] == read(Path(path))  # the same config as the package reads with no settings
    nerre = built[str(configs.CONFIG_DIR / "scierc_nerre.jsonnet")]
    assert nerre["trainer"]["num_epochs"] == 300 and nerre["trainer"]["optimizer"]["lr"] == 1e-5  # Table 7
    assert nerre["model"]["embedder"]["token_embedders"]["tokens"]["model_name"] == "allenai/scibert_scivocab_uncased"
    assert built[str(configs.CONFIG_DIR / "ace05_nerre.jsonnet")]["trainer"]["num_epochs"] == 200


@pytest.mark.parametrize("config", MODULE_CONFIGS, ids=[c.stem for c in MODULE_CONFIGS])
def test_every_module_config_builds_with_every_recipe(config: Path) -> None:
    paper = read(config, **TINY)
    assert paper["trainer"]["learning_rate_scheduler"]["cut_frac"] == 0.5  # Table 7's warm-up rate
    assert paper["trainer"]["use_amp"] is False and paper["trainer"]["cuda_device"] == -1  # float32 on the CPU
    assert {"type": "model_epoch"} in paper["trainer"]["callbacks"]  # SpanModel's mean_field_start_epoch
    for recipe in configs.recipe_names():
        built = read(config, recipe=recipe, **TINY)
        assert built["trainer"]["learning_rate_scheduler"]["cut_frac"] != 0.5  # the recipe took effect
        assert built["model"]["type"] == paper["model"]["type"]
    # Built into its reader and model (the model's vocabulary from the fixtures' dev split).
    params = Params(paper)
    reader = DatasetReader.from_params(params.pop("dataset_reader"))
    instances = list(reader.read("fixtures/data/dev.json"))
    model_params = params.pop("model")
    if model_params.get("pruner") is not None:
        model_params["pruner"].update(SMALL_PRUNER)
    elif model_params["type"] == "span_pruner":
        model_params.update(SMALL_PRUNER)
    model = Model.from_params(vocab=Vocabulary.from_instances(instances), params=model_params)
    assert isinstance(model, (SpanModel, SpanPruner))


@pytest.mark.parametrize("config", APPROACH_CONFIGS, ids=[c.stem for c in APPROACH_CONFIGS])
def test_every_approach_config_names_its_stages(config: Path) -> None:
    dataset, name = config.stem.split("_", 1)
    built = read(config, runs="/somewhere")
    assert built["model"]["type"] == "ere_approach"
    assert built["model"]["cuda_device"] == -1 and read(config, cuda_device=1)["model"]["cuda_device"] == 1
    assert built["model"]["stages"] == [f"/somewhere/{dataset}_{m}/model.tar.gz" for m in configs.approaches()[name]]


@pytest.mark.parametrize("module", configs.module_order())
def test_every_module_validates_on_a_metric_it_reports(module: str) -> None:
    """The validation metric of a module (``modules`` in lib/ere.libsonnet, the trainer's
    ``validation_metric`` of both datasets' configs) is one of the metrics its model reports, so the
    libsonnet's names and the metrics' (ere_allennlp/metrics/ere_f1.py, the pruner's) cannot drift."""
    spec = configs.modules()[module]
    for dataset in configs.datasets():
        assert read(configs.module_config(dataset, module))["trainer"]["validation_metric"] == spec["metric"]
    model, _ = build(module, split="dev")
    reported = set(model.get_metrics())  # every name, before any batch
    assert spec["metric"][0] in "+-" and spec["metric"][1:] in reported, (module, sorted(reported))
    if isinstance(model, SpanModel):
        expected = EreF1.reported_by(model.ENTITY_HEAD is not None, model.RELATION_HEAD is not None)
        assert reported == {f"{name}_{score}" for name in expected for score in SCORES}
    if module == "ei":  # the check can fail: Ei reports no relation metric
        assert "rel_c_f1" not in reported


def test_module_types_name_the_registered_classes() -> None:
    """Each module's ``type`` (lib/ere.libsonnet) is a registered model; a span module's class is
    registered under its one ``MODULE`` (models/registry.py)."""
    for name, spec in configs.modules().items():
        cls = Model.by_name(spec["type"])
        if spec["type"] == "span_pruner":
            assert cls is SpanPruner and name == configs.pruner_module()
        else:
            assert issubclass(cls, SpanModel) and cls.MODULE == spec["type"], name
    for cls in SpanModel.__subclasses__():
        if cls.__module__.startswith("ere_allennlp.models.modules."):
            assert Model.by_name(cls.MODULE) is cls
    with pytest.raises(ValueError, match="Unnamed names no MODULE"):
        register_module(type("Unnamed", (SpanModel,), {}))


def test_the_tables_of_the_configs() -> None:
    """configs' readers of lib/ere.libsonnet and lib/approach.libsonnet: the datasets in the
    commands' order, the pruner's module, the study's tables and the approaches' names in them."""
    assert configs.datasets() == ["scierc", "ace05", "conll04"]
    assert sorted(configs.datasets()) == sorted({c.stem.split("_", 1)[0] for c in MODULE_CONFIGS})
    assert configs.pruner_module() == "pruner"
    assert {name: spec["name"] for name, spec in configs.modules().items()} == {
        "pruner": "Pruner", "ei": "Ei", "ec": "Ec", "ner": "Ner", "ri": "Ri", "rc": "Rc", "re": "Re",
        "ecri": "EcRi", "ecre": "EcRe", "nerri": "NerRi", "nerre": "NerRe", "nerre_star": "NerRe*",
    }
    assert configs.study_tables() == {
        "table2": ["a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8"],
        "table3": ["gold_ri_rc", "gold_re"],
        "table4": ["pruner", "ei"],
        "table5": ["a6", "ei_nerre", "a8"],
        "table6": ["ei_nerre", "ei_nerre_star", "a8", "nerre_star"],
    }
    assert configs.approach_names() == {
        "a1": "a1 Ei-Ec-Ri-Rc", "a2": "a2 Ei-Ec-Re", "a3": "a3 Ner-Ri-Rc", "a4": "a4 Ner-Re",
        "a5": "a5 Ei-EcRi-Rc", "a6": "a6 Ei-EcRe", "a7": "a7 NerRi-Rc", "a8": "a8 NerRe",
        "ei_nerre": "Ei-NerRe", "ei_nerre_star": "Ei-NerRe*", "nerre_star": "NerRe*",
        "gold_ri_rc": "Ri-Rc", "gold_re": "Re",
    }


def test_the_tables_refuse_what_they_do_not_know(tmp_path: Path) -> None:
    """A copy of the configs whose tables name an unknown approach, or miss a dataset in its order,
    is refused when the tables are read."""
    import shutil

    for edit, file, message in (
        (lambda t: t.replace('table3: known(["gold_ri_rc", "gold_re"]', 'table3: known(["gold_ri_rc", "gold_rx"]'),
         "approach.libsonnet", "approach.es. gold_rx in `tables` are unknown"),
        (lambda t: t.replace('local dataset_order = ["scierc", "ace05", "conll04"];', 'local dataset_order = ["scierc"];'),
         "ere.libsonnet", "dataset_order must list every dataset"),
    ):
        folder = tmp_path / file
        shutil.copytree(configs.CONFIG_DIR, folder)
        library = folder / "lib" / file
        text = library.read_text(encoding="utf-8")
        assert edit(text) != text
        library.write_text(edit(text), encoding="utf-8")
        with pytest.raises(RuntimeError, match=message):
            configs.tables(folder)


def test_cpu_recipe_options() -> None:
    nerre = read(configs.module_config("scierc", "nerre"), recipe="cpu")
    re = read(configs.module_config("scierc", "re"), recipe="cpu")
    paper = read(configs.module_config("scierc", "nerre"))
    assert nerre["model"]["null_relation_weight"] == 0.3  # pruned modules only
    assert "null_relation_weight" not in re["model"] and "null_relation_weight" not in paper["model"]
    assert nerre["model"]["relation_arguments_as_entities"] is True  # pruned modules only (#22)
    assert nerre["model"]["relation_arguments_joint"] is True  # pruned modules only (#22)
    assert "relation_arguments_joint" not in re["model"] and "relation_arguments_joint" not in paper["model"]
    assert nerre["model"]["ternary_null_labels"] == "none"  # pruned modules only (#22)
    assert "ternary_null_labels" not in re["model"] and "ternary_null_labels" not in paper["model"]
    assert "relation_arguments_as_entities" not in re["model"] and "relation_arguments_as_entities" not in paper["model"]
    ecre = read(configs.module_config("scierc", "ecre"), recipe="cpu")
    assert ecre["model"]["diagnostic_metrics"] is True and nerre["model"]["diagnostic_metrics"] is True  # mean-field modules
    assert "diagnostic_metrics" not in re["model"] and "diagnostic_metrics" not in paper["model"]
    star = read(configs.module_config("scierc", "nerre_star"), recipe="cpu")
    assert "diagnostic_metrics" not in star["model"] and star["model"]["relation_arguments_as_entities"] is True
    assert star["model"]["relation_arguments_joint"] is True
    # mean_field_start_share: the pruned mean-field modules' first 60 % of epochs without mean field (#22)
    assert nerre["model"]["mean_field_start_epoch"] == 180  # of Table 7's 300 (no `epochs`)
    starts = {module: read(configs.module_config("scierc", module), recipe="cpu", epochs=3)["model"].get("mean_field_start_epoch")
              for module in ("nerre", "nerri", "nerre_star", "ecre", "re")}
    assert starts == {"nerre": 3, "nerri": 3, "nerre_star": None, "ecre": None, "re": None}  # 5 epochs -> 3
    assert "mean_field_start_epoch" not in paper["model"]
    assert nerre["trainer"]["learning_rate_scheduler"]["cut_frac"] == 0.1
    # table7_epoch_ratio: with `epochs`, the modules Table 7 trains longer keep its proportion (rounded up)
    epochs = {(dataset, module): read(configs.module_config(dataset, module), recipe="cpu", epochs=3)["trainer"]["num_epochs"]
              for dataset in ("scierc", "ace05", "conll04") for module in ("ner", "ecre", "pruner", "nerri", "nerre", "nerre_star")}
    assert epochs == {(d, m): (3 if m in ("ner", "ecre", "pruner") else 6 if d == "ace05" else 5) for d, m in epochs}
    assert read(configs.module_config("scierc", "nerre"), epochs=3)["trainer"]["num_epochs"] == 3  # no recipe: every module
    assert nerre["trainer"]["num_epochs"] == 300 and re["trainer"]["num_epochs"] == 200  # no `epochs`: Table 7's
    assert nerre["trainer"]["optimizer"]["lr"] == 1e-4 and paper["trainer"]["optimizer"]["lr"] == 1e-5
    # an explicit setting wins over the recipe
    assert read(configs.module_config("scierc", "nerre"), recipe="cpu", lr=3e-5)["trainer"]["optimizer"]["lr"] == 3e-5
    with pytest.raises(ConfigurationError, match="recipe gpu is not a recipe; choose one of cpu"):
        read(configs.module_config("scierc", "nerre"), recipe="gpu")
    with pytest.raises(ConfigurationError, match="unknown setting.s. epoch; the settings are batch_size"):
        read(configs.module_config("scierc", "nerre"), epoch=3)


def test_settings_from_the_environment_and_assignments(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in configs.setting_defaults():
        monkeypatch.delenv(configs.variable_name(name), raising=False)
    monkeypatch.setenv("ERE_EPOCHS", "3")
    monkeypatch.setenv("ERE_LR", "1e-4")
    monkeypatch.setenv("ERE_ENCODER", "fixtures/tiny_bert")
    monkeypatch.setenv("ERE_DISTRIBUTED", "[-1,-1]")
    monkeypatch.setenv("ERE_PRUNER", "")  # empty: unset
    assert configs.from_environment() == {"epochs": 3, "lr": 1e-4, "encoder": "fixtures/tiny_bert", "distributed": [-1, -1]}
    built = configs.params_from_file("training_configs/scierc_nerre.jsonnet").as_dict()  # None: the environment's
    assert built["trainer"]["num_epochs"] == 3 and built["distributed"]["cuda_devices"] == [-1, -1]
    assert "cuda_device" not in built["trainer"]  # AllenNLP refuses both
    assert built["trainer"]["callbacks"][1]["settings"]["epochs"] == 3  # recorded for the manifest
    assert configs.from_assignments(["epochs=5", "recipe=cpu"]) == {"epochs": 5, "recipe": "cpu"}
    with pytest.raises(ConfigurationError, match="unknown setting 'epoch'"):
        configs.from_assignments(["epoch=5"])
    with pytest.raises(ConfigurationError, match="write NAME=VALUE"):
        configs.from_assignments(["epochs"])
    # What the portable_archive callback warns about: variables the config was not read with.
    assert configs.environment_ignored({}) == ["ERE_DISTRIBUTED", "ERE_ENCODER", "ERE_EPOCHS", "ERE_LR"]
    assert configs.environment_ignored(configs.from_environment()) == []


def test_find_names_shipped_configs_from_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert configs.find("training_configs/scierc_ner.jsonnet") == configs.CONFIG_DIR / "scierc_ner.jsonnet"
    assert configs.find("scierc_ner") == configs.CONFIG_DIR / "scierc_ner.jsonnet"
    assert configs.find("scierc_a8") == configs.CONFIG_DIR / "approaches" / "scierc_a8.jsonnet"
    with pytest.raises(ConfigurationError, match="config scierc_nre not found: .*shipped: ace05_ec, "):
        configs.find("scierc_nre")


def test_settings_on_a_config_that_takes_none(tmp_path: Path) -> None:
    plain = tmp_path / "plain.jsonnet"
    plain.write_text('{"model": {"type": "ner"}}')
    assert configs.params_from_file(plain, {}).as_dict() == {"model": {"type": "ner"}}
    with pytest.raises(ConfigurationError, match="takes no ere_allennlp settings.*settings given: epochs"):
        configs.params_from_file(plain, {"epochs": 3})


def test_import_sets_no_environment_variable() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERE_")}
    script = "import os, ere_allennlp; print(sorted(k for k in os.environ if k.startswith('ERE_')))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_use_amp_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """``use_amp`` (default false, the paper) becomes the trainer's ``use_amp``, from a setting or
    ``ERE_USE_AMP``; on the CPU the config refuses it in one line, as AllenNLP's trainer would
    only after the model is built."""
    from allennlp.data.data_loaders import SimpleDataLoader
    from allennlp.training import GradientDescentTrainer

    ner = configs.module_config("scierc", "ner")
    assert read(ner)["trainer"]["use_amp"] is False
    gpu = read(ner, use_amp=True, cuda_device=0)["trainer"]
    assert gpu["use_amp"] is True and gpu["cuda_device"] == 0
    two_gpus = read(ner, use_amp=True, distributed=[0, 1])
    assert two_gpus["trainer"]["use_amp"] is True and two_gpus["distributed"]["cuda_devices"] == [0, 1]
    for settings in ({"use_amp": True}, {"use_amp": True, "distributed": [-1, -1]}):
        with pytest.raises(ConfigurationError, match=r"use_amp needs a GPU .*got \[-1"):
            read(ner, **settings)
    with pytest.raises(ConfigurationError, match="use_amp must be true or false, got 1"):
        read(ner, use_amp=1, cuda_device=0)
    for name in configs.setting_defaults():
        monkeypatch.delenv(configs.variable_name(name), raising=False)
    monkeypatch.setenv("ERE_USE_AMP", "true")
    monkeypatch.setenv("ERE_CUDA_DEVICE", "0")
    assert configs.from_environment() == {"use_amp": True, "cuda_device": 0}
    assert configs.params_from_file(ner).as_dict()["trainer"]["use_amp"] is True
    assert configs.from_assignments(["use_amp=false"]) == {"use_amp": False}
    # What the config's check says first: AllenNLP's trainer refuses AMP on the CPU.
    model = OneLinear(Vocabulary())
    with pytest.raises(ValueError, match="Using AMP requires a cuda device"):
        GradientDescentTrainer(model, torch.optim.SGD(model.parameters(), lr=0.1), SimpleDataLoader([], 1),
                               use_amp=True, cuda_device=-1)


class OneLinear(Model):
    def __init__(self, vocab: Vocabulary) -> None:
        super().__init__(vocab)
        self.linear = torch.nn.Linear(1, 1)
