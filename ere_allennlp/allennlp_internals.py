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
- `matched_indexer`, `transformer_tokenizer`, `allennlp_tokenizer`, `add_encoding_to_vocabulary`,
  `postprocess_indexer_output`: what the fast indexer (``pretrained_transformer_mismatched_fast``)
  reuses of the ``PretrainedTransformerMismatchedIndexer`` it extends: the wrapped
  ``PretrainedTransformerIndexer`` (``_matched_indexer``), the transformers tokenizer
  (``_tokenizer``) and AllenNLP's tokenizer around it (``_allennlp_tokenizer``: special tokens and
  type ids), the wrapped indexer's ``_add_encoding_to_vocabulary_if_needed`` (the word pieces in the
  vocabulary's ``tags`` namespace) and its ``_postprocess_output`` (long sentences folded into windows).
- `label_namespace`, `skips_indexing`, `set_indexed_labels`: a ``SequenceLabelField``'s or
  ``AdjacencyField``'s namespace (``_label_namespace``), whether its labels were given as indices
  (``_skip_indexing``, SequenceLabelField only) and the indices its ``as_tensor`` reads
  (``_indexed_labels``), for the reader's fields that index labels unseen in training to -1.
- `trainer_progress`, `wrap_train_epoch`, `unwrap_train_epoch`: where a recovered trainer starts
  (``_start_after_epochs_completed`` and ``..._batches_in_epoch_completed``, ``_rank``) and its
  ``_train_epoch``, which the ``rng_state`` callback wraps to restore the RNG states right before
  the first trained epoch.
- `predict_manager_class`: ``allennlp.commands.predict._PredictManager``, which
  ``ere_allennlp.predictors.atomic_output`` wraps for atomic ``--output-file`` writes, with
  `predict_manager_json_data` / `replace_predict_manager_json_data` (its ``_get_json_data``, the
  decoded input lines ``run`` iterates) and `predict_manager_predictor`,
  `predict_manager_input_file`, `predict_manager_output_file` (a manager's ``_predictor``,
  ``_input_file`` and open ``_output_file``).

Not here: AllenNLP's documented hooks that subclasses override, ``Model._load`` (``archival.
ArchivePathsMixin``, ``models.approach.Approach``), ``DatasetReader._read`` and
``Predictor._json_to_instance``; the test checks that ``Model.load`` still calls ``_load``.
"""
from typing import IO, Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

import torch
from allennlp.data.fields import AdjacencyField, SequenceLabelField
from allennlp.data.token_indexers import PretrainedTransformerIndexer, PretrainedTransformerMismatchedIndexer
from allennlp.data.tokenizers import PretrainedTransformerTokenizer
from allennlp.data.vocabulary import Vocabulary
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
def matched_indexer(indexer: PretrainedTransformerMismatchedIndexer) -> PretrainedTransformerIndexer:
    """The word-piece indexer a mismatched indexer wraps."""
    return indexer._matched_indexer


def transformer_tokenizer(indexer: PretrainedTransformerMismatchedIndexer) -> Any:
    """The transformers tokenizer (``PreTrainedTokenizer(Fast)``) of a mismatched indexer."""
    return indexer._tokenizer


def allennlp_tokenizer(indexer: PretrainedTransformerMismatchedIndexer) -> PretrainedTransformerTokenizer:
    """AllenNLP's tokenizer of a mismatched indexer: ``single_sequence_start_tokens``,
    ``single_sequence_end_tokens`` and ``single_sequence_token_type_id``."""
    return indexer._allennlp_tokenizer


def add_encoding_to_vocabulary(matched_indexer: PretrainedTransformerIndexer, vocabulary: Vocabulary) -> None:
    """Puts the tokenizer's word pieces into `vocabulary` (once), as ``tokens_to_indices`` does first."""
    matched_indexer._add_encoding_to_vocabulary_if_needed(vocabulary)


def postprocess_indexer_output(matched_indexer: Any, output: Dict[str, Any]) -> Dict[str, Any]:
    return matched_indexer._postprocess_output(output)


# ------------------------------------------------------------------ label fields
LabelField = Union[SequenceLabelField, AdjacencyField]


def label_namespace(field: LabelField) -> str:
    return field._label_namespace


def skips_indexing(field: SequenceLabelField) -> bool:
    """Whether the field was given label indices (ints) rather than labels: ``index`` leaves them."""
    return field._skip_indexing


def set_indexed_labels(field: LabelField, indices: List[int]) -> None:
    """What the field's ``index`` sets: one vocabulary index per label, read by ``as_tensor``."""
    field._indexed_labels = indices


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


def predict_manager_json_data(manager_class: type) -> Callable[[Any], Iterator[Any]]:
    """``_PredictManager._get_json_data``: yields the decoded input lines (``predictor.load_line``)
    that ``run`` predicts when there is no ``--use-dataset-reader``."""
    return manager_class._get_json_data  # type: ignore


def replace_predict_manager_json_data(manager_class: type, function: Callable[[Any], Iterator[Any]]) -> None:
    manager_class._get_json_data = function  # type: ignore


def predict_manager_predictor(manager: Any) -> Any:
    return manager._predictor


def predict_manager_input_file(manager: Any) -> str:
    """The input file as given (``-``: standard input)."""
    return manager._input_file


def predict_manager_output_file(manager: Any) -> Optional[IO[str]]:
    """The ``--output-file`` the manager opened in ``__init__``; None without one, or before
    ``__init__`` opened it."""
    return getattr(manager, "_output_file", None)
