"""The study of the paper (Section 3): train every module per seed, build every approach, evaluate.

`Study` plans the runs of one output folder, runs those not finished yet, and leaves one file per
finished run, so a study that stops (Ctrl-C, a crash, a full disk) continues where it stopped:

    OUT/study.json                                   the settings (a resumed study must match)
    OUT/seed_<s>/<dataset>_<module>/model.tar.gz     trained module (``allennlp train`` folder)
    OUT/seed_<s>/<dataset>_<module>/span_metrics.json  Table 4 figures of ``ei`` and ``pruner``
    OUT/seed_<s>/approaches/<name>/metrics_<split>.json      micro P/R/F1 and per-document counts
    OUT/seed_<s>/approaches/<name>/predictions_<split>.jsonl  document-level predictions, the
                                                     format of ``allennlp predict`` / ``ere-compare``

Modules are trained through the repository's ``training_configs/<dataset>_<module>.jsonnet`` with
the ``ERE_*`` environment variables set from the study's settings. The pruner is trained once per
seed and NerRi / NerRe / NerRe* load it (``ERE_PRUNER``) instead of training their own.
"""
import contextlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Sequence, Tuple

import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.common.util import sanitize
from allennlp.data import DatasetReader
from allennlp.data.data_loaders import MultiProcessDataLoader
from allennlp.training.util import evaluate as allennlp_evaluate
from tqdm import tqdm

from ere_allennlp import archival
from ere_allennlp.atomic import atomic_json, atomic_path
from ere_allennlp.dataset_readers.ere_json import read_documents
from ere_allennlp.study.significance import document_counts, micro_metrics

logger = logging.getLogger(__name__)

# The paper's approaches (Table 1) and analysis variants (Tables 3, 5, 6) -> their modules, as in
# training_configs/lib/approach.libsonnet.
APPROACHES: Dict[str, List[str]] = {
    "a1": ["ei", "ec", "ri", "rc"],
    "a2": ["ei", "ec", "re"],
    "a3": ["ner", "ri", "rc"],
    "a4": ["ner", "re"],
    "a5": ["ei", "ecri", "rc"],
    "a6": ["ei", "ecre"],
    "a7": ["nerri", "rc"],
    "a8": ["nerre"],
    "ei_nerre": ["ei", "nerre"],
    "ei_nerre_star": ["ei", "nerre_star"],
    "nerre_star": ["nerre_star"],
    "gold_ri_rc": ["ri", "rc"],
    "gold_re": ["re"],
}
# Table 4 compares these two as entity pruners (span P/R/F1 on every split).
SPAN_MODULES = ("pruner", "ei")
PRUNED_MODULES = ("nerri", "nerre", "nerre_star")
# Training order: the pruner first (the pruned modules load it), then the paper's module order.
MODULE_ORDER = ("pruner", "ei", "ec", "ner", "ri", "rc", "re", "ecri", "ecre", "nerri", "nerre", "nerre_star")
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
    """What one study trains and evaluates. Empty strings keep the config's (the paper's) value."""

    output_dir: str
    dataset: str = "scierc"
    data_dir: str = ""  # folder with train.json, dev.json (and test.json); "" = data/<dataset>
    seeds: List[int] = field(default_factory=lambda: [1, 2, 3, 4, 5, 6])
    approaches: List[str] = field(default_factory=lambda: list(APPROACHES))
    encoder: str = ""
    epochs: str = ""
    lr: str = ""
    head_lr: str = ""
    batch_size: int = 20
    max_length: int = 512
    cuda_device: int = -1
    eval_split: str = "test"  # the split the approaches are evaluated on (the paper: test)
    # {"<module>" or "*": {dotted.key: value}}: AllenNLP overrides of the module configs
    module_overrides: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    config_dir: str = ""  # "" = the repository's training_configs/
    trials: int = 10000  # permutation test trials
    symmetric_relations: List[str] = field(default_factory=list)
    # ERE_RECIPE: a named set of settings that are not the paper's (training_configs/lib/ere.libsonnet);
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
        unknown = [a for a in self.approaches if a not in APPROACHES]
        if unknown:
            raise StudyError(f"unknown approach(es) {unknown}; choose from {sorted(APPROACHES)}")
        if not self.seeds:
            raise StudyError("give at least one seed")
        if len(set(self.seeds)) != len(self.seeds):
            raise StudyError(f"seeds repeat: {self.seeds}")
        if self.eval_split not in SPLITS:
            raise StudyError(f"eval_split must be one of {SPLITS}, got {self.eval_split!r}")
        for split in ("train", "dev", self.eval_split):
            if not os.path.isfile(self.split_path(split)):
                raise StudyError(f"missing data file {self.split_path(split)} (--data-dir)")
        unknown_modules = [m for m in self.module_overrides if m != "*" and m not in MODULE_ORDER]
        if unknown_modules:
            raise StudyError(f"module_overrides: unknown module(s) {unknown_modules}; choose from {MODULE_ORDER} or '*'")
        if not os.path.isdir(self.configs()):
            raise StudyError(f"no training configs in {self.configs()} (--config-dir)")
        if self.recipe and self.recipe not in recipe_names(self.configs()):
            raise StudyError(f"unknown recipe {self.recipe!r}; choose from {recipe_names(self.configs())} (--recipe)")

    def data_folder(self) -> str:
        return self.data_dir or os.path.join("data", self.dataset)

    def split_path(self, split: str) -> str:
        return os.path.join(self.data_folder(), f"{split}.json")

    def configs(self) -> str:
        return self.config_dir or str(Path(__file__).resolve().parents[2] / "training_configs")

    def modules(self) -> List[str]:
        """Every module the chosen approaches need, plus Table 4's pruner and Ei, in training order."""
        needed = {m for a in self.approaches for m in APPROACHES[a]} | set(SPAN_MODULES)
        return [m for m in MODULE_ORDER if m in needed]

    def run_settings(self) -> Dict[str, Any]:
        return {key: getattr(self, key) for key in RUN_SETTINGS}


