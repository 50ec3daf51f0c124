"""docs/spacy.md's first code block (the README's lines from ``spacy.blank`` to a drawn result)
runs as written, on the tiny trained a4 instead of runs/scierc_a4."""
import re
from pathlib import Path

from ere_allennlp.spacy_component.render import relation_arcs
from tests.conftest import REPO_ROOT
from tests.spacy_component.conftest import Archives


def test_the_documented_lines_draw_entities_and_relations(archives: Archives, tmp_path: Path, monkeypatch) -> None:
    text = (REPO_ROOT / "docs" / "spacy.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert f"```python\n{code}```" in readme.split("## Inside spaCy", 1)[1], "README's spaCy lines differ from docs/spacy.md's"
    assert "runs/scierc_a4/model.tar.gz" in code and code.count("\n") == 10
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code.replace("runs/scierc_a4/model.tar.gz", archives.a4), "docs/spacy.md", "exec"), scope)
    doc, page = scope["doc"], (tmp_path / "ere.html").read_text(encoding="utf-8")
    assert doc.spans["ere"] and doc._.ere_relations
    assert page.count("<svg") == len(relation_arcs(doc)) == 2  # both sentences hold a relation
    assert page.count('class="displacy-arc"') == len(doc._.ere_relations)
    for span in doc.spans["ere"]:
        assert span.label_ in page
    for relation in doc._.ere_relations:
        assert relation.label in page
