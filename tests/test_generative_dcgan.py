"""core.models.dcgan: shapes, the embedded generator, determinism, quality of its digits."""

import torch

from core.models import dcgan
from core.weights.registry import load_model
from core.models.dcgan import DCGANConfig, Discriminator, Generator
from core.evaluation.generative import class_histogram


def test_shapes_follow_the_book_s_blocks():
    config = DCGANConfig()
    generator, discriminator = Generator(config), Discriminator(config)
    z = torch.randn(3, config.latent_dim)
    with torch.no_grad():
        images = generator(z)
        assert images.shape == (3, 1, 16, 16)
        assert float(images.abs().max()) <= 1.0  # tanh
        assert generator.features(z).shape == (3, 4 * config.width, 4, 4)
        assert discriminator(images).shape == (3,)


def test_embedded_generator_is_deterministic_and_batch_independent():
    generator = load_model("dcgan")
    assert not generator.training
    grid = dcgan.sample(generator, 5, 16)
    assert torch.equal(grid, dcgan.sample(generator, 5, 16))
    assert torch.equal(grid[:1], dcgan.sample(generator, 5, 1))  # bit-identical alone and in a grid
    assert not torch.equal(grid, dcgan.sample(generator, 6, 16))


def test_embedded_generator_draws_every_digit():
    generator = load_model("dcgan")
    share = class_histogram(dcgan.sample(generator, 1, 500))
    assert (share > 0.02).all(), share  # no mode collapse: each digit is at least 2% of the samples


def test_model_card_records_training():
    from core.weights import hub

    card = hub.load_card("dcgan")
    assert card["config"] == {"latent_dim": 32, "width": 32, "image_size": 16, "channels": 1}
    assert card["card"]["epochs"] > 0 and card["card"]["wall_time_s"] > 0
