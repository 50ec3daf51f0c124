"""Registered components; importing this package registers them."""
from ere_allennlp.span_extractors.biaffine import BiaffineSpanExtractor  # noqa: F401
