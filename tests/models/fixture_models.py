"""Untrained modules and the span pruner built from the real training configs on the tiny BERT,
with the fixture corpus indexed for them (no training, no archive): shared by
``tests/models/joint_options_test.py``, ``tests/models/span_model_test.py``,
``tests/models/span_pruner_test.py`` and ``benchmarks/autocast.py``.

`autocast_agreement` runs a model in float32 and under autocast on the same batch and measures
how far the probabilities move and how many decisions stay the same; `unregistered_tensors`
finds tensors a model holds where ``.cuda()`` / ``.to()`` would not move them.
"""
from typing import Any, Dict, List, Optional, Tuple

import torch
from allennlp.common import Params
from allennlp.data import Batch, DatasetReader, Instance, Vocabulary
from allennlp.models import Model

from ere_allennlp import configs
from ere_allennlp.models.span_model import SpanModel
from ere_allennlp.models.span_pruner import SpanPruner
from tests.conftest import REPO_ROOT

# Autocast in bfloat16 on the CPU against float32 (a GPU with `use_amp` runs float16 autocast, which
# was never run here: docs/reference.md, "GPUs"). Measured on the fixture modules fitted for 20
# float32 Adam steps (`fit`; `benchmarks/autocast.py` prints the table): the largest change of an
# entity or relation probability was 0.0050 (Rc; at most 0.0025 for the others, 0.0003 untrained,
# 0.0113 after 40 steps), of a loss 0.04 %, and every decision stayed the same (98.9 % untrained).
# The pruner: 0.0011 (0.0003 untrained), 0.04 %, every kept span (55 of 58 untrained).
AUTOCAST_PROBABILITY_TOLERANCE = 0.02
AUTOCAST_LOSS_TOLERANCE = 0.01  # relative (plus 1e-3 absolute: fitted losses are near 0)
AUTOCAST_SAME_DECISIONS = 0.95  # share of the decisions (a label or none; kept spans) that stay the same

SMALL_PRUNER = {"biaffine_dim": 32, "biaffine_projection_dim": 16, "hidden_dim": 32}
# The settings the configs are read with: the tiny BERT (no environment variable is read).
SETTINGS = {"encoder": str(REPO_ROOT / "fixtures/tiny_bert"), "data_dir": str(REPO_ROOT / "fixtures/data")}


def build(module: str, model_overrides: Optional[Dict[str, Any]] = None, split: str = "train") -> Tuple[Model, List[Instance]]:
    """The model of training_configs/scierc_<module>.jsonnet (with `model_overrides`; a pruner
    shrunk to `SMALL_PRUNER`), its vocabulary from the fixture split, and that split's instances,
    indexed."""
    params = configs.params_from_file(configs.module_config("scierc", module), SETTINGS)
    reader = DatasetReader.from_params(params.pop("dataset_reader"))
    instances = list(reader.read(str(REPO_ROOT / f"fixtures/data/{split}.json")))
    vocab = Vocabulary.from_instances(instances)
    for instance in instances:
        instance.index_fields(vocab)
    model_params = params.pop("model").as_dict()
    if "pruner" in model_params:
        model_params["pruner"].update(SMALL_PRUNER)
    elif model_params["type"] == "span_pruner":
        model_params.update(SMALL_PRUNER)
    model_params.update(model_overrides or {})
    torch.manual_seed(0)
    model = Model.from_params(vocab=vocab, params=Params(model_params))
    return model, instances


def tensors(instances: List[Instance]) -> Dict[str, Any]:
    return Batch(instances).as_tensor_dict()


def fit(model: Model, batch: Dict[str, Any], steps: int, lr: float = 3e-3) -> None:
    """`steps` float32 Adam steps on `batch`, so that the probabilities are no longer near-uniform."""
    optimiser = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    for _ in range(steps):
        optimiser.zero_grad()
        model(**batch)["loss"].backward()
        optimiser.step()
    model.eval()


