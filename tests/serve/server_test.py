"""``allennlp ere-serve`` in a subprocess over a trained a4, over HTTP: answers equal ``allennlp
predict``'s on the same archive and input, character offsets, 64 concurrent requests all answered
and none mixed up (batched, and equal to the unbatched answers), health, info, metrics, the page in
headless Chromium, errors for unknown paths."""
import concurrent.futures
import json
import re
from pathlib import Path
from typing import Any, Dict, List

import pytest

from ere_allennlp import archival
from tests.serve.conftest import TEXTS, Server, documents_of
from tests.spacy_component.component_test import allennlp_predict

pytestmark = pytest.mark.xdist_group("serve")

DYGIE = {"doc_key": "dygie", "sentences": [["We", "propose", "a", "neural", "network", "model", "for", "machine",
                                            "translation", "."],
                                           ["The", "model", "is", "evaluated", "with", "BLEU", "score", "."]],
         "ner": [[], []], "relations": [[], []], "clusters": []}  # gold fields and others are ignored


def assert_same_prediction(got: Dict[str, Any], expected: Dict[str, Any], tolerance: float = 1e-5) -> None:
    """allennlp predict's fields equal, probabilities within `tolerance` (batches pad differently)."""
    for key in ("doc_key", "sentences"):
        assert got[key] == expected[key]
    for key in ("predicted_ner", "predicted_relations"):
        assert [[row[:-1] for row in s] for s in got[key]] == [[row[:-1] for row in s] for s in expected[key]], key
        assert [row[-1] for s in got[key] for row in s] == pytest.approx(
            [row[-1] for s in expected[key] for row in s], abs=tolerance), key


def test_answers_equal_allennlp_predict(a4_server: Server, archives, tmp_path: Path) -> None:
    inputs = documents_of(TEXTS) + [DYGIE]
    response = a4_server.post({"documents": inputs})
    assert response.status_code == 200, response.text
    answers = response.json()["documents"]
    expected = allennlp_predict(archives.a4, inputs, tmp_path)
    assert len(answers) == len(expected) == len(inputs)
    for got, want in zip(answers, expected):
        assert_same_prediction(got, want)
    assert sum(len(s) for a in answers for s in a["predicted_ner"]) >= 15
    assert sum(len(s) for a in answers for s in a["predicted_relations"]) >= 5
    # one raw text as {"text": ...} is the same document
    single = a4_server.post({"text": TEXTS[0], "doc_key": "doc0"}).json()["documents"]
    assert len(single) == 1
    assert_same_prediction(single[0], expected[0])


def test_entities_and_relations_carry_token_and_character_offsets(a4_server: Server) -> None:
    answers = a4_server.post({"documents": documents_of(TEXTS) + [DYGIE]}).json()["documents"]
    checked = 0
    for document in answers:
        text, tokens = document["text"], [t for s in document["sentences"] for t in s]
        entities = [(e["start"], e["end"], e["label"], e["probability"]) for e in document["entities"]]
        assert entities == [tuple(row) for s in document["predicted_ner"] for row in s]
        relations = [(r["head"]["start"], r["head"]["end"], r["tail"]["start"], r["tail"]["end"], r["label"],
                      r["probability"]) for r in document["relations"]]
        assert relations == [tuple(row) for s in document["predicted_relations"] for row in s]
        mentions = document["entities"] + [m for r in document["relations"] for m in (r["head"], r["tail"])]
        for mention in mentions:
            span = text[mention["char_start"]:mention["char_end"]]
            assert span == mention["text"]
            # the mention's characters are its tokens, with the text's own white space between them
            assert re.sub(r"\s+", "", span) == "".join(tokens[mention["start"]:mention["end"] + 1])
            assert span.startswith(tokens[mention["start"]]) and span.endswith(tokens[mention["end"]])
            checked += 1
    assert checked >= 20
    dygie = answers[-1]
    assert dygie["text"] == " ".join(t for s in DYGIE["sentences"] for t in s)


