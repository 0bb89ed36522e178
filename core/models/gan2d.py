"""Two-dimensional GANs: data sets, MLP generator and discriminator/critic, the four losses, a
step-wise trainer, and what the GAN lab draws (discriminator heatmap, generator gradients,
mode coverage).

Points are (N, 2) float32 arrays/tensors of (x, y) coordinates in data units. Discriminators
return raw scores of shape (N, 1): logits for the two cross-entropy losses (D(x) = sigmoid(logit)),
critic values for the two Wasserstein losses.

Losses (D = sigmoid of the discriminator's logit, f = critic, G = generator):

- ``"minimax"`` (Goodfellow et al. 2014, saturating): D maximises E log D(x) + E log(1 - D(G(z)));
  G minimises E log(1 - D(G(z))), whose gradient vanishes where D confidently rejects G's points.
- ``"nonsaturating"``: same D; G minimises -E log D(G(z)) (the book's choice: BCE against label 1).
- ``"wgan"`` (Arjovsky et al. 2017): the critic maximises E f(x) - E f(G(z)) with every weight clipped to
  [-c, c]; G minimises -E f(G(z)).
- ``"wgan-gp"`` (Gulrajani et al. 2017): as ``"wgan"`` without clipping, plus the penalty
  lambda * E (||grad f(x_hat)||_2 - 1)^2 on points x_hat between real and generated samples.
"""

from __future__ import annotations

import csv
import io
import math
import os
import threading
import time
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

# ----------------------------------------------------------------------------------------------
# Data sets
# ----------------------------------------------------------------------------------------------

BOOK_A = ((1.0, 2.0), (-0.1, 0.5))
"""The book's linear map: data = normal(0, 1, (1000, 2)) @ A + b (d2l.ai, GAN section)."""
BOOK_B = (1.0, 2.0)
BOOK_N = 1000

RING_MODES = 8
RING_RADIUS = 2.0
RING_SIGMA = 0.1
"""Standard deviation of each of the ring's Gaussians (data units)."""

DATASETS = ("gaussian", "ring", "moons", "spiral", "custom")
DATASET_LABELS = {
    "gaussian": "the book's Gaussian (X A + b)",
    "ring": "ring of 8 Gaussians",
    "moons": "two moons",
    "spiral": "spiral",
    "custom": "your own points",
}

MIN_CUSTOM_POINTS = 8
MAX_CUSTOM_POINTS = 20_000
MAX_POINTS_FILE_BYTES = 2 * 1024 * 1024

NEAR_SIGMAS = 3.0
"""A generated sample is 'near' a Gaussian mode when its Mahalanobis distance is below this."""
COVERED_SHARE = 0.1
"""A mode counts as covered when it receives at least this share of a fair 1/K split of the samples."""


@dataclass
class Dataset2D:
    """A fixed pool of real points and what is known about its modes.

    points: (N, 2) float32. labels: (N,) int64 mode index of each point (all 0 when unimodal).
    centers/covariances: (K, 2) and (K, 2, 2) when the data is a Gaussian mixture (the coverage
    metric then uses Mahalanobis distance to each mode); None otherwise (nearest real point within
    `radius`). `view`: (xmin, xmax, ymin, ymax), a square window that shows all the data.
    """

    name: str
    points: np.ndarray
    labels: np.ndarray
    n_modes: int
    centers: np.ndarray | None = None
    covariances: np.ndarray | None = None
    radius: float = 0.0
    view: tuple[float, float, float, float] = (-1.0, 1.0, -1.0, 1.0)
    note: str = ""
    offset: tuple[float, float] = (0.0, 0.0)
    scale: float = 1.0
    """`points` = (the caller's points - offset) / scale (custom data may be normalised)."""

    @property
    def mean(self) -> np.ndarray:
        return self.points.mean(axis=0)


def square_view(points: np.ndarray, margin: float = 0.3) -> tuple[float, float, float, float]:
    """A square (xmin, xmax, ymin, ymax) window around `points` (N, 2) with `margin` of the half-size added."""
    low, high = points.min(axis=0), points.max(axis=0)
    center = (low + high) / 2
    half = float(max(high - low)) / 2 * (1 + margin) + 1e-3
    return (float(center[0] - half), float(center[0] + half), float(center[1] - half), float(center[1] + half))


def _nn_radius(points: np.ndarray, factor: float = 3.0, max_points: int = 2000) -> float:
    """`factor` times the median nearest-neighbour distance among (a subset of) `points`."""
    sub = torch.from_numpy(points[:max_points]).double()
    d = torch.cdist(sub, sub)
    d.fill_diagonal_(math.inf)
    return float(factor * d.min(dim=1).values.median())


def book_gaussian(seed: int = 0, n: int = BOOK_N) -> Dataset2D:
    """The book's data: X ~ N(0, I) (n, 2), then X @ A + b. Its mean is b and its covariance A^T A."""
    rng = np.random.default_rng(seed)
    a, b = np.array(BOOK_A), np.array(BOOK_B)
    points = (rng.normal(0.0, 1.0, (n, 2)) @ a + b).astype(np.float32)
    return Dataset2D(
        "gaussian", points, np.zeros(n, dtype=np.int64), 1,
        centers=b[None].astype(np.float32), covariances=(a.T @ a)[None].astype(np.float32),
        radius=_nn_radius(points), view=square_view(points, margin=0.2),
        note="mean b = (1, 2), covariance AᵀA = [[1.01, 1.95], [1.95, 4.25]]",
    )


