"""A module of Table 1: cross-task: entity classification and relation identification."""
from ere_allennlp.models.registry import register_module
from ere_allennlp.models.span_model import SpanModel


@register_module
class EcRi(SpanModel):
    """Cross-task: entity classification and relation identification."""

    MODULE = "ecri"

    ENTITY_HEAD = "classify"
    RELATION_HEAD = "identify"
