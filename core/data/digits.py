"""Bundled training data for the generative models: scikit-learn's handwritten digits.

`load_digits` holds 1,797 real 8x8 scans (grey levels 0..16, ten classes). They are bilinearly upscaled
to 16x16 or 32x32 and scaled to [-1, 1] (white strokes on black). The CycleGAN's photo/cartoon domains
live in `cyclegan.py`.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

DIGITS_MAX = 16.0
"""`load_digits` grey levels run from 0 to 16."""

NUM_CLASSES = 10


@lru_cache(maxsize=1)
def digits_raw() -> tuple[np.ndarray, np.ndarray]:
    """The original digits: images (1797, 8, 8) float32 in [0, 1] and labels (1797,) int64, read-only."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.images.astype(np.float32) / DIGITS_MAX  # (N, 8, 8) in [0, 1]
    labels = bunch.target.astype(np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def load_digits_tensor(size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 digits as images (N, 1, size, size) in [-1, 1] and labels (N,) int64.

    `size` is 8 (the originals) or a power-of-two multiple; upscaling is bilinear (align_corners=False).
    """
    if size < 8 or size & (size - 1):
        raise ValueError(f"size must be a power of two >= 8, got {size}")
    images, labels = digits_raw()
    x = torch.from_numpy(images.copy()).unsqueeze(1)  # (N, 1, 8, 8)
    if size != 8:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x.clamp(0, 1) * 2 - 1, torch.from_numpy(labels.copy())


def to_uint8(images: torch.Tensor, scale: int = 1) -> np.ndarray:
    """(B, C, H, W) float in [-1, 1] -> (B, H*scale, W*scale, 3) uint8, nearest-neighbour enlarged.

    Grey images (C = 1) are repeated to RGB so every gallery gets the same format.
    """
    x = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if scale > 1:
        x = x.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
    return x.permute(0, 2, 3, 1).contiguous().numpy()  # (B, H, W, 3)


def to_digit_features(images: torch.Tensor) -> np.ndarray:
    """(B, 1, S, S) in [-1, 1] -> (B, 64) in load_digits' 0..16 scale, average-pooled to 8x8."""
    x = (images.detach().float().clamp(-1, 1) + 1) / 2
    if x.shape[-1] != 8:
        x = F.adaptive_avg_pool2d(x, 8)
    return (x.reshape(x.shape[0], 64) * DIGITS_MAX).numpy()  # (B, 8*8)
