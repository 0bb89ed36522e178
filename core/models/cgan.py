"""Conditional GAN (Mirza & Osindero 2014) on 16x16 digits: tell the generator which digit to draw.

The DCGAN networks with the class as a one-hot vector y concatenated to the input:
G(z, y) takes [z, y] (B, D + 10); D(x, y) takes x with 10 extra channels, channel y filled with ones.
The objective is the GAN game with both players conditioned: min_G max_D E[log D(x|y)] + E[log(1 - D(G(z|y)|y))].
Quality: `metrics.digit_classifier()` (trained on real digits only) must label >= 90% of samples as requested.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from core.training import gan as training
from core.data.digits import NUM_CLASSES, load_digits_tensor
from core.models.dcgan import DCGANConfig, Discriminator, Generator
from core.ops.latent import generate, latents
from core.evaluation.generative import class_accuracy, digit_classifier, digit_quality

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


def load_generator() -> ConditionalGenerator:
    state, config = training.load(NAME)
    generator = build_generator(config)
    generator.load_state_dict(state)
    return generator.eval()


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


@torch.no_grad()
def quality(generator: ConditionalGenerator, per_class: int = 200, seed: int = 12345) -> dict[str, Any]:
    """Class accuracy of `per_class` samples of every digit as judged by the real-digit classifier, per class too."""
    labels = torch.arange(NUM_CLASSES).repeat_interleave(per_class)  # (10 * per_class,)
    z = latents(seed, len(labels), generator.config.latent_dim)
    images = generator(z, labels)
    judge = digit_classifier()
    predicted = torch.from_numpy(judge.predict(images))
    per_class_accuracy = [(predicted[labels == c] == c).float().mean().item() for c in range(NUM_CLASSES)]
    return {
        "class_accuracy": class_accuracy(images, labels),
        "class_accuracy_per_digit": per_class_accuracy,
        "classifier": "SVC(gamma=0.001, C=10) on the first 1,200 real 8x8 digits",
        "classifier_accuracy_on_real_held_out": judge.accuracy,
        **digit_quality(images),
    }


def train(args: Any) -> None:
    training.limit_threads()
    epochs = 3 if training.arg(args, "quick", False) else training.arg(args, "epochs", 120)
    seed = training.arg(args, "seed", 0)
    device = training.resolve_device(training.arg(args, "device", "auto"))
    config = DCGANConfig()
    torch.manual_seed(seed)  # training-time initialisation only
    images, labels = load_digits_tensor(config.image_size)
    generator, discriminator = ConditionalGenerator(config).to(device), ConditionalDiscriminator(config).to(device)
    timer = training.fit_digit_gan(generator, discriminator, images, latent_dim=config.latent_dim, epochs=epochs,
                                   seed=seed, device=device, labels=labels)
    generator = generator.cpu().eval()
    metrics = quality(generator)
    print(metrics, flush=True)
    training.save(
        NAME, generator.state_dict(), config=asdict(config), architecture="cgan-generator",
        class_names=CLASS_NAMES, input_size=(config.channels, config.image_size, config.image_size),
        card=dict(
            data="sklearn.datasets.load_digits: all 1,797 8x8 digits with labels, bilinearly upscaled to 16x16",
            conditioning="one-hot label concatenated to z (generator) and as 10 constant planes (discriminator)",
            data_seeds=training.DIGITS_DATA_SEEDS, epochs=epochs, batch_size=training.DIGIT_GAN_BATCH,
            optimizer=training.DIGIT_GAN_OPTIMIZER,
            loss="non-saturating conditional GAN loss (BCE with logits)", seed=seed,
            wall_time_s=round(timer.seconds, 1), device=training.device_description(device),
            parameters_generator=training.count_parameters(generator), metrics=metrics,
        ),
    )


def evaluate(args: Any = None) -> dict[str, Any]:
    metrics = quality(load_generator())
    print(metrics)
    training.update_card(NAME, metrics=metrics)
    return metrics


def main(argv: Sequence[str] | None = None) -> None:
    train(training.parse_args(argv, epochs=120))


if __name__ == "__main__":
    main()
