from ere_allennlp.data.token_indexers.fast_mismatched import FastMismatchedIndexer  # noqa: F401
