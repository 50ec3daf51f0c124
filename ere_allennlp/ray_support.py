"""Ray, the optional engine of ``ere-study --ray`` and ``ere-predict-corpus``: importing it with a
clear message when it is missing, and one way to connect to it.

Ray is an extra (``pip install 'ere_allennlp[ray]'``, pinned in ``requirements/ray.txt``); nothing
else in the package imports it. ``address`` None starts a local Ray on this machine (no cluster
needed) and stops it at the end; an address (``auto``, ``ray://host:10001``, ``host:6379``)
connects to a running cluster, whose every node needs this package, its pinned stack, the data and
the output folder at the same paths (a shared file system).

**The local Ray listens on 127.0.0.1 only.** Ray replaces ``127.0.0.1`` by this machine's outward
address, and its servers then listen on every interface, unless ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER``
is ``0`` when ``ray`` is imported: `require_ray` sets it (unless it is set) before the first
import, and the local ``ray.init`` is given ``_node_ip_address="127.0.0.1"`` (`local_init_arguments`).
It only changes what Ray takes as this machine's address before it belongs to a node; a driver that
joins a cluster takes its node's address from the cluster.

**An address that cannot be reached fails within a bounded time**, with one line naming it
(`RayUnreachable`), where Ray itself retries its GCS for about 14 minutes (20 attempts of 40 s)
printing connection warnings. For ``host:port`` and ``ray://host:port`` a TCP connection to
host:port is tried first (`check_reachable`): refused fails at once, no answer after
`CONNECT_TIMEOUT_S` (10 s; unknown host names too). An address that answers but is no Ray GCS, or
``auto`` resolving to a stale address, gets one GCS attempt instead of 20
(``RAY_gcs_server_port_wait_time_s=1`` during ``ray.init``, unless set; about 41 s with Ray's
default timeouts): at most about 51 s in all.
"""
import contextlib
import logging
import os
import socket
import sys
import threading
from typing import Any, Dict, Iterator, Optional, Tuple

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'ere_allennlp[ray]' (or pip install -r requirements/ray.txt)"

LOCAL_HOST = "127.0.0.1"
# Read by Ray when it is imported: with "0", Ray keeps 127.0.0.1 as this machine's address.
LOOPBACK_VARIABLE = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
# Seconds a TCP connection to a cluster's host:port may take before it counts as unreachable.
CONNECT_TIMEOUT_S = 10.0
# Ray's GCS connection attempts (about 40 s each) while connecting to a cluster: 1 instead of 20.
GCS_ATTEMPTS_VARIABLE = "RAY_gcs_server_port_wait_time_s"
GCS_ATTEMPTS = "1"


class RayError(RuntimeError):
    """Ray cannot be used: it is missing, or the cluster cannot be reached."""


class RayMissing(RayError):
    """Ray is not installed."""


class RayUnreachable(RayError):
    """The cluster at an address does not answer."""


def require_ray() -> Any:
    if "ray" not in sys.modules:
        os.environ.setdefault(LOOPBACK_VARIABLE, "0")  # see the module docstring
    try:
        import ray
    except ImportError as error:
        raise RayMissing(f"this command runs on Ray, which is not installed ({error}): {INSTALL_HINT}") from None
    return ray


