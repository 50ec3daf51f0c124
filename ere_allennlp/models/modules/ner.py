"""A module of Table 1: named entity recognition: entity types plus a learned null label."""
from ere_allennlp.models.registry import register_module
from ere_allennlp.models.span_model import SpanModel


@register_module
class Ner(SpanModel):
    """Named entity recognition: entity types plus a learned null label."""

    MODULE = "ner"

    ENTITY_HEAD = "classify_null"
