"""Load on ``allennlp ere-serve`` against ``allennlp predict`` on the same documents (issue #25).

    .venv/bin/python benchmarks/serve_load.py --archive demo_a8=runs/demo2_s13370/a8/model.tar.gz \\
        --archive minilm_a8=runs/serve_bench/a8/model.tar.gz --documents 50

For each archive: the first ``--documents`` documents of SciERC dev (abstracts, as DyGIE documents),

- **the reference**, ``allennlp predict ARCHIVE docs.jsonl --predictor ere --batch-size 16`` in a
  subprocess, timed from when its archive is loaded to the last line written (its
  ``_PredictManager.run``, wrapped by the benchmark): offline throughput = N / that time;
- **the server**, ``allennlp ere-serve`` in a subprocess on 127.0.0.1, batching on
  (``--max-batch-size 16 --max-wait-ms 10``) and off (``--max-batch-size 1 --max-wait-ms 0``): at
  concurrency 1, 4 and 16, each document sent once as its own request by C client threads (httpx,
  keep-alive), after a warm-up of 4 requests; latency per request (p50 / p95 / p99, ms) and
  documents per second over the level's wall time. Every answer is checked to be 200 and to hold
  its own doc_key.

Bounded: N requests per level, each level stops after ``--level-timeout-s``; only loopback. The
server and ``allennlp predict`` use torch's default threads on this machine. JSON goes to
``benchmarks/results/serve_load.json``; the table printed is the one in docs/benchmarks.md.
Target (#25): batched throughput at concurrency 16 >= 0.8 of ``allennlp predict``'s.
"""
import argparse
import concurrent.futures
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import httpx

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "data" / "scierc" / "dev.json"
ENV = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
MODES = {"batched": ("--max-batch-size", "16", "--max-wait-ms", "10"),
         "unbatched": ("--max-batch-size", "1", "--max-wait-ms", "0")}


def documents(path: Path, count: int) -> List[Dict[str, Any]]:
    records = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                records.append({"doc_key": record["doc_key"], "sentences": record["sentences"]})
            if len(records) == count:
                break
    return records


# `allennlp predict` itself, with its _PredictManager.run (read, predict and write every line, after
# the archive is loaded) timed; the seconds go to the file named by the first argument.
TIMED_PREDICT = """
import sys, time
from allennlp.commands import main
from allennlp.commands.predict import _PredictManager
run, timing = _PredictManager.run, sys.argv[1]
def timed(self):
    started = time.perf_counter()
    run(self)
    open(timing, "w").write(str(time.perf_counter() - started))
_PredictManager.run = timed
sys.argv = ["allennlp"] + sys.argv[2:]
main(prog="allennlp")
"""


def predict_seconds(archive: str, docs: List[Dict[str, Any]], folder: Path) -> float:
    """Seconds `allennlp predict --batch-size 16` takes over `docs` once its archive is loaded."""
    data, out, timing = folder / "input.jsonl", folder / "output.jsonl", folder / "predict_seconds"
    data.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    command = [sys.executable, "-c", TIMED_PREDICT, str(timing), "predict", archive, str(data), "--predictor", "ere",
               "--batch-size", "16", "--cuda-device", "-1", "--silent", "--output-file", str(out),
               "--include-package", "ere_allennlp"]
    subprocess.run(command, cwd=ROOT, env=ENV, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert len(out.read_text(encoding="utf-8").splitlines()) == len(docs)
    return float(timing.read_text())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(archive: str, mode: str, log: Path) -> Tuple[subprocess.Popen, str]:
    port = free_port()
    command = [sys.executable, "-m", "allennlp", "ere-serve", archive, "--port", str(port), "--log-level", "warning",
               "--max-queue", "1024", *MODES[mode]]
    process = subprocess.Popen(command, cwd=ROOT, env=ENV, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ere-serve exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("ere-serve not ready within 300 s")


def load_level(url: str, docs: List[Dict[str, Any]], concurrency: int, timeout_s: float) -> Dict[str, Any]:
    clients = [httpx.Client(base_url=url, timeout=120) for _ in range(concurrency)]
    for client in clients[:4]:
        client.post("/v1/extract", json={"documents": [docs[0]]})  # warm-up
    latencies: List[float] = []
    errors: List[int] = []
    deadline = time.monotonic() + timeout_s
    next_document = iter(range(len(docs)))

    def worker(client: httpx.Client) -> None:
        for n in next_document:  # the iterator is shared: each document is sent once
            if time.monotonic() > deadline:
                return
            started = time.perf_counter()
            response = client.post("/v1/extract", json={"documents": [docs[n]]})
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200 or response.json()["documents"][0]["doc_key"] != docs[n]["doc_key"]:
                errors.append(n)

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, clients))
    wall = time.perf_counter() - started
    for client in clients:
        client.close()
    ordered = sorted(latencies)

    def percentile(q: float) -> float:
        return 1000 * ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]

    return {"concurrency": concurrency, "requests": len(latencies), "errors": len(errors), "seconds": wall,
            "docs_per_s": len(latencies) / wall, "p50_ms": percentile(0.5), "p95_ms": percentile(0.95),
            "p99_ms": percentile(0.99), "mean_ms": 1000 * statistics.mean(latencies)}


