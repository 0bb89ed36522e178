"""CycleGAN (Zhu et al. 2017) between day photos (domain A) and night scenes (domain B), learned without pairs.

Data, built from images bundled with scikit-image / scikit-learn and resized to 160 px on the long side:
  A = 32x32 crops from the LEFT halves of the training photos, as they are;
  B = 32x32 crops from the RIGHT halves of the same photos after a "day for night" grade (`night_filter`: the
      cinema trick of shooting by day and grading to night: less saturation, darker mid-tones, a blue cast).
No crop of A shows the scene region of any crop of B, so the model never sees a (day, night) pair: it is
honestly unpaired. Because we know the filter, the held-out photo (coffee) can still be scored against its
true night version, which CycleGAN itself never uses.

(A first choice, OpenCV's `cv2.stylization` cartoons, did not train in CPU-minutes: after 3,000 steps the
generator had learned the cartoons' darker palette but not their outlines, and hid the photo in the colours.)

Losses, with G: A -> B and F: B -> A and least-squares discriminators D_A, D_B:
  L = L_GAN(G, D_B) + L_GAN(F, D_A) + λ_cyc (|F(G(a)) - a|_1 + |G(F(b)) - b|_1) + λ_id (|G(b) - b|_1 + |F(a) - a|_1)
with λ_cyc = 10 and λ_id = 5 as in the paper. Generators are fully convolutional: they run on whole images.
Smaller than the paper's, with skip connections and without instance normalisation (see `CycleGenerator`);
no history buffer of generated images for the discriminators.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch import nn

NAME = "cyclegan"
WORK_SIDE = 160
"""Images are translated at this long side (pixels): the scale the generators learned the filter at."""

TRAIN_PHOTOS = ("astronaut", "chelsea", "rocket", "china", "flower", "motorcycle")
HELD_OUT_PHOTO = "coffee"
DOMAINS = {"A": "day", "B": "night"}
DIRECTIONS = ("A->B", "B->A")
NIGHT_SATURATION = 0.5
"""The night grade keeps half of each pixel's saturation (mixes it half-and-half with its grey level)..."""
NIGHT_GAMMA = 1.6
"""...raises it to this power (darker mid-tones, deeper shadows)..."""
NIGHT_GAIN = (0.55, 0.70, 1.00)
NIGHT_OFFSET = (0.00, 0.02, 0.10)
"""...and scales / lifts R, G, B: the blue cast of moonlight. All on the [0, 1] scale."""


@dataclass
class CycleGANConfig:
    width: int = 32  # channels at full resolution; 1.5x this at half resolution
    residual_blocks: int = 3  # residual blocks at half resolution
    crop: int = 32  # training crop size


def bundled_photo(name: str) -> np.ndarray:
    """One bundled RGB photo (H, W, 3) uint8 at full size."""
    if name == "motorcycle":
        from skimage import data

        return data.stereo_motorcycle()[0]
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image

        return load_sample_image(f"{name}.jpg")
    from skimage import data

    return getattr(data, name)()


def to_working_size(image: np.ndarray, side: int = WORK_SIDE) -> np.ndarray:
    """(H, W, 3) uint8 resized (area interpolation) so that its long side is `side`; sides rounded to multiples of 4."""
    import cv2

    h, w = image.shape[:2]
    scale = side / max(h, w)
    new_w, new_h = max(4, round(w * scale / 4) * 4), max(4, round(h * scale / 4) * 4)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(image), (new_w, new_h), interpolation=interpolation)


def night_filter(image: np.ndarray) -> np.ndarray:
    """Domain B's "day for night" grade of an RGB (H, W, 3) uint8 image -> (H, W, 3) uint8:
    x' = clip((s x + (1 - s) grey(x))^γ · gain + offset), grey = 0.299 R + 0.587 G + 0.114 B."""
    x = image.astype(np.float32) / 255
    grey = x @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # (H, W)
    x = NIGHT_SATURATION * x + (1 - NIGHT_SATURATION) * grey[..., None]
    x = x**NIGHT_GAMMA * np.array(NIGHT_GAIN, dtype=np.float32) + np.array(NIGHT_OFFSET, dtype=np.float32)
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) float in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div(127.5).sub(1).unsqueeze(0)


