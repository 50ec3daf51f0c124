"""Ternary scores of the cross-task modules (Section 2.3 of the paper).

For an ordered span pair (s_i, s_j) the score of "s_i has entity label a, s_j has entity label b and the
relation from s_i to s_j has label r" is

    f_ij(a, b, r) = sum_k h_i[k] * t_j[k] * W[k, a, b, r],   h = Linear_head(b), t = Linear_tail(b),

i.e. the paper's ``f_ij = (h^t_i o h^t_j) W^t`` with W^t reshaped to ``[dt, E, E, R]``. The scorer only
produces the factors (``head``, ``tail``, ``weight``); the full tensor ``f`` has ``B * m^2 * E^2 * R``
elements and is built (by :meth:`TernaryScorer.dense`) only when it is small enough, otherwise
:class:`~ere_allennlp.modules.high_order_inference.HighOrderInference` works on the factors directly.

Identification heads have a label ("absent") whose score is fixed to zero (the paper's d = 1 heads).
Such labels are passed as ``fixed_entity_labels`` / ``fixed_relation_labels``: every entry
``W[:, a, b, r]`` with ``a`` or ``b`` a fixed entity label or ``r`` a fixed relation label is multiplied
by a constant 0/1 mask, so its ternary score is exactly zero and receives no gradient.

Under autocast (``use_amp``) the projections give ``head`` and ``tail`` in half precision; the mean-field
layer upcasts them and ``weight`` to float32 and builds ``f`` and its sums there (a message sums
``m * E * R`` ternary scores, beyond float16's 65504 long before a single score is).
"""
from typing import Sequence, Tuple

import torch
from allennlp.common import Registrable
from overrides import overrides


