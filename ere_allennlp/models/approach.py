"""An approach (a1 ... a8 and the paper's variants): trained modules chained by cascade decoding."""
import logging
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import TextFieldTensors, Vocabulary
from allennlp.models.model import Model
from overrides import overrides

from ere_allennlp import archival
from ere_allennlp.common import Entity, Relation, decoded_output
from ere_allennlp.metrics.ere_f1 import SCORES, EreF1
from ere_allennlp.models import compat
from ere_allennlp.models.span_model import SpanModel

logger = logging.getLogger(__name__)

@Model.register("ere_approach")
class Approach(archival.ArchivePathsMixin, Model):
    """Runs trained modules in order; each stage builds its input only from the previous stage's
    output (Section 2.4), never from gold annotation.

    Stage k's candidate spans are the entities stage k-1 kept, its ordered pairs all pairs of
    them, or, for Rc, the pairs stage k-1 found related. Entity labels come from the last stage
    that predicts entities, relations from the last stage that predicts relations. A NerRi/NerRe
    stage uses its own pruner only as the first stage (a7, a8); after Ei it takes Ei's spans
    (Ei-NerRe).

    # Parameters

    vocab : `Vocabulary`
        Unused (each stage brings its own); AllenNLP passes it.
    stages : `List[str]`
        Trained module archives (``model.tar.gz``), in order. They must share the encoder named in
        the ``dataset_reader`` (the reader reads all spans up to L). In the config that ``allennlp
        ere-approach`` archives they are ``archive://stages/<k>_<module>`` folders inside the
        approach archive (``ere_allennlp.archival``): the archive holds its stages.
    gold_entities : `bool`, optional (default = `False`)
        Start from the gold entities instead of a first stage that finds them (the paper's
        Table 3: Ri-Rc and Re given gold entities).
    symmetric_relations : `List[str]`, optional (default = `None`)
        Passed to ``ere_f1``.
    stage_overrides : `List[Dict[str, Any]]`, optional (default = `None`)
        AllenNLP overrides of each stage's archived config, one dict per stage in stage order
        (``{}`` = none), applied when the stage is loaded, as ``allennlp evaluate --overrides``
        applies them to one module: e.g. ``[{"model.relation_arguments_joint": true}]`` decodes
        a8's NerRe with an option it was not trained with. Meant for decoding options (they change
        no weight); the stage's weights are loaded strictly, so an override that changes the
        architecture fails to load. ``ere-study --stage-overrides`` fills it from module names.
    cuda_device : `int`, optional (default = `-1`)
        Where the stages are loaded. Loading an approach archive (``allennlp evaluate/predict
        --cuda-device``, ``Extractor.from_archive(cuda_device=...)``, ``load_archive``) sets it to
        the device asked for (`_load`), whatever the archive's config says; ``allennlp ere-approach``
        takes it from the ``cuda_device`` setting (the archive it writes names no device).

    Metrics: the six ``ere_f1`` scores of the final output, and per stage ``s<k>_<module>_ent_i_*``
    (the entity spans the stage kept) and ``s<k>_pruner_*`` (the spans a pruner kept).
    """

    # Each stage's weights are loaded (strictly) from its own folder or archive, not from the
    # approach's weights.th.
    authorized_missing_keys = [r"^_stages\."]

    def __init__(
        self,
        vocab: Vocabulary,
        stages: List[str],
        gold_entities: bool = False,
        symmetric_relations: Optional[List[str]] = None,
        stage_overrides: Optional[List[Dict[str, Any]]] = None,
        cuda_device: int = -1,
        **kwargs,
    ) -> None:
        super().__init__(vocab, **kwargs)
        if not stages:
            raise ConfigurationError("an approach needs at least one stage archive")
        stage_overrides = [dict(o or {}) for o in stage_overrides] if stage_overrides is not None else [{} for _ in stages]
        if len(stage_overrides) != len(stages):
            raise ConfigurationError(
                f"stage_overrides needs one dict per stage ({len(stages)}), got {len(stage_overrides)}"
            )
        models: List[SpanModel] = []
        self.stage_names: List[str] = []
        self.stage_encoders: List[str] = []
        loaded_from = kwargs.get("serialization_dir")
        for path, stage_override in zip(stages, stage_overrides):
            compat.check_stage_path(path, None if loaded_from is None else str(loaded_from))
            archive = archival.load(path, cuda_device=cuda_device, overrides=stage_override)
            if not isinstance(archive.model, SpanModel):
                raise ConfigurationError(f"{path}: stage must be an ere_allennlp module, got {type(archive.model).__name__}")
            models.append(archive.model)
            self.stage_names.append(archive.model.module_name)
            # The reader's model_name is the resolved one (an archive's encoder files, not archive://).
            reader_encoder = getattr(archive.dataset_reader, "model_name", None)
            self.stage_encoders.append(reader_encoder or archive.config.get("dataset_reader", {}).get("model_name", ""))
        if len(set(self.stage_encoders)) > 1:
            raise ConfigurationError(
                f"all stages must use the same encoder (one tokenisation feeds them all), got {self.stage_encoders}"
            )
        if not gold_entities and not models[0].can_start_chain:
            raise ConfigurationError(
                f"the first stage must find entities among all spans (ei, ner, nerri, nerre), "
                f"got {self.stage_names[0]}; set gold_entities to start from gold entities"
            )
        for k, model in enumerate(models):
            if model.needs_related_pairs and not any(m.predicts_relations for m in models[:k]):
                raise ConfigurationError("an Rc stage needs a previous stage that finds related pairs")
        self._stages = torch.nn.ModuleList(models)
        self.stage_paths = list(stages)
        self.stage_overrides = stage_overrides
        self.gold_entities = gold_entities
        self._metric = EreF1(symmetric_relations)
        self._stage_span_metrics: List[EreF1] = [EreF1() for _ in models]
        self._pruner_metrics: List[EreF1] = [EreF1() for _ in models]

    @classmethod
    def _load(cls, config: Params, serialization_dir, weights_file=None, cuda_device: int = -1):  # type: ignore
        """AllenNLP's hook for loading an archive: the stages are loaded on the device the archive
        is loaded on (``load_archive(cuda_device=...)``), not on the one its config names, so that
        no stage is first built on the CPU and nothing is left there."""
        config = config.duplicate()
        config["model"]["cuda_device"] = cuda_device
        return super()._load(config, serialization_dir, weights_file, cuda_device)

    @property
    def encoder_name(self) -> str:
        return self.stage_encoders[0]

    @staticmethod
    def _spans_tensor(spans: Sequence[Sequence[Tuple[int, int]]], device: torch.device) -> torch.LongTensor:
        """Per-sentence span lists -> [B, m, 2] with (-1, -1) padding (m >= 1), on `device`. Built
        on the CPU and copied once (filling a GPU tensor row by row is a copy per sentence)."""
        width = max([len(s) for s in spans] + [1])
        rows = [list(sentence) + [(-1, -1)] * (width - len(sentence)) for sentence in spans]
        return torch.tensor(rows, dtype=torch.long).view(len(spans), width, 2).to(device)

    @staticmethod
    def _related_pair_mask(
        entities: Sequence[Sequence[Tuple[Entity, float]]],
        relations: Sequence[Sequence[Tuple[Relation, float]]],
        num_spans: int,
        device: torch.device,
    ) -> torch.BoolTensor:
        """[B, m, m] True at the (head, tail) positions, among each sentence's `entities`, of the
        pairs an upstream stage found related; built on the CPU and copied to `device` once."""
        mask = torch.zeros(len(entities), num_spans, num_spans, dtype=torch.bool)
        for b, (sentence_entities, sentence_relations) in enumerate(zip(entities, relations)):
            index = {(e.start, e.end): i for i, (e, _) in enumerate(sentence_entities)}
            for r, _ in sentence_relations:
                i = index.get((r.head_start, r.head_end))
                j = index.get((r.tail_start, r.tail_end))
                if i is not None and j is not None:
                    mask[b, i, j] = True
        return mask.to(device)

    @overrides(check_signature=False)  # outputs hold decoded lists besides tensors
    def forward(  # type: ignore
        self,
        tokens: TextFieldTensors,
        spans: torch.LongTensor,
        metadata: List[Dict[str, Any]],
        **kwargs,
    ) -> Dict[str, Any]:
        batch_size = spans.size(0)
        entities: Optional[List[List[Tuple[Entity, float]]]] = None
        relations: Optional[List[List[Tuple[Relation, float]]]] = None
        if self.gold_entities:
            entities = [[(Entity(*e), 1.0) for e in meta["gold_entities"]] for meta in metadata]
        gold = [{"entities": m.get("gold_entities", []), "relations": m.get("gold_relations", [])} for m in metadata]
        has_gold = all(m.get("has_gold") for m in metadata)
        for k, stage in enumerate(self._stages):
            first = k == 0 and entities is None
            if first:
                stage_spans = spans
            else:
                assert entities is not None
                stage_spans = self._spans_tensor([[(e.start, e.end) for e, _ in s] for s in entities], spans.device)
            pair_mask = None
            if stage.needs_related_pairs and relations is not None:
                # Rc labels exactly the pairs an upstream stage found related.
                assert entities is not None
                pair_mask = self._related_pair_mask(entities, relations, stage_spans.size(1), spans.device)
            prediction = stage.predict(tokens, stage_spans, pair_mask, use_pruner=first)
            if prediction.candidates is not None and has_gold and stage.pruner is not None and first:
                self._pruner_metrics[k](
                    [{"entities": [Entity(s, e) for s, e in c], "relations": []} for c in prediction.candidates], gold
                )
            if prediction.entities is not None:
                entities = prediction.entities
                if has_gold:
                    self._stage_span_metrics[k](
                        [{"entities": [e for e, _ in s], "relations": []} for s in entities], gold
                    )
            if prediction.relations is not None:
                relations = prediction.relations
        entities = entities or [[] for _ in range(batch_size)]
        relations = relations or [[] for _ in range(batch_size)]
        # Relations whose arguments are no longer entities (a later entity stage dropped them) go.
        kept = [{(e.start, e.end) for e, _ in s} for s in entities]
        relations = [
            [(r, p) for r, p in s if (r.head_start, r.head_end) in kept[b] and (r.tail_start, r.tail_end) in kept[b]]
            for b, s in enumerate(relations)
        ]
        if has_gold:
            predicted = [
                {"entities": [e for e, _ in entities[b]], "relations": [r for r, _ in relations[b]]}
                for b in range(batch_size)
            ]
            self._metric(predicted, gold)
        return decoded_output(metadata, entities, relations)

    @overrides
    def get_metrics(self, reset: bool = False) -> Dict[str, float]:
        metrics = dict(self._metric.get_metric(reset))
        for k, name in enumerate(self.stage_names):
            stage = self._stages[k]
            if stage.predicts_entities:
                values = self._stage_span_metrics[k].get_metric(reset)
                for key in SCORES:
                    metrics[f"s{k + 1}_{name}_ent_i_{key}"] = values[f"ent_i_{key}"]
            if stage.pruner is not None and k == 0 and not self.gold_entities:
                values = self._pruner_metrics[k].get_metric(reset)
                for key in SCORES:
                    metrics[f"s{k + 1}_pruner_{key}"] = values[f"ent_i_{key}"]
        return metrics

    default_predictor = "ere"
