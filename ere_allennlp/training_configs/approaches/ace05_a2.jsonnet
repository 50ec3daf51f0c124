// Approach a2 on ace05: stages listed in training_configs/lib/approach.libsonnet.
local approach = import "../lib/approach.libsonnet";
approach.named("ace05", "a2")
