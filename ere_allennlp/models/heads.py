"""Label spaces of the three kinds of heads (identify, classify, classify with a null label).

A head maps the gold labels of a vocabulary namespace onto the indices of its own scores and
decodes probabilities back into labels. Index 0 of an ``identify`` head is "absent", whose score
is fixed at zero; index 1 is "present". A ``classify`` head scores only the gold label set
(Ec, Rc); a ``classify_null`` head adds a learned null label at index 0 (Ner, Re).
"""
from typing import List, Optional, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary

from ere_allennlp.common import NULL_LABEL

HEAD_KINDS = ("identify", "classify", "classify_null")


class Head(torch.nn.Module):
    """The label space of one head over the vocabulary namespace `namespace`.

    A `torch.nn.Module` without parameters, so that its index map (``vocab_to_head``, a buffer
    that is not saved: it derives from the vocabulary) moves with the model (``.cuda()``, ``.to()``).

    # Parameters

    kind : `str`
        ``identify``, ``classify`` or ``classify_null`` (the module docstring).
    vocab : `Vocabulary`
    namespace : `str`
        ``entity_labels`` or ``relation_labels``.
    """

    def __init__(self, kind: str, vocab: Vocabulary, namespace: str) -> None:
        super().__init__()
        if kind not in HEAD_KINDS:
            raise ConfigurationError(f"head kind must be one of {HEAD_KINDS}, got {kind!r}")
        self.kind = kind
        token_to_index = vocab.get_token_to_index_vocabulary(namespace)
        gold_labels = [t for t, _ in sorted(token_to_index.items(), key=lambda x: x[1]) if t != NULL_LABEL]
        if kind == "classify" and not gold_labels:
            raise ConfigurationError(
                f"a classification head needs labels in the vocabulary namespace '{namespace}', found none"
            )
        # head index of each vocabulary index; -1: not a training target of this head.
        mapping = [-1] * max(len(token_to_index), 1)
        if kind == "identify":
            self.labels: List[Optional[str]] = [None, None]
            for token, index in token_to_index.items():
                mapping[index] = 0 if token == NULL_LABEL else 1
        elif kind == "classify":
            self.labels = list(gold_labels)
            for k, token in enumerate(gold_labels):
                mapping[token_to_index[token]] = k
        else:
            self.labels = [None] + gold_labels
            for token, index in token_to_index.items():
                mapping[index] = 0 if token == NULL_LABEL else gold_labels.index(token) + 1
        self.vocab_to_head: torch.Tensor
        self.register_buffer("vocab_to_head", torch.tensor(mapping, dtype=torch.long), persistent=False)
        self.size = len(self.labels)
        # Scores computed by the linear scorer; identification scores only "present".
        self.num_scores = 1 if kind == "identify" else self.size
        # Label indices whose unary and ternary scores are fixed at zero.
        self.fixed: Tuple[int, ...] = (0,) if kind == "identify" else ()
        # Index that means "no entity / no relation", if the head has one.
        self.null_index: Optional[int] = None if kind == "classify" else 0

    def logits(self, scores: torch.Tensor) -> torch.Tensor:
        """[..., num_scores] linear scores -> [..., size] logits (prepends the fixed zero)."""
        if self.kind == "identify":
            return torch.cat([torch.zeros_like(scores), scores], dim=-1)
        return scores

    def targets(self, vocab_labels: torch.Tensor) -> torch.Tensor:
        """Vocabulary label indices (-1 = padding) -> head indices (-1 = ignored in the loss)."""
        mapping = self.vocab_to_head.to(vocab_labels.device)  # already there once the model is moved
        vocab_labels = vocab_labels.long()  # AdjacencyField pads with a float tensor
        return torch.where(vocab_labels >= 0, mapping[vocab_labels.clamp(min=0)], -1)

    def decide(
        self, log_probs: torch.Tensor, null_offset: float = 0.0
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """[..., size] log-probabilities -> (predicted?, head label index, probability).

        identify: present when P(present) > 0.5 (a unary score above 0 under first-order
        inference); classify: always the best gold label; classify_null: the best label unless it
        is null. `null_offset` (classify_null only; 0 = the paper's argmax) is subtracted from the
        null label's log-probability before the argmax: a label is chosen over null once its
        probability exceeds P(null) * exp(-null_offset). The probability returned is the label's
        own, unchanged by the offset.
        """
        probs = log_probs.exp()
        if self.kind == "identify":
            score = probs[..., 1]
            return score > 0.5, torch.ones_like(score, dtype=torch.long), score
        if self.kind == "classify_null" and null_offset != 0.0:
            shifted = log_probs.clone()
            shifted[..., 0] -= null_offset
            index = shifted.argmax(dim=-1)
            return index != 0, index, probs.gather(-1, index.unsqueeze(-1)).squeeze(-1)
        score, index = probs.max(dim=-1)
        if self.kind == "classify":
            return torch.ones_like(index, dtype=torch.bool), index, score
        return index != 0, index, score

    def decided(self, log_probs: torch.Tensor, null_offset: float = 0.0) -> torch.Tensor:
        """[..., size] log-probabilities -> the head label index `decide` chooses, 0 (null, absent)
        where it predicts nothing: comparable with `targets`."""
        keep, index, _ = self.decide(log_probs, null_offset)
        return torch.where(keep, index, 0)

    def best_label(self, log_probs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """[..., size] log-probabilities -> (head index, probability) of the most probable label
        that is not null (classify_null; for the other kinds `decide`'s choice)."""
        if self.kind != "classify_null" or self.size < 2:
            _, index, score = self.decide(log_probs)
            return index, score
        score, index = log_probs[..., 1:].exp().max(dim=-1)
        return index + 1, score
