"""`allennlp ere-study`: a smoke study on the fixtures (2 seeds, 1 epoch, tiny BERT), resuming,
and the tables built from constructed runs with known figures."""
import argparse
import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from ere_allennlp.metrics.ere_f1 import MACRO_METRICS, METRIC_NAMES, prf
from ere_allennlp.study import Study, StudyError, StudySettings, StudyTables, document_counts
from ere_allennlp import configs
from ere_allennlp.commands.study import RunStudy, settings_from_args
from ere_allennlp.study.settings import SPLITS
from ere_allennlp.study.significance import TRIALS
from tests.conftest import REPO_ROOT
from tests.study.smoke import GROUP, SEEDS, smoke_settings


@pytest.mark.xdist_group(GROUP)
def test_smoke_study_writes_every_table_and_the_plot(smoke_study: Path) -> None:
    tables = smoke_study / "tables"
    rows = {
        2: ["a1 Ei-Ec-Ri-Rc", "a2 Ei-Ec-Re", "a3 Ner-Ri-Rc", "a4 Ner-Re", "a5 Ei-EcRi-Rc", "a6 Ei-EcRe", "a7 NerRi-Rc", "a8 NerRe"],
        3: ["Ri-Rc", "Re"],
        4: [f"{m} {s}" for m in ("Pruner", "Ei") for s in ("train", "dev", "test")],
        5: ["a6 Ei-EcRe", "Ei-NerRe", "a8 NerRe"],
        6: ["Ei-NerRe", "Ei-NerRe*", "a8 NerRe", "NerRe*"],
    }
    for number, expected in rows.items():
        with open(tables / f"table{number}.csv", encoding="utf-8") as handle:
            records = list(csv.DictReader(handle))
        assert [r["row"] for r in records] == expected
        # every figure is a mean over both seeds
        assert all(r[key] == "2" for r in records for key in r if key.endswith(" seeds"))
        markdown = (tables / f"table{number}.md").read_text(encoding="utf-8")
        assert all(f"| {label} |" in markdown for label in expected)
        assert f"### Table {number}" in (tables / "tables.md").read_text(encoding="utf-8")
    png = (tables / "approaches.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
    # The error-propagation table: a row per approach, each a mean over both seeds.
    with open(tables / "error_propagation.csv", encoding="utf-8") as handle:
        records = list(csv.DictReader(handle))
    assert len(records) == len(configs.approaches()) and all(r["share % seeds"] == "2" for r in records)
    assert "### Error propagation" in (tables / "tables.md").read_text(encoding="utf-8")
    results = json.loads((tables / "results.json").read_text(encoding="utf-8"))
    assert set(results["approaches"]) == set(configs.approaches())
    for approach, figures in results["approaches"].items():
        assert set(figures["seeds"]) == {"1", "2"}
        assert set(figures["mean"]) == {f"{m}_{k}" for m in METRIC_NAMES + MACRO_METRICS for k in ("p", "r", "f1")}
    assert set(results["spans"]) == {"pruner", "ei"}
    # 28 pairs of Table 2's approaches x 6 metrics
    assert len(results["significance"]) == 28 * 6
    assert all(0 < row["p_value"] <= 1 for row in results["significance"])


@pytest.mark.xdist_group(GROUP)
def test_smoke_study_metrics_agree_with_the_models_and_the_prediction_files(smoke_study: Path) -> None:
    """The table's figures come from per-document counts; they must equal what the approach
    model's own metric (`allennlp evaluate`) says, and what `ere-compare` reads from the
    written predictions."""
    gold = str(REPO_ROOT / "fixtures/data/test.json")
    for seed in SEEDS:
        for approach in configs.approaches():
            folder = smoke_study / f"seed_{seed}" / "approaches" / approach
            run = json.loads((folder / "metrics_test.json").read_text(encoding="utf-8"))
            for key, value in run["model_metrics"].items():
                if key in run["metrics"]:
                    assert run["metrics"][key] == pytest.approx(value), (approach, seed, key)
            assert set(run["metrics"]) <= set(run["model_metrics"])
            counts = document_counts(str(folder / "predictions_test.jsonl"), gold)
            assert {k: {m: list(v) for m, v in doc.items()} for k, doc in counts.items()} == run["document_counts"]
    # the pruner was trained once per seed and the pruned modules loaded it
    for seed in SEEDS:
        config = json.loads((smoke_study / f"seed_{seed}/scierc_nerre/config.trained.json").read_text(encoding="utf-8"))
        assert config["model"]["pruner"]["type"] == "from_archive"
        assert config["model"]["pruner"]["archive_file"].endswith(f"seed_{seed}/scierc_pruner/model.tar.gz")
        assert config["random_seed"] == seed
        # the archived config holds the pruner itself (portable_archive)
        archived = json.loads((smoke_study / f"seed_{seed}/scierc_nerre/config.json").read_text(encoding="utf-8"))
        assert archived["model"]["pruner"]["type"] == "span_pruner"


@pytest.mark.xdist_group(GROUP)
def test_smoke_study_resumes_and_refuses_other_settings(smoke_study: Path, tmp_path: Path) -> None:
    study = Study(smoke_settings(smoke_study))
    assert study.run(progress=False) == []  # everything is finished
    removed = study.metrics_file(2, "a8")
    before = json.loads(removed.read_text(encoding="utf-8"))
    removed.unlink()
    ran = study.run(progress=False)
    assert [(s.kind, s.seed, s.name) for s in ran] == [("evaluate", 2, "a8")]
    after = json.loads(removed.read_text(encoding="utf-8"))
    assert after["metrics"] == before["metrics"]  # the same trained modules give the same figures
    # An interrupted training (no archive yet, a checkpoint) continues from its checkpoint.
    ner = study.module_dir(1, "ner")
    (ner / "model.tar.gz").unlink()
    epoch_metrics = (ner / "metrics_epoch_0.json").stat().st_mtime_ns
    ran = study.run(progress=False)
    assert [(s.kind, s.seed, s.name) for s in ran] == [("train", 1, "ner")]
    assert (ner / "model.tar.gz").exists()
    assert (ner / "metrics_epoch_0.json").stat().st_mtime_ns == epoch_metrics  # epoch 0 was not redone
    with pytest.raises(StudyError, match="epochs: '1' -> '2'"):
        Study(smoke_settings(smoke_study, epochs="2")).run(progress=False)
    with pytest.raises(StudyError, match="recipe: '' -> 'cpu'"):
        Study(smoke_settings(smoke_study, recipe="cpu")).run(progress=False)


@pytest.mark.xdist_group(GROUP)
def test_stage_overrides_re_evaluate_the_approaches_and_retrain_nothing(smoke_study: Path, tmp_path: Path) -> None:
    """``--stage-overrides``: the approaches whose stages they touch are evaluated again with the
    trained modules decoding otherwise; each metrics file records its overrides; back to none, the
    figures are the first ones again."""
    out = tmp_path / "study"
    shutil.copytree(smoke_study, out)
    before = {a: json.loads(Study(smoke_settings(out)).metrics_file(1, a).read_text(encoding="utf-8")) for a in ("a8", "ei_nerre")}
    trained = {p: p.stat().st_mtime_ns for p in out.glob("seed_*/scierc_*/model.tar.gz")}
    option = {"model.relation_arguments_as_entities": True}
    study = Study(smoke_settings(out, stage_overrides={"nerre": option}))
    ran = study.run(progress=False)
    touched = sorted(a for a, stages in configs.approaches().items() if "nerre" in stages)
    assert touched == ["a8", "ei_nerre"]
    assert sorted((s.kind, s.seed, s.name) for s in ran) == sorted(("evaluate", seed, a) for a in touched for seed in SEEDS)
    a8 = json.loads(study.metrics_file(1, "a8").read_text(encoding="utf-8"))
    assert a8["stage_overrides"] == [option]
    assert json.loads(study.metrics_file(1, "ei_nerre").read_text(encoding="utf-8"))["stage_overrides"] == [{}, option]
    # the rule took effect: every argument of a8's predicted relations is a predicted entity
    for line in study.predictions_file(1, "a8").read_text(encoding="utf-8").splitlines():
        document = json.loads(line)
        for entities, relations in zip(document["predicted_ner"], document["predicted_relations"]):
            spans = {(e[0], e[1]) for e in entities}
            assert all((r[0], r[1]) in spans and (r[2], r[3]) in spans for r in relations)
    assert study.run(progress=False) == []  # the same overrides: nothing to do
    markdown = (StudyTables(study).write() / "tables.md").read_text(encoding="utf-8")
    assert "- a8 NerRe: stages loaded with overrides " + json.dumps([option], sort_keys=True) in markdown
    # one seed evaluated otherwise: the tables say so
    plain = Study(smoke_settings(out, seeds=[1]))
    assert sorted(s.name for s in plain.run(progress=False)) == touched
    markdown = (StudyTables(Study(smoke_settings(out, stage_overrides={"nerre": option}))).write() / "tables.md").read_text(encoding="utf-8")
    assert "- a8 NerRe: **its seeds were evaluated with different stage overrides** (seed 1: none; seed 2: " in markdown
    for approach, record in before.items():
        again = json.loads(plain.metrics_file(1, approach).read_text(encoding="utf-8"))
        assert again["metrics"] == record["metrics"] and again["stage_overrides"] == [{} for _ in again["stage_overrides"]]
    assert trained and {p: p.stat().st_mtime_ns for p in trained} == trained  # nothing retrained


# ---------------------------------------------------------------------------------------------
# Tables from constructed runs (no training): known means, stds and significance marks.


def write_run(study: Study, seed: int, approach: str, per_document: List[Dict[str, List[int]]]) -> None:
    counts = {f"doc{k}": doc for k, doc in enumerate(per_document)}
    metrics = {}
    for name in METRIC_NAMES:
        totals = [sum(doc[name][i] for doc in per_document) for i in range(3)]
        p, r, f1 = prf(*totals)
        metrics.update({f"{name}_p": p, f"{name}_r": r, f"{name}_f1": f1})
    path = study.metrics_file(seed, approach)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"metrics": metrics, "document_counts": counts}), encoding="utf-8")