def ring_of_gaussians(seed: int = 0, n: int = 2000, modes: int = RING_MODES, radius: float = RING_RADIUS,
                      sigma: float = RING_SIGMA) -> Dataset2D:
    """`modes` isotropic Gaussians (standard deviation `sigma`) evenly spaced on a circle of `radius`."""
    rng = np.random.default_rng(seed)
    angles = 2 * np.pi * np.arange(modes) / modes
    centers = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)  # (K, 2)
    labels = rng.integers(0, modes, n)
    points = (centers[labels] + sigma * rng.normal(size=(n, 2))).astype(np.float32)
    covariances = np.repeat((sigma**2 * np.eye(2))[None], modes, axis=0)
    view = (-radius * 1.5, radius * 1.5, -radius * 1.5, radius * 1.5)
    return Dataset2D("ring", points, labels.astype(np.int64), modes, centers.astype(np.float32),
                     covariances.astype(np.float32), radius=_nn_radius(points), view=view,
                     note=f"{modes} modes on a circle of radius {radius:g}, σ = {sigma:g}")


def two_moons(seed: int = 0, n: int = 2000, noise: float = 0.06) -> Dataset2D:
    """scikit-learn's two interleaving half circles, centred on the origin; each moon is a mode."""
    from sklearn.datasets import make_moons

    points, labels = make_moons(n_samples=n, noise=noise, random_state=seed)
    points = (points - np.array([0.5, 0.25])).astype(np.float32)
    return Dataset2D("moons", points, labels.astype(np.int64), 2, radius=_nn_radius(points),
                     view=square_view(points), note="2 modes (the two moons)")


def spiral(seed: int = 0, n: int = 2000, turns: float = 1.5, noise: float = 0.05) -> Dataset2D:
    """One arm of an Archimedean spiral (radius grows linearly with the angle) with Gaussian noise."""
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.uniform(0.04, 1.0, n))  # uniform along the arm's length, roughly
    angle = 2 * np.pi * turns * t
    points = np.stack([2 * t * np.cos(angle), 2 * t * np.sin(angle)], axis=1)
    points = (points + noise * rng.normal(size=(n, 2))).astype(np.float32)
    return Dataset2D("spiral", points, np.zeros(n, dtype=np.int64), 1, radius=_nn_radius(points),
                     view=square_view(points), note="a continuous arm: coverage = samples near the arm")


CUSTOM_CANVAS = (-3.0, 3.0, -3.0, 3.0)
"""Custom data is shown on at least this window, so that clicking to add points has a stable canvas."""


def custom_points(points: np.ndarray, normalize: bool | Literal["auto"] = "auto") -> Dataset2D:
    """The user's own points (N, 2) as a data set.

    normalize=True centres them and divides by their mean standard deviation (one scale for both axes, so
    shapes keep their aspect ratio); "auto" does so only when they are far from the networks' natural scale (a
    coordinate beyond +-10, or a mean standard deviation outside [0.02, 5]), so that points drawn on the
    [-3, 3] canvas keep their coordinates.
    """
    points = np.asarray(points, dtype=np.float64)
    check_points(points)
    scale = float(points.std(axis=0).mean())
    center = points.mean(axis=0)
    if normalize == "auto":
        normalize = not (0.02 <= scale <= 5.0 and float(np.abs(points).max()) <= 10.0)
    note = f"{len(points)} points"
    offset, factor = (0.0, 0.0), 1.0
    if normalize:
        offset, factor = (float(center[0]), float(center[1])), scale
        points = (points - center) / scale
        note += f" (centred on ({center[0]:.3g}, {center[1]:.3g}) and divided by {scale:.3g})"
    points = points.astype(np.float32)
    inside = float(np.abs(points).max()) <= CUSTOM_CANVAS[1]
    view = CUSTOM_CANVAS if inside else square_view(points)
    return Dataset2D("custom", points, np.zeros(len(points), dtype=np.int64), 1, radius=_nn_radius(points),
                     view=view, note=note, offset=offset, scale=factor)


def make_dataset(name: str, seed: int = 0, points: np.ndarray | None = None) -> Dataset2D:
    """One of `DATASETS`; "custom" needs `points` (N, 2)."""
    if name == "gaussian":
        return book_gaussian(seed)
    if name == "ring":
        return ring_of_gaussians(seed)
    if name == "moons":
        return two_moons(seed)
    if name == "spiral":
        return spiral(seed)
    if name == "custom":
        if points is None:
            raise ValueError("The 'custom' data set needs points: paste x,y lines, upload a CSV, or click the plane.")
        return custom_points(points)
    raise ValueError(f"Unknown data set {name!r}; choose one of {', '.join(DATASETS)}.")


