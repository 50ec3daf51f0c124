"""ere_allennlp/models/compat.py: what keeps earlier archives and studies working."""
import gzip
from pathlib import Path

import pytest
from allennlp.common.checks import ConfigurationError
from allennlp.models import Model

from ere_allennlp.models import compat
from ere_allennlp.models.modules import EcRe, EcRi, NerRe, NerRi


def test_old_module_names_build_the_same_modules() -> None:
    for old, module in (("ec_ri", EcRi), ("ner_ri", NerRi), ("ec_re", EcRe), ("ner_re", NerRe)):
        assert Model.by_name(old) is module
    # The current names are still the modules' own.
    assert Model.by_name("nerre") is NerRe and NerRe.MODULE == "nerre"


def test_stage_paths(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ConfigurationError, match="stage archive not found.*rebuild the approach"):
        compat.check_stage_path(str(tmp_path / "gone.tar.gz"), None)
    inside = tmp_path / "approach" / "stages" / "0_ner"
    inside.mkdir(parents=True)
    outside = tmp_path / "runs" / "model.tar.gz"
    outside.parent.mkdir()
    outside.write_bytes(b"")
    with caplog.at_level("WARNING"):
        compat.check_stage_path(str(inside), str(tmp_path / "approach"))
        assert not caplog.records
        compat.check_stage_path(str(outside), str(tmp_path / "approach"))
    assert "reads its stage" in caplog.text and "rebuild it" in caplog.text


def test_path_layout_files_and_whole_archives(tmp_path: Path) -> None:
    (tmp_path / "vocabulary").mkdir()
    (tmp_path / "weights.th").write_bytes(b"x")
    (tmp_path / "model.tar.gz").write_bytes(b"x")
    compat.remove_path_layout_files(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.tar.gz"]
    whole = tmp_path / "whole.tar.gz"
    whole.write_bytes(gzip.compress(b"a" * 10000))
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(whole.read_bytes()[:-20])
    assert compat.archive_complete(whole) and not compat.archive_complete(cut)
