"""Every private attribute ere_allennlp relies on (ere_allennlp/allennlp_internals.py) is still
there, with the behaviour the package assumes: an AllenNLP or torch upgrade that changes one
fails here, by name."""
import inspect

import torch
from allennlp.data.token_indexers import PretrainedTransformerMismatchedIndexer
from allennlp.modules import FeedForward
from allennlp.modules.span_extractors import EndpointSpanExtractor
from allennlp.nn import Activation
from allennlp.training.gradient_descent_trainer import GradientDescentTrainer

from ere_allennlp import allennlp_internals as internals


def test_feedforward_layers() -> None:
    torch.manual_seed(0)
    feedforward = FeedForward(4, 3, [5, 6, 2], Activation.by_name("relu")(), dropout=0.0)
    x = torch.randn(7, 4)
    assert isinstance(internals.first_linear(feedforward), torch.nn.Linear)
    assert internals.first_linear(feedforward).in_features == 4
    hidden = internals.first_linear(feedforward)(x)
    assert torch.allclose(internals.feedforward_after_first_linear(feedforward, hidden), feedforward(x))


def test_span_width_embedding() -> None:
    extractor = EndpointSpanExtractor(4, "x,y", num_width_embeddings=5, span_width_embedding_dim=3)
    embedding = internals.span_width_embedding(extractor)
    assert tuple(embedding.weight.shape) == (5, 3)  # an allennlp Embedding
    x = torch.randn(1, 6, 4)
    spans = torch.tensor([[[1, 3]]])
    assert torch.allclose(extractor(x, spans)[0, 0, 8:], embedding.weight[2])  # end - start = 2


def test_tensor_version_counts_in_place_changes() -> None:
    weight = torch.zeros(3)
    before = internals.tensor_version(weight)
    weight.add_(1.0)
    assert internals.tensor_version(weight) == before + 1


def test_indexer_postprocess_output() -> None:
    indexer = PretrainedTransformerMismatchedIndexer("fixtures/tiny_bert", max_length=8)
    matched = indexer._matched_indexer
    output = {"token_ids": [1, 2, 3], "mask": [True] * 3, "type_ids": [0, 0, 0], "offsets": [(1, 1)],
              "wordpiece_mask": [True] * 3}
    result = internals.postprocess_indexer_output(matched, output)  # short: no folding into windows
    assert set(output) <= set(result) and len(result["token_ids"]) == 3 and result["offsets"] == [(1, 1)]


def test_trainer_private_attributes() -> None:
    source = inspect.getsource(GradientDescentTrainer)
    for name in ("_start_after_epochs_completed", "_start_after_batches_in_epoch_completed", "self._rank"):
        assert name in source, f"GradientDescentTrainer no longer has {name}"
    assert callable(GradientDescentTrainer._train_epoch)

    class Trainer:
        def _train_epoch(self, epoch):
            return {"epoch": epoch}

    trainer = Trainer()
    internals.wrap_train_epoch(trainer, lambda original, epoch: {"wrapped": original(epoch)})
    assert trainer._train_epoch(2) == {"wrapped": {"epoch": 2}}
    internals.unwrap_train_epoch(trainer)
    assert trainer._train_epoch(2) == {"epoch": 2}
    assert internals.trainer_progress(object()) == (0, 0, 0)


def test_predict_manager() -> None:
    manager = internals.predict_manager_class()
    assert manager.__name__ == "_PredictManager"
    parameters = list(inspect.signature(manager.__init__).parameters)
    assert parameters[:4] == ["self", "predictor", "input_file", "output_file"]
    for name in ("run", "_get_json_data"):
        assert callable(getattr(manager, name))
    source = inspect.getsource(manager)
    for name in ("self._output_file", "self._predictor", "self._input_file"):
        assert name in source
