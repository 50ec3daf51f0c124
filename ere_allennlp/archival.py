"""Portable archives: everything a trained module or approach needs travels inside its
``model.tar.gz`` (AllenNLP's layout, plus a few members of this package).

An approach archive (``allennlp ere-approach``) holds, besides AllenNLP's ``config.json``,
``weights.th``, ``vocabulary/`` and ``meta.json``:

- ``stages/<k>_<module>/``: each stage as a complete module serialization directory
  (``config.json``, ``weights.th``, ``vocabulary/``, ``meta.json``, ``encoder/``), loaded with
  ``load_archive`` like any module archive. A pruner is part of its module's config and weights.
- ``encoder/`` folders: the transformer's ``config.json`` and tokenizer files, written by
  transformers' ``save_pretrained``. The weights are not among them: they are in the state dicts.
- ``ere_manifest.json``: what went in (see ``MANIFEST_NAME``; ``allennlp ere-info`` prints it).

Paths inside an archive are written ``archive://<relative path>`` in its configs and resolved
against the folder AllenNLP extracted the archive to, by the readers and by the models' ``_load``
(``ArchivePathsMixin``), AllenNLP's documented hook for models with special loading needs. An
encoder folder is copied once into a content-addressed cache (``ERE_CACHE_DIR``, default
``~/.cache/ere_allennlp``) so that the transformer and tokenizer caches of AllenNLP see one name
per encoder, however often an archive is loaded, and so that the files outlive the temporary
folder AllenNLP deletes after loading.
"""
import datetime
import gzip
import hashlib
import json
import logging
import os
import shutil
import tarfile
import tempfile
import zlib
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.models.archival import CONFIG_NAME, Archive, load_archive

logger = logging.getLogger(__name__)

ARCHIVE_SCHEME = "archive://"
MANIFEST_NAME = "ere_manifest.json"
MANIFEST_FORMAT = 1
ENCODER_DIR = "encoder"
STAGES_DIR = "stages"
# Errors of a truncated or corrupted tar.gz (tarfile, gzip, zlib).
_DAMAGED = (tarfile.TarError, EOFError, zlib.error, OSError)


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ere_allennlp")
    except PackageNotFoundError:  # pragma: no cover (a source tree without an install)
        return "unknown"


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_digest(folder: str) -> str:
    """sha256 over the relative names and contents of every file under `folder`, in sorted order."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, folder).encode() + b"\0")
            with open(path, "rb") as handle:
                digest.update(handle.read())
            digest.update(b"\0")
    return digest.hexdigest()


# ------------------------------------------------------------------ reading archives


def damaged_archive(path: str, error: BaseException) -> ConfigurationError:
    return ConfigurationError(
        f"{path}: cannot read the model archive, it is truncated or corrupted ({type(error).__name__}: {error}); "
        f"copy it again or rebuild it"
    )


def load(path: str, cuda_device: int = -1, overrides: Union[str, Dict[str, Any]] = "") -> Archive:
    """``load_archive`` with errors that name the file: a missing file, a truncated or corrupted
    tar.gz. Everything else is AllenNLP's."""
    if not os.path.exists(path):
        raise ConfigurationError(f"model archive not found: {path}")
    try:
        return load_archive(path, cuda_device=cuda_device, overrides=overrides)
    except Exception as error:
        # A cut-off archive can fail anywhere: in tarfile, or later, at a member it lacks or a
        # weights file cut short (torch).
        if os.path.isfile(path) and not complete(path):
            raise damaged_archive(path, error) from None
        raise


def complete(path: str) -> bool:
    """Whether the gzip stream of `path` is whole (tarfile stops early, silently, at a cut-off one)."""
    try:
        with gzip.open(path, "rb") as handle:
            while handle.read(1 << 24):
                pass
        return True
    except _DAMAGED:
        return False


