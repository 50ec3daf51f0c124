"""``ere-study --ray`` on a local Ray (2 CPUs): the smoke study gives the sequential run's tables;
a worker killed mid-task is retried, a driver killed mid-study leaves nothing a resume would take
as done, and the resumed study ends with the figures of an uninterrupted one."""
import importlib.util
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Dict, List

import pytest

from ere_allennlp import archival
from ere_allennlp.study import Study, StudyError
from ere_allennlp.study.ray_runner import RayExecutor
from ere_allennlp.study.runner import TRAINED_MARKER
from tests.conftest import REPO_ROOT
from tests.study.smoke import GROUP, approach_metrics, run_smoke, smoke_command, smoke_env, smoke_settings

# Not imported here: ray_support imports it first, so that the local Ray listens on 127.0.0.1 only.
if importlib.util.find_spec("ray") is None:
    pytest.skip("Ray is not installed (requirements/ray.txt)", allow_module_level=True)

RAY = ("--ray", "--num-cpus", "2")


def session_processes(sid: int) -> List[int]:
    """Pids of the live processes of session `sid` (the driver started with start_new_session: its
    local Ray, the Ray workers included)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":  # a zombie is dead already
                pids.append(int(entry))
    return pids


def task_workers(sid: int) -> List[int]:
    """Ray workers of session `sid` while they run a `run_step` task (Ray sets their title)."""
    found = []
    for pid in session_processes(sid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if handle.read().startswith(b"ray::run_step"):
                    found.append(pid)
        except OSError:
            continue
    return found


def finished_steps(out: Path) -> Dict[str, int]:
    """Done files of the study in `out` -> their modification times."""
    files = list(out.glob(f"seed_*/*/{TRAINED_MARKER}")) + list(out.glob("seed_*/*/span_metrics.json"))
    files += list(out.glob("seed_*/approaches/*/metrics_test.json"))
    return {str(f.relative_to(out)): f.stat().st_mtime_ns for f in files}


def kill_session(sid: int) -> None:
    for _ in range(50):
        pids = session_processes(sid)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    raise AssertionError(f"processes of session {sid} outlived SIGKILL: {session_processes(sid)}")


@pytest.mark.xdist_group(GROUP)
def test_ray_study_writes_the_tables_of_the_sequential_run(smoke_study: Path, tmp_path: Path) -> None:
    out = tmp_path / "ray"
    result = run_smoke(out, *RAY)
    for name in ("tables.md", "table2.csv", "table4.csv", "error_propagation.csv", "significance.csv"):
        assert (out / "tables" / name).read_text(encoding="utf-8") == (smoke_study / "tables" / name).read_text(encoding="utf-8"), name
    ray_results = json.loads((out / "tables/results.json").read_text(encoding="utf-8"))
    sequential = json.loads((smoke_study / "tables/results.json").read_text(encoding="utf-8"))
    for key in ("approaches", "spans", "significance"):
        assert ray_results[key] == sequential[key], key
    # every run was a Ray task, and the study resumes as a sequential one would
    assert Study(smoke_settings(out)).run(progress=False) == []
    assert "ere-study (ray)" in result.stderr


@pytest.mark.xdist_group(GROUP)
def test_ray_study_retries_a_killed_task_and_resumes_after_a_killed_driver(smoke_study: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    approaches = ["a4", "a8"]  # modules pruner, ei, ner, re, nerre: 9 runs per seed
    command = smoke_command(out, *RAY, "--approaches", *approaches)
    log = open(tmp_path / "driver.log", "w", encoding="utf-8")
    driver = subprocess.Popen(command, cwd=REPO_ROOT, env=smoke_env(), stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    killed_worker = False
    try:
        deadline = time.time() + 600
        while time.time() < deadline and driver.poll() is None:
            workers = task_workers(driver.pid)
            if not killed_worker and workers:
                os.kill(workers[0], signal.SIGKILL)  # a task's worker dies mid-run: Ray reruns the task
                killed_worker = True
            if killed_worker and len(finished_steps(out)) >= 8:
                break
            time.sleep(0.1)
        assert driver.poll() is None, "the study ended before it could be killed; see driver.log"
        assert killed_worker
    finally:
        kill_session(driver.pid)  # the driver, its local Ray and every worker
        driver.wait()
        log.close()
    # Ray reran the killed task (its own warning says so), and the study did not report it failed
    driver_log = (tmp_path / "driver.log").read_text(encoding="utf-8")
    assert "will be retried" in driver_log
    assert " failed: " not in driver_log and "did not finish" not in driver_log
    done = finished_steps(out)
    assert 8 <= len(done) < 18
    # Nothing half-written is taken as done: every marked training has a whole archive.
    for marker in out.glob(f"seed_*/*/{TRAINED_MARKER}"):
        assert archival.complete(str(marker.parent / "model.tar.gz")), marker
    study = Study(smoke_settings(out, approaches=approaches))
    todo = [s for s in study.steps() if not s.done()]
    assert 0 < len(todo) == 18 - len(done)

    run_smoke(out, *RAY, "--approaches", *approaches)
    after = finished_steps(out)
    assert len(after) == 18
    assert {k: after[k] for k in done} == done  # runs finished before the kill were not redone
    # the same figures as the uninterrupted sequential study
    assert approach_metrics(out, approaches) == approach_metrics(smoke_study, approaches)


@pytest.mark.xdist_group(GROUP)
def test_a_failing_task_is_reported_and_only_what_needs_it_is_skipped(tmp_path: Path) -> None:
    # The NER training fails (a key its model does not take): a4 needs it, the rest does not.
    settings = smoke_settings(tmp_path / "failing", seeds=[1], approaches=["a4"],
                              module_overrides={"ner": {"model.no_such_key": 1}})
    study = Study(settings)
    with pytest.raises(StudyError) as error:
        study.run(progress=False, executor=RayExecutor(num_cpus=2))
    message = str(error.value)
    assert "2 run(s) of the study did not finish" in message
    assert "seed 1: train ner: TypeError" in message and "no_such_key" in message
    assert "seed 1: evaluate a4: not started: a step it needs failed" in message
    assert "rerun the same command to resume" in message
    steps = {s.key: s for s in study.steps()}
    assert not steps["train", 1, "ner"].done() and not steps["evaluate", 1, "a4"].done()
    assert all(steps[key].done() for key in [("train", 1, "pruner"), ("train", 1, "ei"), ("train", 1, "re"),
                                             ("spans", 1, "pruner"), ("spans", 1, "ei")])


def test_ray_resources_that_cannot_work_are_refused(tmp_path: Path) -> None:
    settings = smoke_settings(tmp_path / "s")
    with pytest.raises(StudyError, match="reserves one; give both"):
        RayExecutor(gpus_per_training=1).check(settings)
    settings.cuda_device = 0
    with pytest.raises(StudyError, match="reserves one; give both"):
        RayExecutor(gpus_per_training=0).check(settings)
    with pytest.raises(StudyError, match="a task uses one GPU"):
        RayExecutor(gpus_per_training=2).check(settings)
    RayExecutor(gpus_per_training=0.5).check(settings)  # a GPU shared by two tasks
    settings.cuda_device = -1
    with pytest.raises(StudyError, match="--cpus-per-task must be > 0"):
        RayExecutor(cpus_per_task=0).check(settings)


def test_a_task_runs_on_the_gpu_ray_gave_it_or_on_the_cpu(tmp_path: Path, monkeypatch) -> None:
    """`run_step` (a task's body, called here without Ray) hands the study device 0 when the task
    reserved a GPU (Ray's CUDA_VISIBLE_DEVICES holds it) and -1 otherwise, and torch as many
    threads as it reserved CPUs."""
    import torch

    from ere_allennlp.study import ray_runner

    seen = []
    monkeypatch.setattr(Study, "execute", lambda self, step: seen.append((self.settings.cuda_device, step.key)) or True)
    settings = vars(smoke_settings(tmp_path / "s", cuda_device=3))
    threads = torch.get_num_threads()
    try:
        assert ray_runner.run_step(settings, ("train", 1, "ner"), 2, 0.5)["ran"]
        assert torch.get_num_threads() == 2
        ray_runner.run_step(dict(settings, cuda_device=-1), ("evaluate", 2, "a8"), 1, 0)
    finally:
        torch.set_num_threads(threads)
    assert seen == [(0, ("train", 1, "ner")), (-1, ("evaluate", 2, "a8"))]
