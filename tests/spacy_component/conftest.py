"""Tiny modules that predict something, for the spaCy component's tests.

The session fixture ``runs`` (tests/conftest.py) trains one epoch, after which the tiny modules
predict nothing, and a comparison of empty outputs cannot fail. Here Ner and Re are trained for
15 epochs at lr 5e-3 on the fixture corpus (about 10 s on one thread): on the training sentences
the approach a4 (Ner -> Re) then finds most entities and several relations, with probabilities
well away from the decision boundaries.
"""
from typing import Any, Dict, List, NamedTuple

import pytest
import spacy
from spacy.language import Language

import ere_spacy  # noqa: F401  (registers the factory here whatever metadata the working folder shadows; see below)
from tests.models.module_runs import ModuleRuns

# spaCy finds the factory through the entry point of the installed distribution, which
# tests/spacy_component/factory_test.py checks in a fresh process run from another folder. In this
# process the working folder is the repository, where a stale, git-ignored ere_allennlp.egg-info
# left by a build would shadow the installed metadata: importing the module registers it anyway.

EPOCHS = 15
LR = "5e-3"

# Texts in the corpus's phrasing (so that the tiny model finds entities and relations) with the
# things spaCy's tokenizer and the component must handle: infix hyphens the corpus does not split,
# contractions, brackets, runs of spaces and line breaks (whitespace tokens), a zero-width space.
TEXTS = [
    "We propose a neural network model for machine translation. The model is evaluated with BLEU score on news articles.",
    "Conditional random fields are used for named entity recognition.\n\nWe combine word features and character features in the model.",
    "This paper studies dependency parsing of Chinese text.  A graph-based parser is compared with a transition-based parser.",
    "F1 score is used to evaluate the tagger (a neural network model). It doesn't outperform previous systems.",
    "  We propose a neural   network model for machine translation \u200b .\n",
    "It outperforms previous systems.",
]


class Archives(NamedTuple):
    a4: str  # approach a4, Ner -> Re
    ner: str  # the Ner module alone
    re: str  # the Re module alone (no entity head)


@pytest.fixture(scope="session")
def archives(tmp_path_factory: pytest.TempPathFactory) -> Archives:
    root = tmp_path_factory.mktemp("spacy_runs")
    runs = ModuleRuns(root, epochs=EPOCHS)
    runs.env["ERE_LR"] = LR
    runs.ensure(["ner", "re"])
    with pytest.MonkeyPatch.context() as monkeypatch:
        a4 = runs.build("a4", monkeypatch, root)
    return Archives(a4, str(runs.archive("ner")), str(runs.archive("re")))


def pipeline(archive: str, **config: Any) -> Language:
    """A blank English pipeline with the component, made by its registered name."""
    nlp = spacy.blank("en")
    nlp.add_pipe("ere_allennlp", config={"archive": archive, **config})
    return nlp


@pytest.fixture(scope="session")
def a4_nlp(archives: Archives) -> Language:
    """One pipeline over a4 with the default config, shared (loading an archive takes seconds)."""
    return pipeline(archives.a4)


def entity_rows(doc, spans_key: str = "ere") -> List[tuple]:
    return [(s.start, s.end, s.label_, s._.ere_prob) for s in doc.spans[spans_key]]


def relation_rows(doc, spans_key: str = "ere") -> List[tuple]:
    from ere_allennlp.spacy_component import relations

    return [(r.head.start, r.head.end, r.tail.start, r.tail.end, r.label, r.probability)
            for r in relations(doc, spans_key)]


def summary(doc, spans_key: str = "ere") -> Dict[str, List[tuple]]:
    return {"entities": entity_rows(doc, spans_key), "relations": relation_rows(doc, spans_key)}


def assert_same(got: Dict[str, List[tuple]], expected: Dict[str, List[tuple]], tolerance: float = 1e-5) -> None:
    """Offsets and labels equal, probabilities within `tolerance` (batches pad differently)."""
    assert got.keys() == expected.keys()
    for key in got:
        assert [row[:-1] for row in got[key]] == [row[:-1] for row in expected[key]], key
        assert [row[-1] for row in got[key]] == pytest.approx([row[-1] for row in expected[key]], abs=tolerance), key
