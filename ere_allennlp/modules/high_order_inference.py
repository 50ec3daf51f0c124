"""High-order inference of the cross-task modules: mean-field variational inference (Section 2.3).

Inputs are the unary scores ``g_i(a)`` (``span_scores [B, m, E]``) and ``g_ij(r)``
(``pair_scores [B, m, m, R]``) and the factors of the ternary scores produced by
:class:`~ere_allennlp.modules.ternary_scorer.TernaryScorer`:

    f_ij(a, b, r) = sum_k head_i[k] * tail_j[k] * weight[k, a, b, r].

With ``M_ij`` the pair mask (both spans real, ``i != j``, and the optional caller mask), ``T`` iterations
of synchronous updates are run from ``Q^0_i = softmax(g_i)``, ``Q^0_ij = softmax(g_ij)``:

    F_i(a)  = sum_j M_ij sum_b Q_j(b) sum_r Q_ij(r) f_ij(a, b, r)
            + sum_j M_ji sum_b Q_j(b) sum_r Q_ji(r) f_ji(b, a, r)
    F_ij(r) = sum_a sum_b Q_i(a) Q_j(b) f_ij(a, b, r)
    Q_i  = softmax(g_i + F_i),   Q_ij = softmax(g_ij + F_ij)

The paper writes ``Q^T_i`` (the current iteration's span distribution) inside ``F^T_ij``:
``F^T_ij(r) = sum_a sum_b Q^T_i(a) Q^{T-1}_j(b) f_ij(a, b, r)``. ``update_order="sequential"`` does that
literally: the span distributions are updated first (from ``Q^{T-1}``), then the pair messages take the
head span's new ``Q^T_i`` and the tail span's previous ``Q^{T-1}_j``. The default,
``update_order="synchronous"``, computes every message of iteration ``T`` from ``Q^{T-1}``: both schemes
share the same fixed points; the synchronous one treats spans and pairs (and the two arguments of a
pair) symmetrically. Both are measured on SciERC dev in ``docs/joint_learning.md``.
``iterations = 0`` is first-order inference: exactly ``log_softmax`` of the unary scores.

Masking: padded spans (``span_mask`` False) and masked pairs get their first-order distribution
(``log_softmax`` of their unary scores, finite whenever those scores are finite). They never influence
real spans and pairs: before inference their scores, ``head`` and ``tail`` vectors are replaced by zeros
(``torch.where``, so even NaN padding cannot leak), and a masked pair sends no message.

Two implementations of the messages give the same result (up to rounding):

* **dense** builds ``f`` once, as ``[B, m, m, R, E, E]`` (the relation label first, so that summing out
  ``r`` reads contiguous ``[E, E]`` slices), and contracts it with ``Q`` at every iteration.
  Peak extra memory in elements (forward, besides the inputs):
  ``B*m^2*E^2*R`` for ``f`` (kept for all iterations), plus ``B*m^2*dt`` while ``f`` is built
  (``head_i * tail_j``, freed afterwards), plus per iteration up to two ``B*m^2*E^2`` temporaries
  (``sum_r Q_ij(r) f_ij`` and its copy with the axes in span order, or ``Q_i(a) Q_j(b)``) and a few ``B*m^2*R``
  tensors (``Q_ij``, ``F_ij``, ``log Q_ij``). In short ``B*m^2*(E^2*R + max(dt, 2*E^2)) + O(B*m^2*R)``;
  with ``dt >= 2 E^2`` (the usual case, dt = 200) that is ``B*m^2*(E^2*R + dt) + O(B*m^2*R)``.
* **factorised** never materialises a tensor with both an ``m*m`` and an ``E*E`` axis:
  ``F_ij(r) = sum_{k,b} U_i[k, b, r] * tail_j[k] Q_j(b)`` with ``U_i[k, b, r] = head_i[k] sum_a Q_i(a)
  W[k, a, b, r]``, and ``F_i`` sums ``head_i[k] W[k, a, b, r]`` against ``G_i[k, b, r] = sum_j M_ij Q_ij(r)
  tail_j[k] Q_j(b)`` (and the mirrored incoming term). Peak extra memory in elements: at most about three
  ``B*m*dt*E*R`` tensors (``U``/``G`` and the einsum's permuted copy of one of them), two ``B*m*dt*E``
  tensors (``head_i[k] Q_i(a)``, ``tail_j[k] Q_j(b)``) and a few ``B*m^2*R`` tensors, i.e. about
  ``3*B*m*dt*E*R + 2*B*m*dt*E + O(B*m^2*R)``. Cheaper than dense when ``dt < m*E``.

``force=None`` uses dense when ``B*m*m*E*E*R <= max_dense_elements`` (default ``2**26``) and factorised otherwise.

When gradients are needed, autograd additionally keeps per iteration the tensors an einsum saves for its
backward pass: dense, about two ``B*m^2*E^2`` and a few ``B*m^2*R`` per iteration (``f`` itself is saved
once, it is shared by all iterations); factorised, about three ``B*m*dt*E*R`` per iteration.

Precision: the whole layer runs in float32 (float64 if an input is float64), with autocast turned off
inside it. Half-precision inputs (float16 or bfloat16, as autocast and the trainer's ``use_amp`` give
them) are upcast first and the outputs stay in float32: a message ``F_i`` sums ``m * E * R`` ternary
scores, and in float16 such a sum, or ``f`` itself, overflows above 65504 to inf, and ``inf - logsumexp``
is nan (``tests/modules/high_order_inference_test.py`` shows both). Log-probabilities are kept in float32
rather than cast back, since they feed the loss and the decoding. The memory figures above are then in
float32 elements. Float32 and float64 inputs are not converted: the results are the same as before.
"""
from typing import List, Optional, Tuple

