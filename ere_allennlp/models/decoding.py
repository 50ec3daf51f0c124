"""Decoding a module's log-probabilities into entities and relations with their probabilities, per
sentence (sentence-local offsets): what `SpanModel.decode` calls for each head."""
from typing import List, Tuple

import torch

from ere_allennlp.common import Entity, Relation
from ere_allennlp.models.heads import Head

Entities = List[List[Tuple[Entity, float]]]
Relations = List[List[Tuple[Relation, float]]]


def decode_entities(
    head: Head, log_probs: torch.Tensor, spans: torch.Tensor, span_mask: torch.Tensor, null_offset: float = 0.0
) -> Entities:
    """log_probs [B, m, E], spans [B, m, 2], span_mask [B, m] -> the entities `head` decides on
    (`Head.decide` with `null_offset`), in span order."""
    keep, index, score = head.decide(log_probs, null_offset)
    keep = keep & span_mask
    out: Entities = [[] for _ in range(spans.size(0))]
    spans_l, index_l, score_l = spans.tolist(), index.tolist(), score.tolist()
    for k, i in keep.nonzero().tolist():
        start, end = spans_l[k][i]
        out[k].append((Entity(start, end, head.labels[index_l[k][i]]), score_l[k][i]))
    return out


def decode_relations(head: Head, log_probs: torch.Tensor, spans: torch.Tensor, pair_mask: torch.Tensor) -> Relations:
    """log_probs [B, m, m, R], spans [B, m, 2], pair_mask [B, m, m] -> the relations `head`
    decides on, in pair order."""
    keep, index, score = head.decide(log_probs)
    keep = keep & pair_mask
    out: Relations = [[] for _ in range(spans.size(0))]
    spans_l = spans.tolist()
    found = keep.nonzero()  # [N, 3]
    labels = index[keep].tolist()
    scores = score[keep].tolist()
    for (k, i, j), label, p in zip(found.tolist(), labels, scores):
        out[k].append((Relation(*spans_l[k][i], *spans_l[k][j], head.labels[label]), p))
    return out


def add_relation_arguments(
    head: Head, entities: Entities, relations: Relations, entity_lp: torch.Tensor, spans: torch.Tensor
) -> Entities:
    """``relation_arguments_as_entities``: every argument of a predicted relation that is not a
    decoded entity becomes one, with its most probable non-null label (`Head.best_label`).
    entity_lp [B, m, E], spans [B, m, 2]; the added entities follow the decoded ones, in span order."""
    index, score = head.best_label(entity_lp)  # [B, m] each
    index_l, score_l = index.tolist(), score.tolist()
    out = []
    for k, (found, related) in enumerate(zip(entities, relations)):
        have = {(e.start, e.end) for e, _ in found}
        position = {tuple(span): i for i, span in enumerate(spans[k].tolist()) if span[0] >= 0}
        arguments = {(r.head_start, r.head_end) for r, _ in related} | {(r.tail_start, r.tail_end) for r, _ in related}
        added = []
        for span in sorted(arguments - have):
            i = position[span]
            added.append((Entity(span[0], span[1], head.labels[index_l[k][i]]), score_l[k][i]))
        out.append(list(found) + added)
    return out
