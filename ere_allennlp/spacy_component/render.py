"""Relations drawn with displaCy: an arc view, one diagram per sentence that holds a relation
(the sentences the model read, ``ere_allennlp/spacy_component/storage.py``).

displaCy's ``dep`` style in manual mode: the words are the sentence's tokens (blank ones left out),
an arc per relation goes from its head argument to its tail argument (the arrow at the tail) with
the relation label, and under each word the labels of the entities (of ``doc.spans[spans_key]``)
that end there. An argument is anchored at its last token (the head word of an English noun
phrase); where two nested arguments of a relation end at the same token, both are anchored at
their first tokens. The entities' extents are drawn by displaCy's own ``span`` style:
``displacy.render(doc, style="span", options={"spans_key": "ere"})``. No config keys.
"""
from typing import Any, Dict, List, Optional, Tuple

from spacy import displacy
from spacy.tokens import Doc

from ere_allennlp.spacy_component import storage
from ere_allennlp.spacy_component.component import is_blank


def _anchors(relation: storage.EreRelation) -> Tuple[int, int]:
    """The Doc tokens an arc joins: the arguments' last tokens, or their first where those coincide."""
    head, tail = relation.head.end - 1, relation.tail.end - 1
    if head == tail:
        head, tail = relation.head.start, relation.tail.start
    return head, tail


def relation_arcs(doc: Doc, spans_key: str = "ere") -> List[Dict[str, Any]]:
    """displaCy's manual ``dep`` input: one dict (``words``, ``arcs``) per sentence with a relation."""
    relations = storage.relations(doc, spans_key)
    entities = list(doc.spans[spans_key]) if spans_key in doc.spans else []
    parsed = []
    for start, end in storage.sentences(doc, spans_key):
        inside = [r for r in relations if start <= r.head.start < end]  # a relation lies within a sentence
        if not inside:
            continue
        index = {t.i: n for n, t in enumerate(t for t in doc[start:end] if not is_blank(t))}
        words = [{"text": doc[i].text, "tag": "/".join(e.label_ for e in entities if e.end - 1 == i)} for i in index]
        arcs = []
        for relation in inside:
            head, tail = (index[i] for i in _anchors(relation))
            left, right = sorted((head, tail))
            arcs.append({"start": left, "end": right, "label": relation.label, "dir": "right" if tail > head else "left"})
        parsed.append({"words": words, "arcs": arcs})
    return parsed


def render_relations(
    doc: Doc,
    spans_key: str = "ere",
    options: Optional[Dict[str, Any]] = None,
    page: bool = False,
    minify: bool = False,
    jupyter: Optional[bool] = None,
) -> Optional[str]:
    """The arc view of `doc`'s relations as SVG markup (an HTML page with `page`; "" when there
    is no relation). `options` are displaCy's ``dep`` options (``compact``, ``distance``, colours).
    As ``displacy.render``: in a notebook (``jupyter=None``, or True) it is shown there and None
    returned; ``jupyter=False`` always returns the markup."""
    parsed = relation_arcs(doc, spans_key)
    if not parsed:
        return ""
    return displacy.render(parsed, style="dep", manual=True, options=options or {}, page=page, minify=minify,
                           jupyter=jupyter)