def read_member(path: str, name: str) -> Optional[bytes]:
    """The bytes of member `name` of the archive `path` (a tar.gz or a serialization folder),
    None when it has none. A damaged archive raises ``damaged_archive``."""
    if os.path.isdir(path):
        target = os.path.join(path, name)
        if not os.path.isfile(target):
            return None
        with open(target, "rb") as handle:
            return handle.read()
    if not os.path.isfile(path):
        raise ConfigurationError(f"model archive not found: {path}")
    try:
        with tarfile.open(path, "r:gz") as archive:
            for member in archive:
                if member.name == name and member.isfile():
                    handle = archive.extractfile(member)
                    return handle.read() if handle is not None else None
    except _DAMAGED as error:
        raise damaged_archive(path, error) from None
    if not complete(path):
        raise damaged_archive(path, EOFError("the archive ends early"))
    return None


def read_json_member(path: str, name: str) -> Optional[Dict[str, Any]]:
    data = read_member(path, name)
    if data is None:
        return None
    try:
        return json.loads(data.decode("utf-8"))
    except ValueError as error:
        raise ConfigurationError(f"{path}: member {name} is not valid JSON ({error})") from None


def read_manifest(path: str) -> Optional[Dict[str, Any]]:
    """The archive's ``ere_manifest.json``, None for archives written without one."""
    return read_json_member(path, MANIFEST_NAME)


def archive_manifest(path: str) -> Dict[str, Any]:
    """What ``allennlp ere-info --json`` prints for the archive `path`: its manifest, or for an
    archive without one what its config says. A truncated or corrupted archive is an error even
    where its manifest is still readable."""
    if os.path.isfile(path) and not complete(path):
        raise damaged_archive(path, EOFError("the archive ends early or is damaged"))
    manifest = read_manifest(path)
    return manifest if manifest is not None else _manifest_from_config(path)


def _manifest_from_config(path: str) -> Dict[str, Any]:
    config = read_json_member(path, CONFIG_NAME)
    if config is None or "model" not in config:
        raise ConfigurationError(f"{path}: not a model archive (no config.json with a model)")
    model = config["model"]
    names = encoder_names(model) or encoder_names(config.get("dataset_reader", {}))
    if model.get("type") == "ere_approach":
        return {
            "kind": "approach",
            "manifest": None,
            "note": (
                "no manifest: built before approach archives held their stages; it loads only where these stage "
                "archives are. Rebuild it with `allennlp ere-approach <approach config> -s <folder>`."
            ),
            "gold_entities": model.get("gold_entities", False),
            "stages": [{"index": k + 1, "module": None, "source_archive": s} for k, s in enumerate(model.get("stages", []))],
            "encoders": [{"directory": None, "name": n} for n in names],
        }
    pruner = model.get("pruner")
    return {
        "kind": "module",
        "manifest": None,
        "note": "no manifest: trained without the portable_archive callback (see README)",
        "module": model.get("type"),
        "encoder": names[0] if names else None,
        "train_data_path": config.get("train_data_path"),
        "validation_data_path": config.get("validation_data_path"),
        "best_validation_metrics": None,
        "pruner": pruner if pruner is None or pruner.get("type") != "from_archive" else {
            "source_archive": pruner.get("archive_file"), "note": "loaded from this path at every load"
        },
    }


def extract_members(path: str, target: str, names: List[str], optional: Sequence[str] = ()) -> None:
    """Extracts the members `names` and `optional` (files, or folders with what is under them)
    of the tar.gz `path` into `target`; raises if one of `names` is missing."""
    found = set()
    wanted = set(names) | set(optional)
    try:
        with tarfile.open(path, "r:gz") as archive:
            for member in archive:
                top = member.name.split("/", 1)[0]
                if top in wanted and (member.isfile() or member.isdir()):
                    archive.extract(member, target, filter="data")
                    found.add(top)
    except _DAMAGED as error:
        raise damaged_archive(path, error) from None
    missing = [n for n in names if n not in found]
    if missing and not complete(path):
        raise damaged_archive(path, EOFError("the archive ends early"))
    if missing:
        raise ConfigurationError(f"{path}: not a model archive, it has no {', '.join(missing)}")


# ------------------------------------------------------------------ archive:// paths


