"""Every approach of training_configs/lib/approach.libsonnet, built from tiny trained modules.

This checks the wiring of each chain, not its accuracy: the modules are trained for one epoch
(shared through the session fixture ``runs``), and after one epoch they predict nothing. So each
approach runs twice: as trained, and "activated", with forward hooks on the stages' final scorers
that add seeded noise and then keep a fixed share of the spans (pairs), so that every stage
passes a non-empty, proper subset of its candidates downstream. The chain code itself (candidate
building, Rc's pair mask, the final filtering, the metrics) runs unchanged.
"""
import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Set, Tuple

import pytest
import torch

from ere_allennlp import archival
from ere_allennlp import configs
from ere_allennlp.common import Relation
from ere_allennlp.dataset_readers.ere_json import parse_document
from ere_allennlp.models.approach import Approach
from ere_allennlp.models.span_model import SpanModel, StagePrediction
from tests.conftest import REPO_ROOT
from tests.models.module_runs import METRIC_KEYS, ModuleRuns, evaluate

# approach name -> its stages' module config names (ei, ecri, nerre_star, ...)
STAGES: Dict[str, List[str]] = configs.approaches()
# module config name -> registered model type (the same name, but nerre_star -> nerre)
MODULE_TYPES: Dict[str, str] = {name: spec["type"] for name, spec in configs.modules().items()}
ENTITY_MODULES = {name for name, spec in configs.modules().items() if spec["entity_labels"] and name != "pruner"}
PRUNED_APPROACHES = {"a7", "a8", "nerre_star"}  # a first stage with a span pruner
TEST_FILE = "fixtures/data/test.json"


def gold_documents() -> List[Any]:
    with open(REPO_ROOT / TEST_FILE, encoding="utf-8") as lines:
        return [parse_document(json.loads(line), f"{TEST_FILE}:{n}") for n, line in enumerate(lines, 1) if line.strip()]


# ---------------------------------------------------------------- activation
def _keep_share(kind: str, share: float, generator: torch.Generator) -> Callable:
    """A forward hook for a stage's final scorer: seeded noise, then a threshold that lets about
    `share` of the rows through (identify: score > 0; classify_null: a gold label beats null)."""

    def hook(module: torch.nn.Module, inputs: Any, scores: torch.Tensor) -> torch.Tensor:
        scores = scores + 10.0 * torch.randn(scores.shape, generator=generator).to(scores.device)
        if kind == "identify":
            return scores - torch.quantile(scores.flatten(), 1.0 - share)
        if kind == "classify_null":
            best = scores[..., 1:].max(dim=-1).values
            scores[..., 0] = torch.quantile(best.flatten(), 1.0 - share)
        return scores  # classify: always labels every candidate

    return hook


def activate(model: Approach, entities: float = 0.5, relations: float = 0.25, seed: int = 0) -> None:
    generator = torch.Generator().manual_seed(seed)
    for stage in model._stages:
        if stage.entity_head is not None:
            stage._entity_scorer.register_forward_hook(_keep_share(stage.entity_head.kind, entities, generator))
        if stage.relation_head is not None:
            stage._relation_scorer.register_forward_hook(_keep_share(stage.relation_head.kind, relations, generator))


# ---------------------------------------------------------------- checks
def expected_metric_keys(name: str, model: Approach) -> Set[str]:
    keys = set(METRIC_KEYS)
    for k, module in enumerate(STAGES[name]):
        if module in ENTITY_MODULES:
            keys |= {f"s{k + 1}_{MODULE_TYPES[module]}_ent_i_{m}" for m in ("p", "r", "f1")}
    if name in PRUNED_APPROACHES:
        keys |= {f"s1_pruner_{m}" for m in ("p", "r", "f1")}
    return keys


def check_run(name: str, model: Approach, metrics: Dict[str, Any], outputs: List[Dict[str, Any]]) -> None:
    assert set(metrics) == expected_metric_keys(name, model)
    first = STAGES[name][0]
    if not name.startswith("gold_"):
        assert first in ENTITY_MODULES
        assert {f"s1_{MODULE_TYPES[first]}_ent_i_{m}" for m in ("p", "r", "f1")} <= set(metrics)
    assert all(0.0 <= v <= 1.0 for v in metrics.values())
    documents = gold_documents()
    assert len(outputs) == sum(len(d.sentences) for d in documents)  # one output per sentence
    for o in outputs:
        entities = [(e[0], e[1]) for e in o["predicted_ner"]]
        assert len(set(entities)) == len(entities)
        for r in o["predicted_relations"]:
            assert (r[0], r[1]) in entities and (r[2], r[3]) in entities, (name, r, entities)
            assert (r[0], r[1]) != (r[2], r[3])
    if name.startswith("gold_"):
        assert metrics["ent_c_f1"] == pytest.approx(1.0)
        gold = [sorted(tuple(e) for e in sentence) for d in documents for sentence in d.entities]
        assert [sorted((e[0], e[1], e[2]) for e in o["predicted_ner"]) for o in outputs] == gold