def check_points(points: np.ndarray) -> None:
    """Raise ValueError with a readable message unless `points` is a usable (N, 2) finite array."""
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"Expected points with 2 columns (x, y), got an array of shape {tuple(points.shape)}.")
    if len(points) < MIN_CUSTOM_POINTS:
        raise ValueError(f"Please give at least {MIN_CUSTOM_POINTS} points (got {len(points)}).")
    if len(points) > MAX_CUSTOM_POINTS:
        raise ValueError(f"At most {MAX_CUSTOM_POINTS} points, please (got {len(points)}).")
    if not np.isfinite(points).all():
        raise ValueError("Every coordinate must be a finite number (no NaN or infinity).")
    if float(points.std(axis=0).max()) < 1e-9:
        raise ValueError("All points are identical: a GAN needs a spread-out data set.")


def parse_points(text: str) -> np.ndarray:
    """Parse 'x,y' lines (commas, semicolons, tabs or spaces; an optional header line; '#' comments)
    into a (N, 2) float64 array. Raises ValueError naming the first bad line."""
    rows: list[tuple[float, float]] = []
    lines = str(text).splitlines()
    for number, raw in enumerate(lines, start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = [p for p in line.replace(";", ",").replace("\t", ",").replace(" ", ",").split(",") if p.strip()]
        try:
            values = [float(p) for p in parts]
        except ValueError:
            if not rows and all(not _is_number(p) for p in parts):
                continue  # a header line such as "x,y"
            raise ValueError(f"Line {number}: expected two numbers 'x,y', got {raw.strip()!r}.") from None
        if len(values) != 2:
            raise ValueError(f"Line {number}: expected exactly two numbers 'x,y', got {len(values)} in {raw.strip()!r}.")
        rows.append((values[0], values[1]))
        if len(rows) > MAX_CUSTOM_POINTS:
            raise ValueError(f"At most {MAX_CUSTOM_POINTS} points, please.")
    if not rows:
        raise ValueError("No points found: write one 'x,y' pair per line.")
    points = np.array(rows, dtype=np.float64)
    check_points(points)
    return points


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def load_points_file(path: str | os.PathLike) -> np.ndarray:
    """Loader: read a CSV/text file of x,y rows (at most 2 MiB, UTF-8) and parse it with `parse_points`."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError("The uploaded points file could not be found.")
    size = os.path.getsize(path)
    if size == 0:
        raise ValueError("The uploaded points file is empty.")
    if size > MAX_POINTS_FILE_BYTES:
        raise ValueError(f"The points file is too large ({size / 2**20:.1f} MiB; the limit is 2 MiB).")
    with open(path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("The points file is not UTF-8 text; upload a CSV with one 'x,y' pair per line.") from None
    if "\x00" in text:
        raise ValueError("The points file looks binary; upload a CSV with one 'x,y' pair per line.")
    # csv handles quoted fields ("1.0","2.0"); fall back to the plain parser's messages.
    cleaned = "\n".join(",".join(cell.strip() for cell in row) for row in csv.reader(io.StringIO(text)))
    return parse_points(cleaned)


# ----------------------------------------------------------------------------------------------
# Coverage of the data's modes
# ----------------------------------------------------------------------------------------------


@dataclass
class Coverage:
    """How well generated samples cover the data.

    modes_covered of n_modes receive at least `min_count` near samples; near_fraction is the share of
    samples near the data (within NEAR_SIGMAS Mahalanobis distance of a Gaussian mode, or within the data
    set's `radius` of a real point); per_mode: (K,) near-sample counts.
    """

    modes_covered: int
    n_modes: int
    near_fraction: float
    per_mode: list[int]
    min_count: int
    criterion: str


def mode_coverage(samples: np.ndarray | Tensor, centers: np.ndarray, covariances: np.ndarray,
                  n_sigmas: float = NEAR_SIGMAS, covered_share: float = COVERED_SHARE) -> Coverage:
    """Coverage of a Gaussian mixture's K modes (centers (K, 2), covariances (K, 2, 2)) by samples (N, 2).

    A sample belongs to the mode with the smallest Mahalanobis distance and is near it when that distance
    is below `n_sigmas`; a mode is covered when it receives at least max(1, covered_share * N / K) near samples.
    """
    x = torch.as_tensor(np.asarray(samples), dtype=torch.float64)
    mu = torch.as_tensor(centers, dtype=torch.float64)
    precision = torch.linalg.inv(torch.as_tensor(covariances, dtype=torch.float64))  # (K, 2, 2)
    diff = x[:, None, :] - mu[None]  # (N, K, 2)
    d2 = torch.einsum("nki,kij,nkj->nk", diff, precision, diff)  # (N, K) squared Mahalanobis distances
    best, mode = d2.min(dim=1)
    near = best < n_sigmas**2
    return _coverage(mode[near], len(mu), len(x), float(near.float().mean()) if len(x) else 0.0,
                     covered_share, f"within {n_sigmas:g}σ (Mahalanobis) of a mode")


def neighbour_coverage(samples: np.ndarray | Tensor, points: np.ndarray, labels: np.ndarray, n_modes: int,
                       radius: float, covered_share: float = COVERED_SHARE) -> Coverage:
    """Coverage for data without a Gaussian form: a sample (N, 2) is near when a real point (M, 2) lies within
    `radius`; it then counts for that point's mode label (M,)."""
    x = torch.as_tensor(np.asarray(samples), dtype=torch.float32)
    real = torch.as_tensor(points, dtype=torch.float32)
    dist, index = torch.cdist(x, real).min(dim=1)  # (N,)
    near = dist < radius
    mode = torch.as_tensor(labels)[index]
    return _coverage(mode[near], n_modes, len(x), float(near.float().mean()) if len(x) else 0.0,
                     covered_share, f"within {radius:.3g} of a real point")


def _coverage(near_modes: Tensor, n_modes: int, n: int, near_fraction: float, covered_share: float,
              criterion: str) -> Coverage:
    counts = torch.bincount(near_modes, minlength=n_modes)
    min_count = max(1, math.ceil(covered_share * n / n_modes))
    return Coverage(int((counts >= min_count).sum()), n_modes, near_fraction, counts.tolist(), min_count, criterion)


def dataset_coverage(data: Dataset2D, samples: np.ndarray | Tensor) -> Coverage:
    """`mode_coverage` for Gaussian data sets, `neighbour_coverage` for the others."""
    if data.centers is not None and data.covariances is not None:
        return mode_coverage(samples, data.centers, data.covariances)
    return neighbour_coverage(samples, data.points, data.labels, data.n_modes, data.radius)


# ----------------------------------------------------------------------------------------------
# Models
# ----------------------------------------------------------------------------------------------


def _init_linear(layer: nn.Linear, generator: torch.Generator) -> None:
    """PyTorch's default nn.Linear initialisation (kaiming-uniform, a = sqrt(5)), drawn from `generator`."""
    fan_in = layer.weight.shape[1]
    bound = 1.0 / math.sqrt(fan_in)
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=generator)
        layer.bias.uniform_(-bound, bound, generator=generator)


def mlp(in_features: int, out_features: int, width: int, depth: int, activation: type[nn.Module],
        generator: torch.Generator) -> nn.Sequential:
    """`depth` hidden layers of `width` units with `activation`, then a linear output layer.
    depth = 0 gives a single linear map (the book's generator is Linear(2, 2))."""
    layers: list[nn.Module] = []
    features = in_features
    for _ in range(depth):
        layers += [nn.Linear(features, width), activation()]
        features = width
    layers.append(nn.Linear(features, out_features))
    for layer in layers:
        if isinstance(layer, nn.Linear):
            _init_linear(layer, generator)
    return nn.Sequential(*layers)


class _LeakyReLU(nn.LeakyReLU):
    def __init__(self) -> None:
        super().__init__(0.2)


def make_generator(latent_dim: int, width: int, depth: int, generator: torch.Generator) -> nn.Sequential:
    """z (B, latent_dim) -> points (B, 2); ReLU hidden layers."""
    return mlp(latent_dim, 2, width, depth, nn.ReLU, generator)


def make_discriminator(width: int, depth: int, generator: torch.Generator) -> nn.Sequential:
    """points (B, 2) -> raw score (B, 1) (a logit, or a critic value); LeakyReLU(0.2) hidden layers."""
    return mlp(2, 1, width, depth, _LeakyReLU, generator)


# ----------------------------------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------------------------------

Loss = Literal["minimax", "nonsaturating", "wgan", "wgan-gp"]
LOSSES: tuple[str, ...] = ("minimax", "nonsaturating", "wgan", "wgan-gp")
LOSS_LABELS = {
    "minimax": "minimax (saturating)",
    "nonsaturating": "non-saturating (−log D(G(z)))",
    "wgan": "WGAN (weight clipping)",
    "wgan-gp": "WGAN-GP (gradient penalty)",
}
WASSERSTEIN = ("wgan", "wgan-gp")


def discriminator_loss(loss: str, real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """The discriminator's (critic's) loss to minimise, without any gradient penalty.

    Cross-entropy losses: -E log D(x) - E log(1 - D(G(z))) = softplus(-logit_real).mean() + softplus(logit_fake).mean().
    Wasserstein losses: E f(G(z)) - E f(x) (the negated Kantorovich-Rubinstein objective).
    real_scores (N, 1), fake_scores (M, 1) -> scalar.
    """
    if loss in WASSERSTEIN:
        return fake_scores.mean() - real_scores.mean()
    if loss in ("minimax", "nonsaturating"):
        return nn.functional.softplus(-real_scores).mean() + nn.functional.softplus(fake_scores).mean()
    raise ValueError(f"Unknown loss {loss!r}; choose one of {', '.join(LOSSES)}.")


def generator_loss_per_sample(loss: str, fake_scores: Tensor) -> Tensor:
    """Each generated sample's term of the generator loss (M, 1) -> (M, 1).

    minimax: log(1 - D) = -softplus(logit); nonsaturating: -log D = softplus(-logit); Wasserstein: -f.
    """
    if loss == "minimax":
        return -nn.functional.softplus(fake_scores)
    if loss == "nonsaturating":
        return nn.functional.softplus(-fake_scores)
    if loss in WASSERSTEIN:
        return -fake_scores
    raise ValueError(f"Unknown loss {loss!r}; choose one of {', '.join(LOSSES)}.")


def generator_loss(loss: str, fake_scores: Tensor) -> Tensor:
    """The generator's loss to minimise: the batch mean of `generator_loss_per_sample`."""
    return generator_loss_per_sample(loss, fake_scores).mean()


def gradient_penalty(critic: nn.Module, real: Tensor, fake: Tensor, generator: torch.Generator | None = None,
                     weight: float = 10.0) -> Tensor:
    """WGAN-GP's penalty weight * E (||grad_x f(x_hat)||_2 - 1)^2 with x_hat = eps x + (1 - eps) G(z),
    eps ~ U[0, 1] per sample. real, fake (B, 2) -> scalar, differentiable w.r.t. the critic's weights."""
    eps = torch.rand(real.shape[0], 1, generator=generator, dtype=real.dtype)  # (B, 1)
    x_hat = (eps * real + (1 - eps) * fake).detach().requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)  # (B, 2)
    return weight * ((grad.norm(dim=1) - 1) ** 2).mean()


def clip_weights(module: nn.Module, clip: float) -> None:
    """WGAN's weight clipping: every parameter clamped into [-clip, clip] in place."""
    with torch.no_grad():
        params = list(module.parameters())
        torch._foreach_clamp_min_(params, -clip)
        torch._foreach_clamp_max_(params, clip)


LOSS_FORMULAS = {
    "minimax": (
        r"$$\max_D\; \mathbb{E}_{x}\log D(x) + \mathbb{E}_{z}\log\bigl(1-D(G(z))\bigr)$$" "\n\n"
        r"$$\min_G\; \mathbb{E}_{z}\log\bigl(1-D(G(z))\bigr)$$" "\n\n"
        "The original minimax game. Where D rejects G's samples (D(G(z)) ≈ 0) "
        r"$\log(1-D)$ is flat: the generator's gradient **saturates** (short arrows)."
    ),
    "nonsaturating": (
        r"$$\max_D\; \mathbb{E}_{x}\log D(x) + \mathbb{E}_{z}\log\bigl(1-D(G(z))\bigr)$$" "\n\n"
        r"$$\min_G\; -\mathbb{E}_{z}\log D(G(z))$$" "\n\n"
        "Same fixed point, but the generator's loss is steep exactly where D rejects its samples "
        "(the book's choice: cross-entropy with label 1 for generated points)."
    ),
    "wgan": (
        r"$$\max_{\|w\|_\infty\le c}\; \mathbb{E}_{x} f_w(x) - \mathbb{E}_{z} f_w(G(z))$$" "\n\n"
        r"$$\min_G\; -\mathbb{E}_{z} f_w(G(z))$$" "\n\n"
        "The critic $f_w$ estimates the earth-mover distance (Kantorovich–Rubinstein duality) up to a constant; "
        "clipping every weight to $[-c, c]$ keeps it Lipschitz."
    ),
    "wgan-gp": (
        r"$$\min_f\; \mathbb{E}_{z} f(G(z)) - \mathbb{E}_{x} f(x)$$" "\n\n"
        r"$$\qquad + \lambda\,\mathbb{E}_{\hat x}\bigl(\|\nabla_{\hat x} f(\hat x)\|_2 - 1\bigr)^2$$" "\n\n"
        r"$$\min_G\; -\mathbb{E}_{z} f(G(z))$$" "\n\n"
        r"$\hat x = \epsilon x + (1-\epsilon)G(z)$, $\epsilon\sim U[0,1]$: the penalty asks for gradient norm 1 "
        "between the data and the samples instead of clipping weights."
    ),
}
"""LaTeX (Markdown with $...$ / $$...$$) of each loss: the discriminator's line, the generator's line, a remark."""


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------

OPTIMIZERS = ("adam", "rmsprop", "sgd")


@dataclass(frozen=True)
class GANConfig:
    """Everything that defines a run; two runs with equal configs give equal results."""

    dataset: str = "ring"  # one of DATASETS
    loss: str = "nonsaturating"  # one of LOSSES
    latent_dim: int = 2  # size of z ~ N(0, I)
    g_width: int = 64  # generator hidden units per layer
    g_depth: int = 2  # generator hidden layers (0 = linear, like the book's Linear(2, 2))
    d_width: int = 64  # discriminator/critic hidden units per layer
    d_depth: int = 2  # discriminator/critic hidden layers
    optimizer: str = "adam"  # one of OPTIMIZERS
    lr_g: float = 1e-3  # generator learning rate
    lr_d: float = 1e-3  # discriminator learning rate
    d_steps: int = 1  # discriminator (critic) updates per generator update
    batch_size: int = 256
    clip: float = 0.1  # WGAN weight-clipping bound c
    gp_weight: float = 0.1  # WGAN-GP lambda (the paper's 10 is for images; 0.1 suits these 2-D toys)
    seed: int = 0
    data_seed: int = 0  # seed of the real data pool

    def validate(self) -> None:
        """Raise ValueError with a readable message for out-of-range settings."""
        if self.dataset not in DATASETS:
            raise ValueError(f"Unknown data set {self.dataset!r}; choose one of {', '.join(DATASETS)}.")
        if self.loss not in LOSSES:
            raise ValueError(f"Unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}.")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"Unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}.")
        for name, low, high in (("latent_dim", 1, 64), ("g_width", 1, 512), ("d_width", 1, 512),
                                ("g_depth", 0, 6), ("d_depth", 0, 6), ("d_steps", 1, 10),
                                ("batch_size", 1, 4096)):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or not low <= value <= high:
                raise ValueError(f"{name} must be an integer between {low} and {high}, got {value!r}.")
        for name in ("lr_g", "lr_d"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 < value <= 1):
                raise ValueError(f"{name} must be in (0, 1], got {value!r}.")
        if not (math.isfinite(self.clip) and self.clip > 0):
            raise ValueError(f"clip must be positive, got {self.clip!r}.")
        if not (math.isfinite(self.gp_weight) and self.gp_weight >= 0):
            raise ValueError(f"gp_weight must be non-negative, got {self.gp_weight!r}.")
        if not 0 <= self.seed < 2**31 or not 0 <= self.data_seed < 2**31:
            raise ValueError("Seeds must be between 0 and 2147483647.")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "GANConfig":
        """Build from a dict (e.g. parsed JSON); unknown keys are refused, types coerced to the defaults'."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"Unknown setting(s) {', '.join(unknown)}; known: {', '.join(known)}.")
        kwargs: dict[str, Any] = {}
        for name, value in values.items():
            default = getattr(cls, name)
            try:
                if isinstance(default, bool):
                    kwargs[name] = bool(value)
                elif isinstance(default, int):
                    as_float = float(value)
                    if as_float != int(as_float):
                        raise ValueError
                    kwargs[name] = int(as_float)
                elif isinstance(default, float):
                    kwargs[name] = float(value)
                else:
                    kwargs[name] = str(value)
            except (TypeError, ValueError):
                raise ValueError(f"{name}: expected a {type(default).__name__}, got {value!r}.") from None
        config = cls(**kwargs)
        config.validate()
        return config

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULTS_BY_LOSS: dict[str, dict[str, Any]] = {
    "minimax": dict(optimizer="adam", lr_g=1e-3, lr_d=1e-3, d_steps=1),
    "nonsaturating": dict(optimizer="adam", lr_g=1e-3, lr_d=1e-3, d_steps=1),
    "wgan": dict(optimizer="rmsprop", lr_g=1e-3, lr_d=1e-3, d_steps=5, clip=0.1),
    "wgan-gp": dict(optimizer="adam", lr_g=1e-3, lr_d=3e-3, d_steps=2, gp_weight=0.1),
}
"""Settings that train each loss well on these toys (the UI applies them when the loss changes).

