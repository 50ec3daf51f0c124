// Shared pieces of every ere_allennlp training config (the paper's Table 7).
// Each training_configs/<dataset>_<module>.jsonnet is one call: ere.module("scierc", "ner").
// Environment variables override the defaults without editing files (see README):
//   ERE_ENCODER, ERE_DATA_DIR, ERE_EPOCHS, ERE_LR, ERE_BATCH_SIZE, ERE_MAX_LENGTH, ERE_PRUNER,
//   ERE_HEAD_LR, ERE_CUDA_DEVICE, ERE_SEED, ERE_DISTRIBUTED, ERE_RECIPE. An empty value keeps the paper's setting.
local env(name, default) = if std.extVar(name) == "" then default else std.extVar(name);

// Recipes: named sets of settings that are NOT the paper's, for budgets far below Table 7's
// (ERE_RECIPE=<name>; "" = the paper). Each key is documented where it is defined (SpanModel, the
// trainer); docs/joint_learning.md has the measurements behind them. Explicit ERE_LR /
// ERE_HEAD_LR / ERE_EPOCHS still win over a recipe's values.
local recipes = {
  "": {},
  // Short CPU trainings (a few epochs of MiniLM on SciERC, the demo): see docs/joint_learning.md.
  cpu: {
    lr: "1e-4",  // encoder (the paper: 1e-5 over 200-300 epochs)
    head_lr: "2e-3",  // everything but the encoder
    warmup: 0.1,  // share of the steps with a rising lr (the paper: 0.5)
    model: {},  // SpanModel options of every module
    joint_model: {},  // further options of the cross-task (mean-field) modules
    // Further options of the modules on the pruner's spans (NerRi, NerRe, NerRe*): ~K^2 = 120
    // ordered pairs per sentence of which 1.2 % are related. With the paper's loss NerRe predicted
    // 0.3 % of its pairs related after 3 epochs; with null pairs weighted 0.3, dev Rel+-C after 3
    // epochs rose from 12.0 to 18.3 (0.1: 12.6, over-predicting).
    pruned_model: { null_relation_weight: 0.3 },
  },
};
local recipe_name = std.extVar("ERE_RECIPE");
local recipe =
  if std.objectHas(recipes, recipe_name) then recipes[recipe_name]
  else error "ERE_RECIPE=" + recipe_name + " is not a recipe; choose one of " + std.join(", ", [k for k in std.objectFields(recipes) if k != ""]) + " (or leave it empty for the paper's settings)";
local recipe_value(name, default) = if std.objectHas(recipe, name) then recipe[name] else default;

local datasets = {
  scierc: {
    encoder: "allenai/scibert_scivocab_uncased",
    max_span_width: 12,
    lr: 1e-5,
    epochs: { single: 200, cross: 200, nerre: 300 },
  },
  ace05: {
    encoder: "bert-base-uncased",
    max_span_width: 8,
    lr: 2e-5,
    epochs: { single: 100, cross: 100, nerre: 200 },
  },
};

// What each module reads and predicts (Section 2.4): candidate spans, relation pairs, labels.
local modules = {
  ei: { type: "ei", candidates: "all", pairs: "none", entity_labels: true, epochs: "single", metric: "+ent_i_f1" },
  ec: { type: "ec", candidates: "gold", pairs: "none", entity_labels: true, epochs: "single", metric: "+ent_c_f1" },
  ner: { type: "ner", candidates: "all", pairs: "none", entity_labels: true, epochs: "single", metric: "+ent_c_f1" },
  ri: { type: "ri", candidates: "gold", pairs: "all", entity_labels: false, epochs: "single", metric: "+rel_i_f1" },
  rc: { type: "rc", candidates: "gold", pairs: "related", entity_labels: false, epochs: "single", metric: "+rel_c_f1" },
  re: { type: "re", candidates: "gold", pairs: "all", entity_labels: false, epochs: "single", metric: "+rel_c_f1" },
  ecri: { type: "ec_ri", candidates: "gold", pairs: "all", entity_labels: true, epochs: "cross", metric: "+strict_rel_i_f1", joint: true },
  ecre: { type: "ec_re", candidates: "gold", pairs: "all", entity_labels: true, epochs: "cross", metric: "+strict_rel_c_f1", joint: true },
  // NerRi/NerRe read all spans up to L; their pruner keeps O(n) of them. Relation labels are
  // listed only for related pairs (every other kept pair holds no relation).
  nerri: { type: "ner_ri", candidates: "all", pairs: "related", entity_labels: true, epochs: "nerre", metric: "+strict_rel_i_f1", joint: true, pruned: true },
  nerre: { type: "ner_re", candidates: "all", pairs: "related", entity_labels: true, epochs: "nerre", metric: "+strict_rel_c_f1", joint: true, pruned: true },
  // NerRe*: NerRe without high-order inference (shared encoder, first-order).
  nerre_star: self.nerre + { joint: false },
  pruner: { type: "span_pruner", candidates: "all", pairs: "none", entity_labels: true, epochs: "single", metric: "+pruner_r" },
};

