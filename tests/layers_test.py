"""The package's layers only point down: the import graph between the modules of ``ere_allennlp/``
has no cycle, and no module imports a layer above its own (the map below, which docs/reference.md
shows under "Layers"). Read from the source with `ast`, module-level and function-level imports
alike, so a cycle hidden in a function counts.

Importing ``ere_allennlp.a.b`` also runs the ``__init__`` of ``ere_allennlp`` and ``ere_allennlp.a``
first; those implicit imports are not edges of the graph (Python initialises a package before
any of its modules, whichever is imported first). What keeps that sound is checked too: a
package's ``__init__`` imports only modules of its own folder (the top one, ``ere_allennlp``,
registers everything and may import anything).
"""
import ast
import re
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Set, Tuple

from tests.conftest import REPO_ROOT

PACKAGE = "ere_allennlp"

# layer -> (its modules and folders, relative to ere_allennlp/; the other layers it may import).
# A module may always import its own layer (no cycle, checked separately). Keep this map and the
# table in docs/reference.md ("Layers") the same: `test_the_documented_map_is_this_one` compares them.
LAYERS: Dict[str, Tuple[Sequence[str], Sequence[str]]] = {
    "base": (("common", "atomic", "nn_util", "allennlp_internals", "configs", "ray_support"), ()),
    "archival": (("archival",), ("base",)),
    "data": (("data",), ("base",)),
    "metrics": (("metrics",), ("base",)),
    "nn": (("modules", "span_extractors"), ("base",)),
    "readers": (("dataset_readers",), ("base", "archival", "data")),
    "models": (("models",), ("base", "archival", "metrics", "nn")),
    "predictors": (("predictors",), ("base", "readers")),
    "alignment": (("alignment",), ("base", "readers")),
    "approach_archive": (("approach_archive",), ("base", "archival", "models")),
    "training": (("training",), ("base", "archival")),
    "analysis": (("analysis",), ("base", "alignment", "metrics")),
    "corpus": (("corpus",), ("base", "archival", "predictors")),
    "study": (("study",), ("base", "alignment", "analysis", "approach_archive", "archival", "readers", "metrics",
                           "models")),
    "api": (("api",), ("base", "archival", "predictors")),
    "convert": (("convert",), ("base", "readers")),
    "spacy_component": (("spacy_component",), ("base", "archival", "models", "api")),
    "serve": (("serve",), ("base", "archival", "predictors", "api", "analysis")),
    "commands": (("commands",), ("base", "archival", "data", "metrics", "nn", "readers", "models", "predictors",
                                 "alignment", "approach_archive", "training", "analysis", "corpus", "study", "api",
                                 "convert", "serve")),
    "package": (("",), ("base", "archival", "data", "metrics", "nn", "readers", "models", "predictors", "alignment",
                        "approach_archive", "training", "analysis", "corpus", "study", "api", "convert", "serve",
                        "commands")),
    "cli": (("cli",), ("base", "archival", "data", "metrics", "nn", "readers", "models", "predictors", "alignment",
                       "approach_archive", "training", "analysis", "corpus", "study", "api", "convert",
                       "spacy_component", "serve", "commands", "package")),
}

# Imports of ere_allennlp modules inside a function, and why each is not at module level. Every
# other import of the package is at module level; imports of optional heavy dependencies (ray,
# spacy, matplotlib, selenium) inside functions are another matter and are not listed.
FUNCTION_LEVEL: Dict[Tuple[str, str], str] = {
    ("ere_allennlp.commands.predict_corpus", "ere_allennlp.corpus.job"):
        "not moved yet: commands/predict_corpus.py is being changed elsewhere (issue 23 item 6); no optional "
        "dependency needs it (ray is imported in ray_support.require_ray)",
    ("ere_allennlp.commands.predict_corpus", "ere_allennlp.corpus.plan"): "as above",
    ("ere_allennlp.commands.predict_corpus", "ere_allennlp.ray_support"): "as above",
    ("ere_allennlp.commands.serve", "ere_allennlp.serve.dependencies"):
        "the service's modules import FastAPI, uvicorn and prometheus-client (the optional `serve` extra) at module "
        "level: the subcommand imports them only when it runs, so that registering it needs none of them",
    ("ere_allennlp.commands.serve", "ere_allennlp.serve.ray_app"): "as above, and Ray Serve",
    ("ere_allennlp.commands.serve", "ere_allennlp.serve.server"): "as above",
    ("ere_allennlp.cli", "ere_allennlp"):
        "the `ere` command imports the package after AllenNLP's plugins (issue 23 item 5, being written elsewhere: "
        "to review when it lands)",
    ("ere_allennlp.cli", "ere_allennlp.archival"): "as above",
}

