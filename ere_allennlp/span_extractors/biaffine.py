"""The pruner's bi-affine span vector (Appendix A of the paper).

For a span s_i with endpoint token vectors x_START(i) and x_END(i),

    h_b(s_i)[o] = [x_START(i); 1]^T W_b[:, o, :] [x_END(i); 1],   W_b: [D + 1, d_biaf, D + 1].

Computing this span by span costs ``m * (D + 1)^2 * d_biaf`` (m spans); the extractor instead contracts
every *token* once with W_b (``n * (D + 1)^2 * d_biaf``, n tokens, n << m) and then, for each start token,
takes the dot products with the end tokens of the ``w`` following positions only (``w`` = the widest span
asked for), so no per-span ``[D + 1, d_biaf, D + 1]`` product or outer product is ever built.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from allennlp.modules.span_extractors.span_extractor import SpanExtractor
from overrides import overrides


@SpanExtractor.register("biaffine")
class BiaffineSpanExtractor(SpanExtractor):
    """
    Represents a span by a bi-affine product of its first and last token vectors,
    ``[x_start; 1]^T W [x_end; 1]``, one value per output dimension.

    Registered as a `SpanExtractor` with name "biaffine".

    # Parameters

    input_dim : `int`, required.
        The final dimension D of the `sequence_tensor`.
    output_dim : `int`, optional (default = `768`)
        d_biaf, the size of the span vector (768 in the paper, Table 7).
    projection_dim : `int`, optional (default = `None`)
        If given, the start and end tokens are first projected by two linear layers to this size
        and the bi-affine product is taken over the projections (as bi-affine parsers do). The
        paper does not say; without a projection W has (D + 1)^2 * d_biaf parameters, which is
        most of the pruner's cost on a CPU (see Memory).

    # Memory

    The forward pass holds a ``[num_tokens, output_dim, input_dim + 1]`` tensor (the tokens
    contracted with W; only the real tokens when `sequence_mask` is given) and a
    ``[num_tokens, output_dim, max_span_width]`` tensor (every start token paired with the
    following ``max_span_width`` end tokens), from which each span's column is read in place. W alone has ``(input_dim + 1)^2 * output_dim``
    parameters: 114 M for input_dim 384 and output_dim 768, 454 M for input_dim 768.
    """

    def __init__(self, input_dim: int, output_dim: int = 768, projection_dim: Optional[int] = None) -> None:
        super().__init__()
        self._input_dim = input_dim
        self._output_dim = output_dim
        self._start_projection: Optional[torch.nn.Linear] = None
        self._end_projection: Optional[torch.nn.Linear] = None
        if projection_dim is not None:
            self._start_projection = torch.nn.Linear(input_dim, projection_dim)
            self._end_projection = torch.nn.Linear(input_dim, projection_dim)
        self._bilinear_dim = projection_dim or input_dim
        self.weight = torch.nn.Parameter(torch.empty(self._bilinear_dim + 1, output_dim, self._bilinear_dim + 1))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # As `torch.nn.Linear` over the (D + 1)^2 features of the outer product [x_s; 1][x_e; 1]^T.
        bound = 1.0 / (self._bilinear_dim + 1)
        torch.nn.init.uniform_(self.weight, -bound, bound)

    @overrides
    def get_input_dim(self) -> int:
        return self._input_dim

    @overrides
    def get_output_dim(self) -> int:
        return self._output_dim

    @overrides(check_signature=False)  # takes `weight` besides SpanExtractor's arguments
    def forward(
        self,
        sequence_tensor: torch.FloatTensor,
        span_indices: torch.LongTensor,
        sequence_mask: torch.BoolTensor = None,
        span_indices_mask: torch.BoolTensor = None,
        weight: Optional[torch.Tensor] = None,
    ) -> torch.FloatTensor:
        """
        sequence_tensor: `(batch_size, sequence_length, input_dim)`; span_indices:
        `(batch_size, num_spans, 2)`, inclusive. Returns `(batch_size, num_spans, output_dim)`;
        spans masked out by `span_indices_mask` are zero. Padding spans may have negative indices.
        With a `sequence_mask`, a span that starts on a padding token is zero too. `weight`
        replaces W (see `fold`); the output then has its middle size.
        """
        weight = self.weight if weight is None else weight
        output_dim = weight.size(1)
        batch_size, sequence_length, _ = sequence_tensor.size()
        num_spans = span_indices.size(1)
        augmented = self._bilinear_dim + 1
        if num_spans == 0 or sequence_length == 0:
            return sequence_tensor.new_zeros(batch_size, num_spans, output_dim)

        # Shape: (batch_size, num_spans)
        starts = span_indices[..., 0].clamp(min=0, max=sequence_length - 1)
        ends = span_indices[..., 1].clamp(min=0, max=sequence_length - 1)
        offsets = (ends - starts).clamp(min=0)
        if span_indices_mask is not None:
            offsets = offsets * span_indices_mask.long()
        max_width = int(offsets.max()) + 1

        augmented_tokens, augmented_ends = self._augmented(sequence_tensor)

        # The end tokens t, t + 1, ..., t + max_width - 1 of every start t (zeros past the end).
        # Shape: (batch_size, sequence_length, input_dim + 1, max_width)
        windows = F.pad(augmented_ends, (0, 0, 0, max_width - 1)).unfold(1, max_width, 1)

        # Padding tokens start no span: only the real tokens are contracted with W (the costly step).
        # Shape: (batch_size, sequence_length)
        real = sequence_tensor.new_ones(batch_size, sequence_length, dtype=torch.bool)
        if sequence_mask is not None:
            real = sequence_mask.bool()
        # x_s^T W. Shape: (num_real_tokens, output_dim, input_dim + 1)
        left = torch.matmul(augmented_tokens[real], weight.reshape(augmented, -1))
        left = left.view(-1, output_dim, augmented)
        # Shape: (num_real_tokens, output_dim, max_width)
        pair_scores = torch.matmul(left, windows[real])
        # Row of each span's start among the real tokens. Shape: (batch_size, num_spans)
        rows = (real.view(-1).long().cumsum(0) - 1).view(batch_size, sequence_length).gather(1, starts)
        # The column of each span, read in place (no transposed copy of pair_scores).
        # Shape: (batch_size, num_spans, output_dim)
        span_embeddings = pair_scores[rows.clamp(min=0), :, offsets]
        valid = real.gather(1, starts)
        if span_indices_mask is not None:
            valid = valid & span_indices_mask.bool()
        return span_embeddings * valid.unsqueeze(-1)

    def _augmented(self, sequence_tensor: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The start and end token vectors, projected if the extractor projects, each with a 1
        appended: two `(batch_size, sequence_length, input_dim + 1)` tensors (input_dim: the
        projection's size if projected)."""
        start_tokens = end_tokens = sequence_tensor
        if self._start_projection is not None and self._end_projection is not None:
            # Shape: (batch_size, sequence_length, projection_dim)
            start_tokens = self._start_projection(sequence_tensor)
            end_tokens = self._end_projection(sequence_tensor)
        ones = sequence_tensor.new_ones(*sequence_tensor.shape[:2], 1)
        return torch.cat([start_tokens, ones], dim=-1), torch.cat([end_tokens, ones], dim=-1)

    def fold(self, linear_weight: torch.Tensor) -> torch.Tensor:
        """The weight of this bi-affine product followed by a linear map A without bias:
        ``A h_b(s) = [x_s; 1]^T W' [x_e; 1]`` with ``W'[:, p, :] = sum_o A[p, o] W[:, o, :]``.

        linear_weight: `(new_output_dim, output_dim)` -> `(input_dim + 1, new_output_dim, input_dim + 1)`
        (input_dim: projection_dim if projected), to pass to `forward` as `weight`.
        """
        return torch.einsum("po,ioj->ipj", linear_weight, self.weight).contiguous()