{
  datasets: datasets,
  modules: modules,
  recipes: recipes,

  encoder(dataset):: env("ERE_ENCODER", datasets[dataset].encoder),
  max_length:: std.parseInt(std.extVar("ERE_MAX_LENGTH")),
  data_dir(dataset):: env("ERE_DATA_DIR", "data/" + dataset),

  embedder(dataset):: {
    token_embedders: {
      tokens: {
        type: "pretrained_transformer_mismatched",
        model_name: $.encoder(dataset),
        max_length: $.max_length,
        sub_token_mode: "first",  // the paper: first sub-token of each word
      },
    },
  },

  reader(dataset, spec):: {
    type: "ere_json",
    model_name: $.encoder(dataset),
    max_length: $.max_length,
    max_span_width: datasets[dataset].max_span_width,
    candidates: spec.candidates,
    relation_pairs: spec.pairs,
    entity_labels: spec.entity_labels,
    skip_sentences_without_candidates: spec.candidates == "gold",
  },

  pruner_model(dataset):: {
    type: "span_pruner",
    embedder: $.embedder(dataset),
    biaffine_dim: 768,  // d_biaf
    // Tokens are projected to 128 dims before the bi-affine product (the paper does not say;
    // unprojected, W_b alone has (768+1)^2 * 768 = 454 M parameters with a BERT-base encoder).
    biaffine_projection_dim: 128,
    hidden_dim: 768,  // d_cat
    dropout: 0.1,
    ratio: 0.5,  // alpha
    min_spans: 3,  // ml
    max_spans: 18,  // mu
  },

  model(dataset, spec)::
    if spec.type == "span_pruner" then $.pruner_model(dataset)
    else {
      type: spec.type,
      embedder: $.embedder(dataset),
      max_span_width: datasets[dataset].max_span_width,
      span_hidden_dim: 200,  // MLP_span
      relation_hidden_dim: 400,  // MLP_rel
      dropout: 0.1,
    } + (if std.objectHas(spec, "joint") && spec.joint then {
      inference: { type: "mean_field", iterations: 3 },
      ternary_dim: 200,  // d_t
    } + recipe_value("joint_model", {}) else {}) + recipe_value("model", {})
    + (if std.objectHas(spec, "pruned") && spec.pruned then recipe_value("pruned_model", {}) else {})
    + (if std.objectHas(spec, "pruned") && spec.pruned then (
      if std.extVar("ERE_PRUNER") == "" then {
        // No trained pruner given: train one in the same run (own encoder and loss).
        pruner: $.pruner_model(dataset),
        train_pruner: true,
      } else {
        pruner: { type: "from_archive", archive_file: std.extVar("ERE_PRUNER") },
        train_pruner: false,
      }
    ) else {}),

  module(dataset, name):: {
    local spec = modules[name],
    local seed = std.parseInt(std.extVar("ERE_SEED")),
    local batch_size = std.parseInt(std.extVar("ERE_BATCH_SIZE")),
    random_seed: seed,
    numpy_seed: seed,
    pytorch_seed: seed,
    dataset_reader: $.reader(dataset, spec),
    train_data_path: $.data_dir(dataset) + "/train.json",
    validation_data_path: $.data_dir(dataset) + "/dev.json",
    model: $.model(dataset, spec),
    data_loader: { batch_size: batch_size, shuffle: true },
    validation_data_loader: { batch_size: batch_size, shuffle: false },
    trainer: {
      num_epochs: std.parseInt(env("ERE_EPOCHS", std.toString(datasets[dataset].epochs[spec.epochs]))),
      // With ERE_DISTRIBUTED the devices come from `distributed` (AllenNLP rejects both).
      [if std.extVar("ERE_DISTRIBUTED") == "" then "cuda_device"]: std.parseInt(std.extVar("ERE_CUDA_DEVICE")),
      validation_metric: spec.metric,
      grad_norm: 5.0,  // gradient clipping 5
      optimizer: {
        type: "adamw",
        lr: std.parseJson(env("ERE_LR", recipe_value("lr", std.toString(datasets[dataset].lr)))),
        weight_decay: 1e-5,  // "lr decay 1e-05"
      } + (if env("ERE_HEAD_LR", recipe_value("head_lr", "")) == "" then {} else {
        // Optional: a larger learning rate for everything but the encoder (short runs, CPU).
        parameter_groups: [[["^(?!.*_embedder\\.)"], { lr: std.parseJson(env("ERE_HEAD_LR", recipe_value("head_lr", ""))) }]],
      }),
      // warm-up rate 0.5: linear warm-up over the first half of all steps, then linear decay
      learning_rate_scheduler: { type: "slanted_triangular", cut_frac: recipe_value("warmup", 0.5) },
      checkpointer: { keep_most_recent_by_count: 1 },
      // Saves the RNG states each epoch so that `allennlp train --recover` continues exactly;
      // portable_archive: the frozen pruner's config inline, ere_manifest.json (README).
      callbacks: [{ type: "rng_state" }, { type: "portable_archive" }],
    },
    include_in_archive: ["ere_manifest.json"],
  } + (if std.extVar("ERE_DISTRIBUTED") == "" then {} else {
    // One worker process per listed device (torch.distributed): "[-1,-1]" = two CPU workers (gloo).
    distributed: {
      cuda_devices: std.parseJson(std.extVar("ERE_DISTRIBUTED")),
      // Some weights get no gradient (the encoder's unused pooler, heads a module skips).
      ddp_accelerator: { type: "torch", find_unused_parameters: true },
    },
  }),
}
