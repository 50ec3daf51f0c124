"""A module of Table 1: relation identification over ordered span pairs, absent fixed at 0."""
from ere_allennlp.models.registry import register_module
from ere_allennlp.models.span_model import SpanModel


@register_module
class Ri(SpanModel):
    """Relation identification over ordered span pairs, absent fixed at 0."""

    MODULE = "ri"

    RELATION_HEAD = "identify"
