"""The service's Prometheus metrics (``GET /metrics``, text format), in a registry of its own:

- ``ere_requests_total{path, status}``: answered requests, by path and HTTP status;
- ``ere_request_seconds{path}``: latency histogram, from the request's arrival to its answer;
- ``ere_batch_documents``: documents per forward pass (histogram);
- ``ere_documents_total{outcome}``: documents answered (``ok``) or failed (``error``) by the model;
- ``ere_queue_documents``: documents accepted and not answered yet (gauge);
- ``ere_model_ready``: 1 once the archive is loaded.

prometheus-client is imported through `dependencies.require` (an optional extra)."""
from typing import Any

from ere_allennlp.serve.dependencies import require

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class ServeMetrics:
    """The metrics of one app (one registry each, so that two apps in a process do not mix)."""

    def __init__(self) -> None:
        prometheus = require("prometheus_client")
        self._prometheus = prometheus
        self.registry = prometheus.CollectorRegistry()
        self.requests = prometheus.Counter("ere_requests", "Answered HTTP requests", ("path", "status"),
                                           registry=self.registry)
        self.latency = prometheus.Histogram("ere_request_seconds", "Seconds from a request's arrival to its answer",
                                            ("path",), buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_documents = prometheus.Histogram("ere_batch_documents", "Documents per forward pass",
                                                    buckets=BATCH_BUCKETS, registry=self.registry)
        self.documents = prometheus.Counter("ere_documents", "Documents predicted, by outcome", ("outcome",),
                                            registry=self.registry)
        self.queue = prometheus.Gauge("ere_queue_documents", "Documents accepted and not answered yet",
                                      registry=self.registry)
        self.ready = prometheus.Gauge("ere_model_ready", "1 once the archive is loaded", registry=self.registry)

    def observe_request(self, path: str, status: int, seconds: float) -> None:
        self.requests.labels(path=path, status=str(status)).inc()
        self.latency.labels(path=path).observe(seconds)

    def observe_batch(self, documents: int, failed: int) -> None:
        self.batch_documents.observe(documents)
        if documents - failed:
            self.documents.labels(outcome="ok").inc(documents - failed)
        if failed:
            self.documents.labels(outcome="error").inc(failed)

    def text(self) -> Any:
        """(body, content type) of the Prometheus text format."""
        return self._prometheus.generate_latest(self.registry), self._prometheus.CONTENT_TYPE_LATEST
