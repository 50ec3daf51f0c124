"""`allennlp ere-analyze`: why relations are lost, approaches side by side."""
import argparse
import logging
import sys
from pathlib import Path

from allennlp.commands.subcommand import Subcommand
from overrides import overrides

from ere_allennlp.alignment import AlignmentError
from ere_allennlp.analysis.report import analyze

logger = logging.getLogger(__name__)


@Subcommand.register("ere-analyze")
class Analyze(Subcommand):
    """Breaks ``allennlp predict`` outputs of the same gold DyGIE file down by error kind
    (``ere_allennlp/analysis/breakdown.py`` defines every kind): entity outcomes, the first cause
    of every gold relation lost, spurious relations, the error-propagation share, per-label and
    per-bucket (sentence length, argument distance) P/R/F1 and confusion matrices. Writes
    ``analysis.md``, ``analysis.json``, a CSV per table, PNG plots and ``report.html`` (every
    sentence with gold and predicted entities and relations, errors marked, filters) to
    ``--output-dir``; prints the Markdown."""

    @overrides
    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        description = "Why relations are lost: an error breakdown of prediction files against their gold file."
        sub = parser.add_parser(self.name, description=description, help=description)
        sub.add_argument("files", nargs="+", metavar="FILE", help="PRED [PRED ...] GOLD: prediction files, then the gold file")
        sub.add_argument("--output-dir", required=True, help="where the tables and plots go")
        sub.add_argument("--names", nargs="+", default=None, help="a name per prediction file (default: file names)")
        sub.add_argument("--symmetric-relations", nargs="*", default=[], help="relation labels scored without direction")
        sub.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
        sub.add_argument("--no-html", action="store_true", help="skip report.html")
        sub.set_defaults(func=analyze_from_args)
        return sub


def analyze_from_args(args: argparse.Namespace) -> None:
    if len(args.files) < 2:
        sys.exit("allennlp ere-analyze: error: give at least one prediction file and the gold file")
    *predictions, gold = args.files
    try:
        analyze(predictions, gold, args.output_dir, args.names, args.symmetric_relations, plots=not args.no_plots,
                html=not args.no_html)
    except (AlignmentError, ValueError) as error:
        print(f"allennlp ere-analyze: error: {error}", file=sys.stderr)
        sys.exit(1)
    print((Path(args.output_dir) / "analysis.md").read_text(encoding="utf-8"))
