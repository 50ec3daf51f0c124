"""Tables 2-6 of the paper, a bar chart and every raw figure, from the finished runs of a `Study`.

Every figure is a mean over the seeds whose run finished, with the standard deviation (``ddof=1``;
0 for one seed), in percent. Significance (Section 3.1): the paired permutation test of
`ere_allennlp.study.significance` between two approaches, whose units are the (seed, document)
pairs both approaches finished; in a table, ``*`` marks a figure whose F1 is significantly
(p < 0.05) below the best of its column, and the best is in bold.

Written to ``OUT/tables/``: ``table2.md`` ... ``table6.md`` (and ``.csv``), ``tables.md`` (all of
them), ``significance.md`` / ``significance.csv`` (p-values of every pair of Table 2's approaches),
``results.json`` (per-seed figures, means, stds, p-values) and ``approaches.png``; with the
predictions, ``error_propagation.md``; when the cross-task modules report them (``diagnostic_metrics``),
``mean_field.md``: the entity decisions each mean-field iteration changed; ``macro.md``: micro and
macro F1 of the typed metrics side by side (for runs evaluated since `EreF1` reports macro F1).
"""
import csv
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ere_allennlp import configs
from ere_allennlp.analysis.breakdown import ENTITY_CAUSES
from ere_allennlp.analysis.report import breakdown_of
from ere_allennlp.atomic import atomic_json, atomic_path
from ere_allennlp.metrics.ere_f1 import CLASSIFICATION_METRICS, DISPLAY_NAMES, MACRO_SUFFIX, METRIC_NAMES, SCORES
from ere_allennlp.metrics.training_diagnostics import TrainingDiagnostics
from ere_allennlp.study.runner import SPLITS, Study
from ere_allennlp.study.significance import ALPHA, paired_permutation_test


@dataclass
class Cell:
    values: List[float]  # one per seed, in percent
    metric: Optional[str] = None  # the F1 metric that the significance mark refers to
    mark: str = ""  # "*" when significantly below the column's best
    best: bool = False

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else float("nan")

    @property
    def std(self) -> float:
        return float(np.std(self.values, ddof=1)) if len(self.values) > 1 else 0.0

    def text(self) -> str:
        if not self.values:
            return "-"
        body = f"{self.mean:.2f} ± {self.std:.2f}"
        body = f"**{body}**" if self.best else body
        return body + self.mark


@dataclass
class Table:
    name: str
    caption: str
    columns: List[str]
    rows: List[Tuple[str, List[Cell]]] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"### {self.name}: {self.caption}", "", "| | " + " | ".join(self.columns) + " |",
                 "|---|" + "---:|" * len(self.columns)]
        for label, cells in self.rows:
            lines.append(f"| {label} | " + " | ".join(cell.text() for cell in cells) + " |")
        lines.append("")
        lines.extend(self.notes)
        return "\n".join(lines).rstrip() + "\n"

    def write_csv(self, path: Path) -> None:
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            header = ["row"]
            for column in self.columns:
                header += [f"{column} mean", f"{column} std", f"{column} seeds", f"{column} significantly worse"]
            writer.writerow(header)
            for label, cells in self.rows:
                row: List[Any] = [label]
                for cell in cells:
                    row += [f"{cell.mean:.4f}" if cell.values else "", f"{cell.std:.4f}" if cell.values else "",
                            len(cell.values), bool(cell.mark)]
                writer.writerow(row)


