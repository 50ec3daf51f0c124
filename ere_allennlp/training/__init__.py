"""Training add-ons: the ``rng_state`` trainer callback (exact ``allennlp train --recover``),
``portable_archive`` (module archives that load without the pruner archive, with a manifest) and
``model_epoch`` (the model learns which epoch it trains, for options that change with it)."""
from ere_allennlp.training.model_epoch import ModelEpochCallback  # noqa: F401
from ere_allennlp.training.portable_archive import PortableArchiveCallback  # noqa: F401
from ere_allennlp.training.rng_state import RngStateCallback  # noqa: F401
