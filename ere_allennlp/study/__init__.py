"""Studies over prediction files: significance tests between approaches (paper Section 3.1)."""
from ere_allennlp.study.significance import compare, document_counts, paired_permutation_test  # noqa: F401
