"""The ``ri`` module (Table 1): relation identification over ordered span pairs, absent fixed at 0."""
from allennlp.models.model import Model

from ere_allennlp.models.span_model import SpanModel


@Model.register("ri")
class Ri(SpanModel):
    """Relation identification over ordered span pairs, absent fixed at 0."""

    MODULE = "ri"

    RELATION_HEAD = "identify"
