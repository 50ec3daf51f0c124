"""A module of Table 1: entity classification over the gold entity types (no null)."""
from ere_allennlp.models.registry import register_module
from ere_allennlp.models.span_model import SpanModel


@register_module
class Ec(SpanModel):
    """Entity classification over the gold entity types (no null)."""

    MODULE = "ec"

    ENTITY_HEAD = "classify"
