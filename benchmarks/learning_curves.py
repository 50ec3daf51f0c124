"""Learning curves of trained modules: per-epoch dev (validation) and training figures read from
the ``metrics_epoch_<n>.json`` files that ``allennlp train`` writes to its serialization folder.

    .venv/bin/python benchmarks/learning_curves.py NAME=RUN_DIR [NAME=RUN_DIR ...] \
        [--metrics strict_rel_c_f1 ent_c_f1 ...] [--plot curves.png] [--markdown curves.md]

prints, for each metric, a table with one row per run and one column per epoch (F1 and shares in %,
losses as they are). A metric is looked up as ``validation_<metric>`` first, then
``training_<metric>`` (write ``training_loss_rel`` to ask for the training figure explicitly).
With ``diagnostic_metrics: true`` (see ``SpanModel``) the modules also report ``loss_ent``,
``loss_rel``, ``pair_nonnull``, ``pruned_ent_ceiling`` and ``pruned_rel_ceiling``.
"""
import argparse
import json
import re
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

DEFAULT_METRICS = ["ent_c_f1", "rel_c_f1", "strict_rel_c_f1"]


def read_curves(run_dir: Path) -> List[Dict[str, float]]:
    """The metrics of every finished epoch of one run, in epoch order."""
    files = sorted(run_dir.glob("metrics_epoch_*.json"), key=lambda p: int(re.findall(r"\d+", p.name)[-1]))
    if not files:
        raise SystemExit(f"{run_dir}: no metrics_epoch_*.json (is it an `allennlp train` folder?)")
    return [json.loads(path.read_text()) for path in files]


def value(epoch: Dict[str, float], metric: str) -> Optional[float]:
    for key in (metric, f"validation_{metric}", f"training_{metric}"):
        if key in epoch:
            return float(epoch[key])
    return None


def is_share(metric: str) -> bool:
    return metric.endswith(("_f1", "_p", "_r")) or "pair_" in metric or "ceiling" in metric


def table(runs: Dict[str, List[Dict[str, float]]], metric: str) -> str:
    epochs = max(len(curve) for curve in runs.values())
    lines = [f"| {metric} | " + " | ".join(str(e) for e in range(epochs)) + " |",
             "|---|" + "---:|" * epochs]
    for name, curve in runs.items():
        cells = []
        for epoch in curve:
            v = value(epoch, metric)
            cells.append("" if v is None else f"{100 * v:.2f}" if is_share(metric) else f"{v:.2f}")
        cells += [""] * (epochs - len(curve))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(runs: Dict[str, List[Dict[str, float]]], metrics: List[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for name, curve in runs.items():
            points: List[Tuple[int, float]] = [
                (e, value(epoch, metric)) for e, epoch in enumerate(curve) if value(epoch, metric) is not None
            ]
            if points:
                scale = 100 if is_share(metric) else 1
                ax.plot([e for e, _ in points], [scale * v for _, v in points], marker="o", markersize=3, label=name)
        ax.set_title(metric)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="NAME=RUN_DIR (an allennlp train serialization folder)")
    parser.add_argument("--metrics", nargs="+", default=DEFAULT_METRICS)
    parser.add_argument("--plot", type=Path, help="write the curves as a PNG")
    parser.add_argument("--markdown", type=Path, help="also write the tables to this file")
    args = parser.parse_args(argv)
    runs: Dict[str, List[Dict[str, float]]] = {}
    for spec in args.runs:
        name, _, folder = spec.rpartition("=")
        runs[name or Path(folder).name] = read_curves(Path(folder))
    text = "\n\n".join(table(runs, metric) for metric in args.metrics)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    if args.plot:
        plot(runs, args.metrics, args.plot)
        print(f"plot: {args.plot}", file=sys.stderr)


if __name__ == "__main__":
    main()
