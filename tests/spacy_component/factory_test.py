"""The factory ``ere_allennlp`` (``ere_spacy.py``): found by name through the ``spacy_factories``
entry point in a fresh process that never imports ``ere_allennlp`` itself, and a pipeline saved
with ``nlp.to_disk`` loads again with ``spacy.load``."""
import json
import os
import subprocess
import sys
from pathlib import Path

import spacy

from tests.spacy_component.conftest import TEXTS, Archives, summary

SCRIPT = """
import json, sys, spacy
from importlib.metadata import entry_points
nlp = spacy.blank("en")
light = "ere_spacy" in sys.modules and "ere_allennlp" not in sys.modules
points = [p.value for p in entry_points(group="spacy_factories") if p.name == "ere_allennlp"]
nlp.add_pipe("ere_allennlp", config={"archive": sys.argv[1], "batch_size": 4})
docs = list(nlp.pipe(json.loads(sys.argv[2])))
print(json.dumps({"light": light, "points": points, "docs": [
    {"entities": [[s.start, s.end, s.label_, s._.ere_prob] for s in d.spans["ere"]],
     "relations": [[r.head.start, r.head.end, r.tail.start, r.tail.end, r.label, r.probability] for r in d._.ere_relations]}
    for d in docs]}))
"""


def test_the_factory_module_imports_only_spacy() -> None:
    source = (Path(__file__).resolve().parents[2] / "ere_spacy.py").read_text(encoding="utf-8")
    assert "import ere_allennlp" not in source.split("def make_ere_component")[0]
    assert "[options.entry_points]" in (Path(__file__).resolve().parents[2] / "setup.cfg").read_text(encoding="utf-8")


def test_factory_by_name_in_a_fresh_process(archives: Archives, a4_nlp, tmp_path: Path) -> None:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-c", SCRIPT, archives.a4, json.dumps(TEXTS)], cwd=tmp_path, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.splitlines()[-1])
    assert out["points"] == ["ere_spacy:make_ere_component"]  # the installed entry point
    assert out["light"]  # building a pipeline imported the factory's module, not the package
    expected = [summary(doc) for doc in a4_nlp.pipe(TEXTS, batch_size=4)]
    got = [{key: [tuple(row) for row in doc[key]] for key in doc} for doc in out["docs"]]
    assert got == expected and sum(len(doc["relations"]) for doc in got) >= 5


def test_to_disk_and_spacy_load(archives: Archives, tmp_path: Path) -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("ere_allennlp", config={"archive": archives.a4, "spans_key": "found", "set_ents": True})
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.pipe_names == ["ere_allennlp"]
    assert loaded.get_pipe_config("ere_allennlp")["spans_key"] == "found"
    doc, again = nlp(TEXTS[0]), loaded(TEXTS[0])
    assert summary(doc, "found") == summary(again, "found") and again.ents
