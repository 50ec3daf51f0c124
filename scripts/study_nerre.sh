#!/usr/bin/env bash
# Issue #22: approach a8's module (NerRe) in the study's setting, without the rest of the study: per
# seed, the study's pruner (`ERE_SEED=<seed>`, 3 epochs, the `cpu` recipe, batch 8; what `ere-study
# --epochs 3 --batch-size 8 --recipe cpu` trains for that seed) and then NerRe on it, on SciERC
# train, validated on dev, with the MiniLM encoder. One training at a time; resumable (a finished run,
# its model.tar.gz, is kept).
#   bash scripts/study_nerre.sh ROOT [SEED ...]                  (default seeds 1 2 3)
#   MFS=3 bash scripts/study_nerre.sh ROOT 1 2 3                 (NerRe with mean_field_start_epoch 3
#                                                                 instead of the recipe's; written to
#                                                                 ROOT/s<seed>/scierc_nerre_mfs3)
# Writes ROOT/s<seed>/scierc_pruner and ROOT/s<seed>/scierc_nerre[_mfs<N>], then prints
# benchmarks/run_figures.py's table of the NerRe runs (best epoch, by the trainer's Rel+-C).
set -u
cd "$(dirname "$0")/.."
ROOT=$(realpath -m "${1:?usage: scripts/study_nerre.sh ROOT [SEED ...]}"); shift
SEEDS=${*:-1 2 3}
. scripts/training_env.sh
export ERE_EPOCHS=3
NAME=scierc_nerre${MFS:+_mfs$MFS}
OVERRIDES=${MFS:+"{\"model.mean_field_start_epoch\": $MFS}"}
train() {  # out config seed [overrides]
  [ -f "$1/model.tar.gz" ] && return 0
  rm -rf "$1"; mkdir -p "$(dirname "$1")"
  echo "[study_nerre] $(date +%T) training $1"
  ERE_SEED=$3 allennlp ere-train "training_configs/$2.jsonnet" -s "$1" --file-friendly-logging \
    ${4:+-o "$4"} > "$1.log" 2>&1 || { tail -20 "$1.log"; exit 1; }
}
runs=()
for seed in $SEEDS; do
  train "$ROOT/s$seed/scierc_pruner" scierc_pruner "$seed"
  ERE_PRUNER=$ROOT/s$seed/scierc_pruner/model.tar.gz train "$ROOT/s$seed/$NAME" scierc_nerre "$seed" "$OVERRIDES"
  runs+=("$ROOT/s$seed/$NAME")
done
$PY benchmarks/run_figures.py --row "NerRe ($NAME), seeds $SEEDS" "${runs[@]}"
