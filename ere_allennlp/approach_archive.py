"""Approaches built from their config and written as one portable archive (``allennlp
ere-approach``): `load_approach` chains the trained module archives an approach config names into
an in-memory `Approach` (what ``ere-study`` evaluates), `build_approach` writes it with every stage
packed inside (`pack_stage`; the archive's layout: `ere_allennlp.archival`).

Above the models (it builds an `Approach`), below the commands and the study; `archival` stays
below the models, whose loading it serves.
"""
import json
import logging
import os
import shutil
import tempfile
from typing import Any, Dict, List, Optional, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.common.meta import META_NAME, Meta
from allennlp.common.util import prepare_environment
from allennlp.data import Vocabulary
from allennlp.models import Model
from allennlp.models.archival import CONFIG_NAME, archive_model

from ere_allennlp import archival, configs
from ere_allennlp.atomic import atomic_json
from ere_allennlp.models import compat
from ere_allennlp.models.approach import Approach

logger = logging.getLogger(__name__)

# What a stage folder copies from its module archive (AllenNLP's layout).
STAGE_MEMBERS = [CONFIG_NAME, "weights.th", "vocabulary"]
OPTIONAL_STAGE_MEMBERS = [META_NAME, archival.MANIFEST_NAME]


def _module_metrics(source: str, manifest: Dict[str, Any]) -> Dict[str, Any]:
    """Best validation metrics of a module: from its manifest, else from the ``metrics.json``
    ``allennlp train`` writes beside ``model.tar.gz``; None when neither is there."""
    if manifest.get("best_validation_metrics") is not None:
        return {"best_epoch": manifest.get("best_epoch"), "best_validation_metrics": manifest["best_validation_metrics"]}
    metrics_path = os.path.join(os.path.dirname(os.path.abspath(source)), "metrics.json")
    if os.path.isfile(source) and os.path.isfile(metrics_path):
        with open(metrics_path, encoding="utf-8") as handle:
            metrics = json.load(handle)
        return {"best_epoch": metrics.get("best_epoch"), "best_validation_metrics": archival.best_validation(metrics)}
    return {"best_epoch": None, "best_validation_metrics": None}


def pack_stage(source: str, folder: str, module: str) -> Dict[str, Any]:
    """Writes the module archive (or serialization folder) `source` into `folder` as a module
    serialization folder that needs nothing outside it, and returns its manifest entry."""
    os.makedirs(folder)
    if os.path.isdir(source):
        for name in STAGE_MEMBERS + OPTIONAL_STAGE_MEMBERS:
            origin = os.path.join(source, name)
            if name == "weights.th" and not os.path.exists(origin):
                origin = os.path.join(source, "best.th")
            if os.path.isdir(origin):
                shutil.copytree(origin, os.path.join(folder, name))
            elif os.path.isfile(origin):
                shutil.copyfile(origin, os.path.join(folder, name))
            elif name in STAGE_MEMBERS:
                raise ConfigurationError(f"{source}: not a module serialization folder, it has no {name}")
    else:
        archival.extract_members(source, folder, STAGE_MEMBERS, optional=OPTIONAL_STAGE_MEMBERS)
    config_path = os.path.join(folder, CONFIG_NAME)
    with open(config_path, encoding="utf-8") as handle:
        config = json.load(handle)
    own = archival.read_manifest(folder) or {}
    encoders = archival.encoder_names(config.get("model", {}))
    model, inlined = archival.inline_archived_models(config.get("model", {}), source)
    config["model"] = model
    config, exported = archival.export_encoders(config, folder, folder)
    atomic_json(config_path, config)
    pruner = own.get("pruner") or (inlined[0] if inlined else None)
    if pruner is None and isinstance(model.get("pruner"), dict):
        pruner = {"type": model["pruner"].get("type"), "trained_in_run": bool(model.get("train_pruner"))}
    entry = {
        "module": module,
        "source_archive": os.path.abspath(source),
        "sha256": archival.sha256_of(source) if os.path.isfile(source) else None,
        "encoder": own.get("encoder") or (encoders[0] if encoders else None),
        "train_data_path": config.get("train_data_path"),
        "validation_data_path": config.get("validation_data_path"),
        "pruner": pruner,
        "encoders": exported,
    }
    entry.update(_module_metrics(source, own))
    return entry


