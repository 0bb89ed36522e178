"""core.training.gan: DCGAN's initialisation, one GAN step; the digit GAN recipes reproduce their runs."""

from pathlib import Path

import pytest
import torch
from torch import nn

from core.training import engine
from core.training import gan as training
from core.weights import hub


def test_dcgan_initialisation_statistics():
    net = nn.Sequential(nn.Conv2d(8, 64, 3), nn.BatchNorm2d(64), nn.ConvTranspose2d(64, 64, 4))
    torch.manual_seed(0)
    training.init_dcgan_weights(net)
    assert abs(float(net[0].weight.detach().std()) - 0.02) < 0.002
    assert abs(float(net[1].weight.detach().mean()) - 1.0) < 0.01
    assert float(net[0].bias.detach().abs().max()) == 0.0


def test_gan_step_updates_both_players_with_the_right_losses():
    torch.manual_seed(0)
    generator = nn.Sequential(nn.Linear(2, 4))
    discriminator = nn.Sequential(nn.Linear(4, 1), nn.Flatten(0))
    g_before = [p.detach().clone() for p in generator.parameters()]
    d_before = [p.detach().clone() for p in discriminator.parameters()]
    opt_g = torch.optim.SGD(generator.parameters(), lr=0.1)
    opt_d = torch.optim.SGD(discriminator.parameters(), lr=0.1)
    real, z = torch.randn(8, 4), torch.randn(8, 2)
    with torch.no_grad():
        fake = generator(z)
        softplus = nn.functional.softplus
        expected_d = (softplus(-discriminator(real)).mean() + softplus(discriminator(fake)).mean()) / 2
    loss_d, loss_g = training.gan_step(generator, discriminator, opt_g, opt_d, real, z)
    assert loss_d == pytest.approx(float(expected_d), rel=1e-5)  # BCE(1, D(x)) = softplus(-logit)
    with torch.no_grad():  # G's loss is -log sigmoid(D(G(z))): the same fakes, judged by the updated D
        expected_g = nn.functional.softplus(-discriminator(fake)).mean()
    assert loss_g == pytest.approx(float(expected_g), rel=1e-5)
    assert all(not torch.equal(a, b) for a, b in zip(g_before, generator.parameters()))
    assert all(not torch.equal(a, b) for a, b in zip(d_before, discriminator.parameters()))


@pytest.mark.parametrize("model", ["dcgan", "cgan"])
def test_digit_gan_recipes_are_reproducible(model, tmp_path):
    """Three steps: the same seed gives the same generator bit for bit, another seed another one."""

    def run(seed: int, folder: str) -> dict[str, torch.Tensor]:
        out = tmp_path / folder
        engine.train(model, engine.EngineConfig(out=out, seed=seed, max_steps=3, quick=True))
        return hub.load_state_dict(model, weights_dir=out)

    first, again, other = run(0, "a"), run(0, "b"), run(1, "c")
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert any(not torch.equal(first[k], other[k]) for k in first)
    card = hub.load_card(model, Path(tmp_path / "a"))["card"]
    assert card["steps"] == 3 and card["epochs"] == round(3 / (1797 // 64), 2) and "frechet_distance_8x8" in card["metrics"]
