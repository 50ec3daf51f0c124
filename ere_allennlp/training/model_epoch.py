"""``model_epoch``: a trainer callback that tells the model which epoch it is training.

AllenNLP's trainer does not pass the epoch to ``Model.forward``. A model option that changes the
training with the epoch (``SpanModel``'s ``mean_field_start_epoch``) learns it from this callback:
before the first trained epoch (``on_start``; after ``allennlp train --recover`` that is the
number of epochs already completed) and after each epoch (``on_epoch``: the next one) it calls
``model.set_training_epoch(epoch)`` (0-based) on a model that has the method, and does nothing
otherwise.

Config: ``trainer: {callbacks: [{type: "model_epoch"}]}`` (every config in ``training_configs/``
has it).
"""
from typing import TYPE_CHECKING, Any, Dict

from allennlp.training.callbacks.callback import TrainerCallback

from ere_allennlp.allennlp_internals import trainer_progress

if TYPE_CHECKING:
    from allennlp.training.gradient_descent_trainer import GradientDescentTrainer


def _tell(trainer: "GradientDescentTrainer", epoch: int) -> None:
    setter = getattr(trainer.model, "set_training_epoch", None)
    if callable(setter):
        setter(epoch)


@TrainerCallback.register("model_epoch")
class ModelEpochCallback(TrainerCallback):
    """Calls ``model.set_training_epoch(e)`` before each training epoch ``e`` (0-based), on models
    that have the method (see the module docstring)."""

    def on_start(self, trainer: "GradientDescentTrainer", is_primary: bool = True, **kwargs) -> None:
        super().on_start(trainer, is_primary=is_primary, **kwargs)
        completed, _, _ = trainer_progress(trainer)
        _tell(trainer, completed)

    def on_epoch(
        self, trainer: "GradientDescentTrainer", metrics: Dict[str, Any], epoch: int, is_primary: bool = True, **kwargs
    ) -> None:
        _tell(trainer, epoch + 1)
