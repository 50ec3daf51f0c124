"""The entity decisions of a trained NerRe / NerRi / NerRe* module on a split, under the decoding
options of issue #22, from one forward pass per batch:

    .venv/bin/python benchmarks/entity_decoding.py MODULE_ARCHIVE [MODULE_ARCHIVE ...] DATA.json \
        [--offsets 0 0.5 1 2] [--json out.json]

prints, for every ``entity_null_offset`` in `--offsets` with ``relation_arguments_as_entities`` off,
on, and on with ``relation_arguments_joint``, Ent-C, Rel-C and Rel+-C (P / R / F1, %) and the
number of predicted entities; and, for a mean-field module, per iteration t the entity decisions
that iteration t changed from right to wrong and from wrong to right (per 100 gold entities among
the kept spans, and as counts). The module's own decoding options are ignored: every row sets
them. With several archives (e.g. one module's seeds) it prints each one's table and then the
mean ± sample std of every row over them. Nothing is trained; the figures equal ``allennlp
evaluate`` with the same ``--overrides`` (tested in tests/benchmarks/entity_decoding_test.py).
"""
import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Sequence

import torch
from allennlp.data import DatasetReader
from allennlp.data.data_loaders import SimpleDataLoader
from allennlp.models.archival import load_archive

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ere_allennlp  # noqa: F401,E402  (registers the components)
from ere_allennlp.metrics.ere_f1 import EreF1  # noqa: E402
from ere_allennlp.metrics.training_diagnostics import TrainingDiagnostics  # noqa: E402
from ere_allennlp.study.tables import Cell  # noqa: E402  (the study's mean ± std)


def sweep(archive: str, data: str, offsets: Sequence[float], batch_size: int = 8) -> Dict[str, Any]:
    """{"rows": [{offset, as_entities, metrics..., entities}], "flips": {name: value}, "flip_counts": ...}."""
    loaded = load_archive(archive, overrides=json.dumps({"model.diagnostic_metrics": True}))
    model = loaded.model
    model.eval()
    reader = DatasetReader.from_params(loaded.config.duplicate().pop("validation_dataset_reader", None)
                                       or loaded.config.duplicate().pop("dataset_reader"))
    loader = SimpleDataLoader.from_dataset_reader(reader, data, batch_size=batch_size, shuffle=False)
    loader.index_with(model.vocab)
    settings = [(offset, joined, joint) for joined, joint in ((False, False), (True, False), (True, True))
                for offset in offsets]
    symmetric = sorted(model._metric._symmetric_relations)
    metrics = {setting: EreF1(symmetric) for setting in settings}
    counts = {setting: 0 for setting in settings}
    flips = TrainingDiagnostics()
    with torch.no_grad():
        for batch in loader:
            meta = batch["metadata"]
            scores = model.score(batch["tokens"], batch["spans"], None, True, batch.get("span_labels"),
                                 batch.get("relation_labels"), meta)
            gold = [{"entities": m["gold_entities"], "relations": m["gold_relations"]} for m in meta]
            for offset, joined, joint in settings:
                model.entity_null_offset, model.relation_arguments_as_entities = offset, joined
                model.relation_arguments_joint = joint
                entities, relations = model.decode(scores)
                predicted = [{"entities": [e for e, _ in entities[k]], "relations": [r for r, _ in relations[k]]}
                             for k in range(len(meta))]
                metrics[(offset, joined, joint)](predicted, gold)
                counts[(offset, joined, joint)] += sum(len(p["entities"]) for p in predicted)
            if scores.entity_history is not None and scores.span_labels is not None:
                target = model.entity_head.targets(scores.span_labels).masked_fill(~scores.span_mask, -1)
                flips.mean_field_flips([model.entity_head.decided(lp) for lp in scores.entity_history], target)
    rows = []
    for setting in settings:
        row = {"offset": setting[0], "as_entities": setting[1], "joint": setting[2], "entities": counts[setting]}
        row.update(metrics[setting].get_metric(reset=True))
        rows.append(row)
    return {"archive": archive, "data": data, "rows": rows,
            "flips": {k: v for k, v in flips.get_metric(pruned=False).items() if k.startswith("mf_")},
            "flip_counts": flips.mean_field_flip_counts()}


def argument_rule(row: Dict[str, Any]) -> str:
    """The table's "arguments as entities" column of a row: no, yes (the rule) or joint."""
    return "joint" if row.get("joint") else "yes" if row["as_entities"] else "no"


def markdown(result: Dict[str, Any]) -> str:
    lines = ["| null offset | arguments as entities | entities | Ent-C P / R / F1 | Rel-C F1 | Rel+-C P / R / F1 |",
             "|---:|---|---:|---|---:|---|"]
    for row in result["rows"]:
        lines.append(
            f"| {row['offset']:g} | {argument_rule(row)} | {row['entities']} | "
            f"{100 * row['ent_c_p']:.2f} / {100 * row['ent_c_r']:.2f} / {100 * row['ent_c_f1']:.2f} | "
            f"{100 * row['rel_c_f1']:.2f} | {100 * row['strict_rel_c_p']:.2f} / {100 * row['strict_rel_c_r']:.2f} / "
            f"{100 * row['strict_rel_c_f1']:.2f} |"
        )
    if result["flip_counts"]:
        lines.append("")
        lines.append("Mean field, entity decisions changed by iteration t (count; per 100 gold entities kept):")
        for name, count in sorted(result["flip_counts"].items(), key=lambda kv: (kv[0][-1], kv[0])):
            lines.append(f"- {name}: {count} ({result['flips']['mf_' + name]:.2f})")
    return "\n".join(lines)


def mean_table(results: List[Dict[str, Any]]) -> str:
    """Mean ± sample std over the archives of each row (setting) of `markdown`'s table."""
    lines = [f"Mean ± std over {len(results)} archives:", "",
             "| null offset | arguments as entities | entities | Ent-C F1 | Rel-C F1 | Rel+-C F1 |", "|---:|---|---:|---:|---:|---:|"]

    for rows in zip(*(result["rows"] for result in results)):
        figures = [Cell([100 * row[key] for row in rows]).text() for key in ("ent_c_f1", "rel_c_f1", "strict_rel_c_f1")]
        lines.append(f"| {rows[0]['offset']:g} | {argument_rule(rows[0])} | {Cell([float(row['entities']) for row in rows]).text()} | "
                     + " | ".join(figures) + " |")
    return "\n".join(lines)


def main(argv: List[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", metavar="ARCHIVE ... DATA", help="module archives, then the data file")
    parser.add_argument("--offsets", type=float, nargs="+", default=[0.0, 0.5, 1.0, 2.0])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    if len(args.paths) < 2:
        parser.error("give at least one module archive and the data file")
    *archives, data = args.paths
    results = []
    for archive in archives:
        results.append(sweep(archive, data, args.offsets, args.batch_size))
        print(("## " + archive + "\n\n" if len(archives) > 1 else "") + markdown(results[-1]) + "\n")
    if len(results) > 1:
        print(mean_table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results[0] if len(results) == 1 else results, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
