"""The span vectors b_i = [x_START; x_END; width] of a batch, built lazily (`SpanModel.encode_spans`)."""
from typing import Optional

import torch
import torch.nn.functional as F
from allennlp.modules.span_extractors import EndpointSpanExtractor

from ere_allennlp.allennlp_internals import span_width_embedding


class SpanEncoding:
    """A batch's token vectors and candidate spans. The span vectors b_i = [x_START; x_END; w_i]
    (`vectors`, from the EndpointSpanExtractor) are built on first use. A linear layer of b on the
    real spans (`real_linear`) is taken, when there are more real spans than real tokens (all spans
    up to L: ~9 per token with L = 12), as W_start x_START + W_end x_END + (W_width w + bias): the
    tokens are projected once and each span adds two rows and its width's row, so neither b nor
    its (2D + w)-sized products are computed span by span. Both ways give the same values.

    x [B, n, D], spans [B, m, 2] (padding clamped to 0), token_mask [B, n], span_mask [B, m].
    """

    def __init__(
        self,
        extractor: EndpointSpanExtractor,
        x: torch.Tensor,
        spans: torch.LongTensor,
        token_mask: torch.Tensor,
        span_mask: torch.Tensor,
    ) -> None:
        self.extractor = extractor
        self.x = x
        self.spans = spans
        self.token_mask = token_mask
        self.span_mask = span_mask
        self._vectors: Optional[torch.Tensor] = None

    @property
    def vectors(self) -> torch.Tensor:
        """b [B, m, 2D + w], zero for padding spans."""
        if self._vectors is None:
            self._vectors = self.extractor(self.x, self.spans, self.token_mask, self.span_mask)
        return self._vectors

    def real_linear(self, layer: torch.nn.Linear) -> torch.Tensor:
        """layer(b) of the real spans, in row-major order of span_mask: [N, out_features]."""
        real = self.span_mask.nonzero(as_tuple=True)  # N real spans: (sentence, position)
        if real[0].numel() <= int(self.token_mask.sum()):
            return layer(self.vectors[real])  # [N, out]
        batch_size, num_tokens, dim = self.x.shape
        starts, ends = self.spans[..., 0][real], self.spans[..., 1][real]  # [N] each
        offset = real[0] * num_tokens  # [N]
        tokens = self.x.reshape(batch_size * num_tokens, dim)  # [B*n, D]
        weight = layer.weight  # [out, 2D + w]
        start_part = F.linear(tokens, weight[:, :dim]).index_select(0, offset + starts)  # [N, out]
        end_part = F.linear(tokens, weight[:, dim : 2 * dim]).index_select(0, offset + ends)  # [N, out]
        widths = span_width_embedding(self.extractor).weight  # [L, w]
        width_part = F.linear(widths, weight[:, 2 * dim :], layer.bias).index_select(0, ends - starts)  # [N, out]
        return start_part + end_part + width_part
