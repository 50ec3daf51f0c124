// An approach: trained module archives chained by cascade decoding (model type ere_approach).
// Stage archives are read from <runs>/<dataset>_<module>/model.tar.gz (setting `runs`, default
// "runs", i.e. `allennlp train training_configs/scierc_ner.jsonnet -s runs/scierc_ner`). The
// settings (lib/settings.libsonnet) sit in the hidden field `settings`, as in lib/ere.libsonnet.
local ere = import "ere.libsonnet";

{
  approach(dataset, stages, gold_entities=false):: {
    local config = self,
    settings:: {},
    local s = ere.resolve(config.settings),
    dataset_reader: ere.reader(dataset, { candidates: "all", pairs: "none", entity_labels: false }, s),
    validation_data_path: ere.data_dir(dataset, s) + "/dev.json",
    model: {
      type: "ere_approach",
      stages: [s.runs + "/" + dataset + "_" + stage + "/model.tar.gz" for stage in stages],
      gold_entities: gold_entities,
      // Where `allennlp ere-approach` loads the stages; an approach archive names no device (loading
      // it puts the stages where `--cuda-device` / `cuda_device=` says).
      cuda_device: ere.parsed(s.cuda_device),
    },
    data_loader: { batch_size: ere.parsed(s.batch_size), shuffle: false },
  },

  // The paper's Table 1 approaches, its analysis variants (Tables 5, 6) and Table 3's gold-entity
  // runs: the one definition (ere_allennlp.configs reads it for the study and the commands).
  stages: {
    a1: ["ei", "ec", "ri", "rc"],
    a2: ["ei", "ec", "re"],
    a3: ["ner", "ri", "rc"],
    a4: ["ner", "re"],
    a5: ["ei", "ecri", "rc"],
    a6: ["ei", "ecre"],
    a7: ["nerri", "rc"],
    a8: ["nerre"],
    ei_nerre: ["ei", "nerre"],
    ei_nerre_star: ["ei", "nerre_star"],
    nerre_star: ["nerre_star"],
    gold_ri_rc: ["ri", "rc"],
    gold_re: ["re"],
  },

  named(dataset, name):: $.approach(dataset, $.stages[name], std.startsWith(name, "gold_")),
}
