"""The shipped training configs, their tables and their settings, read from one place.

The configs live in the package (``ere_allennlp/training_configs``; the repository's top-level
``training_configs`` points there), so an installed package finds them as a clone does. Each one
evaluates stand-alone with the paper's settings: no environment variable, no import of this package
(``Params.from_file`` works anywhere). The settings a config takes (encoder, data folder, epochs,
learning rates, ...) and their defaults are defined once, in ``lib/settings.libsonnet``; the module
table, the recipes and the approaches once, in ``lib/ere.libsonnet`` and ``lib/approach.libsonnet``.
This module reads those tables for the Python side (the study, the commands, the benchmarks).

Settings reach a config through its hidden field ``settings`` (jsonnet inheritance):
`params_from_file` evaluates ``(import CONFIG) + {settings+:: SETTINGS}``. The package's commands
(``allennlp ere-train``, ``ere-approach``, ``ere-study``) take them from ``ERE_<NAME>``
environment variables (`from_environment`; read, never written) and ``--setting NAME=VALUE``.
"""
import functools
import json
import logging
import os
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Union

from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.common.params import parse_overrides, with_overrides

logger = logging.getLogger(__name__)

CONFIG_DIR = Path(__file__).resolve().parent / "training_configs"
ENV_PREFIX = "ERE_"

PathLike = Union[str, Path]


def config_dir(folder: Optional[PathLike] = None) -> Path:
    """`folder` (a copy of ``training_configs``), or the package's configs."""
    return Path(folder).resolve() if folder else CONFIG_DIR


@functools.lru_cache(maxsize=None)
def _tables(folder: str) -> Dict[str, Any]:
    import _jsonnet

    library = os.path.join(folder, "lib")
    if not os.path.isfile(os.path.join(library, "ere.libsonnet")):
        raise ConfigurationError(f"no training configs in {folder}: {library}/ere.libsonnet is missing")
    snippet = (
        'local ere = import "ere.libsonnet"; local approach = import "approach.libsonnet";'
        "{ defaults: ere.defaults, datasets: ere.dataset_order, modules: ere.modules, module_order: ere.module_order,"
        "  recipes: std.objectFields(ere.recipes), approaches: approach.stages, approach_names: approach.display_names,"
        "  study_tables: approach.tables }"
    )
    return json.loads(_jsonnet.evaluate_snippet("ere_allennlp tables", snippet, jpathdir=[library]))


def tables(folder: Optional[PathLike] = None) -> Dict[str, Any]:
    """``defaults`` (settings), ``datasets`` (names, in the commands' order), ``modules`` (name ->
    what it reads and predicts), ``module_order`` (the study's training order), ``recipes`` (names),
    ``approaches`` (name -> its modules), ``approach_names`` (name -> how the tables name it) and
    ``study_tables`` (table -> the approaches or modules it shows), from the configs' libraries."""
    return _tables(str(config_dir(folder)))


def setting_defaults(folder: Optional[PathLike] = None) -> Dict[str, Any]:
    return dict(tables(folder)["defaults"])


def datasets(folder: Optional[PathLike] = None) -> List[str]:
    """The datasets there are configs for (``lib/ere.libsonnet``), in the order the commands list them."""
    return list(tables(folder)["datasets"])


def modules(folder: Optional[PathLike] = None) -> Dict[str, Dict[str, Any]]:
    return dict(tables(folder)["modules"])


def pruner_module(folder: Optional[PathLike] = None) -> str:
    """The span pruner's module (the one of model type ``span_pruner``), which the pruned modules load."""
    (name,) = [name for name, spec in modules(folder).items() if spec["type"] == "span_pruner"]
    return name


def module_order(folder: Optional[PathLike] = None) -> List[str]:
    """Every module, pruner first, in the order the study trains them."""
    return list(tables(folder)["module_order"])


def approaches(folder: Optional[PathLike] = None) -> Dict[str, List[str]]:
    return dict(tables(folder)["approaches"])


