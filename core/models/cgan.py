"""Conditional GAN (Mirza & Osindero 2014) on 16x16 digits: tell the generator which digit to draw.

The DCGAN networks with the class as a one-hot vector y concatenated to the input:
G(z, y) takes [z, y] (B, D + 10); D(x, y) takes x with 10 extra channels, channel y filled with ones.
The objective is the GAN game with both players conditioned: min_G max_D E[log D(x|y)] + E[log(1 - D(G(z|y)|y))].
Quality: `core.evaluation.generative.digit_classifier()` (trained on real digits only) must read >= 90% of the samples
as the digit that was asked for (`core.evaluation.evaluators.cgan_quality`).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.data.digits import NUM_CLASSES
from core.models.dcgan import DCGANConfig, Discriminator, Generator
from core.ops.latent import generate, latents

NAME = "cgan"
CLASS_NAMES = tuple(str(d) for d in range(NUM_CLASSES))


class ConditionalGenerator(nn.Module):
    """(z (B, D), labels (B,) int64) -> images (B, 1, 16, 16): the DCGAN generator fed [z, one_hot(label)]."""

    def __init__(self, config: DCGANConfig):
        super().__init__()
        self.config = config
        self.net = Generator(config, extra_inputs=NUM_CLASSES)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        y = F.one_hot(labels, NUM_CLASSES).to(z.dtype)  # (B, 10)
        return self.net(torch.cat([z, y], dim=1))  # (B, D + 10)


class ConditionalDiscriminator(nn.Module):
    """(images (B, 1, 16, 16), labels (B,)) -> logits (B,): the DCGAN discriminator fed the one-hot as 10 planes."""

    def __init__(self, config: DCGANConfig):
        super().__init__()
        self.net = Discriminator(config, extra_channels=NUM_CLASSES)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        planes = F.one_hot(labels, NUM_CLASSES).to(x.dtype).reshape(b, NUM_CLASSES, 1, 1).expand(b, NUM_CLASSES, h, w)
        return self.net(torch.cat([x, planes], dim=1))  # (B, 1 + 10, H, W)


def build_generator(config: dict[str, Any] | None = None) -> ConditionalGenerator:
    return ConditionalGenerator(DCGANConfig(**(config or {})))


def from_weights(spec: Any, state: dict[str, torch.Tensor], device: Any = "cpu") -> ConditionalGenerator:
    """The conditional generator of `spec` with the weights `state`, in eval mode."""
    generator = build_generator(spec.config)
    generator.load_state_dict(state)
    return generator.to(device).eval()


@torch.no_grad()
def sample(generator: ConditionalGenerator, seed: int, n: int, label: int) -> torch.Tensor:
    """n samples (n, 1, 16, 16) of digit `label` for `seed` (the latents are those of `latents(seed, n)`)."""
    if not 0 <= label < NUM_CLASSES:
        raise ValueError(f"label must be a digit 0..9, got {label}")
    z = latents(seed, n, generator.config.latent_dim)
    return generate(generator, z, torch.full((n,), label, dtype=torch.int64))


@torch.no_grad()
def sample_all_classes(generator: ConditionalGenerator, seed: int, n: int = 1) -> torch.Tensor:
    """The same n latents drawn as every digit: (10 * n, 1, 16, 16), class-major (rows 0..n-1 are the 0s)."""
    z = latents(seed, n, generator.config.latent_dim).repeat(NUM_CLASSES, 1)  # (10n, D)
    labels = torch.arange(NUM_CLASSES).repeat_interleave(n)  # (10n,)
    return generate(generator, z, labels)
