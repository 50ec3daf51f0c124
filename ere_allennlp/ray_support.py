"""Ray, the optional engine of ``ere-study --ray`` and ``ere-predict-corpus``: importing it with a
clear message when it is missing, and one way to connect to it.

Ray is an extra (``pip install 'ere_allennlp[ray]'``, pinned in ``requirements/ray.txt``); nothing
else in the package imports it. ``address`` None starts a local Ray on this machine (no cluster
needed) and stops it at the end; an address (``auto``, ``ray://host:10001``, ``host:6379``)
connects to a running cluster, whose every node needs this package, its pinned stack, the data and
the output folder at the same paths (a shared file system).
"""
import contextlib
import logging
from typing import Any, Iterator, Optional

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'ere_allennlp[ray]' (or pip install -r requirements/ray.txt)"


class RayMissing(RuntimeError):
    """Ray is not installed."""


def require_ray() -> Any:
    try:
        import ray
    except ImportError as error:
        raise RayMissing(f"this command runs on Ray, which is not installed ({error}): {INSTALL_HINT}") from None
    return ray


@contextlib.contextmanager
def ray_session(address: Optional[str] = None, num_cpus: Optional[int] = None) -> Iterator[Any]:
    """Connects to Ray (see the module docstring) for the body of the ``with``; yields the module.
    An already connected process (a test, a notebook) keeps its connection."""
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    kwargs: dict = {"include_dashboard": False, "log_to_driver": False}
    if address:
        kwargs["address"] = address
    elif num_cpus:
        kwargs["num_cpus"] = num_cpus
    # A local Ray's workers inherit this process's environment (PYTHONPATH, HF_HUB_OFFLINE, ...).
    ray.init(**kwargs)
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
