"""Registered components; importing this package registers them."""
from ere_allennlp.metrics.ere_f1 import EreF1  # noqa: F401
from ere_allennlp.metrics.span_recall import SpanRecall  # noqa: F401
