#!/usr/bin/env bash
# Issue #22: the entity options of the pruned modules against Ner and a4 on SciERC dev, MiniLM, the
# `cpu` recipe's budget (3 epochs, batch 8), one training at a time. Resumable: a finished run
# (its model.tar.gz) is kept.
#   bash scripts/entity_gap.sh ROOT [SEED ...]      (default seeds 1 2 3; ERE_DATA_DIR, default ../shared/data/scierc)
#   ONLY="nerre:allw nerre_star:base" bash scripts/entity_gap.sh ROOT 1 2 3     (a subset of the runs)
#   ONLY="nerre:base_e5" bash scripts/entity_gap.sh ROOT 1 2 3     (a variant ending in _e<N>: N epochs
#                                                                  instead of 3, e.g. Table 7's 1.5x for NerRe)
# Writes ROOT/pruner_s1 (one 2-epoch pruner shared by every seed, so that the options are compared
# on the same candidates), ROOT/s<seed>_{base,all,allw,tnone}/scierc_<module> (allw: entity_loss_spans all, weighted 0.3;
# tnone: ternary_null_labels none; fo: first_order_loss_weight 1 with the recipe; rw05: relation_loss_weight
# 0.5 with the recipe, a task weight as DyGIE++ has; mfs<N>: mean_field_start_epoch N with the recipe, the first N
# epochs trained without mean field), each NerRe/NerRe* run's
# decoding.json (benchmarks/entity_decoding.py), ROOT/s<seed>_base/a4 (approach a4, evaluated on
# dev), then prints benchmarks/entity_gap.py's table. The figures of docs/joint_learning.md
# ("Issue #22") came from this script.
set -u
cd "$(dirname "$0")/.."
ROOT=$(realpath -m "${1:?usage: scripts/entity_gap.sh ROOT [SEED ...]}"); shift
SEEDS=${*:-1 2 3}
. scripts/training_env.sh
DEV=$ERE_DATA_DIR/dev.json
mkdir -p "$ROOT"
train() {  # out config seed overrides [epochs]
  [ -f "$1/model.tar.gz" ] && return 0
  rm -rf "$1"; mkdir -p "$(dirname "$1")"
  echo "[entity_gap] $(date +%T) training $1"
  # The epochs are given to every module explicitly: the recipe's table7_epoch_ratio would otherwise
  # give NerRe / NerRe* 1.5x ERE_EPOCHS.
  ERE_SEED=$3 ERE_EPOCHS=${5:-3} allennlp ere-train "training_configs/$2.jsonnet" -s "$1" --file-friendly-logging \
    -o "{\"trainer.num_epochs\": ${5:-3}${4:+, $4}}" > "$1.log" 2>&1 || { tail -20 "$1.log"; exit 1; }
}
train "$ROOT/pruner_s1" scierc_pruner 1 "" 2
export ERE_PRUNER=$ROOT/pruner_s1/model.tar.gz
D='"model.diagnostic_metrics": true'
ALL='"model.entity_loss_spans": "all"'
ALLW="$ALL, \"model.entity_loss_all_weight\": 0.3"
TNONE='"model.ternary_null_labels": "none"'  # tnone: only non-null labels in the ternary factors
FO='"model.first_order_loss_weight": 1.0'  # fo: the first-order posteriors' loss beside mean field's
RW05='"model.relation_loss_weight": 0.5'  # rw05: the relation part of the loss at half its weight
MFS='"model.mean_field_start_epoch"'  # mfs<N>: mean field from epoch N (0-based) on, first-order before
# module:variant of every run, in the order they train; ONLY="nerre:base re:base" trains a subset.
RUNS="nerre:all nerre:base ner:base nerre_star:all re:base nerre:allw nerre_star:base nerre:base_e5 nerre:all_e5 nerre_star:base_e5 nerre:tnone_e5 nerre:fo_e5 nerre:rw05_e5 nerre:mfs2_e5"
wanted() { [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $1 "* ]]; }
overrides() {  # module:variant -> the -o of its training (without the epochs)
  case $1 in
    ner:*|re:*) echo "" ;;
    *:base|*:base_e*) echo "$D" ;;
    *:all|*:all_e*) echo "$D, $ALL" ;;
    *:allw|*:allw_e*) echo "$D, $ALLW" ;;
    *:tnone|*:tnone_e*) echo "$D, $TNONE" ;;
    *:fo|*:fo_e*) echo "$D, $FO" ;;
    *:rw05|*:rw05_e*) echo "$D, $RW05" ;;
    *:mfs*) n=${1##*:mfs}; echo "$D, $MFS: ${n%%_e*}" ;;
  esac
}
for seed in $SEEDS; do
  for run in $RUNS; do
    wanted "$run" || continue
    module=${run%%:*} variant=${run##*:} epochs=3
    [[ $variant == *_e* ]] && epochs=${variant##*_e}
    train "$ROOT/s${seed}_${variant}/scierc_${module}" "scierc_${module}" "$seed" "$(overrides "$run")" "$epochs"
  done
done
for seed in $SEEDS; do
  for run in "$ROOT"/s${seed}_*/scierc_nerre "$ROOT"/s${seed}_*/scierc_nerre_star; do
    [ -f "$run/model.tar.gz" ] || continue
    [ -f "$run/decoding.json" ] || $PY benchmarks/entity_decoding.py "$run/model.tar.gz" "$DEV" \
      --offsets 0 0.5 1 2 --json "$run/decoding.json" > "$run/decoding.md" 2>/dev/null
  done
  a4=$ROOT/s${seed}_base/a4
  if [ ! -f "$a4/metrics.json" ] && [ -f "$ROOT/s${seed}_base/scierc_ner/model.tar.gz" ] && [ -f "$ROOT/s${seed}_base/scierc_re/model.tar.gz" ]; then
    ERE_RUNS=$ROOT/s${seed}_base allennlp ere-approach training_configs/approaches/scierc_a4.jsonnet -s "$a4" -f > "$a4.log" 2>&1 \
      && allennlp evaluate "$a4/model.tar.gz" "$DEV" --output-file "$a4/metrics.json" >> "$a4.log" 2>&1 \
      || { tail -20 "$a4.log"; exit 1; }
  fi
done
$PY benchmarks/entity_gap.py "$ROOT" --seeds $SEEDS
