"""The ``ecre`` module (Table 1): cross-task: entity classification and relation extraction."""
from allennlp.models.model import Model

from ere_allennlp.models.span_model import SpanModel


@Model.register("ecre")
class EcRe(SpanModel):
    """Cross-task: entity classification and relation extraction."""

    MODULE = "ecre"

    ENTITY_HEAD = "classify"
    RELATION_HEAD = "classify_null"
