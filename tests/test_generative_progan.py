"""core.models.progan: growth stages, the fade-in formula, the embedded snapshots."""

import pytest
import torch
import torch.nn.functional as F

from core.models import progan
from core.weights.registry import load_model
from core.evaluation.generative import class_histogram
from core.models.progan import MinibatchStd, PixelNorm, ProDiscriminator, ProGANConfig, ProGenerator


@pytest.fixture(scope="module")
def untrained():
    torch.manual_seed(0)
    config = ProGANConfig()
    return ProGenerator(config).eval(), ProDiscriminator(config)


def test_every_stage_doubles_the_resolution(untrained):
    generator, discriminator = untrained
    z = torch.randn(2, generator.config.latent_dim)
    with torch.no_grad():
        for stage, size in enumerate([4, 8, 16, 32]):
            for alpha in (0.3, 1.0):
                images = generator(z, stage, alpha)
                assert images.shape == (2, 1, size, size)
                assert discriminator(images, stage, alpha).shape == (2,)


def test_fade_in_blends_the_upsampled_old_stage_with_the_new_block(untrained):
    generator, _ = untrained
    z = torch.randn(3, generator.config.latent_dim)
    with torch.no_grad():
        for stage in (1, 2, 3):
            old, new = generator.fade_parts(z, stage)
            # old is the previous stage's picture, enlarged by nearest-neighbour upsampling
            previous = F.interpolate(generator(z, stage - 1), scale_factor=2, mode="nearest")
            assert torch.allclose(old, previous, atol=1e-6)
            assert torch.allclose(generator(z, stage, 0.0), old, atol=1e-6)
            assert torch.allclose(generator(z, stage, 1.0), new, atol=1e-6)
            assert torch.allclose(generator(z, stage, 0.25), 0.75 * old + 0.25 * new, atol=1e-6)
    with pytest.raises(ValueError):
        generator.fade_parts(z, 0)


def test_real_images_are_blended_like_the_generator():
    x = torch.rand(2, 1, 32, 32)
    assert progan.real_at(x, 3, 1.0, 4).shape == (2, 1, 32, 32)
    at8 = progan.real_at(x, 1, 1.0, 4)
    assert torch.allclose(at8, F.avg_pool2d(x, 4))
    faded = progan.real_at(x, 1, 0.5, 4)
    assert torch.allclose(faded, 0.5 * at8 + 0.5 * F.interpolate(F.avg_pool2d(at8, 2), scale_factor=2))


def test_pixel_norm_and_minibatch_std():
    x = torch.randn(4, 8, 3, 3)
    rms = PixelNorm()(x).pow(2).mean(dim=1)
    assert torch.allclose(rms, torch.ones_like(rms), atol=1e-4)
    out = MinibatchStd()(x)
    assert out.shape == (4, 9, 3, 3)
    assert torch.allclose(out[:, 8], x.std(dim=0, unbiased=False).mean().expand(4, 3, 3))


def test_embedded_snapshots_draw_digits_at_every_stage():
    grown = load_model("progan")
    assert len(grown.snapshots) == 4
    z = torch.randn(1, grown.config.latent_dim)
    for stage, generator in enumerate(grown.snapshots):
        assert generator(z, stage).shape[-1] == 4 * 2**stage
    final = progan.sample(grown.final, 3, 300)
    assert final.shape == (300, 1, 32, 32)
    assert torch.equal(final[:1], progan.sample(grown.final, 3, 1))
    assert (class_histogram(final) > 0.02).all()  # all ten digits appear
