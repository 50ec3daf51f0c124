"""Approach archive size and load time: the portable archive (stages inside, ``allennlp
ere-approach`` since issue #13) against the earlier layout (stages read from their archives by path).

    .venv/bin/python benchmarks/archives.py --runs runs/study_scierc_cpu/seed_1 --approaches a4 a8

For each approach, from the trained module archives in ``--runs`` (``<runs>/scierc_<module>/
model.tar.gz``, a frozen pruner inline in NerRi / NerRe): the portable archive's size against the
sum of its stage archives, and the time ``load_archive`` takes in a fresh process (median of
``--repeats``; imports excluded) for the portable archive and for a path-based archive of the same
approach (the earlier layout: config, empty weights, stages by path). Prints a Markdown table.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

from common import ROOT  # noqa: E402  (sets offline mode before AllenNLP)

LOAD = """
import sys, time
import ere_allennlp
from allennlp.models.archival import load_archive
started = time.perf_counter()
load_archive(sys.argv[1])
print(time.perf_counter() - started)
"""


def load_seconds(archive: str, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        result = subprocess.run([sys.executable, "-c", LOAD, archive], capture_output=True, text=True, cwd=ROOT,
                                env=dict(os.environ, OMP_NUM_THREADS="1"))
        if result.returncode != 0:
            raise SystemExit(f"loading {archive} failed:\n{result.stderr[-2000:]}")
        times.append(float(result.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def path_based_archive(config: Dict, folder: Path) -> str:
    """The approach archive as ``ere-approach`` wrote it before: its config naming the stage
    archives, empty weights, an empty vocabulary."""
    import torch
    from allennlp.data import Vocabulary
    from allennlp.models.archival import archive_model

    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    Vocabulary().save_to_files(str(folder / "vocabulary"))
    torch.save({}, folder / "weights.th")
    return archive_model(str(folder), weights="weights.th")


def main(argv: List[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", required=True, help="folder of <dataset>_<module>/model.tar.gz")
    parser.add_argument("--approaches", nargs="+", default=["a4", "a8"])
    parser.add_argument("--dataset", default="scierc")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    import ere_allennlp  # noqa: F401  (registers the components)
    from ere_allennlp import configs
    from ere_allennlp.approach_archive import build_approach

    settings = {"runs": os.path.abspath(args.runs)}

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.approaches:
            config_path = str(configs.approach_config(args.dataset, name))
            config = configs.params_from_file(config_path, settings).as_dict(quiet=True)
            stages = config["model"]["stages"]
            portable = build_approach(config_path, os.path.join(scratch, name), settings=settings)
            old = path_based_archive(config, Path(scratch) / f"{name}_paths")
            stage_bytes = sum(os.path.getsize(s) for s in stages)
            rows.append({
                "approach": name,
                "stages": len(stages),
                "stage archives MB": stage_bytes / 1e6,
                "portable MB": os.path.getsize(portable) / 1e6,
                "load by path s": load_seconds(old, args.repeats),
                "load portable s": load_seconds(portable, args.repeats),
            })
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row.values()) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
