"""AllenNLP subcommands (found through `.allennlp_plugins`; see README)."""
from ere_allennlp.commands.analyze import Analyze  # noqa: F401  (allennlp ere-analyze)
from ere_allennlp.commands.build_approach import BuildApproach  # noqa: F401  (allennlp ere-approach)
from ere_allennlp.commands.compare import Compare  # noqa: F401  (allennlp ere-compare)
from ere_allennlp.commands.convert import Convert  # noqa: F401  (allennlp ere-convert)
from ere_allennlp.commands.info import Info  # noqa: F401  (allennlp ere-info)
from ere_allennlp.commands.predict_corpus import PredictCorpus  # noqa: F401  (allennlp ere-predict-corpus)
from ere_allennlp.commands.study import RunStudy  # noqa: F401  (allennlp ere-study)
from ere_allennlp.commands.train import Train  # noqa: F401  (allennlp ere-train)
