"""`allennlp ere-predict-corpus`: a trained module or approach over a whole corpus, on Ray Data."""
import argparse
import json
import logging
import sys

from allennlp.commands.subcommand import Subcommand
from overrides import overrides

logger = logging.getLogger(__name__)


@Subcommand.register("ere-predict-corpus")
class PredictCorpus(Subcommand):
    """Predicts every line of the input files (DyGIE documents or raw-text ``{"text": ...}``
    JSON lines; files or globs) with ARCHIVE in a pool of Ray actors that each load it once, and
    writes sharded JSON lines (the fields of ``allennlp predict``, plus ``input_file`` and
    ``input_line``) and a manifest to OUTPUT_DIR. A rerun of the same command after a stop
    predicts only the unfinished shards; bad lines become error records and never stop the job.
    Layout and guarantees: ``ere_allennlp/corpus/plan.py`` and ``ere_allennlp/corpus/job.py``."""

    @overrides
    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        description = "Predict a whole corpus with a trained archive on Ray Data (sharded, resumable)."
        sub = parser.add_parser(self.name, description=description, help=description)
        sub.add_argument("archive", help="a module or approach archive (model.tar.gz)")
        sub.add_argument("inputs", nargs="+", help="JSON-lines files or globs (quote globs: 'abstracts/*.jsonl')")
        sub.add_argument("--output-dir", "-o", required=True, help="where shards/, manifest.json (and merged files) go")
        sub.add_argument("--num-workers", type=int, default=1, help="actors, each holding the model once (default 1)")
        sub.add_argument("--batch-size", type=int, default=8, help="documents per prediction call (default 8)")
        sub.add_argument("--shard-size", type=int, default=1000, help="input lines per shard: the unit a rerun "
                         "skips or redoes (default 1000)")
        sub.add_argument("--gpus-per-worker", type=float, default=0,
                         help="GPUs each actor reserves, at most 1 (default 0: the CPU); > 0 runs it on Ray's GPU")
        sub.add_argument("--cpus-per-worker", type=float, default=1, help="CPUs each actor reserves (default 1)")
        sub.add_argument("--address", default=None, help="a running Ray cluster (e.g. auto, ray://host:10001, "
                         "host:6379); default: a local Ray. One that cannot be reached fails within about a minute")
        sub.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray (default: all)")
        sub.add_argument("--merge", action="store_true", help="also write predictions.jsonl and errors.jsonl in input order")
        sub.add_argument("--no-progress", action="store_true", help="no progress bar")
        sub.set_defaults(func=predict_corpus_from_args)
        return sub


def predict_corpus_from_args(args: argparse.Namespace) -> None:
    from ere_allennlp.corpus.job import CorpusOptions, predict_corpus
    from ere_allennlp.corpus.plan import CorpusError
    from ere_allennlp.ray_support import RayError

    options = CorpusOptions(num_workers=args.num_workers, batch_size=args.batch_size,
                            gpus_per_worker=args.gpus_per_worker, cpus_per_worker=args.cpus_per_worker,
                            address=args.address, num_cpus=args.num_cpus, progress=not args.no_progress)
    try:
        result = predict_corpus(args.archive, args.inputs, args.output_dir, args.shard_size, options, merge=args.merge)
    except (CorpusError, RayError, ValueError) as error:  # RayError: Ray missing, or --address unreachable
        print(f"ere-predict-corpus: {error}", file=sys.stderr)
        sys.exit(2)
    summary = {k: v for k, v in vars(result).items() if k != "workers"}
    print(json.dumps(summary))
    print(f"{result.documents} documents ({result.errors} errors) in {result.seconds:.1f} s written to {args.output_dir}",
          file=sys.stderr)
