"""Training add-ons: the ``rng_state`` trainer callback (exact ``allennlp train --recover``) and
``portable_archive`` (module archives that load without the pruner archive, with a manifest)."""
from ere_allennlp.training.portable_archive import PortableArchiveCallback  # noqa: F401
from ere_allennlp.training.rng_state import RngStateCallback  # noqa: F401
