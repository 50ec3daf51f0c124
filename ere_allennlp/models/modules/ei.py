"""The ``ei`` module (Table 1): entity identification: one score per span, absent fixed at 0."""
from allennlp.models.model import Model

from ere_allennlp.models.span_model import SpanModel


@Model.register("ei")
class Ei(SpanModel):
    """Entity identification: one score per span, absent fixed at 0."""

    MODULE = "ei"

    ENTITY_HEAD = "identify"
