"""The ``model_epoch`` trainer callback: the model learns the epoch it is about to train, also
after ``--recover``; models without ``set_training_epoch`` are left alone."""
from types import SimpleNamespace
from typing import List

from ere_allennlp.training.model_epoch import ModelEpochCallback


class _Model:
    def __init__(self) -> None:
        self.epochs: List[int] = []

    def set_training_epoch(self, epoch: int) -> None:
        self.epochs.append(epoch)


def test_the_model_learns_each_epoch_before_it_trains(tmp_path) -> None:
    model = _Model()
    fresh = SimpleNamespace(model=model, _start_after_epochs_completed=0, _start_after_batches_in_epoch_completed=0, _rank=0)
    callback = ModelEpochCallback(str(tmp_path))
    callback.on_start(fresh)
    for epoch in range(3):
        callback.on_epoch(fresh, metrics={}, epoch=epoch)
    assert model.epochs == [0, 1, 2, 3]
    # Recovered after 2 completed epochs: the next one trained is epoch 2.
    recovered = SimpleNamespace(model=_Model(), _start_after_epochs_completed=2,
                                _start_after_batches_in_epoch_completed=0, _rank=0)
    ModelEpochCallback(str(tmp_path)).on_start(recovered)
    assert recovered.model.epochs == [2]
    # A model without the method (the span pruner) is left alone.
    other = SimpleNamespace(model=object(), _start_after_epochs_completed=0, _start_after_batches_in_epoch_completed=0, _rank=0)
    ModelEpochCallback(str(tmp_path)).on_start(other)
    ModelEpochCallback(str(tmp_path)).on_epoch(other, metrics={}, epoch=0)


def test_a_training_runs_mean_field_from_the_start_epoch(tmp_path) -> None:
    """End to end through ``allennlp train``: EcRe with ``mean_field_start_epoch: 1`` trains its
    first epoch without mean field (no mean-field flips among its training metrics) and its second
    with it; validation runs mean field in both."""
    import json

    from ere_allennlp import configs
    from tests.conftest import REPO_ROOT

    settings = {"encoder": str(REPO_ROOT / "fixtures/tiny_bert"), "data_dir": str(REPO_ROOT / "fixtures/data"),
                "epochs": 2, "lr": 1e-3, "batch_size": 4}
    overrides = {"model.mean_field_start_epoch": 1, "model.diagnostic_metrics": True}
    configs.train_model_from_file(REPO_ROOT / "training_configs/scierc_ecre.jsonnet", tmp_path / "run",
                                  overrides=json.dumps(overrides), settings=settings)
    first, second = (json.loads((tmp_path / "run" / f"metrics_epoch_{e}.json").read_text()) for e in (0, 1))
    assert "training_mf_to_wrong_t1" not in first and "validation_mf_to_wrong_t1" in first
    assert "training_mf_to_wrong_t1" in second and "validation_mf_to_wrong_t1" in second
