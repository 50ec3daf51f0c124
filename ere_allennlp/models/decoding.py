"""Decoding a module's log-probabilities into entities and relations with their probabilities, per
sentence (sentence-local offsets): what `SpanModel.decode` calls for each head."""
from typing import Dict, List, Optional, Tuple

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
    return _arguments_as_entities(head, entities, relations, entity_lp, spans)[0]


def decide_relation_arguments(
    entity_head: Head, relation_head: Head, entities: Entities, relations: Relations,
    entity_lp: torch.Tensor, relation_lp: torch.Tensor, spans: torch.Tensor,
) -> Tuple[Entities, Relations]:
    """``relation_arguments_joint``: a predicted relation one of whose arguments the entity head
    decoded as null is kept, and that argument added as an entity (as `add_relation_arguments`),
    only if the relation and its argument(s) are together more probable than no relation and null
    argument(s); otherwise the relation is dropped. With the decisions' own log-probabilities,
    keep if  log P_ij(r) + sum_a log P_a(best non-null label)  >=  log P_ij(null) + sum_a log P_a(null)
    over the arguments a not yet entities. Relations are taken from the most probable down, so an
    argument a kept relation added counts as an entity for the ones after it.
    entity_lp [B, m, E], relation_lp [B, m, m, R], spans [B, m, 2] -> (entities, relations)."""
    return _arguments_as_entities(entity_head, entities, relations, entity_lp, spans, (relation_head, relation_lp))


def _arguments_as_entities(
    head: Head, entities: Entities, relations: Relations, entity_lp: torch.Tensor, spans: torch.Tensor,
    joint: Optional[Tuple[Head, torch.Tensor]] = None,
) -> Tuple[Entities, Relations]:
    """Both rules: the arguments of the kept relations that are not decoded entities are added with
    their best non-null label, after the decoded entities, in span order. Without `joint` (relation
    head, relation_lp [B, m, m, R]) every relation is kept; with it, `decide_relation_arguments`."""
    best_index, best_prob = head.best_label(entity_lp)  # [B, m] each
    best_l, prob_l = best_index.tolist(), best_prob.tolist()
    if joint is not None:
        relation_head, relation_lp = joint
        assert head.null_index is not None and relation_head.null_index is not None
        _, chosen, _ = relation_head.decide(relation_lp)  # [B, m, m]: the label each pair decoded
        entity_lp_l, relation_lp_l, chosen_l = entity_lp.tolist(), relation_lp.tolist(), chosen.tolist()
    out_entities: Entities = []
    out_relations: Relations = []
    for k, (found, related) in enumerate(zip(entities, relations)):
        have = {(e.start, e.end) for e, _ in found}
        position = {tuple(span): i for i, span in enumerate(spans[k].tolist()) if span[0] >= 0}
        added: Dict[Tuple[int, int], int] = {}  # argument span -> its position
        kept: List[int] = []
        for n in sorted(range(len(related)), key=lambda n: -related[n][1]):
            relation = related[n][0]
            head_span, tail_span = (relation.head_start, relation.head_end), (relation.tail_start, relation.tail_end)
            missing = [span for span in dict.fromkeys((head_span, tail_span)) if span not in have and span not in added]
            if joint is not None and missing:
                i, j = position[head_span], position[tail_span]
                keep_score = relation_lp_l[k][i][j][chosen_l[k][i][j]]
                drop_score = relation_lp_l[k][i][j][relation_head.null_index]
                for a in (position[span] for span in missing):
                    keep_score += entity_lp_l[k][a][best_l[k][a]]
                    drop_score += entity_lp_l[k][a][head.null_index]
                if keep_score < drop_score:
                    continue
            kept.append(n)
            added.update((span, position[span]) for span in missing)
        out_entities.append(list(found) + [(Entity(span[0], span[1], head.labels[best_l[k][a]]), prob_l[k][a])
                                           for span, a in sorted(added.items())])
        out_relations.append([related[n] for n in sorted(kept)])
    return out_entities, out_relations
