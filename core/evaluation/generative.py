"""How good are generated digits? A classifier trained on real digits, a Fréchet distance, class coverage.

* `digit_classifier()`: an RBF support-vector machine (scikit-learn's classic digits example) fit on real 8x8
  digits only. Generated images are average-pooled back to 8x8 before it judges them.
* `frechet_distance`: ||μ_a - μ_b||² + Tr(Σ_a + Σ_b - 2 (Σ_a Σ_b)^{1/2}), the formula behind FID, here on
  the 64 pixels of 8x8 digits (no Inception network: nothing may be downloaded).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from core.data.digits import DIGITS_MAX, NUM_CLASSES, digits_raw, load_digits_tensor

CLASSIFIER_TRAIN = 1200
"""The classifier is fit on the first 1,200 real digits; its own accuracy is measured on the other 597."""


def to_digit_features(images: torch.Tensor) -> np.ndarray:
    """(B, 1, S, S) in [-1, 1] -> (B, 64) on load_digits' 0..16 scale, average-pooled to 8x8."""
    x = (images.detach().float().clamp(-1, 1) + 1) / 2
    if x.shape[-1] != 8:
        x = F.adaptive_avg_pool2d(x, 8)
    return (x.reshape(x.shape[0], 64) * DIGITS_MAX).numpy()  # (B, 8*8)


@dataclass
class DigitClassifier:
    """An SVM on real 8x8 digits; `accuracy` is its own accuracy on the 597 real digits it did not see."""

    model: object
    accuracy: float

    def predict(self, images: torch.Tensor) -> np.ndarray:
        """Predicted digit (B,) int64 for images (B, 1, S, S) in [-1, 1]."""
        return self.model.predict(to_digit_features(images)).astype(np.int64)


@lru_cache(maxsize=1)
def digit_classifier() -> DigitClassifier:
    """Fit (deterministic, well under a second) SVC(gamma=0.001, C=10) on the first 1,200 real digits."""
    from sklearn.svm import SVC

    images, labels = digits_raw()
    features = images.reshape(len(images), 64) * DIGITS_MAX  # (N, 8*8)
    model = SVC(gamma=0.001, C=10.0)
    model.fit(features[:CLASSIFIER_TRAIN], labels[:CLASSIFIER_TRAIN])
    accuracy = float((model.predict(features[CLASSIFIER_TRAIN:]) == labels[CLASSIFIER_TRAIN:]).mean())
    return DigitClassifier(model=model, accuracy=accuracy)


def class_accuracy(images: torch.Tensor, requested: torch.Tensor) -> float:
    """Fraction of generated digits (B, 1, S, S) that the real-digit classifier labels as `requested` (B,)."""
    predicted = digit_classifier().predict(images)
    return float((predicted == requested.numpy()).mean())


def class_histogram(images: torch.Tensor) -> np.ndarray:
    """Share of samples (10,) the classifier puts in each digit class (mode collapse shows as a spike)."""
    predicted = digit_classifier().predict(images)
    return np.bincount(predicted, minlength=NUM_CLASSES) / max(len(predicted), 1)


COVARIANCE_EPS = 1e-6
"""Added to both covariances' diagonals: border pixels of the digits are always 0, so Σ is singular."""


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature sets a (N, F) and b (M, F)."""
    from scipy import linalg

    mu_a, mu_b = a.mean(0), b.mean(0)
    eye = np.eye(a.shape[1]) * COVARIANCE_EPS
    cov_a = np.atleast_2d(np.cov(a, rowvar=False)) + eye
    cov_b = np.atleast_2d(np.cov(b, rowvar=False)) + eye
    root = np.asarray(linalg.sqrtm(cov_a @ cov_b)).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def digit_quality(images: torch.Tensor) -> dict[str, float]:
    """Model-card numbers for generated digits (B, 1, S, S).

    The Fréchet distance to the real digits (upscaled to S like the training data, then pooled back to 8x8
    like the samples), beside the real-vs-real baseline (first half against second half of the real digits);
    the entropy of the predicted classes in bits (log2 10 = 3.32 is perfectly even) and the rarest class's share.
    """
    real = to_digit_features(load_digits_tensor(images.shape[-1])[0])  # (N, 8*8)
    fake = to_digit_features(images)
    hist = class_histogram(images)
    nonzero = hist[hist > 0]
    half = len(real) // 2
    return {
        "frechet_distance_8x8": frechet_distance(fake, real),
        "frechet_distance_real_halves": frechet_distance(real[:half], real[half:]),
        "class_entropy_bits": float(-(nonzero * np.log2(nonzero)).sum()),
        "smallest_class_share": float(hist.min()),
    }