def test_every_approach_is_listed() -> None:
    assert set(STAGES) == {
        "a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8",
        "ei_nerre", "ei_nerre_star", "nerre_star", "gold_ri_rc", "gold_re",
    }
    for name in STAGES:
        for dataset in ("scierc", "ace05", "conll04"):
            assert (REPO_ROOT / f"training_configs/approaches/{dataset}_{name}.jsonnet").exists()


@pytest.mark.parametrize("name", sorted(STAGES))
def test_approach_chain(name: str, runs: ModuleRuns, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    runs.ensure(STAGES[name])
    model = runs.approach(name, monkeypatch, tmp_path)
    assert model.stage_names == [MODULE_TYPES[m] for m in STAGES[name]]
    manifest = archival.read_manifest(str(tmp_path / name / "model.tar.gz"))
    assert manifest is not None
    assert [s["source_archive"] for s in manifest["stages"]] == [str(runs.archive(m)) for m in STAGES[name]]
    assert model.gold_entities == name.startswith("gold_")

    metrics = evaluate(model, TEST_FILE)
    outputs = metrics.pop("_outputs")
    check_run(name, model, metrics, outputs)

    activate(model)
    metrics = evaluate(model, TEST_FILE)
    outputs = metrics.pop("_outputs")
    check_run(name, model, metrics, outputs)
    # activated, every chain predicts entities and relations (so the checks above are not vacuous)
    assert sum(len(o["predicted_ner"]) for o in outputs) > 0
    assert sum(len(o["predicted_relations"]) for o in outputs) > 0, name


@pytest.mark.parametrize("name", ["a1", "a3"])
def test_rc_labels_exactly_the_upstream_pairs(
    name: str, runs: ModuleRuns, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    runs.ensure(STAGES[name])
    model = runs.approach(name, monkeypatch, tmp_path)
    rc = model.stage_names.index("rc")
    assert model.stage_names[rc - 1] == "ri"
    activate(model)
    Pair = Tuple[Tuple[int, int], Tuple[int, int]]

    def pairs(relations: List[Tuple[Relation, float]]) -> Set[Pair]:
        return {((r.head_start, r.head_end), (r.tail_start, r.tail_end)) for r, _ in relations}

    upstream: List[Set[Pair]] = []  # per sentence: the pairs Ri found related
    masked: List[Set[Pair]] = []  # per sentence: the pairs Rc was allowed to label
    labelled: List[Set[Pair]] = []  # per sentence: the pairs Rc labelled
    candidates: List[List[Tuple[int, int]]] = []  # per sentence: Rc's candidate spans

    def spy(stage: SpanModel, record: Callable[..., None]) -> None:
        original = stage.predict

        def predict(tokens, spans, pair_mask=None, use_pruner=True) -> StagePrediction:
            prediction = original(tokens, spans, pair_mask, use_pruner)
            record(spans, pair_mask, prediction)
            return prediction

        monkeypatch.setattr(stage, "predict", predict)

    def record_ri(spans, pair_mask, prediction: StagePrediction) -> None:
        upstream.extend(pairs(s) for s in prediction.relations)

    def record_rc(spans, pair_mask, prediction: StagePrediction) -> None:
        assert pair_mask is not None and pair_mask.shape == spans.shape[:2] + spans.shape[1:2]
        for row, mask in zip(spans.tolist(), pair_mask.tolist()):
            real = [tuple(s) for s in row if s[0] >= 0]
            candidates.append(real)
            masked.append({(tuple(row[i]), tuple(row[j])) for i, line in enumerate(mask) for j, on in enumerate(line) if on})
            assert all(row[i][0] >= 0 for i, line in enumerate(mask) for on in line if on)
        labelled.extend(pairs(s) for s in prediction.relations)

    spy(model._stages[rc - 1], record_ri)
    spy(model._stages[rc], record_rc)
    metrics = evaluate(model, TEST_FILE)
    outputs = metrics.pop("_outputs")

    assert len(upstream) == len(masked) == len(labelled) == len(outputs)
    assert masked == upstream
    assert labelled == upstream  # Rc classifies (no null): every given pair gets a label
    assert [{((r[0], r[1]), (r[2], r[3])) for r in o["predicted_relations"]} for o in outputs] == upstream
    # not vacuous: Ri found pairs, and in some sentence only some of all ordered pairs
    assert sum(len(p) for p in upstream) > 0
    assert any(0 < len(p) < len(c) * (len(c) - 1) for p, c in zip(upstream, candidates))
