"""The ``rc`` module (Table 1): relation classification of given related pairs (no null)."""
from allennlp.models.model import Model

from ere_allennlp.models.span_model import SpanModel


@Model.register("rc")
class Rc(SpanModel):
    """Relation classification of given related pairs (no null)."""

    MODULE = "rc"

    RELATION_HEAD = "classify"
