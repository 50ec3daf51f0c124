// Shared pieces of every ere_allennlp training config (the paper's Table 7).
// Each training_configs/<dataset>_<module>.jsonnet is one call: ere.module("scierc", "ner"). Its
// settings (encoder, data folder, epochs, learning rates, ...: lib/settings.libsonnet, where their
// defaults are) sit in the hidden field `settings`; change them by inheritance,
//     ere.module("scierc", "nerre") + { settings+:: { epochs: 3 } }
// or with `allennlp ere-train` and ERE_<NAME> environment variables (docs/reference.md). A config evaluates
// with no environment variable and no import of ere_allennlp (Params.from_file works anywhere).
local defaults = import "settings.libsonnet";

// Recipes: named sets of settings that are NOT the paper's, for budgets far below Table 7's
// (setting `recipe`; null = the paper). Each key is documented where it is defined (SpanModel, the
// trainer); docs/joint_learning.md has the measurements behind them. Explicit `lr` / `head_lr` /
// `epochs` settings still win over a recipe's values.
local recipes = {
  // Short CPU trainings (a few epochs of MiniLM on SciERC, the demo): see docs/joint_learning.md.
  cpu: {
    lr: 1e-4,  // encoder (the paper: 1e-5 over 200-300 epochs)
    head_lr: 2e-3,  // everything but the encoder
    warmup: 0.1,  // share of the steps with a rising lr (the paper: 0.5)
    // With the `epochs` setting (a short budget), the modules Table 7 trains longer keep Table 7's
    // proportion: NerRi, NerRe and NerRe* get ceil(epochs * nerre / single) epochs (SciERC and
    // CoNLL04 1.5x: 3 -> 5; ACE05 2x), every other module `epochs`. Table 7's proportion, not a
    // departure from the paper; without it `epochs` gives every module the same count. SciERC dev,
    // 3 seeds, NerRe at 5 epochs: a8 Rel+-C 21.83 +- 0.85 (3 epochs: 21.20 +- 1.48), a4 (3 epochs)
    // 19.38 +- 0.74, ahead on every seed (docs/joint_learning.md, "Table 7's proportion").
    table7_epoch_ratio: true,
    model: {},  // SpanModel options of every module
    // Further options of the cross-task (mean-field) modules. diagnostic_metrics changes no
    // figure: the modules also report the loss split and what each mean-field iteration does to
    // the entity decisions, which `ere-study` prints (tables/mean_field.md).
    joint_model: { diagnostic_metrics: true },
    // Further options of the modules on the pruner's spans (NerRi, NerRe, NerRe*).
    pruned_model: {
      // ~K^2 = 120 ordered pairs per sentence of which 1.2 % are related. With the paper's loss
      // NerRe predicted 0.3 % of its pairs related after 3 epochs; with null pairs weighted 0.3,
      // dev Rel+-C after 3 epochs rose from 12.0 to 18.3 (0.1: 12.6, over-predicting).
      null_relation_weight: 0.3,
      // Decoding: a predicted relation's arguments are entities (their best non-null label where
      // the entity head said null). NerRe, SciERC dev, 3 seeds: Rel+-C +2.0 at -0.4 Ent-C
      // (docs/joint_learning.md, "Issue #22").
      relation_arguments_as_entities: true,
      // ... but only where the relation and its argument(s) together outweigh no relation and null
      // argument(s); otherwise the relation is dropped (decoding only, not the paper's). The study's
      // NerRe, 3 seeds, SciERC dev: Ent-C 62.82 -> 63.20, Rel+-C 20.79 -> 20.75 (a tie); NerRe*
      // 63.06 -> 63.83, 21.92 -> 22.39; CoNLL04 NerRe Rel+-C 54.09 -> 54.71, NerRe* 54.63 -> 57.00
      // (docs/joint_learning.md, "The joint argument decision").
      relation_arguments_joint: true,
      // Mean field (NerRe, NerRi; NerRe* has none): only real entity and relation labels take part
      // in the ternary factors (not the paper's: it keeps every label). NerRe at 5 epochs, SciERC dev,
      // 3 seeds: Ent-C 61.77 -> 63.14 (NerRe* 63.13, Ner 63.85), Rel-C -1.7, Rel+-C 21.83 -> 21.65
      // (a tie; a4 19.38): the entity decisions mean field flipped fall from ~20 to 2-5 per 100 gold
      // entities (docs/joint_learning.md, "Table 7's proportion").
      ternary_null_labels: "none",
    },
    // The pruned mean-field modules (NerRi, NerRe) train their first floor(0.6 x epochs) epochs
    // without mean field, on the first-order posteriors (NerRe*'s loss), and the rest with it
    // (SpanModel's mean_field_start_epoch; not the paper's, which trains with mean field from the
    // start): 5 epochs -> 3 + 2. NerRe, SciERC dev, one shared pruner, 3 seeds: share 0 -> 0.4 gave
    // Rel+-C 21.79 +- 0.17 -> 23.91 +- 0.49 (higher on every seed), Ent-C 63.70 -> 63.32. The study's
    // setting (a pruner per seed), 5 seeds: share 0.4 -> 0.6 gave Rel+-C 22.08 +- 1.28 -> 22.95 +- 1.55
    // (higher on every seed), Ent-C 63.26 -> 63.33 (a4 19.21, NerRe* 22.00 / Ent-C 63.78, Ner 64.08)
    // (docs/joint_learning.md, "Mean field from the third epoch" and "The study's setting, 5 seeds").
    mean_field_start_share: 0.6,
  },
};

