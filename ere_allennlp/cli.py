"""``ere``: AllenNLP's command line with this package loaded, from any folder.

    ere train training_configs/scierc_ner.jsonnet -s runs/scierc_ner   # allennlp ere-train ...
    ere info runs/scierc_a8/model.tar.gz                               # allennlp ere-info ...
    ere evaluate runs/scierc_a8/model.tar.gz test.json                 # allennlp evaluate ...

``ere <name>`` runs this package's subcommand ``ere-<name>`` when there is one (so ``ere train`` is
``ere-train``), otherwise AllenNLP's (or another plugin's) ``<name>``; ``ere ere-<name>`` works
too. The package is imported before the command line is built, so no ``.allennlp_plugins`` file
and no ``--include-package ere_allennlp`` is needed; a plugins file, if there is one, is still
read (as ``allennlp`` reads it). ``allennlp ...`` itself is unchanged.

The console script is ``ere_cli:main`` (the top-level module ``ere_cli``, beside this package): it
filters the three FutureWarnings AllenNLP's own imports print before this package, and so
AllenNLP, is imported (importing ``ere_allennlp.cli`` imports ``ere_allennlp`` first, which
imports AllenNLP). See ``ere_cli`` for the warnings and how narrowly they are matched.
"""
import argparse
import sys
from typing import Dict, List, Optional

from ere_cli import quiet_known_warnings

PACKAGE_PREFIX = "ere-"


def command_names() -> Dict[str, str]:
    """Each ``ere`` command -> the registered subcommand it runs: this package's ``ere-<name>`` as
    ``<name>`` (over a command of that name: ``train`` is ``ere-train``), every other one by its
    own name. Call it once the subcommands are registered."""
    from allennlp.commands.subcommand import Subcommand

    registered = sorted(Subcommand.list_available())
    names = {name: name for name in registered if not name.startswith(PACKAGE_PREFIX)}
    names.update({name[len(PACKAGE_PREFIX):]: name for name in registered if name.startswith(PACKAGE_PREFIX)})
    return dict(sorted(names.items()))


class _Named:
    """The subparsers action as one subcommand's ``add_subparser`` sees it: the parser it adds is
    called `name` and answers to the registered name too."""

    def __init__(self, action: argparse._SubParsersAction, name: str, registered: str) -> None:
        self._action = action
        self._name = name
        self._registered = registered

    def add_parser(self, _registered: str, **kwargs) -> argparse.ArgumentParser:
        if self._registered != self._name:
            kwargs["aliases"] = [*kwargs.get("aliases", ()), self._registered]
        return self._action.add_parser(self._name, **kwargs)

    def __getattr__(self, attribute: str):
        return getattr(self._action, attribute)


def build_parser(prog: str = "ere") -> argparse.ArgumentParser:
    """AllenNLP's parser (``allennlp.commands.parse_args``) with the names of `command_names`."""
    from allennlp import __version__ as allennlp_version
    from allennlp.commands import ArgumentParserWithDefaults
    from allennlp.commands.subcommand import Subcommand

    from ere_allennlp.archival import package_version

    parser = ArgumentParserWithDefaults(
        prog=prog, description="Entity and relation extraction on AllenNLP: AllenNLP's commands and ere_allennlp's.",
        epilog="`ere <name>` runs ere_allennlp's `ere-<name>` when there is one, otherwise AllenNLP's `<name>`.",
    )
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {package_version()} (AllenNLP {allennlp_version})")
    subparsers = parser.add_subparsers(title="Commands", metavar="")
    for name, registered in command_names().items():
        subcommand_class = Subcommand.by_name(registered)
        subparser = subcommand_class().add_subparser(_Named(subparsers, name, registered))
        if subcommand_class.requires_plugins:  # as AllenNLP adds it
            subparser.add_argument("--include-package", type=str, action="append", default=[],
                                   help="additional packages to include")
    return parser


def main(argv: Optional[List[str]] = None, prog: str = "ere") -> None:
    """``ere`` (the console script ``ere_cli:main`` calls it)."""
    quiet_known_warnings()
    import allennlp.__main__  # noqa: F401  (the `allennlp` command's logging set-up: ALLENNLP_LOG_LEVEL, ...)
    from allennlp.common.plugins import import_plugins
    from allennlp.common.util import import_module_and_submodules, install_sigterm_handler

    install_sigterm_handler()
    import_plugins()  # all of AllenNLP, and the plugins of a plugins file if there is one
    import ere_allennlp  # noqa: F401  (imported with this module already: its subcommands need no plugins file)

    parser = build_parser(prog)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if "func" not in args:
        parser.print_help()
        return
    for package in getattr(args, "include_package", []):
        import_module_and_submodules(package)
    args.func(args)

