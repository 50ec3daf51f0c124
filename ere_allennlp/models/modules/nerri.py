"""A module of Table 1: cross-task: NER and relation identification (on pruned spans)."""
from ere_allennlp.models.registry import register_module
from ere_allennlp.models.span_model import SpanModel


@register_module
class NerRi(SpanModel):
    """Cross-task: NER and relation identification (on pruned spans)."""

    MODULE = "nerri"

    ENTITY_HEAD = "classify_null"
    RELATION_HEAD = "identify"
