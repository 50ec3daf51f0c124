"""``portable_archive``: a trainer callback that makes a module's ``model.tar.gz`` stand on its own.

At the end of a successful training (before ``allennlp train`` writes the archive) it

- replaces every ``{"type": "from_archive", "archive_file": ...}`` in the saved ``config.json``
  (the frozen pruner of NerRi / NerRe given by the setting ``pruner``) by the model config stored in that
  archive. The pruner's weights are already in the module's state dict, so the archive then loads
  without the pruner archive. The config as trained is kept as ``config.trained.json`` beside it
  (not archived);
- writes ``ere_manifest.json``: module type, encoder, training and validation data, the settings
  the config was read with, best validation metrics and epoch, the inlined pruner's source archive
  and sha256, the package version and the time. ``allennlp ere-info`` prints it; ``allennlp ere-approach`` copies it into
  the approach's manifest.

The shipped configs add it to the trainer's callbacks and ``ere_manifest.json`` to
``include_in_archive``; a config of your own needs both lines to get the same archive. Nothing
is rewritten when training fails (``metrics`` is None) or on workers other than the primary.

When training starts it warns about ``ERE_<NAME>`` environment variables the config was not read
with: ``allennlp train`` reads a shipped config as it is (the paper's settings); ``allennlp
ere-train`` reads the variables (docs/reference.md, "Configs and their settings").
"""
import logging
import os
import shutil
from typing import TYPE_CHECKING, Any, Dict, Optional

from allennlp.models.archival import CONFIG_NAME
from allennlp.training.callbacks.callback import TrainerCallback

from ere_allennlp import archival, configs
from ere_allennlp.atomic import atomic_json

if TYPE_CHECKING:
    from allennlp.training.gradient_descent_trainer import GradientDescentTrainer

logger = logging.getLogger(__name__)

TRAINED_CONFIG_NAME = "config.trained.json"


def module_manifest(
    config: Dict[str, Any], metrics: Dict[str, Any], pruner: Optional[Dict[str, Any]], settings: Dict[str, Any]
) -> Dict[str, Any]:
    model = config.get("model", {})
    names = archival.encoder_names(model)
    manifest = archival.manifest_header("module")
    manifest.update({
        "module": model.get("type"),
        "encoder": names[0] if names else None,
        "train_data_path": config.get("train_data_path"),
        "validation_data_path": config.get("validation_data_path"),
        "settings": settings,
        "best_epoch": metrics.get("best_epoch"),
        "best_validation_metrics": archival.best_validation(metrics),
        "pruner": pruner,
    })
    return manifest


@TrainerCallback.register("portable_archive")
class PortableArchiveCallback(TrainerCallback):
    """Inlines archived sub-models into ``config.json`` and writes ``ere_manifest.json`` when
    training ends well (see the module docstring).

    # Parameters

    serialization_dir : `str`
        Given by the trainer.
    settings : `Dict[str, Any]`, optional (default = `None`)
        The settings (``training_configs/lib/settings.libsonnet``) the config was read with, beyond
        its defaults; the shipped configs fill it in. Recorded in the manifest.
    """

    def __init__(self, serialization_dir: str, settings: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(serialization_dir)
        self.settings = dict(settings or {})

    def on_start(self, trainer: "GradientDescentTrainer", is_primary: bool = True, **kwargs) -> None:
        ignored = configs.environment_ignored(self.settings)
        if is_primary and ignored:
            logger.warning(
                "%s set, but this config was read without it: `allennlp train` reads a config as it is. "
                "Use `allennlp ere-train` (which reads ERE_* variables) or set `settings` in the config (docs/reference.md).",
                ", ".join(ignored),
            )

    def on_end(
        self,
        trainer: "GradientDescentTrainer",
        metrics: Optional[Dict[str, Any]] = None,
        epoch: Optional[int] = None,
        is_primary: bool = True,
        **kwargs,
    ) -> None:
        if not is_primary or metrics is None:
            return
        path = os.path.join(self.serialization_dir, CONFIG_NAME)
        config = archival.read_json_member(self.serialization_dir, CONFIG_NAME)
        if config is None:  # pragma: no cover (allennlp train always writes it)
            return
        model, inlined = archival.inline_archived_models(config.get("model", {}), path)
        if inlined:
            shutil.copyfile(path, os.path.join(self.serialization_dir, TRAINED_CONFIG_NAME))
            config["model"] = model
            atomic_json(path, config)
            logger.info("inlined %s into %s", ", ".join(i["source_archive"] for i in inlined), path)
        manifest = module_manifest(config, metrics, inlined[0] if inlined else None, self.settings)
        atomic_json(os.path.join(self.serialization_dir, archival.MANIFEST_NAME), manifest)