def approach_names(folder: Optional[PathLike] = None) -> Dict[str, str]:
    """How the study's tables name each approach (``lib/approach.libsonnet``, ``display_names``):
    ``a1 Ei-Ec-Ri-Rc``, ``Ei-NerRe``, ..."""
    return dict(tables(folder)["approach_names"])


def study_tables(folder: Optional[PathLike] = None) -> Dict[str, List[str]]:
    """What each of the study's tables shows, in row order (``lib/approach.libsonnet``, ``tables``):
    ``table2``, ``table3``, ``table5``, ``table6`` -> approaches, ``table4`` -> modules."""
    return {table: list(rows) for table, rows in tables(folder)["study_tables"].items()}


def recipe_names(folder: Optional[PathLike] = None) -> List[str]:
    return list(tables(folder)["recipes"])


def pruned_modules(folder: Optional[PathLike] = None) -> List[str]:
    """The modules that read the span pruner's spans (NerRi, NerRe, NerRe*)."""
    return [name for name, spec in modules(folder).items() if spec.get("pruned")]


def mean_field_modules(folder: Optional[PathLike] = None) -> List[str]:
    """The cross-task modules with mean-field inference (EcRi, EcRe, NerRi, NerRe), in study order."""
    specs = modules(folder)
    return [name for name in module_order(folder) if specs[name].get("joint")]


def module_config(dataset: str, module: str, folder: Optional[PathLike] = None) -> Path:
    return config_dir(folder) / f"{dataset}_{module}.jsonnet"


def approach_config(dataset: str, approach: str, folder: Optional[PathLike] = None) -> Path:
    return config_dir(folder) / "approaches" / f"{dataset}_{approach}.jsonnet"


def find(path: PathLike) -> Path:
    """`path` if it is a file; else the shipped config it names: ``training_configs/scierc_ner.jsonnet``
    from any folder, ``scierc_ner``, ``approaches/scierc_a8`` or ``scierc_a8``."""
    given = Path(path)
    if given.is_file():
        return given
    parts = given.parts[1:] if given.parts[:1] == ("training_configs",) else given.parts
    relative = Path(*parts) if parts else given
    names = [relative, relative.with_name(relative.name + ".jsonnet")]
    for name in names:
        for candidate in (CONFIG_DIR / name, CONFIG_DIR / "approaches" / name):
            if candidate.is_file():
                return candidate
    shipped = sorted(p.stem for p in CONFIG_DIR.glob("*.jsonnet")) + sorted(p.stem for p in CONFIG_DIR.glob("approaches/*.jsonnet"))
    raise ConfigurationError(
        f"config {path} not found: it is no file here ({Path.cwd()}) and no shipped config in {CONFIG_DIR}; "
        f"shipped: {', '.join(shipped)}"
    )


def variable_name(setting: str) -> str:
    return ENV_PREFIX + setting.upper()


def parse_setting(name: str, text: str, folder: Optional[PathLike] = None) -> Any:
    """The value of setting `name` given as text (an environment variable, ``--setting``): JSON
    (``3``, ``1e-4``, ``[-1,-1]``, ``null``) or else the text itself (a path, a hub name)."""
    known = setting_defaults(folder)
    if name not in known:
        raise ConfigurationError(f"unknown setting {name!r}; the settings are {', '.join(sorted(known))} "
                                 "(training_configs/lib/settings.libsonnet)")
    try:
        return json.loads(text)
    except ValueError:
        return text


def from_environment(environ: Optional[Mapping[str, str]] = None, folder: Optional[PathLike] = None) -> Dict[str, Any]:
    """The settings given as ``ERE_<NAME>`` environment variables (an empty one counts as unset)."""
    environ = os.environ if environ is None else environ
    settings: Dict[str, Any] = {}
    for name in setting_defaults(folder):
        value = environ.get(variable_name(name), "")
        if value != "":
            settings[name] = parse_setting(name, value, folder)
    return settings


