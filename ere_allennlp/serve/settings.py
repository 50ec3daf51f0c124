"""What ``allennlp ere-serve`` is started with: the archive, where it listens, how it batches, and
its limits. One place for the defaults (the command's options and docs/serve.md show them)."""
import dataclasses
from typing import Any, Dict, Optional

from ere_allennlp.ray_support import LOCAL_HOST


@dataclasses.dataclass(frozen=True)
class ServeSettings:
    """The service's settings; `check` says what is out of range.

    # Parameters

    archive : `str`
        A module or approach archive (``model.tar.gz``).
    host, port : listening address (default ``127.0.0.1:8000``: this machine only).
    cuda_device : `int` (default -1, the CPU)
    predictor : `str`
        The registered predictor (default ``ere``, the one ``allennlp predict`` takes).
    max_batch_size : `int` (default 16)
        Documents, from any number of requests, in one forward pass.
    max_wait_ms : `float` (default 10)
        How long the first document of a batch waits for others; 0 runs whatever is queued at once.
    max_queue : `int` (default 256)
        Documents accepted and not answered yet; a request that would exceed it gets 503.
    max_request_bytes : `int` (default 1 MiB)
        Body size; above it 413.
    max_documents : `int` (default 64)
        Documents in one request; above it 413.
    max_chars : `int` (default 100 000)
        Characters in one request (raw texts, and tokens of DyGIE documents); above it 413.
    timeout_s : `float` (default 60)
        A request still unanswered this long after it arrived gets 504.
    retry_after_s : `int` (default 1)
        The ``Retry-After`` of a 503 (queue full, model still loading).
    """

    archive: str
    host: str = LOCAL_HOST
    port: int = 8000
    cuda_device: int = -1
    predictor: str = "ere"
    max_batch_size: int = 16
    max_wait_ms: float = 10.0
    max_queue: int = 256
    max_request_bytes: int = 1 << 20
    max_documents: int = 64
    max_chars: int = 100_000
    timeout_s: float = 60.0
    retry_after_s: int = 1

    def check(self) -> Optional[str]:
        """What is wrong with these settings (one line), None when nothing is."""
        positive = ("max_batch_size", "max_queue", "max_request_bytes", "max_documents", "max_chars", "timeout_s",
                    "retry_after_s")
        for name in positive:
            if getattr(self, name) <= 0:
                return f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}"
        if self.max_wait_ms < 0:
            return f"--max-wait-ms must be at least 0, got {self.max_wait_ms}"
        if not 0 <= self.port < 65536:
            return f"--port must be in 0..65535, got {self.port}"
        if self.max_queue < self.max_documents:
            return (f"--max-queue ({self.max_queue}) must be at least --max-documents ({self.max_documents}): "
                    "a request of the most documents allowed would never fit")
        return None

    def limits(self) -> Dict[str, Any]:
        """The batching and limits, as ``GET /v1/info`` reports them."""
        return {name: getattr(self, name) for name in (
            "max_batch_size", "max_wait_ms", "max_queue", "max_request_bytes", "max_documents", "max_chars",
            "timeout_s", "retry_after_s")}
