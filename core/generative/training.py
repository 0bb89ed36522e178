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
    from core import hub

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
    from core import hub

    spec = hub.load_spec(name)
    return hub.load_state_dict(spec), dict(spec.config)


def update_card(name: str, **fields: Any) -> None:
    from core import hub

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
