"""The spaCy factory ``ere_allennlp`` (``nlp.add_pipe("ere_allennlp", config={"archive": ...})``):
the component is ``ere_allennlp.spacy_component.component.EreComponent``, whose docstring lists
the config keys.

spaCy finds this module through the ``spacy_factories`` entry point (setup.cfg), so the factory
works in any process without an import of ``ere_allennlp``. It is a top-level module, beside the
package, because spaCy imports every ``spacy_factories`` entry point each time a ``Language`` is
built (``spacy.blank``, ``spacy.load``): an entry point inside ``ere_allennlp`` would import the
package, and with it AllenNLP and torch (seconds), into every spaCy pipeline of the environment.
This module imports nothing but spaCy; the package is imported when the component is made.
"""
from typing import Any, Optional

from spacy.language import Language

FACTORY = "ere_allennlp"
DEFAULT_CONFIG = {
    "cuda_device": -1,
    "batch_size": 32,
    "spans_key": "ere",
    "set_ents": False,
    "entity_null_offset": None,
}


@Language.factory(
    FACTORY,
    default_config=DEFAULT_CONFIG,
    assigns=["doc.spans", "doc.ents", "doc._.ere_relations", "span._.ere_prob"],
)
def make_ere_component(
    nlp: Language,
    name: str,
    archive: str,
    cuda_device: int,
    batch_size: int,
    spans_key: str,
    set_ents: bool,
    entity_null_offset: Optional[float],
) -> Any:
    """Loads `archive` once and returns the component (``EreComponent``)."""
    from ere_allennlp.spacy_component.component import EreComponent

    return EreComponent(nlp, name, archive=archive, cuda_device=cuda_device, batch_size=batch_size,
                        spans_key=spans_key, set_ents=set_ents, entity_null_offset=entity_null_offset)
