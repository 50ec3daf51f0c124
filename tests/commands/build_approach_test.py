"""`allennlp ere-approach` writes one portable file: a4 and a8 built from tiny modules whose encoder,
stage archives and pruner archive are then deleted still predict and evaluate identically, from
another folder, offline, with empty caches."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Dict, List

import pytest
import torch
from ere_allennlp.configs import train_model_from_file
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.models.archival import archive_model, load_archive

from ere_allennlp import archival
from ere_allennlp.api import Extractor
from ere_allennlp.approach_archive import build_approach
from ere_allennlp.commands.info import describe
from ere_allennlp.models.approach import Approach
from tests.conftest import REPO_ROOT, TINY_ENV
from tests.models.module_runs import single_thread

TEST_FILE = str(REPO_ROOT / "fixtures/data/test.json")
SMALL_PRUNER = json.dumps({"model.biaffine_dim": 32, "model.biaffine_projection_dim": 16, "model.hidden_dim": 32})


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# Runs several `allennlp ...` command lines through AllenNLP's own entry point in one fresh
# process (one import of torch instead of one per command).
RUN_COMMANDS = """
import json, sys
from allennlp.commands import main
for argv in json.loads(sys.argv[1]):
    sys.argv = ["allennlp"] + argv
    main(prog="allennlp")
