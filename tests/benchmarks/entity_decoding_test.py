"""benchmarks/entity_decoding.py: the decoding sweep of issue #22 gives `allennlp evaluate`'s figures
for the module's own setting, and one row per offset and argument rule."""
import importlib.util

import torch
from allennlp.data import DatasetReader
from allennlp.models.archival import load_archive

from tests.conftest import REPO_ROOT
from tests.models.module_runs import single_thread


def load_script():
    spec = importlib.util.spec_from_file_location("entity_decoding", REPO_ROOT / "benchmarks/entity_decoding.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sweep_matches_the_module_and_counts_flips(runs) -> None:
    runs.ensure(["nerre"])
    archive = str(runs.archive("nerre"))
    data = str(REPO_ROOT / "fixtures/data/dev.json")
    with single_thread():
        result = load_script().sweep(archive, data, [0.0, 3.0], batch_size=4)
        loaded = load_archive(archive)
        reader = DatasetReader.from_params(loaded.config.duplicate().pop("dataset_reader"))
        instances = list(reader.read(data))
        model = loaded.model
        model.eval()
        with torch.no_grad():
            for start in range(0, len(instances), 4):
                model.forward_on_instances(instances[start : start + 4])
        expected = model.get_metrics(reset=True)
    rows = {(row["offset"], row["as_entities"], row["joint"]): row for row in result["rows"]}
    assert set(rows) == {(offset, joined, joint) for offset in (0.0, 3.0)
                         for joined, joint in ((False, False), (True, False), (True, True))}
    for key in ("ent_c_f1", "rel_c_f1", "strict_rel_c_f1"):
        assert rows[(0.0, False, False)][key] == expected[key]
    assert rows[(3.0, False, False)]["entities"] >= rows[(0.0, False, False)]["entities"]
    # the joint decision adds a subset of what the plain rule adds
    assert rows[(0.0, True, False)]["entities"] >= rows[(0.0, True, True)]["entities"] >= rows[(0.0, False, False)]["entities"]
    iterations = loaded.model._inference.iterations
    assert set(result["flip_counts"]) == {f"to_{d}_t{t}" for d in ("wrong", "right") for t in range(1, iterations + 1)}
    assert "Ent-C" in load_script().markdown(result)


def test_mean_table_averages_each_setting_over_the_archives() -> None:
    def result(ent: float, rel: float, strict: float, entities: int):
        row = {"offset": 0.0, "as_entities": True, "joint": True, "entities": entities,
               "ent_c_f1": ent, "rel_c_f1": rel, "strict_rel_c_f1": strict}
        return {"rows": [dict(row, joint=False, as_entities=False), row]}

    table = load_script().mean_table([result(0.60, 0.20, 0.10, 800), result(0.62, 0.24, 0.14, 810)])
    lines = table.splitlines()
    assert lines[0] == "Mean ± std over 2 archives:"
    assert lines[-2].startswith("| 0 | no | 805.00 ± 7.07 | 61.00 ± 1.41 | 22.00 ± 2.83 | 12.00 ± 2.83 |")
    assert lines[-1].startswith("| 0 | joint |")
