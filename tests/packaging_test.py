"""The package works installed, not only from the repository: the wheel holds the training
configs, and from another folder `allennlp train` on a shipped config, `allennlp ere-train` by a
config's name and `allennlp ere-study` on the fixtures run from the installed copy."""
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

TINY_BERT = REPO_ROOT / "fixtures" / "tiny_bert"
DATA = REPO_ROOT / "fixtures" / "data"


def run(*args: str, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    result = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package built into a wheel and installed (without dependencies) into a folder of its own."""
    root = tmp_path_factory.mktemp("installed")
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    # Built from a copy of the sources git sees (tracked or new, not ignored): setuptools writes build/ and *.egg-info beside the sources.
    source = root / "source"
    tracked = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        origin = REPO_ROOT / name
        if origin.is_file() and not origin.is_symlink():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(origin, source / name)
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(root / "wheel"),
        str(source), cwd=root, env=env)
    wheel = next((root / "wheel").glob("ere_allennlp-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for name in ("ere_allennlp/training_configs/scierc_nerre.jsonnet", "ere_allennlp/training_configs/ace05_ner.jsonnet",
                 "ere_allennlp/training_configs/lib/settings.libsonnet", "ere_allennlp/training_configs/lib/ere.libsonnet",
                 "ere_allennlp/training_configs/approaches/scierc_a8.jsonnet"):
        assert name in names, f"{name} is not in the wheel"
    run(sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(root / "site"), str(wheel),
        cwd=root, env=env)
    return root / "site"


def elsewhere(installed: Path, tmp_path: Path) -> dict:
    """An environment that imports the installed copy, from a folder that is not the repository."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERE_")}
    env.update(PYTHONPATH=str(installed), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1")
    # AllenNLP finds plugin subcommands through this file (README: "Elsewhere").
    (tmp_path / ".allennlp_plugins").write_text("ere_allennlp\n")
    return env


def test_installed_copy_is_the_one_imported(installed: Path, tmp_path: Path) -> None:
    env = elsewhere(installed, tmp_path)
    script = "import ere_allennlp.configs as c; print(c.CONFIG_DIR)"
    out = run(sys.executable, "-c", script, cwd=tmp_path, env=env).stdout.strip().splitlines()[-1]
    assert Path(out) == installed / "ere_allennlp" / "training_configs"


def test_train_and_study_from_another_folder(installed: Path, tmp_path: Path) -> None:
    env = elsewhere(installed, tmp_path)
    config = installed / "ere_allennlp" / "training_configs" / "scierc_ner.jsonnet"
    overrides = {
        "dataset_reader.model_name": str(TINY_BERT),
        "model.embedder.token_embedders.tokens.model_name": str(TINY_BERT),
        "train_data_path": str(DATA / "train.json"), "validation_data_path": str(DATA / "dev.json"),
        "trainer.num_epochs": 1, "data_loader.batch_size": 4,
    }
    run(sys.executable, "-m", "allennlp", "train", str(config), "-s", "ner", "-o", json.dumps(overrides),
        "--include-package", "ere_allennlp", cwd=tmp_path, env=env)
    assert (tmp_path / "ner" / "model.tar.gz").is_file()
    # ere-train finds the shipped config by its name; settings instead of overrides.
    run(sys.executable, "-m", "allennlp", "ere-train", "scierc_re", "-s", "re", "--setting", f"encoder={TINY_BERT}",
        "--setting", f"data_dir={DATA}", "--setting", "epochs=1", "--setting", "batch_size=4", cwd=tmp_path, env=env)
    manifest = json.loads((tmp_path / "re" / "ere_manifest.json").read_text())
    assert manifest["settings"] == {"encoder": str(TINY_BERT), "data_dir": str(DATA), "epochs": 1, "batch_size": 4}
    run(sys.executable, "-m", "allennlp", "ere-study", "--data-dir", str(DATA), "-s", "study", "--seeds", "1",
        "--approaches", "a4", "--epochs", "1", "--batch-size", "4", "--encoder", str(TINY_BERT), "--trials", "10",
        cwd=tmp_path, env=env)
    results = json.loads((tmp_path / "study" / "tables" / "results.json").read_text())
    assert "a4" in results["approaches"]
