"""The corpus job's plan and folder (no Ray): shards are byte ranges that read back exactly their
lines, globs expand in order, and a folder of another job is refused."""
import json
import os
from pathlib import Path

import pytest

from ere_allennlp.corpus import plan as plan_module
from ere_allennlp.corpus.plan import CorpusError, CorpusFolder, CorpusPlan
from ere_allennlp.corpus.reading import read_shard


def write(path: Path, lines) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def rows_of(plan: CorpusPlan, shard) -> list:
    item = dict(vars(shard), absolute=plan.inputs[shard.file].absolute)
    return list(read_shard(item))


def test_shards_read_back_every_non_blank_line_once(tmp_path: Path) -> None:
    lines = [json.dumps({"text": f"line {k} é"}) if k % 4 else "   " for k in range(1, 12)]  # 11 lines, 2 blank
    first = write(tmp_path / "a.jsonl", lines)
    second = write(tmp_path / "b.jsonl", ['{"text": "x"}'])
    archive = write(tmp_path / "model.tar.gz", ["not read"])
    plan = CorpusPlan.make(str(archive), [str(first), str(second)], shard_size=3)
    assert [(s.file, s.first_line, s.lines, s.documents) for s in plan.shards] == [
        (0, 1, 3, 3), (0, 4, 3, 2), (0, 7, 3, 2), (0, 10, 2, 2), (1, 1, 1, 1)]
    assert [s.index for s in plan.shards] == list(range(5))
    rows = [row for shard in plan.shards for row in rows_of(plan, shard)]
    expected = [(0 if n < 11 else 1, n % 11 + 1 if n < 11 else 1) for n in range(12)]
    got = [(plan.shards[r["shard"]].file, r["line"]) for r in rows]
    assert got == [(f, line) for f, line in expected if not (f == 0 and line % 4 == 0)]
    assert [r["text"] for r in rows[:3]] == [lines[0] + "\n", lines[1] + "\n", lines[2] + "\n"]
    assert plan.inputs[0].lines == 11 and plan.inputs[1].lines == 1


def test_globs_expand_sorted_once_and_missing_inputs_are_named(tmp_path: Path) -> None:
    for name in ("b.jsonl", "a.jsonl", "c.txt"):
        write(tmp_path / name, ['{"text": "x"}'])
    pattern = str(tmp_path / "*.jsonl")
    assert plan_module.expand_inputs([pattern, str(tmp_path / "a.jsonl")]) == [str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")]
    with pytest.raises(CorpusError, match=r"no input file matches '.*\*\.json'"):
        plan_module.expand_inputs([str(tmp_path / "*.json")])
    with pytest.raises(CorpusError, match="input file not found: .*nothing.jsonl"):
        plan_module.expand_inputs([str(tmp_path / "nothing.jsonl")])
    with pytest.raises(CorpusError, match="archive not found"):
        CorpusPlan.make(str(tmp_path / "none.tar.gz"), [pattern], 2)
    with pytest.raises(CorpusError, match="--shard-size must be >= 1"):
        CorpusPlan.make(str(tmp_path / "a.jsonl"), [pattern], 0)


def test_a_folder_continues_its_own_job_and_refuses_another(tmp_path: Path, monkeypatch) -> None:
    data = write(tmp_path / "in.jsonl", ['{"text": "x"}'] * 5)
    archive = write(tmp_path / "model.tar.gz", ["x"])
    folder = CorpusFolder(str(tmp_path / "out"))
    plan = CorpusPlan.make(str(archive), [str(data)], 2)
    folder.open_plan(plan, {})
    # The same job again: the recorded plan is reused without reading the input again.
    monkeypatch.setattr(plan_module, "scan", lambda *a: pytest.fail("scanned a known file again"))
    again = CorpusPlan.make(str(archive), [str(data)], 2, known=folder.recorded_plan())
    assert again == plan
    folder.open_plan(again, {})
    monkeypatch.undo()
    with pytest.raises(CorpusError, match="holds another corpus job.*shard size 2 -> 3"):
        folder.open_plan(CorpusPlan.make(str(archive), [str(data)], 3, known=folder.recorded_plan()), {})
    write(data, ['{"text": "y"}'] * 6)
    with pytest.raises(CorpusError, match="holds another corpus job.*input files .* changed"):
        folder.open_plan(CorpusPlan.make(str(archive), [str(data)], 2, known=folder.recorded_plan()), {})
    other = tmp_path / "used"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(CorpusError, match="is not empty and holds no manifest.json"):
        CorpusFolder(str(other)).open_plan(plan, {})


def test_one_job_per_folder_and_stale_temporary_files_go(tmp_path: Path) -> None:
    folder = CorpusFolder(str(tmp_path / "out"))
    (folder.root / "shards").mkdir(parents=True)
    stale = folder.root / "shards" / ".tmp.123.shard-00000.jsonl"
    stale.write_text("half")
    with folder.lock():
        assert not stale.exists()
        with pytest.raises(CorpusError, match="another ere-predict-corpus job is running"):
            with CorpusFolder(str(tmp_path / "out")).lock():
                pass
    with folder.lock():  # released
        assert os.path.isdir(folder.root)
