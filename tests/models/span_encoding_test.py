"""SpanEncoding: span vectors on demand, and a linear layer of them from per-token projections."""
import torch
from allennlp.modules.span_extractors import EndpointSpanExtractor

from ere_allennlp.models.span_encoding import SpanEncoding


def encoding(num_spans_per_sentence: int) -> SpanEncoding:
    torch.manual_seed(0)
    extractor = EndpointSpanExtractor(4, combination="x,y", num_width_embeddings=3, span_width_embedding_dim=2)
    x = torch.randn(2, 5, 4, requires_grad=True)
    token_mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    all_spans = [[(s, e) for s in range(n) for e in range(s, min(s + 3, n))] for n in (5, 3)]
    spans = torch.full((2, 12, 2), -1, dtype=torch.long)
    for k, sentence in enumerate(all_spans):
        sentence = sentence[:num_spans_per_sentence]
        spans[k, : len(sentence)] = torch.tensor(sentence)
    return SpanEncoding(extractor, x, spans.clamp(min=0), token_mask, spans[..., 0] >= 0)


def test_real_linear_from_token_projections_equals_the_layer_on_span_vectors() -> None:
    layer = torch.nn.Linear(10, 3)
    many = encoding(12)  # 12 + 6 real spans > 8 real tokens: per-token projections
    assert int(many.span_mask.sum()) > int(many.token_mask.sum())
    got = many.real_linear(layer)
    assert many._vectors is None  # b was never built
    expected = layer(many.vectors[many.span_mask])
    torch.testing.assert_close(got, expected)
    grad_got = torch.autograd.grad(got.sum(), [many.x, layer.weight])
    grad_expected = torch.autograd.grad(expected.sum(), [many.x, layer.weight])
    for a, b in zip(grad_got, grad_expected):
        torch.testing.assert_close(a, b)


def test_few_spans_use_the_span_vectors() -> None:
    layer = torch.nn.Linear(10, 3)
    few = encoding(2)  # 2 + 2 real spans <= 8 real tokens
    got = few.real_linear(layer)
    assert few._vectors is not None
    assert got.shape == (4, 3)
    torch.testing.assert_close(got, layer(few.vectors[few.span_mask]))
    assert torch.all(few.vectors[~few.span_mask] == 0)
