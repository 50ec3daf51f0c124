"""Bad input (issue #7): clear messages naming file, line and field, non-zero exits, atomic
`allennlp predict` output, skipping bad documents, and inputs that must not crash (labels unseen
in training, empty documents and sentences, long sentences, control characters).

The CLI runs in subprocesses (as in cli_test.py); the module archives come from the session
fixture ``runs`` (tiny modules trained in process, once).
"""
import json
import os
from pathlib import Path
from typing import Any, List

import pytest
import torch
from allennlp.data import Batch
from allennlp.models.archival import load_archive
from allennlp.predictors import Predictor

from ere_allennlp.dataset_readers.ere_json import EreDataError, EreJsonReader
from ere_allennlp.predictors.ere import ErePredictor
from tests.commands.cli_test import allennlp
from tests.conftest import REPO_ROOT, TINY_ENV

DOC = {"doc_key": "d", "sentences": [["We", "propose", "a", "neural", "model", "."], ["It", "works", "."]]}


def write(path: Path, lines: List[Any]) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def leftovers(folder: Path) -> List[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict:
    env = dict(os.environ)
    env.update(TINY_ENV, ERE_RUNS=str(tmp_path_factory.mktemp("bad_input_runs")), HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1")
    return env


@pytest.fixture(scope="module")
def archives(runs) -> dict:
    runs.ensure(["ner", "re"])
    return {m: str(runs.archive(m)) for m in ("ner", "re")}


@pytest.fixture(scope="module")
def predictor(archives) -> ErePredictor:
    return Predictor.from_archive(load_archive(archives["ner"]), "ere")  # type: ignore


# ---------------------------------------------------------------- labels unseen in training
def test_evaluate_counts_unseen_labels_as_misses(archives, env, tmp_path):
    record = json.loads((REPO_ROOT / "fixtures/data/test.json").read_text().splitlines()[0])
    record["ner"][0][0][2] = "NeverSeenEntity"
    record["relations"][0][0][4] = "NEVER-SEEN-RELATION"
    data = write(tmp_path / "unseen.json", [record])
    for module in ("ner", "re"):
        out = tmp_path / f"{module}_metrics.json"
        result = allennlp("evaluate", archives[module], str(data), "--output-file", str(out),
                          "--include-package", "ere_allennlp", env=env, check=False)
        assert result.returncode == 0, result.stderr[-3000:]
        metrics = json.loads(out.read_text())
        scores = [v for k, v in metrics.items() if k.endswith("_f1")]
        assert scores and all(0.0 <= v <= 1.0 for v in scores)
    # The gold relation of sentence 0 can never be predicted with its unseen label: Rel-C recall < 1.
    assert json.loads((tmp_path / "re_metrics.json").read_text())["rel_c_r"] < 1.0


def test_unseen_labels_index_to_ignored_and_the_loss_stays_finite(archives, tmp_path):
    archive = load_archive(archives["re"])
    reader: EreJsonReader = archive.dataset_reader  # type: ignore
    record = dict(DOC, ner=[[[3, 4, "NeverSeen"], [0, 0, "Method"]], []], relations=[[[3, 4, 0, 0, "NEW-REL"]], []])
    instances = list(reader.read(str(write(tmp_path / "x.json", [record]))))
    batch = Batch(instances)
    batch.index_instances(archive.model.vocab)
    tensors = batch.as_tensor_dict()
    assert (tensors["relation_labels"] == -1).any()
    with torch.no_grad():
        output = archive.model(**tensors)
    assert torch.isfinite(output["loss"])
    metrics = archive.model.get_metrics(reset=True)
    assert metrics["rel_c_r"] == 0.0  # the only gold relation has an unseen label: a miss


def test_unseen_labels_at_prediction_are_ignored(predictor):
    result = predictor.predict_json(dict(DOC, ner=[[[0, 0, "NeverSeen"]], []], relations=[[], []]))
    assert result["doc_key"] == "d" and len(result["predicted_ner"]) == 2


# ---------------------------------------------------------------- inputs that must not crash
def test_empty_documents_and_sentences_predict(predictor):
    results = predictor.predict_batch_json(
        [{"doc_key": "e", "sentences": []}, {"doc_key": "f", "sentences": [[], ["a", "b"], []]}, {"text": ""}]
    )
    assert results[0] == {"doc_key": "e", "sentences": [], "predicted_ner": [], "predicted_relations": []}
    assert results[1]["predicted_ner"][0] == [] and len(results[1]["predicted_ner"]) == 3
    assert results[2]["sentences"] == []


def test_sentence_longer_than_512_word_pieces_predicts(predictor):
    words = ["translation", "model"] * 300  # 602 word pieces with [CLS] and [SEP]
    result = predictor.predict_json({"doc_key": "long", "sentences": [words]})
    assert result["sentences"] == [words]
    assert all(0 <= e[0] <= e[1] < 600 for e in result["predicted_ner"][0])


def test_control_and_non_ascii_characters_predict(predictor):
    # Tokens with no word piece at all (control characters, zero-width and no-break spaces, ""):
    # the embedder gives them a zero vector; nothing crashes and the tokens come back unchanged.
    words = ["a", "\u0007", "\u200b", "\u00a0", "\ufeff", "\x00", "", "Zürich", "北京", "b"]
    result = predictor.predict_json({"doc_key": "ctrl\u0001", "sentences": [words]})
    assert result["sentences"] == [words]
    line = predictor.dump_line(result)
    assert json.loads(line)["sentences"] == [words] and line.count("\n") == 1


def test_bad_documents_in_process(predictor):
    bad = {"doc_key": "bad", "sentences": [["a", 1]]}
    with pytest.raises(EreDataError, match=r"input document 1: field 'sentences'"):
        predictor.predict_batch_json([DOC, bad])
    with pytest.raises(EreDataError, match=r"input document 0: field '<record>'"):
        predictor.predict_batch_json([[1, 2]])  # type: ignore
    assert "_ere_where" not in predictor.load_line(json.dumps(DOC))  # not from `allennlp predict`
    predictor.input_location = "in.jsonl:7"  # what `allennlp predict` sets before each line
    try:
        with pytest.raises(EreDataError, match=r"^in.jsonl:7: malformed JSON"):
            predictor.load_line('{"sentences": ')
        unnamed = predictor.predict_json(predictor.load_line('{"sentences": [["a"]]}'))
        assert unnamed["doc_key"] == "in.jsonl:7"
        predictor.skip_bad_documents = True
        marker = predictor.load_line("[1]")
        results = predictor.predict_batch_json([DOC, bad, {"text": 3}, marker])
    finally:
        predictor.skip_bad_documents = False
        predictor.input_location = None
    error = "in.jsonl:7: field '<record>': expected a JSON object, got list"
    assert results[3] == {"doc_key": "in.jsonl:7", "error": error}
    assert results[0]["doc_key"] == "d" and "error" not in results[0]
    assert results[1]["doc_key"] == "bad" and "field 'sentences'" in results[1]["error"]
    assert "field 'text'" in results[2]["error"]


# ---------------------------------------------------------------- the CLI
def test_evaluate_bad_file_names_file_line_and_field(archives, env, tmp_path):
    data = write(tmp_path / "bad.json", [DOC, dict(DOC, ner=[[[4, 2, "Method"]], []])])
    result = allennlp("evaluate", archives["ner"], str(data), "--include-package", "ere_allennlp", env=env, check=False)
    assert result.returncode != 0
    assert f"{data}:2: field 'ner[0][0]': end 2 is before start 4" in result.stderr


@pytest.mark.parametrize(
    "bad_line, message, existing",
    [
        ('{"doc_key": "x", "sentences": [["a"]', ":3: malformed JSON", False),
        (json.dumps({"doc_key": "x", "text_": "no sentences"}), ":3: field 'sentences': missing", True),
    ],
    ids=["malformed_json", "missing_sentences"],
)
def test_predict_failing_midway_leaves_no_output(archives, env, tmp_path, bad_line, message, existing):
    data = write(tmp_path / "in.jsonl", [DOC, "", bad_line, DOC])
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    if existing:
        (out_dir / "pred.jsonl").write_text("old\n")
    result = allennlp("predict", archives["ner"], str(data), "--output-file", str(out_dir / "pred.jsonl"),
                      "--silent", "--batch-size", "1", "--include-package", "ere_allennlp", env=env, check=False)
    assert result.returncode != 0
    assert f"{data}{message}" in result.stderr
    # The first document's line was written to the temporary file, then discarded.
    if existing:
        assert leftovers(out_dir) == ["pred.jsonl"] and (out_dir / "pred.jsonl").read_text() == "old\n"
    else:
        assert leftovers(out_dir) == []


def test_predict_skips_bad_documents_when_asked(archives, env, tmp_path):
    lines = [DOC, '{"doc_key": "broken", ', {"doc_key": "nosent"}, "[1, 2]", {"text": "A model. It works."}]
    data = write(tmp_path / "in.jsonl", lines)
    out = tmp_path / "out" / "pred.jsonl"
    out.parent.mkdir()
    out.write_text("old\n")
    result = allennlp("predict", archives["ner"], str(data), "--output-file", str(out), "--silent",
                      "--batch-size", "2", "--predictor-args", '{"skip_bad_documents": true}',
                      "--include-package", "ere_allennlp", env=env, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 5
    assert records[0]["doc_key"] == "d" and "predicted_ner" in records[0]
    assert records[4]["sentences"] == [["A", "model", "."], ["It", "works", "."]]
    assert records[1]["doc_key"] == f"{data}:2" and f"{data}:2: malformed JSON" in records[1]["error"]
    assert records[2]["doc_key"] == "nosent" and f"{data}:3: field 'sentences': missing" in records[2]["error"]
    assert f"{data}:4: field '<record>'" in records[3]["error"]
    assert "skipped a bad document (3 so far)" in result.stderr
    assert leftovers(out.parent) == ["pred.jsonl"]


def test_missing_encoder_path(env, tmp_path):
    missing = tmp_path / "no_such_encoder"
    result = allennlp("ere-train", "training_configs/scierc_ner.jsonnet", "-s", str(tmp_path / "run"),
                      "--include-package", "ere_allennlp", env=dict(env, ERE_ENCODER=str(missing)), check=False)
    assert result.returncode != 0
    assert f"field 'model_name': cannot load the encoder's tokenizer '{missing}'" in result.stderr


def test_missing_archives(env, tmp_path):
    runs = tmp_path / "empty_runs"
    runs.mkdir()
    result = allennlp("ere-approach", "training_configs/approaches/scierc_a4.jsonnet", "-s", str(tmp_path / "a4"),
                      env=dict(env, ERE_RUNS=str(runs)), check=False)
    assert result.returncode != 0
    assert f"stage archive not found: {runs}/scierc_ner/model.tar.gz" in result.stderr
    assert not (tmp_path / "a4").exists()
    missing = tmp_path / "missing.tar.gz"
    result = allennlp("evaluate", str(missing), "fixtures/data/test.json", "--include-package", "ere_allennlp",
                      env=env, check=False)
    assert result.returncode != 0
    assert str(missing) in result.stderr


# ---------------------------------------------------------------- what a newcomer meets first
def test_fresh_clone_errors_are_one_clear_line(env, tmp_path):
    """The shipped NerRe config as it is, from a folder without data and offline: the encoder
    (SciBERT, a hub name) cannot be fetched; with a local encoder, the data is missing. Each ends
    `ere-train` in one line saying what is missing, where it was looked for and how to point to it."""
    clean = {k: v for k, v in env.items() if not k.startswith("ERE_")}
    clean["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
    (tmp_path / ".allennlp_plugins").write_text("ere_allennlp\n")  # finds the ere-* subcommands here
    offline = allennlp("ere-train", "training_configs/scierc_nerre.jsonnet", "-s", str(tmp_path / "a"),
                       "--include-package", "ere_allennlp", env=clean, check=False, cwd=tmp_path)
    assert offline.returncode == 1 and "Traceback" not in offline.stderr
    line = offline.stderr.strip().splitlines()[-1]
    assert "cannot load the encoder's tokenizer 'allenai/scibert_scivocab_uncased': it is no local folder" in line
    assert "ERE_ENCODER=<folder>" in line and "make demo" in line
    no_data = allennlp("ere-train", "scierc_ner", "-s", str(tmp_path / "b"), "--setting",
                       f"encoder={REPO_ROOT / 'fixtures/tiny_bert'}", "--include-package", "ere_allennlp",
                       env=clean, check=False, cwd=tmp_path)
    assert no_data.returncode == 1 and "Traceback" not in no_data.stderr
    line = no_data.stderr.strip().splitlines()[-1]
    assert f"data file not found: data/scierc/train.json (relative paths are read from {tmp_path})" in line
    assert "ERE_DATA_DIR=<folder>" in line and "fixtures/data" in line
    assert not (tmp_path / "b" / "model.tar.gz").exists()