def benchmark(name: str, archive: str, docs: List[Dict[str, Any]], levels: List[int], timeout_s: float,
              folder: Path) -> Dict[str, Any]:
    seconds = predict_seconds(archive, docs, folder)
    reference = len(docs) / seconds
    print(f"[{name}] allennlp predict: {len(docs)} documents in {seconds:.1f} s -> {reference:.2f} documents/s offline",
          flush=True)
    rows = []
    for mode in MODES:
        process, url = start_server(archive, mode, folder / f"{name}_{mode}.log")
        try:
            for concurrency in levels:
                row = dict(load_level(url, docs, concurrency, timeout_s), mode=mode)
                row["vs_predict"] = row["docs_per_s"] / reference
                rows.append(row)
                print(f"[{name}] {mode:9} c={concurrency:<3} {row['docs_per_s']:6.2f} docs/s  p50 {row['p50_ms']:7.0f}  "
                      f"p95 {row['p95_ms']:7.0f}  p99 {row['p99_ms']:7.0f} ms  x{row['vs_predict']:.2f} of predict"
                      f"  ({row['requests']} requests, {row['errors']} errors)", flush=True)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(120)
    return {"archive": archive, "documents": len(docs), "sentences": sum(len(d["sentences"]) for d in docs),
            "predict_docs_per_s": reference, "predict_seconds": seconds, "levels": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archive", action="append", required=True, help="NAME=PATH (repeatable)")
    parser.add_argument("--documents", type=int, default=50, help="SciERC dev documents (default 50: all of dev)")
    parser.add_argument("--data", default=str(DEV), help="DyGIE file the documents come from (default SciERC dev)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--level-timeout-s", type=float, default=600, help="a level stops sending after this")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "serve_load.json"))
    args = parser.parse_args()
    docs = documents(Path(args.data), args.documents)
    results = {"cpus": os.cpu_count(), "documents": len(docs), "archives": {}}
    with tempfile.TemporaryDirectory() as folder:
        for item in args.archive:
            name, _, path = item.partition("=")
            results["archives"][name] = benchmark(name, path, docs, args.concurrency, args.level_timeout_s, Path(folder))
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print("\n| archive | mode | concurrency | docs/s | p50 ms | p95 ms | p99 ms | vs `allennlp predict` |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, result in results["archives"].items():
        for row in result["levels"]:
            print(f"| {name} | {row['mode']} | {row['concurrency']} | {row['docs_per_s']:.2f} | {row['p50_ms']:.0f} | "
                  f"{row['p95_ms']:.0f} | {row['p99_ms']:.0f} | {row['vs_predict']:.2f} |")
        print(f"| {name} | `allennlp predict --batch-size 16` | | {result['predict_docs_per_s']:.2f} | | | | 1.00 |")


if __name__ == "__main__":
    main()
