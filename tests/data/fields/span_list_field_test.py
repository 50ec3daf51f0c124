"""SpanListField gives the tensors ListField[SpanField] gave, and labels its spans."""
import torch
from allennlp.data import Batch, Instance, Vocabulary
from allennlp.data.fields import ListField, SequenceLabelField, SpanField, TextField
from allennlp.data.tokenizers import Token

from ere_allennlp.data.fields import SpanListField


def test_same_tensor_as_a_list_of_span_fields_after_batch_padding() -> None:
    text = TextField([Token(w) for w in "a b c d".split()])
    spans = [[(0, 0), (0, 2), (3, 3)], [(1, 2)]]
    ours = Batch([Instance({"spans": SpanListField(s)}) for s in spans]).as_tensor_dict()["spans"]
    theirs = Batch(
        [Instance({"spans": ListField([SpanField(a, b, text) for a, b in s])}) for s in spans]
    ).as_tensor_dict()["spans"]
    assert ours.dtype == torch.long and ours.shape == (2, 3, 2)
    assert torch.equal(ours, theirs)
    assert ours[1].tolist() == [[1, 2], [-1, -1], [-1, -1]]


def test_labels_attach_to_its_spans() -> None:
    field = SpanListField([(0, 1), (2, 2)])
    labels = SequenceLabelField(["Task", "NULL"], field, label_namespace="entity_labels")
    instance = Instance({"spans": field, "span_labels": labels})
    vocab = Vocabulary.from_instances([instance])
    instance.index_fields(vocab)
    assert len(field) == field.sequence_length() == 2
    assert field.empty_field().sequence_length() == 0
    assert instance.as_tensor_dict()["span_labels"].tolist() == [
        vocab.get_token_index("Task", "entity_labels"), vocab.get_token_index("NULL", "entity_labels")
    ]
