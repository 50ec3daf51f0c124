"""Defaults of the environment variables that the configs in ``training_configs/`` read.

AllenNLP hands every environment variable to jsonnet as an external variable, and jsonnet has no
optional external variables, so importing ``ere_allennlp`` (``--include-package ere_allennlp``)
fills in the unset ones here. An empty value means "the paper's setting for the dataset"
(Table 7).
"""
import os
from typing import Dict

DEFAULTS: Dict[str, str] = {
    "ERE_ENCODER": "",  # hub name or local folder; "" = scibert (SciERC) / bert-base-uncased (ACE05)
    "ERE_DATA_DIR": "",  # folder with train.json, dev.json (test.json); "" = data/<dataset>
    "ERE_EPOCHS": "",  # "" = Table 7 (100/200/300 by module and dataset)
    "ERE_LR": "",  # "" = 1e-5 (SciERC) / 2e-5 (ACE05)
    "ERE_HEAD_LR": "",  # "" = ERE_LR for all parameters (the paper); else the lr of all but the encoder
    "ERE_BATCH_SIZE": "20",
    "ERE_MAX_LENGTH": "512",  # word pieces per encoder window; longer sentences are folded
    "ERE_PRUNER": "",  # archive of a trained span_pruner for NerRi/NerRe; "" = train one in the same run
    "ERE_RUNS": "runs",  # where module archives live: $ERE_RUNS/<dataset>_<module>/model.tar.gz
    "ERE_CUDA_DEVICE": "-1",
    "ERE_SEED": "13370",
    # JSON list of devices for distributed training, one worker process each (torch.distributed):
    # "[-1,-1]" = two CPU workers (gloo), "[0,1]" = two GPUs; "" = one process on ERE_CUDA_DEVICE
    "ERE_DISTRIBUTED": "",
    # A named set of settings that are not the paper's (training_configs/lib/ere.libsonnet,
    # `recipes`): "cpu" for short CPU trainings; "" = the paper's settings
    "ERE_RECIPE": "",
}


def apply_defaults() -> None:
    for name, value in DEFAULTS.items():
        os.environ.setdefault(name, value)


apply_defaults()
