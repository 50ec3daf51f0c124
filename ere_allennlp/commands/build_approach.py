"""`allennlp ere-approach`: compose trained module archives into one portable approach archive."""
import argparse

from allennlp.commands.subcommand import Subcommand
from overrides import overrides

from ere_allennlp.approach_archive import build_approach
from ere_allennlp.commands.train import add_setting_arguments, settings_from_args


@Subcommand.register("ere-approach")
class BuildApproach(Subcommand):
    """Builds ``SERIALIZATION_DIR/model.tar.gz`` from an approach config (``model.type:
    ere_approach`` naming its stage archives), ready for ``allennlp evaluate`` and
    ``allennlp predict``. Nothing is trained: the stages were trained as modules. The config is
    read with the ``ERE_<NAME>`` variables and ``--setting NAME=VALUE`` (``runs``: where the
    module archives are; ``cuda_device``: where the stages are loaded to check the chain), as
    ``allennlp ere-train`` reads them. The archive
    holds every stage (config, vocabulary, weights, its pruner), the encoder's config and
    tokenizer files, and ``ere_manifest.json`` (``allennlp ere-info`` prints it): it loads with
    none of the module archives, the pruner archive or the encoder folder present, offline."""

    @overrides
    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        description = "Compose trained ere_allennlp module archives into one portable approach archive."
        subparser = parser.add_parser(self.name, description=description, help=description)
        subparser.add_argument("param_path", type=str, help="approach config (jsonnet)")
        subparser.add_argument("-s", "--serialization-dir", required=True, type=str, help="output folder")
        add_setting_arguments(subparser)
        subparser.add_argument(
            "-o", "--overrides", type=str, default="", help="a JSON(NET) structure to override the config"
        )
        subparser.add_argument("-f", "--force", action="store_true", help="overwrite the output folder")
        subparser.set_defaults(func=build_approach_from_args)
        return subparser


def build_approach_from_args(args: argparse.Namespace) -> str:
    target = build_approach(args.param_path, args.serialization_dir, args.overrides, args.force, settings_from_args(args))
    print(target)
    return target
