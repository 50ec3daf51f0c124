"""What the app predicts with: an archive loaded once, behind the request batcher.

`LocalEngine` (``allennlp ere-serve``) loads the archive in a thread when the app starts, so that
``GET /health`` answers "loading" (503) until it is ready, then batches requests with `Batcher`.
The Ray Serve deployment (`ere_allennlp.serve.ray_app`) gives the app another engine with the same
methods, batching with ``@serve.batch``."""
import asyncio
import logging
import time
from typing import Any, Dict, List, Optional

from ere_allennlp import archival
from ere_allennlp.api import Extractor
from ere_allennlp.serve.batcher import Batcher, PredictMany, Result
from ere_allennlp.serve.errors import unavailable
from ere_allennlp.serve.metrics import ServeMetrics
from ere_allennlp.serve.settings import ServeSettings

logger = logging.getLogger(__name__)


def load_predict(settings: ServeSettings) -> PredictMany:
    """Loads ``settings.archive`` (as ``allennlp predict`` does, through the ``ere`` predictor) and
    returns the function that predicts a list of ``{"doc_key", "sentences"}`` records."""
    extractor = Extractor.from_archive(settings.archive, cuda_device=settings.cuda_device,
                                       batch_size=settings.max_batch_size)
    return extractor.predictor.predict_batch_json


class LocalEngine:
    """The archive in this process, behind a `Batcher`. `start` and `stop` run in the app's
    lifespan; ``state`` is ``loading``, ``ready`` or ``failed``."""

    def __init__(self, settings: ServeSettings, metrics: ServeMetrics, load: Any = load_predict) -> None:
        self.settings = settings
        self.metrics = metrics
        self._load = load
        self.state = "loading"
        self.load_error: Optional[str] = None
        self.load_seconds: Optional[float] = None
        self.batcher: Optional[Batcher] = None
        self._loading: Optional["asyncio.Task[None]"] = None

    async def start(self) -> None:
        self._loading = asyncio.get_running_loop().create_task(self._load_archive(), name="ere-load-archive")

    async def _load_archive(self) -> None:
        started = time.perf_counter()
        try:
            predict = await asyncio.get_running_loop().run_in_executor(None, self._load, self.settings)
        except Exception as error:  # noqa: BLE001 - reported by /health, the server keeps running
            self.state, self.load_error = "failed", f"{type(error).__name__}: {error}"
            logger.error("cannot load %s: %s", self.settings.archive, self.load_error)
            return
        settings = self.settings
        self.batcher = Batcher(predict, settings.max_batch_size, settings.max_wait_ms, settings.max_queue,
                               settings.retry_after_s, self.metrics)
        self.batcher.start()
        self.load_seconds = time.perf_counter() - started
        self.state = "ready"
        self.metrics.ready.set(1)
        logger.info("%s loaded in %.1f s", settings.archive, self.load_seconds)

    async def stop(self) -> None:
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
        if self.batcher is not None:
            await self.batcher.stop()

    @property
    def queue_length(self) -> int:
        return self.batcher.waiting if self.batcher is not None else 0

    async def predict(self, records: List[Dict[str, Any]]) -> List[Result]:
        if self.batcher is None:
            if self.state == "failed":
                raise unavailable("model_failed", f"the archive could not be loaded: {self.load_error}",
                                  self.settings.retry_after_s)
            raise unavailable("loading", "the archive is still loading", self.settings.retry_after_s)
        return await self.batcher.submit(records)

    def describe(self) -> Dict[str, Any]:
        """The engine's part of ``GET /v1/info``."""
        return {"engine": "local", "state": self.state, "load_seconds": self.load_seconds,
                "forward_passes": self.batcher.batches if self.batcher is not None else 0}


def archive_info(path: str) -> Dict[str, Any]:
    """``allennlp ere-info --json``'s manifest of `path`, or the error reading it."""
    try:
        return archival.archive_manifest(path)
    except Exception as error:  # noqa: BLE001 - /v1/info reports it
        return {"error": f"{type(error).__name__}: {error}"}
