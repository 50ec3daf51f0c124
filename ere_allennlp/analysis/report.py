"""`analyze`: the breakdowns (`ere_allennlp.analysis.breakdown`) of several prediction files of the
same gold file, written side by side as Markdown, CSV, JSON and PNG plots."""
import csv
import os
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

from ere_allennlp.alignment import aligned_sentences
from ere_allennlp.analysis.breakdown import (
    ENTITY_OUTCOMES, GOLD_ENTITY_OUTCOMES, RELATION_CAUSES, SPURIOUS_RELATIONS, Breakdown,
)
from ere_allennlp.analysis.html import write_report
from ere_allennlp.atomic import atomic_json, atomic_path


def breakdown_of(predictions_path: str, gold_path: str, symmetric_relations: Iterable[str] = ()) -> Breakdown:
    """The breakdown of one ``allennlp predict`` output against its gold DyGIE file, with the
    kinds of every sentence's items in `Breakdown.records`."""
    breakdown = Breakdown()
    symmetric = tuple(symmetric_relations)
    for document, predicted, gold in aligned_sentences(predictions_path, gold_path):
        for tokens, predicted_sentence, gold_sentence in zip(document.sentences, predicted, gold):
            kinds = breakdown.add_sentence(predicted_sentence, gold_sentence, len(tokens), symmetric)
            breakdown.records.append((document.doc_key, tokens, kinds))
    return breakdown


