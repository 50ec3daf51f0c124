"""The ``nerre`` module (Table 1): cross-task: NER and relation extraction (on pruned spans)."""
from allennlp.models.model import Model

from ere_allennlp.models.span_model import SpanModel


@Model.register("nerre")
class NerRe(SpanModel):
    """Cross-task: NER and relation extraction (on pruned spans). Without ``inference`` it is
    the paper's NerRe* (shared encoder, first-order inference)."""

    MODULE = "nerre"

    ENTITY_HEAD = "classify_null"
    RELATION_HEAD = "classify_null"
