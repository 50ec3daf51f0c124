"""Connecting to Ray (``ere_allennlp/ray_support.py``): an address that cannot be reached fails
within a bounded time with one line naming it, and the local Ray listens on 127.0.0.1 only."""
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

from ere_allennlp import ray_support
from ere_allennlp.ray_support import RayUnreachable, check_reachable, ray_session, tcp_target
from tests.conftest import REPO_ROOT

RAY_INSTALLED = importlib.util.find_spec("ray") is not None


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound once, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class FakeRay:
    """Records what `ray_session` asks of Ray; `init_error` is raised by ``init``."""

    def __init__(self, init_error: Exception = None) -> None:
        self.inits: List[Dict[str, Any]] = []
        self.environment: List[Dict[str, str]] = []
        self.shutdowns = 0
        self.init_error = init_error

    def is_initialized(self) -> bool:
        return False

    def init(self, **kwargs) -> None:
        self.inits.append(kwargs)
        self.environment.append(dict(os.environ))
        if self.init_error is not None:
            raise self.init_error

    def cluster_resources(self) -> Dict[str, float]:
        return {"CPU": 2.0}

    def shutdown(self) -> None:
        self.shutdowns += 1


@pytest.fixture
def fake_ray(monkeypatch: pytest.MonkeyPatch) -> FakeRay:
    fake = FakeRay()
    monkeypatch.setattr(ray_support, "require_ray", lambda: fake)
    return fake


def test_addresses_checked_by_tcp() -> None:
    assert tcp_target("10.1.2.3:6379") == ("10.1.2.3", 6379)
    assert tcp_target("ray://head.example:10001") == ("head.example", 10001)
    assert tcp_target("[::1]:6379") == ("::1", 6379)
    for address in (None, "", "auto", "local", "head", "ray://head", "anyscale://x", "host:port"):
        assert tcp_target(address) is None, address


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_an_address_nothing_listens_on_fails_at_once_in_one_line(scheme: str) -> None:
    address = f"{scheme}127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(RayUnreachable) as error:
        check_reachable(address)
    assert time.monotonic() - started < 5
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"cannot reach the Ray cluster at {address}: connection refused")


def test_an_address_that_does_not_answer_fails_after_the_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A host that drops the connection (or a name lookup that hangs) counts as unreachable once
    the timeout is over, whatever the socket call does meanwhile."""
    monkeypatch.setattr(socket, "create_connection", lambda *args, **kwargs: time.sleep(30))
    started = time.monotonic()
    with pytest.raises(RayUnreachable, match=r"at 10\.1\.2\.3:6379: no answer from 10\.1\.2\.3:6379 within 0\.5 s"):
        check_reachable("10.1.2.3:6379", timeout=0.5)
    assert time.monotonic() - started < 3
    assert ray_support.CONNECT_TIMEOUT_S <= 60


def test_an_address_that_listens_passes_the_check() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        check_reachable(f"127.0.0.1:{server.getsockname()[1]}")
    check_reachable("auto")  # Ray resolves it: not checked here
    check_reachable(None)


def test_an_unreachable_address_never_reaches_ray_init(fake_ray: FakeRay) -> None:
    address = f"127.0.0.1:{free_port()}"
    with pytest.raises(RayUnreachable, match=f"at {address}"):
        with ray_session(address):
            pass
    assert fake_ray.inits == []


def test_ray_gets_one_gcs_attempt_and_its_error_becomes_one_line(fake_ray: FakeRay,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """An address that answers but is no Ray GCS: Ray tries its GCS once (about 41 s), not 20
    times (about 14 minutes), and its error names the address."""
    monkeypatch.delenv(ray_support.GCS_ATTEMPTS_VARIABLE, raising=False)
    fake_ray.init_error = ConnectionError("Failed to connect to Ray cluster at 127.0.0.1:1\nmore")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        address = f"127.0.0.1:{server.getsockname()[1]}"
        with pytest.raises(RayUnreachable) as error:
            with ray_session(address):
                pass
    assert str(error.value) == (f"cannot connect to the Ray cluster at {address}: "
                                "Failed to connect to Ray cluster at 127.0.0.1:1")
    assert fake_ray.inits == [{"address": address, "include_dashboard": False, "log_to_driver": False}]
    assert fake_ray.environment[0][ray_support.GCS_ATTEMPTS_VARIABLE] == "1"
    assert ray_support.GCS_ATTEMPTS_VARIABLE not in os.environ  # only while connecting
    monkeypatch.setenv(ray_support.GCS_ATTEMPTS_VARIABLE, "30")  # the user's own setting wins
    with pytest.raises(RayUnreachable), socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with ray_session(f"127.0.0.1:{server.getsockname()[1]}"):
            pass
    assert fake_ray.environment[1][ray_support.GCS_ATTEMPTS_VARIABLE] == "30"


def test_the_local_ray_is_started_on_127_0_0_1(fake_ray: FakeRay) -> None:
    with ray_session(num_cpus=2) as ray:
        assert ray is fake_ray
    assert fake_ray.inits == [{"include_dashboard": False, "log_to_driver": False, "_node_ip_address": "127.0.0.1",
                               "num_cpus": 2}]
    assert fake_ray.shutdowns == 1


# Run without the package (ray_support imports nothing of it at module level): a local Ray, its
# addresses, whether its GCS port answers on this machine's outward address, and a task.
LOCAL_RAY_PROBE = """
import importlib.util, json, socket, sys
spec = importlib.util.spec_from_file_location("ray_support", sys.argv[1])
ray_support = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ray_support)
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
    udp.connect(("10.255.255.255", 1))  # no packet is sent: picks the outward interface
    outward = udp.getsockname()[0]
