"""DCGAN (Radford et al. 2016; d2l.ai 20.2) on 16x16 handwritten digits: the latent explorer's model.

Generator: z (B, D) -> transposed convolutions with batch norm and ReLU, 4x4 -> 8x8 -> 16x16 -> tanh.
Discriminator: strided convolutions with leaky ReLU, 16x16 -> 8x8 -> 4x4 -> one logit.
Train: `python -m core.train dcgan` (recipe: core/training/recipes/dcgan.py); load: `core.weights.registry.load_model("dcgan")`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from core.ops.latent import generate, latents

NAME = "dcgan"


@dataclass
class DCGANConfig:
    latent_dim: int = 32  # length of z
    width: int = 32  # channels of the last generator block; earlier blocks have 2x and 4x
    image_size: int = 16  # digits are upscaled from 8x8 to this
    channels: int = 1  # grey images


def g_block(in_channels: int, out_channels: int, kernel: int = 4, stride: int = 2, padding: int = 1) -> nn.Sequential:
    """ConvTranspose2d + BatchNorm + ReLU (d2l.ai's G_block); doubles H and W with the defaults."""
    return nn.Sequential(
        nn.ConvTranspose2d(in_channels, out_channels, kernel, stride, padding, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def d_block(in_channels: int, out_channels: int, batch_norm: bool = True) -> nn.Sequential:
    """Conv2d(4, stride 2) + optional BatchNorm + LeakyReLU(0.2) (d2l.ai's D_block); halves H and W."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, 4, 2, 1, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(*layers)


class Generator(nn.Module):
    """z (B, latent_dim [+ extra]) -> images (B, channels, 16, 16) in [-1, 1]."""

    def __init__(self, config: DCGANConfig, extra_inputs: int = 0):
        super().__init__()
        w = config.width
        self.config = config
        self.first = g_block(config.latent_dim + extra_inputs, 4 * w, kernel=4, stride=1, padding=0)  # 1 -> 4
        self.body = nn.Sequential(g_block(4 * w, 2 * w), g_block(2 * w, w))  # 4 -> 8 -> 16
        self.to_image = nn.Sequential(nn.Conv2d(w, config.channels, 3, 1, 1), nn.Tanh())

    def features(self, z: torch.Tensor) -> torch.Tensor:
        """The first block's activations (B, 4*width, 4, 4): where the latent explorer's PCA is computed."""
        return self.first(z.reshape(z.shape[0], -1, 1, 1))  # (B, D, 1, 1) -> (B, 4w, 4, 4)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.to_image(self.body(self.features(z)))


class Discriminator(nn.Module):
    """images (B, channels [+ extra], 16, 16) -> logits (B,)."""

    def __init__(self, config: DCGANConfig, extra_channels: int = 0):
        super().__init__()
        w = config.width
        self.net = nn.Sequential(
            d_block(config.channels + extra_channels, w, batch_norm=False),  # 16 -> 8
            d_block(w, 2 * w),  # 8 -> 4
            nn.Conv2d(2 * w, 1, 4, 1, 0),  # 4 -> 1
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).reshape(-1)


def build_generator(config: dict[str, Any] | None = None) -> Generator:
    return Generator(DCGANConfig(**(config or {})))


def from_weights(spec: Any, state: dict[str, torch.Tensor], device: Any = "cpu") -> Generator:
    """The generator of `spec` (a `core.weights.hub.WeightsSpec`) with the weights `state`, in eval mode (batch
    norm uses its running statistics: a sample does not depend on the other samples of the batch)."""
    generator = build_generator(spec.config)
    generator.load_state_dict(state)
    return generator.to(device).eval()


@torch.no_grad()
def sample(generator: Generator, seed: int, n: int) -> torch.Tensor:
    """n samples (n, 1, 16, 16) for `seed`; sample i is the same, bit for bit, whatever n is."""
    return generate(generator, latents(seed, n, generator.config.latent_dim))
