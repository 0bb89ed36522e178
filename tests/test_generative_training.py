"""core.training.gan: flags, initialisation, one GAN step, saving through core.hub."""

import argparse

import pytest
import torch
from torch import nn

from core.training import gan as training


def test_arg_falls_back_on_missing_or_none():
    args = argparse.Namespace(epochs=None, seed=3)
    assert training.arg(args, "epochs", 7) == 7
    assert training.arg(args, "seed", 0) == 3
    assert training.arg(args, "quick", False) is False
    parsed = training.parse_args(["--quick", "--seed", "5"], epochs=9)
    assert parsed.quick and parsed.seed == 5 and parsed.epochs == 9


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


def test_save_and_load_round_trip_through_hub(tmp_path, monkeypatch):
    from core.weights import hub

    monkeypatch.setattr(hub, "WEIGHTS_DIR", tmp_path)
    state = {"w": torch.randn(3, 3), "steps": torch.tensor(4)}
    card = dict(data_seeds="none", epochs=1, wall_time_s=0.1, device="cpu", metrics={"x": 1.0})
    training.save("toy", state, config={"width": 3}, card=card, input_size=(1, 8, 8), architecture="toy")
    loaded, config = training.load("toy")
    assert config == {"width": 3}
    assert torch.allclose(loaded["w"], state["w"], atol=1e-3)  # stored as fp16
    assert hub.load_spec("toy").mean == (0.5,)
    training.update_card("toy", metrics={"y": 2.0})
    assert hub.load_card("toy")["card"]["metrics"] == {"x": 1.0, "y": 2.0}


@pytest.mark.parametrize("conditional", [False, True])
def test_fit_digit_gan_trains_both_players_reproducibly(conditional, capsys):
    """One epoch on 128 digits: both networks move, losses are printed, and the same seed gives the same weights."""
    from core.models.cgan import ConditionalDiscriminator, ConditionalGenerator
    from core.data.digits import load_digits_tensor
    from core.models.dcgan import DCGANConfig, Discriminator, Generator

    config = DCGANConfig()
    images, labels = load_digits_tensor(config.image_size)
    images, labels = images[:128], labels[:128]

    def run(seed: int) -> dict[str, torch.Tensor]:
        torch.manual_seed(seed)
        pair = (ConditionalGenerator(config), ConditionalDiscriminator(config)) if conditional else \
            (Generator(config), Discriminator(config))
        generator, discriminator = pair
        before = {k: v.clone() for k, v in discriminator.state_dict().items()}
        training.fit_digit_gan(generator, discriminator, images, latent_dim=config.latent_dim, epochs=1, seed=seed,
                               device=torch.device("cpu"), labels=labels if conditional else None)
        assert any(not torch.equal(before[k], v) for k, v in discriminator.state_dict().items())
        return {k: v.clone() for k, v in generator.state_dict().items()}

    first, again, other = run(0), run(0), run(1)
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert any(not torch.equal(first[k], other[k]) for k in first)
    printed = capsys.readouterr().out
    assert printed.count("epoch 1/1 loss_D") == 3
