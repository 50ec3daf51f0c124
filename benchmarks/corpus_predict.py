"""Corpus prediction on Ray Data against `allennlp predict`: documents per second, Ray's start-up
time and the memory of each worker, on the same input and archive.

    .venv/bin/python benchmarks/corpus_predict.py --archive runs/bench_a8/model.tar.gz \\
        --data ../shared/data/scierc/dev.json --workers 1 2 --shard-size 5

For each run, a fresh process: ``allennlp predict ARCHIVE DATA --predictor ere --batch-size B``
and ``allennlp ere-predict-corpus ARCHIVE DATA --num-workers N --batch-size B`` (a new output
folder each time, so nothing is skipped). ``wall`` is the whole command, Python start-up and model
loading included; ``docs/s`` = documents / wall. For the corpus job, ``start-up`` is the time from
the job's start until the first predictions reached the driver (Ray, the pipeline, the actors
loading the archive and their first batch) and ``steady docs/s`` = documents / (job time -
start-up); ``peak RSS`` is the largest resident size of a worker (of the `allennlp predict`
process for it). Each run's output is compared with `allennlp predict`'s: ``same docs`` counts
documents whose records are identical, ``same items`` those whose entities and relations (spans
and labels, probabilities left out) are, and ``max p diff`` is the largest probability difference
of an item both predict. The two batch documents differently (Ray Data forms the batches from the
shards' blocks), so padding changes float sums in the last digits and a borderline decision can
flip. JSON goes to ``benchmarks/results/corpus_predict.json``.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parent.parent


def run(command: List[str]) -> float:
    started = time.time()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                            env=dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1"))
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{result.stderr[-3000:]}")
    return time.time() - started


def records(path: Path) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def agreement(expected: List[Dict[str, Any]], got: List[Dict[str, Any]]) -> Dict[str, Any]:
    """How far two prediction files of the same documents agree (see the module docstring)."""
    assert [e["doc_key"] for e in expected] == [g["doc_key"] for g in got], "documents differ or are out of order"
    same_docs = same_items = 0
    max_diff = 0.0
    for e, g in zip(expected, got):
        same_docs += e == g
        items_e = [{tuple(x[:-1]): x[-1] for s in e[key] for x in s} for key in ("predicted_ner", "predicted_relations")]
        items_g = [{tuple(x[:-1]): x[-1] for s in g[key] for x in s} for key in ("predicted_ner", "predicted_relations")]
        same_items += all(a.keys() == b.keys() for a, b in zip(items_e, items_g))
        for a, b in zip(items_e, items_g):
            for k in a.keys() & b.keys():
                max_diff = max(max_diff, abs(a[k] - b[k]))
    return {"same_docs": same_docs, "same_items": same_items, "max_p_diff": max_diff}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archive", required=True)
    parser.add_argument("--data", required=True, help="a JSON-lines file (DyGIE documents)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--shard-size", type=int, default=5)
    parser.add_argument("--output", default=str(ROOT / "benchmarks/results/corpus_predict.json"))
    args = parser.parse_args()
    allennlp = [sys.executable, "-m", "allennlp"]
    documents = sum(1 for line in open(args.data, encoding="utf-8") if line.strip())
    rows: List[Dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        reference = Path(tmp) / "predict.jsonl"
        wall = run(allennlp + ["predict", args.archive, args.data, "--predictor", "ere", "--silent",
                               "--batch-size", str(args.batch_size), "--output-file", str(reference)])
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        rows.append({"run": "allennlp predict", "workers": 1, "wall_s": wall, "docs_per_s": documents / wall,
                     "startup_s": None, "steady_docs_per_s": None, "peak_rss_mb": [round(rss)],
                     "same_docs": documents, "same_items": documents, "max_p_diff": 0.0})
        expected = records(reference)
        for workers in args.workers:
            out = Path(tmp) / f"corpus_{workers}"
            wall = run(allennlp + ["ere-predict-corpus", args.archive, args.data, "--output-dir", str(out), "--merge",
                                   "--num-workers", str(workers), "--batch-size", str(args.batch_size),
                                   "--shard-size", str(args.shard_size), "--no-progress"])
            got = [{k: v for k, v in r.items() if k not in ("input_file", "input_line")} for r in records(out / "predictions.jsonl")]
            same = agreement(expected, got)
            last = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["finished"]["last_run"]
            rows.append({"run": "ere-predict-corpus", "workers": workers, "wall_s": wall, "docs_per_s": documents / wall,
                         "startup_s": last["startup_seconds"],
                         "steady_docs_per_s": documents / max(1e-9, last["seconds"] - last["startup_seconds"]),
                         "peak_rss_mb": sorted(round(w["peak_rss_mb"]) for w in last["workers"].values()), **same})
    print(f"{documents} documents of {args.data}, archive {args.archive}, batch {args.batch_size}, shard {args.shard_size} lines")
    print("| run | workers | wall s | docs/s | start-up s | steady docs/s | peak RSS MB per worker | same docs | same items | max p diff |")
    print("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    for r in rows:
        startup = "" if r["startup_s"] is None else f"{r['startup_s']:.1f}"
        steady = "" if r["steady_docs_per_s"] is None else f"{r['steady_docs_per_s']:.2f}"
        print(f"| {r['run']} | {r['workers']} | {r['wall_s']:.1f} | {r['docs_per_s']:.2f} | {startup} | {steady} | "
              f"{', '.join(map(str, r['peak_rss_mb']))} | {r['same_docs']}/{documents} | {r['same_items']}/{documents} | "
              f"{r['max_p_diff']:.1e} |")
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as handle:
        json.dump({"documents": documents, "archive": args.archive, "data": args.data, "batch_size": args.batch_size,
                   "shard_size": args.shard_size, "cpu_count": os.cpu_count(), "rows": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
