"""The app in-process (Starlette's TestClient runs its startup and shutdown) with a stand-in model:
a document the model fails on gets an error and the others of its request are answered; health
and extraction while the archive loads and after it failed to load; the settings' checks; the
command's refusal of a missing archive."""
import argparse
import threading
from typing import Any, Dict, List

import pytest

pytest.importorskip("fastapi", reason="the service's tests need requirements/serve.txt")
from starlette.testclient import TestClient  # noqa: E402

from ere_allennlp.commands.serve import Serve  # noqa: E402
from ere_allennlp.serve.app import create_app  # noqa: E402
from ere_allennlp.serve.engine import LocalEngine  # noqa: E402
from ere_allennlp.serve.metrics import ServeMetrics  # noqa: E402
from ere_allennlp.serve.settings import ServeSettings  # noqa: E402


def stand_in(records: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Tags the first token of each sentence as an entity; fails on a document holding "boom"."""
    if any(t == "boom" for r in records for s in r["sentences"] for t in s):
        raise ValueError("index out of range in the span extractor")
    out = []
    for r in records:
        starts = [sum(len(s) for s in r["sentences"][:k]) for k in range(len(r["sentences"]))]
        out.append({"doc_key": r["doc_key"], "sentences": r["sentences"],
                    "predicted_ner": [[[b, b, "Thing", 0.9]] for b in starts],
                    "predicted_relations": [[] for _ in r["sentences"]]})
    return out


def client(load: Any, **settings: Any) -> TestClient:
    config = ServeSettings(archive="fixtures/none.tar.gz", **settings)
    metrics = ServeMetrics()
    return TestClient(create_app(config, LocalEngine(config, metrics, load=load), metrics))


def test_the_document_the_model_fails_on_gets_an_error_and_the_others_are_answered() -> None:
    with client(lambda _: stand_in, max_wait_ms=50) as app:
        assert _ready(app)
        body = {"documents": [{"doc_key": "ok", "text": "Fine words here."},
                              {"doc_key": "bad", "sentences": [["a", "boom"]]},
                              {"doc_key": "also ok", "sentences": [["b", "c"], ["d"]]}]}
        response = app.post("/v1/extract", json=body)
        assert response.status_code == 200
        ok, bad, also = response.json()["documents"]
        assert ok["entities"][0] == {"sentence": 0, "start": 0, "end": 0, "char_start": 0, "char_end": 4,
                                     "text": "Fine", "label": "Thing", "probability": 0.9}
        assert bad["doc_key"] == "bad" and bad["error"]["status"] == 500 and bad["error"]["type"] == "model_error"
        assert "index out of range" in bad["error"]["message"] and "entities" not in bad
        assert [e["text"] for e in also["entities"]] == ["b", "d"] and also["text"] == "b c d"
        assert [e["char_start"] for e in also["entities"]] == [0, 4]
        metrics = app.get("/metrics").text
        assert 'ere_documents_total{outcome="error"} 1.0' in metrics
        assert 'ere_documents_total{outcome="ok"} 2.0' in metrics
        assert app.post("/v1/extract", json={"text": "Still serving."}).status_code == 200


def _ready(app: TestClient) -> bool:
    for _ in range(200):
        if app.get("/health").status_code == 200:
            return True
        threading.Event().wait(0.01)
    return False


def test_health_and_extraction_while_loading_and_after_a_failed_load() -> None:
    loaded = threading.Event()

    def slow(_: Any) -> Any:
        loaded.wait(10)
        return stand_in

    with client(slow, retry_after_s=3) as app:
        health = app.get("/health")
        assert health.status_code == 503 and health.json() == {"status": "loading"}
        assert health.headers["Retry-After"] == "3"
        early = app.post("/v1/extract", json={"text": "Too early."})
        assert early.status_code == 503 and early.json()["error"]["type"] == "loading"
        assert "ere_model_ready 0.0" in app.get("/metrics").text
        loaded.set()
        assert _ready(app)
        assert app.post("/v1/extract", json={"text": "Now."}).status_code == 200
        assert "ere_model_ready 1.0" in app.get("/metrics").text

    def broken(_: Any) -> Any:
        raise FileNotFoundError("fixtures/none.tar.gz")

    with client(broken) as app:
        for _ in range(200):
            health = app.get("/health")
            if health.json()["status"] == "failed":
                break
            threading.Event().wait(0.01)
        assert health.status_code == 503 and "FileNotFoundError" in health.json()["error"]
        refused = app.post("/v1/extract", json={"text": "No model."})
        assert refused.status_code == 503 and refused.json()["error"]["type"] == "model_failed"
        assert "error" in app.get("/v1/info").json()["manifest"]


@pytest.mark.parametrize("change, message", [
    ({"max_batch_size": 0}, "--max-batch-size must be positive"),
    ({"max_wait_ms": -1}, "--max-wait-ms must be at least 0"),
    ({"port": 70000}, "--port must be in 0..65535"),
    ({"max_queue": 8, "max_documents": 16}, "--max-queue (8) must be at least --max-documents (16)"),
])
def test_settings_are_checked(change: Dict[str, Any], message: str) -> None:
    assert message in ServeSettings(archive="x", **change).check()
    assert ServeSettings(archive="x").check() is None


def test_the_command_refuses_a_missing_archive_and_bad_settings(capsys: pytest.CaptureFixture) -> None:
    parser = argparse.ArgumentParser()
    Serve().add_subparser(parser.add_subparsers())
    for argv, message in ((["ere-serve", "missing/model.tar.gz"], "missing/model.tar.gz: no such archive"),
                          (["ere-serve", "x", "--max-queue", "1"], "--max-queue (1) must be at least")):
        args = parser.parse_args(argv)
        with pytest.raises(SystemExit) as stop:
            args.func(args)
        assert stop.value.code == 2
        assert message in capsys.readouterr().err
    defaults = parser.parse_args(["ere-serve", "x"])
    assert defaults.host == "127.0.0.1" and defaults.port == 8000
