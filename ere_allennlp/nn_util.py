"""Tensor helpers shared by the models."""
from typing import Callable

import torch


def apply_to_real(function: Callable[[torch.Tensor], torch.Tensor], tensor: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Applies a row-wise `function` (an MLP, a linear scorer) to the real rows of `tensor` only.

    tensor [B, M, d], mask [B, M] bool -> [B, M, d_out], zeros where the mask is False.
    Candidate spans are padded to the longest sentence of the batch; with all spans up to L of
    sentences of very different lengths, most rows are padding (measured on SciERC train, batch
    20: 16,680 rows of which 5,046 real), and the MLP over them was most of a pruner step.
    """
    flat = tensor.reshape(-1, tensor.size(-1))  # [B*M, d]
    rows = mask.reshape(-1).nonzero().squeeze(-1)  # [N]
    if rows.numel() == flat.size(0):
        return function(tensor)
    out = function(flat.index_select(0, rows))  # [N, d_out]
    result = out.new_zeros(flat.size(0), out.size(-1)).index_copy(0, rows, out)  # [B*M, d_out]
    return result.view(*tensor.shape[:-1], out.size(-1))