def tcp_target(address: Optional[str]) -> Optional[Tuple[str, int]]:
    """The (host, port) ``ray.init`` connects to for ``host:port`` and ``ray://host:port``
    addresses; None for no address, ``auto``, ``local`` and anything else (Ray resolves those)."""
    if not address or address in ("auto", "local"):
        return None
    rest = address[len("ray://"):] if address.startswith("ray://") else address
    host, colon, port = rest.rpartition(":")
    if not colon or "://" in host or not host or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def check_reachable(address: Optional[str], timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Raises `RayUnreachable` (one line naming `address`) unless a TCP connection to the
    host:port of `address` (`tcp_target`) opens within `timeout` seconds, name lookup included;
    does nothing for addresses without one."""
    target = tcp_target(address)
    if target is None:
        return
    host, port = target
    outcome: Dict[str, Any] = {}

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome["open"] = True
        except OSError as error:
            outcome["error"] = error

    # A thread, so that a slow name lookup is bounded too.
    thread = threading.Thread(target=connect, name="ere-ray-address-check", daemon=True)
    thread.start()
    thread.join(timeout)
    if outcome.get("open"):
        return
    error = outcome.get("error")
    if isinstance(error, ConnectionRefusedError):
        reason = f"connection refused (nothing listens on {host}:{port})"
    elif isinstance(error, socket.gaierror):
        reason = f"unknown host {host!r} ({error.strerror or error})"
    elif error is None or isinstance(error, (TimeoutError, socket.timeout)):
        reason = f"no answer from {host}:{port} within {timeout:g} s"
    else:
        reason = f"{str(error.strerror or error).lower()} ({host}:{port})"  # e.g. no route to host
    raise RayUnreachable(f"cannot reach the Ray cluster at {address}: {reason}; is it running, "
                         f"and is this the address its head node gives?")


def local_init_arguments(num_cpus: Optional[int] = None) -> Dict[str, Any]:
    """What ``ray.init`` is given to start a local Ray (the commands' and the tests'): listening
    on 127.0.0.1 only (see the module docstring), no dashboard, workers' output to their logs."""
    kwargs: Dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "_node_ip_address": LOCAL_HOST}
    if num_cpus:
        kwargs["num_cpus"] = num_cpus
    return kwargs


@contextlib.contextmanager
def _variable(name: str, value: str) -> Iterator[None]:
    """`name` set to `value` in the environment for the body of the ``with``, unless it is set."""
    if name in os.environ:
        yield
        return
    os.environ[name] = value
    try:
        yield
    finally:
        os.environ.pop(name, None)


def connect(ray: Any, address: str) -> None:
    """``ray.init(address)``, failing within a bounded time (see the module docstring)."""
    check_reachable(address)
    try:
        with _variable(GCS_ATTEMPTS_VARIABLE, GCS_ATTEMPTS):
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
    except (ConnectionError, ValueError) as error:
        message = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise RayUnreachable(f"cannot connect to the Ray cluster at {address}: {message}") from None


@contextlib.contextmanager
def ray_session(address: Optional[str] = None, num_cpus: Optional[int] = None) -> Iterator[Any]:
    """Connects to Ray (see the module docstring) for the body of the ``with``; yields the module.
    An already connected process (a test, a notebook) keeps its connection."""
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    if address:
        connect(ray, address)
    else:
        # A local Ray's workers inherit this process's environment (PYTHONPATH, HF_HUB_OFFLINE, ...).
        ray.init(**local_init_arguments(num_cpus))
    resources = ray.cluster_resources()
    logger.info("Ray %s: %s CPUs, %s GPUs", address or "local", resources.get("CPU", 0), resources.get("GPU", 0))
    try:
        yield ray
    finally:
        ray.shutdown()


def task_threads(num_cpus: float) -> None:
    """Inside a Ray task or actor: torch uses as many threads as CPUs it was given."""
    import torch

    torch.set_num_threads(max(1, int(num_cpus)))


def check_gpus(cuda_device: int, num_gpus: float, what: str) -> None:
    """A Ray task runs on a GPU exactly when it reserves one: `cuda_device` >= 0 needs `num_gpus`
    > 0 and the other way round (a task that reserves none must not use one another task holds)."""
    if num_gpus < 0:
        raise ValueError(f"{what} must be >= 0, got {num_gpus}")
    if num_gpus > 1:
        raise ValueError(f"{what} {num_gpus}: a task uses one GPU (or a fraction of one, e.g. 0.5 to share it)")
    if (cuda_device >= 0) != (num_gpus > 0):
        raise ValueError(
            f"--cuda-device {cuda_device} with {what} {num_gpus}: on Ray a task runs on a GPU exactly when it "
            f"reserves one; give both (--cuda-device 0 and {what} 1) or neither"
        )


def cuda_device_in_task(num_gpus: float) -> int:
    """The device index inside a Ray task given `num_gpus` GPUs: Ray sets CUDA_VISIBLE_DEVICES to
    the GPU it assigned, which is then index 0 (whatever index the user gave); -1 without GPUs."""
    return 0 if num_gpus > 0 else -1
