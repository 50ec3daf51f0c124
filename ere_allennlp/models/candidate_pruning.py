"""How a module with a span pruner (NerRi, NerRe, NerRe*) keeps the pruner's top-K candidates:
`CandidatePruning` runs the pruner (frozen or trained in the same run), caches a frozen pruner's
choice per sentence, and gathers the kept spans' labels; `pruner_loss` is the pruner's binary
cross-entropy, the one definition `SpanPruner.forward` and the in-run pruner both use."""
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from allennlp.data import TextFieldTensors
from allennlp.nn import util

# At most this many sentences' pruner choices are cached (a few hundred bytes each).
PRUNED_CACHE_MAX = 500_000

CacheKey = Tuple[Tuple[str, ...], int]


def pruner_loss(scores: torch.Tensor, span_labels: torch.Tensor, span_mask: torch.Tensor, null_index: int) -> torch.Tensor:
    """The pruner's loss (Appendix A): the summed binary cross-entropy of its logits scores [B, M]
    against "is an entity", over the real spans of span_mask [B, M]. A span is an entity when its
    vocabulary label [B, M] is neither `null_index` nor negative (padding); padded spans (whatever
    their label holds: AllenNLP pads labels with 0 or -1) add nothing."""
    targets = ((span_labels >= 0) & (span_labels != null_index)).to(scores.dtype)  # [B, M]
    losses = F.binary_cross_entropy_with_logits(scores, targets, reduction="none")  # [B, M]
    return (losses * span_mask.to(scores.dtype)).sum()


class CandidatePruning:
    """The pruner's top-K of a module's candidates. Holds a reference to the pruner, which stays
    registered on the module (its weights keep their state-dict names, ``_pruner.*``).

    # Parameters

    pruner : `SpanPruner`
    trained : `bool`
        Trained in the same run (its loss is returned, nothing is cached) or frozen.
    cache : `bool`
        Cache a frozen pruner's choice per sentence (``cache_pruned_spans``): the same top-K every
        epoch, computed once.
    null_index : `int`
        The vocabulary index of the null entity label (-2 when there is none).
    mean_loss : `bool`, optional (default = `False`)
        The in-run pruner's loss averaged over the real candidates (``loss_normalisation="mean"``)
        instead of summed.
    """

    def __init__(self, pruner: Any, trained: bool, cache: bool, null_index: int, mean_loss: bool = False) -> None:
        self.pruner = pruner
        self.trained = trained
        self.null_index = null_index
        self.mean_loss = mean_loss
        # (words, number of candidates) -> kept candidate indices, ascending.
        self.cache: Optional[Dict[CacheKey, List[int]]] = {} if cache and not trained else None

    def cache_keys(self, spans: torch.LongTensor, metadata: Optional[List[Dict[str, Any]]]) -> Optional[List[CacheKey]]:
        """The cache key of each sentence (its words and number of candidates), or None when the
        choice is not cached (a trained pruner, no metadata)."""
        if self.cache is None or metadata is None or any("words" not in meta for meta in metadata):
            return None
        counts = (spans[..., 0] >= 0).sum(-1).tolist()  # [B]
        return [(tuple(meta["words"]), count) for meta, count in zip(metadata, counts)]

    def cached_selection(self, keys: List[CacheKey], device: torch.device) -> Tuple[torch.LongTensor, torch.BoolTensor]:
        """The cached kept indices of every sentence as `SpanPruner.select` returns them:
        (indices [B, K_max], ascending, 0 past a sentence's K; keep_mask [B, K_max])."""
        assert self.cache is not None
        chosen = [self.cache[key] for key in keys]
        k_max = max((len(c) for c in chosen), default=0)
        index = torch.zeros(len(chosen), k_max, dtype=torch.long)
        keep = torch.zeros(len(chosen), k_max, dtype=torch.bool)
        for row, kept in enumerate(chosen):
            index[row, : len(kept)] = torch.tensor(kept, dtype=torch.long)
            keep[row, : len(kept)] = True
        return index.to(device), keep.to(device)

    def select(
        self,
        tokens: TextFieldTensors,
        spans: torch.LongTensor,
        span_labels: Optional[torch.LongTensor],
        metadata: Optional[List[Dict[str, Any]]],
    ) -> Tuple[torch.LongTensor, torch.BoolTensor, Optional[torch.Tensor]]:
        """Which candidates spans [B, M, 2] to keep: (indices [B, K], keep [B, K], the pruner's
        summed loss when it is trained here and labels are given, else None)."""
        keys = self.cache_keys(spans, metadata)
        if keys is not None and all(key in self.cache for key in keys):
            index, keep = self.cached_selection(keys, spans.device)
            return index, keep, None
        with torch.set_grad_enabled(self.trained and torch.is_grad_enabled()):
            scores, all_mask = self.pruner.score_spans(tokens, spans)  # [B, M]
        loss = None
        if self.trained and span_labels is not None:
            loss = pruner_loss(scores, span_labels, all_mask, self.null_index)
            if self.mean_loss:
                loss = loss / all_mask.sum().clamp(min=1)
        num_tokens = util.get_text_field_mask(tokens).sum(-1)  # [B]
        index, keep = self.pruner.select(scores.detach(), all_mask, num_tokens)  # [B, K]
        if keys is not None and len(self.cache) < PRUNED_CACHE_MAX:
            for key, row, kept in zip(keys, index.tolist(), keep.tolist()):
                self.cache[key] = [i for i, k in zip(row, kept) if k]
        return index, keep, loss


def gather_kept(
    index: torch.LongTensor,
    keep: torch.BoolTensor,
    spans: torch.LongTensor,
    span_labels: Optional[torch.LongTensor],
    relation_labels: Optional[torch.Tensor],
) -> Tuple[torch.LongTensor, Optional[torch.LongTensor], Optional[torch.LongTensor]]:
    """The kept candidates index / keep [B, K]: spans [B, M, 2] -> [B, K, 2] (-1 padding), span
    labels [B, M] -> [B, K], relation labels [B, M, M] -> [B, K, K] (-1 where not kept)."""
    spans = util.batched_index_select(spans, index).masked_fill(~keep.unsqueeze(-1), -1)  # [B, K, 2]
    if span_labels is not None:
        span_labels = util.batched_index_select(span_labels.unsqueeze(-1), index).squeeze(-1)  # [B, K]
        span_labels = span_labels.masked_fill(~keep, -1)
    if relation_labels is not None:
        relation_labels = relation_labels.long()
        k, m = index.size(1), relation_labels.size(1)
        rows = relation_labels.gather(1, index.unsqueeze(-1).expand(-1, -1, m))  # [B, K, M]
        relation_labels = rows.gather(2, index.unsqueeze(1).expand(-1, k, -1))  # [B, K, K]
        relation_labels = relation_labels.masked_fill(~(keep.unsqueeze(2) & keep.unsqueeze(1)), -1)
    return spans, span_labels, relation_labels
