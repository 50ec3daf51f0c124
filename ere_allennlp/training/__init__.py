"""Training add-ons: the ``rng_state`` trainer callback (exact ``allennlp train --recover``)."""
from ere_allennlp.training.rng_state import RngStateCallback  # noqa: F401
