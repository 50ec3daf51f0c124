"""`allennlp ere-train`: ``allennlp train`` on a config that takes ere_allennlp settings."""
import argparse
import logging
import sys
from typing import Any, Dict, List

from allennlp.commands.subcommand import Subcommand
from allennlp.common.checks import ConfigurationError
from overrides import overrides

from ere_allennlp import configs

logger = logging.getLogger(__name__)


def add_setting_arguments(parser: argparse.ArgumentParser) -> None:
    """``--setting NAME=VALUE`` (repeatable), shared by the commands that read configs."""
    parser.add_argument(
        "--setting", dest="settings", action="append", default=[], metavar="NAME=VALUE",
        help="a setting of training_configs/lib/settings.libsonnet, e.g. --setting epochs=3 "
        "(repeatable; wins over its ERE_<NAME> environment variable)",
    )


def settings_from_args(args: argparse.Namespace) -> Dict[str, Any]:
    """``ERE_<NAME>`` environment variables, then ``--setting NAME=VALUE`` over them."""
    settings = configs.from_environment()
    settings.update(configs.from_assignments(args.settings))
    return settings


@Subcommand.register("ere-train")
class Train(Subcommand):
    """``allennlp train`` with settings: trains ``param_path`` read with the ``ERE_<NAME>``
    environment variables and ``--setting NAME=VALUE`` (``training_configs/lib/settings.libsonnet``
    lists the settings and their defaults), then AllenNLP's ``--overrides``. Everything else is
    AllenNLP's ``train`` (``--recover``, ``--force``, ``--dry-run``, the serialization folder).

        ERE_EPOCHS=3 ERE_RECIPE=cpu allennlp ere-train training_configs/scierc_nerre.jsonnet -s runs/x
    """

    @overrides
    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        description = "Train a model like `allennlp train`, reading ERE_* settings into the config."
        sub = parser.add_parser(self.name, description=description, help=description)
        sub.add_argument("param_path", type=str, help="training config (jsonnet), e.g. training_configs/scierc_ner.jsonnet")
        sub.add_argument("-s", "--serialization-dir", required=True, type=str, help="output folder")
        add_setting_arguments(sub)
        sub.add_argument("-o", "--overrides", type=str, default="",
                         help="a JSON(NET) structure to override the config, applied after the settings")
        sub.add_argument("-r", "--recover", action="store_true", help="continue a stopped training in the folder")
        sub.add_argument("-f", "--force", action="store_true", help="overwrite the output folder")
        sub.add_argument("--dry-run", action="store_true", help="build the vocabulary and the model, do not train")
        sub.add_argument("--file-friendly-logging", action="store_true", help="no tqdm bars in the log")
        sub.set_defaults(func=train_from_args)
        return sub


def train_from_args(args: argparse.Namespace) -> None:
    """Trains; a configuration problem (a missing data file or encoder, an unknown setting) ends
    the command with one line saying what is missing and how to point to it, not a traceback."""
    include_package: List[str] = list(getattr(args, "include_package", None) or [])
    if "ere_allennlp" not in include_package:
        include_package.append("ere_allennlp")
    try:
        configs.train_model_from_file(
            args.param_path,
            args.serialization_dir,
            overrides=args.overrides,
            settings=settings_from_args(args),
            recover=args.recover,
            force=args.force,
            dry_run=args.dry_run,
            file_friendly_logging=args.file_friendly_logging,
            include_package=include_package,
        )
    except ConfigurationError as error:
        logger.debug("ere-train stopped", exc_info=True)
        print(f"allennlp ere-train: error: {error}", file=sys.stderr)
        sys.exit(1)
