"""``rng_state``: a trainer callback that makes ``allennlp train --recover`` continue exactly.

AllenNLP 2.10 checkpoints the model, optimizer, schedulers and metric tracker after every epoch,
but not the random number generators. A recovered run is re-seeded from the config and so
diverges from the uninterrupted one: python ``random`` shuffles the training data, torch draws
the dropout masks (numpy is saved too, for components that use it).

Where the trainer draws random numbers (``GradientDescentTrainer._try_train``, per epoch ``e``):

1. ``_train_epoch(e)``: ``iter(data_loader)``; at the first batch the ``MultiProcessDataLoader``
   copies its cached instances and ``random.shuffle``\\ s the copy (python ``random``), then every
   training batch runs the model in train mode (torch: dropout);
2. validation (``model.eval()``, unshuffled loader): no random numbers;
3. metrics, schedulers' ``step``, ``on_epoch`` callbacks, checkpoint ``e + 1``, ``best.th``:
   no random numbers.

So the generators' state at ``on_epoch(e)`` is exactly their state when epoch ``e + 1`` starts.
This callback saves it there, to ``<serialization_dir>/rng_state_epoch_{e}.pt`` (``_w{rank}``
appended for workers other than rank 0), written atomically (``ere_allennlp.atomic``).
The previous epoch's file is kept until the next one is written, because the checkpoint of
epoch ``e`` is saved *after* ``on_epoch(e)``: a run killed in between recovers from checkpoint
``e - 1`` and needs ``rng_state_epoch_{e-1}.pt``; older files are removed.

On recovery (``epochs_completed > 0`` in the restored checkpoint) the trainer first *replays* the
completed epochs: it iterates the data loader (shuffling, python ``random``) without running the
model (no dropout). Restoring the state in ``on_start`` would therefore be consumed by that replay.
Instead ``on_start`` wraps the trainer's ``_train_epoch`` so that the saved state of epoch
``k - 1`` is restored right before epoch ``k`` (the first one actually trained) starts, i.e.
before its shuffle and its first dropout mask: the same point at which it was saved in the
uninterrupted run. Since the loader shuffles a fresh copy of its instances each epoch, the
generators' state is all the shuffle depends on.

Not covered: loaders with ``batches_per_epoch`` (their batch iterator spans epochs) and recovery
from a checkpoint written in the middle of an epoch (this package's configs checkpoint per epoch).
"""
import glob
import logging
import os
import random
import re
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional

import numpy
import torch
from allennlp.training.callbacks.callback import TrainerCallback

from ere_allennlp.allennlp_internals import trainer_progress, unwrap_train_epoch, wrap_train_epoch
from ere_allennlp.atomic import atomic_path

if TYPE_CHECKING:
    from allennlp.training.gradient_descent_trainer import GradientDescentTrainer

logger = logging.getLogger(__name__)


def get_rng_state() -> Dict[str, Any]:
    state: Dict[str, Any] = {
        "python": random.getstate(),
        "numpy": numpy.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    random.setstate(state["python"])
    numpy.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@TrainerCallback.register("rng_state")
class RngStateCallback(TrainerCallback):
    """Saves the python/numpy/torch RNG states after every epoch and restores them on recovery,
    so that a run continued with ``allennlp train --recover`` gives the same result as an
    uninterrupted one (see the module docstring for where the state is saved and restored).

    Config: ``trainer: {callbacks: [{type: "rng_state"}]}`` (every config in
    ``training_configs/`` has it).
    """

    def __init__(self, serialization_dir: str) -> None:
        super().__init__(serialization_dir)
        self._rank = 0

    def _path(self, epoch: int) -> str:
        suffix = "" if self._rank == 0 else f"_w{self._rank}"
        return os.path.join(self.serialization_dir, f"rng_state_epoch_{epoch}{suffix}.pt")

    def _existing(self) -> Dict[int, str]:
        suffix = "" if self._rank == 0 else f"_w{self._rank}"
        pattern = re.compile(rf"rng_state_epoch_(\d+){re.escape(suffix)}\.pt$")
        found = {}
        for path in glob.glob(os.path.join(self.serialization_dir, "rng_state_epoch_*.pt")):
            match = pattern.search(os.path.basename(path))
            if match:
                found[int(match.group(1))] = path
        return found

    def on_start(self, trainer: "GradientDescentTrainer", is_primary: bool = True, **kwargs) -> None:
        super().on_start(trainer, is_primary=is_primary, **kwargs)
        completed, batches_completed, self._rank = trainer_progress(trainer)
        if completed <= 0:
            return
        if batches_completed:
            logger.warning("rng_state: recovering from a checkpoint within an epoch; RNG states not restored")
            return
        path = self._path(completed - 1)
        if not os.path.isfile(path):
            logger.warning("rng_state: %s not found; the recovered run will not match an uninterrupted one", path)
            return
        state = torch.load(path, weights_only=False)

        def train_epoch_restoring_rng(train_epoch: Callable[[int], Dict[str, float]], epoch: int) -> Dict[str, float]:
            if epoch == completed:
                set_rng_state(state)
                logger.info("rng_state: restored the RNG states saved after epoch %d from %s", epoch - 1, path)
                unwrap_train_epoch(trainer)  # only the first trained epoch
            return train_epoch(epoch)

        wrap_train_epoch(trainer, train_epoch_restoring_rng)

    def on_epoch(
        self,
        trainer: "GradientDescentTrainer",
        metrics: Dict[str, Any],
        epoch: int,
        is_primary: bool = True,
        **kwargs,
    ) -> None:
        if not self.serialization_dir:
            return
        path = self._path(epoch)
        with atomic_path(path) as temporary, open(temporary, "wb") as file:
            torch.save(get_rng_state(), file)
            file.flush()
            os.fsync(file.fileno())
        # Keep this epoch's and the previous one's (the checkpoint of this epoch is not written yet).
        for old_epoch, old_path in self._existing().items():
            if old_epoch < epoch - 1:
                os.remove(old_path)

    def on_end(
        self,
        trainer: "GradientDescentTrainer",
        metrics: Optional[Dict[str, Any]] = None,
        epoch: Optional[int] = None,
        is_primary: bool = True,
        **kwargs,
    ) -> None:
        # Undo the wrapper if training ended before reaching the first trained epoch.
        if self.trainer is not None:
            unwrap_train_epoch(self.trainer)