def documents(tp: int, docs: int = 30) -> List[Dict[str, List[int]]]:
    """`docs` documents of 2 gold items each; the system predicts 2 per document, `tp` right."""
    return [{name: [tp, 2, 2] for name in METRIC_NAMES} for _ in range(docs)]


def test_tables_from_constructed_runs(tmp_path: Path) -> None:
    study = Study(smoke_settings(tmp_path / "study", approaches=["a1", "a4", "a8", "gold_ri_rc", "gold_re"]))
    for seed in SEEDS:
        write_run(study, seed, "a8", documents(2))  # F1 100 on every document
        write_run(study, seed, "a1", documents(0))  # F1 0
        write_run(study, seed, "a4", documents(2, docs=29) + documents(1, docs=1))  # one document worse
        write_run(study, seed, "gold_ri_rc", documents(1))
        write_run(study, seed, "gold_re", documents(1))
    write_run(study, 1, "a4", documents(2))  # seed 1: a4 perfect too -> a4 differs by seed
    (study.module_dir(1, "ei")).mkdir(parents=True)
    (study.module_dir(1, "ei") / "span_metrics.json").write_text(
        json.dumps({"train": {"p": 0.5, "r": 0.25, "f1": 1 / 3}}), encoding="utf-8"
    )
    # NerRe's entity flips under mean field (diagnostic_metrics), seeds 1 and 2; EcRe none.
    for seed, (wrong, right) in zip(SEEDS, ((2.0, 4.0), (3.0, 8.0))):
        study.module_dir(seed, "nerre").mkdir(parents=True, exist_ok=True)
        (study.module_dir(seed, "nerre") / "metrics.json").write_text(json.dumps(
            {"best_validation_mf_to_wrong_t1": wrong, "best_validation_mf_to_right_t1": right,
             "best_validation_mf_to_wrong_t2": 0.5, "best_validation_mf_to_right_t2": 0.25,
             "best_validation_ent_c_f1": 0.5}), encoding="utf-8")
    out = StudyTables(study).write()
    mean_field = list(csv.DictReader(open(out / "mean_field.csv", encoding="utf-8")))
    assert [r["row"] for r in mean_field] == ["nerre"]
    assert float(mean_field[0]["to wrong t1 mean"]) == pytest.approx(2.5)
    assert float(mean_field[0]["to right t1 mean"]) == pytest.approx(6.0)
    assert float(mean_field[0]["to right t2 mean"]) == pytest.approx(0.25)
    assert "### Mean field" in (out / "tables.md").read_text(encoding="utf-8")
    table2 = {row["row"]: row for row in csv.DictReader(open(out / "table2.csv", encoding="utf-8"))}
    assert list(table2) == ["a1 Ei-Ec-Ri-Rc", "a4 Ner-Re", "a8 NerRe"]  # only the approaches run
    assert float(table2["a8 NerRe"]["Rel+-C mean"]) == pytest.approx(100.0)
    assert float(table2["a1 Ei-Ec-Ri-Rc"]["Rel+-C mean"]) == pytest.approx(0.0)
    # a4: seed 1 F1 100, seed 2 F1 59/60 -> mean and sample std of the two
    seed2 = 100 * 59 / 60
    assert float(table2["a4 Ner-Re"]["Ent-C mean"]) == pytest.approx((100 + seed2) / 2, abs=1e-3)
    assert float(table2["a4 Ner-Re"]["Ent-C std"]) == pytest.approx(abs(100 - seed2) / 2 ** 0.5, abs=1e-3)
    # a1 is worse than a8 on all 60 (seed, document) units: significant; a4 on one unit: not
    assert table2["a1 Ei-Ec-Ri-Rc"]["Ent-C significantly worse"] == "True"
    assert table2["a4 Ner-Re"]["Ent-C significantly worse"] == "False"
    markdown = (out / "table2.md").read_text(encoding="utf-8")
    assert "| a8 NerRe | **100.00 ± 0.00** |" in markdown
    assert "| a1 Ei-Ec-Ri-Rc | 0.00 ± 0.00* |" in markdown
    # Table 3: equal systems -> both best, p = 1
    assert "p-value of the F1 difference: 1.0000" in (out / "table3.md").read_text(encoding="utf-8")
    # Table 4 lists what exists: Ei on train, one seed
    table4 = list(csv.DictReader(open(out / "table4.csv", encoding="utf-8")))
    assert [(r["row"], r["P mean"], r["P seeds"]) for r in table4] == [("Ei train", "50.0000", "1")]
    significance = list(csv.DictReader(open(out / "significance.csv", encoding="utf-8")))
    a1_a8 = [r for r in significance if (r["a"], r["b"]) == ("a1", "a8") and r["metric"] == "Ent-C"][0]
    assert float(a1_a8["p_value"]) < 0.01
    assert (out / "approaches.png").read_bytes().startswith(b"\x89PNG")


