"""Runs the app (`ere_allennlp.serve.app`) on uvicorn, in this process.

uvicorn handles SIGTERM and SIGINT: it stops accepting connections, lets the requests in flight
finish (their documents are still in the batcher's queue or in the forward pass), then runs the
app's shutdown and exits with status 0."""
import logging

from allennlp.common.util import SigTermReceived

from ere_allennlp.serve.app import create_app
from ere_allennlp.serve.dependencies import require
from ere_allennlp.serve.settings import ServeSettings

logger = logging.getLogger(__name__)


def run(settings: ServeSettings, log_level: str = "info") -> None:
    """Serves `settings.archive` on ``settings.host:settings.port`` until SIGTERM or SIGINT."""
    uvicorn = require("uvicorn")
    app = create_app(settings)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level=log_level,
                            timeout_graceful_shutdown=settings.timeout_s + 5, access_log=False,
                            limit_concurrency=None, lifespan="on")
    try:
        uvicorn.Server(config).run()
    except SigTermReceived:
        # uvicorn has finished the requests in flight and stopped the app, then raised the SIGTERM
        # it caught again, which AllenNLP's command line turns into this exception: a clean stop.
        logger.info("stopped by SIGTERM")
