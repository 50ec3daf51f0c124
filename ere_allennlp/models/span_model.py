"""The model family of the paper's ten span-based modules (Table 1): `SpanModel`. Each module is a
subclass in ``ere_allennlp/models/modules/`` that fixes its heads."""
import logging
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from allennlp.common.checks import ConfigurationError
from allennlp.data import TextFieldTensors, Vocabulary
from allennlp.models.model import Model
from allennlp.modules import FeedForward, TextFieldEmbedder
from allennlp.modules.span_extractors import EndpointSpanExtractor
from allennlp.nn import Activation, InitializerApplicator, RegularizerApplicator, util
from overrides import overrides

from ere_allennlp.archival import ArchivePathsMixin
from ere_allennlp.common import NULL_LABEL, Entity, Relation, decoded_output
from ere_allennlp.metrics.ere_f1 import EreF1
from ere_allennlp.metrics.training_diagnostics import TrainingDiagnostics
from ere_allennlp.models import decoding
from ere_allennlp.models.candidate_pruning import CandidatePruning, gather_kept
from ere_allennlp.models.decoding import Entities, Relations
from ere_allennlp.models.heads import Head
from ere_allennlp.models.span_encoding import SpanEncoding
from ere_allennlp.modules.high_order_inference import HighOrderInference
from ere_allennlp.modules.ternary_scorer import FactorisedTernaryScorer
from ere_allennlp.allennlp_internals import feedforward_after_first_linear, first_linear
from ere_allennlp.nn_util import scatter_real, upcast

logger = logging.getLogger(__name__)

LOSS_NORMALISATIONS = ("sum", "mean")
TERNARY_NULL_LABELS = ("both", "relation", "none")
ENTITY_LOSS_SPANS = ("kept", "all")


class StagePrediction(NamedTuple):
    """What a module decoded for a batch, per sentence (sentence-local offsets)."""

    candidates: List[List[Tuple[int, int]]]  # the spans it scored (after its pruner, if any)
    entities: Optional[List[List[Tuple[Entity, float]]]]  # None: the module has no entity head
    relations: Optional[List[List[Tuple[Relation, float]]]]  # None: no relation head


class StageScores(NamedTuple):
    """One pass of a module over candidate spans (`SpanModel.score`): what training and a
    pipeline stage both start from."""

    spans: torch.LongTensor  # [B, m, 2] the spans scored (the pruner's top-K, if it ran); -1 padding
    span_mask: torch.BoolTensor  # [B, m]
    pair_mask: torch.BoolTensor  # [B, m, m] the ordered pairs scored
    entity_lp: Optional[torch.Tensor]  # [B, m, E] log-probabilities, None without an entity head
    relation_lp: Optional[torch.Tensor]  # [B, m, m, R], None without a relation head
    span_labels: Optional[torch.LongTensor]  # [B, m] gold labels of `spans` (training)
    relation_targets: Optional[torch.LongTensor]  # [B, m, m] gold head labels of the pairs (training)
    pruner_loss: Optional[torch.Tensor]  # the in-run pruner's loss (training), else None
    encoding: SpanEncoding
    # With a pruner: every candidate span before pruning [B, M, 2] and its gold labels [B, M]
    # (training; ``entity_loss_spans="all"``), else None.
    candidate_spans: Optional[torch.LongTensor] = None
    candidate_labels: Optional[torch.LongTensor] = None
    # Mean field with diagnostics: the entity log Q of every iteration, Q^0 first ([B, m, E] each).
    entity_history: Optional[List[torch.Tensor]] = None
    # Mean field with ``first_order_loss_weight`` (training): the first-order log-probabilities,
    # log_softmax of the unary scores, from the mean-field layer (entity [B, m, E], relation [B, m, m, R]).
    first_order_lp: Optional[Tuple[torch.Tensor, torch.Tensor]] = None



