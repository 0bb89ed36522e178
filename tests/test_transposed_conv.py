"""core.ops.transposed_conv: the book's example, and all three views equal to F.conv_transpose2d (hypothesis)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from core.ops.transposed_conv import (
    conv_matrix,
    conv_output_size,
    output_size,
    overlap_count,
    scatter_contributions,
    trans_conv,
    trans_conv_matrix,
    trans_conv_zero_insertion,
    zero_insert,
    zero_insertion_input,
)

X_BOOK = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
K_BOOK = torch.tensor([[0.0, 1.0], [2.0, 3.0]])


def torch_trans_conv(X, K, stride=1, padding=0, output_padding=0):
    out = F.conv_transpose2d(
        X[None, None], K[None, None], stride=stride, padding=padding, output_padding=output_padding
    )
    return out[0, 0]


def test_book_examples() -> None:
    expected = torch.tensor([[0.0, 0.0, 1.0], [0.0, 4.0, 6.0], [4.0, 12.0, 9.0]])
    assert torch.equal(trans_conv(X_BOOK, K_BOOK), expected)
    assert torch.equal(trans_conv_zero_insertion(X_BOOK, K_BOOK), expected)
    assert torch.equal((trans_conv_matrix(K_BOOK, (2, 2)) @ X_BOOK.flatten()).reshape(3, 3), expected)
    # padding=1 removes the border: [[4.]]; stride=2: the blocks no longer overlap.
    assert torch.equal(trans_conv(X_BOOK, K_BOOK, padding=1), torch.tensor([[4.0]]))
    stride2 = torch.tensor([[0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 2.0, 3.0], [0.0, 2.0, 0.0, 3.0], [4.0, 6.0, 6.0, 9.0]])
    assert torch.equal(trans_conv(X_BOOK, K_BOOK, stride=2), stride2)


def test_book_matrix_example() -> None:
    # The book: a 3x3 input, 2x2 kernel [[1, 2], [3, 4]]; the 4x9 matrix W and its transpose.
    K = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    X = torch.arange(9.0).reshape(3, 3)
    W = conv_matrix(K, (3, 3))
    assert W.shape == (4, 9)
    assert W[0].tolist() == [1, 2, 0, 3, 4, 0, 0, 0, 0]
    assert torch.equal((W @ X.flatten()).reshape(2, 2), F.conv2d(X[None, None], K[None, None])[0, 0])
    Y = F.conv2d(X[None, None], K[None, None])[0, 0]
    assert torch.equal((W.T @ Y.flatten()).reshape(3, 3), trans_conv(Y, K))


def test_contributions_sum_and_place() -> None:
    contrib = scatter_contributions(X_BOOK, K_BOOK)
    assert contrib.shape == (2, 2, 3, 3)
    assert torch.equal(contrib.sum(dim=(0, 1)), trans_conv(X_BOOK, K_BOOK))
    assert torch.equal(contrib[1, 1], torch.tensor([[0.0, 0, 0], [0, 0, 3], [0, 6, 9]]))  # 3 * K at (1, 1)


def test_zero_insertion_shapes() -> None:
    zi = zero_insert(X_BOOK, 2)
    assert torch.equal(zi, torch.tensor([[0.0, 0, 1], [0, 0, 0], [2, 0, 3]]))
    padded = zero_insertion_input(X_BOOK, (2, 2), stride=2)
    assert padded.shape == (5, 5)  # k - 1 - p = 1 zero on each border: conv with 2x2 gives 4x4


def test_output_size_and_overlap_checkerboard() -> None:
    assert output_size(2, 2) == 3
    assert output_size(4, 3, stride=2, padding=1, output_padding=1) == 8
    assert conv_output_size(8, 3, stride=2, padding=1) == 4
    counts = overlap_count((4, 4), (3, 3), stride=2)  # kernel 3 not divisible by stride 2: checkerboard
    assert counts[2:6, 2:6].tolist() == [[4, 2, 4, 2], [2, 1, 2, 1], [4, 2, 4, 2], [2, 1, 2, 1]]
    even = overlap_count((4, 4), (4, 4), stride=2, padding=1)  # divisible: uniform inside
    assert (even[1:-1, 1:-1] == 4).all()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="smaller than the stride"):
        trans_conv(X_BOOK, K_BOOK, stride=1, output_padding=1)
    with pytest.raises(ValueError, match="too large"):
        trans_conv(X_BOOK, K_BOOK, padding=2)
    with pytest.raises(ValueError, match="2-D"):
        trans_conv(X_BOOK[None], K_BOOK)


@settings(max_examples=50, deadline=None)
@given(
    h=st.integers(1, 5),
    w=st.integers(1, 5),
    kh=st.integers(1, 4),
    kw=st.integers(1, 4),
    sh=st.integers(1, 3),
    sw=st.integers(1, 3),
    ph=st.integers(0, 3),
    pw=st.integers(0, 3),
    data=st.data(),
)
def test_property_all_views_equal_torch(h, w, kh, kw, sh, sw, ph, pw, data) -> None:
    oph, opw = data.draw(st.integers(0, sh - 1)), data.draw(st.integers(0, sw - 1))
    assume(output_size(h, kh, sh, ph, oph) >= 1 and output_size(w, kw, sw, pw, opw) >= 1)
    seed = data.draw(st.integers(0, 2**16))
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(h, w, generator=g, dtype=torch.float64)
    K = torch.randn(kh, kw, generator=g, dtype=torch.float64)
    args = ((sh, sw), (ph, pw), (oph, opw))
    expected = torch_trans_conv(X, K, *args)
    torch.testing.assert_close(trans_conv(X, K, *args), expected)
    torch.testing.assert_close(trans_conv_zero_insertion(X, K, *args), expected)
    torch.testing.assert_close(scatter_contributions(X, K, *args).sum(dim=(0, 1)), expected)
    M = trans_conv_matrix(K, (h, w), *args)
    torch.testing.assert_close((M @ X.flatten()).reshape(expected.shape), expected)
    # The matrix's transpose is the ordinary convolution of the (larger) output-sized input.
    out_h, out_w = expected.shape
    Z = torch.randn(out_h, out_w, generator=g, dtype=torch.float64)
    conv = F.conv2d(Z[None, None], K[None, None], stride=(sh, sw), padding=(ph, pw))[0, 0]
    assert conv.shape == (h, w)
    torch.testing.assert_close((M.T @ Z.flatten()).reshape(h, w), conv)
    counts = overlap_count((h, w), (kh, kw), *args)
    assert torch.equal(counts, torch_trans_conv(torch.ones(h, w), torch.ones(kh, kw), *args).round().long())


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 7), k=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 2), seed=st.integers(0, 2**16)
)
def test_property_conv_matrix_equals_conv2d(n, k, s, p, seed) -> None:
    assume(n + 2 * p >= k)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, n + 1, generator=g, dtype=torch.float64)
    K = torch.randn(k, k, generator=g, dtype=torch.float64)
    assume(n + 1 + 2 * p >= k)
    W = conv_matrix(K, (n, n + 1), s, p)
    y = F.conv2d(x[None, None], K[None, None], stride=s, padding=p)[0, 0]
    torch.testing.assert_close((W @ x.flatten()).reshape(y.shape), y)
    op = ((n + 2 * p - k) % s, (n + 1 + 2 * p - k) % s)  # the rows/columns the convolution's floor dropped
    back = F.conv_transpose2d(y[None, None], K[None, None], stride=s, padding=p, output_padding=op)[0, 0]
    torch.testing.assert_close((W.T @ y.flatten()).reshape(n, n + 1), back)
