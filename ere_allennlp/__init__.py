"""ere_allennlp: span-based pipeline and joint entity and relation extraction for AllenNLP.

Importing the package registers every component (so ``--include-package ere_allennlp`` is all a
config needs) and does nothing else: it sets no environment variable and patches nothing.
"""
from ere_allennlp import data, dataset_readers, metrics, modules, span_extractors, models, predictors, commands, training  # noqa: F401
