"""Trained modules and approaches inside spaCy: the ``ere_allennlp`` pipeline component
(``component.py``), what it stores on a ``Doc`` (``storage.py``: entities in ``doc.spans``,
probabilities in ``span._.ere_prob``, relations in ``doc.user_data`` read as
``doc._.ere_relations``) and a displaCy arc view of the relations (``render.py``). The factory
itself is registered by ``ere_spacy.py``, beside the package (docs/spacy.md says why).

Importing this package registers the two extensions, so that Docs read back from a ``DocBin`` in
another process have ``doc._.ere_relations`` and ``span._.ere_prob`` without building the pipeline.
"""
from ere_allennlp.spacy_component.storage import EreRelation, register_extensions, relations
from ere_allennlp.spacy_component.render import render_relations

register_extensions()

__all__ = ["EreRelation", "register_extensions", "relations", "render_relations"]
