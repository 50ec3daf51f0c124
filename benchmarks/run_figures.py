"""Dev figures of trained runs, one row per group of seeds: the best epoch's Ent-C, Rel-C and Rel+-C
F1 (%) from each run's ``metrics.json`` (what ``allennlp train`` / ``ere-train`` writes), as mean ±
sample std over the group's runs, with the per-run Ent-C and Rel+-C. For runs that are not laid out
as ``scripts/entity_gap.sh`` lays them out (e.g. the study setting's NerRe of issue #22, one folder
per seed):

    .venv/bin/python benchmarks/run_figures.py \\
        --row "a8, mean field from epoch 2" runs/study_mfs_s{1,2,3}/scierc_nerre \\
        --row "a8, mean field from epoch 3" runs/study_mfs_s{1,2,3}/scierc_nerre_mfs3

A run without ``metrics.json`` (still training, or lost) is shown as "-" and left out of the mean.
"""
import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ere_allennlp.study.tables import Cell  # noqa: E402  (the study's mean ± std: ddof 1, 0 for one run)

KEYS = ("ent_c_f1", "rel_c_f1", "strict_rel_c_f1")


def run_figures(run: Path) -> Optional[Dict[str, float]]:
    """The run's best-epoch figures (%), or None when it has no metrics.json."""
    path = run / "metrics.json"
    if not path.exists():
        return None
    metrics = json.loads(path.read_text())
    missing = [k for k in KEYS if f"best_validation_{k}" not in metrics]
    if missing:
        raise ValueError(f"{path}: no best_validation_{missing[0]} (not a trained ERE module?)")
    return {k: 100 * metrics[f"best_validation_{k}"] for k in KEYS}


def table(rows: Sequence[Tuple[str, Sequence[Path]]]) -> str:
    lines = ["| | Ent-C | Rel-C | Rel+-C | Ent-C per run | Rel+-C per run |", "|---|---:|---:|---:|---|---|"]
    for name, runs in rows:
        per_run = [run_figures(run) for run in runs]
        found = [f for f in per_run if f]
        cells = [Cell([f[k] for f in found]).text() if found else "" for k in KEYS]
        ent = " / ".join(f"{f['ent_c_f1']:.2f}" if f else "-" for f in per_run)
        rel = " / ".join(f"{f['strict_rel_c_f1']:.2f}" if f else "-" for f in per_run)
        lines.append(f"| {name} ({len(found)} runs) | " + " | ".join(cells) + f" | {ent} | {rel} |")
    return "\n".join(lines)


def main(argv: List[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--row", nargs="+", action="append", required=True, metavar=("NAME", "RUN"),
                        help="a row's name, then its run folders")
    args = parser.parse_args(argv)
    for row in args.row:
        if len(row) < 2:
            parser.error(f"--row {row[0]!r}: give at least one run folder after the name")
    print(table([(row[0], [Path(p) for p in row[1:]]) for row in args.row]))


if __name__ == "__main__":
    main(sys.argv[1:])
