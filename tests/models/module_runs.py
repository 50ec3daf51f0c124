"""Tiny trained modules shared by the approach and API tests (one training per module and process).

The session fixture ``runs`` (``tests/conftest.py``) hands out one ``ModuleRuns``, so
``tests/models/approach_test.py``, ``tests/models/approaches_all_test.py`` and
``tests/api_test.py`` train each module at most once per pytest process. The modules are trained
for one epoch through the real ``training_configs/scierc_<module>.jsonnet``: enough to check the
wiring of a chain, not its accuracy (after one or three epochs the tiny modules predict nothing).
The in-run span pruner of NerRi / NerRe is shrunk (its paper dimensions give a 12.8 M-parameter
bi-affine layer and 55 MB archives, which dominated the run time next to the 42k-parameter BERT).
"""
import contextlib
import json
from pathlib import Path
from typing import Dict, Iterator, List

import pytest
import torch
from ere_allennlp.configs import train_model_from_file
from allennlp.models.archival import load_archive

from ere_allennlp import configs
from ere_allennlp.approach_archive import build_approach
from ere_allennlp.dataset_readers.ere_json import EreJsonReader
from ere_allennlp.models.approach import Approach
from tests.conftest import REPO_ROOT, TINY_ENV

# Small pruner for the modules that train one in the same run (no pruner setting here).
# (AllenNLP 2.x merges dotted keys; a nested {"model": ...} would replace the whole object.)
PRUNER_OVERRIDES = json.dumps(
    {"model.pruner.biaffine_dim": 32, "model.pruner.biaffine_projection_dim": 16, "model.pruner.hidden_dim": 32}
)
PRUNED_MODULES = set(configs.pruned_modules())

METRIC_KEYS = {f"{m}_{k}" for m in ("ent_i", "ent_c", "rel_i", "rel_c", "strict_rel_i", "strict_rel_c",
                                    "ent_c_macro", "rel_c_macro", "strict_rel_c_macro") for k in ("p", "r", "f1")}


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Runs torch on one thread. The tensors here are tiny, and when the CPU is shared (pytest-xdist
    workers, a benchmark) torch's thread pool spins: one epoch of NerRe took 41 s on two busy
    cores with 2 threads and 0.4 s with 1."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class ModuleRuns:
    """Trains each tiny module once per test session, on first use."""

    def __init__(self, root: Path, epochs: int = 1) -> None:
        self.root = root
        self.env = dict(TINY_ENV, ERE_ENCODER=str(REPO_ROOT / "fixtures/tiny_bert"),
                        ERE_DATA_DIR=str(REPO_ROOT / "fixtures/data"), ERE_RUNS=str(root),
                        ERE_EPOCHS=str(epochs), ERE_HEAD_LR="", ERE_MAX_LENGTH="512", ERE_CUDA_DEVICE="-1")

    def patch_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name, value in self.env.items():
            monkeypatch.setenv(name, value)

    def archive(self, module: str) -> Path:
        """Where the archive of `module` (a config name: ``ner``, ``nerre_star``, ...) lives."""
        return self.root / f"scierc_{module}" / "model.tar.gz"

    def ensure(self, modules: List[str]) -> None:
        with pytest.MonkeyPatch.context() as monkeypatch, single_thread():
            self.patch_env(monkeypatch)
            for module in modules:
                if not self.archive(module).exists():
                    out = self.archive(module).parent
                    overrides = PRUNER_OVERRIDES if module in PRUNED_MODULES else ""
                    config = REPO_ROOT / f"training_configs/scierc_{module}.jsonnet"
                    train_model_from_file(str(config), str(out), overrides=overrides, force=True)

    def build(self, name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
        """Builds approach `name` from the trained modules; returns the archive path."""
        self.patch_env(monkeypatch)
        config = REPO_ROOT / f"training_configs/approaches/scierc_{name}.jsonnet"
        return build_approach(str(config), str(tmp_path / name))

    def approach(self, name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Approach:
        model = load_archive(self.build(name, monkeypatch, tmp_path)).model
        assert isinstance(model, Approach)
        return model


def evaluate(model: Approach, path: str = "fixtures/data/test.json") -> Dict[str, float]:
    """Runs `model` over a DyGIE file in batches of 4 sentences: its metrics (reset) plus the
    per-sentence outputs under ``_outputs``."""
    reader = EreJsonReader(model_name=model.encoder_name, max_length=512, max_span_width=12, entity_labels=False)
    instances = list(reader.read(str(REPO_ROOT / path)))
    model.eval()
    outputs = []
    with torch.no_grad(), single_thread():
        for start in range(0, len(instances), 4):
            outputs.extend(model.forward_on_instances(instances[start : start + 4]))
    metrics = model.get_metrics(reset=True)
    metrics["_outputs"] = outputs  # type: ignore
    return metrics
