"""All candidate spans of a sentence as one field."""
from typing import Dict, List, Sequence, Tuple

import torch
from allennlp.data.fields import SequenceField
from overrides import overrides


class SpanListField(SequenceField[torch.Tensor]):
    """
    The candidate spans of one sentence, inclusive ``(start, end)`` word offsets, as a
    ``[num_spans, 2]`` LongTensor padded with ``(-1, -1)`` rows: the tensor a
    ``ListField[SpanField]`` gives, built in one call instead of one small tensor per span
    (measured by ``benchmarks/data_reading.py``: with all spans up to L = 12, about 220 per SciERC
    sentence, the ``ListField`` took most of the reading time). A `SequenceField`, so
    ``SequenceLabelField`` and ``AdjacencyField`` can label its spans.

    Unlike ``SpanField`` it does not check the spans against a ``TextField``: the reader makes
    them from the sentence (``enumerate_spans``, or validated gold entities).
    """

    __slots__ = ["spans"]

    def __init__(self, spans: Sequence[Tuple[int, int]]) -> None:
        self.spans: List[Tuple[int, int]] = [(int(s), int(e)) for s, e in spans]

    @overrides
    def get_padding_lengths(self) -> Dict[str, int]:
        return {"num_spans": len(self.spans)}

    @overrides
    def as_tensor(self, padding_lengths: Dict[str, int]) -> torch.Tensor:
        tensor = torch.full((padding_lengths["num_spans"], 2), -1, dtype=torch.long)  # [M, 2]
        if self.spans:
            tensor[: len(self.spans)] = torch.tensor(self.spans, dtype=torch.long)
        return tensor

    @overrides
    def sequence_length(self) -> int:
        return len(self.spans)

    @overrides
    def empty_field(self) -> "SpanListField":
        return SpanListField([])

    def __len__(self) -> int:
        return len(self.spans)

    def __str__(self) -> str:
        return f"SpanListField of {len(self.spans)} spans."
