"""`allennlp ere-study`: rerun the paper's study (Tables 2-6, significance tests, a bar chart)."""
import argparse
import json
import logging
import sys
from typing import Any, Dict

from allennlp.commands.subcommand import Subcommand
from overrides import overrides

from ere_allennlp import configs
from ere_allennlp.ray_support import RayError
from ere_allennlp.study.ray_runner import RayExecutor
from ere_allennlp.study.runner import Study, StudyError, StudySettings
from ere_allennlp.study.settings import SPLITS, default_of
from ere_allennlp.study.tables import StudyTables

logger = logging.getLogger(__name__)


@Subcommand.register("ere-study")
class RunStudy(Subcommand):
    """For a dataset and a list of seeds: trains every module and the pruner once per seed
    (``training_configs/<dataset>_<module>.jsonnet``), builds every approach, evaluates it on the
    evaluation split and writes Tables 2-6 (Markdown, CSV), ``results.json`` with every raw figure,
    pairwise permutation tests and ``approaches.png`` to ``OUTPUT_DIR/tables``. Finished runs are
    reused, so the same command resumes a stopped study or adds seeds or approaches to it."""

    @overrides
    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        description = "Train every module per seed, build and evaluate the approaches, write the paper's tables."
        sub = parser.add_parser(self.name, description=description, help=description)
        dataset = default_of("dataset")
        sub.add_argument("--dataset", default=dataset, choices=configs.datasets(), help=f"which configs (default {dataset})")
        sub.add_argument("--data-dir", default="", help="folder with train.json, dev.json, test.json (default data/<dataset>)")
        sub.add_argument("-s", "--output-dir", required=True, help="study folder (resumed if it exists)")
        sub.add_argument("--seeds", type=int, nargs="+", default=default_of("seeds"), help="seeds (default 1..6, as the paper's six runs)")
        approaches = list(configs.approaches())
        sub.add_argument("--approaches", nargs="+", default=default_of("approaches"), choices=approaches,
                         help="approaches to build and evaluate (default all: a1-a8, the Table 3, 5, 6 variants)")
        sub.add_argument("--encoder", default="", help="transformer name or folder (default: the paper's for the dataset)")
        sub.add_argument("--epochs", default="", help="epochs of every module (default: Table 7's 100-300); with --recipe cpu, NerRi / NerRe / "
                         "NerRe* keep Table 7's proportion (ceil: 3 -> 5 on SciERC)")
        sub.add_argument("--lr", default="", help="learning rate (default: Table 7's)")
        sub.add_argument("--head-lr", default="", help="learning rate of all but the encoder (default: --lr)")
        batch_size, max_length, cuda_device = (default_of(n) for n in ("batch_size", "max_length", "cuda_device"))
        sub.add_argument("--batch-size", type=int, default=batch_size, help=f"sentences per batch (default {batch_size})")
        sub.add_argument("--max-length", type=int, default=max_length,
                         help=f"word pieces per encoder window (default {max_length})")
        sub.add_argument("--cuda-device", type=int, default=cuda_device, help="GPU index, -1 = CPU (default)")
        eval_split = default_of("eval_split")
        sub.add_argument("--eval-split", default=eval_split, choices=list(SPLITS),
                         help=f"split the approaches are evaluated on (default {eval_split})")
        sub.add_argument("--recipe", default="", help="settings that are not the paper's, e.g. 'cpu' for "
                         "short CPU runs (training_configs/lib/ere.libsonnet; default: the paper's)")
        sub.add_argument("--module-overrides", default="{}",
                         help='JSON {"<module>" or "*": {"dotted.key": value}}: AllenNLP overrides of the module configs')
        sub.add_argument("--stage-overrides", default="{}",
                         help='JSON {"<module>" or "*": {"dotted.key": value}}: AllenNLP overrides of the trained modules '
                              "when the approaches are evaluated (decoding options); changing them re-evaluates the "
                              "approaches and retrains nothing")
        sub.add_argument("--config-dir", default="", help="folder of <dataset>_<module>.jsonnet and approaches/ (default: the package's training_configs)")
        trials = default_of("trials")
        sub.add_argument("--trials", type=int, default=trials, help=f"permutation test swaps (default {trials})")
        sub.add_argument("--tables-only", action="store_true", help="only (re)write the tables from the finished runs")
        ray = sub.add_argument_group("Ray (pip install 'ere_allennlp[ray]')")
        ray.add_argument("--ray", action="store_true", help="run every training and evaluation as a Ray task, "
                         "independent ones at once (same folder, files and tables as without)")
        ray.add_argument("--address", default=None, help="a running Ray cluster (e.g. auto, ray://host:10001); "
                         "default: start a local Ray")
        ray.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray (default: all)")
        ray.add_argument("--cpus-per-task", type=float, default=1, help="CPUs each task reserves (default 1)")
        ray.add_argument("--gpus-per-training", type=float, default=0,
                         help="GPUs each task reserves, at most 1 (default 0; > 0 needs --cuda-device 0)")
        ray.add_argument("--max-retries", type=int, default=2, help="reruns of a task whose worker died (default 2)")
        sub.set_defaults(func=study_from_args)
        return sub


def _module_json(option: str, text: str) -> Dict[str, Dict[str, Any]]:
    try:
        value: Dict[str, Any] = json.loads(text)
    except json.JSONDecodeError as error:
        raise StudyError(f"{option} is not JSON: {error}") from None
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise StudyError(f'{option} must be a JSON object {{"<module>": {{"dotted.key": value}}}}')
    return value


def settings_from_args(args: argparse.Namespace) -> StudySettings:
    return StudySettings(
        output_dir=args.output_dir, dataset=args.dataset, data_dir=args.data_dir, seeds=args.seeds,
        approaches=args.approaches, encoder=args.encoder, epochs=str(args.epochs), lr=str(args.lr),
        head_lr=str(args.head_lr), batch_size=args.batch_size, max_length=args.max_length,
        cuda_device=args.cuda_device, eval_split=args.eval_split,
        module_overrides=_module_json("--module-overrides", args.module_overrides),
        stage_overrides=_module_json("--stage-overrides", args.stage_overrides),
        config_dir=args.config_dir, trials=args.trials, recipe=args.recipe,
    )


def study_from_args(args: argparse.Namespace) -> str:
    executor = None
    if args.ray:
        executor = RayExecutor(address=args.address, num_cpus=args.num_cpus, cpus_per_task=args.cpus_per_task,
                               gpus_per_training=args.gpus_per_training, max_retries=args.max_retries)
    try:
        return str(run_study(settings_from_args(args), tables_only=args.tables_only, executor=executor))
    except RayError as error:  # Ray is missing, or the cluster at --address cannot be reached: one line
        print(f"ere-study: {error}", file=sys.stderr)
        sys.exit(2)


def run_study(settings: StudySettings, tables_only: bool = False, progress: bool = True, executor: Any = None):
    """Runs (resumes) the study of `settings` and writes its tables. `executor`: a `Study.run`
    executor, e.g. ``ere_allennlp.study.ray_runner.RayExecutor``; None runs one step at a time."""
    study = Study(settings)
    if executor is not None:
        executor.check(study.settings)
    if not tables_only:
        study.run(progress=progress, executor=executor)
    out = StudyTables(study).write()
    print((out / "tables.md").read_text(encoding="utf-8"))
    print(f"tables, results.json and approaches.png written to {out}")
    return out
