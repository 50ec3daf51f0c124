"""The service's tests start the real ``allennlp ere-serve`` in a subprocess on a free loopback port
and talk HTTP to it with httpx. The archive is the spaCy component's a4 (Ner -> Re trained 15
epochs on the fixture corpus, tests/spacy_component/conftest.py), which finds entities and
relations in the corpus's phrasing, so that comparisons of answers are not comparisons of empties."""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator, List, Optional

import pytest

from tests.conftest import REPO_ROOT
from tests.spacy_component.conftest import TEXTS, archives  # noqa: F401  (the session fixture, reused here)

httpx = pytest.importorskip("httpx", reason="the service's tests need requirements/serve.txt")
pytest.importorskip("fastapi", reason="the service's tests need requirements/serve.txt")

__all__ = ["TEXTS", "archives", "Server", "free_port"]

LOCAL = "127.0.0.1"
READY_TIMEOUT_S = 180.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOCAL, 0))
        return s.getsockname()[1]


class Server:
    """``allennlp ere-serve ARCHIVE --port <free port> OPTIONS`` in a subprocess, ready (``/health``
    200) when the constructor returns; `stop` sends SIGTERM and returns the exit status."""

    def __init__(self, archive: str, *options: str, log: Optional[Path] = None,
                 ready_timeout_s: float = READY_TIMEOUT_S) -> None:
        self.port = free_port()
        self.url = f"http://{LOCAL}:{self.port}"
        self.log = log
        command = [sys.executable, "-m", "allennlp", "ere-serve", archive, "--port", str(self.port),
                   "--log-level", "warning", *options]
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1")
        self.output = open(log, "wb") if log else subprocess.DEVNULL
        self.process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=self.output, stderr=subprocess.STDOUT)
        self.client = httpx.Client(base_url=self.url, timeout=60.0)
        self._wait_ready(ready_timeout_s)

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ere-serve exited with {self.process.returncode}: {self.tail()}")
            try:
                if self.client.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"ere-serve not ready within {timeout_s} s: {self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log and self.log.exists() else "(no log)"

    def post(self, body: Any, **kwargs: Any) -> Any:
        return self.client.post("/v1/extract", json=body, **kwargs)

    def stop(self, timeout: float = 60.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.client.close()
        if self.output is not subprocess.DEVNULL:
            self.output.close()
        return self.process.returncode


@pytest.fixture(scope="module")
def a4_server(archives, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:  # noqa: F811
    """One server over a4 with the default settings, shared by a module's tests."""
    server = Server(archives.a4, log=tmp_path_factory.mktemp("serve") / "server.log")
    yield server
    server.stop()


def documents_of(texts: List[str]) -> List[dict]:
    return [{"doc_key": f"doc{n}", "text": text} for n, text in enumerate(texts)]
