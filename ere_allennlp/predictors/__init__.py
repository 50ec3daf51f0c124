"""Registered components; importing this package registers them."""
from ere_allennlp.predictors.ere import ErePredictor  # noqa: F401