import torch
from allennlp.common import Registrable
from allennlp.common.checks import ConfigurationError
from overrides import overrides

from ere_allennlp.modules.ternary_scorer import TernaryScorer
from ere_allennlp.nn_util import full_precision, normalisation_dtype


UPDATE_ORDERS = ("synchronous", "sequential")


class HighOrderInference(torch.nn.Module, Registrable):
    """Approximate posterior label distributions of spans and span pairs from unary and ternary scores.

    ``forward(span_scores [B, m, E], pair_scores [B, m, m, R], head [B, m, dt], tail [B, m, dt],
    weight [dt, E, E, R], span_mask [B, m], pair_mask [B, m, m] = None, history = None)`` returns
    ``(span_log_q [B, m, E], pair_log_q [B, m, m, R])``, log-probabilities over the labels, in float32
    (float64 if an input is float64) whatever the inputs' precision. A list given as `history`
    receives the span log-probabilities of every iteration, the first-order ones first (detached;
    for diagnostics). A list given as `first_order` receives the first-order span and pair
    log-probabilities, ``log_softmax`` of the unary scores (not detached; for a loss on them).
    """

    default_implementation = "mean_field"

    @overrides(check_signature=False)  # torch.nn.Module.forward is a `*input -> None` placeholder
    def forward(
        self,
        span_scores: torch.Tensor,
        pair_scores: torch.Tensor,
        head: torch.Tensor,
        tail: torch.Tensor,
        weight: torch.Tensor,
        span_mask: torch.Tensor,
        pair_mask: Optional[torch.Tensor] = None,
        history: Optional[List[torch.Tensor]] = None,
        first_order: Optional[List[torch.Tensor]] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError


@HighOrderInference.register("mean_field")
class MeanFieldInference(HighOrderInference):
    """Synchronous mean-field variational inference (see the module docstring).

    # Parameters

    iterations : `int`, optional (default = `3`)
        Number of mean-field updates; ``0`` is first-order inference.
    max_dense_elements : `int`, optional (default = `2**26`)
        With ``force=None`` the dense path is used when ``f`` would have at most this many elements
        (``B*m*m*E*E*R``; 2**26 float32 elements are 256 MB), the factorised path otherwise. Measured
        on a CPU (``docs/benchmarks.md``): with d_t = 200 the dense path was faster and smaller up to
        B = 20, m = 64, E = 7, R = 8 (3.3e7 elements); the factorised path is for larger m.
    force : `str`, optional (default = `None`)
        ``"dense"`` or ``"factorised"`` to always use that path.
    update_order : `str`, optional (default = `"synchronous"`)
        ``"synchronous"``: every message of an iteration from the previous iteration's Q.
        ``"sequential"``: the paper's Section 2.3 as written, spans first, then ``F_ij`` from the new
        ``Q_i`` and the previous ``Q_j`` (see the module docstring).
    """

    def __init__(
        self,
        iterations: int = 3,
        max_dense_elements: int = 2**26,
        force: Optional[str] = None,
        update_order: str = "synchronous",
    ) -> None:
        super().__init__()
        if update_order not in UPDATE_ORDERS:
            raise ConfigurationError(f"update_order must be one of {UPDATE_ORDERS}, got {update_order!r}")
        self.update_order = update_order
        if iterations < 0:
            raise ConfigurationError(f"iterations must be >= 0, got {iterations}")
        if max_dense_elements < 0:
            raise ConfigurationError(f"max_dense_elements must be >= 0, got {max_dense_elements}")
        if force not in (None, "dense", "factorised"):
            raise ConfigurationError(f"force must be None, 'dense' or 'factorised', got {force!r}")
        self.iterations = iterations
        self.max_dense_elements = max_dense_elements
        self.force = force

    def use_dense(self, batch_size: int, num_spans: int, num_entity_labels: int, num_relation_labels: int) -> bool:
        """Whether ``forward`` takes the dense path for these sizes."""
        if self.force is not None:
            return self.force == "dense"
        elements = batch_size * num_spans * num_spans * num_entity_labels**2 * num_relation_labels
        return elements <= self.max_dense_elements

    @overrides
    def forward(
        self,
        span_scores: torch.Tensor,
        pair_scores: torch.Tensor,
        head: torch.Tensor,
        tail: torch.Tensor,
        weight: torch.Tensor,
        span_mask: torch.Tensor,
        pair_mask: Optional[torch.Tensor] = None,
        history: Optional[List[torch.Tensor]] = None,
        first_order: Optional[List[torch.Tensor]] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        batch_size, num_spans, num_entity_labels = span_scores.shape
        num_relation_labels = pair_scores.size(-1)
        hidden_dim = head.size(-1)
        if pair_scores.shape != (batch_size, num_spans, num_spans, num_relation_labels):
            raise ValueError(f"pair_scores has shape {tuple(pair_scores.shape)}, expected [B, m, m, R]")
        if head.shape != (batch_size, num_spans, hidden_dim) or tail.shape != head.shape:
            raise ValueError(f"head {tuple(head.shape)} and tail {tuple(tail.shape)} must both be [B, m, dt]")
        expected_weight = (hidden_dim, num_entity_labels, num_entity_labels, num_relation_labels)
        if weight.shape != expected_weight:
            raise ValueError(f"weight has shape {tuple(weight.shape)}, expected [dt, E, E, R] = {expected_weight}")
        # float32 at least, autocast off (module docstring, "Precision"); float32 inputs are not copied.
        dtype = normalisation_dtype(span_scores, pair_scores, head, tail, weight)
        with full_precision(span_scores.device):
            return self._infer(
                span_scores.to(dtype), pair_scores.to(dtype), head.to(dtype), tail.to(dtype), weight.to(dtype),
                span_mask, pair_mask, history, first_order,
            )

    def _infer(
        self,
        span_scores: torch.Tensor,
        pair_scores: torch.Tensor,
        head: torch.Tensor,
        tail: torch.Tensor,
        weight: torch.Tensor,
        span_mask: torch.Tensor,
        pair_mask: Optional[torch.Tensor],
        history: Optional[List[torch.Tensor]] = None,
        first_order: Optional[List[torch.Tensor]] = None,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """`forward` on inputs of one floating point type (checked, float32 or float64)."""
        batch_size, num_spans, num_entity_labels = span_scores.shape
        num_relation_labels = pair_scores.size(-1)
        # [B, m]
        span_mask = span_mask.bool()
        # [B, m, m]: both spans real and i != j, AND the caller's mask.
        not_diagonal = ~torch.eye(num_spans, dtype=torch.bool, device=span_mask.device)
        full_pair_mask = span_mask.unsqueeze(2) & span_mask.unsqueeze(1) & not_diagonal
        if pair_mask is not None:
            full_pair_mask = full_pair_mask & pair_mask.bool()

        # First-order distributions; also the output at padded spans and masked pairs.
        first_span_log_q = torch.log_softmax(span_scores, dim=-1)  # [B, m, E]
        first_pair_log_q = torch.log_softmax(pair_scores, dim=-1)  # [B, m, m, R]
        if history is not None:
            history.append(first_span_log_q.detach())
        if first_order is not None:
            first_order.extend((first_span_log_q, first_pair_log_q))
        if self.iterations == 0:
            return first_span_log_q, first_pair_log_q

        span_mask_3d = span_mask.unsqueeze(-1)  # [B, m, 1]
        pair_mask_4d = full_pair_mask.unsqueeze(-1)  # [B, m, m, 1]
        # Padding replaced by zeros so that nothing non-finite can enter the messages.
        span_unary = torch.where(span_mask_3d, span_scores, 0.0)
        pair_unary = torch.where(pair_mask_4d, pair_scores, 0.0)
        head = torch.where(span_mask_3d, head, 0.0)
        tail = torch.where(span_mask_3d, tail, 0.0)
        pair_weight = pair_mask_4d.to(pair_scores.dtype)  # [B, m, m, 1]

        dense = self.use_dense(batch_size, num_spans, num_entity_labels, num_relation_labels)
        # [B, m, m, R, E, E]: f with the relation label before the entity labels (see _dense_span_message).
        ternary = TernaryScorer.dense(head, tail, weight.permute(0, 3, 1, 2)) if dense else None

        # Q^0 = softmax of the unary scores; padding gets 0 (any finite value: it sends no message).
        span_log_q = torch.where(span_mask_3d, first_span_log_q, 0.0)  # [B, m, E]
        pair_log_q = torch.where(pair_mask_4d, first_pair_log_q, 0.0)  # [B, m, m, R]
        for _ in range(self.iterations):
            span_log_q, pair_log_q = self._iteration(
                ternary, head, tail, weight, span_unary, pair_unary, pair_weight, span_log_q, pair_log_q
            )
            if history is not None:
                history.append(torch.where(span_mask_3d, span_log_q, first_span_log_q).detach())

        span_log_q = torch.where(span_mask_3d, span_log_q, first_span_log_q)
        pair_log_q = torch.where(pair_mask_4d, pair_log_q, first_pair_log_q)
        return span_log_q, pair_log_q

    def _iteration(
        self,
        ternary: Optional[torch.Tensor],
        head: torch.Tensor,
        tail: torch.Tensor,
        weight: torch.Tensor,
        span_unary: torch.Tensor,
        pair_unary: torch.Tensor,
        pair_weight: torch.Tensor,
        span_log_q: torch.Tensor,
        pair_log_q: torch.Tensor,
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """One mean-field update: (log Q_i [B, m, E], log Q_ij [B, m, m, R]) of iteration T-1 -> of
        iteration T, through the dense `ternary` f (or the factorised path when it is None);
        pair_weight [B, m, m, 1] is 0 for masked pairs."""
        span_q = span_log_q.exp()  # [B, m, E]
        pair_q = pair_log_q.exp() * pair_weight  # [B, m, m, R], zero for masked pairs
        if ternary is not None:
            span_message = self._dense_span_message(ternary, span_q, pair_q)
        else:
            span_message = self._factorised_span_message(head, tail, weight, span_q, pair_q)
        span_log_q = _log_normalise(span_unary + span_message)
        # Synchronous: F_ij from Q^{T-1}_i; sequential (the paper): from the new Q^T_i.
        head_q = span_log_q.exp() if self.update_order == "sequential" else span_q  # [B, m, E]
        if ternary is not None:
            pair_message = self._dense_pair_message(ternary, head_q, span_q)
        else:
            pair_message = self._factorised_pair_message(head, tail, weight, head_q, span_q)
        return span_log_q, _log_normalise(pair_unary + pair_message * pair_weight)

    @staticmethod
    def _dense_span_message(ternary: torch.Tensor, span_q: torch.Tensor, pair_q: torch.Tensor) -> torch.Tensor:
        """ternary ``f [B, m, m, R, E, E]`` (relation label first), span_q ``[B, m, E]``, pair_q
        ``[B, m, m, R]`` (zero where masked) -> ``F_span [B, m, E]``.

        Each pair's contraction is [1, R] x [R, E*E] (see `_sum_over_relations`); the span messages
        are two [B, m*E, m*E] products.
        """
        batch_size, num_spans, _, num_relation_labels, num_entity_labels, _ = ternary.shape
        num_pairs = batch_size * num_spans * num_spans
        flat = ternary.reshape(num_pairs, num_relation_labels, -1)  # [B*m*m, R, E*E]
        # [B*m*m, E*E]: sum_r Q_ij(r) f_ij(a, b, r)
        pair_marginal = _sum_over_relations(flat, pair_q.reshape(num_pairs, num_relation_labels))
        # [B, m*E, m*E], rows (i, a), columns (j, b)
        by_span = pair_marginal.view(batch_size, num_spans, num_spans, num_entity_labels, num_entity_labels)
        by_span = by_span.transpose(2, 3).reshape(batch_size, num_spans * num_entity_labels, -1)
        span_q_flat = span_q.reshape(batch_size, -1, 1)  # [B, m*E, 1]
        # [B, m, E]: outgoing (i as head, sum over tail j and its label b) + incoming (i as tail of j).
        outgoing = torch.bmm(by_span, span_q_flat).view_as(span_q)
        incoming = torch.bmm(span_q_flat.transpose(1, 2), by_span).view_as(span_q)
        return outgoing + incoming

    @staticmethod
    def _dense_pair_message(ternary: torch.Tensor, head_q: torch.Tensor, tail_q: torch.Tensor) -> torch.Tensor:
        """ternary ``f [B, m, m, R, E, E]``, head_q / tail_q ``[B, m, E]`` (the Q of span i as head
        and of span j as tail) -> ``F_pair [B, m, m, R]`` = sum_{a, b} Q_i(a) Q_j(b) f_ij(a, b, r),
        a [R, E*E] x [E*E, 1] batched matmul over the B * m^2 pairs."""
        batch_size, num_spans, _, num_relation_labels, _, _ = ternary.shape
        num_pairs = batch_size * num_spans * num_spans
        flat = ternary.reshape(num_pairs, num_relation_labels, -1)  # [B*m*m, R, E*E]
        # [B*m*m, E*E, 1]: Q_i(a) Q_j(b)
        label_pairs = (head_q.unsqueeze(2).unsqueeze(4) * tail_q.unsqueeze(1).unsqueeze(3)).reshape(num_pairs, -1, 1)
        return torch.bmm(flat, label_pairs).view(batch_size, num_spans, num_spans, num_relation_labels)

    @staticmethod
    def _factorised_span_message(
        head: torch.Tensor, tail: torch.Tensor, weight: torch.Tensor, span_q: torch.Tensor, pair_q: torch.Tensor
    ) -> torch.Tensor:
        """head/tail ``[B, m, dt]``, weight ``[dt, E, E, R]``, span_q ``[B, m, E]``, pair_q ``[B, m, m, R]``
        -> ``F_span [B, m, E]`` without building ``f``."""
        # [B, m, dt, E]: head_j[k] Q_j(b) and tail_j[k] Q_j(b)
        head_q = head.unsqueeze(-1) * span_q.unsqueeze(-2)
        tail_q = tail.unsqueeze(-1) * span_q.unsqueeze(-2)
        # Outgoing. [B, m, dt, E, R]: G_i[k, b, r] = sum_j M_ij Q_ij(r) tail_j[k] Q_j(b)
        outgoing = torch.einsum("bijr,bjky->bikyr", pair_q, tail_q)
        # [B, m, E]: sum_{k, b, r} head_i[k] W[k, a, b, r] G_i[k, b, r]
        span_message = torch.einsum("bikyr,kxyr->bix", outgoing * head.unsqueeze(-1).unsqueeze(-1), weight)
        del outgoing
        # Incoming. [B, m, dt, E, R]: G'_i[k, b, r] = sum_j M_ji Q_ji(r) head_j[k] Q_j(b)
        incoming = torch.einsum("bjir,bjkx->bikxr", pair_q, head_q)
        # [B, m, E]: sum_{k, b, r} tail_i[k] W[k, b, a, r] G'_i[k, b, r]
        return span_message + torch.einsum("bikxr,kxyr->biy", incoming * tail.unsqueeze(-1).unsqueeze(-1), weight)

    @staticmethod
    def _factorised_pair_message(
        head: torch.Tensor, tail: torch.Tensor, weight: torch.Tensor, head_span_q: torch.Tensor, tail_span_q: torch.Tensor
    ) -> torch.Tensor:
        """head/tail ``[B, m, dt]``, weight ``[dt, E, E, R]``, head_span_q / tail_span_q ``[B, m, E]``
        -> ``F_pair [B, m, m, R]`` = sum_{a, b} Q_i(a) Q_j(b) f_ij(a, b, r) without building ``f``."""
        head_q = head.unsqueeze(-1) * head_span_q.unsqueeze(-2)  # [B, m, dt, E]
        tail_q = tail.unsqueeze(-1) * tail_span_q.unsqueeze(-2)  # [B, m, dt, E]
        # [B, m, dt, E, R]: U_i[k, b, r] = sum_a head_i[k] Q_i(a) W[k, a, b, r]
        head_side = torch.einsum("bikx,kxyr->bikyr", head_q, weight)
        # [B, m, m, R]: F_ij(r) = sum_{k, b} U_i[k, b, r] tail_j[k] Q_j(b)
        return torch.einsum("bikyr,bjky->bijr", head_side, tail_q)


def _log_normalise(logits: torch.Tensor) -> torch.Tensor:
    """log_softmax over the last axis as ``x - logsumexp(x)``: the same values up to rounding, and
    3x faster than ``torch.log_softmax`` on a CPU for the few labels (R = 8) of [B, m, m, R]."""
    return logits - torch.logsumexp(logits, dim=-1, keepdim=True)


# Up to this many elements in the [pairs, E*E] result, `_sum_over_relations` adds the R slices in a
# loop when no gradient is needed (the result stays in cache); above it, a batched matmul is faster
# (measured on a CPU: the loop took 0.3 ms against 1.8 ms at B = 20, m = 18, E = 7, R = 8; they
# break even near m = 32).
_LOOP_MAX_ELEMENTS = 2**20


def _sum_over_relations(flat: torch.Tensor, pair_q: torch.Tensor) -> torch.Tensor:
    """flat ``[P, R, X]``, pair_q ``[P, R]`` -> ``[P, X]`` = sum_r pair_q[:, r] * flat[:, r]."""
    num_pairs, num_relation_labels, size = flat.shape
    # With gradients, the loop's slices would each give `flat` a full-size gradient in backward.
    needs_grad = torch.is_grad_enabled() and (flat.requires_grad or pair_q.requires_grad)
    if needs_grad or num_pairs * size > _LOOP_MAX_ELEMENTS:
        return torch.bmm(pair_q.unsqueeze(1), flat).squeeze(1)
    total = flat[:, 0] * pair_q[:, :1]
    for r in range(1, num_relation_labels):
        total = total.addcmul_(flat[:, r], pair_q[:, r : r + 1])
    return total
