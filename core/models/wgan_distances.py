"""WGAN's Figure 1 (Arjovsky, Chintala, Bottou 2017, Example 1): two parallel lines.

P0 = (0, Z) and P_theta = (theta, Z) with Z ~ U[0, 1]: the same vertical segment, shifted by theta.

Exact distances (natural logarithm):
- earth mover (Wasserstein-1): EM(P0, P_theta) = |theta| -- continuous in theta, a useful gradient everywhere;
- Jensen-Shannon: JS(P0, P_theta) = log 2 when theta != 0, 0 when theta = 0 -- a jump, no gradient;
- total variation: 1 when theta != 0, 0 otherwise (also a jump).

Empirical estimates from samples:
- EM through the Kantorovich-Rubinstein dual, sup over 1-Lipschitz f of E_P0 f - E_Ptheta f, with a small MLP
  critic kept (roughly) 1-Lipschitz by a gradient penalty (default) or by weight clipping (then the value is
  EM times an unknown constant, as in the WGAN paper);
- JS through a trained discriminator: JS = max_D 0.5 (E_P0 log D + E_Ptheta log(1 - D)) + log 2.
Both are evaluated on fresh samples, not the ones the networks were trained on.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from core.models.gan2d import clip_weights, gradient_penalty, make_discriminator

LOG2 = math.log(2.0)

ESTIMATE_STEPS = 150
"""Default training steps of the critic and of the discriminator (about 0.1-0.3 s each on a CPU core)."""
ESTIMATE_BATCH = 256
EVAL_SAMPLES = 4096


def exact_em(theta: float) -> float:
    """Earth-mover distance between P0 and P_theta: |theta|."""
    return abs(float(theta))


def exact_js(theta: float) -> float:
    """Jensen-Shannon divergence (natural log) between P0 and P_theta: log 2 if theta != 0, else 0."""
    return LOG2 if float(theta) != 0.0 else 0.0


def exact_tv(theta: float) -> float:
    """Total-variation distance between P0 and P_theta: 1 if theta != 0, else 0."""
    return 1.0 if float(theta) != 0.0 else 0.0


def exact_curves(thetas: np.ndarray) -> dict[str, np.ndarray]:
    """EM, JS and TV at every theta of `thetas` (T,) -> dict of (T,) arrays."""
    thetas = np.asarray(thetas, dtype=np.float64)
    nonzero = (thetas != 0).astype(np.float64)
    return {"em": np.abs(thetas), "js": LOG2 * nonzero, "tv": nonzero}


def sample_lines(theta: float, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """n samples (n, 2) of P0 = (0, Z) and of P_theta = (theta, Z), Z ~ U[0, 1] (independent draws)."""
    z0 = torch.rand(n, 1, generator=generator)
    z1 = torch.rand(n, 1, generator=generator)
    p0 = torch.cat([torch.zeros_like(z0), z0], dim=1)
    p_theta = torch.cat([torch.full_like(z1, float(theta)), z1], dim=1)
    return p0, p_theta


@dataclass
class Estimate:
    """A network's estimate of a distance: `value` on fresh samples, after `steps` steps taking `seconds`;
    `net` is the trained critic/discriminator ((N, 2) -> (N, 1) scores)."""

    value: float
    steps: int
    seconds: float
    net: nn.Module


def estimate_em(theta: float, *, steps: int = ESTIMATE_STEPS, method: Literal["gp", "clip"] = "gp", seed: int = 0,
                width: int = 32, depth: int = 2, lr: float = 1e-2, gp_weight: float = 10.0, clip: float = 0.1,
                batch_size: int = ESTIMATE_BATCH) -> Estimate:
    """Kantorovich-Rubinstein estimate of EM(P0, P_theta): train a critic f to maximise E_P0 f - E_Ptheta f
    (Adam, `steps` steps) under a gradient penalty (`method="gp"`) or weight clipping (`"clip"`), then return
    that difference on fresh samples. With clipping the result is only proportional to EM."""
    if method not in ("gp", "clip"):
        raise ValueError(f"method must be 'gp' or 'clip', got {method!r}.")
    _check_theta(theta)
    generator = torch.Generator().manual_seed(seed)
    critic = make_discriminator(width, depth, generator)
    optimizer = torch.optim.Adam(critic.parameters(), lr=lr, betas=(0.5, 0.9))
    if method == "clip":
        clip_weights(critic, clip)
    start = time.perf_counter()
    for _ in range(steps):
        p0, p_theta = sample_lines(theta, batch_size, generator)
        scores = critic(torch.cat([p0, p_theta]))  # (2B, 1)
        loss = scores[batch_size:].mean() - scores[:batch_size].mean()  # minimise -(E_P0 f - E_Ptheta f)
        if method == "gp":
            loss = loss + gradient_penalty(critic, p0, p_theta, generator, gp_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if method == "clip":
            clip_weights(critic, clip)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        p0, p_theta = sample_lines(theta, EVAL_SAMPLES, generator)
        value = float(critic(p0).mean() - critic(p_theta).mean())
    return Estimate(value, steps, seconds, critic)


def estimate_js(theta: float, *, steps: int = ESTIMATE_STEPS, seed: int = 0, width: int = 32, depth: int = 2,
                lr: float = 1e-2, batch_size: int = ESTIMATE_BATCH) -> Estimate:
    """Estimate JS(P0, P_theta) (natural log) with a discriminator D = sigmoid(logit) trained by binary
    cross-entropy (P0 labelled 1, P_theta labelled 0): 0.5 (E_P0 log D + E_Ptheta log(1 - D)) + log 2 on fresh
    samples. It is at most log 2 and reaches it only as D separates the lines perfectly."""
    _check_theta(theta)
    generator = torch.Generator().manual_seed(seed)
    disc = make_discriminator(width, depth, generator)
    optimizer = torch.optim.Adam(disc.parameters(), lr=lr, betas=(0.5, 0.9))
    start = time.perf_counter()
    for _ in range(steps):
        p0, p_theta = sample_lines(theta, batch_size, generator)
        logits = disc(torch.cat([p0, p_theta]))  # (2B, 1)
        loss = nn.functional.softplus(-logits[:batch_size]).mean() + nn.functional.softplus(logits[batch_size:]).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    seconds = time.perf_counter() - start
    with torch.no_grad():
        p0, p_theta = sample_lines(theta, EVAL_SAMPLES, generator)
        value = js_from_logits(disc(p0), disc(p_theta))
    return Estimate(value, steps, seconds, disc)


def js_from_logits(logits_p: Tensor, logits_q: Tensor) -> float:
    """0.5 (E_p log D + E_q log(1 - D)) + log 2 with D = sigmoid(logit); logits (N, 1) and (M, 1).
    log D = -softplus(-logit) and log(1 - D) = -softplus(logit), computed stably."""
    log_d = -nn.functional.softplus(-logits_p).mean()
    log_one_minus_d = -nn.functional.softplus(logits_q).mean()
    return float(0.5 * (log_d + log_one_minus_d) + LOG2)


MAX_ABS_THETA = 10.0


def _check_theta(theta: float) -> None:
    if not isinstance(theta, (int, float, np.floating, np.integer)) or not math.isfinite(float(theta)):
        raise ValueError(f"theta must be a finite number, got {theta!r}.")
    if abs(float(theta)) > MAX_ABS_THETA:
        raise ValueError(f"theta must be between -{MAX_ABS_THETA:g} and {MAX_ABS_THETA:g}, got {theta}.")


MIN_LIPSCHITZ = 0.01
"""Below this mean gradient norm the clipped critic learned nothing (theta ~ 0): its raw value is reported."""


def lipschitz_along_path(critic: nn.Module, theta: float, generator: torch.Generator, n: int = EVAL_SAMPLES) -> float:
    """Mean gradient norm of `critic` on points (eps theta, z) between the two segments, eps, z ~ U[0, 1].

    Along the coupling (0, z) -> (theta, z), E_P0 f - E_Ptheta f = theta * E(-df/dx), so dividing a clipped
    critic's value by this mean norm gives an estimate of |theta| that does not depend on the clipping constant."""
    eps = torch.rand(n, 1, generator=generator)
    z = torch.rand(n, 1, generator=generator)
    x = torch.cat([eps * float(theta), z], dim=1).requires_grad_(True)  # (n, 2)
    (grad,) = torch.autograd.grad(critic(x).sum(), x)
    return float(grad.norm(dim=1).mean())


