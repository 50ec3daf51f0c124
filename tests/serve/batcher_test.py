"""`Batcher` and `predict_isolated` in-process, with a stand-in for the model: batches fill up to
``max_batch_size`` or wait ``max_wait_ms``, a failing document gets an error and its batch-mates
their answers, a cancelled (timed-out) request leaves the queue, a full queue refuses at once."""
import asyncio
import threading
from typing import Any, Dict, List

import pytest

from ere_allennlp.serve.batcher import Batcher, predict_isolated
from ere_allennlp.serve.errors import ServeError


class StandIn:
    """Answers each record with its doc_key doubled; raises on doc_key "bad"; records the batches.
    With `gate`, each forward pass waits until the gate opens."""

    def __init__(self, gate: threading.Event = None) -> None:
        self.batches: List[List[str]] = []
        self.gate = gate

    def __call__(self, records: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
        if self.gate is not None:
            self.gate.wait(10)
        self.batches.append([r["doc_key"] for r in records])
        if any(r["doc_key"] == "bad" for r in records):
            raise RuntimeError("cannot predict 'bad'")
        return [{"doc_key": r["doc_key"] * 2} for r in records]


def records(*keys: str) -> List[Dict[str, Any]]:
    return [{"doc_key": k, "sentences": [["x"]]} for k in keys]


def test_predict_isolated_answers_the_others_of_a_failing_batch() -> None:
    model = StandIn()
    results, failed = predict_isolated(model, records("a", "bad", "c"))
    assert failed == 1
    assert results[0] == {"doc_key": "aa"} and results[2] == {"doc_key": "cc"}
    assert isinstance(results[1], ServeError) and results[1].status == 500 and "cannot predict" in results[1].message
    assert model.batches == [["a", "bad", "c"], ["a"], ["bad"], ["c"]]


def test_concurrent_requests_share_forward_passes_and_keep_their_order() -> None:
    async def scenario() -> None:
        model = StandIn()
        batcher = Batcher(model, max_batch_size=4, max_wait_ms=200, max_queue=100)
        batcher.start()
        try:
            answers = await asyncio.gather(batcher.submit(records("a", "b")), batcher.submit(records("c")),
                                           batcher.submit(records("d", "e", "f")))
        finally:
            await batcher.stop()
        assert [[r["doc_key"] for r in a] for a in answers] == [["aa", "bb"], ["cc"], ["dd", "ee", "ff"]]
        assert model.batches == [["a", "b", "c", "d"], ["e", "f"]]  # the first pass did not wait: it was full
        assert batcher.waiting == 0

    asyncio.run(scenario())


def test_a_failing_document_does_not_fail_its_batch_mates() -> None:
    async def scenario() -> None:
        batcher = Batcher(StandIn(), max_batch_size=8, max_wait_ms=50, max_queue=100)
        batcher.start()
        try:
            good, bad = await asyncio.gather(batcher.submit(records("a")), batcher.submit(records("bad", "z")))
        finally:
            await batcher.stop()
        assert good == [{"doc_key": "aa"}]
        assert isinstance(bad[0], ServeError) and bad[1] == {"doc_key": "zz"}

    asyncio.run(scenario())


def test_a_full_queue_refuses_and_a_cancelled_request_leaves_it() -> None:
    async def scenario() -> None:
        gate = threading.Event()
        model = StandIn(gate)
        batcher = Batcher(model, max_batch_size=2, max_wait_ms=0, max_queue=3, retry_after_s=7)
        batcher.start()
        try:
            first = asyncio.ensure_future(batcher.submit(records("a", "b")))  # in the (held) forward pass
            await asyncio.sleep(0.05)
            second = asyncio.ensure_future(batcher.submit(records("c")))  # queued
            await asyncio.sleep(0.05)
            assert batcher.waiting == 3
            with pytest.raises(ServeError) as refused:
                await batcher.submit(records("d"))
            assert refused.value.status == 503 and refused.value.headers == {"Retry-After": "7"}
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(second, 0.01)  # as a request past --timeout-s
            assert batcher.waiting == 2
            gate.set()
            assert [r["doc_key"] for r in await first] == ["aa", "bb"]
            assert [r["doc_key"] for r in await batcher.submit(records("e"))] == ["ee"]
        finally:
            gate.set()
            await batcher.stop()
        assert ["c"] not in model.batches and batcher.waiting == 0

    asyncio.run(scenario())
