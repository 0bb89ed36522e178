"""Latent-space tools: seeded latents, interpolation, truncation, PCA directions, nearest real image.

Every random draw comes from a generator seeded per call (`numpy.random.default_rng(seed)`), so the same
seed gives the same latents, and sample `i` of a seed does not depend on how many samples were asked for
(NumPy draws row after row), which makes `latents(seed, 1)[0] == latents(seed, 16)[0]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

SLERP_PARALLEL_EPS = 1e-6
"""Below this angle (radians) slerp falls back to lerp (the two latents are parallel)."""


def latents(seed: int, n: int, dim: int) -> torch.Tensor:
    """n standard-normal latents (n, dim) float32 drawn from `default_rng(seed)`."""
    if n < 0 or dim <= 0:
        raise ValueError(f"need n >= 0 and dim > 0, got n={n}, dim={dim}")
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.standard_normal((n, dim), dtype=np.float32))


@torch.no_grad()
def generate(generator: Callable[..., torch.Tensor], z: torch.Tensor, *per_sample: torch.Tensor,
             **options: Any) -> torch.Tensor:
    """generator(z_i, *per_sample_i, **options) for each row of z (B, D), concatenated: (B, ...).

    One latent at a time, so that a sample's pixels never depend on which batch it was drawn in (a batched
    convolution may round the last bit differently): the same seed gives bit-identical images in a grid of 16,
    alone, or at the end of an interpolation.
    """
    return torch.cat([generator(z[i:i + 1], *(t[i:i + 1] for t in per_sample), **options) for i in range(len(z))])


def lerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Linear interpolation (1 - t) z0 + t z1 for z0, z1 (D,) and t (T,) -> (T, D)."""
    t = t.reshape(-1, 1)  # (T, 1)
    return (1 - t) * z0 + t * z1


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985) for z0, z1 (D,) and t (T,) -> (T, D).

    slerp(t) = sin((1 - t) θ) / sin θ · z0 + sin(t θ) / sin θ · z1, θ = angle(z0, z1). Unlike lerp it does not
    pass near the origin, where a Gaussian latent almost never lies (|z| ≈ sqrt(D)).
    """
    cos = torch.dot(z0, z1) / (z0.norm() * z1.norm()).clamp_min(1e-12)
    theta = torch.arccos(cos.clamp(-1, 1))
    if float(theta) < SLERP_PARALLEL_EPS:
        return lerp(z0, z1, t)
    t = t.reshape(-1, 1)  # (T, 1)
    return (torch.sin((1 - t) * theta) * z0 + torch.sin(t * theta) * z1) / torch.sin(theta)


INTERPOLATIONS: dict[str, Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "linear": lerp,
    "slerp": slerp,
}


def interpolate(z0: torch.Tensor, z1: torch.Tensor, steps: int, mode: str = "slerp") -> torch.Tensor:
    """`steps` latents (steps, D) from z0 to z1 inclusive; row 0 is exactly z0 and row -1 exactly z1."""
    if mode not in INTERPOLATIONS:
        raise ValueError(f"mode must be one of {sorted(INTERPOLATIONS)}, got {mode!r}")
    if steps < 2:
        raise ValueError(f"steps must be at least 2, got {steps}")
    path = INTERPOLATIONS[mode](z0, z1, torch.linspace(0, 1, steps))
    path[0], path[-1] = z0, z1  # exact endpoints despite rounding in sin/cos
    return path


def truncate(z: torch.Tensor, psi: float, mean: torch.Tensor | None = None) -> torch.Tensor:
    """The truncation trick as a pull towards the mean latent: z' = mean + ψ (z - mean) (mean 0 by default).

    ψ = 1 leaves z unchanged; ψ < 1 trades variety for typical, cleaner samples; ψ = 0 gives the mean
    for everyone (StyleGAN applies the same formula to w; for a Gaussian z the mean is 0).
    """
    if mean is None:
        return psi * z
    return mean + psi * (z - mean)


@dataclass
class PrincipalDirections:
    """GANSpace directions: `directions` (K, D) in latent space, `stddev` (K,) of each component, `explained` (K,)."""

    directions: torch.Tensor
    stddev: torch.Tensor
    explained: torch.Tensor

    def move(self, z: torch.Tensor, amounts: torch.Tensor) -> torch.Tensor:
        """z (B, D) moved by amounts (K,) standard deviations along each direction -> (B, D)."""
        k = amounts.shape[0]
        offset = (amounts * self.stddev[:k]) @ self.directions[:k]  # (D,)
        return z + offset


POWER_ITERATIONS = 6
"""Subspace iterations of the PCA (randomised SVD, Halko et al. 2011): plenty for the top few components."""
OVERSAMPLING = 10


def top_principal_axes(y: torch.Tensor, k: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k principal axes (K, F) and singular values (K,) of centred data y (N, F) by seeded subspace iteration.

    Equal (up to sign, fixed here so that each axis's largest entry is positive) to the first rows of
    `torch.linalg.svd(y).Vh`, at a fraction of the cost of a full SVD of a wide matrix.
    """
    width = min(k + OVERSAMPLING, *y.shape)
    q = torch.randn(y.shape[1], width, generator=torch.Generator().manual_seed(seed), dtype=y.dtype)  # (F, L)
    for _ in range(POWER_ITERATIONS):
        q, _ = torch.linalg.qr(y.T @ (y @ q))  # (F, L), orthonormal columns
    _, s, vh = torch.linalg.svd(y @ q, full_matrices=False)  # (N, L) -> vh (L, L)
    axes = (q @ vh.T).T[:k]  # (K, F)
    signs = torch.sign(axes.gather(1, axes.abs().argmax(1, keepdim=True)))  # (K, 1)
    return axes * signs, s[:k]


def principal_directions(
    features: Callable[[torch.Tensor], torch.Tensor], dim: int, k: int = 5, samples: int = 4096, seed: int = 0
) -> PrincipalDirections:
    """PCA of intermediate activations transferred to the latent space, as GANSpace (Härkönen et al. 2020) does.

    1. Draw `samples` latents z_j (N, D) and compute y_j = features(z_j) (N, F), e.g. the first layer's output.
    2. PCA of y: centred y ≈ X V with V (K, F) the top-K principal axes and X = y V^T (N, K) the coordinates.
    3. Transfer to latent space by least squares: U = argmin_U ||X U - Z||², U (K, D). Moving z by x_k U_k
       then moves the activations approximately x_k along axis k.
    `stddev` is the std of each coordinate column of X, so sliders can be in units of standard deviations;
    `explained` is each component's share of the total variance of y.
    """
    z = latents(seed, samples, dim)  # (N, D)
    with torch.no_grad():
        y = features(z).reshape(samples, -1).float()  # (N, F)
    y = y - y.mean(0)
    axes, singular = top_principal_axes(y, k, seed)  # (K, F), (K,)
    coords = y @ axes.T  # (N, K)
    u = torch.linalg.lstsq(coords, z).solution  # (K, D)
    return PrincipalDirections(
        directions=u,
        stddev=coords.std(0).float(),
        explained=(singular**2 / y.pow(2).sum()).float(),
    )


def nearest_neighbours(queries: torch.Tensor, bank: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For queries (B, ...) and a bank (N, ...) of one image shape: index (B,) and L2 distance (B,) of the nearest."""
    q = queries.reshape(queries.shape[0], -1).float()  # (B, P)
    b = bank.reshape(bank.shape[0], -1).float()  # (N, P)
    distances = torch.cdist(q, b)  # (B, N)
    best, index = distances.min(dim=1)
    return index, best
