"""Approaches: trained tiny modules chained by cascade decoding.

The ``runs`` fixture (``tests/conftest.py``) trains each module once per session; the helpers
live in ``tests/models/module_runs.py`` and are re-exported here.
"""
import itertools
import json
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


def test_stage_overrides_reach_the_stage_and_stay_in_the_built_archive(runs: ModuleRuns, monkeypatch, tmp_path) -> None:
    """``model.stage_overrides``: one dict of AllenNLP overrides per stage, applied when the stage is
    loaded (a8's NerRe decoded with options it was not trained with); ``allennlp ere-approach`` keeps
    them in the archive's config, so loading the archive applies them again, and ``ere-info`` says so."""
    from allennlp.common.checks import ConfigurationError

    from ere_allennlp.approach_archive import build_approach
    from ere_allennlp.commands.info import describe
    from tests.conftest import REPO_ROOT

    runs.ensure(["nerre"])
    runs.patch_env(monkeypatch)
    config = str(REPO_ROOT / "training_configs/approaches/scierc_a8.jsonnet")
    plain = load_archive(runs.build("a8", monkeypatch, tmp_path / "plain")).model
    assert not plain._stages[0].relation_arguments_as_entities
    option = {"model.relation_arguments_as_entities": True, "model.relation_arguments_joint": True}
    path = build_approach(config, str(tmp_path / "a8"), overrides=json.dumps({"model.stage_overrides": [option]}))
    stage = load_archive(path).model._stages[0]
    assert stage.relation_arguments_as_entities and stage.relation_arguments_joint
    # the weights are the trained ones: the override changes decoding, not the model
    for (name, value), (_, trained) in zip(stage.state_dict().items(), plain._stages[0].state_dict().items()):
        assert torch.equal(value, trained), name
    assert archival.read_json_member(path, "config.json")["model"]["stage_overrides"] == [option]
    assert "loaded with overrides: " + json.dumps(option, sort_keys=True) in describe(path)
    # with the rule, every argument of a predicted relation is a predicted entity
    for output in evaluate(load_archive(path).model)["_outputs"]:
        spans = {(e[0], e[1]) for e in output["predicted_ner"]}
        assert all((r[0], r[1]) in spans and (r[2], r[3]) in spans for r in output["predicted_relations"])
    with pytest.raises(ConfigurationError, match="one dict per stage"):
        build_approach(config, str(tmp_path / "bad"), overrides=json.dumps({"model.stage_overrides": [{}, {}]}))
    assert not (tmp_path / "bad" / "model.tar.gz").exists()
