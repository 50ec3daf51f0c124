"""Approaches: trained tiny modules chained by cascade decoding.

The ``runs`` fixture (``tests/conftest.py``) trains each module once per session; the helpers
live in ``tests/models/module_runs.py`` and are re-exported here.
"""
import itertools
from typing import List

import pytest
import torch
from allennlp.models.archival import load_archive

from ere_allennlp import archival
from ere_allennlp.models.approach import Approach
from ere_allennlp.models.span_model import StagePrediction
from tests.conftest import DeviceLog
from tests.models.fixture_models import unregistered_tensors
from tests.models.module_runs import METRIC_KEYS, ModuleRuns, evaluate

__all__ = ["METRIC_KEYS", "ModuleRuns", "evaluate"]


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


def test_stages_load_on_the_device_the_archive_is_loaded_on(
    runs: ModuleRuns, monkeypatch, tmp_path, pretend_cuda: DeviceLog
) -> None:
    """``load_archive(approach, cuda_device=0)`` (what ``allennlp evaluate / predict --cuda-device 0``
    and ``Extractor.from_archive(cuda_device=0)`` do) loads every stage with ``cuda_device=0``
    (they were loaded on the CPU, then moved with the approach); the archive names no device."""
    runs.ensure(["ner", "re"])
    path = runs.build("a4", monkeypatch, tmp_path)
    assert "cuda_device" not in archival.read_json_member(path, "config.json")["model"]
    pretend_cuda.loads.clear()
    load_archive(path, cuda_device=0)
    assert pretend_cuda.loads == [("ere_approach", 0), ("ner", 0), ("re", 0)]
    assert {("Approach", 0), ("Ner", 0), ("Re", 0)} <= set(pretend_cuda.moved)
    pretend_cuda.loads.clear()
    load_archive(path)
    assert pretend_cuda.loads == [("ere_approach", -1), ("ner", -1), ("re", -1)]


def test_every_tensor_of_an_approach_moves_with_it(runs: ModuleRuns, monkeypatch, tmp_path) -> None:
    """a8 (NerRe with its pruner): every parameter and buffer of every stage is registered under
    the approach, so ``.cuda()`` moves the stages and their pruner; after ``.to(torch.float64)``
    nothing is left in float32 and the chain runs on float64, with the same predictions."""
    runs.ensure(["nerre"])
    model = runs.approach("a8", monkeypatch, tmp_path)
    float32 = evaluate(model)
    assert unregistered_tensors(model) == ["_stages.0._pruner._folded[1]"]  # a cache, recomputed (tests/models/)
    model.to(torch.float64)
    floating = [t for t in itertools.chain(model.parameters(), model.buffers()) if t.is_floating_point()]
    assert any(name.startswith("_stages.0._pruner.") for name, _ in model.named_parameters())
    assert floating and {t.dtype for t in floating} == {torch.float64}
    float64 = evaluate(model)

    def decisions(metrics):
        return [([e[:3] for e in o["predicted_ner"]], [r[:5] for r in o["predicted_relations"]]) for o in metrics["_outputs"]]

    assert decisions(float64) == decisions(float32)