WGAN-GP: the paper's 5 critic steps per generator step cost 5 penalised critic updates each; for a live lab,
2 critic steps at 3x the generator's learning rate cover the 8-Gaussian ring just as well (8/8 modes for seeds 0-2
after 800 steps, measured) at 2.2x the generator steps per second. The slider still allows 5."""

STRONG_DISCRIMINATOR = dict(optimizer="adam", lr_g=1e-3, lr_d=1e-2, d_steps=5)
"""The mode-collapse experiment: a discriminator 10x faster than the generator and updated 5 times per generator
step. On the 8-Gaussian ring the saturating minimax loss then collapses onto (at most) one or two modes, while
WGAN-GP with the very same settings covers all 8 (measured over seeds 0-7 at 200 and 300 steps;
tests/test_gan2d.py).
The mechanism: each generated point's gradient under log(1 - D) carries the factor D(G(z)), so the points that
already fool D (near one mode) dominate the update and the rest get almost none. With a gentle discriminator
(lr 1e-3, 1 step) Adam's per-parameter normalisation hides the small gradient scale and both losses cover the ring."""


@dataclass
class StepStats:
    """One generator update: the step number (1-based), the discriminator loss of its last D update
    (without penalty), the generator loss, and the gradient penalty (0 unless WGAN-GP)."""

    step: int
    loss_d: float
    loss_g: float
    penalty: float = 0.0


