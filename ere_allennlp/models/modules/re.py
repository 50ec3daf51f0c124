"""The ``re`` module (Table 1): relation extraction: relation types plus a learned null label."""
from allennlp.models.model import Model

from ere_allennlp.models.span_model import SpanModel


@Model.register("re")
class Re(SpanModel):
    """Relation extraction: relation types plus a learned null label."""

    MODULE = "re"

    RELATION_HEAD = "classify_null"
