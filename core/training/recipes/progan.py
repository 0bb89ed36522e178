"""Recipe of ``progan``: the generator grows 4x4 -> 8x8 -> 16x16 -> 32x32 (Karras et al. 2018, simplified).

Phases of `iterations` steps: 4x4 stable, then for each larger resolution a fade-in (alpha rising linearly from
1/iterations to 1: the new block blended with the upsampled previous stage; real images blended the same way,
`core.models.progan.real_at`) and a stable phase. Every step is one `core.training.gan.gan_step` (D, then G;
non-saturating loss, Adam) on real digits drawn with replacement and fresh latents, both from one seeded
generator. The generator is snapshotted at the end of every stage (``stage{k}.`` in the weights; the tab shows
the same z as each stage drew it). Only the active stage's layers take part in a step, so the networks are
wrapped with ``find_unused_parameters=True`` under DistributedDataParallel.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Any, Iterator

import torch

from core.data.digits import load_digits_tensor
from core.models.progan import NAME, ProDiscriminator, ProGANConfig, ProGenerator, real_at, snapshot_prefix
from core.training.engine import Recipe, TrainResult
from core.training.gan import DIGITS_DATA_SEEDS, count_parameters, gan_step


@dataclass
class ProGANSettings:
    iterations: int = 800  # steps per phase: 4x4 stable, then fade-in + stable for 8x8, 16x16, 32x32 (7 phases)
    batch_size: int = 32  # real digits (drawn with replacement) and latents per step, all processes together
    lr: float = 2e-4  # Adam's learning rate, both players
    beta1: float = 0.5  # Adam's first-moment decay
    eval_samples: int = 2000  # samples of the final generator judged at the end (core.evaluation.evaluators)


class ProGANRecipe(Recipe):
    name = NAME
    Settings = ProGANSettings
    quick = {"iterations": 10, "eval_samples": 200}
    threads = 1

    def build(self) -> None:
        s, device = self.settings, self.run.device
        self.config = ProGANConfig()
        self.images, _ = load_digits_tensor(self.config.resolution(self.config.stages - 1))  # (N, 1, 32, 32)
        self.generator = ProGenerator(self.config).to(device)
        self.discriminator = ProDiscriminator(self.config).to(device)
        self.train_g = self.run.wrap(self.generator, find_unused_parameters=True)
        self.train_d = self.run.wrap(self.discriminator, find_unused_parameters=True)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=s.lr, betas=(s.beta1, 0.999))
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=s.lr, betas=(s.beta1, 0.999))
        self.data = torch.Generator().manual_seed(self.run.seed)  # each step's real digits, then its latents
        self.phases = [(0, "stable")] + [(k, phase) for k in range(1, self.config.stages) for phase in ("fade", "stable")]
        self.total_steps = len(self.phases) * s.iterations
        self.steps_per_epoch = len(self.images) / s.batch_size
        self.snapshots: dict[str, torch.Tensor] = {}

    def schedule(self, step: int) -> tuple[int, str, float, bool]:
        """(stage, phase, alpha, last step of the stage?) of `step`."""
        iterations = self.settings.iterations
        stage, phase = self.phases[step // iterations]
        it = step % iterations
        alpha = (it + 1) / iterations if phase == "fade" else 1.0
        return stage, phase, alpha, phase == "stable" and it == iterations - 1

    def batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        s = self.settings
        for step in range(self.total_steps):
            stage, _, alpha, _ = self.schedule(step)
            index = torch.randint(len(self.images), (s.batch_size,), generator=self.data)
            real = real_at(self.images[index], stage, alpha, self.config.stages)
            z = torch.randn(s.batch_size, self.config.latent_dim, generator=self.data)  # (B, latent_dim)
            yield self.run.shard(real), self.run.shard(z)

    def step(self, batch: tuple[torch.Tensor, torch.Tensor], step: int) -> dict[str, float]:
        stage, _, alpha, stage_ends = self.schedule(step)
        real, z = (t.to(self.run.device) for t in batch)
        loss_d, loss_g = gan_step(self.train_g, self.train_d, self.opt_g, self.opt_d, real, z, stage, alpha)
        if stage_ends:
            self.snapshot(stage)
        return {"loss_d": loss_d, "loss_g": loss_g}

    def snapshot(self, stage: int) -> None:
        self.snapshots.update({snapshot_prefix(stage) + k: v.detach().cpu().clone()
                               for k, v in self.generator.state_dict().items()})

    def evaluate(self) -> dict[str, Any]:
        from core.evaluation.evaluators import sampled_digit_quality

        return sampled_digit_quality(copy.deepcopy(self.generator).cpu().eval(), self.settings.eval_samples)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Every stage's snapshot; a shortened run (``--max-steps``) gives the stages it did not finish its
        current generator."""
        for stage in range(self.config.stages):
            if snapshot_prefix(stage) + "to_rgb.0.weight" not in self.snapshots:
                self.snapshot(stage)
        return self.snapshots

    def spec_fields(self) -> dict[str, Any]:
        side = self.config.resolution(self.config.stages - 1)
        return dict(architecture="progan-generator", config=asdict(self.config), class_names=(), mean=(0.5,),
                    std=(0.5,), input_size=(self.config.channels, side, side))

    def card(self, result: TrainResult) -> dict[str, Any]:
        s = self.settings
        return {
            "data": "sklearn.datasets.load_digits: all 1,797 8x8 digits, bilinearly upscaled to 32x32, average-pooled "
                    "to each stage's resolution",
            "schedule": f"{s.iterations} iterations per phase: 4x4 stable; 8x8, 16x16, 32x32 each fade-in "
                        "(alpha 0->1) then stable",
            "data_seeds": DIGITS_DATA_SEEDS,
            "epochs": round(result.steps * s.batch_size / len(self.images), 1),
            "optimizer": f"Adam lr {s.lr} betas ({s.beta1}, 0.999)",
            "loss": "non-saturating GAN loss (the paper uses WGAN-GP)",
            "snapshots": "stage{k}.* = the generator at the end of stage k; stage3 is the final generator",
            "parameters_generator": count_parameters(self.generator),
            "metrics": result.metrics,
        }