@lru_cache(maxsize=1)
def domain_images() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The unpaired training material: (A = left halves of the photos, B = right halves of their night grades)."""
    a_parts, b_parts = [], []
    for name in TRAIN_PHOTOS:
        photo = to_working_size(bundled_photo(name))
        half = photo.shape[1] // 2
        a_parts.append(photo[:, :half])
        b_parts.append(night_filter(photo)[:, half:])
    return a_parts, b_parts


def random_crops(parts: list[np.ndarray], n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """n random size x size crops (n, 3, size, size) in [-1, 1], a random part each, randomly flipped left-right."""
    crops = []
    for _ in range(n):
        part = parts[int(torch.randint(len(parts), (1,), generator=generator))]
        h, w = part.shape[:2]
        y = int(torch.randint(h - size + 1, (1,), generator=generator))
        x = int(torch.randint(w - size + 1, (1,), generator=generator))
        crop = part[y:y + size, x:x + size]
        if bool(torch.rand(1, generator=generator) < 0.5):
            crop = crop[:, ::-1]
        crops.append(to_tensor(crop))
    return torch.cat(crops)


class ResidualBlock(nn.Module):
    """x + conv(relu(conv(x))) with reflection padding (no normalisation: see `CycleGenerator`)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class CycleGenerator(nn.Module):
    """images (B, 3, H, W) in [-1, 1] -> (B, 3, H, W) in [-1, 1]; H and W even.

    The paper's ResNet generator, smaller (7x7 conv, one stride-2 downsampling, residual blocks, one
    upsampling), with two changes for a few CPU-minutes of training on 32x32 crops:
    - skip connections (as in a U-Net): the last layers see the upsampled features, the full-resolution
      features and the input itself, so edges stay sharp early in training;
    - no instance normalisation: it would normalise each 32x32 crop in training but the whole photo at use,
      shifting colours.
    """

    def __init__(self, config: CycleGANConfig):
        super().__init__()
        w, wide = config.width, config.width * 3 // 2
        self.head = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(3, w, 7), nn.ReLU(inplace=True))  # (B, w, H, W)
        self.body = nn.Sequential(
            nn.Conv2d(w, wide, 3, 2, 1), nn.ReLU(inplace=True),  # H/2
            *[ResidualBlock(wide) for _ in range(config.residual_blocks)],
            nn.ConvTranspose2d(wide, w, 3, 2, 1, output_padding=1), nn.ReLU(inplace=True),  # H
        )
        self.tail = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(2 * w + 3, w, 3), nn.ReLU(inplace=True),
            nn.Conv2d(w, 3, 1), nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(x)
        return self.tail(torch.cat([self.body(h), h, x], dim=1))  # (B, w + w + 3, H, W)


class PatchDiscriminator(nn.Module):
    """images (B, 3, 32, 32) -> a map of patch logits (B, 1, 6, 6) (a small PatchGAN, least-squares loss)."""

    def __init__(self, config: CycleGANConfig):
        super().__init__()
        w = config.width
        self.net = nn.Sequential(
            nn.Conv2d(3, w, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.InstanceNorm2d(2 * w), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * w, 4 * w, 4, 1, 1), nn.InstanceNorm2d(4 * w), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(4 * w, 1, 4, 1, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@dataclass
class CycleGAN:
    """The two trained generators: `a_to_b` (G: day -> night) and `b_to_a` (F: night -> day)."""

    a_to_b: CycleGenerator
    b_to_a: CycleGenerator

    def pair(self, direction: str) -> tuple[CycleGenerator, CycleGenerator]:
        """(forward, backward) generators for "A->B" or "B->A"."""
        if direction not in DIRECTIONS:
            raise ValueError(f"direction must be one of {list(DIRECTIONS)}, got {direction!r}")
        return (self.a_to_b, self.b_to_a) if direction == "A->B" else (self.b_to_a, self.a_to_b)


@dataclass
class Translation:
    """One round trip: input x, translated y = G(x), reconstruction F(G(x)), all (H, W, 3) uint8, and
    cycle_loss = mean |F(G(x)) - x| on the [-1, 1] scale (the paper's L1 cycle term, before λ)."""

    source: np.ndarray
    translated: np.ndarray
    reconstructed: np.ndarray
    cycle_loss: float


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) in [-1, 1] -> (H, W, 3) uint8."""
    return ((x[0].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()


@torch.no_grad()
def translate(model: CycleGAN, image: np.ndarray, direction: str = "A->B") -> Translation:
    """Translate an RGB (H, W, 3) uint8 image (H, W even) one way and back; see `Translation`."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
    forward, backward = model.pair(direction)
    x = to_tensor(image)
    y = forward(x)
    back = backward(y)
    return Translation(image, _to_uint8(y), _to_uint8(back), float((back - x).abs().mean()))


def build(config: dict[str, Any] | None = None) -> CycleGAN:
    cfg = CycleGANConfig(**(config or {}))
    return CycleGAN(CycleGenerator(cfg), CycleGenerator(cfg))


def from_weights(spec: Any, state: dict[str, torch.Tensor], device: Any = "cpu") -> CycleGAN:
    """Both generators (``a_to_b.`` and ``b_to_a.`` keys of `state`), in eval mode."""
    model = build(spec.config)
    for prefix, generator in (("a_to_b.", model.a_to_b), ("b_to_a.", model.b_to_a)):
        generator.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
        generator.to(device).eval()
    return model
