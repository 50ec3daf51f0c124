"""``ere-study --ray``: every training, Table 4 evaluation and approach evaluation of a study as a
Ray task with its own resources, all independent ones at once.

The driver keeps the plan (`Study.steps`, with what each step needs) and submits a step as soon as
the steps it needs have finished; a task rebuilds the `Study` from its settings and runs the one
step by `Study.execute`, so a task writes exactly the files a sequential run writes, under the same
lock. What makes it safe to run many at once and to stop at any moment:

- every step writes only its own folder or files (one module folder per training, one approach
  folder per evaluation), under a lock on that step (`Study.lock_file`);
- results are written atomically (metrics, predictions) or marked finished only once whole (a
  module's ``ere_study_done.json`` after its ``model.tar.gz``), so a task killed midway leaves
  nothing a resume would take as done; an unfinished training continues from its checkpoint;
- a task whose worker process dies is retried by Ray (``max_retries``); a task that raises is
  reported with its error, the steps that need it are not started, every other step still runs,
  and the command fails naming them: the same command then resumes (as after a kill of the
  driver).

The tables are written afterwards from the files, as for a sequential run.
"""
import logging
import time
from dataclasses import asdict
from typing import Any, Dict, List, Set, Tuple

from tqdm import tqdm

from ere_allennlp.ray_support import (check_gpus, check_reachable, cuda_device_in_task, ray_session, require_ray,
                                      task_threads)
from ere_allennlp.study.runner import Study, Step
from ere_allennlp.study.settings import StudyError, StudySettings

logger = logging.getLogger(__name__)


def run_step(settings: Dict[str, Any], key: Tuple[str, int, str], num_cpus: float, num_gpus: float) -> Dict[str, Any]:
    """The body of one Ray task: the step `key` of the study with `settings` (`StudySettings` as a
    dict). Returns what the driver logs."""
    task_threads(num_cpus)
    values = dict(settings)
    values["cuda_device"] = cuda_device_in_task(num_gpus)
    study = Study(StudySettings(**values))
    step = next(s for s in study.steps() if s.key == key)
    started = time.time()
    ran = study.execute(step)
    return {"ran": ran, "seconds": time.time() - started}


class RayExecutor:
    """Runs a study's unfinished steps on Ray (see the module docstring); a `Study.run` executor.

    # Parameters

    address : `str`, optional (default = `None`)
        A running cluster (``auto``, ``ray://host:10001``); None starts a local Ray.
    num_cpus : `int`, optional (default = `None`)
        CPUs of the local Ray (default: all of this machine's); ignored with `address`.
    cpus_per_task : `float`, optional (default = `1`)
        CPUs each task reserves; torch in the task uses as many threads.
    gpus_per_training : `float`, optional (default = `0`)
        GPUs each task reserves (at most 1; a fraction shares one). > 0 needs the study's
        ``cuda_device`` >= 0; the task then runs on the GPU Ray assigned it.
    max_retries : `int`, optional (default = `2`)
        How often Ray reruns a task whose worker process died.
    """

    def __init__(self, address: str = None, num_cpus: int = None, cpus_per_task: float = 1,
                 gpus_per_training: float = 0, max_retries: int = 2) -> None:
        self.address = address
        self.num_cpus = num_cpus
        self.cpus_per_task = cpus_per_task
        self.gpus_per_training = gpus_per_training
        self.max_retries = max_retries

    def check(self, settings: StudySettings) -> None:
        """Refuses, before anything runs, resources that cannot work and a cluster that cannot be
        reached (`ray_support.RayMissing`, `ray_support.RayUnreachable`)."""
        require_ray()
        if self.cpus_per_task <= 0:
            raise StudyError(f"--cpus-per-task must be > 0, got {self.cpus_per_task}")
        try:
            check_gpus(settings.cuda_device, self.gpus_per_training, "--gpus-per-training")
        except ValueError as error:
            raise StudyError(str(error)) from None
        check_reachable(self.address)

    def __call__(self, study: Study, steps: List[Step], todo: List[Step], progress: bool) -> None:
        settings = asdict(study.settings)
        finished: Set[Tuple[str, int, str]] = {s.key for s in steps if s not in todo}
        waiting = list(todo)
        failed: Dict[Tuple[str, int, str], str] = {}
        bar = tqdm(total=len(steps), initial=len(finished), unit="run", disable=not progress, desc="ere-study (ray)",
                   dynamic_ncols=True)
        with ray_session(self.address, self.num_cpus) as ray:
            task = ray.remote(run_step).options(
                num_cpus=self.cpus_per_task, num_gpus=self.gpus_per_training, max_retries=self.max_retries,
                retry_exceptions=False,
            )
            running: Dict[Any, Step] = {}
            try:
                while waiting or running:
                    blocked = {s.key for s in waiting if any(n in failed for n in s.needs)}
                    for step in [s for s in waiting if s.key in blocked]:
                        failed[step.key] = "not started: a step it needs failed"
                    waiting = [s for s in waiting if s.key not in blocked]
                    for step in [s for s in waiting if all(n in finished for n in s.needs)]:
                        running[task.remote(settings, step.key, self.cpus_per_task, self.gpus_per_training)] = step
                        waiting.remove(step)
                        logger.info("ere-study (ray): started %s", step)
                    if not running:
                        break
                    bar.set_postfix_str(f"{len(running)} running")
                    ready, _ = ray.wait(list(running), num_returns=1)
                    step = running.pop(ready[0])
                    try:
                        outcome = ray.get(ready[0])
                    except Exception as error:  # the task raised, or died more often than retried
                        cause = getattr(error, "cause", None) or error  # a RayTaskError wraps the task's own
                        failed[step.key] = f"{type(cause).__name__}: {cause}"
                        logger.error("ere-study (ray): %s failed: %s", step, failed[step.key])
                        continue
                    finished.add(step.key)
                    bar.update(1)
                    logger.info("ere-study (ray): %s finished in %.1f s%s", step, outcome["seconds"],
                                "" if outcome["ran"] else " (by another process)")
            finally:
                for ref in running:
                    ray.cancel(ref, force=True)
                bar.close()
        if failed:
            lines = "\n".join(f"  seed {seed}: {kind} {name}: {why.splitlines()[0]}" for (kind, seed, name), why in failed.items())
            raise StudyError(f"{len(failed)} run(s) of the study did not finish:\n{lines}\n"
                             "the finished ones are kept: rerun the same command to resume")
