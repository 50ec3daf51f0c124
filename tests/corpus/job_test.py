"""``allennlp ere-predict-corpus`` on a local Ray (2 CPUs) with a tiny approach (a4): its output is
``allennlp predict``'s, bad lines become error records naming file, line and field, and a job
killed midway resumes to the output of an uninterrupted run."""
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

import pytest

from ere_allennlp.corpus.plan import CorpusFolder, CorpusPlan
from tests.conftest import REPO_ROOT
from tests.study.ray_runner_test import kill_session

# Not imported here: ray_support imports it first, so that the local Ray listens on 127.0.0.1 only.
if importlib.util.find_spec("ray") is None:
    pytest.skip("Ray is not installed (requirements/ray.txt)", allow_module_level=True)

ENV = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
BAD_LINES = ["{not json", json.dumps({"sentences": 3}), json.dumps([1, 2])]


@pytest.fixture(scope="module")
def archive(runs, tmp_path_factory: pytest.TempPathFactory) -> str:
    runs.ensure(["ner", "re"])
    with pytest.MonkeyPatch.context() as monkeypatch:
        return runs.build("a4", monkeypatch, tmp_path_factory.mktemp("corpus_a4"))


def corpus(path: Path, copies: int, bad: bool = True) -> Path:
    """`copies` copies of the fixture test documents (own doc keys), raw text, a blank line and
    (with `bad`) three bad lines."""
    documents = (REPO_ROOT / "fixtures/data/test.json").read_text(encoding="utf-8").splitlines()
    lines: List[str] = []
    for k in range(copies):
        for line in documents:
            record = json.loads(line)
            record["doc_key"] = f"{record['doc_key']}_{k}"
            lines.append(json.dumps(record))
        if k == 0:
            lines += [json.dumps({"text": "We parse the treebank with a neural parser. It works well."}), "  "]
            lines += BAD_LINES if bad else []
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def allennlp_predict(archive: str, data: Path, out: Path) -> List[dict]:
    """`allennlp predict` (its own command, in this process) with the bad lines skipped."""
    from allennlp.commands import main

    argv = ["allennlp", "predict", archive, str(data), "--predictor", "ere", "--silent", "--output-file", str(out),
            "--predictor-args", json.dumps({"skip_bad_documents": True})]
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(sys, "argv", argv)
        main(prog="allennlp")
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray (2 CPUs, on 127.0.0.1) for the jobs this module runs in its own process."""
    from ere_allennlp.ray_support import local_init_arguments, require_ray

    ray = require_ray()
    ray.init(**local_init_arguments(num_cpus=2))
    yield ray
    ray.shutdown()


def corpus_command(archive: str, out: Path, *inputs: str, extra: List[str] = ()) -> List[str]:
    return [sys.executable, "-m", "allennlp", "ere-predict-corpus", archive, *inputs, "--output-dir", str(out),
            "--num-cpus", "2", "--no-progress", *extra]


def merged(out: Path) -> List[dict]:
    """Predictions and error records of a --merge output, in input order."""
    records = [json.loads(line) for name in ("predictions.jsonl", "errors.jsonl")
               for line in (out / name).read_text(encoding="utf-8").splitlines()]
    return sorted(records, key=lambda r: (r["input_file"], r["input_line"]))


def without_keys(records: List[dict]) -> List[dict]:
    return [{k: v for k, v in r.items() if k not in ("input_file", "input_line")} for r in records]


def shard_times(out: Path) -> Dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (out / "shards").glob("shard-*.jsonl") if ".errors" not in p.name}


def test_a_killed_job_resumes_to_the_uninterrupted_output(archive: str, tmp_path: Path) -> None:
    data = corpus(tmp_path / "big.jsonl", 40)  # 40 x 3 documents, raw text, bad lines
    out = tmp_path / "out"
    command = corpus_command(archive, out, str(data), extra=["--shard-size", "6", "--batch-size", "2"])
    log = open(tmp_path / "job.log", "w", encoding="utf-8")
    job = subprocess.Popen(command, cwd=REPO_ROOT, env=ENV, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 400
        while time.time() < deadline and job.poll() is None:
            if (out / "shards").exists() and len(shard_times(out)) >= 3:
                break
            time.sleep(0.05)
        assert job.poll() is None, "the job ended before it could be killed: " + (tmp_path / "job.log").read_text()[-2000:]
    finally:
        kill_session(job.pid)
        job.wait()
        log.close()
    plan = CorpusPlan.from_record(json.loads((out / "manifest.json").read_text(encoding="utf-8"))["plan"])
    folder = CorpusFolder(str(out))
    done = [s for s in plan.shards if folder.done(s)]
    assert 3 <= len(done) < len(plan.shards)
    for shard in done:  # only whole shards: every non-blank line is in it or in its errors
        lines = folder.shard_file(shard).read_text(encoding="utf-8").splitlines()
        lines += folder.errors_file(shard).read_text(encoding="utf-8").splitlines()
        assert sorted(json.loads(line)["input_line"] for line in lines) == [
            shard.first_line + k for k, text in enumerate(data.read_text(encoding="utf-8").splitlines()[shard.first_line - 1:][:shard.lines])
            if text.strip()]
    before = shard_times(out)
    result = subprocess.run(command + ["--merge"], cwd=REPO_ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1])["shards_run"] == len(plan.shards) - len(done)
    assert {k: v for k, v in shard_times(out).items() if k in before} == before  # finished shards were kept
    assert without_keys(merged(out)) == allennlp_predict(archive, data, tmp_path / "expected.jsonl")
    assert not list((out / "shards").glob(".tmp.*"))


def run_in_process(archive: str, out: Path, pattern: str) -> dict:
    """The command in this process (on `local_ray`): its summary line."""
    from allennlp.commands import main

    argv = corpus_command(archive, out, pattern, extra=["--shard-size", "4", "--num-workers", "2", "--batch-size", "3", "--merge"])
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(sys, "argv", ["allennlp"] + argv[3:])
        main(prog="allennlp")
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))["finished"]["last_run"]


def test_corpus_output_is_allennlp_predicts_and_bad_lines_are_reported(archive: str, local_ray, tmp_path: Path) -> None:
    data = corpus(tmp_path / "part1.jsonl", 3)
    second = corpus(tmp_path / "part2.jsonl", 1, bad=False)
    out = tmp_path / "out"
    summary = run_in_process(archive, out, str(tmp_path / "part*.jsonl"))
    expected = allennlp_predict(archive, data, tmp_path / "p1.jsonl") + allennlp_predict(archive, second, tmp_path / "p2.jsonl")
    got = merged(out)
    assert without_keys(got) == expected  # same records, same order, nothing twice
    lines = data.read_text(encoding="utf-8").splitlines()
    for record in got:  # keyed by input file and line
        source = Path(record["input_file"]).read_text(encoding="utf-8").splitlines()[record["input_line"] - 1]
        if "sentences" in record and "doc_key" in json.loads(source):
            assert record["doc_key"] == json.loads(source)["doc_key"]
    errors = [json.loads(line) for line in (out / "errors.jsonl").read_text(encoding="utf-8").splitlines()]
    first_bad = lines.index(BAD_LINES[0]) + 1
    assert [(e["input_file"], e["input_line"]) for e in errors] == [(str(data), first_bad + k) for k in range(3)]
    assert errors[0]["error"].startswith(f"{data}:{first_bad}: malformed JSON")
    assert errors[1]["error"] == f"{data}:{first_bad + 1}: field 'sentences': must be a list of sentences, each a list of token strings"
    assert errors[2]["error"] == f"{data}:{first_bad + 2}: field '<record>': expected a JSON object, got list"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    totals = manifest["finished"]["totals"]
    assert totals == {"shards": len(manifest["plan"]["shards"]), "shards_done": len(manifest["plan"]["shards"]),
                      "predictions": len(expected) - 3, "errors": 3}
    # A pool of two actors: which of them gets each shard is Ray's choice (on a loaded machine the second
    # actor may start after the first has taken every shard), so only the pool bound and the totals are fixed.
    assert 1 <= len(summary["workers"]) <= 2
    assert sum(w["documents"] for w in summary["workers"].values()) == len(expected)
    assert summary["documents"] == len(expected) and summary["errors"] == 3
    # A rerun of a finished job predicts nothing and leaves the output as it was.
    before = (out / "predictions.jsonl").read_bytes()
    assert run_in_process(archive, out, str(tmp_path / "part*.jsonl"))["shards_run"] == 0
    assert (out / "predictions.jsonl").read_bytes() == before


def test_missing_inputs_and_another_jobs_folder_fail_with_one_line(archive: str, tmp_path: Path) -> None:
    result = subprocess.run(corpus_command(archive, tmp_path / "out", str(tmp_path / "nothing-*.jsonl")),
                            cwd=REPO_ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"ere-predict-corpus: no input file matches '{tmp_path}/nothing-*.jsonl'"
    assert "Traceback" not in result.stderr


def test_the_actor_predicts_a_batch_as_the_predictor_does(archive: str) -> None:
    """`ShardPredictor` without Ray: a batch of lines, one of them bad, gives the predictor's
    records keyed by file and line, the bad one an error record; a GPU actor gets device 0."""
    import numpy as np

    from ere_allennlp.corpus.job import CorpusOptions, ShardPredictor, actor_arguments

    lines = (REPO_ROOT / "fixtures/data/test.json").read_text(encoding="utf-8").splitlines()[:2] + ["{bad"]
    actor = ShardPredictor(archive, ["in.jsonl"], {7: 0}, num_cpus=1, cuda_device=-1, batch_size=8)
    out = actor({"shard": np.array([7, 7, 7]), "line": np.array([1, 2, 5]), "text": np.array(lines, dtype=object)})
    records = [json.loads(t) for t in out["output"].tolist()]
    assert out["error"].tolist() == [False, False, True]
    assert [(r["input_file"], r["input_line"]) for r in records] == [("in.jsonl", 1), ("in.jsonl", 2), ("in.jsonl", 5)]
    assert [r["doc_key"] for r in records[:2]] == [json.loads(line)["doc_key"] for line in lines[:2]]
    assert records[2]["error"].startswith("in.jsonl:5: malformed JSON")
    plan = CorpusPlan({"path": archive}, [], [], 1)
    assert actor_arguments(plan, [], CorpusOptions(gpus_per_worker=0.5))["cuda_device"] == 0
    assert actor_arguments(plan, [], CorpusOptions())["cuda_device"] == -1


def test_batches_start_at_each_shards_first_line_and_never_cross_shards(archive: str, monkeypatch) -> None:
    """A shard's output depends on that shard alone (a resumed job predicts some shards in other
    company than an uninterrupted one would): its lines are predicted `batch_size` at a time from
    its first line, whatever else the block holds."""
    import numpy as np

    from ere_allennlp.corpus.job import ShardPredictor

    actor = ShardPredictor(archive, ["a.jsonl", "b.jsonl"], {3: 0, 4: 1}, num_cpus=1, cuda_device=-1, batch_size=2)
    calls = []
    monkeypatch.setattr(actor.predictor, "predict_batch_json",
                        lambda records: calls.append([r["_ere_where"] for r in records]) or [{"doc_key": "d", "sentences": []}] * len(records))
    block = {"shard": np.array([3, 3, 3, 4, 4]), "line": np.array([1, 2, 3, 1, 2]),
             "text": np.array(['{"text": "x"}'] * 5, dtype=object)}
    out = actor(block)
    assert calls == [["a.jsonl:1", "a.jsonl:2"], ["a.jsonl:3"], ["b.jsonl:1", "b.jsonl:2"]]
    assert [(json.loads(t)["input_file"], json.loads(t)["input_line"]) for t in out["output"].tolist()] == [
        ("a.jsonl", 1), ("a.jsonl", 2), ("a.jsonl", 3), ("b.jsonl", 1), ("b.jsonl", 2)]