// A setting's value, or `default` when it is null (or "", as an empty environment variable).
local given(value, default) = if value == null || value == "" then default else value;
// Numbers may come as strings (an environment variable): "3", "1e-4", "[-1,-1]".
local parsed(value) = if std.isString(value) then std.parseJson(value) else value;

// The full settings of a config: the defaults, then what the config (or the caller) set.
local resolve(settings) =
  local unknown = [k for k in std.objectFields(settings) if !std.objectHas(defaults, k)];
  if unknown != [] then
    error "unknown setting(s) " + std.join(", ", unknown) + "; the settings are " + std.join(", ", std.objectFields(defaults)) + " (training_configs/lib/settings.libsonnet)"
  else defaults + settings;

local recipe_of(s) =
  local name = given(s.recipe, "");
  if name == "" then {}
  else if std.objectHas(recipes, name) then recipes[name]
  else error "recipe " + std.toString(name) + " is not a recipe; choose one of " + std.join(", ", std.objectFields(recipes)) + " (or null for the paper's settings)";
local recipe_value(s, name, default) = local recipe = recipe_of(s); if std.objectHas(recipe, name) then recipe[name] else default;

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
  // CoNLL04 (Roth & Yih 2004, SpERT's split and JSON, converted with `allennlp ere-convert`): the
  // paper has no Table 7 column for it, so these come from SpERT (Eberts & Ulges 2020), the
  // span-based system most CoNLL04 figures are compared with: its encoder (BERT-base cased), its
  // maximum span size (10 tokens; all but 2 of the 3377 train entities), its learning rate (5e-5)
  // and its 20 epochs; the cross-task NerRe / NerRi get 1.5x, as Table 7 gives them on SciERC. The
  // rest (batch 20, warm-up 0.5, AdamW, clipping 5) is the paper's, as for the other datasets.
  conll04: {
    encoder: "bert-base-cased",
    max_span_width: 10,
    lr: 5e-5,
    epochs: { single: 20, cross: 20, nerre: 30 },
  },
};

// The datasets in the order the commands list them (`allennlp ere-study --dataset`).
local dataset_order = ["scierc", "ace05", "conll04"];

