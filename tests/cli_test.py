"""The ``ere`` console script (``ere_cli.py``, ``ere_allennlp/cli.py``): AllenNLP's commands and
this package's, run from a folder without a plugins file, with no warning that is not the
user's; only AllenNLP's three known import warnings are filtered."""
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import warnings
from pathlib import Path

import pytest

import ere_cli
from tests.conftest import REPO_ROOT

ERE = Path(sys.executable).with_name("ere")


@pytest.fixture(scope="module")
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder that is not the repository, with no ``.allennlp_plugins`` in it or in its HOME."""
    folder = tmp_path_factory.mktemp("elsewhere")
    (folder / "home").mkdir()
    return folder


def run(command: list, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ERE_", "PYTHONWARNINGS"))}
    # HOME elsewhere too: no global plugins file (~/.allennlp/plugins) either.
    env.update(HOME=str(cwd / "home"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1")
    assert not (cwd / ".allennlp_plugins").exists()
    return subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def tiny_archive(path: Path) -> Path:
    """A model.tar.gz holding only a module's config (what ``ere-info`` reads without a manifest)."""
    config = {"model": {"type": "ner"}, "train_data_path": "fixtures/data/train.json"}
    data = json.dumps(config).encode("utf-8")
    with tarfile.open(path, "w:gz") as archive:
        member = tarfile.TarInfo("config.json")
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))
    return path


def test_the_console_script_is_installed() -> None:
    assert ERE.is_file(), f"{ERE} is missing: reinstall the package (pip install --no-deps -e {REPO_ROOT})"


def test_ere_help_lists_allennlp_and_package_commands_without_a_warning(elsewhere: Path) -> None:
    result = run([ERE, "--help"], elsewhere)
    assert result.returncode == 0, result.stderr[-3000:]
    listed = set(re.findall(r"^    (\S+)", result.stdout, flags=re.M))
    assert {"train", "predict", "evaluate", "find-lr", "info", "study", "approach", "predict-corpus", "compare",
            "analyze"} <= listed, result.stdout
    assert "info (ere-info)" in result.stdout and "train (ere-train)" in result.stdout
    assert result.stderr == ""  # no FutureWarning, no other line


def test_ere_info_reads_an_archive_from_any_folder(elsewhere: Path) -> None:
    archive = tiny_archive(elsewhere / "model.tar.gz")
    result = run([ERE, "info", archive.name], elsewhere)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[:1] == ["model.tar.gz: module archive"]
    assert "  module: ner" in result.stdout.splitlines()
    assert "Warning" not in result.stderr, result.stderr


def test_allennlp_itself_still_needs_a_plugins_file_there(elsewhere: Path) -> None:
    """What ``allennlp ere-info`` does in that folder, as before: AllenNLP looks for plugin
    subcommands only through a plugins file, so it does not know ``ere-info`` (and prints its
    three import warnings)."""
    archive = tiny_archive(elsewhere / "other.tar.gz")
    result = run([Path(sys.executable).with_name("allennlp"), "ere-info", archive.name], elsewhere)
    assert result.returncode == 2
    assert "invalid choice: 'ere-info'" in result.stderr


def test_ere_names_map_to_the_package_commands_first() -> None:
    """``ere <name>`` is ``ere-<name>`` when the package has it (``train`` too), else AllenNLP's
    ``<name>``; the registered ``ere-<name>`` works as well."""
    from allennlp.commands.predict import _predict

    from ere_allennlp.cli import build_parser, command_names
    from ere_allennlp.commands.info import info_from_args
    from ere_allennlp.commands.train import train_from_args

    names = command_names()
    assert names["train"] == "ere-train" and names["info"] == "ere-info" and names["predict"] == "predict"
    assert all(names[name[len("ere-"):]] == name for name in names.values() if name.startswith("ere-"))
    parser = build_parser()
    assert parser.parse_args(["train", "config.jsonnet", "-s", "out"]).func is train_from_args
    assert parser.parse_args(["ere-train", "config.jsonnet", "-s", "out"]).func is train_from_args
    assert parser.parse_args(["info", "model.tar.gz"]).func is info_from_args
    assert parser.parse_args(["ere-info", "model.tar.gz", "--json"]).func is info_from_args
    assert parser.parse_args(["predict", "model.tar.gz", "in.jsonl"]).func is _predict
    assert parser.parse_args(["info", "model.tar.gz"]).include_package == []  # accepted, never needed


def test_only_the_three_known_warnings_are_filtered() -> None:
    """Each filter needs the whole message, FutureWarning and the module the warning comes from."""
    fwd, _, jit = ere_cli.KNOWN_FUTURE_WARNINGS
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        ere_cli.quiet_known_warnings()
        for message, module in ere_cli.KNOWN_FUTURE_WARNINGS.items():
            warnings.warn_explicit(message, FutureWarning, "x.py", 1, module=module)
        assert shown == []
        warnings.warn_explicit("`torch.foo` is deprecated.", FutureWarning, "x.py", 1, module="torch.jit._script")
        warnings.warn_explicit(fwd, FutureWarning, "x.py", 1, module="my_package.amp")
        warnings.warn_explicit(fwd, DeprecationWarning, "x.py", 1, module="fairscale.experimental.nn.offload")
        warnings.warn_explicit(jit + " And more.", FutureWarning, "x.py", 1, module="torch.jit._script")
    assert [(str(w.message), w.category) for w in shown] == [
        ("`torch.foo` is deprecated.", FutureWarning), (fwd, FutureWarning), (fwd, DeprecationWarning),
        (jit + " And more.", FutureWarning),
    ]


def test_an_unrelated_future_warning_is_still_shown(elsewhere: Path) -> None:
    """In a process that imports ``ere_cli`` first (as the script does), then the package (and so
    AllenNLP and fairscale): none of the three, but any other FutureWarning."""
    code = ("import ere_cli, ere_allennlp, warnings; "
            "warnings.warn('something else is deprecated', FutureWarning)")
    result = run([sys.executable, "-c", code], elsewhere)
    assert result.returncode == 0, result.stderr[-3000:]
    shown = [line for line in result.stderr.splitlines() if "Warning" in line]
    assert len(shown) == 1 and shown[0].endswith("FutureWarning: something else is deprecated"), result.stderr
