from pathlib import Path

import pytest

from tests.study.smoke import run_smoke


@pytest.fixture(scope="session")
def smoke_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`allennlp ere-study` on the fixtures, every approach, 2 seeds, 1 epoch (about 40 s),
    one after another (no Ray)."""
    out = tmp_path_factory.mktemp("study") / "smoke"
    run_smoke(out)
    return out