// What each module reads and predicts (Section 2.4): candidate spans, relation pairs, labels.
// `type`: the registered model (a module class's MODULE, or span_pruner); `name`: how the paper and
// the study's tables name it; `metric`: the trainer's validation metric, one the model reports
// (tests/training_configs_test.py checks it).
local modules = {
  ei: { type: "ei", name: "Ei", candidates: "all", pairs: "none", entity_labels: true, epochs: "single", metric: "+ent_i_f1" },
  ec: { type: "ec", name: "Ec", candidates: "gold", pairs: "none", entity_labels: true, epochs: "single", metric: "+ent_c_f1" },
  ner: { type: "ner", name: "Ner", candidates: "all", pairs: "none", entity_labels: true, epochs: "single", metric: "+ent_c_f1" },
  ri: { type: "ri", name: "Ri", candidates: "gold", pairs: "all", entity_labels: false, epochs: "single", metric: "+rel_i_f1" },
  rc: { type: "rc", name: "Rc", candidates: "gold", pairs: "related", entity_labels: false, epochs: "single", metric: "+rel_c_f1" },
  re: { type: "re", name: "Re", candidates: "gold", pairs: "all", entity_labels: false, epochs: "single", metric: "+rel_c_f1" },
  ecri: { type: "ecri", name: "EcRi", candidates: "gold", pairs: "all", entity_labels: true, epochs: "cross", metric: "+strict_rel_i_f1", joint: true },
  ecre: { type: "ecre", name: "EcRe", candidates: "gold", pairs: "all", entity_labels: true, epochs: "cross", metric: "+strict_rel_c_f1", joint: true },
  // NerRi/NerRe read all spans up to L; their pruner keeps O(n) of them. Relation labels are
  // listed only for related pairs (every other kept pair holds no relation).
  nerri: { type: "nerri", name: "NerRi", candidates: "all", pairs: "related", entity_labels: true, epochs: "nerre", metric: "+strict_rel_i_f1", joint: true, pruned: true },
  nerre: { type: "nerre", name: "NerRe", candidates: "all", pairs: "related", entity_labels: true, epochs: "nerre", metric: "+strict_rel_c_f1", joint: true, pruned: true },
  // NerRe*: NerRe without high-order inference (shared encoder, first-order).
  nerre_star: self.nerre + { name: "NerRe*", joint: false },
  pruner: { type: "span_pruner", name: "Pruner", candidates: "all", pairs: "none", entity_labels: true, epochs: "single", metric: "+pruner_r" },
};

// The order the study trains them in: the pruner first (the pruned modules load it), then Table 1's.
local module_order = ["pruner", "ei", "ec", "ner", "ri", "rc", "re", "ecri", "ecre", "nerri", "nerre", "nerre_star"];

