"""Registered components; importing this package registers them."""
from ere_allennlp.modules.ternary_scorer import FactorisedTernaryScorer, TernaryScorer  # noqa: F401
from ere_allennlp.modules.high_order_inference import HighOrderInference, MeanFieldInference  # noqa: F401
