// ner on conll04 with the paper's model and SpERT's encoder, span width, lr and epochs (no Table 7 column for CoNLL04: training_configs/lib/ere.libsonnet; README for overrides).
local ere = import "lib/ere.libsonnet";
ere.module("conll04", "ner")
