"""Mixed precision against float32: every module and the pruner, built from its training config on
the tiny BERT (``tests/models/fixture_models.py``), fitted for a few float32 steps on the fixture
dev split, then run in float32 and under ``torch.autocast``; prints per model the largest change
of an entity / relation probability (pruner: of a span's sigmoid score), the decisions that stay
the same (pruner: the spans kept) and both losses; writes JSON.

    .venv/bin/python benchmarks/autocast.py                               # CPU, bfloat16 (what the tests check)
    .venv/bin/python benchmarks/autocast.py --device cuda --dtype float16 # what use_amp does on a GPU

The tests (``tests/models/span_model_test.py``, ``tests/models/span_pruner_test.py``) assert the
CPU bfloat16 figures against a tolerance; the float16 CUDA run has not been made (no GPU here).
"""
import argparse
import json
import os
import sys
from pathlib import Path

from common import MODULES, ROOT  # noqa: E402  (sets offline mode before AllenNLP)

import torch  # noqa: E402
from allennlp.nn.util import move_to_device  # noqa: E402

from tests.models.fixture_models import autocast_agreement, build, fit, tensors  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16"])
    parser.add_argument("--steps", type=int, default=20, help="float32 Adam steps before comparing (0: untrained)")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--output", default=str(ROOT / "benchmarks/results/autocast.json"))
    args = parser.parse_args()
    os.chdir(ROOT)
    torch.set_num_threads(1)
    rows = {}
    print(f"{'model':<11} {'task':<9} {'max |dP|':>9} {'same':>10}   loss float32 / autocast")
    for module in MODULES:
        model, instances = build(module, split="dev")
        model.to(args.device)
        batch = tensors(instances)
        batch = move_to_device(batch, torch.device(args.device))
        fit(model, batch, args.steps, args.lr)
        result = autocast_agreement(model, batch, args.device, getattr(torch, args.dtype))
        rows[module] = {k: v for k, v in result.items() if k != "dtypes"}
        for task in ("entity", "relation", "pruner"):
            if task in result:
                figures = result[task]
                print(f"{module:<11} {task:<9} {figures['max_diff']:>9.4f} {figures['agree']:>5}/{figures['total']:<4}"
                      f"   {result['loss'][0]:.3f} / {result['loss'][1]:.3f}"
                      f"{'' if result['finite'] else '  NOT FINITE'}")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps({"device": args.device, "dtype": args.dtype, "steps": args.steps,
                                             "lr": args.lr, "torch": torch.__version__, "models": rows}, indent=2))
    print(f"written to {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
