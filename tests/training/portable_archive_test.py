"""The portable_archive callback: the frozen pruner inline in config.json, a manifest, only after success."""
import json
import tarfile
from pathlib import Path

from ere_allennlp import archival
from ere_allennlp.training.portable_archive import PortableArchiveCallback


def serialization_dir(tmp_path: Path) -> Path:
    pruner_folder = tmp_path / "pruner"
    pruner_folder.mkdir()
    (pruner_folder / "config.json").write_text(json.dumps({"model": {"type": "span_pruner", "embedder": {"model_name": "enc"}}}))
    with tarfile.open(pruner_folder / "model.tar.gz", "w:gz") as tar:
        tar.add(pruner_folder / "config.json", arcname="config.json")
    run = tmp_path / "run"
    run.mkdir()
    config = {
        "train_data_path": "train.json",
        "validation_data_path": "dev.json",
        "model": {"type": "ner_re", "embedder": {"model_name": "enc"},
                  "pruner": {"type": "from_archive", "archive_file": str(pruner_folder / "model.tar.gz")}},
    }
    (run / "config.json").write_text(json.dumps(config))
    return run


def test_nothing_changes_when_training_failed(tmp_path: Path) -> None:
    run = serialization_dir(tmp_path)
    before = (run / "config.json").read_text()
    PortableArchiveCallback(str(run)).on_end(None, metrics=None)  # type: ignore[arg-type]
    assert (run / "config.json").read_text() == before
    assert not (run / archival.MANIFEST_NAME).exists()
    PortableArchiveCallback(str(run)).on_end(None, metrics={"best_epoch": 0}, is_primary=False)  # type: ignore[arg-type]
    assert (run / "config.json").read_text() == before


def test_pruner_inline_and_manifest_after_success(tmp_path: Path) -> None:
    run = serialization_dir(tmp_path)
    trained = json.loads((run / "config.json").read_text())
    metrics = {"best_epoch": 2, "best_validation_strict_rel_c_f1": 0.25, "validation_loss": 3.0}
    PortableArchiveCallback(str(run)).on_end(None, metrics=metrics)  # type: ignore[arg-type]
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["pruner"] == {"type": "span_pruner", "embedder": {"model_name": "enc"}}
    assert json.loads((run / "config.trained.json").read_text()) == trained
    manifest = json.loads((run / archival.MANIFEST_NAME).read_text())
    assert manifest["kind"] == "module" and manifest["module"] == "ner_re" and manifest["encoder"] == "enc"
    assert manifest["train_data_path"] == "train.json" and manifest["validation_data_path"] == "dev.json"
    assert manifest["best_epoch"] == 2 and manifest["best_validation_metrics"] == {"strict_rel_c_f1": 0.25}
    pruner = tmp_path / "pruner" / "model.tar.gz"
    assert manifest["pruner"]["source_archive"] == str(pruner)
    assert manifest["pruner"]["sha256"] == archival.sha256_of(str(pruner))
