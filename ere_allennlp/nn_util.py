"""Tensor helpers shared by the models."""
import torch


def scatter_real(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """values [N, d] of the N True positions of mask [B, M] (row-major order) -> [B, M, d], zeros elsewhere.

    The span heads run on the real spans only: candidate spans are padded to the longest sentence
    of the batch, and with all spans up to L most rows are padding (SciERC train, batch 20: 16,680
    rows of which 5,046 real)."""
    rows = mask.reshape(-1).nonzero().squeeze(-1)  # [N]
    result = values.new_zeros(mask.numel(), values.size(-1)).index_copy(0, rows, values)  # [B*M, d]
    return result.view(*mask.shape, values.size(-1))
