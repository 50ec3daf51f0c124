"""`allennlp ere-compare`: paired permutation test between the predictions of two approaches."""
import argparse
import json
import os
from typing import Any, Dict, List, Optional

from allennlp.commands.subcommand import Subcommand
from overrides import overrides

from ere_allennlp.metrics.ere_f1 import DISPLAY_NAMES
from ere_allennlp.study.significance import ALPHA, TRIALS, compare



@Subcommand.register("ere-compare")
class Compare(Subcommand):
    """Compares two prediction files (``allennlp predict`` output) of the same gold DyGIE file
    with the paired approximate randomization test over documents; prints F1 of both and the
    p-value for each of the six metrics and the three macro F1s over labels (``*``: p < 0.05)."""

    @overrides
    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        description = "Significance test (paired permutation test over documents) between two approaches' predictions."
        subparser = parser.add_parser(self.name, description=description, help=description)
        subparser.add_argument("predictions_a", type=str, help="predictions of approach A (allennlp predict output)")
        subparser.add_argument("predictions_b", type=str, help="predictions of approach B")
        subparser.add_argument("gold", type=str, help="the gold DyGIE file both were predicted from")
        subparser.add_argument("--trials", type=int, default=TRIALS, help=f"random swaps (default {TRIALS})")
        subparser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        subparser.add_argument(
            "--symmetric-relations",
            type=str,
            nargs="*",
            default=[],
            help="relation labels whose direction is ignored (e.g. COMPARE CONJUNCTION for SciERC)",
        )
        subparser.add_argument("--output-file", type=str, default=None, help="also write the results as JSON")
        subparser.set_defaults(func=compare_from_args)
        return subparser


def format_table(results: Dict[str, Dict[str, Any]]) -> str:
    lines: List[str] = [f"{'metric':<12} {'F1 A':>7} {'F1 B':>7} {'p':>8}"]
    for metric, row in results.items():
        mark = " *" if row["significant"] else ""
        lines.append(
            f"{DISPLAY_NAMES.get(metric, metric):<12} {100 * row['f1_a']:7.2f} {100 * row['f1_b']:7.2f} "
            f"{row['p_value']:8.4f}{mark}"
        )
    lines.append(f"* p < {ALPHA} (paired permutation test over documents)")
    return "\n".join(lines)


def compare_from_args(args: argparse.Namespace) -> Dict[str, Dict[str, Any]]:
    return run_compare(
        args.predictions_a, args.predictions_b, args.gold, args.trials, args.seed,
        args.symmetric_relations, args.output_file,
    )


def run_compare(
    predictions_a: str,
    predictions_b: str,
    gold: str,
    trials: int = TRIALS,
    seed: int = 0,
    symmetric_relations: Optional[List[str]] = None,
    output_file: Optional[str] = None,
) -> Dict[str, Dict[str, Any]]:
    results = compare(predictions_a, predictions_b, gold, trials=trials, seed=seed,
                      symmetric_relations=symmetric_relations or ())
    print(format_table(results))
    if output_file:
        directory = os.path.dirname(os.path.abspath(output_file))
        os.makedirs(directory, exist_ok=True)
        with open(output_file, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)
    return results
