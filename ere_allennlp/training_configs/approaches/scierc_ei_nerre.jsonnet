// Approach ei_nerre on scierc: stages listed in training_configs/lib/approach.libsonnet.
local approach = import "../lib/approach.libsonnet";
approach.named("scierc", "ei_nerre")
