// The settings every training and approach config takes, with their defaults: the one place they
// are defined. null keeps the paper's value for the dataset (Table 7, lib/ere.libsonnet).
//
// A config built by lib/ere.libsonnet or lib/approach.libsonnet keeps them in its hidden field
// `settings`, so they change by jsonnet inheritance (as DyGIE++'s template.libsonnet does):
//     local ere = import "lib/ere.libsonnet";
//     ere.module("scierc", "nerre") + { settings+:: { epochs: 3, recipe: "cpu" } }
// and `allennlp ere-train` / `ere-approach` / `ere-study` set them from the ERE_<NAME> environment
// variables (ERE_EPOCHS=3, ERE_ENCODER=...) and --setting NAME=VALUE (docs/reference.md, "Configs and their settings").
{
  encoder: null,  // hub name or local folder; null = SciBERT (SciERC) / bert-base-uncased (ACE05) / bert-base-cased (CoNLL04)
  data_dir: null,  // folder with train.json, dev.json (test.json); null = data/<dataset>
  epochs: null,  // null = Table 7 (100/200/300 by module and dataset)
  lr: null,  // null = 1e-5 (SciERC) / 2e-5 (ACE05) / 5e-5 (CoNLL04), or the recipe's
  head_lr: null,  // null = lr for all parameters (the paper); else the lr of all but the encoder
  batch_size: 20,
  max_length: 512,  // word pieces per encoder window; longer sentences are folded
  pruner: null,  // archive of a trained span_pruner for NerRi/NerRe; null = train one in the same run
  runs: "runs",  // where approach configs find module archives: <runs>/<dataset>_<module>/model.tar.gz
  cuda_device: -1,  // GPU index for training (the trainer) and for loading stages (ere-approach); -1 = CPU
  // AllenNLP's automatic mixed precision (the trainer's use_amp: float16 autocast and a gradient
  // scaler on the GPU); false = full float32, the paper. Needs a GPU: AllenNLP refuses it on the CPU.
  use_amp: false,
  seed: 13370,
  // Devices for distributed training, one worker process each (torch.distributed):
  // [-1, -1] = two CPU workers (gloo), [0, 1] = two GPUs; null = one process on cuda_device
  distributed: null,
  // A named set of settings that are not the paper's (lib/ere.libsonnet, `recipes`): "cpu" for
  // short CPU trainings; null = the paper's settings
  recipe: null,
}
