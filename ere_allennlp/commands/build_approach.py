"""`allennlp ere-approach`: compose trained module archives into an approach archive."""
import argparse
import json
import logging
import os
import shutil
import tempfile

import torch

from allennlp.commands.subcommand import Subcommand
from allennlp.common import Params
from allennlp.common.meta import META_NAME, Meta
from allennlp.common.util import prepare_environment
from allennlp.data import Vocabulary
from allennlp.models import Model
from allennlp.models.archival import CONFIG_NAME, archive_model
from overrides import overrides

logger = logging.getLogger(__name__)


@Subcommand.register("ere-approach")
class BuildApproach(Subcommand):
    """Builds ``SERIALIZATION_DIR/model.tar.gz`` from an approach config (``model.type:
    ere_approach`` naming its stage archives), ready for ``allennlp evaluate`` and
    ``allennlp predict``. Nothing is trained: the stages were trained as modules. The approach
    archive refers to the stage archives by path; it does not copy their weights."""

    @overrides
    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        description = "Compose trained ere_allennlp module archives into an approach archive."
        subparser = parser.add_parser(self.name, description=description, help=description)
        subparser.add_argument("param_path", type=str, help="approach config (jsonnet)")
        subparser.add_argument("-s", "--serialization-dir", required=True, type=str, help="output folder")
        subparser.add_argument(
            "-o", "--overrides", type=str, default="", help="a JSON(NET) structure to override the config"
        )
        subparser.add_argument("-f", "--force", action="store_true", help="overwrite the output folder")
        subparser.set_defaults(func=build_approach_from_args)
        return subparser


def build_approach_from_args(args: argparse.Namespace) -> str:
    return build_approach(args.param_path, args.serialization_dir, args.overrides, args.force)


def build_approach(param_path: str, serialization_dir: str, overrides: str = "", force: bool = False) -> str:
    params = Params.from_file(param_path, overrides)
    if os.path.exists(os.path.join(serialization_dir, "model.tar.gz")) and not force:
        raise FileExistsError(f"{serialization_dir}/model.tar.gz exists; use --force to overwrite")
    prepare_environment(params)
    config = params.duplicate().as_dict(quiet=True)
    vocab = Vocabulary()
    model = Model.from_params(vocab=vocab, params=params.pop("model"))
    # Write into a temporary folder first so that a failure leaves nothing half-written.
    parent = os.path.dirname(os.path.abspath(serialization_dir)) or "."
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".ere-approach-", dir=parent)
    try:
        with open(os.path.join(staging, CONFIG_NAME), "w") as config_file:
            json.dump(config, config_file, indent=2)
        vocab.save_to_files(os.path.join(staging, "vocabulary"))
        Meta.new().to_file(os.path.join(staging, META_NAME))
        own_state = {k: v for k, v in model.state_dict().items() if not k.startswith("_stages.")}
        torch.save(own_state, os.path.join(staging, "weights.th"))
        archive_model(staging, weights="weights.th")
        os.makedirs(serialization_dir, exist_ok=True)
        for name in (CONFIG_NAME, META_NAME, "weights.th", "model.tar.gz"):
            shutil.move(os.path.join(staging, name), os.path.join(serialization_dir, name))
        target_vocab = os.path.join(serialization_dir, "vocabulary")
        if os.path.exists(target_vocab):
            shutil.rmtree(target_vocab)
        shutil.move(os.path.join(staging, "vocabulary"), target_vocab)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    archive = os.path.join(serialization_dir, "model.tar.gz")
    logger.info("approach archive written to %s", archive)
    print(archive)
    return archive
