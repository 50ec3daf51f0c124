"""The ``ec`` module (Table 1): entity classification over the gold entity types (no null)."""
from allennlp.models.model import Model

from ere_allennlp.models.span_model import SpanModel


@Model.register("ec")
class Ec(SpanModel):
    """Entity classification over the gold entity types (no null)."""

    MODULE = "ec"

    ENTITY_HEAD = "classify"
