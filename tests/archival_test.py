"""archive:// paths, the encoder cache, inlining archived sub-models, damaged archives."""
import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest
from allennlp.common.checks import ConfigurationError

from ere_allennlp import archival
from tests.conftest import REPO_ROOT


def fake_archive(path: Path, config: dict) -> Path:
    """A tar.gz with just a config.json (enough for what reads only configs)."""
    folder = path.with_suffix(".d")
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder / "config.json", arcname="config.json")
    return path


def test_resolve_config_turns_archive_paths_into_files(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ERE_CACHE_DIR", str(tmp_path / "cache"))
    shutil.copytree(REPO_ROOT / "fixtures/tiny_bert", tmp_path / "x" / "encoder")
    (tmp_path / "x" / "stages" / "0_ner").mkdir(parents=True)
    config = {
        "stages": ["archive://stages/0_ner"],
        "embedder": {"type": "pretrained_transformer_mismatched", "model_name": "archive://encoder"},
        "reader": {"type": "ere_json", "model_name": "archive://encoder"},
        "other": {"model_name": "bert-base-uncased", "type": "pretrained_transformer"},
    }
    resolved = archival.resolve_config(config, str(tmp_path / "x"))
    assert resolved["stages"] == [str(tmp_path / "x" / "stages" / "0_ner")]
    cached = resolved["embedder"]["model_name"]
    assert cached.startswith(str(tmp_path / "cache" / "encoders")) and os.path.isfile(os.path.join(cached, "config.json"))
    assert resolved["embedder"]["load_weights"] is False  # the weights are in the state dict
    assert resolved["reader"] == {"type": "ere_json", "model_name": cached}
    assert resolved["other"] == config["other"]  # names outside the archive stay, weights load as usual
    with pytest.raises(ConfigurationError, match="has no .*stages/1_re"):
        archival.resolve_config({"stages": ["archive://stages/1_re"]}, str(tmp_path / "x"))
    with pytest.raises(ConfigurationError, match="names a file inside a model archive"):
        archival.resolve_config({"stages": ["archive://stages/0_ner"]}, None)


def test_encoder_cache_is_content_addressed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ERE_CACHE_DIR", str(tmp_path / "cache"))
    first, second = tmp_path / "a", tmp_path / "b"
    shutil.copytree(REPO_ROOT / "fixtures/tiny_bert", first)
    shutil.copytree(REPO_ROOT / "fixtures/tiny_bert", second)
    assert archival.materialise_encoder(str(first)) == archival.materialise_encoder(str(second))
    (second / "config.json").write_text((second / "config.json").read_text() + " ")
    other = archival.materialise_encoder(str(second))
    assert other != archival.materialise_encoder(str(first))
    # A damaged cached copy is replaced, not used.
    (Path(other) / "config.json").write_text("{}")
    assert archival.materialise_encoder(str(second)) == other
    assert (Path(other) / "config.json").read_text() == (second / "config.json").read_text()
    (first / "config.json").unlink()
    with pytest.raises(ConfigurationError, match="needs config.json"):
        archival.materialise_encoder(str(first))


def _materialise_many(folder: str, times: int) -> list:
    return [archival.materialise_encoder(folder) for _ in range(times)]


def test_encoder_cache_with_processes_at_once(tmp_path: Path, monkeypatch) -> None:
    """Processes loading archives at once (Ray tasks) get the same whole copy; a damaged copy is
    replaced under the lock while the others wait."""
    import multiprocessing

    monkeypatch.setenv("ERE_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "enc"
    shutil.copytree(REPO_ROOT / "fixtures/tiny_bert", folder)
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        results = pool.starmap(_materialise_many, [(str(folder), 5)] * 4)
    paths = {p for result in results for p in result}
    assert len(paths) == 1
    target = paths.pop()
    assert archival.folder_digest(target) == archival.folder_digest(str(folder))
    assert sorted(p.name for p in (tmp_path / "cache/encoders").iterdir()) == sorted([Path(target).name, Path(target).name + ".lock"])


def test_inline_archived_models_copies_the_config_in(tmp_path: Path) -> None:
    pruner_config = {"model": {"type": "span_pruner", "embedder": {"model_name": "enc"}}}
    pruner = fake_archive(tmp_path / "pruner.tar.gz", pruner_config)
    model = {"type": "ner_re", "pruner": {"type": "from_archive", "archive_file": str(pruner)}, "train_pruner": False}
    inlined, sources = archival.inline_archived_models(model, "config.json")
    assert inlined == {"type": "ner_re", "pruner": pruner_config["model"], "train_pruner": False}
    assert sources == [{"key": "pruner", "source_archive": str(pruner), "sha256": archival.sha256_of(str(pruner)),
                        "type": "span_pruner", "encoder": "enc"}]
    assert archival.inline_archived_models({"type": "ner"}, "x") == ({"type": "ner"}, [])
    pruner.unlink()
    with pytest.raises(ConfigurationError, match=f"config.json: pruner is loaded from {pruner}, which is not there"):
        archival.inline_archived_models(model, "config.json")


def test_damaged_archives_are_named(tmp_path: Path) -> None:
    good = fake_archive(tmp_path / "good.tar.gz", {"model": {"type": "ner"}})
    assert archival.complete(str(good))
    assert archival.read_json_member(str(good), "config.json") == {"model": {"type": "ner"}}
    assert archival.read_manifest(str(good)) is None
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(good.read_bytes()[:-20])
    assert not archival.complete(str(cut))
    with pytest.raises(ConfigurationError, match="cut.tar.gz: cannot read the model archive, it is truncated or corrupted"):
        archival.read_manifest(str(cut))
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"not a tar file at all")
    with pytest.raises(ConfigurationError, match="garbage.tar.gz: .*truncated or corrupted"):
        archival.load(str(garbage))
    with pytest.raises(ConfigurationError, match="model archive not found: .*missing.tar.gz"):
        archival.load(str(tmp_path / "missing.tar.gz"))