def test_macro_table_shows_micro_and_macro_of_the_runs_that_have_them(tmp_path: Path) -> None:
    study = Study(smoke_settings(tmp_path / "study", approaches=["a4", "a8"]))
    for seed, macro in zip(SEEDS, (0.5, 0.7)):
        write_run(study, seed, "a4", documents(1))  # micro F1 50 on every metric
        path = study.metrics_file(seed, "a4")
        run = json.loads(path.read_text(encoding="utf-8"))
        run["metrics"].update({f"{name}_macro_f1": macro for name in ("ent_c", "rel_c", "strict_rel_c")})
        path.write_text(json.dumps(run), encoding="utf-8")
        write_run(study, seed, "a8", documents(2))  # evaluated before macro F1: not in the table
    out = StudyTables(study).write()
    rows = {row["row"]: row for row in csv.DictReader(open(out / "macro.csv", encoding="utf-8"))}
    assert list(rows) == ["a4 Ner-Re"]
    assert float(rows["a4 Ner-Re"]["Rel+-C mean"]) == pytest.approx(50.0)
    assert float(rows["a4 Ner-Re"]["Rel+-C macro mean"]) == pytest.approx(60.0)
    assert float(rows["a4 Ner-Re"]["Ent-C macro std"]) == pytest.approx(20 / 2 ** 0.5, abs=1e-3)
    assert "### Macro F1" in (out / "tables.md").read_text(encoding="utf-8")