def default_names(paths: Sequence[str]) -> List[str]:
    """Names of prediction files: their file names without extension, made unique with their folders."""
    names = [Path(p).stem for p in paths]
    if len(set(names)) == len(names):
        return names
    return [str(Path(p).with_suffix("")).replace(os.sep, "/") for p in paths]


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = [f"### {title}", "", "| " + " | ".join(columns) + " |", "|" + "|".join(["---"] + ["---:"] * (len(columns) - 1)) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def tables(results: Mapping[str, Mapping[str, Any]]) -> Dict[str, List[List[Any]]]:
    """Each table as rows (first row the header), approaches side by side."""
    names = list(results)
    out: Dict[str, List[List[Any]]] = {}
    out["error_propagation"] = [["approach", "gold relations lost", "to entity errors", "error-propagation share %"]] + [
        [n, results[n]["lost_relations"], sum(results[n]["relation_causes"][c] for c in RELATION_CAUSES[:3]),
         100 * results[n]["error_propagation_share"]] for n in names
    ]
    out["relation_causes"] = [["cause"] + names] + [[c] + [results[n]["relation_causes"][c] for n in names] for c in RELATION_CAUSES]
    out["spurious_relations"] = [["kind"] + names] + [[c] + [results[n]["spurious_relations"][c] for n in names] for c in SPURIOUS_RELATIONS]
    out["entity_outcomes"] = [["predicted entity"] + names] + [[c] + [results[n]["entity_outcomes"][c] for n in names] for c in ENTITY_OUTCOMES]
    out["gold_entity_outcomes"] = [["gold entity"] + names] + [[c] + [results[n]["gold_entity_outcomes"][c] for n in names] for c in GOLD_ENTITY_OUTCOMES]
    for key, title in (("entity_labels", "label"), ("relation_labels", "label"),
                       ("by_sentence_length", "sentence length"), ("by_argument_distance", "argument distance")):
        labels: List[str] = []
        for n in names:
            labels += [label for label in results[n][key] if label not in labels]
        header = [title, "support"] + [f"{n} {m}" for n in names for m in ("P", "R", "F1")]
        rows = []
        for label in labels:
            support = next((results[n][key][label]["support"] for n in names if label in results[n][key]), 0)
            row: List[Any] = [label, support]
            for n in names:
                cell = results[n][key].get(label, {"p": 0.0, "r": 0.0, "f1": 0.0})
                row += [100 * cell["p"], 100 * cell["r"], 100 * cell["f1"]]
            rows.append(row)
        out[key] = [header] + rows
    for key in ("entity_confusion", "relation_confusion"):
        for n in names:
            out[f"{key}_{n}"] = [["gold", "predicted", "count"]] + [list(r) for r in results[n][key]]
    return out


TITLES = {
    "error_propagation": "The error-propagation share: gold relations (Rel+-C) lost to entity errors",
    "relation_causes": "Gold relations lost, by first cause",
    "spurious_relations": "Spurious relations",
    "entity_outcomes": "Predicted entities",
    "gold_entity_outcomes": "Gold entities",
    "entity_labels": "Ent-C by entity type (%)",
    "relation_labels": "Rel+-C by relation label (%)",
    "by_sentence_length": "Rel+-C by sentence length in words (%)",
    "by_argument_distance": "Rel+-C by words between the arguments (%)",
}


def _plots(results: Mapping[str, Mapping[str, Any]], folder: Path) -> List[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(results)
    written = []
    panels = [("relation_causes", RELATION_CAUSES, "gold relations lost"), ("entity_outcomes", ENTITY_OUTCOMES, "predicted entities"),
              ("by_sentence_length", None, "Rel+-C F1 (%)"), ("by_argument_distance", None, "Rel+-C F1 (%)")]
    for key, categories, ylabel in panels:
        labels = list(categories) if categories else list(next(iter(results.values()))[key])
        x = np.arange(len(labels))
        width = 0.8 / max(len(names), 1)
        figure, axis = plt.subplots(figsize=(max(6, 1.1 * len(labels) + 2), 3.6))
        for k, name in enumerate(names):
            values = [results[name][key][c] if categories else 100 * results[name][key].get(c, {"f1": 0.0})["f1"] for c in labels]
            axis.bar(x + (k - (len(names) - 1) / 2) * width, values, width, label=name)
        axis.set_xticks(x)
        axis.set_xticklabels([c.replace("_", " ") for c in labels], rotation=20, ha="right", fontsize=8)
        axis.set_ylabel(ylabel)
        axis.set_title(TITLES.get(key, key), fontsize=9)
        axis.legend(fontsize=8)
        figure.tight_layout()
        path = folder / f"{key}.png"
        with atomic_path(path) as temporary:
            figure.savefig(temporary, format="png", dpi=110)
        plt.close(figure)
        written.append(path)
    return written


def analyze(
    prediction_paths: Sequence[str], gold_path: str, output_dir: str, names: Optional[Sequence[str]] = None,
    symmetric_relations: Iterable[str] = (), plots: bool = True, html: bool = True,
) -> Dict[str, Dict[str, Any]]:
    """Breakdowns of every prediction file, written to `output_dir`: ``analysis.md``,
    ``analysis.json``, one CSV per table, PNG plots and ``report.html`` (the extractions, side by
    side: `ere_allennlp.analysis.html`). Returns ``{name: breakdown JSON}``."""
    names = list(names) if names else default_names(prediction_paths)
    if len(names) != len(prediction_paths):
        raise ValueError(f"{len(names)} names for {len(prediction_paths)} prediction files")
    if len(set(names)) != len(names):
        raise ValueError(f"names repeat: {names}")
    symmetric = tuple(symmetric_relations)
    breakdowns = {name: breakdown_of(path, gold_path, symmetric) for name, path in zip(names, prediction_paths)}
    results = {name: breakdown.to_json() for name, breakdown in breakdowns.items()}
    folder = Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_json(folder / "analysis.json", {"gold": os.path.abspath(gold_path),
                                           "predictions": dict(zip(names, map(os.path.abspath, prediction_paths))),
                                           "approaches": results})
    all_tables = tables(results)
    markdown = [f"# ere-analyze: {', '.join(names)} against {gold_path}", ""]
    for key, rows in all_tables.items():
        with atomic_path(folder / f"{key}.csv") as temporary, open(temporary, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(rows)
        title = TITLES.get(key) or key.replace("_", " ").capitalize()
        markdown.append(_table(title, rows[0], rows[1:]))
    with atomic_path(folder / "analysis.md") as temporary:
        temporary.write_text("\n".join(markdown), encoding="utf-8")
    if plots:
        _plots(results, folder)
    if html:
        write_report(breakdowns, str(folder / "report.html"))
    return results
