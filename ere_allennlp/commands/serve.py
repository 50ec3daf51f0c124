"""`allennlp ere-serve ARCHIVE`: a trained module or approach archive behind an HTTP API and a page."""
import argparse
import dataclasses
import os
import sys

from allennlp.commands.subcommand import Subcommand
from overrides import overrides

from ere_allennlp.ray_support import LOCAL_HOST
from ere_allennlp.serve.settings import ServeSettings

DEFAULTS = ServeSettings(archive="")


@Subcommand.register("ere-serve")
class Serve(Subcommand):
    """Serves ARCHIVE over HTTP (FastAPI + uvicorn, the ``serve`` extra): ``POST /v1/extract``
    answers raw texts and DyGIE documents as ``allennlp predict`` does, with character offsets;
    ``GET /`` is a page to paste text into; ``/health``, ``/v1/info``, ``/metrics`` (Prometheus).
    Concurrent requests are batched into one forward pass; limits and faults are JSON errors
    (docs/serve.md). Listens on 127.0.0.1 unless ``--host`` says otherwise. With ``--ray`` the
    same app runs as a Ray Serve deployment of ``--replicas`` replicas."""

    @overrides
    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        description = "Serve a trained archive over HTTP: JSON API, a web page, batching, metrics (docs/serve.md)."
        sub = parser.add_parser(self.name, description=description, help=description,
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        d = DEFAULTS
        sub.add_argument("archive", help="a module or approach archive (model.tar.gz)")
        sub.add_argument("--host", default=d.host, help=f"address to listen on ({LOCAL_HOST}: this machine only; "
                         "0.0.0.0: every interface)")
        sub.add_argument("--port", type=int, default=d.port, help="port to listen on")
        sub.add_argument("--cuda-device", type=int, default=d.cuda_device, help="GPU index, -1 = CPU")
        sub.add_argument("--max-batch-size", type=int, default=d.max_batch_size,
                         help="documents, from any number of requests, in one forward pass")
        sub.add_argument("--max-wait-ms", type=float, default=d.max_wait_ms,
                         help="how long a batch waits to fill after its first document (0: no batching wait)")
        sub.add_argument("--max-queue", type=int, default=d.max_queue,
                         help="documents accepted and not answered yet; beyond it 503 with Retry-After")
        sub.add_argument("--max-request-bytes", type=int, default=d.max_request_bytes, help="body size; beyond it 413")
        sub.add_argument("--max-documents", type=int, default=d.max_documents,
                         help="documents in one request; beyond it 413")
        sub.add_argument("--max-chars", type=int, default=d.max_chars, help="characters in one request; beyond it 413")
        sub.add_argument("--timeout-s", type=float, default=d.timeout_s,
                         help="a request unanswered this long gets 504")
        sub.add_argument("--retry-after-s", type=int, default=d.retry_after_s, help="Retry-After of a 503")
        sub.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
        ray = sub.add_argument_group("Ray Serve (pip install 'ere_allennlp[ray]')")
        ray.add_argument("--ray", action="store_true", help="run the app as a Ray Serve deployment")
        ray.add_argument("--address", default=None, help="a running Ray cluster (default: start a local Ray on "
                         f"{LOCAL_HOST})")
        ray.add_argument("--replicas", type=int, default=1, help="replicas, each holding the model once")
        ray.add_argument("--gpus-per-replica", type=float, default=0, help="GPUs each replica reserves (> 0 needs "
                         "--cuda-device 0)")
        ray.add_argument("--cpus-per-replica", type=float, default=1, help="CPUs each replica reserves")
        ray.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray (default: all)")
        sub.set_defaults(func=serve_from_args)
        return sub


def settings_from_args(args: argparse.Namespace) -> ServeSettings:
    names = {f.name for f in dataclasses.fields(ServeSettings)}
    return ServeSettings(**{k: v for k, v in vars(args).items() if k in names})


def serve_from_args(args: argparse.Namespace) -> None:
    from ere_allennlp.serve.dependencies import ServeMissing

    settings = settings_from_args(args)
    problem = settings.check()
    if problem is None and not os.path.exists(settings.archive):
        problem = f"{settings.archive}: no such archive"
    if problem is not None:
        print(f"ere-serve: {problem}", file=sys.stderr)
        sys.exit(2)
    try:
        if args.ray:
            from ere_allennlp.serve.ray_app import RayOptions, serve_on_ray

            serve_on_ray(settings, RayOptions(address=args.address, replicas=args.replicas,
                                              gpus_per_replica=args.gpus_per_replica,
                                              cpus_per_replica=args.cpus_per_replica, num_cpus=args.num_cpus))
        else:
            from ere_allennlp.serve.server import run

            run(settings, log_level=args.log_level)
    except (ServeMissing, ValueError) as error:
        print(f"ere-serve: {error}", file=sys.stderr)
        sys.exit(2)
