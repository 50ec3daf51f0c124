// Approach a6 on conll04: stages listed in training_configs/lib/approach.libsonnet.
local approach = import "../lib/approach.libsonnet";
approach.named("conll04", "a6")
