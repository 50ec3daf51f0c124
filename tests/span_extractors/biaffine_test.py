"""Tests for the bi-affine span extractor against a naive per-span computation."""
import pytest
import torch
from allennlp.common import Params
from allennlp.modules.span_extractors import SpanExtractor

from ere_allennlp.span_extractors.biaffine import BiaffineSpanExtractor


def naive(extractor: BiaffineSpanExtractor, x: torch.Tensor, spans: torch.Tensor) -> torch.Tensor:
    """[x_s; 1]^T W [x_e; 1] span by span, with explicit loops."""
    out = torch.zeros(spans.size(0), spans.size(1), extractor.get_output_dim())
    for b in range(spans.size(0)):
        for m in range(spans.size(1)):
            start, end = spans[b, m].tolist()
            x_s = torch.cat([x[b, start], torch.ones(1)])
            x_e = torch.cat([x[b, end], torch.ones(1)])
            for o in range(extractor.get_output_dim()):
                out[b, m, o] = x_s @ extractor.weight[:, o, :] @ x_e
    return out


def test_dims_and_registration():
    extractor = SpanExtractor.from_params(Params({"type": "biaffine", "input_dim": 7, "output_dim": 5}))
    assert isinstance(extractor, BiaffineSpanExtractor)
    assert extractor.get_input_dim() == 7
    assert extractor.get_output_dim() == 5
    assert tuple(extractor.weight.shape) == (8, 5, 8)
    assert BiaffineSpanExtractor(4).get_output_dim() == 768


def test_matches_naive_computation_and_masks_spans():
    torch.manual_seed(0)
    extractor = BiaffineSpanExtractor(input_dim=6, output_dim=4)
    x = torch.randn(2, 7, 6)
    # Sentence 0: widths 1..4 and the last token; sentence 1: three spans then two padding spans.
    spans = torch.tensor(
        [
            [[0, 0], [1, 3], [2, 5], [6, 6], [3, 6]],
            [[0, 2], [4, 4], [1, 1], [-1, -1], [-1, -1]],
        ]
    )
    span_mask = spans[..., 0] >= 0
    sequence_mask = torch.tensor([[True] * 7, [True] * 5 + [False] * 2])
    out = extractor(x, spans.clamp(min=0), sequence_mask, span_mask)
    assert out.shape == (2, 5, 4)
    expected = naive(extractor, x, spans.clamp(min=0)) * span_mask.unsqueeze(-1)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    assert (out[1, 3:] == 0).all()


def test_without_mask_and_gradient():
    torch.manual_seed(1)
    extractor = BiaffineSpanExtractor(input_dim=3, output_dim=2)
    x = torch.randn(1, 4, 3, requires_grad=True)
    spans = torch.tensor([[[0, 3], [2, 2]]])
    out = extractor(x, spans)
    torch.testing.assert_close(out, naive(extractor, x.detach(), spans), rtol=1e-5, atol=1e-5)
    out.sum().backward()
    assert extractor.weight.grad is not None and extractor.weight.grad.abs().sum() > 0
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_no_spans():
    extractor = BiaffineSpanExtractor(input_dim=3, output_dim=2)
    out = extractor(torch.randn(2, 4, 3), torch.zeros(2, 0, 2, dtype=torch.long))
    assert out.shape == (2, 0, 2)


def test_sequence_mask_skips_padding_tokens_only():
    torch.manual_seed(2)
    extractor = BiaffineSpanExtractor(input_dim=5, output_dim=3)
    x = torch.randn(3, 6, 5)
    spans = torch.tensor([[[0, 5], [2, 3], [5, 5]], [[0, 0], [1, 3], [3, 3]], [[0, 1], [1, 1], [0, 0]]])
    sequence_mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2, [True] * 2 + [False] * 4])
    torch.testing.assert_close(extractor(x, spans, sequence_mask), extractor(x, spans), rtol=1e-5, atol=1e-6)


def test_projection_then_biaffine_matches_naive_computation():
    torch.manual_seed(3)
    extractor = BiaffineSpanExtractor(input_dim=6, output_dim=4, projection_dim=3)
    assert extractor.weight.shape == (4, 4, 4)  # [projection_dim + 1, output_dim, projection_dim + 1]
    x = torch.randn(2, 5, 6)
    spans = torch.tensor([[[0, 0], [1, 3], [2, 4]], [[0, 2], [4, 4], [3, 4]]])
    got = extractor(x, spans)
    out = torch.zeros(2, 3, 4)
    with torch.no_grad():
        for b in range(2):
            for m in range(3):
                start, end = spans[b, m].tolist()
                x_s = torch.cat([extractor._start_projection(x[b, start]), torch.ones(1)])
                x_e = torch.cat([extractor._end_projection(x[b, end]), torch.ones(1)])
                for o in range(4):
                    out[b, m, o] = x_s @ extractor.weight[:, o, :] @ x_e
    assert torch.allclose(got, out, atol=1e-5)


def test_span_starting_on_padding_is_zero_and_gradient_flows_through_masked_path():
    torch.manual_seed(4)
    extractor = BiaffineSpanExtractor(input_dim=4, output_dim=3)
    x = torch.randn(2, 5, 4, requires_grad=True)
    spans = torch.tensor([[[0, 1], [4, 4]], [[1, 2], [3, 4]]])  # [3, 4] of sentence 1 starts on padding
    sequence_mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    out = extractor(x, spans, sequence_mask)
    expected = naive(extractor, x.detach(), spans)
    torch.testing.assert_close(out[0], expected[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out[1, 0], expected[1, 0], rtol=1e-5, atol=1e-5)
    assert (out[1, 1] == 0).all()
    out.sum().backward()
    assert extractor.weight.grad is not None and extractor.weight.grad.abs().sum() > 0
    assert (x.grad[1, 3:] == 0).all() and x.grad[1, :3].abs().sum() > 0


@pytest.mark.parametrize("projection_dim", [None, 3])
def test_folded_weight_equals_the_linear_map_after_the_product(projection_dim):
    torch.manual_seed(5)
    extractor = BiaffineSpanExtractor(input_dim=5, output_dim=4, projection_dim=projection_dim)
    linear = torch.randn(6, 4)
    x = torch.randn(2, 6, 5)
    spans = torch.tensor([[[0, 2], [3, 5], [1, 1]], [[0, 0], [2, 3], [-1, -1]]])
    span_mask = spans[..., 0] >= 0
    sequence_mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    with torch.no_grad():
        folded = extractor.fold(linear)
        assert folded.shape == (extractor.weight.size(0), 6, extractor.weight.size(2))
        for mask in (None, sequence_mask):
            got = extractor(x, spans.clamp(min=0), mask, span_mask, weight=folded)
            expected = extractor(x, spans.clamp(min=0), mask, span_mask) @ linear.t()
            assert got.shape == (2, 3, 6)
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