"""


def run_allennlp(commands: List[List[str]], cwd: Path, env: Dict[str, str]) -> None:
    result = subprocess.run([sys.executable, "-c", RUN_COMMANDS, json.dumps(commands)], cwd=cwd, env=env,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"allennlp {commands} failed:\n{result.stderr[-3000:]}")


def predict_and_evaluate(archives: Dict[str, Path], out: Path, cwd: Path, env: Dict[str, str]) -> Dict[str, object]:
    """`allennlp predict` and `allennlp evaluate` of each archive on the test fixture."""
    commands = []
    for name, archive in archives.items():
        (out / name).mkdir(parents=True, exist_ok=True)
        commands.append(["predict", str(archive), TEST_FILE, "--output-file", str(out / name / "pred.jsonl"),
                         "--silent", "--include-package", "ere_allennlp"])
        commands.append(["evaluate", str(archive), TEST_FILE, "--output-file", str(out / name / "metrics.json"),
                         "--include-package", "ere_allennlp"])
    run_allennlp(commands, cwd, env)
    return {
        name: {
            "predictions": [json.loads(line) for line in (out / name / "pred.jsonl").read_text().splitlines()],
            "metrics": json.loads((out / name / "metrics.json").read_text()),
        }
        for name in archives
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, object]:
    """Trains pruner, NerRe (with that pruner archive), Ner and Re on the fixtures with the tiny
    BERT copied to a temporary folder, and builds a4 and a8 from them."""
    root = tmp_path_factory.mktemp("portable")
    encoder = root / "encoder"
    shutil.copytree(REPO_ROOT / "fixtures/tiny_bert", encoder)
    runs = root / "runs"
    env = dict(TINY_ENV, ERE_ENCODER=str(encoder), ERE_RUNS=str(runs), ERE_EPOCHS="2", ERE_HEAD_LR="",
               ERE_MAX_LENGTH="512", ERE_CUDA_DEVICE="-1", ERE_RECIPE="", ERE_DATA_DIR="fixtures/data")
    with pytest.MonkeyPatch.context() as monkeypatch, single_thread():
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        pruner = root / "pruner"
        train_model_from_file("training_configs/scierc_pruner.jsonnet", str(pruner), overrides=SMALL_PRUNER)
        monkeypatch.setenv("ERE_PRUNER", str(pruner / "model.tar.gz"))
        train_model_from_file("training_configs/scierc_nerre.jsonnet", str(runs / "scierc_nerre"))
        monkeypatch.setenv("ERE_PRUNER", "")
        for module in ("ner", "re"):
            train_model_from_file(f"training_configs/scierc_{module}.jsonnet", str(runs / f"scierc_{module}"))
        archives = {
            name: Path(build_approach(f"training_configs/approaches/scierc_{name}.jsonnet", str(root / "built" / name)))
            for name in ("a4", "a8")
        }
    sums = {m: sha256(runs / f"scierc_{m}" / "model.tar.gz") for m in ("ner", "re", "nerre")}
    sums["pruner"] = sha256(pruner / "model.tar.gz")
    return {"root": root, "encoder": encoder, "runs": runs, "pruner": pruner, "archives": archives, "sums": sums}


def test_module_archive_holds_its_pruner(built: Dict[str, object], tmp_path: Path) -> None:
    runs: Path = built["runs"]  # type: ignore
    nerre = runs / "scierc_nerre" / "model.tar.gz"
    config = archival.read_json_member(str(nerre), "config.json")
    assert config is not None
    assert config["model"]["pruner"]["type"] == "span_pruner"
    assert "from_archive" not in json.dumps(config)
    manifest = archival.read_manifest(str(nerre))
    assert manifest is not None and manifest["module"] == "nerre"
    assert manifest["pruner"]["source_archive"] == str(built["pruner"] / "model.tar.gz")  # type: ignore
    assert manifest["pruner"]["sha256"] == built["sums"]["pruner"]  # type: ignore
    assert set(manifest["best_validation_metrics"]) >= {"strict_rel_c_f1", "ent_c_f1"}
    # The config as trained stays beside the archive (not in it).
    trained = json.loads((runs / "scierc_nerre" / "config.trained.json").read_text())
    assert trained["model"]["pruner"]["type"] == "from_archive"
    # Loads without the pruner archive (moved away for the check).
    moved = tmp_path / "pruner.tar.gz"
    shutil.move(str(built["pruner"] / "model.tar.gz"), moved)  # type: ignore
    try:
        model = load_archive(str(nerre)).model
        assert model.pruner is not None
    finally:
        shutil.move(str(moved), built["pruner"] / "model.tar.gz")  # type: ignore


def test_manifest_lists_what_went_in(built: Dict[str, object]) -> None:
    archives: Dict[str, Path] = built["archives"]  # type: ignore
    sums: Dict[str, str] = built["sums"]  # type: ignore
    runs: Path = built["runs"]  # type: ignore
    a4 = archival.read_manifest(str(archives["a4"]))
    assert a4 is not None and a4["kind"] == "approach"
    assert [(s["index"], s["module"]) for s in a4["stages"]] == [(1, "ner"), (2, "re")]
    for stage, module in zip(a4["stages"], ("ner", "re")):
        assert stage["source_archive"] == str(runs / f"scierc_{module}" / "model.tar.gz")
        assert stage["sha256"] == sums[module]
        assert stage["encoder"] == str(built["encoder"])
        assert stage["train_data_path"] == "fixtures/data/train.json"
        assert stage["best_validation_metrics"]
    a8 = archival.read_manifest(str(archives["a8"]))
    assert a8 is not None
    (stage,) = a8["stages"]
    assert stage["module"] == "nerre" and stage["sha256"] == sums["nerre"]
    assert stage["pruner"]["sha256"] == sums["pruner"]
    assert a8["package_version"] and a8["built_at"]
    # The info subcommand prints it.
    text = describe(str(archives["a8"]))
    assert "stage 1: nerre" in text and sums["nerre"] in text and sums["pruner"][:16] in text
    assert json.loads(describe(str(archives["a8"]), as_json=True)) == a8
    # The stages' weights are the module archives' own, exactly.
    approach = archival.load(str(archives["a8"])).model
    module = load_archive(str(runs / "scierc_nerre" / "model.tar.gz")).model
    ours, theirs = approach._stages[0].state_dict(), module.state_dict()
    assert ours.keys() == theirs.keys() and any(k.startswith("_pruner.") for k in ours)
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    # What the archive holds: stage folders and encoder files, no encoder weights among them.
    with tarfile.open(archives["a8"]) as tar:
        names = tar.getnames()
    assert "stages/0_nerre/weights.th" in names and "stages/0_nerre/encoder/config.json" in names
    assert not any(n.endswith((".bin", ".safetensors")) for n in names)


def test_truncated_archive_is_named(built: Dict[str, object], tmp_path: Path) -> None:
    source = built["archives"]["a4"]  # type: ignore
    data = Path(source).read_bytes()
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(data[: len(data) // 2])
    for load in (lambda p: archival.load(p), lambda p: Extractor.from_archive(p), lambda p: describe(p)):
        with pytest.raises(ConfigurationError, match="broken.tar.gz.*truncated or corrupted"):
            load(str(broken))


def test_old_path_based_approach_archive(tmp_path: Path, runs, monkeypatch) -> None:
    """An archive in the layout written before stages were stored inside: loads while its stage
    archives are where it says, and asks for a rebuild once they are gone."""
    runs.ensure(["ner", "re"])
    folder = tmp_path / "old"
    folder.mkdir()
    stage_paths = [str(runs.archive("ner")), str(runs.archive("re"))]
    config = {
        "dataset_reader": {"type": "ere_json", "model_name": "fixtures/tiny_bert", "max_span_width": 12},
        "model": {"type": "ere_approach", "stages": stage_paths},
    }
    (folder / "config.json").write_text(json.dumps(config))
    Vocabulary().save_to_files(str(folder / "vocabulary"))
    torch.save({}, folder / "weights.th")
    archive_model(str(folder), weights="weights.th")
    model = archival.load(str(folder / "model.tar.gz")).model
    assert isinstance(model, Approach) and model.stage_names == ["ner", "re"]
    assert "no manifest" in describe(str(folder / "model.tar.gz"))
    config["model"]["stages"] = [str(tmp_path / "gone" / "model.tar.gz")]
    (folder / "config.json").write_text(json.dumps(config))
    archive_model(str(folder), weights="weights.th")
    with pytest.raises(ConfigurationError, match="gone/model.tar.gz.*rebuild the approach with `allennlp ere-approach"):
        archival.load(str(folder / "model.tar.gz"))


def run_in_process(monkeypatch: pytest.MonkeyPatch, *argv: str) -> None:
    """``allennlp <argv>`` through AllenNLP's entry point, in this process (so that `pretend_cuda`
    sees it)."""
    from allennlp.commands import main

    monkeypatch.setattr(sys, "argv", ["allennlp", *argv])
    main(prog="allennlp")


def test_cuda_device_reaches_every_stage(built: Dict[str, object], tmp_path: Path, monkeypatch, pretend_cuda) -> None:
    """The device given to ``allennlp ere-approach`` (setting ``cuda_device``), ``allennlp evaluate``
    and ``allennlp predict`` (``--cuda-device``) reaches every archive they load, the NerRe stage
    of a8 included; evaluation moves its batches there. Recorded by `pretend_cuda`: nothing moves
    on this CPU-only machine."""
    runs, encoder = built["runs"], built["encoder"]
    run_in_process(monkeypatch, "ere-approach", "training_configs/approaches/scierc_a8.jsonnet", "-s", str(tmp_path / "a8"),
                   "--setting", f"runs={runs}", "--setting", f"encoder={encoder}", "--setting", "data_dir=fixtures/data",
                   "--setting", "cuda_device=0")
    assert pretend_cuda.loads == [("nerre", 0)]  # the pruner is in NerRe's config and weights
    archive = tmp_path / "a8" / "model.tar.gz"
    assert "cuda_device" not in archival.read_json_member(str(archive), "config.json")["model"]

    pretend_cuda.loads.clear()
    run_in_process(monkeypatch, "evaluate", str(archive), TEST_FILE, "--cuda-device", "0",
                   "--output-file", str(tmp_path / "metrics.json"))
    assert pretend_cuda.loads == [("ere_approach", 0), ("nerre", 0)]
    assert {("Approach", 0), ("NerRe", 0)} <= set(pretend_cuda.moved)
    assert pretend_cuda.batches and set(pretend_cuda.batches) == {torch.device("cuda", 0)}
    assert "strict_rel_c_f1" in json.loads((tmp_path / "metrics.json").read_text())

    pretend_cuda.loads.clear()
    run_in_process(monkeypatch, "predict", str(archive), TEST_FILE, "--cuda-device", "0", "--silent",
                   "--output-file", str(tmp_path / "pred.jsonl"))
    assert pretend_cuda.loads == [("ere_approach", 0), ("nerre", 0)]
    assert len((tmp_path / "pred.jsonl").read_text().splitlines()) == len(Path(TEST_FILE).read_text().splitlines())


def test_approach_archive_needs_nothing_outside_it(built: Dict[str, object], tmp_path: Path) -> None:
    """Runs last in this file: it deletes what the fixture built."""
    root: Path = built["root"]  # type: ignore
    archives: Dict[str, Path] = built["archives"]  # type: ignore
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1")
    env.pop("ERE_PRUNER", None)
    before = predict_and_evaluate(archives, tmp_path / "before", REPO_ROOT, env)
    # Delete the module archives, the pruner archive and the encoder; move the approach archives.
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    for name, path in archives.items():
        shutil.move(str(path), moved / f"{name}.tar.gz")
    for folder in ("runs", "pruner", "encoder", "built"):
        shutil.rmtree(root / folder)
    other = tmp_path / "other_cwd"
    other.mkdir()
    env.update(HF_HOME=str(tmp_path / "empty_hf"), ERE_CACHE_DIR=str(tmp_path / "empty_ere_cache"))
    after = predict_and_evaluate({name: moved / f"{name}.tar.gz" for name in archives}, tmp_path / "after", other, env)
    assert after == before
    assert all(result["predictions"] for result in after.values())  # type: ignore
