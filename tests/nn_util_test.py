"""apply_to_real: a row-wise function on the real rows only, zeros elsewhere, gradients intact."""
import torch

from ere_allennlp.nn_util import apply_to_real


def test_real_rows_as_the_function_gives_them_padding_zero() -> None:
    torch.manual_seed(0)
    layer = torch.nn.Sequential(torch.nn.Linear(5, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    x = torch.randn(2, 4, 5, requires_grad=True)
    mask = torch.tensor([[True, True, False, False], [True, False, True, False]])
    out = apply_to_real(layer, x, mask)
    assert out.shape == (2, 4, 2)
    full = layer(x)
    assert torch.allclose(out[mask], full[mask])
    assert torch.all(out[~mask] == 0)
    out.sum().backward()
    assert torch.all(x.grad[~mask] == 0) and torch.any(x.grad[mask] != 0)


def test_all_real_rows_call_the_function_once_on_the_whole_tensor() -> None:
    calls = []

    def function(t: torch.Tensor) -> torch.Tensor:
        calls.append(t.shape)
        return t * 2

    x = torch.randn(2, 3, 4)
    assert torch.equal(apply_to_real(function, x, torch.ones(2, 3, dtype=torch.bool)), x * 2)
    assert calls == [(2, 3, 4)]
    assert torch.all(apply_to_real(function, x, torch.zeros(2, 3, dtype=torch.bool)) == 0)
