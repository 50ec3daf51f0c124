// Approach ei_nerre on ace05: stages listed in training_configs/lib/approach.libsonnet.
local approach = import "../lib/approach.libsonnet";
approach.named("ace05", "ei_nerre")
