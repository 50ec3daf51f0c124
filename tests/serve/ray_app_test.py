"""``allennlp ere-serve --ray`` on a local Ray (127.0.0.1, 2 CPUs, 2 replicas): the same routes and
answers as ``allennlp predict``, 16 concurrent requests all answered by replicas batching with
``@serve.batch``, a JSON error for a bad request, and a clean stop on SIGTERM."""
import concurrent.futures
import contextlib
import importlib.util
import os
import signal
import time
from pathlib import Path

import pytest

from tests.serve.conftest import TEXTS, Server, documents_of
from tests.serve.server_test import assert_same_prediction
from tests.spacy_component.component_test import allennlp_predict

if importlib.util.find_spec("ray") is None or importlib.util.find_spec("ray.serve") is None:
    pytest.skip("Ray Serve is not installed (requirements/ray.txt)", allow_module_level=True)

pytestmark = pytest.mark.xdist_group("serve")


def test_sigterm_while_serve_run_is_starting_stops_cleanly(monkeypatch) -> None:
    """/health can answer before ``serve.run`` returns; a SIGTERM then must be ours to handle, not
    the process's previous handler (Ray's aborts: status -6, the CI failure of 2026-12-06)."""
    import ray

    from ere_allennlp.serve import ray_app
    from ere_allennlp.serve.settings import ServeSettings

    calls = []

    class FakeServe:
        def start(self, **_):
            calls.append("start")

        def run(self, *_, **__):
            os.kill(os.getpid(), signal.SIGTERM)  # the client stops the server as soon as /health is up
            time.sleep(0.3)  # the handler runs here
            calls.append("run")

        def shutdown(self):
            calls.append("shutdown")

    def previous_handler(*_):
        raise AssertionError("the SIGTERM reached the handler installed before ere-serve's")

    before = signal.signal(signal.SIGTERM, previous_handler)
    try:
        monkeypatch.setattr(ray, "serve", FakeServe(), raising=False)
        monkeypatch.setattr(ray_app.ray_support, "ray_session", lambda *_: contextlib.nullcontext(ray))
        monkeypatch.setattr(ray_app, "deployment", lambda *_: "app")
        ray_app.serve_on_ray(ServeSettings(archive="model.tar.gz"), ray_app.RayOptions())
        assert calls == ["start", "run", "shutdown"]
        assert signal.getsignal(signal.SIGTERM) is previous_handler  # given back
    finally:
        signal.signal(signal.SIGTERM, before)


def test_ray_serve_answers_as_allennlp_predict(archives, tmp_path: Path) -> None:
    server = Server(archives.a4, "--ray", "--replicas", "2", "--num-cpus", "2", "--max-batch-size", "4",
                    "--max-wait-ms", "50", log=tmp_path / "server.log",
                    ready_timeout_s=600)  # Ray starts a worker process per replica: minutes on a busy CPU
    try:
        inputs = documents_of(TEXTS)
        expected = allennlp_predict(archives.a4, inputs, tmp_path)
        answers = server.post({"documents": inputs}).json()["documents"]
        for got, want in zip(answers, expected):
            assert_same_prediction(got, want)
        bodies = [{"text": TEXTS[n % len(TEXTS)], "doc_key": f"doc{n % len(TEXTS)}"} for n in range(16)]
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(server.post, bodies))
        assert [r.status_code for r in responses] == [200] * 16
        for n, response in enumerate(responses):
            assert_same_prediction(response.json()["documents"][0], expected[n % len(TEXTS)])
        # /v1/info describes the replica that answered, and Ray Serve may have sent every document to
        # the other one: ask until both replicas have answered (or 40 times) and count their passes.
        passes = {}
        for _ in range(40):
            info = server.client.get("/v1/info").json()
            assert info["engine"] == "ray_serve"
            passes[info["replica"]] = info["forward_passes"]
            if len(passes) == 2:
                break
        assert sum(passes.values()) >= 1, passes
        assert info["manifest"]["kind"] == "approach"
        bad = server.post({"documents": [{"sentences": "not a list"}]})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "documents[0].sentences"
    finally:
        status = server.stop(timeout=120)
    assert status == 0, server.tail()