def test_64_concurrent_requests_are_batched_and_each_gets_its_own_answer(a4_server: Server) -> None:
    texts = [TEXTS[n % len(TEXTS)] + " " * (n // len(TEXTS)) for n in range(64)]  # 64 distinct bodies
    bodies = [{"text": text, "doc_key": f"request-{n}"} for n, text in enumerate(texts)]
    alone = [a4_server.post(body).json()["documents"][0] for body in bodies[:len(TEXTS)]]  # one at a time
    before = _batch_histogram(a4_server)
    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        responses = list(pool.map(a4_server.post, bodies))
    assert [r.status_code for r in responses] == [200] * 64
    answers = [r.json()["documents"] for r in responses]
    assert all(len(a) == 1 for a in answers)
    for n, (answer,) in enumerate(answers):
        assert answer["doc_key"] == f"request-{n}" and answer["text"] == texts[n]
        expected = dict(alone[n % len(TEXTS)], doc_key=f"request-{n}")
        assert_same_prediction(answer, expected)
    after = _batch_histogram(a4_server)
    documents = after["sum"] - before["sum"]
    passes = after["count"] - before["count"]
    assert documents == 64
    assert passes < 64  # some forward passes held documents of several requests
    metrics = a4_server.client.get("/metrics").text
    assert 'ere_requests_total{path="/v1/extract",status="200"}' in metrics
    assert "ere_queue_documents 0.0" in metrics


def _batch_histogram(server: Server) -> Dict[str, float]:
    text = server.client.get("/metrics").text
    values = dict(re.findall(r"^ere_batch_documents_(sum|count) (\S+)$", text, flags=re.M))
    return {k: float(v) for k, v in values.items()}


def test_health_info_and_unknown_paths(a4_server: Server, archives) -> None:
    assert a4_server.client.get("/health").json() == {"status": "ready"}
    info = a4_server.client.get("/v1/info").json()
    assert info["manifest"] == archival.archive_manifest(archives.a4)
    assert info["manifest"]["kind"] == "approach"
    assert info["limits"]["max_batch_size"] == 16 and info["state"] == "ready"
    missing = a4_server.client.get("/v2/extract")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found"
    wrong = a4_server.client.get("/v1/extract")
    assert wrong.status_code == 405 and wrong.json()["error"]["status"] == 405
    assert "ere_requests_total" in a4_server.client.get("/metrics").text


def test_the_page_draws_the_json_answer(a4_server: Server) -> None:
    from tests.browser import headless_browser

    page = a4_server.client.get("/").text
    assert "<textarea" in page and "http" not in page.lower().replace("http-equiv", "")  # nothing fetched
    browser = headless_browser()
    text = TEXTS[0]
    try:
        from selenium.webdriver.support.ui import WebDriverWait

        browser.get(a4_server.url + "/")
        browser.find_element("id", "text").send_keys(text)
        browser.find_element("id", "submit").click()
        WebDriverWait(browser, 30).until(lambda b: b.find_element("tag name", "body").get_attribute("data-done") == "1")
        assert browser.find_element("id", "error").text == ""
        drawn_entities = sorted((e.get_attribute("data-label"), e.find_element("css selector", ".tok").text)
                                for e in browser.find_elements("css selector", ".ent"))
        drawn_relations = sorted(r.text for r in browser.find_elements("css selector", ".rel"))
        rows = len(browser.find_elements("css selector", "tr.entity-row"))
    finally:
        browser.quit()
    answer = a4_server.post({"text": text}).json()["documents"][0]
    tokens = [t for s in answer["sentences"] for t in s]
    expected_entities = sorted((e["label"], tokens[e["start"]]) for e in answer["entities"])
    assert drawn_entities == expected_entities and len(expected_entities) >= 3
    assert rows == len(answer["entities"])
    expected_relations = sorted(f"{' '.join(tokens[r['head']['start']:r['head']['end'] + 1])} → {r['label']} → "
                                f"{' '.join(tokens[r['tail']['start']:r['tail']['end'] + 1])} (predicted)"
                                for r in answer["relations"])
    assert drawn_relations == expected_relations and expected_relations


def test_invalid_request_to_a_running_server_names_the_field(a4_server: Server) -> None:
    bad = {"documents": [{"text": "fine"}, {"sentences": [["a", "b"], ["c", 3]]}]}
    response = a4_server.post(bad)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "documents[1].sentences[1][1]"
    broken = a4_server.client.post("/v1/extract", content=b'{"text": "unterminated')
    assert broken.status_code == 422 and broken.json()["error"]["field"] == "<body>"
    assert json.loads(a4_server.post({"text": "It outperforms previous systems."}).text)["documents"]
