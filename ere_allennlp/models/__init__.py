"""Registered components; importing this package registers them."""
from ere_allennlp.models.span_model import (  # noqa: F401
    SpanModel, Ei, Ec, Ner, Ri, Rc, Re, EcRi, NerRi, EcRe, NerRe,
)
from ere_allennlp.models.span_pruner import SpanPruner  # noqa: F401
from ere_allennlp.models.approach import Approach  # noqa: F401
