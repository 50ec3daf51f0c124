"""``allennlp ere-serve --ray``: the same app (`ere_allennlp.serve.app.create_app`) as a Ray Serve
deployment of ``--replicas`` replicas, each loading the archive once and batching with
``@serve.batch`` (``max_batch_size`` documents, ``max_wait_ms``) instead of `Batcher`.

Ray Serve's HTTP proxy listens on ``--host:--port`` (127.0.0.1 unless told otherwise) and spreads
requests over the replicas; routes, answers, limits and errors are the app's. A local Ray (no
``--address``) listens on 127.0.0.1 only (`ere_allennlp.ray_support`). ``/metrics`` and
``/v1/info`` describe the replica that answered, named in ``/v1/info``'s ``replica`` (Ray Serve
exports its own metrics besides).
Ray Serve is in the ``ray`` extra (``ray[serve]``).
"""
import asyncio
import dataclasses
import logging
import signal
import time
from typing import Any, Dict, List, Optional

from ere_allennlp import ray_support
from ere_allennlp.serve.app import create_app
from ere_allennlp.serve.batcher import Result, predict_isolated
from ere_allennlp.serve.engine import load_predict
from ere_allennlp.serve.errors import unavailable
from ere_allennlp.serve.metrics import ServeMetrics
from ere_allennlp.serve.settings import ServeSettings

logger = logging.getLogger(__name__)

APPLICATION = "ere"


@dataclasses.dataclass(frozen=True)
class RayOptions:
    """Where and how wide the deployment runs: a cluster `address` (None: a local Ray), `replicas`,
    and what each replica reserves."""

    address: Optional[str] = None
    replicas: int = 1
    gpus_per_replica: float = 0
    cpus_per_replica: float = 1
    num_cpus: Optional[int] = None  # CPUs of a local Ray (default: all)

    def check(self, cuda_device: int) -> None:
        if self.replicas < 1:
            raise ValueError(f"--replicas must be at least 1, got {self.replicas}")
        if self.cpus_per_replica <= 0:
            raise ValueError(f"--cpus-per-replica must be positive, got {self.cpus_per_replica}")
        ray_support.check_gpus(cuda_device, self.gpus_per_replica, "--gpus-per-replica")


class RayEngine:
    """The app's engine inside a replica: the archive loaded when the replica starts, documents
    batched by the replica's ``@serve.batch`` method."""

    state = "ready"
    load_error = None

    def __init__(self, replica: Any, settings: ServeSettings) -> None:
        self.replica = replica
        self.settings = settings
        self.queue_length = 0

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def predict(self, records: List[Dict[str, Any]]) -> List[Result]:
        if self.queue_length + len(records) > self.settings.max_queue:
            raise unavailable("queue_full", f"this replica holds {self.queue_length} documents; {len(records)} more "
                              f"would exceed --max-queue ({self.settings.max_queue}): retry later",
                              self.settings.retry_after_s)
        self.queue_length += len(records)
        try:
            return list(await asyncio.gather(*(self.replica.predict_one(record) for record in records)))
        finally:
            self.queue_length -= len(records)

    def describe(self) -> Dict[str, Any]:
        return {"engine": "ray_serve", "replica": self.replica.name, "state": self.state,
                "load_seconds": self.replica.load_seconds, "forward_passes": self.replica.batches}


def deployment(settings: ServeSettings, options: RayOptions) -> Any:
    """The Ray Serve application (a bound deployment) serving `settings.archive`."""
    ray_support.require_ray()
    from ray import serve

    class EreReplica:
        """One replica: the archive, its ``@serve.batch`` method and the app."""

        def __init__(self, fields: Dict[str, Any], num_cpus: float, num_gpus: float) -> None:
            ray_support.task_threads(num_cpus)
            self.settings = dataclasses.replace(ServeSettings(**fields),
                                                cuda_device=ray_support.cuda_device_in_task(num_gpus))
            started = time.perf_counter()
            self.predict_many = load_predict(self.settings)
            self.load_seconds = time.perf_counter() - started
            self.batches = 0
            self.name = serve.get_replica_context().replica_tag  # which replica /v1/info describes
            self.metrics = ServeMetrics()
            self.metrics.ready.set(1)
            self.predict_one.set_max_batch_size(self.settings.max_batch_size)
            self.predict_one.set_batch_wait_timeout_s(self.settings.max_wait_ms / 1000.0)

        @serve.batch(max_batch_size=16, batch_wait_timeout_s=0.01)
        async def predict_one(self, records: List[Dict[str, Any]]) -> List[Result]:
            loop = asyncio.get_running_loop()
            results, failed = await loop.run_in_executor(None, predict_isolated, self.predict_many, records)
            self.batches += 1
            self.metrics.observe_batch(len(records), failed)
            return results

        def __serve_build_asgi_app__(self) -> Any:
            return create_app(self.settings, engine=RayEngine(self, self.settings), metrics=self.metrics)

    actor_options = {"num_cpus": options.cpus_per_replica, "num_gpus": options.gpus_per_replica}
    # A replica takes up to --max-queue requests at once (Ray Serve's default, 5, would keep it from
    # filling a batch of --max-batch-size); beyond that Ray Serve's proxy queues them.
    replica = serve.deployment(serve.ingress()(EreReplica), name="ere_extractor", num_replicas=options.replicas,
                               ray_actor_options=actor_options, max_ongoing_requests=settings.max_queue)
    return replica.bind(dataclasses.asdict(settings), options.cpus_per_replica, options.gpus_per_replica)


def serve_on_ray(settings: ServeSettings, options: RayOptions, wait: bool = True) -> None:
    """Runs the deployment on Ray (a local one by default) until SIGTERM or SIGINT."""
    options.check(settings.cuda_device)
    with ray_support.ray_session(options.address, options.num_cpus):
        from ray import serve

        # Our handlers go in before Serve starts: /health answers as soon as the replicas are up,
        # which can be before `serve.run` returns, and a SIGTERM then must not reach the handler
        # `ray.init` installed (it aborts the process, status -6).
        stop = {"signal": None}

        def on_signal(number: int, _: Any) -> None:
            stop["signal"] = number

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            serve.start(http_options={"host": settings.host, "port": settings.port})
            serve.run(deployment(settings, options), name=APPLICATION, route_prefix="/", blocking=False)
            logger.info("serving %s on http://%s:%d with %d Ray Serve replicas", settings.archive, settings.host,
                        settings.port, options.replicas)
            print(f"ere-serve: ready on http://{settings.host}:{settings.port} ({options.replicas} Ray Serve "
                  "replicas)", flush=True)
            while wait and stop["signal"] is None:
                time.sleep(0.2)
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
            serve.shutdown()  # the replicas finish their requests in flight (Ray Serve's graceful shutdown)
