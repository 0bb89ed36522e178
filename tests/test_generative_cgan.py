"""core.models.cgan: conditioning, the embedded generator, and the class accuracy the issue asks for."""

import pytest
import torch

from core.models import cgan
from core.weights.registry import load_model
from core.models.dcgan import DCGANConfig
from core.evaluation.generative import class_accuracy, digit_classifier


def test_shapes_and_conditioning_inputs():
    config = DCGANConfig()
    generator, discriminator = cgan.ConditionalGenerator(config), cgan.ConditionalDiscriminator(config)
    z, labels = torch.randn(4, config.latent_dim), torch.tensor([0, 3, 9, 3])
    images = generator(z, labels)
    assert images.shape == (4, 1, 16, 16)
    assert discriminator(images, labels).shape == (4,)
    # the label really enters: same z, other digit, other image
    assert not torch.allclose(generator(z[:1], labels[:1]), generator(z[:1], labels[2:3]))


def test_class_accuracy_of_the_embedded_cgan_is_at_least_90_percent():
    """A classifier trained on real digits only reads >= 90% of the samples as the digit that was asked for."""
    generator = load_model("cgan")
    assert digit_classifier().accuracy >= 0.95  # the judge itself is good on held-out real digits
    labels = torch.arange(10).repeat_interleave(40)  # 40 samples of every digit
    images = torch.cat([cgan.sample(generator, 100 + d, 40, d) for d in range(10)])
    accuracy = class_accuracy(images, labels)
    assert accuracy >= 0.90, accuracy


def test_same_z_every_digit_is_class_major():
    generator = load_model("cgan")
    grid = cgan.sample_all_classes(generator, 4, n=2)  # (20, 1, 16, 16)
    assert grid.shape == (20, 1, 16, 16)
    assert torch.equal(grid[2 * 7:2 * 7 + 2], cgan.sample(generator, 4, 2, 7))  # rows 14, 15: the two z as 7s


def test_bad_label_is_refused():
    with pytest.raises(ValueError, match="digit"):
        cgan.sample(load_model("cgan"), 0, 2, 10)