def estimates(theta: float, *, steps: int = ESTIMATE_STEPS, seed: int = 0) -> dict[str, Estimate]:
    """The three trained networks at theta: "em_gp" and "em_clip" critics, "js" discriminator."""
    _check_theta(theta)
    return {
        "em_gp": estimate_em(theta, steps=steps, method="gp", seed=seed),
        "em_clip": estimate_em(theta, steps=steps, method="clip", seed=seed),
        "js": estimate_js(theta, steps=steps, seed=seed),
    }


def distances(theta: float, *, steps: int = ESTIMATE_STEPS, seed: int = 0,
              trained: dict[str, Estimate] | None = None) -> dict[str, float | int]:
    """Exact EM, JS, TV at theta and the network estimates as plain numbers:
    em_estimate_gp; em_estimate_clip_raw (EM times the clipped critic's unknown Lipschitz constant) and
    em_estimate_clip (the raw value divided by the critic's mean gradient norm along the path); js_estimate.
    `trained` reuses networks from `estimates(theta, ...)`."""
    _check_theta(theta)
    trained = trained or estimates(theta, steps=steps, seed=seed)
    clip = trained["em_clip"]
    lipschitz = lipschitz_along_path(clip.net, theta, torch.Generator().manual_seed(seed + 1))
    return {
        "theta": float(theta),
        "em": exact_em(theta),
        "js": exact_js(theta),
        "tv": exact_tv(theta),
        "em_estimate_gp": trained["em_gp"].value,
        "em_estimate_clip": clip.value / lipschitz if lipschitz > MIN_LIPSCHITZ else clip.value,
        "em_estimate_clip_raw": clip.value,
        "clip_lipschitz": lipschitz,
        "js_estimate": trained["js"].value,
        "steps": trained["js"].steps,
        "seconds": sum(e.seconds for e in trained.values()),
    }
