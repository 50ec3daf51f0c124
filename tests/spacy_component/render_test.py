"""displaCy: the entities through its ``span`` style, the relations through the arc view."""
import re

from spacy import displacy

from ere_allennlp.spacy_component import render_relations, storage
from ere_allennlp.spacy_component.render import relation_arcs
from tests.spacy_component.conftest import TEXTS
from tests.spacy_component.storage_test import hand_written


def test_arcs_by_hand() -> None:
    doc = hand_written()
    (parsed,) = relation_arcs(doc)
    assert [w["text"] for w in parsed["words"]] == [t.text for t in doc]
    assert [w["tag"] for w in parsed["words"]] == ["", "", "", "", "Method/Task", "", "Task", ""]
    # USED-FOR: "translation" (end of the head) -> "parsing"; PART-OF joins two spans ending at
    # "translation": anchored at their first tokens, "machine" -> "neural", the arrow on the left
    assert parsed["arcs"] == [{"start": 4, "end": 6, "label": "USED-FOR", "dir": "right"},
                              {"start": 2, "end": 3, "label": "PART-OF", "dir": "left"}]
    markup = render_relations(doc)
    assert markup.count("<svg") == 1 and markup.count('class="displacy-arc"') == 2
    assert "USED-FOR" in markup and "PART-OF" in markup
    assert render_relations(doc, page=True).lstrip().lower().startswith("<!doctype html>")


def test_only_sentences_with_relations_are_drawn() -> None:
    doc = hand_written()
    storage.write(doc, "ere", [(2, 5, "Method", 0.9), (6, 7, "Task", 0.8)], [], [(0, 5), (5, 8)])
    assert render_relations(doc) == "" and relation_arcs(doc) == []
    storage.write(doc, "ere", [(2, 5, "Method", 0.9), (6, 7, "Task", 0.8)], [(6, 7, 6, 7, "X", 0.5)], [(0, 5), (5, 8)])
    (parsed,) = relation_arcs(doc)
    assert [w["text"] for w in parsed["words"]] == ["for", "parsing", "."]


def test_the_components_output_is_drawn(a4_nlp) -> None:
    text = TEXTS[1]  # two sentences split by a blank line (a whitespace token)
    doc = a4_nlp(text)
    relations = doc._.ere_relations
    assert relations
    markup = render_relations(doc, options={"compact": True})
    sentences = {next(n for n, (s, e) in enumerate(storage.sentences(doc)) if s <= r.head.start < e) for r in relations}
    assert markup.count("<svg") == len(sentences)
    assert markup.count('class="displacy-arc"') == len(relations)
    assert "\n\n" not in re.findall(r'class="displacy-word"[^>]*>([^<]*)<', markup)
    for relation in relations:
        assert relation.label in markup
    spans = displacy.render(doc, style="span", options={"spans_key": "ere"}, jupyter=False)
    for span in doc.spans["ere"]:
        assert span.label_ in spans