with ray_support.ray_session(num_cpus=1) as ray:
    host, port = ray.get_runtime_context().gcs_address.rsplit(":", 1)
    answers = {}
    for ip in ("127.0.0.1", outward):
        try:
            socket.create_connection((ip, int(port)), timeout=5).close()
            answers[ip] = True
        except OSError:
            answers[ip] = False
    task = ray.get(ray.remote(lambda: 41 + 1).remote())  # and its workers run tasks
    print(json.dumps({"gcs_host": host, "node_ip": ray.util.get_node_ip_address(), "outward": outward,
                      "answers": answers, "task": task}))
"""


@pytest.mark.skipif(not RAY_INSTALLED, reason="Ray is not installed (requirements/ray.txt)")
def test_a_local_ray_listens_on_127_0_0_1_only(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    result = subprocess.run([sys.executable, "-c", LOCAL_RAY_PROBE, str(REPO_ROOT / "ere_allennlp/ray_support.py")],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["gcs_host"] == "127.0.0.1" and probe["node_ip"] == "127.0.0.1", probe
    assert probe["answers"]["127.0.0.1"] is True and probe["task"] == 42
    if probe["outward"] != "127.0.0.1":
        assert probe["answers"][probe["outward"]] is False, probe  # not on the outward interface


def test_ere_predict_corpus_fails_at_once_on_an_unreachable_address(tmp_path: Path) -> None:
    """The command, in a process of its own, from a folder without a plugins file: exit 2 within
    the bound and one line naming the address, no traceback, no Ray started."""
    address = f"127.0.0.1:{free_port()}"
    (tmp_path / "docs.jsonl").write_text(json.dumps({"text": "A parser."}) + "\n", encoding="utf-8")
    ere = Path(sys.executable).with_name("ere")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    started = time.monotonic()
    result = subprocess.run([str(ere), "predict-corpus", str(tmp_path / "model.tar.gz"), "docs.jsonl", "-o", "out",
                             "--address", address, "--no-progress"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    seconds = time.monotonic() - started
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(f"ere-predict-corpus: cannot reach the Ray cluster at {address}: connection refused")
    assert "Traceback" not in result.stderr and "GCS" not in result.stderr
    assert seconds < 60, seconds  # the whole process, AllenNLP's import included
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(not RAY_INSTALLED, reason="Ray is not installed (requirements/ray.txt)")
def test_ere_study_on_ray_fails_at_once_on_an_unreachable_address(tmp_path: Path, capsys) -> None:
    from ere_allennlp.cli import build_parser
    from ere_allennlp.commands.study import study_from_args

    address = f"127.0.0.1:{free_port()}"
    args = build_parser().parse_args(["study", "--data-dir", "fixtures/data", "-s", str(tmp_path / "study"), "--seeds",
                                      "1", "--encoder", "fixtures/tiny_bert", "--ray", "--address", address])
    started = time.monotonic()
    with pytest.raises(SystemExit) as exit_:
        study_from_args(args)
    assert exit_.value.code == 2
    assert time.monotonic() - started < 15
    stderr = capsys.readouterr().err.strip()
    assert stderr.startswith(f"ere-study: cannot reach the Ray cluster at {address}: connection refused")
    assert "\n" not in stderr