def recipe_names(config_dir: str) -> List[str]:
    """The recipes defined in `config_dir`/lib/ere.libsonnet (ERE_RECIPE values)."""
    import _jsonnet

    library = os.path.join(config_dir, "lib", "ere.libsonnet")
    if not os.path.isfile(library):
        return []
    snippet = 'std.objectFields((import "ere.libsonnet").recipes)'
    ext_vars = {name: value for name, value in os.environ.items() if name.startswith("ERE_")}
    ext_vars["ERE_RECIPE"] = ""
    names = json.loads(_jsonnet.evaluate_snippet("recipes", snippet, jpathdir=[os.path.dirname(library)], ext_vars=ext_vars))
    return [name for name in names if name]


@dataclass
class Step:
    kind: str  # "train", "spans" (Table 4 figures of a span module) or "evaluate" (an approach)
    seed: int
    name: str  # module or approach
    done_file: Path

    def __str__(self) -> str:
        return f"seed {self.seed}: {self.kind} {self.name}"


def _eta(took: Dict[str, List[float]], remaining: Sequence[Step]) -> str:
    """Time left: each remaining run costs the mean of the finished runs of its kind (of any kind
    before one of its kind finished)."""
    finished = [t for times in took.values() for t in times]
    if not finished:
        return "time left: unknown until a run finishes"
    overall = sum(finished) / len(finished)
    seconds = sum(sum(took[s.kind]) / len(took[s.kind]) if s.kind in took else overall for s in remaining)
    return f"about {seconds / 60:.1f} min left"