class TernaryScorer(torch.nn.Module, Registrable):
    """Produces the factors of the ternary score tensor ``f [B, m, m, E, E, R]``.

    ``forward(span_vectors [B, m, D])`` returns ``(head [B, m, dt], tail [B, m, dt])`` and
    :attr:`weight` is the (masked) ``[dt, E, E, R]`` tensor, so that
    ``f[b, i, j, a, b', r] = sum_k head[b, i, k] * tail[b, j, k] * weight[k, a, b', r]``.
    """

    default_implementation = "factorised"

    @overrides(check_signature=False)  # torch.nn.Module.forward is a `*input -> None` placeholder
    def forward(self, span_vectors: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    @property
    def weight(self) -> torch.Tensor:
        """The ternary weight ``[dt, E, E, R]``, with the entries of fixed labels set to zero."""
        raise NotImplementedError

    def get_input_dim(self) -> int:
        raise NotImplementedError

    def get_hidden_dim(self) -> int:
        raise NotImplementedError

    @staticmethod
    def dense(head: torch.Tensor, tail: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """The full ternary score tensor.

        head: ``[B, m, dt]``, tail: ``[B, m, dt]``, weight: ``[dt, E, E, R]``.
        Returns ``f [B, m, m, E, E, R]`` with ``f[., i, j, a, b, r] = sum_k head_i[k] tail_j[k] W[k, a, b, r]``.
        Peak extra memory: ``B * m^2 * dt`` (the element-wise products) plus ``B * m^2 * E^2 * R`` (``f``).
        """
        batch_size, num_spans, hidden_dim = head.shape
        label_shape = weight.shape[1:]
        # [B, m, m, dt]
        products = head.unsqueeze(2) * tail.unsqueeze(1)
        # [B, m, m, E * E * R]
        scores = torch.matmul(products, weight.reshape(hidden_dim, -1))
        # [B, m, m, E, E, R]
        return scores.view(batch_size, num_spans, num_spans, *label_shape)


@TernaryScorer.register("factorised")
class FactorisedTernaryScorer(TernaryScorer):
    """``f_ij(a, b, r) = sum_k (Linear_head(x_i) o Linear_tail(x_j))[k] * W[k, a, b, r]``.

    # Parameters

    input_dim : `int`
        Size ``D`` of the span vectors.
    num_entity_labels : `int`
        ``E``, the number of entity labels scored by the entity head (including a fixed "absent" label).
    num_relation_labels : `int`
        ``R``, the number of relation labels scored by the relation head (including a fixed "absent" label).
    hidden_dim : `int`, optional (default = `200`)
        ``dt``, the size of the head/tail projections.
    fixed_entity_labels : `Sequence[int]`, optional (default = `()`)
        Entity label indices whose ternary scores are fixed to zero.
    fixed_relation_labels : `Sequence[int]`, optional (default = `()`)
        Relation label indices whose ternary scores are fixed to zero.
    init_std : `float`, optional (default = `0.01`)
        Standard deviation of the normal initialisation of the weight tensor (small, so that the
        first mean-field messages are small; the paper does not give it).

    In a config the label counts are usually left out and supplied by the model, e.g.
    ``TernaryScorer.from_params(params, num_entity_labels=E, num_relation_labels=R)``.
    """

    def __init__(
        self,
        input_dim: int,
        num_entity_labels: int,
        num_relation_labels: int,
        hidden_dim: int = 200,
        fixed_entity_labels: Sequence[int] = (),
        fixed_relation_labels: Sequence[int] = (),
        init_std: float = 0.01,
    ) -> None:
        super().__init__()
        for name, value in (
            ("input_dim", input_dim),
            ("num_entity_labels", num_entity_labels),
            ("num_relation_labels", num_relation_labels),
            ("hidden_dim", hidden_dim),
        ):
            if value < 1:
                raise ValueError(f"{name} must be positive, got {value}")
        for name, labels, count in (
            ("fixed_entity_labels", fixed_entity_labels, num_entity_labels),
            ("fixed_relation_labels", fixed_relation_labels, num_relation_labels),
        ):
            for label in labels:
                if not 0 <= label < count:
                    raise ValueError(f"{name} contains {label}, outside [0, {count})")
        self._input_dim = input_dim
        self._hidden_dim = hidden_dim
        self.num_entity_labels = num_entity_labels
        self.num_relation_labels = num_relation_labels
        self.fixed_entity_labels = tuple(int(label) for label in fixed_entity_labels)
        self.fixed_relation_labels = tuple(int(label) for label in fixed_relation_labels)

        self.head_projection = torch.nn.Linear(input_dim, hidden_dim)
        self.tail_projection = torch.nn.Linear(input_dim, hidden_dim)
        # [dt, E, E, R]; small so that the first mean-field messages are small.
        self.raw_weight = torch.nn.Parameter(
            torch.empty(hidden_dim, num_entity_labels, num_entity_labels, num_relation_labels)
        )
        if init_std < 0:
            raise ValueError(f"init_std must be >= 0, got {init_std}")
        torch.nn.init.normal_(self.raw_weight, std=init_std)

        entity_free = torch.ones(num_entity_labels)
        entity_free[list(self.fixed_entity_labels)] = 0.0
        relation_free = torch.ones(num_relation_labels)
        relation_free[list(self.fixed_relation_labels)] = 0.0
        # [E, E, R]: 0 where a, b or r is a fixed label. Derived from the constructor arguments, so it is
        # not saved in the state dict.
        free = entity_free[:, None, None] * entity_free[None, :, None] * relation_free[None, None, :]
        self.register_buffer("weight_mask", free, persistent=False)

    @overrides
    def get_input_dim(self) -> int:
        return self._input_dim

    @overrides
    def get_hidden_dim(self) -> int:
        return self._hidden_dim

    @property
    @overrides
    def weight(self) -> torch.Tensor:
        # [dt, E, E, R] * [E, E, R]
        return self.raw_weight * self.weight_mask.to(self.raw_weight.dtype)

    @overrides
    def forward(self, span_vectors: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """span_vectors: ``[B, m, D]``. Returns ``(head [B, m, dt], tail [B, m, dt])``."""
        return self.head_projection(span_vectors), self.tail_projection(span_vectors)
