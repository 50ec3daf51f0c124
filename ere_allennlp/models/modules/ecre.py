"""A module of Table 1: cross-task: entity classification and relation extraction."""
from ere_allennlp.models.registry import register_module
from ere_allennlp.models.span_model import SpanModel


@register_module
class EcRe(SpanModel):
    """Cross-task: entity classification and relation extraction."""

    MODULE = "ecre"

    ENTITY_HEAD = "classify"
    RELATION_HEAD = "classify_null"
