"""The study of the paper (Section 3): train every module per seed, build every approach, evaluate.

`Study` plans the runs of one output folder, runs those not finished yet, and leaves one file per
finished run, so a study that stops (Ctrl-C, a crash, a full disk) continues where it stopped:

    OUT/study.json                                   the settings (a resumed study must match)
    OUT/seed_<s>/<dataset>_<module>/model.tar.gz     trained module (``allennlp train`` folder)
    OUT/seed_<s>/<dataset>_<module>/ere_study_done.json  written once the archive is whole: a
                                                     training counts as finished only with it
    OUT/seed_<s>/<dataset>_<module>/span_metrics.json  Table 4 figures of ``ei`` and ``pruner``
    OUT/seed_<s>/approaches/<name>/metrics_<split>.json      micro P/R/F1 and per-document counts,
                                                     and the stage overrides it was made with
    OUT/seed_<s>/approaches/<name>/predictions_<split>.jsonl  document-level predictions, the
                                                     format of ``allennlp predict`` / ``ere-compare``

Modules are trained through the shipped ``training_configs/<dataset>_<module>.jsonnet`` read with
the study's settings (``ere_allennlp.configs``; the environment is neither read nor changed). The
pruner is trained once per seed and NerRi / NerRe / NerRe* load it (setting ``pruner``) instead of
training their own. The approaches and modules come from the configs' tables.

Each step names the steps it needs (a pruned module the seed's pruner, an approach its modules),
so independent steps may run at once: `Study.run` runs them one after another, and
``ere_allennlp.study.ray_runner`` as Ray tasks (``ere-study --ray``). Every step holds a lock on
its own output (``OUT/seed_<s>/.locks/``, released by the kernel when its process dies) and checks
again under it whether another process finished it meanwhile, so two processes given one folder
never write the same run.
"""
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from filelock import FileLock

from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.common.util import sanitize
from allennlp.data import DatasetReader
from allennlp.data.data_loaders import MultiProcessDataLoader
from allennlp.training.util import evaluate as allennlp_evaluate
from tqdm import tqdm

from ere_allennlp import archival, configs
from ere_allennlp.approach_archive import load_approach
from ere_allennlp.metrics.ere_f1 import SCORES
from ere_allennlp.models import compat
from ere_allennlp.models.span_pruner import SpanPruner
from ere_allennlp.atomic import atomic_json, atomic_path
from ere_allennlp.study.predictions import predict_documents
from ere_allennlp.study.settings import (  # noqa: F401  (re-exported: the study's public names)
    RUN_SETTING_DEFAULTS, RUN_SETTINGS, SPLITS, StudyError, StudySettings,
)
from ere_allennlp.study.significance import document_counts, document_label_counts, macro_metrics, micro_metrics

logger = logging.getLogger(__name__)


# Written beside a trained module's model.tar.gz once the archive is whole (see `Step.done`).
TRAINED_MARKER = "ere_study_done.json"


@dataclass
class Step:
    kind: str  # "train", "spans" (Table 4 figures of a span module) or "evaluate" (an approach)
    seed: int
    name: str  # module or approach
    done_file: Path
    needs: Tuple[Tuple[str, int, str], ...] = ()  # keys of the steps that must finish first
    # An evaluation: the overrides its stages are loaded with (``--stage-overrides``); a metrics
    # file made with others is not this step's.
    stage_overrides: Optional[List[Dict[str, Any]]] = None

    @property
    def key(self) -> Tuple[str, int, str]:
        return (self.kind, self.seed, self.name)

    def __str__(self) -> str:
        return f"seed {self.seed}: {self.kind} {self.name}"

    def done(self) -> bool:
        """Whether the step finished. A training is finished when its archive is whole: AllenNLP
        writes model.tar.gz in place, so a process killed while writing it leaves a part of it.
        `Study.train` records the archive's size in TRAINED_MARKER after the training returns; an
        archive of a study written before the marker existed is checked once (its gzip stream
        read to the end) and then gets one. An evaluation is finished when its metrics file was made
        with the step's stage overrides."""
        if self.kind == "evaluate" and self.stage_overrides is not None:
            return made_with(self.done_file, self.stage_overrides)
        if self.kind != "train":
            return self.done_file.exists()
        if not self.done_file.exists():
            return False
        marker = self.done_file.parent / TRAINED_MARKER
        size = self.done_file.stat().st_size
        if marker.exists():
            try:
                return json.loads(marker.read_text(encoding="utf-8")).get("archive_bytes") == size
            except (OSError, ValueError):
                return False
        if compat.archive_complete(self.done_file):
            mark_trained(self.done_file)
            return True
        return False


