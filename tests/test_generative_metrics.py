"""core.evaluation.generative: the real-digit judge and the Fréchet distance."""

import numpy as np
import torch

from core.data.digits import load_digits_tensor
from core.evaluation.generative import (class_accuracy, class_histogram, digit_classifier, digit_quality,
                                     frechet_distance, to_digit_features)


def test_frechet_distance_of_one_dimensional_gaussians_matches_the_closed_form():
    # for 1-D Gaussians: (m1 - m2)^2 + (s1 - s2)^2
    rng = np.random.default_rng(0)
    a = rng.standard_normal((20000, 1)) * 2.0 + 1.0
    b = rng.standard_normal((20000, 1)) * 0.5 - 1.0
    expected = (a.mean() - b.mean()) ** 2 + (a.std(ddof=1) - b.std(ddof=1)) ** 2
    assert abs(frechet_distance(a, b) - expected) < 1e-4


def test_frechet_distance_matches_the_formula_with_scipy_sqrtm():
    from scipy import linalg

    rng = np.random.default_rng(1)
    a = rng.standard_normal((500, 3)) @ rng.standard_normal((3, 3))
    b = rng.standard_normal((400, 3)) + 0.5
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(ca + cb - 2 * linalg.sqrtm(ca @ cb).real)
    assert abs(frechet_distance(a, b) - expected) < 1e-3
    assert frechet_distance(a, a) < 1e-3


def test_judge_is_accurate_on_real_digits_it_did_not_see():
    judge = digit_classifier()
    assert judge.accuracy >= 0.95
    x, y = load_digits_tensor(16)
    assert class_accuracy(x[1200:], y[1200:]) >= 0.95  # works through the 16x16 -> 8x8 pooling too


def test_features_are_on_the_digits_scale():
    x, _ = load_digits_tensor(8)
    features = to_digit_features(x[:5])
    assert features.shape == (5, 64)
    assert features.min() >= 0 and features.max() <= 16


def test_quality_of_real_digits_is_perfect_and_of_noise_is_bad():
    x, _ = load_digits_tensor(16)
    real = digit_quality(x)
    assert real["frechet_distance_8x8"] < 1e-3
    assert real["class_entropy_bits"] > 3.3
    noise = digit_quality(torch.rand(500, 1, 16, 16) * 2 - 1)
    assert noise["frechet_distance_8x8"] > 100 * real["frechet_distance_real_halves"] / 10
    assert abs(class_histogram(x).sum() - 1.0) < 1e-9
