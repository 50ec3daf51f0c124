"""`allennlp ere-info ARCHIVE`: what a module or approach archive holds, from its manifest."""
import argparse
import json
import sys
from typing import Any, Dict, List, Optional

from allennlp.commands.subcommand import Subcommand
from overrides import overrides

from ere_allennlp import archival
from ere_allennlp.metrics.ere_f1 import METRIC_NAMES
from ere_allennlp.models.span_pruner import SpanPruner

# Metrics shown in the text view, in this order, when a module reports them.
SHOWN_METRICS = tuple(f"{name}_f1" for name in METRIC_NAMES) + tuple(
    f"{SpanPruner.METRIC_PREFIX}_{key}" for key in ("r", "k"))


@Subcommand.register("ere-info")
class Info(Subcommand):
    """Prints the manifest of a ``model.tar.gz`` (``ere_manifest.json``, written by ``allennlp
    ere-approach`` and by the ``portable_archive`` trainer callback): per stage its module, the
    archive it was built from and that archive's sha256, the encoder, the training and validation
    data and the best validation metrics; the package version and when it was built. Archives
    without a manifest (other trainings, approaches built before stages were stored inside) are
    described from their config. ``--json`` prints the manifest itself."""

    @overrides
    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        description = "Show what an ere_allennlp model or approach archive holds (its manifest)."
        subparser = parser.add_parser(self.name, description=description, help=description)
        subparser.add_argument("archive", type=str, help="a model.tar.gz (or a serialization folder)")
        subparser.add_argument("--json", action="store_true", help="print the manifest as JSON")
        subparser.set_defaults(func=info_from_args)
        return subparser


def info_from_args(args: argparse.Namespace) -> None:
    sys.stdout.write(describe(args.archive, as_json=args.json))


def describe(path: str, as_json: bool = False) -> str:
    """The text (or JSON) `allennlp ere-info` prints for the archive `path`; a truncated or
    corrupted archive is an error even where its manifest is still readable."""
    manifest = archival.archive_manifest(path)
    if as_json:
        return json.dumps(manifest, indent=2) + "\n"
    return "\n".join(_text(path, manifest)) + "\n"


def _metrics(values: Optional[Dict[str, Any]], epoch: Any) -> str:
    if not values:
        return "best validation metrics: not recorded"
    shown = [f"{k} {100 * float(values[k]):.2f}" if not k.endswith("_k") else f"{k} {float(values[k]):.2f}"
             for k in SHOWN_METRICS if k in values]
    where = f" (epoch {epoch})" if epoch is not None else ""
    return f"best validation{where}: " + (", ".join(shown) if shown else ", ".join(sorted(values)))


def _pruner(pruner: Optional[Dict[str, Any]]) -> Optional[str]:
    if not pruner:
        return None
    if pruner.get("trained_in_run"):
        return f"pruner: {pruner.get('type')} trained in the same run"
    parts = [f"pruner: from {pruner.get('source_archive')}"]
    if pruner.get("sha256"):
        parts.append(f"sha256 {pruner['sha256'][:16]}")
    if pruner.get("note"):
        parts.append(pruner["note"])
    return ", ".join(parts)


def _text(path: str, manifest: Dict[str, Any]) -> List[str]:
    kind = manifest.get("kind", "?")
    lines = [f"{path}: {kind} archive"]
    if manifest.get("note"):
        lines.append(f"  {manifest['note']}")
    if manifest.get("built_at"):
        lines.append(
            f"  built {manifest['built_at']} by ere_allennlp {manifest.get('package_version')} "
            f"(AllenNLP {manifest.get('allennlp_version')})"
        )
    if kind == "approach":
        if manifest.get("approach_config"):
            lines.append(f"  config: {manifest['approach_config']}")
        lines.append(f"  starts from gold entities: {'yes' if manifest.get('gold_entities') else 'no'}")
        for stage in manifest.get("stages", []):
            lines.append(f"  stage {stage.get('index')}: {stage.get('module') or '?'}"
                         + (f"  (stored in {stage['directory']})" if stage.get("directory") else ""))
            lines.extend("    " + line for line in _module_lines(stage))
            if stage.get("overrides"):
                lines.append(f"    loaded with overrides: {json.dumps(stage['overrides'], sort_keys=True)}"
                             " (its validation metrics above are without them)")
        for encoder in manifest.get("encoders", []):
            if encoder.get("directory"):
                lines.append(f"  reader's encoder files: {encoder['directory']} (from {encoder.get('name')})")
    else:
        lines.append(f"  module: {manifest.get('module')}")
        lines.extend("  " + line for line in _module_lines(manifest))
    return lines


def _module_lines(entry: Dict[str, Any]) -> List[str]:
    lines = []
    if entry.get("source_archive"):
        digest = f", sha256 {entry['sha256']}" if entry.get("sha256") else ""
        lines.append(f"built from {entry['source_archive']}{digest}")
    if "encoder" in entry:
        stored = [e["directory"] for e in entry.get("encoders", []) if e.get("directory")]
        lines.append(f"encoder: {entry.get('encoder')}" + (f" (config and tokenizer stored in {', '.join(stored)})" if stored else ""))
    if "train_data_path" in entry:
        lines.append(f"data: train {entry.get('train_data_path')}, validation {entry.get('validation_data_path')}")
        lines.append(_metrics(entry.get("best_validation_metrics"), entry.get("best_epoch")))
    pruner = _pruner(entry.get("pruner"))
    if pruner:
        lines.append(pruner)
    return lines
