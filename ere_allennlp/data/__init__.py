"""Data fields of ere_allennlp."""
from ere_allennlp.data.fields import SpanListField  # noqa: F401
