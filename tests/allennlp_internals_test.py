"""Every private attribute ere_allennlp relies on (ere_allennlp/allennlp_internals.py) is still
there, with the behaviour the package assumes: an AllenNLP or torch upgrade that changes one
fails here, by name."""
import inspect
import json
from pathlib import Path

import torch
from allennlp.common import Params
from allennlp.data import Vocabulary
from allennlp.data.fields import AdjacencyField, SequenceLabelField, TextField
from allennlp.data.token_indexers import PretrainedTransformerIndexer, PretrainedTransformerMismatchedIndexer
from allennlp.data.tokenizers import PretrainedTransformerTokenizer, Token
from allennlp.models import Model
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


def test_mismatched_indexer_parts() -> None:
    """What the fast indexer takes from the mismatched indexer it extends: the wrapped word-piece
    indexer, the fast transformers tokenizer, AllenNLP's special tokens around a sentence, and the
    word pieces put into the vocabulary."""
    indexer = PretrainedTransformerMismatchedIndexer("fixtures/tiny_bert")
    matched = internals.matched_indexer(indexer)
    assert isinstance(matched, PretrainedTransformerIndexer)
    tokenizer = internals.transformer_tokenizer(indexer)
    assert tokenizer.is_fast and type(tokenizer.backend_tokenizer.model).__name__ == "WordPiece"
    encoding = tokenizer.backend_tokenizer.encode(["unaffable", "x"], is_pretokenized=True, add_special_tokens=False)
    assert encoding.ids == tokenizer.convert_tokens_to_ids(encoding.tokens) and encoding.word_ids[-1] == 1
    special = internals.allennlp_tokenizer(indexer)
    assert isinstance(special, PretrainedTransformerTokenizer)
    pieces = [Token(text=t, text_id=i, type_id=special.single_sequence_token_type_id)
              for t, i in zip(encoding.tokens, encoding.ids)]
    assert special.add_special_tokens(pieces) == (special.single_sequence_start_tokens + pieces
                                                  + special.single_sequence_end_tokens)
    assert [t.text for t in special.single_sequence_start_tokens] == ["[CLS]"]
    vocab = Vocabulary()
    internals.add_encoding_to_vocabulary(matched, vocab)
    assert vocab.get_token_to_index_vocabulary("tags") == tokenizer.get_vocab()
    # What a mismatched indexer's own tokens_to_indices does first (once per indexer).
    own = Vocabulary()
    PretrainedTransformerMismatchedIndexer("fixtures/tiny_bert").tokens_to_indices([Token("x")], own)
    assert own.get_token_to_index_vocabulary("tags") == vocab.get_token_to_index_vocabulary("tags")


def test_label_field_internals() -> None:
    text = TextField([Token(w) for w in "a b c".split()])
    vocab = Vocabulary({"x_labels": {"A": 1, "B": 1}}, non_padded_namespaces=["x_labels"])
    labels = SequenceLabelField(["A", "B", "A"], text, label_namespace="x_labels")
    assert internals.label_namespace(labels) == "x_labels" and not internals.skips_indexing(labels)
    reference = SequenceLabelField(["A", "B", "A"], text, label_namespace="x_labels")
    reference.index(vocab)
    internals.set_indexed_labels(labels, [vocab.get_token_index(label, "x_labels") for label in labels.labels])
    assert torch.equal(labels.as_tensor(labels.get_padding_lengths()), reference.as_tensor(reference.get_padding_lengths()))
    internals.set_indexed_labels(labels, [-1, 0, 1])
    assert labels.as_tensor(labels.get_padding_lengths()).tolist() == [-1, 0, 1]
    assert internals.skips_indexing(SequenceLabelField([0, 1, 0], text))  # given as indices: index() leaves them

    pairs = AdjacencyField([(0, 1), (2, 0)], text, labels=["A", "B"], label_namespace="x_labels", padding_value=-7)
    assert internals.label_namespace(pairs) == "x_labels"
    reference_pairs = AdjacencyField([(0, 1), (2, 0)], text, labels=["A", "B"], label_namespace="x_labels",
                                     padding_value=-7)
    reference_pairs.index(vocab)
    internals.set_indexed_labels(pairs, [vocab.get_token_index(label, "x_labels") for label in ["A", "B"]])
    assert torch.equal(pairs.as_tensor(pairs.get_padding_lengths()),
                       reference_pairs.as_tensor(reference_pairs.get_padding_lengths()))
    internals.set_indexed_labels(pairs, [-1, 5])
    matrix = pairs.as_tensor(pairs.get_padding_lengths())
    assert matrix[0, 1] == -1 and matrix[2, 0] == 5 and matrix[1, 1] == -7  # as_tensor reads these indices


def test_model_load_calls_the_load_hook(tmp_path: Path) -> None:
    """``Model._load`` is AllenNLP's hook for models with special loading needs, which
    ``archival.ArchivePathsMixin`` and ``Approach`` override: ``Model.load`` (what ``load_archive``
    calls) must call it on the config's model class with these arguments."""
    assert list(inspect.signature(Model._load).parameters) == ["config", "serialization_dir", "weights_file", "cuda_device"]
    calls = []

    class Hooked(Model):
        @classmethod
        def _load(cls, config, serialization_dir, weights_file=None, cuda_device=-1):  # type: ignore
            calls.append((cls, config["model"]["type"], serialization_dir, weights_file, cuda_device))
            return "loaded"

    name = "ere_internals_test_load_hook"
    Model.register(name, exist_ok=True)(Hooked)
    assert Model.load(Params({"model": {"type": name}}), str(tmp_path), "w.th", cuda_device=-1) == "loaded"
    assert calls == [(Hooked, name, str(tmp_path), "w.th", -1)]


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


class Echo:
    """A predictor as ``_PredictManager`` uses one without a dataset reader."""

    def load_line(self, line):
        return json.loads(line)

    def predict_json(self, inputs):
        return {"echo": inputs}

    def predict_batch_json(self, batch):
        return [self.predict_json(inputs) for inputs in batch]

    def dump_line(self, output):
        return json.dumps(output) + "\n"


def test_predict_manager_attributes(tmp_path: Path) -> None:
    """A manager's predictor, input file and open output file, and ``_get_json_data``: the decoded
    input lines that ``run`` predicts, replaceable on the class (atomic_output wraps it)."""
    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text('{"n": 1}\n\n{"n": 2}\n')
    manager_class = internals.predict_manager_class()
    predictor = Echo()
    manager = manager_class(predictor, str(source), str(target), batch_size=1, print_to_console=False,
                            has_dataset_reader=False)
    assert internals.predict_manager_predictor(manager) is predictor
    assert internals.predict_manager_input_file(manager) == str(source)
    output = internals.predict_manager_output_file(manager)
    assert output is not None and not output.closed and Path(output.name) == target
    assert list(internals.predict_manager_json_data(manager_class)(manager)) == [{"n": 1}, {"n": 2}]
    assert internals.predict_manager_output_file(object()) is None  # before __init__ opened it
    no_output = manager_class(predictor, str(source), None, batch_size=1, print_to_console=False,
                              has_dataset_reader=False)
    assert internals.predict_manager_output_file(no_output) is None

    original = internals.predict_manager_json_data(manager_class)
    internals.replace_predict_manager_json_data(manager_class, lambda self: iter([{"n": "replaced"}]))
    try:
        manager.run()  # reads its input through the replaced _get_json_data
    finally:
        internals.replace_predict_manager_json_data(manager_class, original)
    assert internals.predict_manager_json_data(manager_class) is original
    output.close()
    assert target.read_text() == '{"echo": {"n": "replaced"}}\n'
