"""Fully convolutional network (FCN) for the generated scenes, with a bilinear-initialised transposed convolution.

The book's FCN (d2l.ai, chapter_computer-vision/fcn.html): a CNN body turns an image into a coarse feature map,
a 1x1 convolution turns each feature vector into class scores, and a transposed convolution with kernel 2s,
stride s and padding s/2 upsamples the scores by s back to the input size; its kernel starts as the
bilinear-interpolation kernel (`bilinear_kernel`), so the untrained upsampler *is* bilinear interpolation.

Here (see `FCNConfig`):
  * the body is timm's ``resnet10t`` with narrower stages, created with ``features_only=True`` and
    ``pretrained=False`` (nothing is downloaded; it is trained from scratch on the scenes: the only embedded
    backbone, ``weights/finetune_source``, is a 1-channel 32x32 letter classifier and does not fit RGB scenes);
  * FCN skips down to stride 2 (Long et al.'s FCN-8s carried on to the stem): the stride-32 scores are upsampled
    x2 by a bilinear-initialised transposed convolution and added to the 1x1 scores of the stride-16 features,
    again for strides 8, 4 and 2; the last transposed convolution (kernel 4, stride 2, padding 1) brings the
    stride-2 scores back to the input size. Skip score layers start at zero (as in the FCN paper), so the
    untrained network is exactly "coarse scores + bilinear upsampling". Why so fine: on these scenes most
    errors of a stride-4 version (val mIoU 0.776 after 7 epochs) were object/background boundary pixels
    (binary foreground IoU 0.85) rather than confusions between shapes (5.7% of the foreground pixels).

Masks use `core.data.scenes`' encoding: 0 = background, k + 1 = class k (6 classes in all).

Training: ``python -m core.train fcn`` (recipe: core/training/recipes/fcn.py); the trained model:
``core.weights.registry.load_model("fcn", device)``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.data.images import IMAGENET_MEAN, IMAGENET_STD
from core.data.scenes import CLASS_NAMES

NAME = "fcn"
"""Weights name (``weights/fcn.safetensors`` + ``weights/fcn.json``) and model key."""

SEGMENTATION_CLASS_NAMES: tuple[str, ...] = ("background",) + CLASS_NAMES
"""Class index i of the network's output = mask value i."""

NUM_SEG_CLASSES = len(SEGMENTATION_CLASS_NAMES)


SCENE_SIZE = 256
"""Side of the generated training / test scenes."""

# --- the bilinear kernel -------------------------------------------------------------------------------------


def bilinear_kernel(in_channels: int, out_channels: int, kernel_size: int) -> Tensor:
    """The book's bilinear-interpolation kernel for ``nn.ConvTranspose2d`` weights.

    Returns (in_channels, out_channels, k, k) float32: channel i -> i holds the separable tent
    ``(1 - |r - c| / f) * (1 - |q - c| / f)`` with ``f = ceil(k / 2)`` and ``c = f - 1`` (k odd) or ``f - 0.5``
    (k even); every other channel pair is zero. With k = 2s, stride s, padding s / 2 the transposed
    convolution equals ``F.interpolate(scale_factor=s, mode="bilinear", align_corners=False)`` away from the border.
    """
    if kernel_size < 1:
        raise ValueError(f"kernel_size must be positive, got {kernel_size}")
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    og = torch.arange(kernel_size, dtype=torch.float32)
    tent = 1 - (og - center).abs() / factor  # (k,)
    filt = tent[:, None] * tent[None, :]  # (k, k)
    weight = torch.zeros(in_channels, out_channels, kernel_size, kernel_size)
    n = min(in_channels, out_channels)
    weight[range(n), range(n)] = filt
    return weight


