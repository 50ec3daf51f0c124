"""The paper's study: trainings per seed, approaches, Tables 2-6 (`Study`, `StudyTables`,
``allennlp ere-study``) and significance tests between approaches (paper Section 3.1)."""
from ere_allennlp.study.significance import compare, document_counts, paired_permutation_test  # noqa: F401
from ere_allennlp.study.runner import Study, StudyError, StudySettings  # noqa: F401
from ere_allennlp.study.tables import StudyTables  # noqa: F401
