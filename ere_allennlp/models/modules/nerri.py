"""The ``nerri`` module (Table 1): cross-task: NER and relation identification (on pruned spans)."""
from allennlp.models.model import Model

from ere_allennlp.models.span_model import SpanModel


@Model.register("nerri")
class NerRi(SpanModel):
    """Cross-task: NER and relation identification (on pruned spans)."""

    MODULE = "nerri"

    ENTITY_HEAD = "classify_null"
    RELATION_HEAD = "identify"