@dataclass
class Snapshot:
    """What the lab draws after some steps.

    real: (R, 2) real points; fake: (M, 2) generated points from a fixed z; heat: (H, W) the discriminator's
    D(x) in [0, 1] (cross-entropy losses) or critic value f(x) (Wasserstein) on a grid over `view`, row 0 at
    the top (y = ymax); arrow_from: (A, 2) generated points; arrow_vec: (A, 2) minus the gradient of each
    point's generator loss term (the direction the generator pushes it); history: per-step losses.
    """

    step: int
    real: np.ndarray
    fake: np.ndarray
    heat: np.ndarray
    heat_kind: Literal["probability", "critic"]
    view: tuple[float, float, float, float]
    arrow_from: np.ndarray
    arrow_vec: np.ndarray
    coverage: Coverage
    fake_mean: np.ndarray
    fake_cov: np.ndarray
    history_step: np.ndarray
    history_d: np.ndarray
    history_g: np.ndarray
    steps_per_second: float


def _make_optimizer(name: str, params: Any, lr: float) -> torch.optim.Optimizer:
    """Adam (betas 0.5, 0.9 as in the WGAN-GP paper), RMSprop (the WGAN paper's) or SGD. Adam and SGD use the fused
    single-kernel update (about 1.5x faster per step for these tiny networks than the per-tensor loop)."""
    params = list(params)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(0.5, 0.9), fused=True)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, foreach=True)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, fused=True)
    raise ValueError(f"Unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}.")


