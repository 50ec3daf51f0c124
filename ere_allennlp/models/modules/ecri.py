"""The ``ecri`` module (Table 1): cross-task: entity classification and relation identification."""
from allennlp.models.model import Model

from ere_allennlp.models.span_model import SpanModel


@Model.register("ecri")
class EcRi(SpanModel):
    """Cross-task: entity classification and relation identification."""

    MODULE = "ecri"

    ENTITY_HEAD = "classify"
    RELATION_HEAD = "identify"