class StudyTables:
    """Reads the finished runs of `study` and builds the tables."""

    def __init__(self, study: Study) -> None:
        self.study = study
        self.settings = study.settings
        # What each table shows and how it names the approaches and modules: the configs' tables
        # (training_configs/lib/approach.libsonnet, ere.libsonnet).
        self.shown = configs.study_tables(self.settings.configs())
        self.approach_names = configs.approach_names(self.settings.configs())
        self.module_names = {name: spec["name"] for name, spec in configs.modules(self.settings.configs()).items()}
        self.approaches: Dict[str, Dict[int, Dict[str, Any]]] = {}
        for approach in self.settings.approaches:
            for seed in self.settings.seeds:
                path = study.metrics_file(seed, approach)
                if path.exists():
                    with open(path, encoding="utf-8") as handle:
                        self.approaches.setdefault(approach, {})[seed] = json.load(handle)
        self.spans: Dict[str, Dict[int, Dict[str, Dict[str, float]]]] = {}
        for module in self.shown["table4"]:
            for seed in self.settings.seeds:
                path = study.module_dir(seed, module) / "span_metrics.json"
                if path.exists():
                    with open(path, encoding="utf-8") as handle:
                        self.spans.setdefault(module, {})[seed] = json.load(handle)
        self.p_values: Dict[Tuple[str, str, str], float] = {}

    # ---------------------------------------------------------------------------- figures
    def values(self, approach: str, key: str) -> List[float]:
        runs = self.approaches.get(approach, {})
        return [100.0 * runs[seed]["metrics"][key] for seed in sorted(runs)]

    def p_value(self, a: str, b: str, metric: str) -> Optional[float]:
        """Permutation test of `metric` F1 between approaches a and b over the (seed, document)
        units both finished; None when they share no seed."""
        key = (min(a, b), max(a, b), metric)
        if key not in self.p_values:
            seeds = sorted(set(self.approaches.get(a, {})) & set(self.approaches.get(b, {})))
            if not seeds:
                return None
            counts = []
            for approach in (a, b):
                units = {}
                for seed in seeds:
                    for doc_key, doc in self.approaches[approach][seed]["document_counts"].items():
                        units[f"{seed}/{doc_key}"] = {m: tuple(v) for m, v in doc.items()}
                counts.append(units)
            self.p_values[key] = paired_permutation_test(counts[0], counts[1], metric, trials=self.settings.trials)
        return self.p_values[key]

    def approach_table(self, name: str, caption: str, approaches: Sequence[str], metrics: Sequence[str]) -> Table:
        present = [a for a in approaches if a in self.approaches]
        table = Table(name, caption, [DISPLAY_NAMES[m] for m in metrics])
        for approach in present:
            table.rows.append((self.approach_names[approach], [Cell(self.values(approach, f"{m}_f1"), metric=m) for m in metrics]))
        self._mark(table, present)
        seeds = sorted({s for a in present for s in self.approaches[a]})
        table.notes.append(
            f"F1 (%), mean ± std over seeds {seeds} on {self.settings.eval_split}. Bold: best of the column; "
            f"*: significantly below it (paired permutation test over (seed, document) units, p < {ALPHA})."
        )
        return table

    def _mark(self, table: Table, approaches: Sequence[str], columns: Optional[Sequence[int]] = None) -> None:
        """Bold for the best of each of `columns` (default all; ties are all best), ``*`` for a
        cell whose approach is significantly below the best one on the cell's metric."""
        for column in range(len(table.columns)) if columns is None else columns:
            cells = [cells[column] for _, cells in table.rows]
            filled = [(i, c) for i, c in enumerate(cells) if c.values]
            if not filled:
                continue
            best_index, best = max(filled, key=lambda item: item[1].mean)
            for i, cell in filled:
                cell.best = cell.mean == best.mean
                if cell.best or cell.metric is None:
                    continue
                p = self.p_value(approaches[best_index], approaches[i], cell.metric)
                if p is not None and p < ALPHA:
                    cell.mark = "*"

    def table2(self) -> Table:
        return self.approach_table("Table 2", "F1 scores of the eight approaches", self.shown["table2"], METRIC_NAMES)

    def table3(self) -> Table:
        present = [a for a in self.shown["table3"] if a in self.approaches]
        table = Table("Table 3", "Rel+-C of Ri-Rc and Re with gold entities", ["P", "R", "F1"])
        for approach in present:
            cells = [Cell(self.values(approach, f"strict_rel_c_{k}")) for k in SCORES]
            cells[2].metric = "strict_rel_c"
            table.rows.append((self.approach_names[approach], cells))
        if len(present) == 2:
            self._mark(table, present, columns=[2])
            p = self.p_value(present[0], present[1], "strict_rel_c")
            table.notes.append(f"Rel+-C (%), mean ± std over seeds; p-value of the F1 difference: {p:.4f} "
                               f"(* marks the significantly lower F1, p < {ALPHA}).")
        return table

    def table4(self) -> Table:
        table = Table("Table 4", "the pruner and Ei as entity pruners (span P/R/F1)", ["P", "R", "F1"])
        for module in self.shown["table4"]:
            runs = self.spans.get(module, {})
            for split in SPLITS:
                per_seed = [runs[seed][split] for seed in sorted(runs) if split in runs[seed]]
                if per_seed:
                    table.rows.append((f"{self.module_names[module]} {split}",
                                       [Cell([100.0 * r[k] for r in per_seed]) for k in SCORES]))
        table.notes.append("Span P/R/F1 (%), mean ± std over seeds: the pruner's kept spans and Ei's identified "
                           "spans against the gold entity spans.")
        return table

    def table5(self) -> Table:
        return self.approach_table("Table 5", "Ei-EcRe, Ei-NerRe and NerRe", self.shown["table5"], CLASSIFICATION_METRICS)

    def table6(self) -> Table:
        return self.approach_table(
            "Table 6", "NerRe and NerRe* with the pruner or a trained Ei", self.shown["table6"], CLASSIFICATION_METRICS,
        )

    def macro(self) -> Table:
        """Micro and macro F1 (over labels, `EreF1`) of the -C metrics for every approach whose
        figures have them; bold for the best of each column, no significance test (it is on micro F1)."""
        columns = [name + suffix for name in CLASSIFICATION_METRICS for suffix in ("", MACRO_SUFFIX)]
        table = Table("Macro F1", "micro and macro F1 of the typed metrics", [DISPLAY_NAMES[c] for c in columns])
        present = [a for a in self.settings.approaches
                   if self.approaches.get(a) and all(f"{c}_f1" in run["metrics"] for run in self.approaches[a].values()
                                                     for c in columns)]
        for approach in present:
            table.rows.append((self.approach_names[approach], [Cell(self.values(approach, f"{c}_f1")) for c in columns]))
        self._mark(table, present)
        table.notes.append("F1 (%), mean ± std over seeds. Macro: the mean over the labels seen in gold or predictions "
                           "of each label's F1 (as SpERT reports it); micro is the paper's.")
        return table

    def tables(self) -> List[Table]:
        return [self.table2(), self.table3(), self.table4(), self.table5(), self.table6()]

    def error_propagation(self) -> Table:
        """Of the gold relations each approach loses (Rel+-C), the share lost to entity errors
        (`ere_allennlp.analysis.breakdown`), from the written predictions of every seed."""
        table = Table("Error propagation", "gold relations (Rel+-C) lost, and the share lost to entity errors",
                      ["lost", "to entity errors", "share %"])
        gold = self.settings.split_path(self.settings.eval_split)
        for approach in self.settings.approaches:
            lost, entity, share = [], [], []
            for seed in sorted(self.approaches.get(approach, {})):
                path = self.study.predictions_file(seed, approach)
                if not path.exists():
                    continue
                breakdown = breakdown_of(str(path), gold, self.settings.symmetric_relations)
                lost.append(float(breakdown.lost_relations))
                entity.append(float(sum(breakdown.relation_causes[c] for c in ENTITY_CAUSES)))
                share.append(100.0 * breakdown.error_propagation_share)
            if lost:
                table.rows.append((self.approach_names[approach], [Cell(lost), Cell(entity), Cell(share)]))
        table.notes.append("Mean ± std over seeds. A lost gold relation is attributed to its first cause "
                           "(`allennlp ere-analyze`, ere_allennlp/analysis/breakdown.py); entity errors: an argument "
                           "not found, found with other boundaries or with the wrong type.")
        return table

    def mean_field(self) -> Table:
        """What mean-field inference does to the entity decisions of each cross-task module: per
        iteration t, the decisions it changed from right to wrong and from wrong to right (per 100
        gold entities among the scored spans, the best epoch's validation figures). Read from the
        modules' ``metrics.json``; only modules trained with ``diagnostic_metrics`` (the ``cpu``
        recipe turns it on for them) report them."""
        table = Table("Mean field", "entity decisions changed by iteration t, per 100 gold entities (validation)", [])
        per_module: Dict[str, Dict[str, List[float]]] = {}
        prefix = "best_validation_" + TrainingDiagnostics.MEAN_FIELD_PREFIX
        for module in configs.mean_field_modules(self.settings.configs()):
            for seed in self.settings.seeds:
                path = self.study.module_dir(seed, module) / "metrics.json"
                if not path.exists():
                    continue
                metrics = json.loads(path.read_text(encoding="utf-8"))
                for key, value in metrics.items():
                    if key.startswith(prefix):
                        per_module.setdefault(module, {}).setdefault(key[len(prefix):], []).append(float(value))
        names = sorted({name for figures in per_module.values() for name in figures}, key=lambda n: (int(n.rsplit("t", 1)[1]), n))
        table.columns = [name.replace("_", " ") for name in names]
        for module, figures in per_module.items():
            table.rows.append((module, [Cell(figures.get(name, [])) for name in names]))
        table.notes.append("Mean ± std over seeds. 'to wrong tN': decisions right after iteration N-1 and wrong "
                           "after N; 'to right tN': the reverse (SpanModel `diagnostic_metrics`).")
        return table

    def significance_rows(self) -> List[Dict[str, Any]]:
        present = [a for a in self.shown["table2"] if a in self.approaches]
        rows = []
        for metric in METRIC_NAMES:
            for i, a in enumerate(present):
                for b in present[i + 1 :]:
                    p = self.p_value(a, b, metric)
                    rows.append({"metric": DISPLAY_NAMES[metric], "a": a, "b": b,
                                 "f1_a": float(np.mean(self.values(a, f"{metric}_f1"))),
                                 "f1_b": float(np.mean(self.values(b, f"{metric}_f1"))),
                                 "p_value": p, "significant": p is not None and p < ALPHA})
        return rows

    def stage_overrides_lines(self) -> List[str]:
        """Which approaches were evaluated with stage overrides (``--stage-overrides``), as each metrics
        file records them, with a warning where the seeds of one approach differ."""
        lines: List[str] = []
        for approach, runs in self.approaches.items():
            # per seed: the overrides as text, "none" where no stage had any
            used = {seed: json.dumps(run["stage_overrides"], sort_keys=True) if any(run.get("stage_overrides") or [])
                    else "none" for seed, run in runs.items()}
            kinds = sorted(set(used.values()))
            name = self.approach_names.get(approach, approach)
            if len(kinds) > 1:
                per_seed = "; ".join(f"seed {seed}: {text}" for seed, text in sorted(used.items()))
                lines.append(f"- {name}: **its seeds were evaluated with different stage overrides** ({per_seed}); "
                             "rerun ere-study with one --stage-overrides")
            elif kinds != ["none"]:
                lines.append(f"- {name}: stages loaded with overrides {kinds[0]}")
        if not lines:
            return []
        return ["Evaluated with stage overrides (--stage-overrides; the trained modules decode otherwise):", ""] + lines + [""]

    # ---------------------------------------------------------------------------- output
    def write(self, directory: Optional[Path] = None) -> Path:
        out = directory or self.study.root / "tables"
        out.mkdir(parents=True, exist_ok=True)
        tables = self.tables()
        combined = [f"# ere-study: {self.settings.dataset}, evaluated on {self.settings.eval_split}", ""]
        combined += self.stage_overrides_lines()
        for number, table in enumerate(tables, start=2):
            text = table.markdown()
            (out / f"table{number}.md").write_text(text, encoding="utf-8")
            table.write_csv(out / f"table{number}.csv")
            combined.append(text)
        # The analysis tables, each written only when it has rows.
        for name, table in (("error_propagation", self.error_propagation()), ("mean_field", self.mean_field()),
                            ("macro", self.macro())):
            if table.rows:
                text = table.markdown()
                (out / f"{name}.md").write_text(text, encoding="utf-8")
                table.write_csv(out / f"{name}.csv")
                combined.append(text)
        (out / "tables.md").write_text("\n".join(combined), encoding="utf-8")
        rows = self.significance_rows()
        self._write_significance(out, rows)
        self._write_json(out / "results.json", tables, rows)
        self.plot(out / "approaches.png")
        return out

    def _write_significance(self, out: Path, rows: List[Dict[str, Any]]) -> None:
        with open(out / "significance.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["metric", "a", "b", "f1_a", "f1_b", "p_value", "significant"])
            writer.writeheader()
            writer.writerows(rows)
        lines = ["# Paired permutation tests between the approaches of Table 2", "",
                 f"Units: (seed, document) pairs; {self.settings.trials} random swaps; * p < {ALPHA}.", "",
                 "| metric | A | B | F1 A | F1 B | p |", "|---|---|---|---:|---:|---:|"]
        for row in rows:
            p = "-" if row["p_value"] is None else f"{row['p_value']:.4f}" + (" *" if row["significant"] else "")
            lines.append(f"| {row['metric']} | {row['a']} | {row['b']} | {row['f1_a']:.2f} | {row['f1_b']:.2f} | {p} |")
        (out / "significance.md").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def _write_json(self, path: Path, tables: List[Table], rows: List[Dict[str, Any]]) -> None:
        data: Dict[str, Any] = {
            "settings": asdict(self.study.settings),
            "approaches": {
                approach: {
                    "seeds": {str(seed): run["metrics"] for seed, run in sorted(runs.items())},
                    "mean": {k: float(np.mean([run["metrics"][k] for run in runs.values()])) for k in next(iter(runs.values()))["metrics"]},
                    "std": {k: float(np.std([run["metrics"][k] for run in runs.values()], ddof=1)) if len(runs) > 1 else 0.0
                            for k in next(iter(runs.values()))["metrics"]},
                }
                for approach, runs in self.approaches.items()
            },
            "spans": {module: {str(seed): splits for seed, splits in sorted(runs.items())} for module, runs in self.spans.items()},
            "significance": rows,
            "tables": {
                table.name: {
                    "columns": table.columns,
                    "rows": {label: [{"mean": c.mean, "std": c.std, "values": c.values, "best": c.best,
                                      "significantly_worse": bool(c.mark)} for c in cells] for label, cells in table.rows},
                }
                for table in tables
            },
        }
        atomic_json(path, data)

    def plot(self, path: Path) -> None:
        """Grouped bars: the six F1 scores of each Table 2 approach, error bars = std over seeds."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        present = [a for a in self.shown["table2"] if a in self.approaches]
        figure, axis = plt.subplots(figsize=(max(6.0, 1.4 * len(present) + 2), 4.5))
        width = 0.8 / len(METRIC_NAMES)
        x = np.arange(len(present))
        for k, metric in enumerate(METRIC_NAMES):
            means = [np.mean(self.values(a, f"{metric}_f1")) for a in present]
            stds = [np.std(self.values(a, f"{metric}_f1"), ddof=1) if len(self.values(a, f"{metric}_f1")) > 1 else 0.0
                    for a in present]
            axis.bar(x + (k - (len(METRIC_NAMES) - 1) / 2) * width, means, width, yerr=stds, capsize=2, label=DISPLAY_NAMES[metric])
        axis.set_xticks(x)
        axis.set_xticklabels([self.approach_names[a] for a in present], rotation=30, ha="right", fontsize=8)
        axis.set_ylabel("F1 (%)")
        seeds = sorted({s for a in present for s in self.approaches[a]})
        axis.set_title(f"{self.settings.dataset} ({self.settings.eval_split}), mean ± std over {len(seeds)} seed(s)")
        axis.legend(fontsize=7, ncol=3)
        figure.tight_layout()
        with atomic_path(path) as temporary:
            figure.savefig(temporary, dpi=120)
        plt.close(figure)
