"""The atomic --output-file of `allennlp predict` acts for the ``ere`` predictor only, and is
installed when one is built, not at import."""
import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

# In a fresh process: import the package (nothing patched), then run AllenNLP's _PredictManager
# with another plugin's predictor whose second prediction fails, after an ere predictor was built.
SCRIPT = r'''
import json, sys
from allennlp.commands import predict
original = (predict._PredictManager.__init__, predict._PredictManager.run, predict._PredictManager._get_json_data)
import ere_allennlp
from ere_allennlp.predictors import atomic_output
patched_at_import = (predict._PredictManager.__init__, predict._PredictManager.run, predict._PredictManager._get_json_data) != original
atomic_output.install()  # what building an ErePredictor does
patched_after = (predict._PredictManager.__init__, predict._PredictManager.run) != original[:2]

class Other:  # a predictor of another plugin: AllenNLP's behaviour, a file written as it goes
    def load_line(self, line): return json.loads(line)
    def predict_json(self, inputs):
        if inputs["n"] == 2: raise RuntimeError("boom")
        return inputs
    def dump_line(self, output): return json.dumps(output) + "\n"

source, target = sys.argv[1], sys.argv[2]
manager = predict._PredictManager(Other(), source, target, batch_size=1, print_to_console=False, has_dataset_reader=False)
try:
    manager.run()
except RuntimeError:
    pass
print(json.dumps({"patched_at_import": patched_at_import, "patched_after": patched_after}))
'''


def test_other_predictors_keep_allennlps_output_behaviour(tmp_path: Path) -> None:
    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text('{"n": 1}\n{"n": 2}\n')
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(source), str(target)], capture_output=True, text=True, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    flags = json.loads(result.stdout.strip().splitlines()[-1])
    assert flags == {"patched_at_import": False, "patched_after": True}
    # AllenNLP's own behaviour for a foreign predictor: the line written before the failure stays,
    # in the target itself (no temporary file, no rename).
    assert target.read_text() == '{"n": 1}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]
