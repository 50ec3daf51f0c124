"""Registered components; importing this package registers them."""
from ere_allennlp.dataset_readers.ere_json import EreJsonReader  # noqa: F401