def from_assignments(assignments: Iterable[str], folder: Optional[PathLike] = None) -> Dict[str, Any]:
    """Settings from ``NAME=VALUE`` strings (``--setting epochs=3``)."""
    settings: Dict[str, Any] = {}
    for assignment in assignments:
        name, equals, value = assignment.partition("=")
        if not equals:
            raise ConfigurationError(f"--setting {assignment!r}: write NAME=VALUE, e.g. epochs=3")
        settings[name.strip()] = parse_setting(name.strip(), value, folder)
    return settings


def params_from_file(
    path: PathLike, settings: Optional[Mapping[str, Any]] = None, overrides: Union[str, Dict[str, Any]] = ""
) -> Params:
    """The config at `path` (a file, or a shipped config's name: `find`) with `settings` (None:
    those of the ``ERE_*`` environment), then AllenNLP's `overrides` (as ``Params.from_file``
    applies them). A config not built from ``lib/ere.libsonnet`` / ``lib/approach.libsonnet`` takes
    no settings: giving it some is an error (a warning, and they are ignored, when they come from
    the environment). The config is evaluated once."""
    import _jsonnet

    path = str(find(path).resolve())
    from_env = settings is None
    settings = dict(from_environment() if settings is None else settings)
    # One evaluation: whether the config takes settings, and the config (with them if it does).
    snippet = (
        f"local config = import {json.dumps(path)};"
        "local takes = std.objectHasAll(config, 'settings');"
        "{ takes: takes, config: if takes then config + { settings+:: std.parseJson(std.extVar('ere_settings')) } else config }"
    )
    try:
        evaluated = json.loads(_jsonnet.evaluate_snippet(path, snippet, ext_vars={"ere_settings": json.dumps(settings)}))
    except RuntimeError as error:  # jsonnet: an unknown setting or recipe, a syntax error
        message = str(error).strip().splitlines()[0].replace("RUNTIME ERROR: ", "")
        raise ConfigurationError(f"{path}: {message}") from None
    if settings and not evaluated["takes"]:
        message = (f"{path} takes no ere_allennlp settings (it is not built from training_configs/lib/ere.libsonnet); "
                   f"settings given: {', '.join(sorted(settings))}")
        if not from_env:
            raise ConfigurationError(message)
        logger.warning("%s: the ERE_* variables are ignored", message)
    config = evaluated["config"]
    if isinstance(overrides, dict):
        overrides = json.dumps(overrides)
    overrides_dict = parse_overrides(overrides)
    return Params(with_overrides(config, overrides_dict) if overrides_dict else config)


def train_model_from_file(
    path: PathLike,
    serialization_dir: PathLike,
    overrides: Union[str, Dict[str, Any]] = "",
    settings: Optional[Mapping[str, Any]] = None,
    **kwargs: Any,
) -> Any:
    """AllenNLP's ``train_model_from_file`` with `settings` (None: the ``ERE_*`` environment's);
    `kwargs` go to ``allennlp.commands.train.train_model`` (recover, force, dry_run, ...)."""
    from allennlp.commands.train import train_model

    params = params_from_file(path, settings, overrides)
    kwargs.setdefault("include_package", ["ere_allennlp"])
    return train_model(params, str(serialization_dir), **kwargs)


def environment_ignored(applied: Mapping[str, Any], environ: Optional[Mapping[str, str]] = None) -> List[str]:
    """The ``ERE_<NAME>`` variables of the environment whose setting the config was not read with
    (`applied`: the settings it was read with, as the ``portable_archive`` callback holds them):
    ``allennlp train`` reads a shipped config as it is, and a user who set ERE_EPOCHS should be told."""
    try:
        given = from_environment(environ)
    except ConfigurationError:
        return []
    return sorted(variable_name(name) for name, value in given.items() if applied.get(name) != value)
