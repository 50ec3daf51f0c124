"""Tensor helpers shared by the models."""
import contextlib
from typing import ContextManager

import torch


def scatter_real(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """values [N, d] of the N True positions of mask [B, M] (row-major order) -> [B, M, d], zeros elsewhere.

    The span heads run on the real spans only: candidate spans are padded to the longest sentence
    of the batch, and with all spans up to L most rows are padding (SciERC train, batch 20: 16,680
    rows of which 5,046 real)."""
    rows = mask.reshape(-1).nonzero().squeeze(-1)  # [N]
    result = values.new_zeros(mask.numel(), values.size(-1)).index_copy(0, rows, values)  # [B*M, d]
    return result.view(*mask.shape, values.size(-1))


def normalisation_dtype(*tensors: torch.Tensor) -> torch.dtype:
    """The floating point type in which scores are normalised (softmax, logsumexp, mean field):
    float32, or float64 if any of `tensors` is float64. Half precision (float16, bfloat16: what
    autocast and ``use_amp`` produce) is upcast, as float16 overflows above 65504."""
    dtype = torch.float32
    for tensor in tensors:
        dtype = torch.promote_types(dtype, tensor.dtype)
    return dtype


def upcast(tensor: torch.Tensor) -> torch.Tensor:
    """`tensor` in float32 if it is in half precision (float16, bfloat16), else itself (float32
    and float64 tensors are returned unchanged, not copied)."""
    return tensor.to(normalisation_dtype(tensor))


def full_precision(device: torch.device) -> ContextManager[None]:
    """A context in which autocast is off on `device` (its ops run in their inputs' dtypes), or
    nothing when autocast is not on there."""
    if device.type in ("cpu", "cuda") and torch.is_autocast_enabled(device.type):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()
