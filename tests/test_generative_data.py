"""core.data.digits: the digits as training images, and the display conversion."""

import numpy as np
import pytest
import torch

from core.data.digits import digits_raw, load_digits_tensor, to_uint8


def test_digits_are_the_real_sklearn_digits():
    images, labels = digits_raw()
    assert images.shape == (1797, 8, 8) and labels.shape == (1797,)
    assert images.min() == 0.0 and images.max() == 1.0
    assert np.bincount(labels).tolist()[:3] == [178, 182, 177]  # sklearn's class counts


@pytest.mark.parametrize("size", [8, 16, 32])
def test_load_digits_tensor_shapes_and_range(size):
    x, y = load_digits_tensor(size)
    assert x.shape == (1797, 1, size, size) and x.dtype == torch.float32
    assert y.dtype == torch.int64
    assert float(x.min()) == -1.0 and float(x.max()) <= 1.0


def test_upscaled_digits_pool_back_to_the_originals():
    original, _ = load_digits_tensor(8)
    up, _ = load_digits_tensor(16)
    pooled = torch.nn.functional.avg_pool2d(up, 2)
    # bilinear x2 then 2x2 mean is a mild blur of the original, not a different picture
    assert float((pooled - original).abs().mean()) < 0.2
    correlation = torch.corrcoef(torch.stack([pooled.flatten(), original.flatten()]))[0, 1]
    assert float(correlation) > 0.97


@pytest.mark.parametrize("size", [0, 12, 4])
def test_bad_size_is_refused(size):
    with pytest.raises(ValueError):
        load_digits_tensor(size)


def test_to_uint8_maps_range_and_enlarges_with_nearest():
    x = torch.tensor([[[[-1.0, 1.0], [0.0, 2.0]]]])  # (1, 1, 2, 2)
    out = to_uint8(x, scale=3)
    assert out.shape == (1, 6, 6, 3) and out.dtype == np.uint8
    assert out[0, 0, 0].tolist() == [0, 0, 0]
    assert out[0, 0, 5].tolist() == [255, 255, 255]
    assert out[0, 5, 0, 0] == 128  # 0 -> 127.5 rounds to 128
    assert out[0, 5, 5, 0] == 255  # clipped
    assert (out[0, :3, :3] == 0).all()  # one pixel became a 3x3 block
