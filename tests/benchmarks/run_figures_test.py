"""benchmarks/run_figures.py: a row is the mean ± sample std of its runs' best-epoch figures, a missing
run is shown and left out, and a metrics.json that is not an ERE module's is named."""
import importlib.util
import json
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT


def load_script():
    spec = importlib.util.spec_from_file_location("run_figures", REPO_ROOT / "benchmarks/run_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_run(folder: Path, ent: float, rel: float, strict: float) -> Path:
    folder.mkdir(parents=True)
    metrics = {"best_epoch": 4, "best_validation_ent_c_f1": ent, "best_validation_rel_c_f1": rel,
               "best_validation_strict_rel_c_f1": strict, "validation_ent_c_f1": 0.0}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


def test_rows_average_the_best_epoch_and_show_missing_runs(tmp_path: Path, capsys) -> None:
    a = write_run(tmp_path / "s1", 0.60, 0.20, 0.10)
    b = write_run(tmp_path / "s2", 0.64, 0.30, 0.20)
    load_script().main(["--row", "joint", str(a), str(b), str(tmp_path / "s3"), "--row", "one", str(a)])
    lines = capsys.readouterr().out.splitlines()
    assert lines[2] == ("| joint (2 runs) | 62.00 ± 2.83 | 25.00 ± 7.07 | 15.00 ± 7.07 "
                        "| 60.00 / 64.00 / - | 10.00 / 20.00 / - |")
    assert lines[3] == "| one (1 runs) | 60.00 ± 0.00 | 20.00 ± 0.00 | 10.00 ± 0.00 | 60.00 | 10.00 |"


def test_a_metrics_file_without_the_ere_figures_is_named(tmp_path: Path) -> None:
    run = tmp_path / "other"
    run.mkdir()
    (run / "metrics.json").write_text(json.dumps({"best_validation_accuracy": 0.9}))
    with pytest.raises(ValueError, match=r"other/metrics.json: no best_validation_ent_c_f1"):
        load_script().run_figures(run)