{
  datasets: datasets,
  dataset_order:
    if std.set(dataset_order) == std.set(std.objectFields(datasets)) then dataset_order
    else error "dataset_order must list every dataset of `datasets` once",
  modules: modules,
  module_order:
    if std.set(module_order) == std.set(std.objectFields(modules)) then module_order
    else error "module_order must list every module of `modules` once",
  recipes: recipes,
  defaults: defaults,
  resolve(settings):: resolve(settings),
  given(value, default):: given(value, default),
  parsed(value):: parsed(value),

  encoder(dataset, s):: given(s.encoder, datasets[dataset].encoder),
  // A module's epochs: Table 7's without the `epochs` setting; with it, `epochs`, or with a recipe's
  // `table7_epoch_ratio` Table 7's proportion to the single-task modules kept (rounded up).
  epochs(dataset, spec, s)::
    local table7 = datasets[dataset].epochs;
    if given(s.epochs, null) == null then table7[spec.epochs]
    else if recipe_value(s, "table7_epoch_ratio", false) then std.ceil(parsed(s.epochs) * table7[spec.epochs] / table7.single)
    else parsed(s.epochs),
  data_dir(dataset, s):: given(s.data_dir, "data/" + dataset),

  embedder(dataset, s):: {
    token_embedders: {
      tokens: {
        type: "pretrained_transformer_mismatched",
        model_name: $.encoder(dataset, s),
        max_length: parsed(s.max_length),
        sub_token_mode: "first",  // the paper: first sub-token of each word
      },
    },
  },

  reader(dataset, spec, s):: {
    type: "ere_json",
    model_name: $.encoder(dataset, s),
    max_length: parsed(s.max_length),
    max_span_width: datasets[dataset].max_span_width,
    candidates: spec.candidates,
    relation_pairs: spec.pairs,
    entity_labels: spec.entity_labels,
    skip_sentences_without_candidates: spec.candidates == "gold",
  },

  pruner_model(dataset, s):: {
    type: "span_pruner",
    embedder: $.embedder(dataset, s),
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

  model(dataset, spec, s)::
    local joint = std.objectHas(spec, "joint") && spec.joint;
    local pruned = std.objectHas(spec, "pruned") && spec.pruned;
    if spec.type == "span_pruner" then $.pruner_model(dataset, s)
    else {
      type: spec.type,
      embedder: $.embedder(dataset, s),
      max_span_width: datasets[dataset].max_span_width,
      span_hidden_dim: 200,  // MLP_span
      relation_hidden_dim: 400,  // MLP_rel
      dropout: 0.1,
    } + (if joint then {
      inference: { type: "mean_field", iterations: 3 },
      ternary_dim: 200,  // d_t
    } + recipe_value(s, "joint_model", {}) else {}) + recipe_value(s, "model", {})
    + (if pruned then recipe_value(s, "pruned_model", {}) else {})
    + (if pruned && joint && recipe_value(s, "mean_field_start_share", null) != null then {
        mean_field_start_epoch: std.floor(recipe_value(s, "mean_field_start_share", 0) * $.epochs(dataset, spec, s)),
      } else {})
    + (if pruned then (
      if given(s.pruner, null) == null then {
        // No trained pruner given: train one in the same run (own encoder and loss).
        pruner: $.pruner_model(dataset, s),
        train_pruner: true,
      } else {
        pruner: { type: "from_archive", archive_file: s.pruner },
        train_pruner: false,
      }
    ) else {}),

  // The training config of module `name` on `dataset`; its settings are the hidden field `settings`.
  module(dataset, name):: {
    local config = self,
    settings:: {},
    local s = resolve(config.settings),
    local spec = modules[name],
    local seed = parsed(s.seed),
    local head_lr = given(s.head_lr, recipe_value(s, "head_lr", null)),
    local devices = if given(s.distributed, null) == null then [parsed(s.cuda_device)] else parsed(s.distributed),
    local use_amp = parsed(s.use_amp),
    random_seed: seed,
    numpy_seed: seed,
    pytorch_seed: seed,
    dataset_reader: $.reader(dataset, spec, s),
    train_data_path: $.data_dir(dataset, s) + "/train.json",
    validation_data_path: $.data_dir(dataset, s) + "/dev.json",
    model: $.model(dataset, spec, s),
    data_loader: { batch_size: parsed(s.batch_size), shuffle: true },
    validation_data_loader: { batch_size: parsed(s.batch_size), shuffle: false },
    trainer: {
      num_epochs: $.epochs(dataset, spec, s),
      validation_metric: spec.metric,
      grad_norm: 5.0,  // gradient clipping 5
      optimizer: {
        type: "adamw",
        lr: parsed(given(s.lr, recipe_value(s, "lr", datasets[dataset].lr))),
        weight_decay: 1e-5,  // "lr decay 1e-05"
      } + (if head_lr == null then {} else {
        // Optional: a larger learning rate for everything but the encoder (short runs, CPU).
        parameter_groups: [[["^(?!.*_embedder\\.)"], { lr: parsed(head_lr) }]],
      }),
      // warm-up rate 0.5: linear warm-up over the first half of all steps, then linear decay
      learning_rate_scheduler: { type: "slanted_triangular", cut_frac: recipe_value(s, "warmup", 0.5) },
      checkpointer: { keep_most_recent_by_count: 1 },
      // Saves the RNG states each epoch so that `allennlp train --recover` continues exactly;
      // portable_archive: the frozen pruner's config inline, ere_manifest.json with the settings
      // this config was read with (docs/reference.md); model_epoch: the model learns which epoch it
      // trains (SpanModel's mean_field_start_epoch; nothing else reads it).
      callbacks: [{ type: "rng_state" }, { type: "portable_archive", settings: config.settings }, { type: "model_epoch" }],
      // Automatic mixed precision (setting use_amp; false = the paper). AllenNLP's trainer refuses it
      // on the CPU ("Using AMP requires a cuda device"): said here, before anything is built.
      use_amp:
        if !std.isBoolean(use_amp) then error "use_amp must be true or false, got " + std.toString(use_amp)
        else if use_amp && std.length([d for d in devices if d < 0]) > 0 then
          error "use_amp needs a GPU (AllenNLP's trainer refuses automatic mixed precision on the CPU); set cuda_device (or distributed) to GPU indices, got " + std.toString(devices)
        else use_amp,
    } + (
      // With `distributed` the devices come from there (AllenNLP rejects both).
      if given(s.distributed, null) == null then { cuda_device: parsed(s.cuda_device) } else {}
    ),
    include_in_archive: ["ere_manifest.json"],
    // One worker process per listed device (torch.distributed): [-1, -1] = two CPU workers (gloo);
    // null (jsonnet cannot leave a field out by a setting): one process (AllenNLP reads null so).
    distributed: if given(s.distributed, null) == null then null else {
      cuda_devices: parsed(s.distributed),
      // Some weights get no gradient (the encoder's unused pooler, heads a module skips).
      ddp_accelerator: { type: "torch", find_unused_parameters: true },
    },
  },
}
