"""Progressive GAN (Karras et al. 2018) on digits: the generator grows 4x4 -> 8x8 -> 16x16 -> 32x32.

Training starts at 4x4. Each new resolution is faded in: while alpha runs from 0 to 1 the output is

    out = (1 - alpha) * upsample(to_rgb_old(h)) + alpha * to_rgb_new(block_new(h)),

the upsampled previous stage blended with the new block's output (the discriminator mirrors it with
average pooling, and real images are blended the same way), then the stage trains with alpha = 1.
Kept from the paper: pixel-wise feature normalisation in G, minibatch standard deviation in D, nearest
upsampling / average pooling, 1x1 to_rgb / from_rgb, a linear output. Simplified: the non-saturating GAN
loss with Adam instead of WGAN-GP, no equalised learning rate, no EMA of the generator.

The weights hold the final generator and a snapshot of the generator at the end of every stage
(`stage{k}.` prefixes), so the tab can show the same z as each stage drew it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.ops.latent import generate, latents

NAME = "progan"
START_RESOLUTION = 4


@dataclass
class ProGANConfig:
    latent_dim: int = 64  # length of z
    widths: list[int] = field(default_factory=lambda: [64, 64, 32, 16])  # channels at 4, 8, 16, 32 pixels
    channels: int = 1  # grey images

    @property
    def stages(self) -> int:
        return len(self.widths)

    def resolution(self, stage: int) -> int:
        return START_RESOLUTION * 2**stage


class PixelNorm(nn.Module):
    """x / sqrt(mean over channels of x² + 1e-8): every pixel's feature vector gets unit RMS (ProGAN 4.2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class MinibatchStd(nn.Module):
    """Appends one channel: the average over features and pixels of the batch's standard deviation (ProGAN 3)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        std = x.std(dim=0, unbiased=False).mean()
        return torch.cat([x, std.expand(b, 1, h, w)], dim=1)  # (B, C + 1, H, W)


def conv_act(in_channels: int, out_channels: int, kernel: int = 3, norm: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel, 1, kernel // 2), nn.LeakyReLU(0.2)]
    return layers + [PixelNorm()] if norm else layers


class ProGenerator(nn.Module):
    """z (B, latent_dim) -> images (B, 1, R, R), R = 4 * 2**stage, with fade-in `alpha` for the newest stage."""

    def __init__(self, config: ProGANConfig):
        super().__init__()
        self.config = config
        w = config.widths
        self.initial = nn.Sequential(PixelNorm(), nn.Linear(config.latent_dim, w[0] * 16))
        self.initial_conv = nn.Sequential(nn.LeakyReLU(0.2), PixelNorm(), *conv_act(w[0], w[0]))
        self.blocks = nn.ModuleList(
            [nn.Identity()]  # stage 0 has no upsampling block
            + [nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                             *conv_act(w[k - 1], w[k]), *conv_act(w[k], w[k]))
               for k in range(1, config.stages)]
        )
        self.to_rgb = nn.ModuleList([nn.Conv2d(w[k], config.channels, 1) for k in range(config.stages)])

    def trunk(self, z: torch.Tensor, stage: int) -> torch.Tensor:
        """Features (B, widths[stage], R, R) after the blocks of stages 0..stage."""
        h = self.initial(z).reshape(z.shape[0], self.config.widths[0], 4, 4)  # (B, w0 * 16) -> (B, w0, 4, 4)
        h = self.initial_conv(h)
        for k in range(1, stage + 1):
            h = self.blocks[k](h)
        return h

    def fade_parts(self, z: torch.Tensor, stage: int) -> tuple[torch.Tensor, torch.Tensor]:
        """For stage >= 1: (upsampled previous-stage image, new block's image), both (B, 1, R, R)."""
        if not 1 <= stage < self.config.stages:
            raise ValueError(f"fade-in exists for stages 1..{self.config.stages - 1}, got {stage}")
        h = self.trunk(z, stage - 1)
        old = F.interpolate(self.to_rgb[stage - 1](h), scale_factor=2, mode="nearest")
        new = self.to_rgb[stage](self.blocks[stage](h))
        return old, new

    def forward(self, z: torch.Tensor, stage: int | None = None, alpha: float = 1.0) -> torch.Tensor:
        stage = self.config.stages - 1 if stage is None else stage
        if not 0 <= stage < self.config.stages:
            raise ValueError(f"stage must be in 0..{self.config.stages - 1}, got {stage}")
        if stage == 0 or alpha >= 1:
            return self.to_rgb[stage](self.trunk(z, stage))
        old, new = self.fade_parts(z, stage)
        return (1 - alpha) * old + alpha * new


class ProDiscriminator(nn.Module):
    """images (B, 1, R, R) -> logits (B,), mirroring the generator (from_rgb, blocks with average pooling)."""

    def __init__(self, config: ProGANConfig):
        super().__init__()
        w = config.widths
        self.from_rgb = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(config.channels, w[k], 1), nn.LeakyReLU(0.2)) for k in range(config.stages)]
        )
        self.blocks = nn.ModuleList(
            [nn.Identity()]
            + [nn.Sequential(*conv_act(w[k], w[k], norm=False), *conv_act(w[k], w[k - 1], norm=False), nn.AvgPool2d(2))
               for k in range(1, config.stages)]
        )
        self.final = nn.Sequential(
            MinibatchStd(), *conv_act(w[0] + 1, w[0], norm=False), nn.Flatten(),
            nn.Linear(w[0] * 16, w[0]), nn.LeakyReLU(0.2), nn.Linear(w[0], 1),
        )

    def forward(self, x: torch.Tensor, stage: int, alpha: float = 1.0) -> torch.Tensor:
        h = self.from_rgb[stage](x)
        if stage > 0:
            h = self.blocks[stage](h)
            if alpha < 1:
                h = alpha * h + (1 - alpha) * self.from_rgb[stage - 1](F.avg_pool2d(x, 2))
            for k in range(stage - 1, 0, -1):
                h = self.blocks[k](h)
        return self.final(h).reshape(-1)


