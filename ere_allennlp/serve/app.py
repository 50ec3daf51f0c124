"""The FastAPI app of ``allennlp ere-serve``: its routes, limits, errors and metrics.

Routes:

- ``POST /v1/extract``: a request (`ere_allennlp.serve.documents`) -> ``{"documents": [...]}``,
  one answer per document in request order; a document the model fails on gets
  ``{"doc_key", "error"}`` and the others are answered (200).
- ``GET /health``: 200 ``{"status": "ready"}`` once the archive is loaded, 503 before (or if it
  could not be loaded) with ``Retry-After``.
- ``GET /v1/info``: the archive's manifest (``allennlp ere-info --json``), the limits, the engine.
- ``GET /metrics``: Prometheus text format (`ere_allennlp.serve.metrics`).
- ``GET /``: the page (`ere_allennlp.serve.page`).

Every answer other than 200 is one JSON error (`ere_allennlp.serve.errors`): 413 for a body over
``max_request_bytes`` (refused from its ``Content-Length`` before it is read, or as soon as the
bytes read pass the limit) and for too many documents or characters, 422 naming the field at fault,
503 with ``Retry-After`` while loading or when the queue is full, 504 past ``timeout_s``, 404 / 405
for other paths and methods, 500 for anything unexpected; the server goes on serving after each.
"""
import asyncio
import concurrent.futures
import contextlib
import os
import time
from typing import Any, AsyncIterator, Optional

from ere_allennlp import archival
from ere_allennlp.serve.dependencies import require
from ere_allennlp.serve.documents import answer, error_answer, parse_request
from ere_allennlp.serve.engine import LocalEngine, archive_info
from ere_allennlp.serve.errors import ServeError, timed_out, too_large
from ere_allennlp.serve.metrics import ServeMetrics
from ere_allennlp.serve.page import page
from ere_allennlp.serve.settings import ServeSettings

ROUTES = ("/", "/health", "/metrics", "/v1/extract", "/v1/info")


async def read_body(request: Any, limit: int) -> bytes:
    """The body of `request`, refused (413) by its ``Content-Length`` before reading when that is
    over `limit`, or as soon as more than `limit` bytes have arrived."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large("request_too_large", f"the body has {declared} bytes, more than --max-request-bytes ({limit})",
                        field="<body>")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large("request_too_large", f"the body has more than --max-request-bytes ({limit}) bytes",
                            field="<body>")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(settings: ServeSettings, engine: Optional[Any] = None, metrics: Optional[ServeMetrics] = None) -> Any:
    """The app for `settings`; `engine` defaults to a `LocalEngine` loading ``settings.archive``
    when the app starts (the Ray deployment passes its own)."""
    fastapi = require("fastapi")
    metrics = metrics if metrics is not None else ServeMetrics()
    engine = engine if engine is not None else LocalEngine(settings, metrics)
    # spaCy's splitting of raw text runs here, off the event loop, one request at a time.
    parser = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="ere-parse")

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        await engine.start()
        try:
            yield
        finally:
            await engine.stop()
            parser.shutdown(wait=False)

    app = fastapi.FastAPI(title="ere_allennlp", version=archival.package_version(), lifespan=lifespan,
                          docs_url=None, redoc_url=None)  # their pages fetch scripts from a CDN

    _handle_errors(app, metrics)
    _add_routes(app, settings, engine, metrics, parser)
    return app


def _handle_errors(app: Any, metrics: ServeMetrics) -> None:
    """Every error as one JSON answer (`ServeError`'s), and every request counted and timed."""
    responses = require("fastapi.responses")
    starlette_exceptions = require("starlette.exceptions")

    def error_response(error: ServeError) -> Any:
        return responses.JSONResponse(error.body(), status_code=error.status, headers=error.headers)

    @app.exception_handler(ServeError)
    async def on_serve_error(_: Any, error: ServeError) -> Any:
        return error_response(error)

    @app.exception_handler(starlette_exceptions.HTTPException)
    async def on_http_error(_: Any, error: Any) -> Any:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return error_response(ServeError(error.status_code, kind, str(error.detail), headers=error.headers))

    @app.exception_handler(Exception)
    async def on_unexpected(_: Any, error: Exception) -> Any:
        return error_response(ServeError(500, "internal_error", f"{type(error).__name__}: {error}"))

    @app.middleware("http")
    async def measure(request: Any, call_next: Any) -> Any:
        started = time.perf_counter()
        path = request.url.path if request.url.path in ROUTES else "other"
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            metrics.observe_request(path, status, time.perf_counter() - started)


def _add_routes(app: Any, settings: ServeSettings, engine: Any, metrics: ServeMetrics,
                parser: concurrent.futures.Executor) -> None:
    fastapi = require("fastapi")
    responses = require("fastapi.responses")

    @app.post("/v1/extract")
    async def extract(request: fastapi.Request) -> Any:
        started = time.perf_counter()
        body = await read_body(request, settings.max_request_bytes)
        loop = asyncio.get_running_loop()
        documents = await loop.run_in_executor(parser, parse_request, body, settings)
        remaining = settings.timeout_s - (time.perf_counter() - started)
        try:
            results = await asyncio.wait_for(engine.predict([d.record for d in documents]), max(remaining, 0.001))
        except asyncio.TimeoutError:
            raise timed_out(settings.timeout_s) from None
        answers = [error_answer(d, r) if isinstance(r, ServeError) else answer(d, r) for d, r in zip(documents, results)]
        return responses.JSONResponse({"documents": answers})

    @app.get("/health")
    async def health() -> Any:
        if engine.state == "ready":
            return {"status": "ready"}
        body = {"status": engine.state}
        if getattr(engine, "load_error", None):
            body["error"] = engine.load_error
        return responses.JSONResponse(body, status_code=503, headers={"Retry-After": str(settings.retry_after_s)})

    @app.get("/v1/info")
    async def info() -> Any:
        return {"archive": settings.archive, "package_version": archival.package_version(),
                "manifest": archive_info(settings.archive), "limits": settings.limits(),
                "queue_documents": engine.queue_length, **engine.describe()}

    @app.get("/metrics")
    async def prometheus_metrics() -> Any:
        metrics.queue.set(engine.queue_length)
        body, content_type = metrics.text()
        return responses.Response(body, media_type=content_type)

    @app.get("/")
    async def index() -> Any:
        return responses.HTMLResponse(page(os.path.basename(os.path.dirname(os.path.abspath(settings.archive)))
                                           or settings.archive))
