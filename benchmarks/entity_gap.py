"""Issue #22's comparison on SciERC dev, from a folder of trained modules laid out by seed and
variant (``scripts/entity_gap.sh`` writes it):

    ROOT/s<seed>_<variant>/scierc_<module>/metrics.json      (allennlp train)
    ROOT/s<seed>_<variant>/scierc_<module>/decoding.json     (benchmarks/entity_decoding.py --json)
    ROOT/s<seed>_base/a4/metrics.json                        (allennlp evaluate of approach a4)

    .venv/bin/python benchmarks/entity_gap.py ROOT [--seeds 1 2 3] [--markdown out.md]

prints, per row (a module or approach under one variant and one decoding), Ent-C, Rel-C and Rel+-C
F1 (%) as mean ± std over the seeds (sample std) and per seed.
"""
import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ere_allennlp.study.tables import Cell  # noqa: E402  (the study's mean ± std: ddof 1, 0 for one seed)

KEYS = ("ent_c_f1", "rel_c_f1", "strict_rel_c_f1")
# (row name, variant, module or "a4", decoding: None = as trained, else (null offset, arguments as entities))
ROWS: List[Tuple[str, str, str, Optional[Tuple[float, bool]]]] = [
    ("Ner (a4's entities)", "base", "ner", None),
    ("a4 Ner-Re", "base", "a4", None),
    ("NerRe, cpu recipe (a8)", "base", "nerre", (0.0, False)),
    ("NerRe, + relation_arguments_as_entities", "base", "nerre", (0.0, True)),
    ("NerRe, + entity_null_offset 1", "base", "nerre", (1.0, False)),
    ("NerRe, + entity_loss_spans all", "all", "nerre", (0.0, False)),
    ("NerRe, + entity_loss_spans all + arguments as entities", "all", "nerre", (0.0, True)),
    ("NerRe, + entity_loss_spans all × 0.3", "allw", "nerre", (0.0, False)),
    ("NerRe, + entity_loss_spans all × 0.3 + arguments as entities", "allw", "nerre", (0.0, True)),
    ("NerRe*, cpu recipe", "base", "nerre_star", (0.0, False)),
    ("NerRe*, + relation_arguments_as_entities", "base", "nerre_star", (0.0, True)),
    ("NerRe*, + entity_loss_spans all", "all", "nerre_star", (0.0, False)),
    ("NerRe*, + entity_loss_spans all + arguments as entities", "all", "nerre_star", (0.0, True)),
    # Table 7's proportion (the recipe's table7_epoch_ratio): NerRe / NerRe* 5 epochs, Ner and Re 3.
    ("NerRe, 5 epochs, without the argument rule", "base_e5", "nerre", (0.0, False)),
    ("NerRe, 5 epochs, cpu recipe (a8)", "base_e5", "nerre", (0.0, True)),
    ("NerRe, 5 epochs, + entity_loss_spans all + arguments as entities", "all_e5", "nerre", (0.0, True)),
    ("NerRe, 5 epochs, + ternary_null_labels none + arguments as entities", "tnone_e5", "nerre", (0.0, True)),
    ("NerRe*, 5 epochs, without the argument rule", "base_e5", "nerre_star", (0.0, False)),
    ("NerRe*, 5 epochs, cpu recipe", "base_e5", "nerre_star", (0.0, True)),
]


def figures(root: Path, seed: int, variant: str, module: str, decoding: Optional[Tuple[float, bool]]) -> Optional[Dict[str, float]]:
    """The row's F1 figures (%) for one seed, or None when that run is missing."""
    folder = root / f"s{seed}_{variant}"
    if module == "a4":
        path = folder / "a4" / "metrics.json"
        return {k: 100 * json.loads(path.read_text())[k] for k in KEYS} if path.exists() else None
    run = folder / f"scierc_{module}"
    if decoding is None or not (run / "decoding.json").exists():
        path = run / "metrics.json"
        if not path.exists():
            return None
        metrics = json.loads(path.read_text())
        return {k: 100 * metrics[f"best_validation_{k}"] for k in KEYS if f"best_validation_{k}" in metrics}
    for row in json.loads((run / "decoding.json").read_text())["rows"]:
        if (row["offset"], row["as_entities"]) == decoding and not row.get("joint"):
            return {k: 100 * row[k] for k in KEYS}
    return None


def table(root: Path, seeds: Sequence[int]) -> str:
    lines = ["| | Ent-C | Rel-C | Rel+-C | Rel+-C per seed |", "|---|---:|---:|---:|---|"]
    for name, variant, module, decoding in ROWS:
        per_seed = {seed: figures(root, seed, variant, module, decoding) for seed in seeds}
        found = {seed: f for seed, f in per_seed.items() if f}
        if not found:
            continue
        cells = []
        for key in KEYS:
            values = [f[key] for f in found.values() if key in f]
            cells.append(Cell(values).text() if values else "")
        seeds_text = " / ".join(f"{found[s]['strict_rel_c_f1']:.2f}" if s in found and "strict_rel_c_f1" in found[s] else "-"
                                for s in seeds)
        lines.append(f"| {name} ({len(found)} seeds) | " + " | ".join(cells) + f" | {seeds_text} |")
    return "\n".join(lines)


def main(argv: List[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args(argv)
    text = table(args.root, args.seeds)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