def test_bad_settings_are_refused_with_what_to_fix(tmp_path: Path) -> None:
    with pytest.raises(StudyError, match="unknown approach"):
        Study(smoke_settings(tmp_path, approaches=["a9"]))
    with pytest.raises(StudyError, match=r"missing data file .*nowhere/train\.json"):
        Study(smoke_settings(tmp_path, data_dir=str(tmp_path / "nowhere")))
    with pytest.raises(StudyError, match="unknown module"):
        Study(smoke_settings(tmp_path, module_overrides={"prunr": {}}))
    with pytest.raises(StudyError, match=r"stage_overrides: unknown module\(s\) \['nere'\]"):
        Study(smoke_settings(tmp_path, stage_overrides={"nere": {}}))
    with pytest.raises(StudyError, match=r"unknown recipe 'gpu'; choose from \['cpu'\]"):
        Study(smoke_settings(tmp_path, recipe="gpu"))
    Study(smoke_settings(tmp_path / "cpu", recipe="cpu"))  # a known recipe is accepted
    settings = smoke_settings(tmp_path)
    assert settings.modules() == configs.module_order()  # all approaches need all modules
    assert smoke_settings(tmp_path, approaches=["a4"]).modules() == ["pruner", "ei", "ner", "re"]


def test_cli_rejects_malformed_module_overrides(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "allennlp", "ere-study", "--data-dir", "fixtures/data", "-s", str(tmp_path / "s"),
         "--module-overrides", "{not json"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode != 0
    assert "--module-overrides is not JSON" in result.stderr
    assert not (tmp_path / "s").exists()  # nothing written
    parser = argparse.ArgumentParser(prog="allennlp")
    RunStudy().add_subparser(parser.add_subparsers())
    with pytest.raises(StudyError, match="--stage-overrides must be a JSON object"):
        settings_from_args(parser.parse_args(["ere-study", "-s", "out", "--stage-overrides", '{"nerre": 1}']))
    given = settings_from_args(parser.parse_args(["ere-study", "-s", "out", "--stage-overrides", '{"nerre": {"model.x": 1}}']))
    assert given.stage_overrides == {"nerre": {"model.x": 1}}


def test_study_defaults_read_the_config_settings_and_the_cli_reads_them() -> None:
    """`StudySettings` defaults to the configs' settings where they mean the same
    (training_configs/lib/settings.libsonnet) and to the permutation test's trials; `ere-study`'s
    options default to `StudySettings`' and list the configs' datasets and the study's splits."""
    defaults = configs.setting_defaults()
    settings = StudySettings(output_dir="out")
    assert (settings.batch_size, settings.max_length, settings.cuda_device) == (
        defaults["batch_size"], defaults["max_length"], defaults["cuda_device"])
    assert settings.trials == TRIALS and settings.dataset in configs.datasets()
    parser = argparse.ArgumentParser(prog="allennlp")
    subparser = RunStudy().add_subparser(parser.add_subparsers())
    assert settings_from_args(parser.parse_args(["ere-study", "-s", "out"])) == settings
    choices = {action.dest: action.choices for action in subparser._actions}
    assert choices["dataset"] == configs.datasets() and choices["eval_split"] == list(SPLITS)
    assert "sentences per batch (default 20)" in " ".join(subparser.format_help().split())
