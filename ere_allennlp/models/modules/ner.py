"""The ``ner`` module (Table 1): named entity recognition: entity types plus a learned null label."""
from allennlp.models.model import Model

from ere_allennlp.models.span_model import SpanModel


@Model.register("ner")
class Ner(SpanModel):
    """Named entity recognition: entity types plus a learned null label."""

    MODULE = "ner"

    ENTITY_HEAD = "classify_null"
