"""core.models.fcn: the book's bilinear kernel, the FCN's shapes and initialisation, the trained weights and their card."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.models import fcn
from core.weights import hub
from core.data.scenes import make_scene


def test_bilinear_kernel_is_the_books_for_k4():
    # The book: factor = (k + 1) // 2 = 2, center = factor - 0.5 = 1.5 -> tent [1/4, 3/4, 3/4, 1/4].
    tent = torch.tensor([0.25, 0.75, 0.75, 0.25])
    weight = fcn.bilinear_kernel(3, 3, 4)
    assert weight.shape == (3, 3, 4, 4)
    for c in range(3):
        torch.testing.assert_close(weight[c, c], tent[:, None] * tent[None, :])
    off = weight.clone()
    off[range(3), range(3)] = 0
    assert off.abs().sum() == 0  # only channel i -> i


def test_bilinear_kernel_odd_size_and_non_square_channels():
    # k = 3: factor 2, center 1 -> tent [1/2, 1, 1/2] (the book's odd branch)
    weight = fcn.bilinear_kernel(2, 4, 3)
    assert weight.shape == (2, 4, 3, 3)
    torch.testing.assert_close(weight[1, 1], torch.tensor([0.5, 1.0, 0.5])[:, None] * torch.tensor([0.5, 1.0, 0.5]))
    assert weight[:, 2:].abs().sum() == 0


@pytest.mark.parametrize("scale", [2, 4, 8, 32])
def test_bilinear_transposed_convolution_equals_interpolate_in_the_interior(scale):
    x = torch.rand(2, 3, 7, 9, generator=torch.Generator().manual_seed(scale))
    up = F.conv_transpose2d(x, fcn.bilinear_kernel(3, 3, 2 * scale), stride=scale, padding=scale // 2)
    reference = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
    assert up.shape == reference.shape == (2, 3, 7 * scale, 9 * scale)
    inner = slice(scale, -scale)  # the border differs: the transposed convolution pads with zeros
    torch.testing.assert_close(up[..., inner, inner], reference[..., inner, inner], atol=1e-5, rtol=0)
    assert not torch.allclose(up[..., 0, 0], reference[..., 0, 0])  # the border does differ (zero padding)


def test_bilinear_upsampler_module_and_bad_scale():
    up = fcn.bilinear_upsampler(6, 4)
    assert (up.kernel_size, up.stride, up.padding, up.bias) == ((8, 8), (4, 4), (2, 2), None)
    torch.testing.assert_close(up.weight.data, fcn.bilinear_kernel(6, 6, 8))
    with pytest.raises(ValueError, match="even"):
        fcn.bilinear_upsampler(6, 3)


@pytest.fixture(scope="module")
def untrained():
    torch.manual_seed(0)
    return fcn.build_fcn().eval()


@pytest.mark.parametrize("size", [(256, 256), (100, 150), (33, 64)])
def test_output_shapes(untrained, size):
    h, w = size
    with torch.no_grad():
        parts = untrained.forward_parts(torch.rand(2, 3, h, w))
    assert parts["logits"].shape == (2, fcn.NUM_SEG_CLASSES, h, w)
    assert parts["coarse"].shape == (2, fcn.NUM_SEG_CLASSES, math.ceil(h / 32), math.ceil(w / 32))
    s = untrained.final_stride
    assert parts["fused"].shape == (2, fcn.NUM_SEG_CLASSES, math.ceil(h / s), math.ceil(w / s))


def test_untrained_fcn_is_coarse_scores_plus_bilinear_upsampling(untrained):
    # Skip scores start at zero and every transposed convolution is bilinear: the output is the coarse scores
    # pushed through the chain of x2 bilinear upsamplers (32 -> 16 -> 8 -> 4 -> 2 -> 1).
    assert untrained.strides == [2, 4, 8, 16, 32] and untrained.final_stride == 2
    for s in ("2", "4", "8", "16"):
        assert untrained.scores[s].weight.abs().sum() == 0
        torch.testing.assert_close(untrained.merges[s].weight.data, fcn.bilinear_kernel(6, 6, 4))
    torch.testing.assert_close(untrained.upsample.weight.data, fcn.bilinear_kernel(6, 6, 4))
    with torch.no_grad():
        parts = untrained.forward_parts(torch.rand(1, 3, 64, 64))
        chain = parts["coarse"]
        for s in ("16", "8", "4", "2"):
            chain = untrained.merges[s](chain) + untrained.scores[s].bias.view(1, -1, 1, 1)
        torch.testing.assert_close(untrained.upsample(chain), parts["logits"])


def test_backbone_is_timm_features_only_and_missing_stride_is_clear():
    with pytest.raises(ValueError, match="no feature map at stride"):
        fcn.build_fcn(fcn.FCNConfig(skip_strides=(3,)))
    model = fcn.build_fcn(fcn.FCNConfig(skip_strides=()))
    assert model.strides == [32] and model.upsample.kernel_size == (64, 64)  # the book's FCN-32s head


def test_soft_dice_loss():
    target = torch.randint(0, 6, (2, 16, 16), generator=torch.Generator().manual_seed(1))
    perfect = F.one_hot(target, 6).permute(0, 3, 1, 2).float() * 50  # (B, K, H, W) confident and right
    assert fcn.soft_dice_loss(perfect, target) < 1e-3
    wrong = F.one_hot((target + 1) % 6, 6).permute(0, 3, 1, 2).float() * 50
    assert fcn.soft_dice_loss(wrong, target) > 0.99
    # by hand: one class, p = 0.5 everywhere, half the pixels true: dice = 2 * 0.5*2 / (0.5*4 + 2) = 0.5 (eps -> 0)
    logits = torch.zeros(1, 2, 2, 1)
    target = torch.tensor([[[0], [1]]])
    assert fcn.soft_dice_loss(logits, target, eps=0.0) == pytest.approx(0.5)


def test_predict_returns_maps_and_rejects_bad_images(untrained):
    image = make_scene(3).image
    out = fcn.predict(untrained, image)
    assert out["class_map"].shape == (256, 256) and out["class_map"].dtype == np.uint8
    assert out["probs"].shape == (6, 256, 256)
    np.testing.assert_allclose(out["probs"].sum(0), 1.0, atol=1e-4)
    assert out["coarse"].shape == (6, 8, 8) and out["fused"].shape == (6, 128, 128)
    with pytest.raises(ValueError, match="uint8"):
        fcn.predict(untrained, image.astype(np.float32))


# --- the trained, embedded weights -------------------------------------------------------------------------


def test_embedded_weights_card_and_size():
    spec = hub.load_spec(fcn.NAME)
    card = hub.load_card(fcn.NAME)["card"]
    assert (hub.WEIGHTS_DIR / spec.filename).stat().st_size <= 10 * 2**20
    assert spec.class_names == fcn.SEGMENTATION_CLASS_NAMES and spec.input_size == (3, 256, 256)
    for key in ("data_seeds", "epochs", "wall_time_s", "device", "metrics", "skips"):
        assert key in card
    assert set(card["metrics"]["test_per_class_iou"]) == set(fcn.SEGMENTATION_CLASS_NAMES)  # (tests/test_evaluate.py
    # re-measures the model's numbers on its fixed subset)