def made_with(metrics_file: Path, stage_overrides: List[Dict[str, Any]]) -> bool:
    """Whether the approach's metrics file exists and was made with `stage_overrides` (a file
    written before the overrides were recorded was made without any)."""
    try:
        record = json.loads(metrics_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    recorded = record.get("stage_overrides")
    if recorded is None:
        return not any(stage_overrides)
    return recorded == stage_overrides


def mark_trained(archive: Path) -> None:
    atomic_json(archive.parent / TRAINED_MARKER, {"archive_bytes": archive.stat().st_size, "finished": archival.now()})


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

    def lock_file(self, step: Step) -> Path:
        return self.seed_dir(step.seed) / ".locks" / f"{step.kind}_{step.name}.lock"

    def steps(self) -> List[Step]:
        """Every run of the study in an order that runs each after the runs it needs."""
        steps: List[Step] = []
        pruned = set(configs.pruned_modules(self.settings.configs()))
        pruner = configs.pruner_module(self.settings.configs())
        approaches = configs.approaches(self.settings.configs())
        span_modules = self.settings.span_modules()
        for seed in self.settings.seeds:
            for module in self.settings.modules():
                needs = (("train", seed, pruner),) if module in pruned else ()
                steps.append(Step("train", seed, module, self.module_dir(seed, module) / "model.tar.gz", needs))
                if module in span_modules:
                    steps.append(Step("spans", seed, module, self.module_dir(seed, module) / "span_metrics.json",
                                      (("train", seed, module),)))
            for approach in self.settings.approaches:
                needs = tuple(("train", seed, m) for m in approaches[approach])
                if any(m in pruned for m in approaches[approach]):
                    needs += (("train", seed, pruner),)
                steps.append(Step("evaluate", seed, approach, self.metrics_file(seed, approach), needs,
                                  self.settings.stage_overrides_of(approach)))
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

    def run(self, progress: bool = True, executor: Optional[Callable[["Study", List[Step], List[Step], bool], None]] = None) -> List[Step]:
        """Runs every unfinished step; returns the steps it ran. Finished ones are reused.
        `executor(study, steps, todo, progress)` runs `todo` instead of the loop below (the Ray
        runner): it must run each step by `execute` and only after the steps it needs."""
        self.check_output_dir()
        steps = self.steps()
        todo = [step for step in steps if not step.done()]
        logger.info("study %s: %d of %d runs finished, %d to go", self.root, len(steps) - len(todo), len(steps), len(todo))
        if executor is not None:
            executor(self, steps, todo, progress)
            return todo
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
                self.execute(step)
                took.setdefault(step.kind, []).append(time.time() - started)
                logger.info("%s took %.1f s", step, took[step.kind][-1])
                bar.update(1)
        finally:
            bar.close()
        return todo

    def execute(self, step: Step) -> bool:
        """Runs one step under its lock; False if another process finished it meanwhile."""
        lock = self.lock_file(step)
        lock.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(lock)):
            if step.done():
                logger.info("%s was finished by another process", step)
                return False
            if step.kind == "train":
                (step.done_file.parent / TRAINED_MARKER).unlink(missing_ok=True)
                self.train(step.seed, step.name)
                mark_trained(step.done_file)
            elif step.kind == "spans":
                self.span_metrics(step.seed, step.name)
            else:
                self.evaluate(step.seed, step.name)
        return True

    def settings_of(self, seed: int, module: str = "") -> Dict[str, Any]:
        """The settings the configs of `seed` are read with; a pruned `module` loads the seed's pruner."""
        settings = self.settings.config_settings(seed, self.seed_dir(seed))
        if module in configs.pruned_modules(self.settings.configs()):
            pruner = configs.pruner_module(self.settings.configs())
            settings["pruner"] = str((self.module_dir(seed, pruner) / "model.tar.gz").resolve())
        return settings

    def train(self, seed: int, module: str) -> None:
        out = self.module_dir(seed, module)
        config = configs.module_config(self.settings.dataset, module, self.settings.configs())
        settings = self.settings_of(seed, module)
        overrides: Dict[str, Any] = {}
        overrides.update(self.settings.module_overrides.get("*", {}))
        overrides.update(self.settings.module_overrides.get(module, {}))
        overrides_json = json.dumps(overrides) if overrides else ""
        if out.exists() and any(out.glob("model_state_e*.th")):
            # An unfinished run: continue it (AllenNLP refuses if its config changed).
            try:
                configs.train_model_from_file(config, out, overrides_json, settings, recover=True)
                return
            except ConfigurationError as error:
                logger.warning("cannot recover %s (%s); training it again", out, error)
        configs.train_model_from_file(config, out, overrides_json, settings, force=True)

    def span_metrics(self, seed: int, module: str) -> None:
        """Table 4: span P/R/F1 of the pruner (kept spans) or Ei (identified spans) on every split."""
        archive = archival.load(str(self.module_dir(seed, module) / "model.tar.gz"), cuda_device=self.settings.cuda_device)
        # the pruner's kept spans, or the spans Ei identified (Ent-I)
        is_pruner = module == configs.pruner_module(self.settings.configs())
        prefix = SpanPruner.METRIC_PREFIX if is_pruner else "ent_i"
        result: Dict[str, Dict[str, float]] = {}
        for split in SPLITS:
            path = self.settings.split_path(split)
            if not os.path.isfile(path):
                continue
            loader = MultiProcessDataLoader(archive.validation_dataset_reader, path, batch_size=self.settings.batch_size)
            loader.index_with(archive.model.vocab)
            metrics = allennlp_evaluate(archive.model, loader, cuda_device=self.settings.cuda_device)
            result[split] = {key: float(metrics[f"{prefix}_{key}"]) for key in SCORES}
        atomic_json(self.module_dir(seed, module) / "span_metrics.json", result)

    def evaluate(self, seed: int, approach: str) -> None:
        """Chains the trained modules into the approach (in memory: an approach archive holds a copy of
        every stage, and a study has many), predicts the evaluation split, writes metrics and
        predictions. ``allennlp ere-approach`` builds the archive of any of them from the same config."""
        config = configs.approach_config(self.settings.dataset, approach, self.settings.configs())
        stage_overrides = self.settings.stage_overrides_of(approach)
        model, approach_config = load_approach(str(config), json.dumps({"model.stage_overrides": stage_overrides}),
                                               cuda_device=self.settings.cuda_device, settings=self.settings_of(seed))
        reader = DatasetReader.from_params(Params(approach_config["dataset_reader"]))
        split_path = self.settings.split_path(self.settings.eval_split)
        documents, model_metrics = predict_documents(model, reader, split_path, self.settings.batch_size)
        predictions = self.predictions_file(seed, approach)
        with atomic_path(predictions) as temporary, open(temporary, "w", encoding="utf-8") as handle:
            for document in documents:
                handle.write(json.dumps(sanitize(document)) + "\n")
        # Counted from the written predictions exactly as `allennlp ere-compare` counts them.
        counts = document_counts(str(predictions), split_path, self.settings.symmetric_relations)
        label_counts = document_label_counts(str(predictions), split_path, self.settings.symmetric_relations)
        atomic_json(
            self.metrics_file(seed, approach),
            {
                "approach": approach,
                "seed": seed,
                "split": self.settings.eval_split,
                "stage_overrides": stage_overrides,
                "metrics": {**micro_metrics(counts), **macro_metrics(label_counts)},
                "model_metrics": model_metrics,
                "document_counts": counts,
                "document_label_counts": label_counts,
            },
        )