def bilinear_upsampler(channels: int, scale: int) -> nn.ConvTranspose2d:
    """``nn.ConvTranspose2d(channels, channels, 2s, stride=s, padding=s/2, bias=False)`` initialised bilinear."""
    if scale < 2 or scale % 2:
        raise ValueError(f"scale must be an even integer >= 2, got {scale}")
    up = nn.ConvTranspose2d(channels, channels, kernel_size=2 * scale, stride=scale, padding=scale // 2, bias=False)
    with torch.no_grad():
        up.weight.copy_(bilinear_kernel(channels, channels, 2 * scale))
    return up


# --- the model -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FCNConfig:
    """Builder arguments of `FCN` (stored in the model card's ``config``)."""

    backbone: str = "resnet10t"  # timm model name, created with features_only=True, pretrained=False
    backbone_kwargs: dict = field(
        default_factory=lambda: {"channels": [32, 64, 128, 256], "stem_width": 24}
    )  # timm's resnet10t has 64..512 channels and stem 32: 4x fewer FLOPs here
    skip_strides: tuple[int, ...] = (16, 8, 4, 2)  # earlier stages whose 1x1 scores are added (() = plain FCN-32s)
    num_classes: int = NUM_SEG_CLASSES  # including background

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["skip_strides"] = list(self.skip_strides)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FCNConfig":
        data = dict(data)
        data["skip_strides"] = tuple(data.get("skip_strides", ()))
        return cls(**data)


class FCN(nn.Module):
    """Backbone -> 1x1 class scores -> bilinear-initialised transposed convolutions (with optional skips).

    Input: (B, 3, H, W) normalised images (any H, W: padded to a multiple of the output stride inside).
    Output of `forward`: (B, num_classes, H, W) logits. `forward_parts` also returns the coarse scores.
    """

    def __init__(self, config: FCNConfig = FCNConfig()):
        super().__init__()
        import timm

        self.config = config
        probe = timm.create_model(config.backbone, pretrained=False, features_only=True, **config.backbone_kwargs)
        reductions = list(probe.feature_info.reduction())
        channels = list(probe.feature_info.channels())
        self.output_stride = max(reductions)
        wanted = sorted(set(config.skip_strides) | {self.output_stride})
        missing = [s for s in wanted if s not in reductions]
        if missing:
            raise ValueError(f"{config.backbone} has no feature map at stride(s) {missing} (it has {reductions})")
        indices = [reductions.index(s) for s in wanted]
        # Only the stages we use: timm builds the body up to the deepest index.
        self.backbone = timm.create_model(
            config.backbone, pretrained=False, features_only=True, out_indices=indices, **config.backbone_kwargs
        )
        self.strides = wanted  # ascending, e.g. [4, 8, 16, 32]
        k = config.num_classes
        self.scores = nn.ModuleDict({str(s): nn.Conv2d(channels[reductions.index(s)], k, 1) for s in wanted})
        for s in wanted[:-1]:  # skip scores start at zero: the untrained net is coarse scores + bilinear
            nn.init.zeros_(self.scores[str(s)].weight)
            nn.init.zeros_(self.scores[str(s)].bias)
        # x2 upsamplers between consecutive strides (s_{i+1} -> s_i), then the last one back to the input.
        self.merges = nn.ModuleDict(
            {str(s): bilinear_upsampler(k, wanted[i + 1] // s) for i, s in enumerate(wanted[:-1])}
        )
        self.final_stride = wanted[0]
        self.upsample = bilinear_upsampler(k, self.final_stride)

    def forward_parts(self, x: Tensor) -> dict[str, Tensor]:
        """(B, 3, H, W) -> ``{"coarse": (B, K, H/32, W/32) scores of the deepest stage, "fused": (B, K, H/s, W/s)
        scores after the skips (s = the finest skip stride), "logits": (B, K, H, W)}`` (H/32 rounded up)."""
        height, width = x.shape[-2:]
        stride = self.output_stride
        pad_h, pad_w = (-height) % stride, (-width) % stride
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))  # zero = the mean colour after normalisation
        features = dict(zip(self.strides, self.backbone(x)))
        coarse = self.scores[str(stride)](features[stride])
        fused = coarse
        for s in reversed(self.strides[:-1]):
            fused = self.merges[str(s)](fused) + self.scores[str(s)](features[s])
        logits = self.upsample(fused)[..., :height, :width]
        crop_h, crop_w = math.ceil(height / stride), math.ceil(width / stride)
        fine_h, fine_w = math.ceil(height / self.final_stride), math.ceil(width / self.final_stride)
        return {"coarse": coarse[..., :crop_h, :crop_w], "fused": fused[..., :fine_h, :fine_w], "logits": logits}

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_parts(x)["logits"]


def build_fcn(config: FCNConfig | dict | None = None) -> FCN:
    """An untrained `FCN` (random backbone, bilinear upsamplers)."""
    if isinstance(config, dict):
        config = FCNConfig.from_dict(config)
    return FCN(config or FCNConfig())


def normalize(images: Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> Tensor:
    """(B, 3, H, W) uint8 or float in [0, 1] -> normalised float32."""
    if images.dtype == torch.uint8:
        images = images.float().div_(255.0)
    m = torch.tensor(mean, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images - m) / s


def from_weights(spec: Any, state: dict[str, Tensor], device: Any = "cpu") -> FCN:
    """The trained FCN of `spec` (``core.weights.registry.load_model("fcn", device)``), in eval mode."""
    model = build_fcn(spec.config)
    model.load_state_dict(state)
    return model.to(device).eval()


@torch.inference_mode()
def predict(
    model: FCN,
    image: np.ndarray,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    details: bool = True,
) -> dict[str, np.ndarray]:
    """Segment one (H, W, 3) uint8 RGB image.

    Returns ``{"class_map": (H, W) uint8 (0 = background, k + 1 = class k)}``, and with `details` also
    ``"probs": (K, H, W) float32 softmax, "coarse": (K, h, w) float32 scores at stride 32, "coarse_map": (h, w) uint8
    argmax of those, "fused": (K, H/s, W/s) float32 scores after the skips (s = `model.final_stride`)}``.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
    device = next(model.parameters()).device
    x = torch.tensor(image).permute(2, 0, 1)[None].to(device)  # (1, 3, H, W); a copy: inputs may be read-only
    parts = model.forward_parts(normalize(x, mean, std))
    logits = parts["logits"][0]  # (K, H, W)
    out = {"class_map": logits.argmax(0).to(torch.uint8).cpu().numpy()}
    if details:
        out.update(
            probs=logits.softmax(0).float().cpu().numpy(),
            coarse=parts["coarse"][0].float().cpu().numpy(),
            coarse_map=parts["coarse"][0].argmax(0).to(torch.uint8).cpu().numpy(),
            fused=parts["fused"][0].float().cpu().numpy(),
        )
    return out


@torch.inference_mode()
def predict_batch(
    model: FCN, images: Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> Tensor:
    """(B, H, W, 3) uint8 -> (B, H, W) int64 class maps."""
    x = images.permute(0, 3, 1, 2).to(next(model.parameters()).device)  # (B, 3, H, W)
    return model(normalize(x, mean, std)).argmax(1).cpu()


# --- the loss -----------------------------------------------------------------------------------------------


def soft_dice_loss(logits: Tensor, target: Tensor, eps: float = 1.0) -> Tensor:
    """1 - mean over classes of the soft Dice coefficient 2|P∩T| / (|P| + |T|), summed over the batch.

    logits (B, K, H, W), target (B, H, W) class indices. `eps` smooths classes absent from the batch.
    """
    probs = logits.softmax(1)  # (B, K, H, W)
    one_hot = F.one_hot(target, logits.shape[1]).permute(0, 3, 1, 2).to(probs.dtype)  # (B, K, H, W)
    intersection = (probs * one_hot).sum(dim=(0, 2, 3))  # (K,)
    total = probs.sum(dim=(0, 2, 3)) + one_hot.sum(dim=(0, 2, 3))
    return 1 - ((2 * intersection + eps) / (total + eps)).mean()
