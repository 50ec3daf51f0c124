"""The one place that touches private attributes of AllenNLP and PyTorch.

Each function below reads or replaces something AllenNLP 2.10.1 (or torch) offers no public API
for; the rest of the package calls these functions and nothing private. ``tests/
allennlp_internals_test.py`` checks every one of them against the installed versions, so an
upgrade that renames one fails there, loudly, instead of somewhere deep in a training.

- `first_linear`, `feedforward_after_first_linear`: a ``FeedForward``'s first ``Linear`` and the
  rest of its stack. The span heads apply the first layer to the real spans only (most candidate
  rows are padding) and the pruner folds it into its bi-affine extractor; FeedForward exposes
  neither (its layers are ``_linear_layers``, ``_activations``, ``_dropout``).
- `span_width_embedding`: ``EndpointSpanExtractor``'s width embedding (``_span_width_embedding``),
  whose rows the span heads project once per batch.
- `tensor_version`: a tensor's in-place version counter (``_version``), the key under which the
  pruner caches its folded weight (it changes on every optimiser step).
- `postprocess_indexer_output`: the wrapped ``PretrainedTransformerIndexer``'s
  ``_postprocess_output`` (long sentences folded into windows), reused by the fast indexer.
- `trainer_progress`, `wrap_train_epoch`, `unwrap_train_epoch`: where a recovered trainer starts
  (``_start_after_epochs_completed`` and ``..._batches_in_epoch_completed``, ``_rank``) and its
  ``_train_epoch``, which the ``rng_state`` callback wraps to restore the RNG states right before
  the first trained epoch.
- `predict_manager_class`: ``allennlp.commands.predict._PredictManager``, which
  ``ere_allennlp.predictors.atomic_output`` wraps for atomic ``--output-file`` writes.
"""
from typing import Any, Callable, Dict, Tuple

import torch
from allennlp.modules import FeedForward
from allennlp.modules.span_extractors import EndpointSpanExtractor


# ------------------------------------------------------------------ FeedForward
def first_linear(feedforward: FeedForward) -> torch.nn.Linear:
    return feedforward._linear_layers[0]


def feedforward_after_first_linear(feedforward: FeedForward, hidden: torch.Tensor) -> torch.Tensor:
    """The rest of an AllenNLP `FeedForward` given its first linear layer's output `hidden`: the
    first activation and dropout, then the other layers (FeedForward's own loop, entered one layer in)."""
    output = feedforward._dropout[0](feedforward._activations[0](hidden))
    layers = zip(feedforward._linear_layers[1:], feedforward._activations[1:], feedforward._dropout[1:])
    for layer, activation, dropout in layers:
        output = dropout(activation(layer(output)))
    return output


# ------------------------------------------------------------------ span extractor
def span_width_embedding(extractor: EndpointSpanExtractor) -> torch.nn.Module:
    embedding = extractor._span_width_embedding
    if embedding is None:
        raise ValueError("the span extractor has no width embedding (span_width_embedding_dim is not set)")
    return embedding


# ------------------------------------------------------------------ torch
def tensor_version(tensor: torch.Tensor) -> int:
    """Counts in-place changes of `tensor` (an optimiser step is one)."""
    return tensor._version


# ------------------------------------------------------------------ token indexer
def postprocess_indexer_output(matched_indexer: Any, output: Dict[str, Any]) -> Dict[str, Any]:
    return matched_indexer._postprocess_output(output)


# ------------------------------------------------------------------ trainer
def trainer_progress(trainer: Any) -> Tuple[int, int, int]:
    """(epochs completed before this run started, batches of the next epoch completed, worker rank)."""
    return (
        getattr(trainer, "_start_after_epochs_completed", 0),
        getattr(trainer, "_start_after_batches_in_epoch_completed", 0),
        getattr(trainer, "_rank", 0),
    )


def wrap_train_epoch(trainer: Any, wrapper: Callable[[Callable[[int], Dict[str, float]], int], Dict[str, float]]) -> None:
    """Makes ``trainer._train_epoch(epoch)`` call ``wrapper(original, epoch)``."""
    original = trainer._train_epoch  # the bound method

    def train_epoch(epoch: int) -> Dict[str, float]:
        return wrapper(original, epoch)

    trainer._train_epoch = train_epoch


def unwrap_train_epoch(trainer: Any) -> None:
    """Undoes `wrap_train_epoch` (the class's method again); nothing if it was not wrapped."""
    if "_train_epoch" in vars(trainer):
        del trainer._train_epoch


# ------------------------------------------------------------------ allennlp predict
def predict_manager_class() -> type:
    from allennlp.commands import predict

    return predict._PredictManager
