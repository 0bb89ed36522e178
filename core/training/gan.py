"""What the GAN recipes share: DCGAN's initialisation and one step of the GAN game (discriminator, then generator)."""

from __future__ import annotations

import torch
from torch import nn

DIGITS_DATA_SEEDS = "none: all 1,797 images of sklearn.datasets.load_digits, in a seeded random order"


def init_dcgan_weights(module: nn.Module) -> None:
    """DCGAN's initialisation: conv weights ~ N(0, 0.02), batch-norm scale ~ N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def gan_step(generator: nn.Module, discriminator: nn.Module, opt_g: torch.optim.Optimizer,
             opt_d: torch.optim.Optimizer, real: torch.Tensor, z: torch.Tensor,
             *cond: torch.Tensor) -> tuple[float, float]:
    """One step of the original GAN game with the non-saturating generator loss (d2l.ai 20.1, Goodfellow 2014).

    D maximises log D(x) + log(1 - D(G(z))); G maximises log D(G(z)). `cond` (e.g. class labels) is passed to
    both networks. Returns (loss_d, loss_g).

    Under `DistributedDataParallel` (the networks wrapped by the engine) every forward pass of a wrapped network
    is followed by exactly one backward pass through it before its next optimiser step: D's two forward passes
    (real, detached fakes) meet in one backward of loss_d, which never reaches G; G's loss is computed from a
    fresh forward pass of the updated D, and its one backward reaches G's forward pass of this step.
    """
    bce = nn.functional.binary_cross_entropy_with_logits
    fake = generator(z, *cond)
    real_logits = discriminator(real, *cond)
    fake_logits = discriminator(fake.detach(), *cond)
    loss_d = (bce(real_logits, torch.ones_like(real_logits)) + bce(fake_logits, torch.zeros_like(fake_logits))) / 2
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    fake_logits = discriminator(fake, *cond)
    loss_g = bce(fake_logits, torch.ones_like(fake_logits))
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    return float(loss_d.detach()), float(loss_g.detach())