def load_approach(
    param_path: str, overrides: str = "", cuda_device: Optional[int] = None, settings: Optional[Dict[str, Any]] = None
) -> Tuple[Approach, Dict[str, Any]]:
    """The approach of an approach config read with `settings` (None: the ``ERE_*``
    environment's; ``runs`` says where the stage archives are), in memory (its stages loaded
    from their archives, the chain checked), and the config as a dict; nothing is written.
    The stages are loaded on `cuda_device` if given, else on the ``cuda_device`` setting's device."""
    params = configs.params_from_file(param_path, settings, overrides)
    prepare_environment(params)
    config = params.duplicate().as_dict(quiet=True)
    model_params = params.pop("model")
    if cuda_device is not None:
        model_params["cuda_device"] = cuda_device
    model = Model.from_params(vocab=Vocabulary(), params=model_params)
    if not isinstance(model, Approach):
        raise ConfigurationError(f"{param_path}: model.type must be ere_approach, got {type(model).__name__}")
    return model, config


def _move_into(staging: str, serialization_dir: str) -> None:
    """Moves the built archive's files from `staging` into `serialization_dir`, and removes the
    files of the earlier, path-based layout, which would contradict the new archive."""
    os.makedirs(serialization_dir, exist_ok=True)
    for name in (CONFIG_NAME, META_NAME, archival.MANIFEST_NAME, "model.tar.gz"):
        os.replace(os.path.join(staging, name), os.path.join(serialization_dir, name))
    compat.remove_path_layout_files(serialization_dir)


def build_approach(
    param_path: str, serialization_dir: str, overrides: str = "", force: bool = False,
    settings: Optional[Dict[str, Any]] = None,
) -> str:
    """Writes ``serialization_dir/model.tar.gz``, the portable archive of the approach config
    `param_path` (read as `load_approach` reads it), and returns its path. Every stage is loaded
    and the chain checked before anything is written; a failure leaves the folder as it was."""
    target = os.path.join(serialization_dir, "model.tar.gz")
    if os.path.exists(target) and not force:
        raise FileExistsError(f"{target} exists; use --force to overwrite")
    # Building the approach loads every stage and checks the chain before anything is written.
    model, config = load_approach(param_path, overrides, settings=settings)
    vocab = model.vocab
    # Write into a temporary folder first so that a failure leaves nothing half-written.
    parent = os.path.dirname(os.path.abspath(serialization_dir)) or "."
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".ere-approach-", dir=parent)
    try:
        stages: List[Dict[str, Any]] = []
        for k, (source, name) in enumerate(zip(model.stage_paths, model.stage_names)):
            relative = f"{archival.STAGES_DIR}/{k}_{name}"
            entry = pack_stage(source, os.path.join(staging, relative), name)
            # The archive's config keeps model.stage_overrides: they apply each time it is loaded.
            stages.append(dict(entry, index=k + 1, directory=relative, overrides=model.stage_overrides[k]))
        config["model"]["stages"] = [archival.archive_path(s["directory"]) for s in stages]
        # The device the stages were loaded on here is no property of the archive: whoever loads it
        # says where (`Approach._load`).
        config["model"].pop("cuda_device", None)
        rest, encoders = archival.export_encoders({k: v for k, v in config.items() if k != "model"}, staging, staging)
        config.update(rest)
        with open(os.path.join(staging, CONFIG_NAME), "w", encoding="utf-8") as config_file:
            json.dump(config, config_file, indent=2)
        vocab.save_to_files(os.path.join(staging, "vocabulary"))
        Meta.new().to_file(os.path.join(staging, META_NAME))
        own_state = {k: v for k, v in model.state_dict().items() if not k.startswith("_stages.")}
        torch.save(own_state, os.path.join(staging, "weights.th"))
        manifest = archival.manifest_header("approach")
        manifest.update({
            "approach_config": str(configs.find(param_path).resolve()),
            "gold_entities": model.gold_entities,
            "stages": stages,
            "encoders": encoders,
        })
        atomic_json(os.path.join(staging, archival.MANIFEST_NAME), manifest)
        archive_model(
            staging,
            weights="weights.th",
            include_in_archive=[archival.MANIFEST_NAME, archival.STAGES_DIR, archival.ENCODER_DIR + "*"],
        )
        _move_into(staging, serialization_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("approach archive written to %s", target)
    return target
