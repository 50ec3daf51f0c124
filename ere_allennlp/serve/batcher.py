"""Request batching: documents of concurrent requests grouped into one forward pass.

`Batcher.submit` queues a request's documents and waits for their results. One loop takes up to
``max_batch_size`` documents from the queue, waiting at most ``max_wait_ms`` after the first for
the batch to fill, and runs them through the model in one thread of its own (the event loop keeps
accepting requests meanwhile; one forward pass at a time). A document's result does not depend on
its batch-mates beyond float rounding: the predictor pads and masks each sentence alone.

A batch that fails is rerun one document at a time (`predict_isolated`), so only the document the
model fails on gets an error and the others are answered. A request whose documents would not fit
in ``max_queue`` is refused at once (503, ``Retry-After``); one that times out is cancelled, and its
documents are dropped from the queue (a forward pass already running finishes, its result unused).
"""
import asyncio
import collections
import concurrent.futures
import logging
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple, Union

from ere_allennlp.serve.errors import ServeError, unavailable
from ere_allennlp.serve.metrics import ServeMetrics

logger = logging.getLogger(__name__)

Result = Union[Dict[str, Any], ServeError]
PredictMany = Callable[[List[Dict[str, Any]]], List[Dict[str, Any]]]


def model_error(error: Exception) -> ServeError:
    """The error answered for a document the model failed on (status 500, the others answered)."""
    message = (str(error).strip().splitlines() or [""])[0][:300]
    return ServeError(500, "model_error", f"the model failed on this document: {type(error).__name__}: {message}")


def predict_isolated(predict: PredictMany, records: List[Dict[str, Any]]) -> Tuple[List[Result], int]:
    """``predict(records)``; if that raises, each record alone, a failing one answered by
    `model_error`. Returns the results in order and how many failed."""
    try:
        results: List[Result] = list(predict(records))
        if len(results) != len(records):
            raise RuntimeError(f"{len(results)} results for {len(records)} documents")
        return results, 0
    except Exception as error:  # noqa: BLE001 - any failure of the model is isolated per document
        if len(records) == 1:
            logger.warning("the model failed on document %r: %s", records[0].get("doc_key"), error)
            return [model_error(error)], 1
    results = []
    failed = 0
    for record in records:
        (result,), bad = predict_isolated(predict, [record])
        results.append(result)
        failed += bad
    return results, failed


class _Item:
    """A queued document: its record, the future its request waits on, and whether it still
    counts towards the queue length."""

    __slots__ = ("record", "future", "counted")

    def __init__(self, record: Dict[str, Any], future: "asyncio.Future[Result]") -> None:
        self.record = record
        self.future = future
        self.counted = True


class Batcher:
    """Groups documents of concurrent requests into forward passes of `predict` (see the module
    docstring). Create it inside the running event loop; `start` before the first `submit`,
    `stop` at shutdown."""

    def __init__(self, predict: PredictMany, max_batch_size: int, max_wait_ms: float, max_queue: int,
                 retry_after_s: int = 1, metrics: Optional[ServeMetrics] = None) -> None:
        self.predict = predict
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self.retry_after_s = retry_after_s
        self.metrics = metrics
        self._queue: Deque[_Item] = collections.deque()
        self._waiting = 0  # documents accepted and not answered (or given up) yet
        self._wakeup = asyncio.Event()
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="ere-model")
        self._task: Optional["asyncio.Task[None]"] = None
        self.batches = 0

    @property
    def waiting(self) -> int:
        """Documents accepted and not answered yet (the queue and the running forward pass)."""
        return self._waiting

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="ere-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._executor.shutdown(wait=True)

    def _release(self, item: _Item) -> None:
        if item.counted:
            item.counted = False
            self._waiting -= 1

    async def submit(self, records: List[Dict[str, Any]]) -> List[Result]:
        """The results of `records` (dicts as ``allennlp predict`` writes them, or a `ServeError`
        per failed document). Raises 503 at once when the queue cannot take them all."""
        if self._waiting + len(records) > self.max_queue:
            raise unavailable("queue_full", f"the queue holds {self._waiting} documents; {len(records)} more would "
                              f"exceed --max-queue ({self.max_queue}): retry later", self.retry_after_s)
        loop = asyncio.get_running_loop()
        items = [_Item(record, loop.create_future()) for record in records]
        for item in items:
            item.future.add_done_callback(lambda _, item=item: self._release(item) if item.future.cancelled() else None)
        self._queue.extend(items)
        self._waiting += len(items)
        self._wakeup.set()
        return list(await asyncio.gather(*(item.future for item in items)))

    def _live(self) -> int:
        while self._queue and self._queue[0].future.done():  # cancelled by a timed-out request
            self._queue.popleft()
        return sum(1 for item in self._queue if not item.future.done())

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._live():
                self._wakeup.clear()
                await self._wakeup.wait()
            deadline = loop.time() + self.max_wait_s
            while self._live() < self.max_batch_size and loop.time() < deadline:
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), max(0.0, deadline - loop.time()))
                except asyncio.TimeoutError:
                    break
            batch: List[_Item] = []
            while self._queue and len(batch) < self.max_batch_size:
                item = self._queue.popleft()
                if not item.future.done():
                    batch.append(item)
            if not batch:
                continue
            started = time.perf_counter()
            results, failed = await loop.run_in_executor(self._executor, predict_isolated, self.predict,
                                                         [item.record for item in batch])
            self.batches += 1
            logger.debug("batch of %d documents in %.3f s", len(batch), time.perf_counter() - started)
            if self.metrics is not None:
                self.metrics.observe_batch(len(batch), failed)
            for item, result in zip(batch, results):
                self._release(item)
                if not item.future.done():
                    item.future.set_result(result)
