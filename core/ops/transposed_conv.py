"""Transposed convolution three ways: scatter-add, zero insertion + ordinary convolution, and the matrix view.

Follows d2l.ai, "Transposed Convolution" (chapter_computer-vision/transposed-conv.html). Single channel, no
batch: inputs are (h, w) tensors and kernels (kh, kw) tensors; ``stride``, ``padding`` and ``output_padding``
take an int or an (h, w) pair, with PyTorch's meaning (``torch.nn.functional.conv_transpose2d``).

Output size per dimension: ``(in - 1) * stride - 2 * padding + kernel + output_padding``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "output_size",
    "conv_output_size",
    "trans_conv",
    "scatter_contributions",
    "zero_insert",
    "zero_insertion_input",
    "trans_conv_zero_insertion",
    "conv_matrix",
    "trans_conv_matrix",
    "overlap_count",
]

IntPair = int | Sequence[int]


def _pair(value: IntPair, name: str) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    pair = tuple(int(v) for v in value)
    if len(pair) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}.")
    return pair  # type: ignore[return-value]


def output_size(in_size: int, kernel: int, stride: int = 1, padding: int = 0, output_padding: int = 0) -> int:
    """Transposed-convolution output length: ``(in - 1) * stride - 2 * padding + kernel + output_padding``."""
    return (in_size - 1) * stride - 2 * padding + kernel + output_padding


def conv_output_size(in_size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Ordinary convolution output length: ``floor((in + 2 * padding - kernel) / stride) + 1``."""
    return (in_size + 2 * padding - kernel) // stride + 1


def _geometry(
    in_hw: tuple[int, int], kernel_hw: tuple[int, int], stride: IntPair, padding: IntPair, output_padding: IntPair
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]:
    """Validated (stride, padding, output_padding, output size) pairs, with PyTorch's rules."""
    s, p, op = _pair(stride, "stride"), _pair(padding, "padding"), _pair(output_padding, "output_padding")
    if min(in_hw) < 1 or min(kernel_hw) < 1:
        raise ValueError(f"Input and kernel must be non-empty, got {in_hw} and {kernel_hw}.")
    if min(s) < 1:
        raise ValueError(f"Stride must be at least 1, got {s}.")
    if min(p) < 0 or min(op) < 0:
        raise ValueError(f"Padding and output padding must be >= 0, got {p} and {op}.")
    if op[0] >= s[0] or op[1] >= s[1]:
        raise ValueError(f"Output padding must be smaller than the stride, got output padding {op}, stride {s}.")
    out = tuple(output_size(in_hw[d], kernel_hw[d], s[d], p[d], op[d]) for d in range(2))
    if min(out) < 1:
        raise ValueError(f"The output would be {out[0]}x{out[1]}: padding {p} is too large for this input and kernel.")
    return s, p, op, out  # type: ignore[return-value]


def _check_2d(name: str, t: Tensor) -> None:
    if t.dim() != 2:
        raise ValueError(f"{name} must be a 2-D (h, w) tensor, got shape {tuple(t.shape)}.")


def trans_conv(X: Tensor, K: Tensor, stride: IntPair = 1, padding: IntPair = 0, output_padding: IntPair = 0) -> Tensor:
    """Transposed convolution by scatter-add.

    Every input element ``X[i, j]`` adds ``X[i, j] * K`` to the output block whose upper-left corner is
    ``(i * stride, j * stride)``; then ``padding`` rows/columns are removed from each border (``output_padding``
    extra ones kept at the bottom/right). Equal to ``F.conv_transpose2d(X[None, None], K[None, None], ...)``.

    Args:
        X (Tensor[h, w]): input.
        K (Tensor[kh, kw]): kernel.

    Returns:
        Tensor[H_out, W_out]: see `output_size`.
    """
    _check_2d("X", X)
    _check_2d("K", K)
    (sh, sw), (ph, pw), (oph, opw), (out_h, out_w) = _geometry(X.shape, K.shape, stride, padding, output_padding)
    h, w = X.shape
    kh, kw = K.shape
    dtype = torch.promote_types(X.dtype, K.dtype)
    # The uncropped canvas, plus output_padding rows/columns in case they reach past it.
    full = torch.zeros((h - 1) * sh + kh + oph, (w - 1) * sw + kw + opw, dtype=dtype, device=X.device)
    for a in range(kh):  # kernel entry (a, b) lands at (i * sh + a, j * sw + b) for every input (i, j) at once
        for b in range(kw):
            full[a : a + (h - 1) * sh + 1 : sh, b : b + (w - 1) * sw + 1 : sw] += X * K[a, b]
    return full[ph : ph + out_h, pw : pw + out_w]


