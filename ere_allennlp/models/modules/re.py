"""A module of Table 1: relation extraction: relation types plus a learned null label."""
from ere_allennlp.models.registry import register_module
from ere_allennlp.models.span_model import SpanModel


@register_module
class Re(SpanModel):
    """Relation extraction: relation types plus a learned null label."""

    MODULE = "re"

    RELATION_HEAD = "classify_null"
