"""AllenNLP subcommands (found through `.allennlp_plugins`; see README)."""
from ere_allennlp.commands.build_approach import BuildApproach  # noqa: F401