def autocast_agreement(
    model: Model, batch: Dict[str, Any], device_type: str = "cpu", dtype: torch.dtype = torch.bfloat16
) -> Dict[str, Any]:
    """`model` (eval mode) on `batch` in float32 and under ``torch.autocast(device_type, dtype)``:

    - ``loss``: (float32, autocast) loss of ``forward``;
    - ``finite``: whether the loss and every log-probability (pruner: score) under autocast are finite;
    - ``dtypes``: the dtypes of the log-probabilities (pruner: scores) under autocast;
    - per task (``entity``, ``relation``, ``pruner``): ``max_diff``, the largest change of a
      probability (pruner: of a span's sigmoid score), and ``agree`` / ``total``: the decisions
      (a label or none; the pruner: the spans kept) that are the same.

    A module scores the same spans both ways (a pruned module: the spans its pruner keeps in float32).
    """
    result: Dict[str, Any] = {"finite": True, "dtypes": {}}
    with torch.no_grad():
        full = model(**batch)
        with torch.autocast(device_type, dtype=dtype):
            half = model(**batch)
        result["loss"] = (float(full["loss"]), float(half["loss"]))
        result["finite"] &= bool(torch.isfinite(half["loss"]))
        if isinstance(model, SpanPruner):
            scores, mask = model.score_spans(batch["tokens"], batch["spans"])
            with torch.autocast(device_type, dtype=dtype):
                half_scores, _ = model.score_spans(batch["tokens"], batch["spans"])
            result["dtypes"]["pruner"] = half_scores.dtype
            result["finite"] &= bool(torch.isfinite(half_scores[mask]).all())
            diff = float((torch.sigmoid(scores) - torch.sigmoid(half_scores))[mask].abs().max())
            kept = [{tuple(e[:2]) for e in sentence} for sentence in full["predicted_ner"]]
            half_kept = [{tuple(e[:2]) for e in sentence} for sentence in half["predicted_ner"]]
            agree = sum(len(a & b) for a, b in zip(kept, half_kept))
            result["pruner"] = {"max_diff": diff, "agree": agree, "total": sum(len(a) for a in kept)}
            return result
        assert isinstance(model, SpanModel)
        if model.pruner is not None:
            spans = model.score(batch["tokens"], batch["spans"]).spans  # the float32 pruner's choice
        else:
            spans = batch["spans"]
        scores = model.score(batch["tokens"], spans, use_pruner=False)
        with torch.autocast(device_type, dtype=dtype):
            half_scores = model.score(batch["tokens"], spans, use_pruner=False)
    for task, head, mask in (
        ("entity", model.entity_head, scores.span_mask),
        ("relation", model.relation_head, scores.pair_mask),
    ):
        if head is None:
            continue
        log_probs = getattr(scores, f"{task}_lp")
        half_log_probs = getattr(half_scores, f"{task}_lp")
        result["dtypes"][task] = half_log_probs.dtype
        result["finite"] &= bool(torch.isfinite(half_log_probs).all())
        keep, index, _ = head.decide(log_probs)
        half_keep, half_index, _ = head.decide(half_log_probs)
        same = (torch.where(keep, index, -1) == torch.where(half_keep, half_index, -1))[mask]
        result[task] = {
            "max_diff": float((log_probs.exp() - half_log_probs.exp())[mask].abs().max()) if mask.any() else 0.0,
            "agree": int(same.sum()),
            "total": int(mask.sum()),
        }
    return result


def unregistered_tensors(model: torch.nn.Module) -> List[str]:
    """Tensors and modules that a module of `model` holds (in an attribute, a list, a dict or a
    plain object) but that are none of `model`'s parameters, buffers or submodules, so that
    ``.cuda()`` and ``.to()`` would not move them; named ``<module path>.<attribute>...``. A metric's
    counters are not listed: they are CPU counters by design (every metric moves its batch counts
    to the CPU)."""
    from allennlp.training.metrics import Metric

    registered = {id(t) for t in model.parameters()} | {id(t) for t in model.buffers()}
    registered |= {id(m) for m in model.modules()}
    found: List[str] = []
    seen = set()

    def visit(value: Any, where: str) -> None:
        if id(value) in seen or isinstance(value, (str, bytes, int, float, bool, type(None), Metric)):
            return
        seen.add(id(value))
        if isinstance(value, (torch.Tensor, torch.nn.Module)):
            if id(value) not in registered:
                found.append(where)
        elif isinstance(value, dict):
            for key, item in value.items():
                visit(item, f"{where}[{key!r}]")
        elif isinstance(value, (list, tuple, set, frozenset)):
            for k, item in enumerate(value):
                visit(item, f"{where}[{k}]")
        elif hasattr(value, "__dict__") and not isinstance(value, type):
            for key, item in vars(value).items():
                visit(item, f"{where}.{key}")

    for name, module in model.named_modules():
        for key, value in vars(module).items():
            if key not in ("_parameters", "_buffers", "_modules"):
                visit(value, f"{name or '<model>'}.{key}")
    return found
