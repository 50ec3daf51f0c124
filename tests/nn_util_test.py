"""scatter_real and feedforward_after_first_linear: the pieces the span heads are built from; the
precision helpers (upcast, full_precision)."""
import torch
from allennlp.modules import FeedForward
from allennlp.nn import Activation

from ere_allennlp.allennlp_internals import feedforward_after_first_linear
from ere_allennlp.nn_util import full_precision, normalisation_dtype, scatter_real, upcast


def test_scatter_real_places_rows_in_mask_order_with_zero_padding_and_gradients() -> None:
    values = torch.arange(6.0).view(3, 2).requires_grad_(True)
    mask = torch.tensor([[True, False, True], [False, True, False]])
    out = scatter_real(values, mask)
    assert out.shape == (2, 3, 2)
    assert out[mask].tolist() == values.tolist()
    assert torch.all(out[~mask] == 0)
    (out * torch.arange(12.0).view(2, 3, 2)).sum().backward()
    assert values.grad.tolist() == [[0.0, 1.0], [4.0, 5.0], [8.0, 9.0]]


def test_rest_of_feedforward_after_its_first_layer_equals_the_feedforward() -> None:
    torch.manual_seed(0)
    feedforward = FeedForward(5, 3, [4, 6, 2], Activation.by_name("relu")(), dropout=0.3)
    feedforward.eval()
    x = torch.randn(7, 5)
    hidden = feedforward._linear_layers[0](x)
    torch.testing.assert_close(feedforward_after_first_linear(feedforward, hidden), feedforward(x))


def test_upcast_lifts_half_precision_only() -> None:
    for dtype in (torch.float16, torch.bfloat16):
        assert upcast(torch.ones(2, dtype=dtype)).dtype == torch.float32
    for dtype in (torch.float32, torch.float64):
        tensor = torch.ones(2, dtype=dtype)
        assert upcast(tensor) is tensor  # not copied
    assert normalisation_dtype(torch.ones(1, dtype=torch.float16), torch.ones(1, dtype=torch.float64)) == torch.float64
    assert normalisation_dtype(torch.ones(1, dtype=torch.bfloat16), torch.ones(1, dtype=torch.long)) == torch.float32


def test_full_precision_turns_autocast_off_inside_only() -> None:
    x = torch.randn(3, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert (x @ x).dtype == torch.bfloat16
        with full_precision(x.device):
            assert (x @ x).dtype == torch.float32
        assert (x @ x).dtype == torch.bfloat16
    with full_precision(x.device), full_precision(torch.device("meta")):  # no autocast: nothing to do
        assert (x @ x).dtype == torch.float32
