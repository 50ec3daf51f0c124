// pruner on ace05 with the paper's settings (training_configs/lib/ere.libsonnet; README for overrides).
local ere = import "lib/ere.libsonnet";
ere.module("ace05", "pruner")
