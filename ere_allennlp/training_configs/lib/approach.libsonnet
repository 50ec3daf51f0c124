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

  // What each table of the study (ere_allennlp/study/tables.py) shows, in row order: approaches,
  // except Table 4, which compares two modules as entity pruners.
  tables: {
    local known(names, of, what) =
      local unknown = [n for n in names if !std.objectHas(of, n)];
      if unknown == [] then names else error what + " " + std.join(", ", unknown) + " in `tables` are unknown",
    table2: known(["a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8"], $.stages, "approach(es)"),
    table3: known(["gold_ri_rc", "gold_re"], $.stages, "approach(es)"),
    table4: known(["pruner", "ei"], ere.modules, "module(s)"),
    table5: known(["a6", "ei_nerre", "a8"], $.stages, "approach(es)"),
    table6: known(["ei_nerre", "ei_nerre_star", "a8", "nerre_star"], $.stages, "approach(es)"),
  },

  // How the tables name each approach: its stages' module names ("Ei-Ec-Ri-Rc"), after its number
  // for the paper's eight (Table 2's: "a1 Ei-Ec-Ri-Rc").
  display_names: {
    [name]: (if std.member($.tables.table2, name) then name + " " else "")
            + std.join("-", [ere.modules[module].name for module in $.stages[name]])
    for name in std.objectFields($.stages)
  },

  named(dataset, name):: $.approach(dataset, $.stages[name], std.startsWith(name, "gold_")),
}
