"""The HTML report in a real headless browser (Debian's chromium, driven by Debian's chromedriver
through selenium; nothing is downloaded): the entities and relations rendered equal the input,
the filters and the search hide and show what they should, and a screenshot is not blank."""
import json
from pathlib import Path

import pytest

from ere_allennlp.analysis.html import write_report
from ere_allennlp.analysis.report import breakdown_of
from tests.browser import headless_browser as _browser
from tests.conftest import FIXTURES

def _predictions(tmp_path: Path):
    gold = FIXTURES / "data" / "test.json"
    records = [json.loads(line) for line in gold.read_text().splitlines() if line.strip()]
    perfect, edited = [], []
    for r in records:
        perfect.append({"doc_key": r["doc_key"], "sentences": r["sentences"], "predicted_ner": r["ner"],
                        "predicted_relations": r["relations"]})
        ner = [[list(e) for e in s][:-1] for s in r["ner"]]  # the last entity of each sentence dropped
        edited.append({"doc_key": r["doc_key"], "sentences": r["sentences"], "predicted_ner": ner,
                       "predicted_relations": r["relations"]})
    paths = []
    for name, items in (("perfect", perfect), ("edited", edited)):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps(x) + "\n" for x in items))
        paths.append(str(path))
    return paths, str(gold)


def test_report_in_a_headless_browser(tmp_path: Path) -> None:
    paths, gold = _predictions(tmp_path)
    page = tmp_path / "report.html"
    # gold marked for "edited", the first approach
    data = write_report({"edited": breakdown_of(paths[1], gold), "perfect": breakdown_of(paths[0], gold)}, str(page))
    assert "http" not in page.read_text().split("<script>")[0].lower()  # nothing fetched
    sentences = [s for doc in data["documents"] for s in doc["sentences"]]
    browser = _browser()
    try:
        browser.get(page.as_uri())
        count = lambda css: len(browser.find_elements("css selector", css))  # noqa: E731
        visible = lambda: count(".sentence:not(.hidden)")  # noqa: E731
        assert count(".sentence") == len(sentences)
        for side, key in (("gold", None), ("perfect", "perfect"), ("edited", "edited")):
            part = (lambda s: s["gold"]) if key is None else (lambda s, k=key: s["approaches"][k])
            assert count(f'.view[data-side="{side}"] .ent') == sum(len(part(s)["entities"]) for s in sentences)
            assert count(f'.view[data-side="{side}"] .rel') == sum(len(part(s)["relations"]) for s in sentences)
        # Filter by error kind: only the sentences holding an item of that kind stay.
        kind = "missed"
        expected = sum(any(item[-1] == kind for part in [s["gold"], *s["approaches"].values()]
                           for key in ("entities", "relations") for item in part[key]) for s in sentences)
        assert 0 < expected < len(sentences)
        browser.execute_script("const k = document.getElementById('kind'); k.value = arguments[0];"
                               "k.dispatchEvent(new Event('input'));", kind)
        assert visible() == expected
        assert browser.find_element("id", "summary").text == f"{expected} of {len(sentences)} sentences"
        browser.execute_script("const k = document.getElementById('kind'); k.value = '';"
                               "k.dispatchEvent(new Event('input'));")
        assert visible() == len(sentences)
        # The search by document key.
        doc = data["documents"][0]
        box = browser.find_element("id", "search")
        box.send_keys(doc["doc_key"])
        assert visible() == len(doc["sentences"])
        box.clear()
        box.send_keys(" ")
        browser.execute_script("document.getElementById('search').dispatchEvent(new Event('input'));")
        assert visible() == len(sentences)
        shot = tmp_path / "report.png"
        browser.save_screenshot(str(shot))
    finally:
        browser.quit()
    from PIL import Image

    image = Image.open(shot).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 20  # text and coloured spans, not a blank page