@dataclass
class GrownGenerators:
    """The generator as it was at the end of each stage (`snapshots[k]`, k = 0..3); the last is the final one."""

    snapshots: list[ProGenerator]

    @property
    def final(self) -> ProGenerator:
        return self.snapshots[-1]

    @property
    def config(self) -> ProGANConfig:
        return self.final.config


def snapshot_prefix(stage: int) -> str:
    return f"stage{stage}."


def from_weights(spec: Any, state: dict[str, torch.Tensor], device: Any = "cpu") -> GrownGenerators:
    """Every stage's snapshot of the generator (``stage{k}.`` keys of `state`), each in eval mode."""
    config = ProGANConfig(**spec.config)
    snapshots = []
    for stage in range(config.stages):
        prefix = snapshot_prefix(stage)
        generator = ProGenerator(config)
        generator.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
        snapshots.append(generator.to(device).eval())
    return GrownGenerators(snapshots)


@torch.no_grad()
def sample(generator: ProGenerator, seed: int, n: int, stage: int | None = None, alpha: float = 1.0) -> torch.Tensor:
    """n samples (n, 1, R, R) for `seed` at `stage` (default: the last, 32x32); sample i does not depend on n."""
    return generate(generator, latents(seed, n, generator.config.latent_dim), stage=stage, alpha=alpha)


def real_at(images: torch.Tensor, stage: int, alpha: float, stages: int) -> torch.Tensor:
    """Real images (B, 1, 32, 32) brought to the stage's resolution, blended like the generator during fade-in."""
    x = F.avg_pool2d(images, 2 ** (stages - 1 - stage)) if stage < stages - 1 else images
    if stage > 0 and alpha < 1:
        x = alpha * x + (1 - alpha) * F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest")
    return x
