"""Approaches: trained tiny modules chained by cascade decoding."""
import json
from pathlib import Path
from typing import Dict, List

import pytest
import torch
from allennlp.commands.train import train_model_from_file
from allennlp.data import Batch
from allennlp.models.archival import load_archive

from ere_allennlp.commands.build_approach import build_approach
from ere_allennlp.common import Entity
from ere_allennlp.dataset_readers.ere_json import EreJsonReader
from ere_allennlp.models.approach import Approach
from ere_allennlp.models.span_model import StagePrediction
from tests.conftest import REPO_ROOT, TINY_ENV

METRIC_KEYS = {f"{m}_{k}" for m in ("ent_i", "ent_c", "rel_i", "rel_c", "strict_rel_i", "strict_rel_c") for k in ("p", "r", "f1")}


class ModuleRuns:
    """Trains each tiny module once per test session, on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = dict(TINY_ENV, ERE_ENCODER=str(REPO_ROOT / "fixtures/tiny_bert"),
                        ERE_DATA_DIR=str(REPO_ROOT / "fixtures/data"), ERE_RUNS=str(root), ERE_EPOCHS="3")

    def patch_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name, value in self.env.items():
            monkeypatch.setenv(name, value)

    def ensure(self, modules: List[str]) -> None:
        with pytest.MonkeyPatch.context() as monkeypatch:
            self.patch_env(monkeypatch)
            for module in modules:
                out = self.root / f"scierc_{module}"
                if not (out / "model.tar.gz").exists():
                    train_model_from_file(str(REPO_ROOT / f"training_configs/scierc_{module}.jsonnet"), str(out), force=True)

    def approach(self, name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Approach:
        self.patch_env(monkeypatch)
        path = build_approach(str(REPO_ROOT / f"training_configs/approaches/scierc_{name}.jsonnet"), str(tmp_path / name))
        model = load_archive(path).model
        assert isinstance(model, Approach)
        return model


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> ModuleRuns:
    return ModuleRuns(tmp_path_factory.mktemp("module_runs"))


def evaluate(model: Approach, path: str = "fixtures/data/test.json") -> Dict[str, float]:
    reader = EreJsonReader(model_name=model.encoder_name, max_length=512, max_span_width=12, entity_labels=False)
    instances = list(reader.read(str(REPO_ROOT / path)))
    model.eval()
    outputs = []
    with torch.no_grad():
        for start in range(0, len(instances), 4):
            outputs.extend(model.forward_on_instances(instances[start : start + 4]))
    metrics = model.get_metrics(reset=True)
    metrics["_outputs"] = outputs  # type: ignore
    return metrics


def test_a4_runs_ner_then_re_on_predicted_entities(runs: ModuleRuns, monkeypatch, tmp_path) -> None:
    runs.ensure(["ner", "re"])
    model = runs.approach("a4", monkeypatch, tmp_path)
    assert model.stage_names == ["ner", "re"]
    seen: List[List[List[tuple]]] = []
    re_stage = model._stages[1]
    original = re_stage.predict

    def spy(tokens, spans, pair_mask=None, use_pruner=True):
        seen.append([[tuple(s) for s in row if s[0] >= 0] for row in spans.tolist()])
        return original(tokens, spans, pair_mask, use_pruner)

    monkeypatch.setattr(re_stage, "predict", spy)
    metrics = evaluate(model)
    assert METRIC_KEYS <= set(metrics)
    assert {"s1_ner_ent_i_p", "s1_ner_ent_i_r", "s1_ner_ent_i_f1"} <= set(metrics)
    outputs = metrics["_outputs"]
    # Re's candidates are exactly the entities Ner predicted, sentence by sentence.
    flat_seen = [row for batch in seen for row in batch]
    assert flat_seen == [sorted((e[0], e[1]) for e in o["predicted_ner"]) or [] for o in outputs]
    # every predicted relation joins two predicted entities
    for o in outputs:
        spans = {(e[0], e[1]) for e in o["predicted_ner"]}
        for r in o["predicted_relations"]:
            assert (r[0], r[1]) in spans and (r[2], r[3]) in spans


def test_cascade_with_empty_upstream_gives_no_relations(runs: ModuleRuns, monkeypatch, tmp_path) -> None:
    """If Ner finds nothing, Re sees no candidates: no gold leaks into the chain."""
    runs.ensure(["ner", "re"])
    model = runs.approach("a4", monkeypatch, tmp_path)
    ner = model._stages[0]

    def nothing(tokens, spans, pair_mask=None, use_pruner=True):
        batch = spans.size(0)
        return StagePrediction([[] for _ in range(batch)], [[] for _ in range(batch)], None)

    monkeypatch.setattr(ner, "predict", nothing)
    metrics = evaluate(model)
    assert all(o["predicted_relations"] == [] and o["predicted_ner"] == [] for o in metrics["_outputs"])
    assert metrics["rel_c_r"] == 0.0 and metrics["ent_c_r"] == 0.0


def test_gold_entity_run_gives_perfect_entity_scores(runs: ModuleRuns, monkeypatch, tmp_path) -> None:
    runs.ensure(["re"])
    model = runs.approach("gold_re", monkeypatch, tmp_path)
    metrics = evaluate(model)
    assert metrics["ent_c_f1"] == pytest.approx(1.0)
    # with gold entities, strict relation scores equal the plain ones
    assert metrics["strict_rel_c_f1"] == pytest.approx(metrics["rel_c_f1"])


def test_approach_rejects_mismatched_or_missing_stages(runs: ModuleRuns, monkeypatch, tmp_path) -> None:
    from allennlp.common.checks import ConfigurationError

    runs.ensure(["re"])
    runs.patch_env(monkeypatch)
    with pytest.raises(ConfigurationError, match="not found"):
        Approach(vocab=None, stages=[str(tmp_path / "missing.tar.gz")])  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="first stage"):
        Approach(vocab=None, stages=[str(runs.root / "scierc_re/model.tar.gz")])  # type: ignore[arg-type]
