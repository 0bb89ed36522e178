"""Recipe of ``dcgan``: the DCGAN paper's and the book's training on the 1,797 digits (16x16, in [-1, 1]).

DCGAN initialisation, Adam(2e-4, betas (0.5, 0.999)) for both players, batches in an order drawn every epoch from
one seeded generator (which then draws each batch's latents), one `core.training.gan.gan_step` per batch (D, then
G with the non-saturating loss). The final generator is kept; its quality (`core.evaluation.evaluators`) is
measured once, at the end. `CGANRecipe` (cgan.py) is the same loop with the digit labels passed to both players.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Any, Iterator

import torch
from torch import nn

from core.data.digits import load_digits_tensor
from core.models.dcgan import NAME, DCGANConfig, Discriminator, Generator
from core.training.engine import Recipe, TrainResult
from core.training.gan import DIGITS_DATA_SEEDS, count_parameters, gan_step, init_dcgan_weights


@dataclass
class DigitGANSettings:
    epochs: int = 120  # passes over all 1,797 digits
    batch_size: int = 64  # real digits and latents per step (all processes together); the last partial batch is dropped
    lr: float = 2e-4  # Adam's learning rate, both players (the DCGAN paper's)
    beta1: float = 0.5  # Adam's first-moment decay (the paper's 0.5 instead of 0.9)
    eval_samples: int = 2000  # samples judged at the end (core.evaluation.evaluators; CGAN: a tenth per digit)


class DCGANRecipe(Recipe):
    name = NAME
    Settings = DigitGANSettings
    quick = {"epochs": 3, "eval_samples": 200}
    threads = 1
    conditional = False  # CGAN: pass the labels to both networks

    def networks(self, config: DCGANConfig) -> tuple[nn.Module, nn.Module]:
        return Generator(config), Discriminator(config)

    def build(self) -> None:
        s, device = self.settings, self.run.device
        self.config = DCGANConfig()
        self.images, self.labels = load_digits_tensor(self.config.image_size)  # (N, 1, 16, 16), (N,)
        generator, discriminator = self.networks(self.config)
        self.generator, self.discriminator = generator.to(device), discriminator.to(device)
        init_dcgan_weights(self.generator)
        init_dcgan_weights(self.discriminator)
        self.train_g, self.train_d = self.run.wrap(self.generator), self.run.wrap(self.discriminator)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=s.lr, betas=(s.beta1, 0.999))
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=s.lr, betas=(s.beta1, 0.999))
        self.data = torch.Generator().manual_seed(self.run.seed)  # every epoch's order, then each batch's latents
        self.steps_per_epoch = len(self.images) // s.batch_size
        self.total_steps = s.epochs * self.steps_per_epoch

    def batches(self) -> Iterator[tuple[torch.Tensor, ...]]:
        s, shard = self.settings, self.run.shard
        for _ in range(s.epochs):
            order = torch.randperm(len(self.images), generator=self.data)
            for start in range(0, len(self.images) - s.batch_size + 1, s.batch_size):
                index = order[start : start + s.batch_size]
                z = torch.randn(s.batch_size, self.config.latent_dim, generator=self.data)  # (B, latent_dim)
                cond = (shard(self.labels[index]),) if self.conditional else ()
                yield (shard(self.images[index]), shard(z), *cond)

    def step(self, batch: tuple[torch.Tensor, ...], step: int) -> dict[str, float]:
        real, z, *cond = (t.to(self.run.device) for t in batch)
        loss_d, loss_g = gan_step(self.train_g, self.train_d, self.opt_g, self.opt_d, real, z, *cond)
        return {"loss_d": loss_d, "loss_g": loss_g}

    def evaluate(self) -> dict[str, Any]:
        from core.evaluation.evaluators import sampled_digit_quality

        return sampled_digit_quality(copy.deepcopy(self.generator).cpu().eval(), self.settings.eval_samples)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.generator.state_dict()

    def spec_fields(self) -> dict[str, Any]:
        c = self.config
        return dict(architecture="dcgan-generator", config=asdict(c), class_names=(), mean=(0.5,), std=(0.5,),
                    input_size=(c.channels, c.image_size, c.image_size))

    def card(self, result: TrainResult) -> dict[str, Any]:
        s = self.settings
        return {
            "data": "sklearn.datasets.load_digits: all 1,797 8x8 digits, bilinearly upscaled to 16x16, scaled to [-1, 1]",
            "data_seeds": DIGITS_DATA_SEEDS,
            "metrics": result.metrics,
            "optimizer": f"Adam lr {s.lr} betas ({s.beta1}, 0.999), both players",
            "loss": "non-saturating GAN loss (BCE with logits)",
            "parameters_generator": count_parameters(self.generator),
        }