def scatter_contributions(
    X: Tensor, K: Tensor, stride: IntPair = 1, padding: IntPair = 0, output_padding: IntPair = 0
) -> Tensor:
    """Each input element's contribution to the output: ``X[i, j] * K`` placed at ``(i * s, j * s)``, cropped.

    Returns:
        Tensor[h, w, H_out, W_out]: ``contributions[i, j]`` is what ``X[i, j]`` adds; summing over (i, j) gives
        `trans_conv`.
    """
    _check_2d("X", X)
    _check_2d("K", K)
    (sh, sw), (ph, pw), (oph, opw), (out_h, out_w) = _geometry(X.shape, K.shape, stride, padding, output_padding)
    h, w = X.shape
    kh, kw = K.shape
    dtype = torch.promote_types(X.dtype, K.dtype)
    full = torch.zeros(h, w, (h - 1) * sh + kh + oph, (w - 1) * sw + kw + opw, dtype=dtype, device=X.device)
    ii, jj, aa, bb = torch.meshgrid(
        *(torch.arange(n, device=X.device) for n in (h, w, kh, kw)), indexing="ij"
    )  # each (h, w, kh, kw)
    full[ii, jj, ii * sh + aa, jj * sw + bb] = X[:, :, None, None] * K  # (h, w, kh, kw) products
    return full[:, :, ph : ph + out_h, pw : pw + out_w]


def zero_insert(X: Tensor, stride: IntPair) -> Tensor:
    """Insert ``stride - 1`` zeros between neighbouring elements.

    Args:
        X (Tensor[h, w]): input.

    Returns:
        Tensor[(h - 1) * sh + 1, (w - 1) * sw + 1]: ``X`` on every ``stride``-th position, zeros elsewhere.
    """
    _check_2d("X", X)
    sh, sw = _pair(stride, "stride")
    if min(sh, sw) < 1:
        raise ValueError(f"Stride must be at least 1, got {(sh, sw)}.")
    h, w = X.shape
    out = X.new_zeros((h - 1) * sh + 1, (w - 1) * sw + 1)
    out[::sh, ::sw] = X
    return out


def zero_insertion_input(
    X: Tensor, kernel_hw: tuple[int, int], stride: IntPair = 1, padding: IntPair = 0, output_padding: IntPair = 0
) -> Tensor:
    """The input of the equivalent ordinary convolution: `zero_insert`, then ``k - 1 - p`` zeros on each border
    (``+ output_padding`` at the bottom/right); a negative amount crops instead.

    Returns:
        Tensor[H_out + kh - 1, W_out + kw - 1]: convolving it (stride 1, no padding) with the flipped kernel
        gives `trans_conv`.
    """
    _check_2d("X", X)
    kh, kw = kernel_hw
    (_, _), (ph, pw), (oph, opw), _ = _geometry(X.shape, (kh, kw), stride, padding, output_padding)
    zi = zero_insert(X, stride)
    # F.pad order: (left, right, top, bottom); negative values crop.
    return F.pad(zi, (kw - 1 - pw, kw - 1 - pw + opw, kh - 1 - ph, kh - 1 - ph + oph))


