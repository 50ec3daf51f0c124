"""The README's lines that start the service and ask it with curl work as written, on a trained
archive in place of the demo's and a free port in place of 8000."""
import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.serve.conftest import Server

pytestmark = pytest.mark.xdist_group("serve")


def readme_block() -> list:
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Serving it over HTTP: `allennlp ere-serve`", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_the_readme_starts_the_service_and_curl_gets_an_answer(archives, tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    lines = readme_block()
    assert lines[0] == "bash scripts/install.sh serve"
    serve = shlex.split(lines[1])
    assert serve[:2] == ["allennlp", "ere-serve"] and serve[-1] == "&" and "--port" in serve
    options = serve[3:-1]
    port = options[options.index("--port") + 1]
    options = options[:options.index("--port")] + options[options.index("--port") + 2:]
    server = Server(archives.a4, *options, log=tmp_path / "server.log")
    try:
        answers = []
        for line in lines[2:4]:
            assert line.startswith("curl -s localhost:" + port)
            command = shlex.split(line.replace("localhost:" + port, f"127.0.0.1:{server.port}"))
            answers.append(json.loads(subprocess.run(command, capture_output=True, check=True, text=True).stdout))
    finally:
        server.stop()
    assert answers[0] == {"status": "ready"}
    document = answers[1]["documents"][0]
    assert document["entities"] and document["text"].startswith("We propose")
