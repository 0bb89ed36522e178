"""What every generative training loop here shares: arguments, thread limits, init, saving and loading weights."""

from __future__ import annotations

import argparse
import os
import platform
import time
from typing import Any, Sequence

import torch
from torch import nn

TRAIN_THREADS = 1
"""Trainings use one thread: the lab's machine has 2 cores shared by everyone."""

DIGITS_DATA_SEEDS = "none: all 1,797 images of sklearn.datasets.load_digits, in a seeded random order"


def parse_args(argv: Sequence[str] | None = None, *, epochs: int) -> argparse.Namespace:
    """The common training flags (--epochs, --seed, --device, --quick) for running a module on its own."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quick", action="store_true", help="a tiny smoke-test run")
    return parser.parse_args(argv)


def arg(args: Any, name: str, default: Any) -> Any:
    """`args.name` when present and not None, else `default` (core.train's namespace may lack some flags)."""
    value = getattr(args, name, None)
    return default if value is None else value


def resolve_device(name: str | None) -> torch.device:
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def limit_threads() -> None:
    torch.set_num_threads(int(os.environ.get("GEN_TRAIN_THREADS", TRAIN_THREADS)))


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


class Timer:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} thread, "
            f"{os.cpu_count()} cores shared; 1-min load average {load:.1f} at the end)")


def save(name: str, state_dict: dict[str, torch.Tensor], *, config: dict, card: dict, input_size: tuple[int, ...],
         architecture: str, class_names: tuple[str, ...] = ()) -> None:
    """Write weights/<name>.safetensors (fp16) and its model card weights/<name>.json through `core.hub`.

    `card` must hold what `core.hub.CARD_REQUIRED_FIELDS` asks for (data_seeds, epochs, wall_time_s, device,
    metrics). Images are in [-1, 1], i.e. normalised with mean 0.5 and std 0.5 per channel.
    """
    from core.weights import hub

    hub.save_weights(
        name,
        {k: v.detach().cpu().contiguous() for k, v in state_dict.items()},
        spec_fields=dict(architecture=architecture, config=config, class_names=tuple(class_names),
                         mean=(0.5,) * input_size[0], std=(0.5,) * input_size[0], input_size=tuple(input_size)),
        card=card,
        fp16=True,
    )


def load(name: str) -> tuple[dict[str, torch.Tensor], dict]:
    """The verified state dict (fp32) and the builder config of weights `name` (embedded in weights/)."""
    from core.weights import hub

    spec = hub.load_spec(name)
    return hub.load_state_dict(spec), dict(spec.config)


def update_card(name: str, **fields: Any) -> None:
    from core.weights import hub

    hub.update_card(name, **fields)


def gan_step(generator: nn.Module, discriminator: nn.Module, opt_g: torch.optim.Optimizer,
             opt_d: torch.optim.Optimizer, real: torch.Tensor, z: torch.Tensor,
             *cond: torch.Tensor) -> tuple[float, float]:
    """One step of the original GAN game with the non-saturating generator loss (d2l.ai 20.1, Goodfellow 2014).

    D maximises log D(x) + log(1 - D(G(z))); G maximises log D(G(z)). `cond` (e.g. class labels) is passed to
    both networks. Returns (loss_d, loss_g).
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


DIGIT_GAN_OPTIMIZER = "Adam lr 2e-4 betas (0.5, 0.999)"
DIGIT_GAN_BATCH = 64


def fit_digit_gan(generator: nn.Module, discriminator: nn.Module, images: torch.Tensor, *, latent_dim: int,
                  epochs: int, seed: int, device: torch.device, labels: torch.Tensor | None = None) -> Timer:
    """Train a (conditional) DCGAN pair on the digits with the paper's and the book's recipe; returns its Timer.

    images: (N, C, H, W) in [-1, 1]; labels: (N,) class indices for a conditional pair (passed to both networks),
    None otherwise. DCGAN init, `DIGIT_GAN_OPTIMIZER` for both players, `gan_step` on batches of
    `DIGIT_GAN_BATCH` in an order drawn from `seed` (the same generator then draws each batch's z), one line printed
    per epoch.
    """
    init_dcgan_weights(generator)
    init_dcgan_weights(discriminator)
    opt_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    batch = DIGIT_GAN_BATCH
    data_gen = torch.Generator().manual_seed(seed)
    timer = Timer()
    for epoch in range(epochs):
        order = torch.randperm(len(images), generator=data_gen)
        losses = []
        for start in range(0, len(images) - batch + 1, batch):
            index = order[start:start + batch]
            z = torch.randn(batch, latent_dim, generator=data_gen).to(device)  # (B, latent_dim)
            cond = () if labels is None else (labels[index].to(device),)
            losses.append(gan_step(generator, discriminator, opt_g, opt_d, images[index].to(device), z, *cond))
        loss_d, loss_g = torch.tensor(losses).mean(0).tolist()
        print(f"epoch {epoch + 1}/{epochs} loss_D {loss_d:.3f} loss_G {loss_g:.3f} {timer.seconds:.0f}s", flush=True)
    return timer
