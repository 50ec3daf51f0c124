"""A module of Table 1: relation classification of given related pairs (no null)."""
from ere_allennlp.models.registry import register_module
from ere_allennlp.models.span_model import SpanModel


@register_module
class Rc(SpanModel):
    """Relation classification of given related pairs (no null)."""

    MODULE = "rc"

    RELATION_HEAD = "classify"
