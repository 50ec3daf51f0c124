"""A module of Table 1: entity identification: one score per span, absent fixed at 0."""
from ere_allennlp.models.registry import register_module
from ere_allennlp.models.span_model import SpanModel


@register_module
class Ei(SpanModel):
    """Entity identification: one score per span, absent fixed at 0."""

    MODULE = "ei"

    ENTITY_HEAD = "identify"