class SpanModel(ArchivePathsMixin, Model):
    """A span-based module: encoder -> span vectors b_i = [x_START; x_END; width] ->
    MLP_span / MLP_rel -> linear unary scores g_i, g_ij, and, for the cross-task modules,
    ternary scores f_ij = (h_i o t_j) W_t with mean-field inference.

    Subclasses fix what is predicted (``ENTITY_HEAD``, ``RELATION_HEAD``: ``identify``,
    ``classify``, ``classify_null`` or None) and their name (``MODULE``).

    Loss: summed cross-entropy over candidate spans and ordered pairs i != j, on
    P = softmax(g) (first order) or P = Q (mean field). Outputs ``predicted_ner`` and
    ``predicted_relations`` per sentence (sentence-local offsets, label, probability).

    # Parameters

    vocab : `Vocabulary`
        With the ``entity_labels`` and ``relation_labels`` namespaces of the ``ere_json`` reader.
    embedder : `TextFieldEmbedder`
        Normally ``pretrained_transformer_mismatched`` with ``sub_token_mode: "first"`` (the first
        sub-token of each word, as in the paper).
    max_span_width : `int`
        L; the width embedding has L entries.
    span_width_dim : `int`, optional (default = `150`)
    span_hidden_dim : `int`, optional (default = `200`)
        MLP_span.
    relation_hidden_dim : `int`, optional (default = `400`)
        MLP_rel.
    dropout : `float`, optional (default = `0.1`)
    inference : `HighOrderInference`, optional (default = `None`)
        ``{"type": "mean_field", "iterations": 3}`` for the cross-task modules; without it a module
        with both heads is first-order (NerRe*).
    ternary_dim : `int`, optional (default = `200`)
        d_t of the ternary scorer.
    symmetric_relations : `List[str]`, optional (default = `None`)
        Relation labels scored without direction by ``ere_f1``.
    pruner : `Model`, optional (default = `None`)
        A ``span_pruner`` (NerRi, NerRe): the module then reads all spans up to L and keeps the
        pruner's top-K per sentence. ``{"type": "from_archive", "archive_file": ...}`` with
        ``train_pruner: false`` (the paper: a pruner trained before, frozen), or a fresh
        ``span_pruner`` with ``train_pruner: true`` (trained in the same run, its own encoder and
        loss; the spans it keeps are not differentiated through). The ``portable_archive`` trainer
        callback replaces the ``from_archive`` entry of the saved config by the pruner's own config
        (its weights are in this module's state dict), so the archive loads without the pruner's.
    train_pruner : `bool`, optional (default = `False`)
    loss_normalisation : `str`, optional (default = `"sum"`)
        **Not the paper's** when ``"mean"``: the entity loss averaged over the batch's scored spans
        and the relation loss over its scored pairs (as HGERE does), so that the ~K^2 pairs of a
        pruned module do not outweigh its K spans. ``"sum"`` is the paper's (Section 2.4).
    relation_loss_weight : `float`, optional (default = `1.0`)
        **Not the paper's** unless 1: a factor on the relation loss.
    null_relation_weight : `float`, optional (default = `1.0`)
        **Not the paper's** unless 1: a factor on the loss of the pairs whose gold label is null (of
        a relation head with a null label), against the imbalance of ~K^2 candidate pairs of which
        ~1 % are related (SpERT samples 100 negative pairs per sentence instead).
    ternary_null_labels : `str`, optional (default = `"both"`)
        Which null labels take part in the ternary scores f_ij(a, b, r). ``"both"`` (the paper:
        f_ij covers every label); **not the paper's**: ``"relation"``, the null entity label's
        ternary scores fixed at zero (CRFIE leaves the entity null label out of mean-field
        inference), and ``"none"``, the null relation label's too, so that only real entities and
        relations exchange messages (Wang & Tu's second-order parsers send messages only from edges
        that exist). Identification heads' "absent" labels are always fixed at zero.
    ternary_init_std : `float`, optional (default = `0.01`)
        The standard deviation of the ternary weight W_t at initialisation (the paper does not say).
    relation_mention_scores : `bool`, optional (default = `False`)
        **Not the paper's** when true: add both spans' mention scores (the log-odds of being an
        entity, from the entity head) to every non-null relation logit, as DyGIE++ adds its mention
        scores (a module with a null entity label and a null relation label: NerRe, NerRe*).
    entity_loss_spans : `str`, optional (default = `"kept"`)
        Which spans the entity loss covers in a module with a pruner (NerRi, NerRe, NerRe*).
        ``"kept"`` (the paper): the pruner's top-K spans, the ones the module scores. **Not the
        paper's**: ``"all"`` adds a first-order entity loss (softmax of the unary scores g_i) over
        every candidate span up to L, as Ner is trained, beside the loss on the kept spans; the
        decoding still reads the kept spans only (with mean field, if any).
    entity_loss_all_weight : `float`, optional (default = `1.0`)
        **Not the paper's** (it weighs a loss the paper does not have): the factor on the loss that
        ``entity_loss_spans="all"`` adds, so that its ~M candidate spans per sentence (M ~ 80 on
        SciERC at L = 12, against K ~ 11 kept) do not pull the shared encoder away from the
        relations. Needs ``entity_loss_spans="all"`` unless 1.
    entity_null_offset : `float`, optional (default = `0.0`)
        **Not the paper's** unless 0 (decoding only): subtracted from the null entity label's
        log-probability before the argmax (a span becomes an entity once its best label's
        probability exceeds P(null) * exp(-offset)); a threshold to tune on dev.
    relation_arguments_as_entities : `bool`, optional (default = `False`)
        **Not the paper's** when true (decoding only, a module with a null entity label and a
        relation head: NerRi, NerRe, NerRe*): both arguments of every predicted relation are
        entities; an argument the entity head decoded as null gets its most probable non-null
        label (with that label's probability). The paper decodes spans and pairs independently,
        so a relation can join spans that are not entities, which Rel+ then counts as wrong.
    relation_arguments_joint : `bool`, optional (default = `False`)
        **Not the paper's** when true (decoding only; needs ``relation_arguments_as_entities``): a
        predicted relation with an argument the entity head decoded as null is kept, and the
        argument added, only if the relation and its non-null argument(s) are together more
        probable than no relation and null argument(s) (each decision's own posterior); otherwise
        the relation is dropped and the span stays null. Without it every such relation is kept.
    first_order_loss_weight : `float`, optional (default = `0.0`)
        **Not the paper's** unless 0 (the paper trains the mean-field posterior Q^T only): with mean
        field, add this weight times the cross-entropy of the first-order posteriors Q^0 =
        softmax(g_i), softmax(g_ij) (the entity and relation losses NerRe* is trained with, same
        spans, pairs and null weight) to the loss, so that the unary scorers stay classifiers on
        their own instead of leaving the relations to the ternary factors. Decoding is unchanged.
    mean_field_start_epoch : `int`, optional (default = `0`)
        **Not the paper's** unless 0 (the paper trains with mean field from the first step): with
        mean field, the training epochs before this one (0-based) skip it and train the
        first-order posteriors softmax(g_i), softmax(g_ij) (NerRe*'s loss), so that the unary
        scorers learn on their own before the ternary factors join; from this epoch on the loss is
        the paper's (on Q^T). Validation and decoding always run mean field. A warm start of the
        unary potentials, as CRF-as-RNN trains its unary network before the CRF. Needs the
        ``model_epoch`` trainer callback (every shipped config has it) to learn the epoch. The
        ``cpu`` recipe sets it to 40 % of NerRi's / NerRe's epochs (NerRe, 5 epochs, SciERC dev, 3
        seeds: Rel+-C 21.79 -> 23.91, Ent-C 63.70 -> 63.32).
    cache_pruned_spans : `bool`, optional (default = `True`)
        Not a departure (same outputs): a frozen pruner keeps the same top-K of a sentence every
        epoch, so its choice is computed once per sentence and reused.
    diagnostic_metrics : `bool`, optional (default = `False`)
        Also report ``loss_ent`` / ``loss_rel`` (per sentence), ``pair_nonnull`` / ``pair_related``
        (share of scored pairs predicted / gold non-null) and, with a pruner,
        ``pruned_ent_ceiling`` / ``pruned_rel_ceiling`` (share of gold entities, and of gold
        relations with both arguments, among the kept spans); with mean field, per iteration t,
        ``mf_to_wrong_t<t>`` / ``mf_to_right_t<t>``: entity decisions that iteration t changed from
        right to wrong / from wrong to right, per 100 gold entities among the scored spans.
    initializer : `InitializerApplicator`, optional
    regularizer : `RegularizerApplicator`, optional

    Each option that is not the paper's is measured on SciERC dev in ``docs/joint_learning.md``.
    """

    ENTITY_HEAD: Optional[str] = None
    RELATION_HEAD: Optional[str] = None
    MODULE: str = ""  # the module's name (Table 1, the configs' and the registry's): "ner", "nerre", ...

    def __init__(
        self,
        vocab: Vocabulary,
        embedder: TextFieldEmbedder,
        max_span_width: int,
        span_width_dim: int = 150,
        span_hidden_dim: int = 200,
        relation_hidden_dim: int = 400,
        dropout: float = 0.1,
        inference: Optional[HighOrderInference] = None,
        ternary_dim: int = 200,
        symmetric_relations: Optional[List[str]] = None,
        pruner: Optional[Model] = None,
        train_pruner: bool = False,
        loss_normalisation: str = "sum",
        relation_loss_weight: float = 1.0,
        null_relation_weight: float = 1.0,
        ternary_null_labels: str = "both",
        ternary_init_std: float = 0.01,
        relation_mention_scores: bool = False,
        entity_loss_spans: str = "kept",
        entity_loss_all_weight: float = 1.0,
        entity_null_offset: float = 0.0,
        relation_arguments_as_entities: bool = False,
        relation_arguments_joint: bool = False,
        first_order_loss_weight: float = 0.0,
        mean_field_start_epoch: int = 0,
        cache_pruned_spans: bool = True,
        diagnostic_metrics: bool = False,
        initializer: Optional[InitializerApplicator] = None,
        regularizer: Optional[RegularizerApplicator] = None,
        **kwargs,
    ) -> None:
        super().__init__(vocab, regularizer, **kwargs)
        self._embedder, self.max_span_width = embedder, max_span_width
        self._span_extractor = EndpointSpanExtractor(embedder.get_output_dim(), combination="x,y",
                                                     num_width_embeddings=max_span_width, span_width_embedding_dim=span_width_dim)
        self.entity_head = Head(self.ENTITY_HEAD, vocab, "entity_labels") if self.ENTITY_HEAD else None
        self.relation_head = Head(self.RELATION_HEAD, vocab, "relation_labels") if self.RELATION_HEAD else None
        self._build_scorers(span_hidden_dim, relation_hidden_dim, dropout)
        self._inference = inference
        self._ternary: Optional[FactorisedTernaryScorer] = (
            None if inference is None else self._build_ternary(ternary_null_labels, ternary_dim, ternary_init_std))
        # The span pruner that picks the O(n) candidates of NerRi/NerRe from all spans up to L.
        self._pruner, self._train_pruner = pruner, train_pruner
        self._check_options(loss_normalisation, relation_mention_scores, entity_loss_spans, relation_arguments_as_entities,
                            entity_loss_all_weight, first_order_loss_weight, relation_arguments_joint, mean_field_start_epoch)
        self.loss_normalisation = loss_normalisation
        self._pruning = self._attach_pruner(pruner, train_pruner, cache_pruned_spans)
        self.relation_loss_weight, self.null_relation_weight = relation_loss_weight, null_relation_weight
        self.entity_loss_spans, self.entity_loss_all_weight = entity_loss_spans, float(entity_loss_all_weight)
        self.entity_null_offset, self.first_order_loss_weight = float(entity_null_offset), float(first_order_loss_weight)
        self.relation_mention_scores, self.relation_arguments_as_entities = relation_mention_scores, relation_arguments_as_entities
        self.relation_arguments_joint, self.mean_field_start_epoch = relation_arguments_joint, int(mean_field_start_epoch)
        self._training_epoch: Optional[int] = None  # set by the model_epoch trainer callback
        self._diagnostics = TrainingDiagnostics() if diagnostic_metrics else None
        self._metric = EreF1(symmetric_relations)
        self._metric_keys = EreF1.reported_by(self.entity_head is not None, self.relation_head is not None)
        if initializer is not None:
            initializer(self)

    def _build_scorers(self, span_hidden_dim: int, relation_hidden_dim: int, dropout: float) -> None:
        """MLP_span and the entity scorer (with an entity head), MLP_rel and the relation scorer
        (with a relation head), in this order (it fixes their initialisation under a seed)."""
        span_dim = self._span_extractor.get_output_dim()
        relu = Activation.by_name("relu")()
        if self.entity_head is not None:
            self._span_mlp = FeedForward(span_dim, 2, span_hidden_dim, relu, dropout)
            self._entity_scorer = torch.nn.Linear(span_hidden_dim, self.entity_head.num_scores)
        if self.relation_head is not None:
            # MLP_rel([b_i; b_j]): the first layer is split into W_head b_i + W_tail b_j so that it
            # costs O(m) instead of O(m^2) matrix products.
            self._pair_head = torch.nn.Linear(span_dim, relation_hidden_dim)
            self._pair_tail = torch.nn.Linear(span_dim, relation_hidden_dim, bias=False)
            self._pair_dropout = torch.nn.Dropout(dropout)
            self._pair_mlp = FeedForward(relation_hidden_dim, 1, relation_hidden_dim, relu, dropout)
            self._relation_scorer = torch.nn.Linear(relation_hidden_dim, self.relation_head.num_scores)

    def _build_ternary(self, ternary_null_labels: str, ternary_dim: int, init_std: float) -> FactorisedTernaryScorer:
        """The ternary scorer of mean-field inference; `ternary_null_labels` says which null labels
        keep their ternary scores (the others, and identification heads' "absent", are fixed at 0)."""
        if self.entity_head is None or self.relation_head is None:
            raise ConfigurationError(
                f"'inference' needs a module with both an entity and a relation head; "
                f"{type(self).__name__} has entity head {self.ENTITY_HEAD}, relation head {self.RELATION_HEAD}"
            )
        if ternary_null_labels not in TERNARY_NULL_LABELS:
            raise ConfigurationError(f"ternary_null_labels must be one of {TERNARY_NULL_LABELS}, got {ternary_null_labels!r}")
        entity_null, relation_null = self.entity_head.null_index, self.relation_head.null_index
        null_entity = (entity_null,) if ternary_null_labels != "both" and entity_null is not None else ()
        null_relation = (relation_null,) if ternary_null_labels == "none" and relation_null is not None else ()
        return FactorisedTernaryScorer(
            self._span_extractor.get_output_dim(),
            self.entity_head.size,
            self.relation_head.size,
            hidden_dim=ternary_dim,
            fixed_entity_labels=tuple(sorted(set(self.entity_head.fixed) | set(null_entity))),
            fixed_relation_labels=tuple(sorted(set(self.relation_head.fixed) | set(null_relation))),
            init_std=init_std,
        )

    def _attach_pruner(self, pruner: Optional[Model], trained: bool, cache: bool) -> Optional[CandidatePruning]:
        """Loaded from an archive the pruner is frozen; configured afresh it is trained in the same
        run (its own encoder and BCE loss; its choice of spans is not differentiated through)."""
        if pruner is None:
            return None
        if not hasattr(pruner, "score_spans"):
            raise ConfigurationError(f"'pruner' must be a span_pruner model, got {type(pruner).__name__}")
        if not trained:
            for parameter in pruner.parameters():
                parameter.requires_grad_(False)
        null = self.vocab.get_token_to_index_vocabulary("entity_labels").get(NULL_LABEL, -2)
        return CandidatePruning(pruner, trained, cache, null, mean_loss=self.loss_normalisation == "mean")

    def _check_options(
        self, loss_normalisation: str, relation_mention_scores: bool, entity_loss_spans: str,
        relation_arguments_as_entities: bool, entity_loss_all_weight: float = 1.0, first_order_loss_weight: float = 0.0,
        relation_arguments_joint: bool = False, mean_field_start_epoch: int = 0,
    ) -> None:
        """The options' values, and what each needs: `relation_mention_scores` null labels in both
        heads, `first_order_loss_weight` and `mean_field_start_epoch` mean field."""
        for name, value in (("first_order_loss_weight", first_order_loss_weight), ("mean_field_start_epoch", mean_field_start_epoch)):
            if value < 0 or (value > 0 and self._inference is None):
                raise ConfigurationError(
                    f"{name} must be >= 0, and > 0 only with mean-field 'inference'; got "
                    f"{value} for {type(self).__name__} with inference {self._inference!r}"
                )
        if loss_normalisation not in LOSS_NORMALISATIONS:
            raise ConfigurationError(f"loss_normalisation must be one of {LOSS_NORMALISATIONS}, got {loss_normalisation!r}")
        if relation_mention_scores and (
            self.entity_head is None or self.relation_head is None
            or self.entity_head.null_index is None or self.relation_head.null_index is None
        ):
            raise ConfigurationError(
                f"relation_mention_scores needs an entity and a relation head with null labels; {type(self).__name__} "
                f"has entity head {self.ENTITY_HEAD}, relation head {self.RELATION_HEAD}"
            )
        self._check_entity_options(entity_loss_spans, relation_arguments_as_entities, entity_loss_all_weight,
                                   relation_arguments_joint)

    def _check_entity_options(
        self, entity_loss_spans: str, relation_arguments_as_entities: bool, entity_loss_all_weight: float = 1.0,
        relation_arguments_joint: bool = False,
    ) -> None:
        """`entity_loss_spans` needs a pruner and an entity head (and `entity_loss_all_weight`
        `entity_loss_spans="all"`); `relation_arguments_as_entities` an entity head with a null
        label and a relation head; `relation_arguments_joint` `relation_arguments_as_entities`."""
        if entity_loss_spans not in ENTITY_LOSS_SPANS:
            raise ConfigurationError(f"entity_loss_spans must be one of {ENTITY_LOSS_SPANS}, got {entity_loss_spans!r}")
        if entity_loss_all_weight != 1.0 and entity_loss_spans != "all":
            raise ConfigurationError(
                f"entity_loss_all_weight {entity_loss_all_weight} weighs the loss of entity_loss_spans 'all', "
                f"but entity_loss_spans is {entity_loss_spans!r}"
            )
        if entity_loss_spans == "all" and (self._pruner is None or self.entity_head is None):
            raise ConfigurationError(
                f"entity_loss_spans 'all' needs a module with an entity head and a pruner (NerRi, NerRe); "
                f"{type(self).__name__} has entity head {self.ENTITY_HEAD} and {'a' if self._pruner else 'no'} pruner"
            )
        if relation_arguments_as_entities and (
            self.entity_head is None or self.entity_head.null_index is None or self.relation_head is None
        ):
            raise ConfigurationError(
                f"relation_arguments_as_entities needs an entity head with a null label and a relation head; "
                f"{type(self).__name__} has entity head {self.ENTITY_HEAD}, relation head {self.RELATION_HEAD}"
            )
        if relation_arguments_joint and not relation_arguments_as_entities:
            raise ConfigurationError("relation_arguments_joint decides which relation arguments become entities: "
                                     "it needs relation_arguments_as_entities true")

    # ---------------------------------------------------------------- what a stage is
    @property
    def module_name(self) -> str:
        """The module's name: ``ei`` ... ``nerre`` (registered under it; the configs use it)."""
        return self.MODULE

    @property
    def predicts_entities(self) -> bool:
        return self.entity_head is not None

    @property
    def predicts_relations(self) -> bool:
        return self.relation_head is not None

    @property
    def pruner(self) -> Optional[Model]:
        """The span pruner whose top-K spans the module reads (NerRi, NerRe), else None."""
        return self._pruner

    @property
    def can_start_chain(self) -> bool:
        """Whether the module finds entities among all spans up to L (Ei, Ner, NerRi, NerRe), so
        that an approach can start with it; Ec and EcRi/EcRe need given entity spans."""
        return self.entity_head is not None and self.entity_head.kind in ("identify", "classify_null")

    @property
    def needs_related_pairs(self) -> bool:
        """Whether the module only labels pairs an upstream stage found related (Rc)."""
        return self.entity_head is None and self.relation_head is not None and self.relation_head.kind == "classify"

    # ---------------------------------------------------------------- scoring
    def set_training_epoch(self, epoch: int) -> None:
        """The epoch (0-based) the trainer is about to train; called by the ``model_epoch`` callback."""
        self._training_epoch = int(epoch)

    def _mean_field_now(self) -> bool:
        """Whether this pass runs mean field: always outside training; in training not before
        ``mean_field_start_epoch``."""
        if self._inference is None or self._ternary is None:
            return False
        if not self.training or self.mean_field_start_epoch == 0:
            return True
        if self._training_epoch is None:
            raise ConfigurationError(
                f"mean_field_start_epoch {self.mean_field_start_epoch} needs to know the training epoch: add "
                f"{{\"type\": \"model_epoch\"}} to the trainer's callbacks (every shipped config has it)"
            )
        return self._training_epoch >= self.mean_field_start_epoch

    def encode_spans(self, tokens: TextFieldTensors, spans: torch.LongTensor) -> SpanEncoding:
        """tokens, spans [B, m, 2] (-1 = padding) -> the batch's `SpanEncoding` (token vectors, spans, masks)."""
        x = self._embedder(tokens)  # [B, n, D]
        token_mask = util.get_text_field_mask(tokens)  # [B, n]
        span_mask = spans[..., 0] >= 0  # [B, m]
        return SpanEncoding(self._span_extractor, x, spans.clamp(min=0), token_mask, span_mask)

    def default_pair_mask(self, span_mask: torch.Tensor) -> torch.Tensor:
        """All ordered pairs i != j of real spans: [B, m] -> [B, m, m]."""
        m = span_mask.size(1)
        eye = torch.eye(m, dtype=torch.bool, device=span_mask.device)
        return span_mask.unsqueeze(2) & span_mask.unsqueeze(1) & ~eye

    def entity_logits(self, encoding: "SpanEncoding") -> torch.Tensor:
        """The unary entity scores g_i of the encoded spans: [B, m, dent], in float32 at least.
        The MLP and the scorer run on the real spans only ([N, H] first layer)."""
        assert self.entity_head is not None
        hidden = encoding.real_linear(first_linear(self._span_mlp))  # [N, span_hidden_dim]
        scores = self._entity_scorer(feedforward_after_first_linear(self._span_mlp, hidden))  # [N, dent]
        return upcast(self.entity_head.logits(scatter_real(scores, encoding.span_mask)))  # [B, m, dent]

    def infer(
        self, encoding: "SpanEncoding", pair_mask: torch.Tensor, history: Optional[List[torch.Tensor]] = None,
        first_order: Optional[List[torch.Tensor]] = None,
    ) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
        """Encoded spans -> (entity log P [B, m, dent] or None, relation log P [B, m, m, drel] or None).

        The logits are normalised in float32 (float64 for a float64 model): under autocast (or
        ``use_amp``) the layers give half-precision scores, which are upcast before the
        log-softmax, the mention scores' logsumexp and mean-field inference, so the
        log-probabilities are float32. With mean field, `history` (a list) receives the entity
        log Q of every iteration, Q^0 first, and `first_order` (a list) the first-order entity and
        relation log-probabilities (``first_order_loss_weight``)."""
        span_mask = encoding.span_mask
        entity_logits = relation_logits = None
        if self.entity_head is not None:
            entity_logits = self.entity_logits(encoding)  # [B, m, dent]
        if self.relation_head is not None:
            b = encoding.vectors  # [B, m, 2D + w]
            hidden = self._pair_head(b).unsqueeze(2) + self._pair_tail(b).unsqueeze(1)  # [B, m, m, 400]
            hidden = self._pair_mlp(self._pair_dropout(F.relu(hidden)))  # [B, m, m, 400]
            relation_logits = upcast(self.relation_head.logits(self._relation_scorer(hidden)))  # [B, m, m, drel]
            if self.relation_mention_scores and entity_logits is not None:
                relation_logits = self._add_mention_scores(entity_logits, relation_logits)
        if self._mean_field_now():
            assert self._inference is not None and self._ternary is not None
            head, tail = self._ternary(encoding.vectors)  # [B, m, dt] each
            return self._inference(
                entity_logits, relation_logits, head, tail, self._ternary.weight, span_mask, pair_mask, history=history,
                first_order=first_order,
            )
        entity_lp = torch.log_softmax(entity_logits, dim=-1) if entity_logits is not None else None
        relation_lp = torch.log_softmax(relation_logits, dim=-1) if relation_logits is not None else None
        return entity_lp, relation_lp

    def _add_mention_scores(self, entity_logits: torch.Tensor, relation_logits: torch.Tensor) -> torch.Tensor:
        """``relation_mention_scores``: g_ij(r) + m_i + m_j for every non-null relation label r, with
        the mention score m_i = log sum_{a != null} exp g_i(a) - g_i(null), the log-odds of span i
        being an entity. entity_logits [B, m, dent], relation_logits [B, m, m, drel] -> [B, m, m, drel]."""
        assert self.entity_head is not None and self.relation_head is not None
        entity_null, relation_null = self.entity_head.null_index, self.relation_head.null_index
        assert entity_null is not None and relation_null is not None
        real_labels = [k for k in range(entity_logits.size(-1)) if k != entity_null]
        mention = torch.logsumexp(entity_logits[..., real_labels], dim=-1) - entity_logits[..., entity_null]  # [B, m]
        pair = (mention.unsqueeze(2) + mention.unsqueeze(1)).unsqueeze(-1)  # [B, m, m, 1]
        not_null = torch.ones(relation_logits.size(-1), dtype=relation_logits.dtype, device=relation_logits.device)
        not_null[relation_null] = 0.0
        return relation_logits + pair * not_null  # [B, m, m, drel]

    # ---------------------------------------------------------------- decoding
    def decode_entities(self, log_probs: torch.Tensor, spans: torch.Tensor, span_mask: torch.Tensor) -> Entities:
        """log_probs [B, m, E] -> the entities of every sentence (with ``entity_null_offset``)."""
        assert self.entity_head is not None
        return decoding.decode_entities(self.entity_head, log_probs, spans, span_mask, self.entity_null_offset)

    def decode_relations(self, log_probs: torch.Tensor, spans: torch.Tensor, pair_mask: torch.Tensor) -> Relations:
        """log_probs [B, m, m, R] -> the relations of every sentence."""
        assert self.relation_head is not None
        return decoding.decode_relations(self.relation_head, log_probs, spans, pair_mask)

    def score(
        self,
        tokens: TextFieldTensors,
        spans: torch.LongTensor,
        pair_mask: Optional[torch.BoolTensor] = None,
        use_pruner: bool = True,
        span_labels: Optional[torch.LongTensor] = None,
        relation_labels: Optional[torch.LongTensor] = None,
        metadata: Optional[List[Dict[str, Any]]] = None,
    ) -> StageScores:
        """The one code path of a module: prune (a module with a pruner, unless `use_pruner` is
        False: its candidates then come from an upstream stage, as in Ei-NerRe) -> encode the
        spans [B, m, 2] -> the pairs to score (all ordered pairs i != j, within `pair_mask` [B, m, m]
        if given; with gold `relation_labels`, Rc scores only the related ones) -> infer (first
        order or mean field). `forward` adds the loss and the metrics, `predict` decodes."""
        pruner_loss = candidate_spans = candidate_labels = None
        if self._pruner is not None and use_pruner:
            candidate_spans, candidate_labels = spans, span_labels
            spans, span_labels, relation_labels, pruner_loss = self.prune(tokens, spans, span_labels, relation_labels, metadata)
        encoding = self.encode_spans(tokens, spans)
        span_mask = encoding.span_mask  # [B, m]
        default = self.default_pair_mask(span_mask)  # [B, m, m]
        pair_mask = default if pair_mask is None else pair_mask & default
        relation_targets = None
        if relation_labels is not None and self.relation_head is not None:
            relation_targets = self.relation_head.targets(relation_labels)  # [B, m, m]
            if self.relation_head.null_index is None:
                # Rc scores only the pairs it is given: the related ones.
                pair_mask = pair_mask & (relation_targets >= 0)
            else:
                # A pair the reader did not list holds no relation.
                relation_targets = relation_targets.masked_fill(relation_targets < 0, self.relation_head.null_index)
        # Mean-field history only for the flip diagnostic, which needs gold labels (not when predicting).
        wants_history = self._diagnostics is not None and self._inference is not None and span_labels is not None
        history: Optional[List[torch.Tensor]] = [] if wants_history else None
        wants_first_order = self.first_order_loss_weight > 0 and (span_labels is not None or relation_targets is not None)
        first_order: Optional[List[torch.Tensor]] = [] if wants_first_order else None
        entity_lp, relation_lp = self.infer(encoding, pair_mask, history, first_order)
        return StageScores(spans, span_mask, pair_mask, entity_lp, relation_lp, span_labels, relation_targets,
                           pruner_loss, encoding, candidate_spans, candidate_labels, history or None,
                           tuple(first_order) if first_order else None)

    def decode(self, scores: StageScores) -> Tuple[Optional[Entities], Optional[Relations]]:
        """Entities and relations with probabilities per sentence, None for a task the module lacks."""
        entities = relations = None
        if scores.entity_lp is not None:
            entities = self.decode_entities(scores.entity_lp, scores.spans, scores.span_mask)
        if scores.relation_lp is not None:
            relations = self.decode_relations(scores.relation_lp, scores.spans, scores.pair_mask)
        if self.relation_arguments_as_entities and entities is not None and relations is not None:
            assert self.entity_head is not None and scores.entity_lp is not None
            if self.relation_arguments_joint:
                assert self.relation_head is not None and scores.relation_lp is not None
                entities, relations = decoding.decide_relation_arguments(
                    self.entity_head, self.relation_head, entities, relations, scores.entity_lp, scores.relation_lp,
                    scores.spans)
            else:
                entities = decoding.add_relation_arguments(self.entity_head, entities, relations, scores.entity_lp, scores.spans)
        return entities, relations

    def predict(
        self,
        tokens: TextFieldTensors,
        spans: torch.LongTensor,
        pair_mask: Optional[torch.BoolTensor] = None,
        use_pruner: bool = True,
    ) -> StagePrediction:
        """Decodes candidate `spans` [B, m, 2] (and `pair_mask` [B, m, m]) for a pipeline stage:
        entities and relations with probabilities, or None for a task the module lacks (`score`)."""
        scores = self.score(tokens, spans, pair_mask, use_pruner)
        entities, relations = self.decode(scores)
        candidates = [[tuple(span) for span, real in zip(s, m) if real]
                      for s, m in zip(scores.spans.tolist(), scores.span_mask.tolist())]
        return StagePrediction(candidates, entities, relations)

    # ---------------------------------------------------------------- training
    @overrides
    def train(self, mode: bool = True) -> "SpanModel":
        super().train(mode)
        if self._pruner is not None and not self._train_pruner:
            self._pruner.eval()  # a frozen pruner never uses dropout
        return self

    @property
    def _pruned_cache(self) -> Optional[Dict[Tuple[Tuple[str, ...], int], List[int]]]:
        """A frozen pruner's cached choice per sentence (``cache_pruned_spans``), else None."""
        return self._pruning.cache if self._pruning is not None else None

    def prune(
        self,
        tokens: TextFieldTensors,
        spans: torch.LongTensor,
        span_labels: Optional[torch.LongTensor] = None,
        relation_labels: Optional[torch.LongTensor] = None,
        metadata: Optional[List[Dict[str, Any]]] = None,
    ) -> Tuple[torch.LongTensor, Optional[torch.LongTensor], Optional[torch.LongTensor], Optional[torch.Tensor]]:
        """Keeps the pruner's top-K of all candidates (`CandidatePruning`): spans [B, M, 2] ->
        [B, K, 2] (-1 padding), span labels [B, M] -> [B, K], relation labels [B, M, M] -> [B, K, K];
        also returns the pruner's loss when it is trained in this run (else None). A frozen
        pruner's choice for a sentence is computed once and reused (``cache_pruned_spans``; needs
        `metadata`)."""
        assert self._pruning is not None
        index, keep, loss = self._pruning.select(tokens, spans, span_labels, metadata)  # [B, K] each
        kept, kept_labels, kept_relations = gather_kept(index, keep, spans, span_labels, relation_labels)
        return kept, kept_labels, kept_relations, loss

    @overrides(check_signature=False)  # outputs hold decoded lists besides tensors
    def forward(  # type: ignore
        self,
        tokens: TextFieldTensors,
        spans: torch.LongTensor,
        metadata: List[Dict[str, Any]],
        span_labels: Optional[torch.LongTensor] = None,
        relation_labels: Optional[torch.LongTensor] = None,
    ) -> Dict[str, Any]:
        scores = self.score(tokens, spans, None, True, span_labels, relation_labels, metadata)
        output: Dict[str, Any] = {}
        if span_labels is not None or relation_labels is not None:
            output["loss"] = self._loss(scores, len(metadata))
        # Decoded here, not in make_output_human_readable: the metrics below need the decoded
        # entities and relations of every batch, so decoding later would do it twice.
        entities, relations = self.decode(scores)
        output.update(decoded_output(metadata, entities, relations))
        if all(meta.get("has_gold") for meta in metadata):
            if self._diagnostics is not None:
                self._diagnose(scores, relations, metadata)
            predicted = [
                {
                    "entities": [e for e, _ in entities[k]] if entities is not None else self._given_entities(meta),
                    "relations": [r for r, _ in relations[k]] if relations is not None else [],
                }
                for k, meta in enumerate(metadata)
            ]
            gold = [{"entities": m["gold_entities"], "relations": m["gold_relations"]} for m in metadata]
            self._metric(predicted, gold)
        return output

    def _loss(self, scores: StageScores, num_sentences: int) -> torch.Tensor:
        """The training loss of a batch: the in-run pruner's, the entity part over the scored
        spans (and over all candidates with ``entity_loss_spans="all"``), the relation part over
        the scored pairs (weighted by ``relation_loss_weight`` / ``null_relation_weight``), and
        with ``first_order_loss_weight`` the same two parts on the first-order posteriors."""
        loss = scores.encoding.x.new_zeros(()) if scores.pruner_loss is None else scores.pruner_loss
        loss = loss + self._task_loss(scores, scores.entity_lp, scores.relation_lp, num_sentences, "")
        if self.entity_loss_spans == "all" and scores.candidate_labels is not None:
            loss = loss + self.entity_loss_all_weight * self._candidate_entity_loss(scores, num_sentences)
        if scores.first_order_lp is not None:
            entity_lp, relation_lp = scores.first_order_lp
            loss = loss + self.first_order_loss_weight * self._task_loss(
                scores, entity_lp, relation_lp, num_sentences, "_first_order"
            )
        return loss

    def _task_loss(
        self, scores: StageScores, entity_lp: Optional[torch.Tensor], relation_lp: Optional[torch.Tensor],
        num_sentences: int, suffix: str,
    ) -> torch.Tensor:
        """The entity part (entity_lp [B, m, E] over the scored spans) plus the weighted relation
        part (relation_lp [B, m, m, R] over the scored pairs); `suffix` names them for the diagnostics."""
        loss = scores.encoding.x.new_zeros(())
        if scores.span_labels is not None and entity_lp is not None and self.entity_head is not None:
            targets = self.entity_head.targets(scores.span_labels).masked_fill(~scores.span_mask, -1)  # [B, m]
            loss = loss + self._loss_part(f"loss_ent{suffix}", entity_lp.flatten(0, 1), targets.flatten(), num_sentences)
        if scores.relation_targets is not None and relation_lp is not None and self.relation_head is not None:
            targets = scores.relation_targets.masked_fill(~scores.pair_mask, -1)  # [B, m, m]
            null = self.relation_head.null_index if self.null_relation_weight != 1.0 else None
            relation_loss = self._loss_part(
                f"loss_rel{suffix}", relation_lp.flatten(0, 2), targets.flatten(), num_sentences, null,
                self.null_relation_weight,
            )
            loss = loss + self.relation_loss_weight * relation_loss
        return loss

    def _diagnose(self, scores: StageScores, relations: Optional[Relations], metadata: List[Dict[str, Any]]) -> None:
        """``diagnostic_metrics``: the pair shares, the mean-field flips and the pruner's ceilings
        of a batch with gold annotations (`TrainingDiagnostics`)."""
        assert self._diagnostics is not None
        if relations is not None:
            self._diagnostics.relation_pairs(
                sum(len(r) for r in relations), scores.relation_targets, scores.pair_mask,
                self.relation_head.null_index if self.relation_head is not None else None,
            )
        if scores.entity_history is not None and scores.span_labels is not None and self.entity_head is not None:
            gold = self.entity_head.targets(scores.span_labels).masked_fill(~scores.span_mask, -1)  # [B, m]
            decisions = [self.entity_head.decided(lp, self.entity_null_offset) for lp in scores.entity_history]
            self._diagnostics.mean_field_flips(decisions, gold)
        if self._pruner is not None:
            kept = [[tuple(span) for span in row if span[0] >= 0] for row in scores.spans.tolist()]
            self._diagnostics.pruning(
                kept, [m["gold_entities"] for m in metadata], [m["gold_relations"] for m in metadata], self.max_span_width
            )

    def _candidate_entity_loss(self, scores: StageScores, num_sentences: int) -> torch.Tensor:
        """``entity_loss_spans="all"``: the first-order entity cross-entropy over every candidate
        span before pruning ([B, M] spans; Ner's loss), on the module's own token vectors."""
        assert self.entity_head is not None and scores.candidate_spans is not None and scores.candidate_labels is not None
        candidates = scores.candidate_spans  # [B, M, 2]
        mask = candidates[..., 0] >= 0  # [B, M]
        encoding = SpanEncoding(self._span_extractor, scores.encoding.x, candidates.clamp(min=0),
                                scores.encoding.token_mask, mask)
        log_probs = torch.log_softmax(self.entity_logits(encoding), dim=-1)  # [B, M, dent]
        targets = self.entity_head.targets(scores.candidate_labels).masked_fill(~mask, -1)  # [B, M]
        return self._loss_part("loss_ent_all", log_probs.flatten(0, 1), targets.flatten(), num_sentences)

    def _loss_part(
        self,
        name: str,
        log_probs: torch.Tensor,
        targets: torch.Tensor,
        num_sentences: int,
        null_index: Optional[int] = None,
        null_weight: float = 1.0,
    ) -> torch.Tensor:
        """Cross-entropy of log_probs [N, d] against targets [N] (-1 = not scored): summed (the
        paper) or averaged over the scored items (``loss_normalisation="mean"``); items whose
        target is `null_index` count `null_weight` times."""
        if null_index is None:
            total = F.nll_loss(log_probs, targets, ignore_index=-1, reduction="sum")
        else:
            losses = F.nll_loss(log_probs, targets, ignore_index=-1, reduction="none")  # [N], 0 where ignored
            total = (losses * torch.where(targets == null_index, null_weight, 1.0)).sum()
        if self._diagnostics is not None:
            self._diagnostics.loss(name, float(total.detach()), num_sentences)
        if self.loss_normalisation == "mean":
            return total / (targets >= 0).sum().clamp(min=1)
        return total

    @staticmethod
    def _given_entities(meta: Dict[str, Any]) -> List[Entity]:
        """The candidate spans a relation-only module was given, with their known labels."""
        label_of = {(e.start, e.end): e.label for e in meta.get("gold_entities", [])}
        return [Entity(s, e, label_of.get((s, e))) for s, e in meta.get("candidate_spans", [])]

    @overrides
    def get_metrics(self, reset: bool = False) -> Dict[str, float]:
        metrics = self._metric.get_metric(reset)
        metrics = {k: v for k, v in metrics.items() if k.rsplit("_", 1)[0] in self._metric_keys}
        if self._diagnostics is not None:
            metrics.update(self._diagnostics.get_metric(reset, pruned=self._pruner is not None))
        return metrics

    default_predictor = "ere"
