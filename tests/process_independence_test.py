"""Nothing the package computes depends on the process: the same inputs and seed give the same
vocabulary, instances, model outputs, analysis files, p-values and study plan in two Python
processes whose string hashing differs (``PYTHONHASHSEED`` 0 and 12345, so every ``set`` or
``frozenset`` of strings, or of tuples holding strings, iterates in another order).

`probe` is what each process computes; the test runs it in two fresh interpreters and compares
their outputs key by key. The canary (the iteration order of a set of strings, and a string's hash)
must differ between the two, or the comparison would prove nothing (docs/reference.md, "What the
same seed promises")."""
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

from tests.conftest import FIXTURES, REPO_ROOT

HASH_SEEDS = ("0", "12345")
GOLD = FIXTURES / "data" / "test.json"


def _listed(value: Any) -> Any:
    """Tensors -> nested lists, tuples -> lists, recursively (JSON-comparable, order kept)."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): _listed(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_listed(v) for v in value]
    return value


def _instance_contents(instance: Any) -> Dict[str, Any]:
    """An instance's fields as the model sees them: metadata, candidate spans and labels, in order."""
    fields = instance.fields
    meta = fields["metadata"].metadata
    content: Dict[str, Any] = {key: _listed(meta[key]) for key in ("doc_key", "sentence_index", "words", "gold_entities",
                                                                   "gold_relations", "candidate_spans")}
    content["spans"] = _listed(fields["spans"].spans)
    if "span_labels" in fields:
        content["span_labels"] = list(fields["span_labels"].labels)
    if "relation_labels" in fields:
        content["relation_pairs"] = _listed(fields["relation_labels"].indices)
        content["relation_labels"] = list(fields["relation_labels"].labels)
    return content


def write_predictions(folder: Path) -> List[str]:
    """Two prediction files of the fixture test split: the gold itself, and the gold with the last
    entity of every sentence dropped and the first relation of every sentence relabelled."""
    records = [json.loads(line) for line in GOLD.read_text(encoding="utf-8").splitlines() if line.strip()]
    perfect, edited = [], []
    for r in records:
        perfect.append({"doc_key": r["doc_key"], "sentences": r["sentences"], "predicted_ner": r["ner"],
                        "predicted_relations": r["relations"]})
        ner = [[list(e) for e in s][:-1] if len(s) > 1 else [list(e) for e in s] for s in r["ner"]]
        rels = [[list(x) for x in s] for s in r["relations"]]
        for s in rels:
            if s:
                s[0][4] = "COMPARE"
        edited.append({"doc_key": r["doc_key"], "sentences": r["sentences"], "predicted_ner": ner,
                       "predicted_relations": rels})
    paths = []
    for name, items in (("perfect", perfect), ("edited", edited)):
        path = folder / f"{name}.jsonl"
        path.write_text("".join(json.dumps(x) + "\n" for x in items), encoding="utf-8")
        paths.append(str(path))
    return paths


def probe(inputs: str, output_dir: str) -> Dict[str, Any]:
    """Everything compared between the processes. `inputs`: the folder of `write_predictions`
    (shared, so that the paths the analysis records are the same); `output_dir`: this process's own."""
    import torch
    from allennlp.data import DatasetReader

    from ere_allennlp import configs
    from ere_allennlp.analysis.report import analyze
    from ere_allennlp.study.runner import Study, StudySettings
    from ere_allennlp.study.significance import compare
    from tests.models.fixture_models import SETTINGS, build, tensors

    torch.set_num_threads(1)
    result: Dict[str, Any] = {
        "canary": {"set_order": list({"Method", "Task", "Generic", "Metric", "Material", "OtherScientificTerm"}),
                   "hash": hash("ere_allennlp")},
    }
    # Reading and the vocabulary: NerRe's reader (all spans, all pairs) on the train split.
    model, instances = build("nerre")
    vocab = model.vocab
    result["vocabulary"] = {ns: [vocab.get_token_from_index(i, ns) for i in range(vocab.get_vocab_size(ns))]
                            for ns in sorted(vocab.get_namespaces())}
    result["instances"] = [_instance_contents(instance) for instance in instances]
    batch = tensors(instances)
    result["tensors"] = {key: _listed(value) for key, value in batch.items() if key != "metadata"}
    # Rc's reader: gold spans and only the related pairs.
    params = configs.params_from_file(configs.module_config("scierc", "rc"), SETTINGS)
    reader = DatasetReader.from_params(params.pop("dataset_reader"))
    result["rc_instances"] = [_instance_contents(i) for i in reader.read(str(FIXTURES / "data" / "train.json"))]
    # A forward pass of the (untrained, seeded) model: loss, decoded output, metrics.
    model.eval()
    with torch.no_grad():
        output = model(**batch)
    result["forward"] = {key: _listed(output[key]) for key in ("loss", "predicted_ner", "predicted_relations", "doc_key",
                                                                "sentence_index")}
    result["metrics"] = model.get_metrics(reset=True)
    # The error analysis: its JSON result and the bytes of every file it writes.
    perfect, edited = os.path.join(inputs, "perfect.jsonl"), os.path.join(inputs, "edited.jsonl")
    analysis_dir = Path(output_dir) / "analysis"
    result["analysis"] = analyze([perfect, edited], str(GOLD), str(analysis_dir), names=["perfect", "edited"],
                                 plots=False, html=True)
    result["analysis_files"] = {path.name: hashlib.sha256(path.read_bytes()).hexdigest()
                                for path in sorted(analysis_dir.iterdir())}
    # The permutation test and the study's plan (the order of its steps).
    result["compare"] = compare(perfect, edited, str(GOLD), trials=500, seed=3)
    study = Study(StudySettings(output_dir=str(Path(output_dir) / "study"), data_dir=str(FIXTURES / "data"), seeds=[2, 1]))
    result["study_steps"] = [[s.kind, s.seed, s.name, [list(n) for n in s.needs]] for s in study.steps()]
    return result


_CHILD = (
    "import json, sys\n"
    "from tests.process_independence_test import probe\n"
    "with open(sys.argv[3], 'w', encoding='utf-8') as handle:\n"
    "    json.dump(probe(sys.argv[1], sys.argv[2]), handle)\n"
)


def test_outputs_do_not_depend_on_the_process(tmp_path: Path) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    write_predictions(inputs)
    children = []
    for seed in HASH_SEEDS:
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(REPO_ROOT), HF_HUB_OFFLINE="1",
                   TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1")
        out = tmp_path / f"hash_seed_{seed}"
        out.mkdir()
        command = [sys.executable, "-c", _CHILD, str(inputs), str(out), str(out / "probe.json")]
        children.append((out, subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                                               stderr=subprocess.PIPE, text=True)))
    results = []
    for out, child in children:
        _, stderr = child.communicate(timeout=300)
        assert child.returncode == 0, stderr[-3000:]
        results.append(json.loads((out / "probe.json").read_text(encoding="utf-8")))
    first, second = results
    # The two processes do hash strings differently: a leak of set order would show below.
    assert first.pop("canary") != second.pop("canary")
    assert first.keys() == second.keys()
    # Not trivially equal: the model predicts entities and relations, the analysis finds losses.
    assert any(first["forward"]["predicted_ner"]) and any(first["forward"]["predicted_relations"])
    assert first["analysis"]["edited"]["lost_relations"] > 0
    for key in first:
        assert first[key] == second[key], f"{key} differs between PYTHONHASHSEED={HASH_SEEDS[0]} and {HASH_SEEDS[1]}"
