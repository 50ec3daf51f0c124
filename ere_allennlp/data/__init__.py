"""Data fields and token indexers of ere_allennlp."""
from ere_allennlp.data.fields import SpanListField  # noqa: F401
from ere_allennlp.data.token_indexers import FastMismatchedIndexer  # noqa: F401