def trans_conv_zero_insertion(
    X: Tensor, K: Tensor, stride: IntPair = 1, padding: IntPair = 0, output_padding: IntPair = 0
) -> Tensor:
    """Transposed convolution as an ordinary stride-1 convolution of `zero_insertion_input` with the kernel
    flipped upside down and left to right.

    Returns:
        Tensor[H_out, W_out]: equal to `trans_conv`.
    """
    _check_2d("K", K)
    dtype = torch.promote_types(X.dtype, K.dtype)
    Z = zero_insertion_input(X.to(dtype), tuple(K.shape), stride, padding, output_padding)
    return F.conv2d(Z[None, None], K.to(dtype).flip(0, 1)[None, None])[0, 0]


def conv_matrix(K: Tensor, input_hw: tuple[int, int], stride: IntPair = 1, padding: IntPair = 0) -> Tensor:
    """The ordinary convolution (cross-correlation) of an ``input_hw`` input with ``K`` as a matrix.

    ``(W @ x.flatten()).reshape(h_out, w_out) == F.conv2d(x[None, None], K[None, None], stride=..., padding=...)``,
    and the transposed convolution with the same kernel, stride and padding is ``W.T``:
    ``(W.T @ y.flatten()).reshape(input_hw) == F.conv_transpose2d(y, K, ..., output_padding=op)`` with
    ``op = (in + 2p - k) % stride`` per dimension (the rows/columns the convolution's floor dropped).

    Args:
        K (Tensor[kh, kw]): kernel.
        input_hw: the convolution's input size (h, w).

    Returns:
        Tensor[h_out * w_out, h * w]: one row per output pixel, one column per input pixel (row-major).
    """
    _check_2d("K", K)
    (sh, sw), (ph, pw) = _pair(stride, "stride"), _pair(padding, "padding")
    h, w = input_hw
    kh, kw = K.shape
    if min(sh, sw) < 1 or min(ph, pw) < 0:
        raise ValueError(f"Need stride >= 1 and padding >= 0, got stride {(sh, sw)}, padding {(ph, pw)}.")
    out_h, out_w = conv_output_size(h, kh, sh, ph), conv_output_size(w, kw, sw, pw)
    if min(h, w, out_h, out_w) < 1:
        raise ValueError(f"A {kh}x{kw} kernel does not fit a {h}x{w} input with padding {(ph, pw)}.")
    oi, oj, a, b = torch.meshgrid(
        *(torch.arange(n, device=K.device) for n in (out_h, out_w, kh, kw)), indexing="ij"
    )  # each (out_h, out_w, kh, kw)
    ii, jj = oi * sh - ph + a, oj * sw - pw + b  # input pixel under kernel entry (a, b) for output (oi, oj)
    inside = (ii >= 0) & (ii < h) & (jj >= 0) & (jj < w)
    W = K.new_zeros(out_h * out_w, h * w)
    W[(oi * out_w + oj)[inside], (ii * w + jj)[inside]] = K.expand(out_h, out_w, kh, kw)[inside]
    return W


def trans_conv_matrix(
    K: Tensor, input_hw: tuple[int, int], stride: IntPair = 1, padding: IntPair = 0, output_padding: IntPair = 0
) -> Tensor:
    """The transposed convolution of an ``input_hw`` input as a matrix: the transpose of the convolution matrix.

    ``(M @ X.flatten()).reshape(H_out, W_out) == trans_conv(X, K, stride, padding, output_padding)`` and
    ``M == conv_matrix(K, (H_out, W_out), stride, padding).T``.

    Returns:
        Tensor[H_out * W_out, h * w].
    """
    _check_2d("K", K)
    _, _, _, out_hw = _geometry(tuple(input_hw), tuple(K.shape), stride, padding, output_padding)
    return conv_matrix(K, out_hw, stride, padding).T


def overlap_count(
    in_hw: tuple[int, int],
    kernel_hw: tuple[int, int],
    stride: IntPair = 1,
    padding: IntPair = 0,
    output_padding: IntPair = 0,
) -> Tensor:
    """How many input elements write to each output pixel (uneven, a checkerboard, when kernel % stride != 0).

    Returns:
        Tensor[H_out, W_out] (int64).
    """
    ones = torch.ones(in_hw, dtype=torch.long)
    return trans_conv(ones, torch.ones(kernel_hw, dtype=torch.long), stride, padding, output_padding)
