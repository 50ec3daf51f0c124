"""Every limit and fault of ``allennlp ere-serve`` over HTTP, each a clear JSON error, with the server
serving on after each; SIGTERM answers the request in flight before the server exits.

The limits server batches at most 3 documents and waits up to 4 s for a batch to fill, with a
2 s timeout: a request of 3 documents fills a batch and is answered at once, a request of fewer
waits past its timeout (504) and holds its documents in the queue meanwhile, which lets the tests
fill the queue (4 documents) without racing the model."""
import concurrent.futures
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.serve.conftest import TEXTS, Server, documents_of

# One worker runs the service's tests (they share the archive and start servers).
pytestmark = pytest.mark.xdist_group("serve")

LIMITS = ("--max-request-bytes", "4000", "--max-documents", "3", "--max-chars", "600", "--max-batch-size", "3",
          "--max-wait-ms", "4000", "--max-queue", "4", "--timeout-s", "2", "--retry-after-s", "2")


@pytest.fixture(scope="module")
def limited(archives, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(archives.a4, *LIMITS, log=tmp_path_factory.mktemp("serve_limits") / "server.log")
    yield server
    server.stop()


def three_documents() -> dict:
    return {"documents": documents_of(TEXTS[:3])}


def error_of(response, status: int, kind: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["status"] == status and error["type"] == kind and error["message"]
    return error


def test_a_full_batch_is_answered(limited: Server) -> None:
    response = limited.post(three_documents())
    assert response.status_code == 200 and len(response.json()["documents"]) == 3


def test_body_over_the_limit_is_413(limited: Server) -> None:
    error = error_of(limited.post({"text": "word " * 1000}), 413, "request_too_large")
    assert error["field"] == "<body>" and "4000" in error["message"]
    # a body sent without Content-Length (chunked) is cut off as it arrives
    chunks = (b'{"text": "' + b"x" * 1000 for _ in range(5))
    error_of(limited.client.post("/v1/extract", content=chunks), 413, "request_too_large")
    test_a_full_batch_is_answered(limited)


def test_too_many_documents_or_characters_is_413(limited: Server) -> None:
    error = error_of(limited.post({"documents": documents_of(TEXTS[:4])}), 413, "too_many_documents")
    assert error["field"] == "documents"
    error = error_of(limited.post({"text": "a " * 301}), 413, "too_many_characters")
    assert error["field"] == "text"
    long_tokens = [{"sentences": [["x" * 250]]}, {"sentences": [["y" * 250]]}, {"text": "z" * 150}]
    error_of(limited.post({"documents": long_tokens}), 413, "too_many_characters")
    test_a_full_batch_is_answered(limited)


@pytest.mark.parametrize("body, field", [
    (b"{not json", "<body>"),
    (b"[1, 2]", "<body>"),
    (b'{"text": 3}', "text"),
    (b'{"text": "a", "documents": []}', "<body>"),
    (b'{"txt": "a"}', "txt"),
    (b'{"documents": {"text": "a"}}', "documents"),
    (b'{"documents": [{"text": "a"}, {"sentences": [["a", ""]]}]}', "documents[1].sentences[0][1]"),
    (b'{"documents": [{"doc_key": ["k"], "text": "a"}]}', "documents[0].doc_key"),
    (b'{"documents": [{"ner": []}]}', "documents[0]"),
    (b'\xff\xfe', "<body>"),
])
def test_invalid_json_or_field_is_422_naming_it(limited: Server, body: bytes, field: str) -> None:
    response = limited.client.post("/v1/extract", content=body, headers={"Content-Type": "application/json"})
    assert error_of(response, 422, "invalid_field")["field"] == field


def test_full_queue_is_503_with_retry_after_then_a_timeout_is_504(limited: Server) -> None:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        waiting = pool.submit(limited.post, {"documents": documents_of(TEXTS[:2])})  # waits for a third
        deadline = time.monotonic() + 1.8
        while "ere_queue_documents 2.0" not in limited.client.get("/metrics").text:
            assert time.monotonic() < deadline, "the first request's documents never reached the queue"
            time.sleep(0.02)
        full = limited.post(three_documents())  # 2 + 3 > --max-queue 4
        error = error_of(full, 503, "queue_full")
        assert full.headers["Retry-After"] == "2" and "--max-queue" in error["message"]
        timed_out = waiting.result()
    error_of(timed_out, 504, "timeout")
    assert 1.9 < time.monotonic() - started < 10
    # the timed-out documents left the queue: a full batch is answered again
    assert "ere_queue_documents 0.0" in limited.client.get("/metrics").text
    test_a_full_batch_is_answered(limited)
    metrics = limited.client.get("/metrics").text
    for status in ("503", "504", "200"):
        assert f'ere_requests_total{{path="/v1/extract",status="{status}"}}' in metrics


def test_sigterm_answers_the_request_in_flight_then_exits(archives, tmp_path: Path) -> None:
    server = Server(archives.a4, "--max-wait-ms", "3000", "--max-batch-size", "8", log=tmp_path / "server.log")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(server.post, {"text": TEXTS[0]})  # waits 3 s for a batch
        deadline = time.monotonic() + 2.5
        while "ere_queue_documents 1.0" not in server.client.get("/metrics").text:
            assert time.monotonic() < deadline, "the request never reached the queue"
            time.sleep(0.02)
        stopped = time.monotonic()
        status = server.stop(timeout=60)
        response = in_flight.result()
    assert response.status_code == 200 and response.json()["documents"][0]["entities"]
    assert status == 0, server.tail()
    assert time.monotonic() - stopped < 30