class Trainer:
    """A GAN on 2-D data that advances a few steps at a time (thread-safe), keeping its loss history.

    Randomness comes only from `config.seed` (model initialisation, z, minibatches, penalty mixing) and
    `config.data_seed` (the data pool); equal configs give equal runs.
    """

    DISPLAY_SAMPLES = 600
    EVAL_SAMPLES = 1000
    ARROWS = 60
    HISTORY_LIMIT = 20_000

    def __init__(self, config: GANConfig, data: Dataset2D | None = None):
        config.validate()
        self.config = config
        self.data = data if data is not None else make_dataset(config.dataset, config.data_seed)
        self._gen = torch.Generator().manual_seed(config.seed)
        self.G = make_generator(config.latent_dim, config.g_width, config.g_depth, self._gen)
        self.D = make_discriminator(config.d_width, config.d_depth, self._gen)
        self.opt_g = _make_optimizer(config.optimizer, self.G.parameters(), config.lr_g)
        self.opt_d = _make_optimizer(config.optimizer, self.D.parameters(), config.lr_d)
        self._real = torch.from_numpy(self.data.points)
        eval_gen = torch.Generator().manual_seed(config.seed + 1)
        self.z_eval = torch.randn(self.EVAL_SAMPLES, config.latent_dim, generator=eval_gen)  # fixed: points move smoothly
        self.step_count = 0
        self.train_seconds = 0.0
        self.hist_step: list[int] = []
        self.hist_d: list[float] = []
        self.hist_g: list[float] = []
        self.lock = threading.Lock()
        if config.loss == "wgan":
            clip_weights(self.D, config.clip)

    # -- training --------------------------------------------------------------------------------

    def _real_batch(self) -> Tensor:
        index = torch.randint(0, len(self._real), (self.config.batch_size,), generator=self._gen)
        return self._real[index]

    def _z(self) -> Tensor:
        return torch.randn(self.config.batch_size, self.config.latent_dim, generator=self._gen)

    def _step(self) -> StepStats:
        cfg = self.config
        penalty_value = 0.0
        loss_d_value = 0.0
        batch = cfg.batch_size
        for _ in range(cfg.d_steps):
            real = self._real_batch()
            with torch.no_grad():
                fake = self.G(self._z())
            scores = self.D(torch.cat([real, fake]))  # (2B, 1): one forward for both halves
            loss_d = discriminator_loss(cfg.loss, scores[:batch], scores[batch:])
            total = loss_d
            if cfg.loss == "wgan-gp" and cfg.gp_weight > 0:
                # a separate pass for the mixed points: measured faster than one pass over all 3B points,
                # whose double backward then runs through the whole batch
                penalty = gradient_penalty(self.D, real, fake, self._gen, cfg.gp_weight)
                total = loss_d + penalty
                penalty_value = float(penalty.detach())
            self.opt_d.zero_grad(set_to_none=True)
            total.backward()
            self.opt_d.step()
            if cfg.loss == "wgan":
                clip_weights(self.D, cfg.clip)
            loss_d_value = float(loss_d.detach())
        self.D.requires_grad_(False)
        loss_g = generator_loss(cfg.loss, self.D(self.G(self._z())))
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self.D.requires_grad_(True)
        self.step_count += 1
        return StepStats(self.step_count, loss_d_value, float(loss_g.detach()), penalty_value)

    def advance(self, steps: int = 1, max_seconds: float | None = None) -> list[StepStats]:
        """Do up to `steps` generator updates (each after `d_steps` discriminator updates), stopping early
        once `max_seconds` have passed. Returns the stats of the steps done."""
        done: list[StepStats] = []
        with self.lock:
            start = time.perf_counter()
            for _ in range(int(steps)):
                stats = self._step()
                done.append(stats)
                if max_seconds is not None and time.perf_counter() - start > max_seconds:
                    break
            self.train_seconds += time.perf_counter() - start
            for stats in done:
                self.hist_step.append(stats.step)
                self.hist_d.append(stats.loss_d)
                self.hist_g.append(stats.loss_g)
            if len(self.hist_step) > self.HISTORY_LIMIT:  # keep every other old point: bounded memory
                half = len(self.hist_step) // 2
                for name in ("hist_step", "hist_d", "hist_g"):
                    values = getattr(self, name)
                    setattr(self, name, values[:half:2] + values[half:])
        return done

    # -- what the lab shows -------------------------------------------------------------------------

    def samples(self, n: int | None = None) -> np.ndarray:
        """Generated points (n, 2) from the fixed evaluation noise (the same z every call)."""
        with torch.no_grad():
            return self.G(self.z_eval[: n or self.EVAL_SAMPLES]).numpy()

    def heatmap(self, resolution: int = 64, view: tuple[float, float, float, float] | None = None) -> np.ndarray:
        """The discriminator over a (resolution, resolution) grid covering `view` (default: the data's),
        row 0 at the top: D(x) = sigmoid(logit) for cross-entropy losses, the critic value f(x) otherwise."""
        return discriminator_heatmap(self.D, view or self.data.view, resolution,
                                     probability=self.config.loss not in WASSERSTEIN)

    def generator_gradients(self, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(points (n, 2), direction (n, 2)): minus the gradient of each generated point's own generator loss
        term with respect to the point, i.e. where the discriminator pushes it."""
        z = self.z_eval[: n or self.ARROWS]
        with torch.no_grad():
            points = self.G(z)
        return generator_gradient_field(self.D, points, self.config.loss)

    def snapshot(self, resolution: int = 64, display: int | None = None) -> Snapshot:
        """Everything the lab draws, computed under the trainer's lock."""
        with self.lock:
            fake_all = self.samples()
            heat = self.heatmap(resolution)
            arrow_from, arrow_vec = self.generator_gradients()
            coverage = dataset_coverage(self.data, fake_all)
            n_real = min(len(self.data.points), display or self.DISPLAY_SAMPLES)
            return Snapshot(
                step=self.step_count,
                real=self.data.points[:n_real],
                fake=fake_all[: display or self.DISPLAY_SAMPLES],
                heat=heat,
                heat_kind="critic" if self.config.loss in WASSERSTEIN else "probability",
                view=self.data.view,
                arrow_from=arrow_from,
                arrow_vec=arrow_vec,
                coverage=coverage,
                fake_mean=fake_all.mean(axis=0),
                fake_cov=np.cov(fake_all.T),
                history_step=np.asarray(self.hist_step),
                history_d=np.asarray(self.hist_d),
                history_g=np.asarray(self.hist_g),
                steps_per_second=self.step_count / self.train_seconds if self.train_seconds > 0 else 0.0,
            )

    def metrics(self) -> dict[str, Any]:
        """Plain-number summary (JSON-friendly): step, last losses, coverage, the generated mean/covariance."""
        with self.lock:
            fake = self.samples()
            coverage = dataset_coverage(self.data, fake)
            last = -50  # average the last 50 steps: single-step losses are noisy
            return {
                "step": self.step_count,
                "loss": self.config.loss,
                "dataset": self.config.dataset,
                "loss_d": float(np.mean(self.hist_d[last:])) if self.hist_d else None,
                "loss_g": float(np.mean(self.hist_g[last:])) if self.hist_g else None,
                "modes_covered": coverage.modes_covered,
                "n_modes": coverage.n_modes,
                "near_fraction": coverage.near_fraction,
                "per_mode": coverage.per_mode,
                "coverage_criterion": coverage.criterion,
                "generated_mean": fake.mean(axis=0).tolist(),
                "generated_cov": np.cov(fake.T).tolist(),
                "real_mean": self.data.points.mean(axis=0).tolist(),
                "real_cov": np.cov(self.data.points.T).tolist(),
                "steps_per_second": self.step_count / self.train_seconds if self.train_seconds > 0 else 0.0,
            }


def discriminator_heatmap(net: nn.Module, view: tuple[float, float, float, float], resolution: int,
                          probability: bool) -> np.ndarray:
    """`net` evaluated on a (resolution, resolution) grid of cell centres over view = (xmin, xmax, ymin, ymax);
    row 0 is the top (ymax), column 0 the left (xmin). sigmoid applied when `probability`."""
    xmin, xmax, ymin, ymax = view
    step_x = (xmax - xmin) / resolution
    step_y = (ymax - ymin) / resolution
    xs = xmin + step_x * (torch.arange(resolution) + 0.5)
    ys = ymax - step_y * (torch.arange(resolution) + 0.5)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")  # (R, R) each
    grid = torch.stack([gx, gy], dim=-1).reshape(-1, 2)  # (R*R, 2)
    with torch.no_grad():
        values = net(grid).reshape(resolution, resolution)  # (R, R)
        if probability:
            values = torch.sigmoid(values)
    return values.numpy()


def generator_gradient_field(net: nn.Module, points: Tensor, loss: str) -> tuple[np.ndarray, np.ndarray]:
    """For generated points (A, 2): -d(generator loss term of each point)/d(point), shape (A, 2)."""
    x = points.detach().clone().requires_grad_(True)
    per_sample = generator_loss_per_sample(loss, net(x))  # (A, 1)
    (grad,) = torch.autograd.grad(per_sample.sum(), x)
    return x.detach().numpy(), (-grad).numpy()


def train(config: GANConfig, steps: int, data: Dataset2D | None = None) -> Trainer:
    """A fresh trainer advanced `steps` generator steps."""
    trainer = Trainer(config, data)
    trainer.advance(steps)
    return trainer


def with_loss_defaults(config: GANConfig, loss: str) -> GANConfig:
    """`config` switched to `loss` with that loss's recommended optimizer settings (DEFAULTS_BY_LOSS)."""
    return replace(config, loss=loss, **DEFAULTS_BY_LOSS[loss])