def is_archive_path(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(ARCHIVE_SCHEME)


def archive_path(relative: str) -> str:
    return ARCHIVE_SCHEME + relative


def cache_dir() -> str:
    return os.environ.get("ERE_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "ere_allennlp")


def materialise_encoder(folder: str) -> str:
    """Copies the encoder files in `folder` (inside an extracted archive) to the content-addressed
    cache and returns the cached folder: the same files always get the same path. Processes that
    load archives at once (``ere-study --ray``, corpus prediction workers) take turns under a lock
    per digest, so none removes a copy another one uses."""
    from filelock import FileLock

    if not os.path.isfile(os.path.join(folder, "config.json")):
        raise ConfigurationError(f"{folder}: an encoder folder needs config.json; the archive is incomplete")
    digest = folder_digest(folder)
    target = os.path.join(cache_dir(), "encoders", digest)
    if os.path.isdir(target) and folder_digest(target) == digest:
        return target
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with FileLock(target + ".lock"):
        if os.path.isdir(target) and folder_digest(target) == digest:  # another process made it meanwhile
            return target
        staging = tempfile.mkdtemp(prefix=".tmp-", dir=os.path.dirname(target))
        try:
            shutil.copytree(folder, os.path.join(staging, "files"))
            if os.path.isdir(target):  # damaged earlier copy
                shutil.rmtree(target, ignore_errors=True)
            os.replace(os.path.join(staging, "files"), target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def resolve(value: str, serialization_dir: Optional[str], what: str) -> str:
    """``archive://x`` -> the path of ``x`` in the extracted archive `serialization_dir`."""
    if serialization_dir is None:
        raise ConfigurationError(
            f"{what} {value!r} names a file inside a model archive; load the archive with load_archive "
            f"(allennlp predict / evaluate, Extractor.from_archive) instead of building this config directly"
        )
    path = os.path.join(str(serialization_dir), value[len(ARCHIVE_SCHEME):])
    if not os.path.exists(path):
        raise ConfigurationError(f"{what} {value!r}: the archive at {serialization_dir} has no {path}")
    return path


def resolve_encoder(model_name: str, serialization_dir: Optional[str], what: str = "model_name") -> str:
    """A reader's or embedder's `model_name`: unchanged unless it is an ``archive://`` folder."""
    if not is_archive_path(model_name):
        return model_name
    return materialise_encoder(resolve(model_name, serialization_dir, what))


def resolve_config(config: Any, serialization_dir: Optional[str]) -> Any:
    """A copy of the config structure `config` with every ``archive://`` string resolved. A
    transformer embedder whose encoder comes from the archive is built without loading weights
    (``load_weights: false``): they are in the archive's state dict."""
    if isinstance(config, dict):
        out = {}
        for key, value in config.items():
            if key == "model_name" and is_archive_path(value):
                out[key] = resolve_encoder(value, serialization_dir)
            else:
                out[key] = resolve_config(value, serialization_dir)
        if is_archive_path(config.get("model_name")) and str(config.get("type", "")).startswith("pretrained_transformer"):
            out["load_weights"] = False
        return out
    if isinstance(config, list):
        return [resolve_config(v, serialization_dir) for v in config]
    if is_archive_path(config):
        return resolve(config, serialization_dir, "path")
    return config


class ArchivePathsMixin:
    """Gives a Model's ``_load`` (AllenNLP's hook for models with special loading needs) the
    ``archive://`` resolution of its config. Put it before ``Model`` in the bases."""

    @classmethod
    def _load(cls, config: Params, serialization_dir, weights_file=None, cuda_device: int = -1):  # type: ignore
        resolved = Params(resolve_config(config.as_dict(quiet=True), str(serialization_dir)))
        return super()._load(resolved, serialization_dir, weights_file, cuda_device)  # type: ignore


# ------------------------------------------------------------------ writing archives


def _walk_dicts(config: Any) -> Iterator[Dict[str, Any]]:
    if isinstance(config, dict):
        yield config
        for value in config.values():
            yield from _walk_dicts(value)
    elif isinstance(config, list):
        for value in config:
            yield from _walk_dicts(value)


def inline_archived_models(config: Any, where: str) -> Tuple[Any, List[Dict[str, Any]]]:
    """Replaces every ``{"type": "from_archive", "archive_file": P}`` in `config` by the model
    config stored in P (recursively): the model's weights are already in the state dict of the
    model that holds it, so only its config is needed. Returns the new config and, per inlined
    archive, ``{"key", "source_archive", "sha256", "type", "encoder"}``."""
    inlined: List[Dict[str, Any]] = []

    def visit(value: Any, key: str) -> Any:
        if isinstance(value, dict):
            if value.get("type") == "from_archive":
                path = value.get("archive_file")
                if not isinstance(path, str):
                    raise ConfigurationError(f"{where}: {key}: from_archive without an archive_file")
                if not os.path.exists(path):
                    raise ConfigurationError(
                        f"{where}: {key} is loaded from {path}, which is not there; it is needed once, to copy its "
                        f"config into the archive"
                    )
                stored = read_json_member(path, CONFIG_NAME)
                if stored is None or "model" not in stored:
                    raise ConfigurationError(f"{path}: not a model archive (no config.json with a model)")
                model, nested = inline_archived_models(stored["model"], path)
                names = encoder_names(model)
                inlined.append({
                    "key": key,
                    "source_archive": os.path.abspath(path),
                    "sha256": sha256_of(path) if os.path.isfile(path) else None,
                    "type": model.get("type"),
                    "encoder": names[0] if names else None,
                })
                inlined.extend(nested)
                return model
            return {k: visit(v, f"{key}.{k}" if key else k) for k, v in value.items()}
        if isinstance(value, list):
            return [visit(v, f"{key}[{n}]") for n, v in enumerate(value)]
        return value

    return visit(config, ""), inlined


def encoder_names(config: Any) -> List[str]:
    """The distinct ``model_name`` values in `config` (readers, embedders), in order of appearance."""
    names: List[str] = []
    for node in _walk_dicts(config):
        name = node.get("model_name")
        if isinstance(name, str) and name not in names:
            names.append(name)
    return names


def export_encoders(config: Any, folder: str, relative_to: str) -> Tuple[Any, List[Dict[str, str]]]:
    """Saves the config and tokenizer of every encoder `config` names (not its weights) under
    `folder` (``encoder``, ``encoder_1``, ...) and rewrites those names as ``archive://`` paths
    relative to `relative_to`. Returns the new config and ``{"directory", "name", "sha256"}`` per
    encoder."""
    from transformers import AutoConfig, AutoTokenizer

    mapping: Dict[str, str] = {}
    exported: List[Dict[str, str]] = []
    for n, name in enumerate(n for n in encoder_names(config) if not is_archive_path(n)):
        target = os.path.join(folder, ENCODER_DIR if n == 0 else f"{ENCODER_DIR}_{n}")
        try:
            AutoConfig.from_pretrained(name).save_pretrained(target)
            AutoTokenizer.from_pretrained(name).save_pretrained(target)
        except OSError as error:
            raise ConfigurationError(f"cannot read the encoder {name!r} to store it in the archive: {error}") from None
        relative = os.path.relpath(target, relative_to)
        mapping[name] = archive_path(relative)
        exported.append({"directory": relative, "name": name, "sha256": folder_digest(target)})

    def rename(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (mapping.get(v, v) if k == "model_name" and isinstance(v, str) else rename(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [rename(v) for v in value]
        return value

    return rename(config), exported


def best_validation(metrics: Dict[str, Any]) -> Dict[str, Any]:
    """The ``best_validation_*`` entries of AllenNLP's training metrics, without the prefix."""
    return {k[len("best_validation_"):]: v for k, v in metrics.items() if k.startswith("best_validation_")}


def manifest_header(kind: str) -> Dict[str, Any]:
    import allennlp.version

    return {
        "format": MANIFEST_FORMAT,
        "kind": kind,
        "package": "ere_allennlp",
        "package_version": package_version(),
        "allennlp_version": allennlp.version.VERSION,
        "built_at": now(),
    }