Import = Tuple[str, str, bool]  # (importer, imported module, inside a function)


def package_sources(root: Path = REPO_ROOT / PACKAGE) -> Dict[str, Tuple[str, bool]]:
    """module name -> (source, is a package's __init__) of every module under `root`."""
    sources = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        sources[".".join(parts)] = (path.read_text(encoding="utf-8"), is_package)
    return sources


def imports(sources: Mapping[str, Tuple[str, bool]]) -> List[Import]:
    """Every import of a module of the package, by every module of `sources` (which holds them all)."""
    found: List[Import] = []

    def target(module: str, name: str, base: str) -> str:
        """`from base import name`: the module ``base.name`` if there is one, else ``base``."""
        submodule = f"{base}.{name}"
        return submodule if submodule in sources else base

    def visit(module: str, is_package: bool, node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                        found.append((module, alias.name, in_function))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:  # relative: resolved against the importing module's package
                    package = module.split(".") if is_package else module.split(".")[:-1]
                    package = package[: len(package) - (child.level - 1)]
                    base = ".".join(package + ([child.module] if child.module else []))
                if base == PACKAGE or base.startswith(PACKAGE + "."):
                    for alias in child.names:
                        found.append((module, target(module, alias.name, base), in_function))
            visit(module, is_package, child, inside)

    for module, (source, is_package) in sources.items():
        visit(module, is_package, ast.parse(source, filename=module), False)
    return found


def layer_of(module: str) -> Optional[str]:
    """The layer of a module: the one naming the longest folder or module that holds it."""
    relative = module[len(PACKAGE) + 1:] if module != PACKAGE else ""
    best: Optional[Tuple[int, str]] = None
    for layer, (members, _) in LAYERS.items():
        for member in members:
            if relative == member or (member and relative.startswith(member + ".")):
                if best is None or len(member) > best[0]:
                    best = (len(member), layer)
    return best[1] if best else None


def cycles(edges: Set[Tuple[str, str]]) -> List[List[str]]:
    """The strongly connected components with more than one module, or a module importing itself
    (Tarjan), each as a sorted list."""
    graph: Dict[str, List[str]] = {}
    for source, target in sorted(edges):
        graph.setdefault(source, []).append(target)
        graph.setdefault(target, [])
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    components: List[List[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph[node]:
            if successor not in index:
                connect(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or (node, node) in edges:
                components.append(sorted(component))

    for node in graph:
        if node not in index:
            connect(node)
    return components


def problems(sources: Mapping[str, Tuple[str, bool]]) -> List[str]:
    """Every breach of the rules in `sources`, one line each (empty: none)."""
    found = imports(sources)
    out: List[str] = []
    for module in sorted(sources):
        if layer_of(module) is None:
            out.append(f"{module}: in no layer; add it to LAYERS in tests/layers_test.py and to docs/reference.md")
    for module, target, _ in found:
        if target not in sources:
            out.append(f"{module} imports {target}, which is not a module of the package")
    edges = {(module, target) for module, target, _ in found if target in sources}
    for component in cycles(edges):
        out.append("import cycle: " + " <-> ".join(component))
    for module, target in sorted(edges):
        source_layer, target_layer = layer_of(module), layer_of(target)
        if None in (source_layer, target_layer) or source_layer == target_layer:
            continue
        if target_layer not in LAYERS[source_layer][1]:
            out.append(f"{module} ({source_layer}) imports {target} ({target_layer}): upward, or not in its map")
    for module, (_, is_package) in sorted(sources.items()):
        if is_package and module != PACKAGE:
            for importer, target in sorted(edges):
                if importer == module and not target.startswith(module + "."):
                    out.append(f"{module}/__init__ imports {target}, outside its own folder")
    inside = {(module, target) for module, target, in_function in found if in_function}
    for pair in sorted(inside - set(FUNCTION_LEVEL)):
        out.append(f"{pair[0]} imports {pair[1]} inside a function: move it to module level (or list it, with "
                   "why, in FUNCTION_LEVEL)")
    for pair in sorted(set(FUNCTION_LEVEL) - inside):
        out.append(f"FUNCTION_LEVEL lists {pair[0]} -> {pair[1]}, which is no longer imported in a function: remove it")
    return out


def test_layers_only_point_down_and_nothing_cycles() -> None:
    sources = package_sources()
    assert len(sources) > 50 and "ere_allennlp.study.tables" in sources
    assert problems(sources) == []


def test_the_map_points_down() -> None:
    """The layers' "may import" relation has no cycle either, so no two folders import each other
    (the study and the analysis did, through ``study/__init__``)."""
    for layer, (_, allowed) in LAYERS.items():
        assert set(allowed) <= set(LAYERS) - {layer}, layer
    assert cycles({(layer, other) for layer, (_, allowed) in LAYERS.items() for other in allowed}) == []


def test_the_checks_catch_a_cycle_hidden_in_a_function_and_an_upward_import() -> None:
    """A canary: the same checks on a made-up package with each kind of breach."""
    sources = {
        "ere_allennlp": ("from ere_allennlp import common, study\n", True),
        "ere_allennlp.common": ("def f():\n    from ere_allennlp.study import tables\n", False),
        "ere_allennlp.study": ("", True),
        "ere_allennlp.study.tables": ("from ere_allennlp.common import f\nimport ere_allennlp.commands.x\n", False),
        "ere_allennlp.commands": ("from .x import y\n", True),
        "ere_allennlp.commands.x": ("y = 1\n", False),
        "ere_allennlp.extra": ("from . import common\n", False),
    }
    found = problems(sources)
    assert "import cycle: ere_allennlp.common <-> ere_allennlp.study.tables" in found
    assert any(line.startswith("ere_allennlp.common (base) imports ere_allennlp.study.tables (study): upward")
               for line in found)
    assert any(line.startswith("ere_allennlp.study.tables (study) imports ere_allennlp.commands.x (commands)")
               for line in found)
    assert any(line.startswith("ere_allennlp.common imports ere_allennlp.study.tables inside a function")
               for line in found)
    assert any(line.startswith("ere_allennlp.extra: in no layer") for line in found)
    assert not any("ere_allennlp.commands/__init__" in line for line in found)  # `.x` is its own folder's
    assert len(found) == 5 + len(FUNCTION_LEVEL), found  # and FUNCTION_LEVEL's entries are stale here


def documented_layers() -> Dict[str, Tuple[Set[str], Set[str]]]:
    """The table of docs/reference.md's "Layers" section: layer -> (modules, may import)."""
    text = (REPO_ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    section = text.split("\n## Layers\n", 1)[1].split("\n## ", 1)[0]

    def names(cell: str) -> Set[str]:
        found = {m.rstrip("/").replace("/", ".") for m in re.findall(r"`([a-z_]+(?:\.py|/))`", cell)}
        return {"" if m == "__init__.py" else m.replace(".py", "") for m in found}

    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in section.splitlines() if line.startswith("| **")]
    layer_of_member = {member: layer.strip("*") for layer, modules, _ in rows for member in names(modules)}
    table = {}
    for layer, modules, may_import in rows:
        name = layer.strip("*")
        if may_import.startswith("everything"):  # "everything", "everything but `x.py`": named by module
            excluded = {layer_of_member[member] for member in names(may_import)}
            allowed = {other for other in layer_of_member.values() if other != name and other not in excluded}
        else:
            allowed = set(re.findall(r"\*\*([a-z_]+)\*\*", may_import))
        table[name] = (names(modules), allowed)
    return table


def test_the_documented_map_is_this_one() -> None:
    expected = {layer: (set(members), set(allowed)) for layer, (members, allowed) in LAYERS.items()}
    assert documented_layers() == expected