class Study:
    """Plans and runs the trainings and evaluations of one study (see the module docstring)."""

    def __init__(self, settings: StudySettings) -> None:
        settings.normalise()
        settings.validate()
        self.settings = settings
        self.root = Path(settings.output_dir)

    # ----------------------------------------------------------------------------- layout
    def seed_dir(self, seed: int) -> Path:
        return self.root / f"seed_{seed}"

    def module_dir(self, seed: int, module: str) -> Path:
        return self.seed_dir(seed) / f"{self.settings.dataset}_{module}"

    def approach_dir(self, seed: int, approach: str) -> Path:
        return self.seed_dir(seed) / "approaches" / approach

    def metrics_file(self, seed: int, approach: str) -> Path:
        return self.approach_dir(seed, approach) / f"metrics_{self.settings.eval_split}.json"

    def predictions_file(self, seed: int, approach: str) -> Path:
        return self.approach_dir(seed, approach) / f"predictions_{self.settings.eval_split}.jsonl"

    def steps(self) -> List[Step]:
        steps: List[Step] = []
        for seed in self.settings.seeds:
            for module in self.settings.modules():
                steps.append(Step("train", seed, module, self.module_dir(seed, module) / "model.tar.gz"))
                if module in SPAN_MODULES:
                    steps.append(Step("spans", seed, module, self.module_dir(seed, module) / "span_metrics.json"))
            for approach in self.settings.approaches:
                steps.append(Step("evaluate", seed, approach, self.metrics_file(seed, approach)))
        return steps

    # ----------------------------------------------------------------------------- running
    def check_output_dir(self) -> None:
        """Records the settings in OUT/study.json, or refuses a folder of a study with other settings."""
        record = self.root / "study.json"
        current = self.settings.run_settings()
        if record.exists():
            with open(record, encoding="utf-8") as handle:
                previous = json.load(handle).get("run_settings", {})
            previous = {k: previous.get(k, RUN_SETTING_DEFAULTS.get(k)) for k in current}
            changed = {k: (previous[k], v) for k, v in current.items() if previous[k] != v}
            if changed:
                details = "; ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changed.items())
                raise StudyError(
                    f"{self.root} holds a study with other settings ({details}); "
                    "use another --output-dir, or the same settings to resume it"
                )
        atomic_json(record, {"run_settings": current, "settings": asdict(self.settings)})

    @contextlib.contextmanager
    def environment(self, seed: int) -> Iterator[None]:
        """The ERE_* variables the configs read (training_configs/lib/ere.libsonnet), for one seed."""
        s = self.settings
        values = {
            "ERE_SEED": str(seed),
            "ERE_RUNS": str(self.seed_dir(seed).resolve()),
            "ERE_DATA_DIR": s.data_folder(),
            "ERE_ENCODER": s.encoder,
            "ERE_EPOCHS": s.epochs,
            "ERE_LR": s.lr,
            "ERE_HEAD_LR": s.head_lr,
            "ERE_BATCH_SIZE": str(s.batch_size),
            "ERE_MAX_LENGTH": str(s.max_length),
            "ERE_CUDA_DEVICE": str(s.cuda_device),
            "ERE_PRUNER": "",
            "ERE_DISTRIBUTED": "",
            "ERE_RECIPE": s.recipe,
        }
        saved = {name: os.environ.get(name) for name in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def run(self, progress: bool = True) -> List[Step]:
        """Runs every unfinished step; returns the steps it ran. Finished ones are reused."""
        self.check_output_dir()
        steps = self.steps()
        todo = [step for step in steps if not step.done_file.exists()]
        logger.info("study %s: %d of %d runs finished, %d to go", self.root, len(steps) - len(todo), len(steps), len(todo))
        bar = tqdm(total=len(steps), initial=len(steps) - len(todo), unit="run", disable=not progress,
                   desc="ere-study", dynamic_ncols=True)
        took: Dict[str, List[float]] = {}
        try:
            for number, step in enumerate(todo):
                bar.set_postfix_str(str(step))
                # AllenNLP's own log lines bury the bar; say the same in the log.
                logger.info("ere-study run %d/%d (%s); %s", len(steps) - len(todo) + number + 1, len(steps), step,
                            _eta(took, todo[number:]))
                started = time.time()
                with self.environment(step.seed):
                    if step.kind == "train":
                        self.train(step.seed, step.name)
                    elif step.kind == "spans":
                        self.span_metrics(step.seed, step.name)
                    else:
                        self.evaluate(step.seed, step.name)
                took.setdefault(step.kind, []).append(time.time() - started)
                logger.info("%s took %.1f s", step, took[step.kind][-1])
                bar.update(1)
        finally:
            bar.close()
        return todo

    def train(self, seed: int, module: str) -> None:
        from allennlp.commands.train import train_model_from_file

        out = self.module_dir(seed, module)
        config = os.path.join(self.settings.configs(), f"{self.settings.dataset}_{module}.jsonnet")
        if module in PRUNED_MODULES:
            os.environ["ERE_PRUNER"] = str((self.module_dir(seed, "pruner") / "model.tar.gz").resolve())
        overrides: Dict[str, Any] = {}
        overrides.update(self.settings.module_overrides.get("*", {}))
        overrides.update(self.settings.module_overrides.get(module, {}))
        overrides_json = json.dumps(overrides) if overrides else ""
        if out.exists() and any(out.glob("model_state_e*.th")):
            # An unfinished run: continue it (AllenNLP refuses if its config changed).
            try:
                train_model_from_file(config, str(out), overrides=overrides_json, recover=True)
                return
            except ConfigurationError as error:
                logger.warning("cannot recover %s (%s); training it again", out, error)
        train_model_from_file(config, str(out), overrides=overrides_json, force=True)

    def span_metrics(self, seed: int, module: str) -> None:
        """Table 4: span P/R/F1 of the pruner (kept spans) or Ei (identified spans) on every split."""
        archive = archival.load(str(self.module_dir(seed, module) / "model.tar.gz"), cuda_device=self.settings.cuda_device)
        prefix = "pruner" if module == "pruner" else "ent_i"
        result: Dict[str, Dict[str, float]] = {}
        for split in SPLITS:
            path = self.settings.split_path(split)
            if not os.path.isfile(path):
                continue
            loader = MultiProcessDataLoader(archive.validation_dataset_reader, path, batch_size=self.settings.batch_size)
            loader.index_with(archive.model.vocab)
            metrics = allennlp_evaluate(archive.model, loader, cuda_device=self.settings.cuda_device)
            result[split] = {key: float(metrics[f"{prefix}_{key}"]) for key in ("p", "r", "f1")}
        atomic_json(self.module_dir(seed, module) / "span_metrics.json", result)

    def evaluate(self, seed: int, approach: str) -> None:
        """Chains the trained modules into the approach (in memory: an approach archive holds a copy of
        every stage, and a study has many), predicts the evaluation split, writes metrics and
        predictions. ``allennlp ere-approach`` builds the archive of any of them from the same config."""
        from ere_allennlp.commands.build_approach import load_approach

        config = os.path.join(self.settings.configs(), "approaches", f"{self.settings.dataset}_{approach}.jsonnet")
        model, approach_config = load_approach(config, cuda_device=self.settings.cuda_device)
        reader = DatasetReader.from_params(Params(approach_config["dataset_reader"]))
        split_path = self.settings.split_path(self.settings.eval_split)
        documents, model_metrics = predict_documents(model, reader, split_path, self.settings.batch_size)
        predictions = self.predictions_file(seed, approach)
        with atomic_path(predictions) as temporary, open(temporary, "w", encoding="utf-8") as handle:
            for document in documents:
                handle.write(json.dumps(sanitize(document)) + "\n")
        # Counted from the written predictions exactly as `allennlp ere-compare` counts them.
        counts = document_counts(str(predictions), split_path, self.settings.symmetric_relations)
        atomic_json(
            self.metrics_file(seed, approach),
            {
                "approach": approach,
                "seed": seed,
                "split": self.settings.eval_split,
                "metrics": micro_metrics(counts),
                "model_metrics": model_metrics,
                "document_counts": counts,
            },
        )


def predict_documents(
    model: torch.nn.Module, reader: Any, path: str, batch_size: int
) -> Tuple[List[Dict[str, Any]], Dict[str, float]]:
    """Runs `model` over the DyGIE file `path` (its gold entities are what a gold-entity approach
    starts from). Returns the document-level predictions of every document (document offsets, as
    ``allennlp predict`` writes them; a sentence the reader skips predicts nothing) and the
    model's own metrics."""
    instances = list(reader.read(path))
    model.eval()
    outputs: Dict[Tuple[str, int], Dict[str, Any]] = {}
    with torch.no_grad():
        for start in range(0, len(instances), batch_size):
            batch = instances[start : start + batch_size]
            for output in model.forward_on_instances(batch):
                outputs[(str(output["doc_key"]), int(output["sentence_index"]))] = output
    model_metrics = {k: float(v) for k, v in model.get_metrics(reset=True).items()}
    documents: List[Dict[str, Any]] = []
    for _, document in read_documents(path):
        record: Dict[str, Any] = {"doc_key": document.doc_key, "sentences": document.sentences,
                                  "predicted_ner": [], "predicted_relations": []}
        for k in range(len(document.sentences)):
            output = outputs.get((document.doc_key, k), {"predicted_ner": [], "predicted_relations": []})
            offset = document.offsets[k]
            record["predicted_ner"].append([[s + offset, e + offset, label, p] for s, e, label, p in output["predicted_ner"]])
            record["predicted_relations"].append(
                [[hs + offset, he + offset, ts + offset, te + offset, label, p]
                 for hs, he, ts, te, label, p in output["predicted_relations"]]
            )
        documents.append(record)
    return documents, model_metrics
