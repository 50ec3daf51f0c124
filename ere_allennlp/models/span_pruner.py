"""The span pruner of Appendix A: keeps the top-K candidate spans of each sentence."""
import logging
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from allennlp.common.checks import ConfigurationError
from allennlp.data import TextFieldTensors, Vocabulary
from allennlp.models.model import Model
from allennlp.modules import FeedForward, TextFieldEmbedder
from allennlp.modules.span_extractors import SelfAttentiveSpanExtractor
from allennlp.nn import Activation, InitializerApplicator, RegularizerApplicator, util
from overrides import overrides

from ere_allennlp.archival import ArchivePathsMixin
from ere_allennlp.common import NULL_LABEL, Entity, decoded_output
from ere_allennlp.metrics.span_recall import SpanRecall
from ere_allennlp.models.candidate_pruning import pruner_loss
from ere_allennlp.allennlp_internals import feedforward_after_first_linear, first_linear, tensor_version
from ere_allennlp.nn_util import full_precision, scatter_real, upcast
from ere_allennlp.span_extractors.biaffine import BiaffineSpanExtractor

logger = logging.getLogger(__name__)


@Model.register("span_pruner")
class SpanPruner(ArchivePathsMixin, Model):
    """
    Scores every candidate span as an entity or not and keeps the K best of each sentence,
    K = max(ml, min(mu, floor(alpha * n))) for a sentence of n words (never more than its
    candidates). The span vector is h = MLP([h_b; h_a]) (two layers, relu) of the bi-affine
    endpoint vector h_b and the self-attention pooling h_a of the span's tokens; the score is
    g = Linear(h). Trained with binary cross-entropy (target 1 for gold entity spans) summed over
    the candidates.

    Other models use it through `score_spans`, `select` and `prune`.

    # Parameters

    vocab : `Vocabulary`
    embedder : `TextFieldEmbedder`
        Normally ``pretrained_transformer_mismatched`` with ``sub_token_mode: "first"``.
    biaffine_dim : `int`, optional (default = `768`)
        d_biaf.
    biaffine_projection_dim : `int`, optional (default = `None`)
        Project the tokens to this size before the bi-affine product (None: no projection, W is
        [D+1, d_biaf, D+1]). Not in the paper; the shipped configs use 128.
    hidden_dim : `int`, optional (default = `768`)
        d_cat, the MLP size.
    dropout : `float`, optional (default = `0.1`)
        On the token vectors and in the MLP.
    ratio : `float`, optional (default = `0.5`)
        alpha.
    min_spans : `int`, optional (default = `3`)
        ml.
    max_spans : `int`, optional (default = `18`)
        mu.
    initializer : `InitializerApplicator`, optional
    regularizer : `RegularizerApplicator`, optional

    Outputs ``predicted_ner`` per sentence (kept spans ``[start, end, None, probability]``,
    sentence-local, by position) and the metrics ``pruner_p``, ``pruner_r``, ``pruner_f1``
    (kept spans against all gold entity spans) and ``pruner_k`` (mean kept spans per sentence).
    """

    METRIC_PREFIX = "pruner"  # of the names of its metrics (above)

    def __init__(
        self,
        vocab: Vocabulary,
        embedder: TextFieldEmbedder,
        biaffine_dim: int = 768,
        biaffine_projection_dim: Optional[int] = None,
        hidden_dim: int = 768,
        dropout: float = 0.1,
        ratio: float = 0.5,
        min_spans: int = 3,
        max_spans: int = 18,
        initializer: Optional[InitializerApplicator] = None,
        regularizer: Optional[RegularizerApplicator] = None,
        **kwargs,
    ) -> None:
        super().__init__(vocab, regularizer, **kwargs)
        if ratio < 0 or min_spans < 0 or max_spans < min_spans:
            raise ConfigurationError(
                f"need ratio >= 0 and 0 <= min_spans <= max_spans, got ratio={ratio}, "
                f"min_spans={min_spans}, max_spans={max_spans}"
            )
        self._embedder = embedder
        token_dim = embedder.get_output_dim()
        self._dropout = torch.nn.Dropout(dropout)
        self._biaffine = BiaffineSpanExtractor(token_dim, biaffine_dim, biaffine_projection_dim)
        self._attentive = SelfAttentiveSpanExtractor(token_dim)
        span_dim = self._biaffine.get_output_dim() + self._attentive.get_output_dim()
        self._span_mlp = FeedForward(span_dim, 2, hidden_dim, Activation.by_name("relu")(), dropout)
        self._scorer = torch.nn.Linear(hidden_dim, 1)
        self.ratio = ratio
        self.min_spans = min_spans
        self.max_spans = max_spans
        # Vocabulary index of the non-entity label; -1 if there is none (every labelled span is an entity).
        labels = vocab.get_token_to_index_vocabulary("entity_labels")
        self._null_index = labels[NULL_LABEL] if NULL_LABEL in labels else -1
        self._metric = SpanRecall()
        # (key of the weights it was computed from, folded bi-affine weight); see `_folded_first_layer`.
        # A cache derived from the weights, not a buffer: the key names their device and dtype, so
        # it is recomputed after `.cuda()` / `.to()`.
        self._folded: Optional[Tuple[Tuple[Any, ...], torch.Tensor]] = None
        if initializer is not None:
            initializer(self)

    # ---------------------------------------------------------------- scoring
    def score_spans(self, tokens: TextFieldTensors, spans: torch.LongTensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """tokens, spans [B, M, 2] (-1 = padding) -> (logits g [B, M], span_mask [B, M] bool).

        Only the real spans are scored. With all spans up to L, sentences of different lengths
        leave most of the [B, M] rows as padding (SciERC train, batch 20: 16,680 rows, 5,046
        real), so the batch is flattened into one sequence of B * n tokens and the real spans are
        shifted into it; no span crosses its sentence, so the extractors see the same tokens."""
        x = self._dropout(self._embedder(tokens))  # [B, n, D]
        token_mask = util.get_text_field_mask(tokens)  # [B, n]
        span_mask = spans[..., 0] >= 0  # [B, M]
        batch_size, num_tokens, dim = x.shape
        real = span_mask.nonzero(as_tuple=True)  # N real spans: (sentence, position) indices
        if real[0].numel() == 0:
            # No candidate at all; keep the graph connected to the parameters for the loss.
            return upcast(x.new_zeros(span_mask.shape) + 0 * self._scorer.bias.sum()), span_mask
        shift = torch.arange(batch_size, device=spans.device).view(batch_size, 1, 1) * num_tokens
        flat_spans = (spans.clamp(min=0) + shift)[real].unsqueeze(0)  # [1, N, 2]
        flat_x = x.reshape(1, batch_size * num_tokens, dim)  # [1, B*n, D]
        flat_mask = token_mask.reshape(1, -1)  # [1, B*n]
        if self._can_fold():
            hidden = self._folded_first_layer(flat_x, flat_spans, flat_mask)  # [1, N, hidden_dim]
        else:
            h_b = self._biaffine(flat_x, flat_spans, flat_mask)  # [1, N, biaffine_dim]
            h_a = self._attentive(flat_x, flat_spans, flat_mask)  # [1, N, D]
            hidden = first_linear(self._span_mlp)(torch.cat([h_b, h_a], dim=-1))  # [1, N, hidden_dim]
        real_scores = self._scorer(feedforward_after_first_linear(self._span_mlp, hidden)).view(-1, 1)  # [N, 1]
        # float32 (a half-precision score under autocast is upcast) for the loss and the top-K.
        return upcast(scatter_real(real_scores, span_mask).squeeze(-1)), span_mask  # [B, M]

    def _can_fold(self) -> bool:
        """Whether the first MLP layer may be folded into the extractors: in eval mode, and only when
        no gradient is asked for the weights (the folded weight is computed once, detached)."""
        first = first_linear(self._span_mlp)
        wants_grad = torch.is_grad_enabled() and (first.weight.requires_grad or self._biaffine.weight.requires_grad)
        return not self.training and not wants_grad

    def _folded_first_layer(
        self, x: torch.Tensor, spans: torch.LongTensor, token_mask: torch.Tensor
    ) -> torch.Tensor:
        """The first MLP layer's output W1 [h_b; h_a] + b1 with the bi-affine product folded in (exact, eval only).

        W1 = [W1_b, W1_a]. W1_b h_b is a bi-affine product of its own (`BiaffineSpanExtractor.fold`:
        the [hidden, d_biaf] map goes into W), so no d_biaf-sized span vector is built and its
        product with W1_b (d_biaf * hidden per span, ~9 spans per token with L = 12) is not
        computed. x [1, T, D], spans [1, N, 2], token_mask [1, T] -> [1, N, hidden_dim].

        The folded weight is computed in the weights' own dtype with autocast off (under autocast it
        would be half precision, and a later forward pass without autocast would then multiply float32
        tokens by it and fail), and recomputed when the weights change, move or change dtype.
        """
        first = first_linear(self._span_mlp)
        biaffine_dim = self._biaffine.get_output_dim()
        weights = (first.weight, self._biaffine.weight)
        key = tuple((w.data_ptr(), tensor_version(w), w.device, w.dtype) for w in weights)
        if self._folded is None or self._folded[0] != key:
            with torch.inference_mode(False), torch.no_grad(), full_precision(first.weight.device):
                self._folded = (key, self._biaffine.fold(first.weight[:, :biaffine_dim]))
        hidden_b = self._biaffine(x, spans, token_mask, weight=self._folded[1])  # [1, N, hidden_dim]
        h_a = self._attentive(x, spans, token_mask)  # [1, N, D]
        hidden_a = F.linear(h_a, first.weight[:, biaffine_dim:], first.bias)  # [1, N, hidden_dim]
        return hidden_b + hidden_a

    def num_kept(self, num_tokens: torch.Tensor, span_mask: torch.Tensor) -> torch.LongTensor:
        """K per sentence: max(ml, min(mu, floor(alpha * n))), at most the number of real spans. [B]"""
        k = torch.floor(num_tokens.double() * self.ratio).long()  # [B]
        k = k.clamp(max=self.max_spans).clamp(min=self.min_spans)
        return torch.minimum(k, span_mask.long().sum(-1))

    def select(
        self, scores: torch.Tensor, span_mask: torch.Tensor, num_tokens: torch.Tensor
    ) -> Tuple[torch.LongTensor, torch.BoolTensor]:
        """The top-K spans of each sentence.

        scores [B, M], span_mask [B, M] bool, num_tokens [B] (words per sentence) ->
        (indices [B, K_max] into the M candidates, ascending within a sentence; keep_mask [B, K_max]).
        Positions past a sentence's K hold index 0 and mask False.
        """
        batch_size = scores.size(0)
        k = self.num_kept(num_tokens.to(scores.device), span_mask)  # [B]
        k_max = int(k.max()) if batch_size > 0 else 0
        if k_max == 0:
            empty = torch.zeros(batch_size, 0, dtype=torch.long, device=scores.device)
            return empty, empty.bool()
        masked = scores.detach().masked_fill(~span_mask, float("-inf"))  # [B, M]
        _, top = masked.topk(k_max, dim=-1)  # [B, K_max]
        keep = torch.arange(k_max, device=scores.device).unsqueeze(0) < k.unsqueeze(1)  # [B, K_max]
        # Sort the kept indices by position; dropped ones (set past every index) go to the end.
        num_spans = scores.size(1)
        indices, _ = top.masked_fill(~keep, num_spans).sort(dim=-1)  # [B, K_max]
        return indices.masked_fill(~keep, 0), keep

    def prune(self, tokens: TextFieldTensors, spans: torch.LongTensor) -> Tuple[torch.LongTensor, torch.BoolTensor]:
        """tokens, spans [B, M, 2] -> (indices [B, K_max], keep_mask [B, K_max]) of the kept spans."""
        scores, span_mask = self.score_spans(tokens, spans)
        num_tokens = util.get_text_field_mask(tokens).sum(-1)  # [B]
        return self.select(scores, span_mask, num_tokens)

    # ---------------------------------------------------------------- training
    @overrides(check_signature=False)  # outputs hold lists too, not only tensors
    def forward(  # type: ignore
        self,
        tokens: TextFieldTensors,
        spans: torch.LongTensor,
        metadata: List[Dict[str, Any]],
        span_labels: Optional[torch.LongTensor] = None,
    ) -> Dict[str, Any]:
        scores, span_mask = self.score_spans(tokens, spans)  # [B, M] each
        num_tokens = util.get_text_field_mask(tokens).sum(-1)  # [B]
        indices, keep = self.select(scores, span_mask, num_tokens)  # [B, K_max] each

        output: Dict[str, Any] = {}
        if span_labels is not None:
            output["loss"] = pruner_loss(scores, span_labels, span_mask, self._null_index)

        probabilities = torch.sigmoid(scores.detach())  # [B, M]
        kept_spans = spans.gather(1, indices.unsqueeze(-1).expand(-1, -1, 2))  # [B, K_max, 2]
        kept_probabilities = probabilities.gather(1, indices)  # [B, K_max]
        kept_l, probabilities_l = kept_spans.tolist(), kept_probabilities.tolist()
        kept_entities = [
            [(Entity(*kept_l[k][i]), probabilities_l[k][i]) for i, kept in enumerate(row) if kept]
            for k, row in enumerate(keep.tolist())
        ]
        output.update(decoded_output(metadata, kept_entities))
        predicted = output["predicted_ner"]

        scored = [k for k, meta in enumerate(metadata) if meta.get("has_gold")]
        if scored:
            self._metric(
                [[span[:2] for span in predicted[k]] for k in scored],
                [metadata[k]["gold_entities"] for k in scored],
            )
        return output

    @overrides
    def get_metrics(self, reset: bool = False) -> Dict[str, float]:
        return {f"{self.METRIC_PREFIX}_{key}": value for key, value in self._metric.get_metric(reset).items()}

    default_predictor = "ere"
