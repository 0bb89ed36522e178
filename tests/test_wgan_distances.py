"""core.models.wgan_distances: WGAN's Figure 1, exact values and network estimates."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.models import wgan_distances as wd

LOG2 = math.log(2)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_exact_distances():
    assert wd.exact_em(0.7) == 0.7 and wd.exact_em(-1.5) == 1.5 and wd.exact_em(0.0) == 0.0
    assert wd.exact_js(0.0) == 0.0
    assert wd.exact_js(1e-9) == pytest.approx(0.6931471805599453)  # natural log: log 2, not 1 bit
    assert wd.exact_js(-3.0) == LOG2
    assert (wd.exact_tv(0.0), wd.exact_tv(0.2)) == (0.0, 1.0)
    curves = wd.exact_curves(np.array([-1.0, 0.0, 0.5]))
    np.testing.assert_allclose(curves["em"], [1.0, 0.0, 0.5])
    np.testing.assert_allclose(curves["js"], [LOG2, 0.0, LOG2])


def test_samples_lie_on_the_two_segments():
    p0, p_theta = wd.sample_lines(0.3, 500, torch.Generator().manual_seed(0))
    assert p0.shape == p_theta.shape == (500, 2)
    assert torch.all(p0[:, 0] == 0) and torch.allclose(p_theta[:, 0], torch.full((500,), 0.3))
    for p in (p0, p_theta):
        assert 0 <= float(p[:, 1].min()) and float(p[:, 1].max()) <= 1


def test_js_from_logits_by_hand():
    half = torch.zeros(10, 1)  # D = 0.5 everywhere: 0.5 (log 0.5 + log 0.5) + log 2 = 0
    assert wd.js_from_logits(half, half) == pytest.approx(0.0, abs=1e-7)
    # D = 0.75 on p, 0.25 on q: 0.5 (log 0.75 + log 0.75) + log 2 = log 1.5
    assert wd.js_from_logits(torch.full((4, 1), math.log(3)), torch.full((4, 1), -math.log(3))) == pytest.approx(math.log(1.5))
    # a perfect discriminator reaches log 2
    assert wd.js_from_logits(torch.full((4, 1), 40.0), torch.full((4, 1), -40.0)) == pytest.approx(LOG2)


@pytest.mark.parametrize("theta", [0.5, -1.0])
def test_critic_with_gradient_penalty_estimates_em(theta):
    estimate = wd.estimate_em(theta, seed=0)
    assert estimate.value == pytest.approx(abs(theta), abs=0.1 * abs(theta) + 0.02)


def test_em_estimates_grow_with_theta_and_vanish_at_zero():
    values = [wd.estimate_em(t, steps=100, seed=1).value for t in (0.0, 0.25, 1.0)]
    assert abs(values[0]) < 0.02 and values[0] < values[1] < values[2]


def test_clipped_critic_estimates_em_after_dividing_by_its_lipschitz_constant():
    numbers = wd.distances(0.8, seed=0)
    assert numbers["em_estimate_clip"] == pytest.approx(0.8, rel=0.15)
    assert numbers["em_estimate_clip_raw"] == pytest.approx(numbers["em_estimate_clip"] * numbers["clip_lipschitz"], rel=1e-6)


def test_discriminator_estimates_js_jump():
    assert wd.estimate_js(1.0, seed=0).value == pytest.approx(LOG2, abs=0.03)
    assert abs(wd.estimate_js(0.0, seed=0).value) < 0.02


def test_distances_report_exact_and_estimated_values():
    numbers = wd.distances(-0.4, steps=60, seed=2)
    assert (numbers["em"], numbers["js"], numbers["tv"], numbers["theta"]) == (0.4, LOG2, 1.0, -0.4)
    for key in ("em_estimate_gp", "em_estimate_clip", "js_estimate", "seconds"):
        assert math.isfinite(numbers[key])
    assert numbers["steps"] == 60


@pytest.mark.parametrize("theta", [float("nan"), 11.0, "0.5"])
def test_bad_theta_is_refused(theta):
    with pytest.raises(ValueError, match="theta"):
        wd.estimate_js(theta)
