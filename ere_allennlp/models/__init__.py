"""Registered components; importing this package registers them."""
from ere_allennlp.models.span_model import SpanModel  # noqa: F401
from ere_allennlp.models.modules import Ec, EcRe, EcRi, Ei, Ner, NerRe, NerRi, Rc, Re, Ri  # noqa: F401
from ere_allennlp.models.span_pruner import SpanPruner  # noqa: F401
from ere_allennlp.models.approach import Approach  # noqa: F401
from ere_allennlp.models import compat  # noqa: F401  (the module names of earlier archives)
