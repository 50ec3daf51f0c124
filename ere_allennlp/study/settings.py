"""What one study trains and evaluates (`StudySettings`), checked before anything runs, and the
constants the study's layout and tables share."""
import os
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, List

from ere_allennlp import configs
from ere_allennlp.study.significance import TRIALS

SPLITS = ("train", "dev", "test")
# Settings that change what a run computes: resuming a study with other values is refused.
RUN_SETTINGS = ("dataset", "data_dir", "encoder", "epochs", "lr", "head_lr", "batch_size", "max_length",
                "cuda_device", "eval_split", "module_overrides", "recipe")
# Run settings added after studies were written: a study.json without them had this value.
RUN_SETTING_DEFAULTS: Dict[str, Any] = {"recipe": ""}


class StudyError(ValueError):
    """A study cannot run as asked (unknown approach, missing data, an output folder of another study)."""


@dataclass
class StudySettings:
    """What one study trains and evaluates. Empty strings keep the config's (the paper's) value;
    batch_size, max_length and cuda_device default to the configs' settings
    (training_configs/lib/settings.libsonnet). `ere-study`'s options default to these defaults."""

    output_dir: str
    dataset: str = "scierc"
    data_dir: str = ""  # folder with train.json, dev.json (and test.json); "" = data/<dataset>
    seeds: List[int] = field(default_factory=lambda: [1, 2, 3, 4, 5, 6])
    approaches: List[str] = field(default_factory=lambda: list(configs.approaches()))
    encoder: str = ""
    epochs: str = ""
    lr: str = ""
    head_lr: str = ""
    batch_size: int = field(default_factory=lambda: configs.setting_defaults()["batch_size"])
    max_length: int = field(default_factory=lambda: configs.setting_defaults()["max_length"])
    cuda_device: int = field(default_factory=lambda: configs.setting_defaults()["cuda_device"])
    eval_split: str = "test"  # the split the approaches are evaluated on (the paper: test)
    # {"<module>" or "*": {dotted.key: value}}: AllenNLP overrides of the module configs
    module_overrides: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    # {"<module>" or "*": {dotted.key: value}}: AllenNLP overrides of the trained modules' configs
    # when the approaches are evaluated (not trained): decoding options, e.g. a recipe's decoding
    # that changed after the modules were trained. Not a run setting: changing it re-evaluates the
    # approaches (each metrics file records the overrides it was made with) and retrains nothing.
    stage_overrides: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    config_dir: str = ""  # "" = the package's training_configs/
    trials: int = TRIALS  # permutation test trials
    symmetric_relations: List[str] = field(default_factory=list)
    # A named set of settings that are not the paper's (training_configs/lib/ere.libsonnet);
    # "" = the paper's. --epochs / --lr / --head-lr still win over the recipe's values.
    recipe: str = ""

    def normalise(self) -> None:
        """Local folders as absolute paths, so that a study resumed from elsewhere is the same study."""
        if self.data_dir:
            self.data_dir = os.path.abspath(self.data_dir)
        if self.config_dir:
            self.config_dir = os.path.abspath(self.config_dir)
        if self.encoder and os.path.isdir(self.encoder):
            self.encoder = os.path.abspath(self.encoder)

    def validate(self) -> None:
        if not os.path.isfile(os.path.join(self.configs(), "lib", "ere.libsonnet")):
            raise StudyError(f"no training configs in {self.configs()} (--config-dir)")
        approaches = configs.approaches(self.configs())
        unknown = [a for a in self.approaches if a not in approaches]
        if unknown:
            raise StudyError(f"unknown approach(es) {unknown}; choose from {sorted(approaches)}")
        if not self.seeds:
            raise StudyError("give at least one seed")
        if len(set(self.seeds)) != len(self.seeds):
            raise StudyError(f"seeds repeat: {self.seeds}")
        if self.eval_split not in SPLITS:
            raise StudyError(f"eval_split must be one of {SPLITS}, got {self.eval_split!r}")
        for split in ("train", "dev", self.eval_split):
            if not os.path.isfile(self.split_path(split)):
                raise StudyError(f"missing data file {self.split_path(split)} (--data-dir)")
        order = configs.module_order(self.configs())
        for name, given in (("module_overrides", self.module_overrides), ("stage_overrides", self.stage_overrides)):
            unknown_modules = [m for m in given if m != "*" and m not in order]
            if unknown_modules:
                raise StudyError(f"{name}: unknown module(s) {unknown_modules}; choose from {order} or '*'")
        recipes = configs.recipe_names(self.configs())
        if self.recipe and self.recipe not in recipes:
            raise StudyError(f"unknown recipe {self.recipe!r}; choose from {recipes} (--recipe)")

    def data_folder(self) -> str:
        return self.data_dir or os.path.join("data", self.dataset)

    def split_path(self, split: str) -> str:
        return os.path.join(self.data_folder(), f"{split}.json")

    def configs(self) -> str:
        return str(configs.config_dir(self.config_dir or None))

    def span_modules(self) -> List[str]:
        """The modules Table 4 compares as entity pruners (span P/R/F1 on every split): the pruner and Ei."""
        return configs.study_tables(self.configs())["table4"]

    def modules(self) -> List[str]:
        """Every module the chosen approaches need, plus Table 4's pruner and Ei, in training order."""
        approaches = configs.approaches(self.configs())
        needed = {m for a in self.approaches for m in approaches[a]} | set(self.span_modules())
        return [m for m in configs.module_order(self.configs()) if m in needed]

    def config_settings(self, seed: int, runs: Path) -> Dict[str, Any]:
        """The settings (training_configs/lib/settings.libsonnet) every config of seed `seed` is read with."""
        values: Dict[str, Any] = {
            "seed": seed, "runs": str(runs.resolve()), "data_dir": self.data_folder(), "encoder": self.encoder,
            "epochs": self.epochs, "lr": self.lr, "head_lr": self.head_lr, "batch_size": self.batch_size,
            "max_length": self.max_length, "cuda_device": self.cuda_device, "recipe": self.recipe,
        }
        # "" keeps the config's value; the textual ones are numbers given as text (--epochs 3).
        return {k: configs.parse_setting(k, v, self.configs()) if isinstance(v, str) and k in ("epochs", "lr", "head_lr") else v
                for k, v in values.items() if v != ""}

    def stage_overrides_of(self, approach: str) -> List[Dict[str, Any]]:
        """The overrides each stage of `approach` is loaded with (the ``Approach``'s ``stage_overrides``):
        ``"*"``'s, then its module's."""
        stages = configs.approaches(self.configs())[approach]
        return [{**self.stage_overrides.get("*", {}), **self.stage_overrides.get(module, {})} for module in stages]

    def run_settings(self) -> Dict[str, Any]:
        return {key: getattr(self, key) for key in RUN_SETTINGS}


def default_of(name: str) -> Any:
    """The default of the `StudySettings` field `name` (what `ere-study`'s option defaults to)."""
    spec = {f.name: f for f in fields(StudySettings)}[name]
    return spec.default_factory() if spec.default_factory is not MISSING else spec.default
