"""A module of Table 1: cross-task: NER and relation extraction (on pruned spans)."""
from ere_allennlp.models.registry import register_module
from ere_allennlp.models.span_model import SpanModel


@register_module
class NerRe(SpanModel):
    """Cross-task: NER and relation extraction (on pruned spans). Without ``inference`` it is
    the paper's NerRe* (shared encoder, first-order inference)."""

    MODULE = "nerre"

    ENTITY_HEAD = "classify_null"
    RELATION_HEAD = "classify_null"
