"""Recipe of ``cyclegan``: day photos <-> their night grade, learned from unpaired 32x32 crops (Zhu et al. 2017).

Each step draws `batch_size` crops of each domain (`core.models.cyclegan.random_crops`: a random part, position
and flip from one seeded generator), updates both generators on the least-squares GAN loss + λ_cyc x L1 cycle +
λ_id x L1 identity, then both discriminators on real crops and this step's (detached) fakes. Adam at a constant
rate for the first half, then linear decay to 0 (as in the paper). The final generators are kept; the held-out
photo is measured at the end.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from core.models.cyclegan import (
    HELD_OUT_PHOTO, NAME, NIGHT_GAIN, NIGHT_GAMMA, NIGHT_OFFSET, NIGHT_SATURATION, TRAIN_PHOTOS, WORK_SIDE, CycleGAN,
    CycleGANConfig, CycleGenerator, PatchDiscriminator, domain_images, random_crops,
)
from core.training.engine import Recipe, TrainResult
from core.training.gan import count_parameters


@dataclass
class CycleGANSettings:
    iterations: int = 1500  # steps (crops are drawn at random: there are no epochs)
    batch_size: int = 4  # crops of each domain per step, all processes together
    lr: float = 2e-4  # Adam's learning rate, generators and discriminators
    beta1: float = 0.5  # Adam's first-moment decay
    lambda_cycle: float = 10.0  # weight of the L1 cycle loss (the paper's)
    lambda_identity: float = 5.0  # weight of the L1 identity loss (the paper's: half of λ_cyc)


class CycleGANRecipe(Recipe):
    name = NAME
    Settings = CycleGANSettings
    quick = {"iterations": 10}
    threads = 1

    def build(self) -> None:
        s, device = self.settings, self.run.device
        self.config = CycleGANConfig()
        self.a_parts, self.b_parts = domain_images()
        self.g = CycleGenerator(self.config).to(device)  # A -> B (day -> night)
        self.f = CycleGenerator(self.config).to(device)  # B -> A
        self.d_a = PatchDiscriminator(self.config).to(device)
        self.d_b = PatchDiscriminator(self.config).to(device)
        for net in (self.d_a, self.d_b):  # N(0, 0.02) for the discriminators; the generators keep PyTorch's init
            for m in net.modules():
                if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                    nn.init.normal_(m.weight, 0.0, 0.02)
                    nn.init.zeros_(m.bias)
        self.train_g, self.train_f, self.train_d_a, self.train_d_b = map(self.run.wrap, (self.g, self.f, self.d_a, self.d_b))
        betas = (s.beta1, 0.999)
        self.opt_g = torch.optim.Adam([*self.g.parameters(), *self.f.parameters()], lr=s.lr, betas=betas)
        self.opt_d = torch.optim.Adam([*self.d_a.parameters(), *self.d_b.parameters()], lr=s.lr, betas=betas)
        decay_from = s.iterations // 2  # constant learning rate, then linear decay to 0

        def factor(it: int) -> float:
            return 1.0 if it < decay_from else max(0.0, (s.iterations - it) / (s.iterations - decay_from))

        self.sched_g = torch.optim.lr_scheduler.LambdaLR(self.opt_g, factor)
        self.sched_d = torch.optim.lr_scheduler.LambdaLR(self.opt_d, factor)
        self.data = torch.Generator().manual_seed(self.run.seed)
        self.total_steps = s.iterations

    def batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        s = self.settings
        while True:
            a = random_crops(self.a_parts, s.batch_size, self.config.crop, self.data)  # (B, 3, 32, 32)
            b = random_crops(self.b_parts, s.batch_size, self.config.crop, self.data)
            yield self.run.shard(a), self.run.shard(b)

    def step(self, batch: tuple[torch.Tensor, torch.Tensor], step: int) -> dict[str, float]:
        s = self.settings
        a, b = (t.to(self.run.device) for t in batch)
        g, f, d_a, d_b = self.train_g, self.train_f, self.train_d_a, self.train_d_b
        mse, l1 = F.mse_loss, F.l1_loss
        fake_b, fake_a = g(a), f(b)
        pred_b, pred_a = d_b(fake_b), d_a(fake_a)
        loss_gan = mse(pred_b, torch.ones_like(pred_b)) + mse(pred_a, torch.ones_like(pred_a))
        loss_cycle = l1(f(fake_b), a) + l1(g(fake_a), b)
        loss_identity = l1(g(b), b) + l1(f(a), a)
        loss_g = loss_gan + s.lambda_cycle * loss_cycle + s.lambda_identity * loss_identity
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        loss_d = torch.zeros((), device=a.device)
        for d, real, fake in ((d_b, b, fake_b), (d_a, a, fake_a)):
            real_pred, fake_pred = d(real), d(fake.detach())
            loss_d = loss_d + (mse(real_pred, torch.ones_like(real_pred))
                               + mse(fake_pred, torch.zeros_like(fake_pred))) / 2
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        self.sched_g.step()
        self.sched_d.step()
        return {"gan": loss_gan.item(), "cycle": loss_cycle.item(), "identity": loss_identity.item(),
                "loss_d": loss_d.item()}

    def evaluate(self) -> dict[str, Any]:
        from core.evaluation.evaluators import cyclegan_quality

        return cyclegan_quality(CycleGAN(copy.deepcopy(self.g).cpu().eval(), copy.deepcopy(self.f).cpu().eval()))

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {**{f"a_to_b.{k}": v for k, v in self.g.state_dict().items()},
                **{f"b_to_a.{k}": v for k, v in self.f.state_dict().items()}}

    def spec_fields(self) -> dict[str, Any]:
        return dict(architecture="cyclegan-generators", config=asdict(self.config), class_names=(), mean=(0.5,) * 3,
                    std=(0.5,) * 3, input_size=(3, self.config.crop, self.config.crop))

    def card(self, result: TrainResult) -> dict[str, Any]:
        s = self.settings
        return {
            "data": f"A: 32x32 crops of the left halves of {', '.join(TRAIN_PHOTOS)} (skimage/sklearn bundled photos, "
                    f"long side {WORK_SIDE} px); B: crops of the right halves of the same photos after the night grade "
                    f"(saturation {NIGHT_SATURATION}, gamma {NIGHT_GAMMA}, gain {NIGHT_GAIN}, offset {NIGHT_OFFSET}); "
                    f"unpaired. Held out: {HELD_OUT_PHOTO}.",
            "data_seeds": f"crops and flips drawn by torch.Generator seeded {self.run.seed}",
            "epochs": f"{result.steps} iterations of batch {s.batch_size} (no epochs: crops are drawn at random)",
            "losses": f"least-squares GAN + {s.lambda_cycle} x L1 cycle + {s.lambda_identity} x L1 identity",
            "optimizer": f"Adam lr {s.lr} betas ({s.beta1}, 0.999), linear decay to 0 over the second half",
            "parameters_generators": count_parameters(self.g) * 2,
            "metrics": result.metrics,
        }
