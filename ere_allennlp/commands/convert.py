"""`allennlp ere-convert`: brat standoff, SpERT JSON and DyGIE JSON lines into each other."""
import argparse
import sys

from allennlp.commands.subcommand import Subcommand
from overrides import overrides

from ere_allennlp.atomic import atomic_json
from ere_allennlp.convert.dygie_to_brat import ANNOTATIONS
from ere_allennlp.convert.report import ConvertError
from ere_allennlp.convert.run import SOURCES, TARGETS, convert


@Subcommand.register("ere-convert")
class Convert(Subcommand):
    """Converts annotated data into the DyGIE JSON lines the package reads, and DyGIE files (gold,
    or ``allennlp predict`` output) into brat standoff to look at in brat:

        allennlp ere-convert --from brat --to dygie my_brat_folder/ -o data/train.json
        allennlp ere-convert --from spert --to dygie conll04/train.json -o conll04_dygie/train.json
        allennlp ere-convert --from dygie --to brat predictions.json -o brat_view/ --text-dir my_brat_folder/

    Prints what it read and wrote and every item not carried over, with file, line and reason
    (``--report-json`` writes the same as JSON). The output is written atomically: a run that stops
    leaves no half-written file or folder. Exit status 1 on an input that cannot be converted (one
    line naming file, record or line, and field)."""

    @overrides
    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        description = "Convert between brat standoff, SpERT JSON and DyGIE JSON lines."
        subparser = parser.add_parser(self.name, description=description, help=description)
        subparser.add_argument("inputs", nargs="+", help="files or folders to read (brat: folders or .txt/.ann files)")
        subparser.add_argument("--from", dest="source", required=True, choices=SOURCES, help="the input format")
        subparser.add_argument("--to", dest="target", required=True, choices=TARGETS, help="the output format")
        subparser.add_argument("-o", "--output", required=True,
                               help="the output: a JSON-lines file (dygie) or a folder (brat)")
        subparser.add_argument("--text-dir", default=None,
                               help="brat output: the folder of the original <doc_key>.txt files, so that the "
                                    "annotations keep their character offsets")
        subparser.add_argument("--annotations", default="auto", choices=ANNOTATIONS,
                               help="brat output: gold, predicted (with probabilities as notes), or auto (predicted "
                                    "where the file has predictions)")
        subparser.add_argument("--report-json", default=None, help="also write the report as JSON to this file")
        subparser.add_argument("-f", "--force", action="store_true", help="replace an existing output")
        subparser.set_defaults(func=convert_from_args)
        return subparser


def convert_from_args(args: argparse.Namespace) -> None:
    try:
        report = convert(args.source, args.target, args.inputs, args.output, text_dir=args.text_dir,
                         annotations=args.annotations, force=args.force)
    except ConvertError as error:
        print(f"allennlp ere-convert: error: {error}", file=sys.stderr)
        sys.exit(1)
    sys.stdout.write(report.format())
    if args.report_json:
        atomic_json(args.report_json, report.as_dict())
