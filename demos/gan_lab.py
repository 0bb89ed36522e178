"""GAN lab: train a GAN on 2-D data live in the browser, and WGAN's Figure 1 made interactive.

Live training: each browser session owns one `core.models.gan2d.Trainer` kept in a `gr.State`. Play activates a
`gr.Timer` that ticks every TICK_SECONDS; each tick advances the session's trainer by a few steps (at most
TICK_TRAIN_SECONDS of compute, one CPU thread) and redraws. A run stops on Pause, after MAX_RUN_STEPS steps
or MAX_RUN_SECONDS seconds, and when the browser tab closes (the timer lives in the page; the state expires).
Pictures are rasterised directly with numpy/Pillow (a few ms) rather than matplotlib, so that the refresh rate
is limited by training, not drawing.
"""

from __future__ import annotations

import functools
import json
import math
import time
from dataclasses import dataclass, replace
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image, ImageDraw

from core.models import gan2d
from core.models import wgan_distances
from core.models.gan2d import DATASET_LABELS, LOSS_FORMULAS, LOSS_LABELS, GANConfig, Snapshot
from demos.common import (
    D2L_GAN, LATEX, book_link, header, math_font, parse_seed, pil_font, to_jsonable, torch_threads, user_errors,
)

TITLE = "GAN lab"

PLANE_SIZE = 440
"""Side of the square picture of the plane, in pixels."""
CURVES_SIZE = (440, 160)
HEAT_RESOLUTION = 64
"""The discriminator is evaluated on a HEAT_RESOLUTION^2 grid, then smoothly upsampled to PLANE_SIZE."""

TICK_SECONDS = 0.2
"""Timer interval while playing: at most 5 refreshes per second per session."""
TICK_TRAIN_SECONDS = 0.12
"""Training time budget of one tick; the rest of the tick draws and sends the frame."""
MAX_RUN_STEPS = 5000
MAX_RUN_SECONDS = 120.0
MAX_TOTAL_STEPS = 100_000
"""After this many steps a session must press Reset (bounded history and memory)."""
MAX_API_STEPS = 5000
MAX_API_SECONDS = 60.0
STATE_TTL_SECONDS = 1800
"""A session's trainer is dropped this long after its last update (Gradio also drops it when the tab closes)."""
CLICK_BLOB_POINTS = 40
CLICK_BLOB_SIGMA = 0.08

REAL_COLOR = (18, 120, 55)
FAKE_COLOR = (125, 40, 165)
HEAT_REAL = np.array([150, 215, 165], dtype=np.float32)
HEAT_FAKE = np.array([205, 170, 230], dtype=np.float32)
ARROW_COLOR = (30, 30, 30)
COVERED_COLOR = (0, 140, 70)
MISSED_COLOR = (215, 40, 40)
ARROW_PIXELS_PER_UNIT = 40.0
"""Cross-entropy losses: an arrow's length is the gradient norm times this (so saturation shows as short arrows)."""
MAX_ARROW_PIXELS = 48.0

DEFAULT = GANConfig(dataset="ring", loss="nonsaturating")


# ----------------------------------------------------------------------------------------------
# Drawing (numpy + Pillow; a frame costs a few milliseconds)
# ----------------------------------------------------------------------------------------------


def _to_pixels(points: np.ndarray, view: tuple[float, float, float, float], size: int) -> np.ndarray:
    """(N, 2) data coordinates -> (N, 2) float pixel (column, row); row 0 is the top (ymax)."""
    xmin, xmax, ymin, ymax = view
    col = (points[:, 0] - xmin) / (xmax - xmin) * size
    row = (ymax - points[:, 1]) / (ymax - ymin) * size
    return np.stack([col, row], axis=1)


def pixel_to_data(col: float, row: float, view: tuple[float, float, float, float], size: int = PLANE_SIZE) -> tuple[float, float]:
    """Inverse of `_to_pixels` for one pixel (clicks on the plane)."""
    xmin, xmax, ymin, ymax = view
    return xmin + (col + 0.5) / size * (xmax - xmin), ymax - (row + 0.5) / size * (ymax - ymin)


def _disc_offsets(radius: int) -> np.ndarray:
    r = np.arange(-radius, radius + 1)
    dy, dx = np.meshgrid(r, r, indexing="ij")
    keep = dx**2 + dy**2 <= radius**2 + radius
    return np.stack([dy[keep], dx[keep]], axis=1)  # (P, 2) row, column offsets


def _stamp(canvas: np.ndarray, pixels: np.ndarray, color: tuple[int, int, int], radius: int = 2,
           edge: tuple[int, int, int] | None = (255, 255, 255)) -> None:
    """Draw filled discs at (N, 2) pixel (column, row) positions into canvas (H, W, 3) in place (numpy only)."""
    h, w = canvas.shape[:2]
    pixels = np.round(pixels).astype(np.int64)
    for rad, col in (((radius + 1), edge), (radius, color)):
        if col is None:
            continue
        offsets = _disc_offsets(rad)
        rows = (pixels[:, 1, None] + offsets[None, :, 0]).ravel()
        cols = (pixels[:, 0, None] + offsets[None, :, 1]).ravel()
        keep = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
        canvas[rows[keep], cols[keep]] = col


def heat_colors(heat: np.ndarray, kind: str, min_scale: float = 0.0) -> np.ndarray:
    """(R, R) discriminator values -> (R, R, 3) uint8: green where D says 'real', purple where it says 'fake',
    white at the boundary (D = 0.5, or the critic's median). A critic's values are scaled by their 98th
    percentile distance from the median, but by at least `min_scale` (so that a flat critic stays pale)."""
    if kind == "probability":
        s = 2.0 * heat - 1.0
    else:
        centered = heat - np.median(heat)
        s = centered / max(float(np.percentile(np.abs(centered), 98)), min_scale, 1e-12)
    s = np.clip(s, -1.0, 1.0)[..., None]
    white = np.float32(255.0)
    rgb = np.where(s >= 0, white + s * (HEAT_REAL - white), white - s * (HEAT_FAKE - white))
    return rgb.astype(np.uint8)


def _arrow_lengths(vec: np.ndarray, loss: str) -> np.ndarray:
    """Pixel length per arrow. Cross-entropy losses: absolute (gradient norm x ARROW_PIXELS_PER_UNIT, capped), so
    vanishing gradients look short. Wasserstein: relative to the longest (a critic's scale is arbitrary)."""
    norms = np.linalg.norm(vec, axis=1)
    if loss in gan2d.WASSERSTEIN:
        return MAX_ARROW_PIXELS * norms / (norms.max() + 1e-12)
    return np.minimum(norms * ARROW_PIXELS_PER_UNIT, MAX_ARROW_PIXELS)


def render_plane(snap: Snapshot, data: gan2d.Dataset2D, loss: str, size: int = PLANE_SIZE) -> np.ndarray:
    """The picture of the plane (size, size, 3) uint8: discriminator heatmap, 3-sigma circles of the modes
    (green = covered, red = missed), real points (green), generated points (purple), generator-gradient arrows."""
    heat = Image.fromarray(heat_colors(snap.heat, snap.heat_kind)).resize((size, size), Image.BILINEAR)
    image = heat
    draw = ImageDraw.Draw(image)
    view = snap.view
    if data.centers is not None and data.covariances is not None:
        angles = np.linspace(0, 2 * np.pi, 48)
        circle = np.stack([np.cos(angles), np.sin(angles)], axis=1)  # (48, 2) unit circle
        for k, (center, cov) in enumerate(zip(data.centers, data.covariances)):
            values, vectors = np.linalg.eigh(cov)
            ellipse = center + gan2d.NEAR_SIGMAS * (circle * np.sqrt(values)) @ vectors.T  # (48, 2)
            covered = snap.coverage.per_mode[k] >= snap.coverage.min_count
            draw.line([tuple(p) for p in _to_pixels(ellipse, view, size)] + [tuple(_to_pixels(ellipse[:1], view, size)[0])],
                      fill=COVERED_COLOR if covered else MISSED_COLOR, width=2)
    canvas = np.asarray(image).copy()
    _stamp(canvas, _to_pixels(snap.real, view, size), REAL_COLOR, radius=2)
    _stamp(canvas, _to_pixels(snap.fake, view, size), FAKE_COLOR, radius=2)
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    start = _to_pixels(snap.arrow_from, view, size)
    norms = np.linalg.norm(snap.arrow_vec, axis=1, keepdims=True)
    direction = snap.arrow_vec / np.maximum(norms, 1e-12)
    direction[:, 1] *= -1  # data y up -> pixel rows down
    end = start + direction * _arrow_lengths(snap.arrow_vec, loss)[:, None]
    for (x0, y0), (x1, y1), (dx, dy) in zip(start, end, direction):
        draw.line([(x0, y0), (x1, y1)], fill=ARROW_COLOR, width=2)
        if math.hypot(x1 - x0, y1 - y0) > 4:
            for turn in (2.6, -2.6):  # two short head strokes, about 150 degrees back from the tip
                c, s = math.cos(turn), math.sin(turn)
                draw.line([(x1, y1), (x1 + 6 * (c * dx - s * dy), y1 + 6 * (s * dx + c * dy))], fill=ARROW_COLOR, width=2)
    font = pil_font(14)
    label = f"step {snap.step}"
    draw.rectangle([4, 4, 12 + 8 * len(label), 24], fill=(255, 255, 255))
    draw.text((8, 6), label, fill=(0, 0, 0), font=font)
    xmin, xmax, ymin, ymax = view
    corner = f"x: {xmin:.1f} to {xmax:.1f}   y: {ymin:.1f} to {ymax:.1f}"
    draw.text((6, size - 20), corner, fill=(60, 60, 60), font=pil_font(12))
    return np.asarray(image)


def _binned(steps: np.ndarray, values: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Average (step, value) pairs into at most `bins` consecutive bins (smooths noisy per-step losses)."""
    n = len(steps)
    if n <= bins:
        return steps.astype(np.float64), values.astype(np.float64)
    edges = np.linspace(0, n, bins + 1).astype(np.int64)
    sums_s = np.add.reduceat(steps.astype(np.float64), edges[:-1])
    sums_v = np.add.reduceat(values.astype(np.float64), edges[:-1])
    counts = np.diff(edges)
    return sums_s / counts, sums_v / counts


def render_curves(steps: np.ndarray, loss_d: np.ndarray, loss_g: np.ndarray,
                  size: tuple[int, int] = CURVES_SIZE) -> np.ndarray:
    """Loss curves (H, W, 3) uint8: the discriminator's (orange) and the generator's (purple) loss per step."""
    width, height = size
    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = pil_font(12)
    left, right, top, bottom = 52, 8, 20, 22
    draw.rectangle([left, top, width - right, height - bottom], outline=(170, 170, 170))
    draw.text((left, 3), "D loss", fill=(215, 110, 20), font=font)
    draw.text((left + 60, 3), "G loss", fill=FAKE_COLOR, font=font)
    if len(steps) == 0:
        draw.text((left + 10, top + 30), "no steps yet: press Play or Step", fill=(90, 90, 90), font=font)
        return np.asarray(image)
    plot_w = width - left - right
    curves = [_binned(steps, v, plot_w // 2) for v in (loss_d, loss_g)]
    finite = np.concatenate([c[1][np.isfinite(c[1])] for c in curves])
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    pad = 0.05 * (high - low)
    low, high = low - pad, high + pad
    s_low, s_high = float(steps[0]), float(max(steps[-1], steps[0] + 1))

    def to_px(s: np.ndarray, v: np.ndarray) -> list[tuple[float, float]]:
        x = left + (s - s_low) / (s_high - s_low) * plot_w
        y = top + (high - v) / (high - low) * (height - top - bottom)
        return list(zip(x.tolist(), y.tolist()))

    if low < 0 < high:
        zero = to_px(np.array([s_low, s_high]), np.zeros(2))
        draw.line(zero, fill=(200, 200, 200), width=1)
    for (s, v), color in zip(curves, ((215, 110, 20), FAKE_COLOR)):
        ok = np.isfinite(v)
        if ok.sum() >= 2:
            draw.line(to_px(s[ok], v[ok]), fill=color, width=2)
    draw.text((4, top - 6), f"{high:.2f}", fill=(60, 60, 60), font=font)
    draw.text((4, height - bottom - 10), f"{low:.2f}", fill=(60, 60, 60), font=font)
    draw.text((left, height - bottom + 4), f"step {int(s_low)}", fill=(60, 60, 60), font=font)
    end_label = f"step {int(steps[-1])}"
    draw.text((width - right - 7 * len(end_label), height - bottom + 4), end_label, fill=(60, 60, 60), font=font)
    return np.asarray(image)


# ----------------------------------------------------------------------------------------------
# Sessions
# ----------------------------------------------------------------------------------------------


@dataclass
class LabSession:
    """One browser session's training run: the trainer and the bounds of the current Play run."""

    trainer: gan2d.Trainer
    run_started: float | None = None
    run_start_step: int = 0

    def start_run(self) -> None:
        self.run_started = time.monotonic()
        self.run_start_step = self.trainer.step_count

    def run_limit_reached(self) -> str | None:
        """A user-facing reason to stop playing, or None."""
        if self.trainer.step_count >= MAX_TOTAL_STEPS:
            return f"this model has trained {MAX_TOTAL_STEPS} steps: press Reset for a new one."
        if self.run_started is None:
            return "press Play to continue."
        if self.trainer.step_count - self.run_start_step >= MAX_RUN_STEPS:
            return f"stopped after {MAX_RUN_STEPS} steps (the limit of one run): press Play to continue."
        if time.monotonic() - self.run_started >= MAX_RUN_SECONDS:
            return f"stopped after {MAX_RUN_SECONDS:.0f} s (the limit of one run): press Play to continue."
        return None


def _number(value: Any, name: str, low: float, high: float, integer: bool = False) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise gr.Error(f"{name}: expected a number, got {value!r}.") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise gr.Error(f"{name} must be between {low:g} and {high:g}, got {value!r}.")
    if integer and number != int(number):
        raise gr.Error(f"{name} must be a whole number, got {value!r}.")
    return int(number) if integer else number


def config_from_controls(dataset: str, loss: str, optimizer: str, lr_g: Any, lr_d: Any, d_steps: Any,
                         latent_dim: Any, g_width: Any, g_depth: Any, d_width: Any, d_depth: Any,
                         seed: Any) -> GANConfig:
    """The UI's control values -> a validated GANConfig (bad values -> gr.Error)."""
    config = GANConfig(
        dataset=str(dataset), loss=str(loss), optimizer=str(optimizer).lower(),
        lr_g=_number(lr_g, "Generator learning rate", 1e-6, 1.0),
        lr_d=_number(lr_d, "Discriminator learning rate", 1e-6, 1.0),
        d_steps=_number(d_steps, "Discriminator steps per generator step", 1, 10, integer=True),
        latent_dim=_number(latent_dim, "Latent size", 1, 64, integer=True),
        g_width=_number(g_width, "Generator width", 1, 512, integer=True),
        g_depth=_number(g_depth, "Generator depth", 0, 6, integer=True),
        d_width=_number(d_width, "Discriminator width", 1, 512, integer=True),
        d_depth=_number(d_depth, "Discriminator depth", 0, 6, integer=True),
        seed=parse_seed(seed),
    )
    with user_errors():
        config.validate()
    return config


def custom_dataset(points_text: str) -> gan2d.Dataset2D:
    """The pasted/uploaded/clicked points as a data set (bad text -> gr.Error naming the line)."""
    if not str(points_text or "").strip():
        raise gr.Error("'Your own points' is selected but there are no points yet: paste x,y lines, upload a CSV, "
                       "or click on the plane to add clusters.")
    with user_errors():
        dataset = gan2d.custom_points(gan2d.parse_points(points_text), normalize="auto")
    return dataset


def new_session(config: GANConfig, points_text: str = "") -> LabSession:
    data = custom_dataset(points_text) if config.dataset == "custom" else None
    with torch_threads(1):
        return LabSession(gan2d.Trainer(config, data))


def describe(snap: Snapshot, trainer: gan2d.Trainer) -> str:
    """The numbers under the picture, as Markdown."""
    cov = snap.coverage
    parts = [f"**step {snap.step}**", f"{snap.steps_per_second:.0f} steps/s" if snap.step else "not trained yet"]
    if len(snap.history_d):
        tail = slice(-50, None)
        parts.append(f"D loss {np.mean(snap.history_d[tail]):.3f}")
        parts.append(f"G loss {np.mean(snap.history_g[tail]):.3f}")
    lines = [" · ".join(parts)]
    lines.append(f"modes covered **{cov.modes_covered} / {cov.n_modes}** · **{100 * cov.near_fraction:.0f}%** of "
                 f"generated samples {cov.criterion} (a mode counts when ≥ {cov.min_count} of "
                 f"{trainer.EVAL_SAMPLES} samples land near it)")
    grad = float(np.linalg.norm(snap.arrow_vec, axis=1).mean()) if len(snap.arrow_vec) else 0.0
    lines.append(f"mean generator-gradient norm on the arrows' points: {grad:.3g}")
    if trainer.config.dataset == "gaussian":
        m, c = snap.fake_mean, snap.fake_cov
        lines.append(f"generated mean ({m[0]:.2f}, {m[1]:.2f}) vs real (1.00, 2.00); covariance "
                     f"[[{c[0, 0]:.2f}, {c[0, 1]:.2f}], [{c[1, 0]:.2f}, {c[1, 1]:.2f}]] vs AᵀA = [[1.01, 1.95], [1.95, 4.25]]")
    if trainer.data.note:
        lines.append(f"data: {DATASET_LABELS[trainer.config.dataset]}, {trainer.data.note}")
    return "\n\n".join(lines)


def frame(session: LabSession, status: str) -> tuple[np.ndarray, np.ndarray, str, dict, str]:
    """(plane picture, loss curves, Markdown numbers, JSON numbers, status line) of the session's current state."""
    trainer = session.trainer
    with torch_threads(1):
        snap = trainer.snapshot(HEAT_RESOLUTION)
    plane = render_plane(snap, trainer.data, trainer.config.loss)
    curves = render_curves(snap.history_step, snap.history_d, snap.history_g)
    numbers = {
        "step": snap.step,
        "loss": trainer.config.loss,
        "dataset": trainer.config.dataset,
        "loss_d": float(np.mean(snap.history_d[-50:])) if len(snap.history_d) else None,
        "loss_g": float(np.mean(snap.history_g[-50:])) if len(snap.history_g) else None,
        "modes_covered": snap.coverage.modes_covered,
        "n_modes": snap.coverage.n_modes,
        "near_fraction": snap.coverage.near_fraction,
        "per_mode": snap.coverage.per_mode,
        "generated_mean": snap.fake_mean,
        "generated_cov": snap.fake_cov,
        "steps_per_second": snap.steps_per_second,
        "status": status,
    }
    return plane, curves, describe(snap, trainer), to_jsonable(numbers, 5), status


def _empty_frame(message: str) -> tuple[np.ndarray, np.ndarray, str, dict, str]:
    plane = np.full((PLANE_SIZE, PLANE_SIZE, 3), 248, dtype=np.uint8)
    image = Image.fromarray(plane)
    ImageDraw.Draw(image).text((20, PLANE_SIZE // 2 - 10), message, fill=(80, 80, 80), font=pil_font(14))
    curves = render_curves(np.zeros(0), np.zeros(0), np.zeros(0))
    return np.asarray(image), curves, "", {"step": 0, "status": message}, message


# ----------------------------------------------------------------------------------------------
# Event handlers
# ----------------------------------------------------------------------------------------------


def _formula(loss: str) -> str:
    return f"**{LOSS_LABELS.get(loss, loss)}**\n\n{LOSS_FORMULAS.get(loss, '')}"


def on_reset(*controls: Any):
    """Build a fresh trainer from the controls (also on page load and whenever a control changes)."""
    *config_values, points_text = controls
    config = config_from_controls(*config_values)
    if config.dataset == "custom" and not str(points_text or "").strip():
        empty = _empty_frame("Click on the plane to add clusters of points, or paste/upload x,y points.")
        return (None, *empty, _formula(config.loss), gr.Timer(active=False))
    session = new_session(config, points_text)
    return (session, *frame(session, "ready: press ▶ Play (or Step)."), _formula(config.loss), gr.Timer(active=False))


def on_load():
    """Page load: the default model's first picture."""
    return on_reset(*_controls(DEFAULT), "")


def _controls(config: GANConfig) -> list[Any]:
    """A config as the UI's control values, in `config_from_controls` order."""
    return [config.dataset, config.loss, config.optimizer, config.lr_g, config.lr_d, config.d_steps,
            config.latent_dim, config.g_width, config.g_depth, config.d_width, config.d_depth, config.seed]


PRESETS: dict[str, GANConfig] = {
    "ring of 8 Gaussians, non-saturating loss (default)": DEFAULT,
    "mode collapse: strong D, minimax (saturating) loss": replace(DEFAULT, loss="minimax", **gan2d.STRONG_DISCRIMINATOR),
    "same strong D, WGAN-GP: all 8 modes": replace(DEFAULT, loss="wgan-gp", **gan2d.STRONG_DISCRIMINATOR),
    "the book: Gaussian, linear generator": GANConfig(dataset="gaussian", loss="nonsaturating", g_depth=0,
                                                      d_width=8, d_depth=2, lr_g=5e-3, lr_d=5e-2),
    "two moons, WGAN-GP": replace(DEFAULT, dataset="moons", **gan2d.DEFAULTS_BY_LOSS["wgan-gp"], loss="wgan-gp"),
    "spiral, WGAN with weight clipping": replace(DEFAULT, dataset="spiral", **gan2d.DEFAULTS_BY_LOSS["wgan"], loss="wgan"),
}
DEFAULT_PRESET = next(name for name, config in PRESETS.items() if config is DEFAULT)
"""The preset the page opens with (the picker shows it)."""


def on_preset(name: str):
    """Set every control to a preset's values (the reset that follows builds the model)."""
    if name not in PRESETS:
        raise gr.Error(f"Unknown preset {name!r}.")
    return [gr.update(value=v) for v in _controls(PRESETS[name])]


def on_play(session: LabSession | None, *controls: Any):
    if session is None:
        session, *_ = on_reset(*controls)
        if session is None:
            raise gr.Error("Add some points first (click on the plane, paste x,y lines or upload a CSV).")
    if session.trainer.step_count >= MAX_TOTAL_STEPS:
        raise gr.Error(f"This model has trained {MAX_TOTAL_STEPS} steps: press Reset for a new one.")
    session.start_run()
    return session, gr.Timer(active=True), "▶ playing…"


def on_pause(session: LabSession | None):
    if session is not None:
        session.run_started = None
    return session, gr.Timer(active=False), "paused."


def on_step(session: LabSession | None, *controls: Any):
    """Exactly one generator step (after its discriminator steps), then redraw."""
    if session is None:
        session, *_ = on_reset(*controls)
        if session is None:
            raise gr.Error("Add some points first (click on the plane, paste x,y lines or upload a CSV).")
    with torch_threads(1):
        session.trainer.advance(1)
    session.run_started = None
    return (session, *frame(session, "stepped once (paused)."), gr.Timer(active=False))


def on_tick(session: LabSession | None, steps_per_frame: Any):
    """One refresh while playing: a few steps within TICK_TRAIN_SECONDS, then the frame; stops at the run's bounds."""
    if session is None:
        return (None, gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.Timer(active=False))
    reason = session.run_limit_reached()
    if reason is None:
        steps = int(_number(steps_per_frame, "Steps per frame", 1, 200, integer=True))
        with torch_threads(1):
            session.trainer.advance(steps, max_seconds=TICK_TRAIN_SECONDS)
        reason = session.run_limit_reached()
    if reason is not None:
        session.run_started = None
        return (session, *frame(session, "Paused: " + reason), gr.Timer(active=False))
    elapsed = time.monotonic() - (session.run_started or time.monotonic())
    progress = (f"this run: {session.trainer.step_count - session.run_start_step} / {MAX_RUN_STEPS} steps, "
                f"{elapsed:.0f} / {MAX_RUN_SECONDS:.0f} s")
    plane, curves, text, numbers, _ = frame(session, "playing")
    # the status line is left alone: a tick that was already running when Pause was pressed must not
    # overwrite "paused" (Pause answers immediately, outside the queue)
    return (session, plane, curves, f"{text}\n\n_{progress}_", numbers, gr.skip(), gr.skip())


def on_loss_choice(loss: str):
    """Switch the optimiser settings to the chosen loss's recommended ones (DEFAULTS_BY_LOSS)."""
    d = gan2d.DEFAULTS_BY_LOSS.get(loss, {})
    return (gr.update(value=d.get("optimizer", "adam")), gr.update(value=d.get("lr_g", 1e-3)),
            gr.update(value=d.get("lr_d", 1e-3)), gr.update(value=d.get("d_steps", 1)))


def on_points_file(path: Any):
    """Parse an uploaded CSV into the points box (one 'x,y' per line) and select the custom data set."""
    if path is None:
        return gr.skip(), gr.skip()
    if isinstance(path, dict):
        path = path.get("path")
    with user_errors():
        points = gan2d.load_points_file(path)
    return "\n".join(f"{x:.6g},{y:.6g}" for x, y in points), "custom"


def on_plane_click(session: LabSession | None, points_text: str, dataset: str, seed: Any, evt: gr.SelectData):
    """Clicking the plane with 'your own points' selected adds a small Gaussian cluster there."""
    if dataset != "custom":
        gr.Info("Choose 'your own points' as the data set to add points by clicking the plane.")
        return gr.skip(), gr.skip()
    col, row = evt.index[0], evt.index[1]
    view = gan2d.CUSTOM_CANVAS
    if session is not None and session.trainer.config.dataset == "custom":
        view = session.trainer.data.view
    x, y = pixel_to_data(float(col), float(row), view)
    data = session.trainer.data if session is not None and session.trainer.config.dataset == "custom" else None
    if data is not None:  # the plane shows normalised coordinates; go back to the user's units
        x, y = x * data.scale + data.offset[0], y * data.scale + data.offset[1]
        sigma = CLICK_BLOB_SIGMA * data.scale
    else:
        sigma = CLICK_BLOB_SIGMA
    rng = np.random.default_rng([parse_seed(seed), int(col), int(row)])
    blob = np.array([x, y]) + sigma * rng.normal(size=(CLICK_BLOB_POINTS, 2))
    text = str(points_text or "").rstrip()
    added = "\n".join(f"{px:.4f},{py:.4f}" for px, py in blob)
    return (text + "\n" + added).lstrip("\n"), "custom"


# ----------------------------------------------------------------------------------------------
# WGAN Figure 1
# ----------------------------------------------------------------------------------------------

WGAN_THETA_RANGE = 2.0
WGAN_GRID = 64


@functools.lru_cache(maxsize=128)
def _wgan_result(theta: float, steps: int, seed: int) -> tuple[dict, np.ndarray, np.ndarray]:
    """Exact and estimated distances at theta, plus the trained critic's and discriminator's values on a grid."""
    with torch_threads(1):
        trained = wgan_distances.estimates(theta, steps=steps, seed=seed)
        result = wgan_distances.distances(theta, steps=steps, seed=seed, trained=trained)
        view = _wgan_view(theta)
        critic = gan2d.discriminator_heatmap(trained["em_gp"].net, view, WGAN_GRID, probability=False)
        disc = gan2d.discriminator_heatmap(trained["js"].net, view, WGAN_GRID, probability=True)
    return result, critic, disc


def _wgan_view(theta: float) -> tuple[float, float, float, float]:
    half = max(1.0, abs(theta) / 2 + 0.6)
    center = theta / 2
    return (center - half, center + half, 0.5 - half, 0.5 + half)


def wgan_numbers(theta: float, steps: int = wgan_distances.ESTIMATE_STEPS, seed: int = 0) -> dict:
    """Validated entry point: the JSON numbers for one theta."""
    theta = _number(theta, "theta", -wgan_distances.MAX_ABS_THETA, wgan_distances.MAX_ABS_THETA)
    steps = int(_number(steps, "Training steps", 10, 1000, integer=True))
    result, _, _ = _wgan_result(round(theta, 6), steps, parse_seed(seed))
    return to_jsonable(result, 6)


WGAN_SIZE = (1180, 330)
EM_COLOR = (31, 119, 180)
JS_COLOR = (214, 39, 40)
P0_COLOR = (18, 120, 55)
PTHETA_COLOR = FAKE_COLOR


def _marker(draw: ImageDraw.ImageDraw, x: float, y: float, shape: str, color: tuple[int, int, int],
            r: float = 6, fill: tuple[int, int, int] | None = None) -> None:
    fill = color if fill is None else fill
    if shape == "circle":
        draw.ellipse([x - r, y - r, x + r, y + r], outline=color, fill=fill, width=2)
    elif shape == "square":
        draw.rectangle([x - r, y - r, x + r, y + r], outline=color, fill=fill, width=2)
    else:  # diamond
        draw.polygon([(x, y - r - 1), (x + r + 1, y), (x, y + r + 1), (x - r - 1, y)], outline=color, fill=fill)


def render_wgan(theta: float, result: dict, critic: np.ndarray, disc: np.ndarray,
                size: tuple[int, int] = WGAN_SIZE) -> np.ndarray:
    """WGAN Figure 1 as one picture (H, W, 3) uint8: EM(theta) and JS(theta) with the current theta and the
    network estimates; the trained critic f and the discriminator D over the plane with both segments.

    The legend and the numbers are text beside the picture (`wgan_caption`), where the formulas are typeset;
    the picture only holds the curves, their ticks and the panel titles, in letters that read on a projector."""
    width, height = size
    image = Image.new("RGB", size, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font, small = pil_font(20), pil_font(17)
    # panel 1: the curves
    left, top, right, bottom = 56, 34, 520, height - 48
    y_max = max(WGAN_THETA_RANGE, abs(theta)) + 0.1
    t_lim = max(WGAN_THETA_RANGE, abs(theta))

    def px(t: float, v: float) -> tuple[float, float]:
        return (left + (t + t_lim) / (2 * t_lim) * (right - left), bottom - (v + 0.05) / (y_max + 0.05) * (bottom - top))

    draw.rectangle([left, top, right, bottom], outline=(170, 170, 170))
    for tick in np.arange(-math.floor(t_lim), math.floor(t_lim) + 1):
        x, _ = px(float(tick), 0)
        draw.line([(x, bottom), (x, bottom + 4)], fill=(90, 90, 90))
        label = f"{tick:g}"
        draw.text((x - draw.textlength(label, font=small) / 2, bottom + 6), label, fill=(60, 60, 60), font=small)
    for tick in np.arange(0, y_max, 0.5):
        _, y = px(-t_lim, float(tick))
        draw.line([(left - 4, y), (right, y)], fill=(235, 235, 235))
        draw.text((left - 40, y - 9), f"{tick:.1f}", fill=(60, 60, 60), font=small)
    theta_font = math_font(24)  # the axis is θ, in the page's math face (Pillow's own font has no Greek)
    axis = "θ" if theta_font is not None else "theta"
    draw.text(((left + right) / 2 - 6, bottom + 22), axis, fill=(40, 40, 40), font=theta_font or small)
    draw.text((left, 6), "distance between P0 and P_θ" if theta_font is None else "distance", fill=(0, 0, 0),
              font=font)
    draw.line([px(-t_lim, t_lim), px(0, 0), px(t_lim, t_lim)], fill=EM_COLOR, width=3)
    log2 = math.log(2)
    draw.line([px(-t_lim, log2), px(-0.015 * t_lim, log2)], fill=JS_COLOR, width=3)
    draw.line([px(0.015 * t_lim, log2), px(t_lim, log2)], fill=JS_COLOR, width=3)
    _marker(draw, *px(0, log2), "circle", JS_COLOR, r=5, fill=(255, 255, 255))  # the jump: open at theta = 0
    _marker(draw, *px(0, 0), "circle", JS_COLOR, r=5)
    x_theta, _ = px(theta, 0)
    for y in range(top, bottom, 8):
        draw.line([(x_theta, y), (x_theta, min(y + 4, bottom))], fill=(90, 90, 90))
    _marker(draw, *px(theta, min(result["em_estimate_gp"], y_max)), "square", EM_COLOR, r=7)
    _marker(draw, *px(theta, min(result["js_estimate"], y_max)), "diamond", JS_COLOR, r=7)
    # panels 2 and 3: what the networks learned
    view = _wgan_view(theta)
    side = bottom - top
    for k, (values, kind, title) in enumerate(((critic, "critic", "critic f (gradient penalty)"),
                                               (disc, "probability", "discriminator D(x)"))):
        x0 = 580 + k * (side + 60)
        # a gradient-penalised critic has slope about 1: scale its colours by at least 0.5 (half the window)
        heat = Image.fromarray(heat_colors(values, kind, min_scale=0.5)).resize((side, side), Image.BILINEAR)
        image.paste(heat, (x0, top))
        draw.rectangle([x0, top, x0 + side, top + side], outline=(170, 170, 170))
        segments = np.array([[0.0, 0.0], [0.0, 1.0], [theta, 0.0], [theta, 1.0]])
        pix = _to_pixels(segments, view, side) + np.array([x0, top])
        draw.line([tuple(pix[0]), tuple(pix[1])], fill=P0_COLOR, width=5)
        draw.line([tuple(pix[2]), tuple(pix[3])], fill=PTHETA_COLOR, width=5)
        draw.text((x0, 6), title, fill=(0, 0, 0), font=font)
        draw.text((x0, top + side + 8), f"x from {view[0]:.1f} to {view[1]:.1f}", fill=(60, 60, 60), font=small)
    return np.asarray(image)


def _swatch(color: tuple[int, int, int], mark: str = "━") -> str:
    return f"<span style='color:#{color[0]:02x}{color[1]:02x}{color[2]:02x}'>{mark}</span>"


def wgan_caption(theta: float, result: dict) -> str:
    """The figure's legend and its numbers at `theta`, as Markdown with KaTeX formulas."""
    return (
        f"At $\\theta = {theta:.2f}$: EM $= {result['em']:.3f}$ (critic {result['em_estimate_gp']:.3f}), "
        f"JS $= {result['js']:.3f}$ (discriminator {result['js_estimate']:.3f}).  \n"
        f"{_swatch(EM_COLOR)} EM $= |\\theta|$ · {_swatch(JS_COLOR)} JS $= \\log 2$ if $\\theta \\neq 0$, "
        f"$0$ at $\\theta = 0$ (open circle: the jump) · {_swatch(EM_COLOR, '■')} critic estimate (gradient penalty) · "
        f"{_swatch(JS_COLOR, '◆')} discriminator estimate · dashed: the current $\\theta$.  \n"
        f"Right: {_swatch(P0_COLOR)} $P_0 = (0, Z)$ and {_swatch(PTHETA_COLOR)} $P_\\theta = (\\theta, Z)$; "
        "the background is what each network says: green $P_0$, purple $P_\\theta$."
    )


def wgan_picture(theta: float, steps: int, seed: int) -> np.ndarray:
    result, critic, disc = _wgan_result(round(theta, 6), steps, seed)
    return render_wgan(theta, result, critic, disc)


def on_wgan(theta: Any, steps: Any, seed: Any):
    """(figure, its caption, the numbers) at `theta`."""
    numbers = wgan_numbers(theta, steps, seed)
    result, critic, disc = _wgan_result(round(numbers["theta"], 6), int(numbers["steps"]), parse_seed(seed))
    return (render_wgan(numbers["theta"], result, critic, disc), wgan_caption(numbers["theta"], result), numbers)


# ----------------------------------------------------------------------------------------------
# API-only endpoints
# ----------------------------------------------------------------------------------------------


def api_wgan_distances(theta: float) -> dict:
    """WGAN Figure 1 at one theta: exact `em` = |theta| and `js` (log 2 if theta != 0 else 0, natural log), `tv`,
    and network estimates `em_estimate_gp`, `em_estimate_clip` (proportional to EM only), `js_estimate`."""
    return wgan_numbers(theta)


def api_gan_lab_train(config_json: str, steps: int) -> dict:
    """Train a fresh GAN for `steps` generator steps (at most 5000 and 60 s) from a JSON config (the fields of
    core.models.gan2d.GANConfig, e.g. {"dataset": "ring", "loss": "wgan-gp", "d_steps": 5, "seed": 0}; for
    "dataset": "custom" add "points": [[x, y], ...]) and return the final metrics."""
    try:
        values = json.loads(config_json or "{}")
    except json.JSONDecodeError as error:
        raise gr.Error(f"config_json is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno}).") from None
    if not isinstance(values, dict):
        raise gr.Error("config_json must be a JSON object such as {\"dataset\": \"ring\", \"loss\": \"wgan-gp\"}.")
    points = values.pop("points", None)
    steps = int(_number(steps, "steps", 0, MAX_API_STEPS, integer=True))
    with user_errors():
        config = GANConfig.from_dict(values)
        data = None
        if config.dataset == "custom":
            if points is None:
                raise ValueError("dataset 'custom' needs \"points\": [[x, y], ...] in config_json.")
            data = gan2d.custom_points(np.asarray(points, dtype=np.float64), normalize="auto")
    with torch_threads(1):
        trainer = gan2d.Trainer(config, data)
        start = time.perf_counter()
        while trainer.step_count < steps and time.perf_counter() - start < MAX_API_SECONDS:
            trainer.advance(min(100, steps - trainer.step_count))
        metrics = trainer.metrics()
    metrics["seconds"] = time.perf_counter() - start
    metrics["config"] = config.to_dict()
    return to_jsonable(metrics, 6)


# ----------------------------------------------------------------------------------------------
# The tab
# ----------------------------------------------------------------------------------------------

INTRO = r"""
$G$ maps noise $z\sim\mathcal N(0, I)$ to points, $D$ tells real points from generated ones:
$\min_G \max_D\; \mathbb{E}_{x}\log D(x) + \mathbb{E}_{z}\log\bigl(1 - D(G(z))\bigr)$.
WGAN ([Arjovsky et al. 2017](https://arxiv.org/abs/1701.07875)) replaces this Jensen–Shannon game by the
earth-mover distance: see its Figure 1 in the second sub-tab.
"""

LEGEND = (
    "Background: what D (or the critic) says about each place — green *real*, purple *generated*. "
    "Green dots: data · purple dots: G(z) · arrows: where the generator's loss pushes each generated point "
    "(length = gradient size for the cross-entropy losses) · circles: 3σ around each mode, green when covered, "
    "red when missed."
)


def build() -> None:
    header("GAN lab: train a GAN live, see why WGAN changed the loss", INTRO,
           book_link("gan.html", "20.1 Generative Adversarial Networks", chapter=D2L_GAN))
    with gr.Tabs():
        with gr.Tab("Train live"):
            _build_live()
        with gr.Tab("WGAN Figure 1: EM vs JS"):
            _build_wgan()
    gr.api(api_wgan_distances, api_name="wgan_distances", concurrency_limit=2)
    gr.api(api_gan_lab_train, api_name="gan_lab_train", concurrency_limit=1)


def _build_live() -> None:
    session = gr.State(None, time_to_live=STATE_TTL_SECONDS)
    timer = gr.Timer(TICK_SECONDS, active=False)
    with gr.Row():
        with gr.Column(scale=3, min_width=260):
            preset = gr.Dropdown(list(PRESETS), value=DEFAULT_PRESET, label="Presets (set every control)",
                                 elem_id="gan-preset")
            dataset = gr.Dropdown([(label, key) for key, label in DATASET_LABELS.items()], value=DEFAULT.dataset,
                                  label="Data", elem_id="gan-dataset")
            loss = gr.Radio([(label, key) for key, label in LOSS_LABELS.items()], value=DEFAULT.loss, label="Loss")
            # one under the other: beside the optimizer the slider's label was a four-line column
            optimizer = gr.Dropdown([("Adam", "adam"), ("RMSprop", "rmsprop"), ("SGD", "sgd")],
                                    value=DEFAULT.optimizer, label="Optimizer")
            d_steps = gr.Slider(1, 10, value=DEFAULT.d_steps, step=1, label="D steps per G step",
                                elem_id="gan-d-steps")
            with gr.Row():
                lr_g = gr.Number(DEFAULT.lr_g, label="G learning rate", min_width=90)
                lr_d = gr.Number(DEFAULT.lr_d, label="D learning rate", min_width=90)
            with gr.Accordion("Networks and seed", open=False):
                latent_dim = gr.Slider(1, 16, value=DEFAULT.latent_dim, step=1, label="Latent size (z)")
                with gr.Row():
                    g_width = gr.Slider(4, 256, value=DEFAULT.g_width, step=4, label="G width")
                    g_depth = gr.Slider(0, 4, value=DEFAULT.g_depth, step=1, label="G hidden layers")
                with gr.Row():
                    d_width = gr.Slider(4, 256, value=DEFAULT.d_width, step=4, label="D width")
                    d_depth = gr.Slider(0, 4, value=DEFAULT.d_depth, step=1, label="D hidden layers")
                seed = gr.Number(DEFAULT.seed, precision=0, label="Seed")
            with gr.Accordion("Your own points", open=False):
                gr.Markdown("Choose **your own points** above, then click on the plane (each click adds a small "
                            "cluster), paste `x,y` lines, or upload a CSV.")
                points_text = gr.Textbox(label="x,y per line", lines=4, max_lines=8, placeholder="0.5, 1.2\n-1, 0.3",
                                         elem_id="gan-points")
                with gr.Row():
                    use_points = gr.Button("Use these points", size="sm", elem_id="gan-use-points")
                    clear_points = gr.Button("Clear", size="sm")
                points_file = gr.File(label="CSV of x,y", file_types=[".csv", ".txt"], type="filepath", height=70)
        with gr.Column(scale=4, min_width=PLANE_SIZE):
            with gr.Row():
                play = gr.Button("▶ Play", variant="primary", min_width=70, elem_id="gan-play")
                pause = gr.Button("Pause", min_width=70, elem_id="gan-pause")
                step = gr.Button("Step", min_width=70, elem_id="gan-step")
                reset = gr.Button("Reset", min_width=70, elem_id="gan-reset")
            plane = gr.Image(label="data, generated points, D(x), generator gradients", type="numpy",
                             interactive=False, format="png", height=PLANE_SIZE + 10, show_label=False,
                             elem_id="gan-plane")
            gr.Markdown(LEGEND, elem_classes=["gan-legend"])
            curves = gr.Image(type="numpy", interactive=False, format="png", show_label=False,
                              height=CURVES_SIZE[1] + 10, elem_id="gan-curves")
        with gr.Column(scale=3, min_width=260):
            formula = gr.Markdown(_formula(DEFAULT.loss), latex_delimiters=LATEX)
            status = gr.Markdown("", elem_id="gan-status")
            speed = gr.Slider(1, 100, value=20, step=1, label="Steps per frame (1 = slow motion)")
            numbers_md = gr.Markdown("", latex_delimiters=LATEX, elem_id="gan-numbers")
            with gr.Accordion("Numbers (JSON)", open=False):
                numbers = gr.JSON(label="metrics")

    config_inputs = [dataset, loss, optimizer, lr_g, lr_d, d_steps, latent_dim, g_width, g_depth, d_width, d_depth,
                     seed, points_text]
    frame_outputs = [plane, curves, numbers_md, numbers, status]
    reset_outputs = [session, *frame_outputs, formula, timer]

    reset_event = dict(fn=on_reset, inputs=config_inputs, outputs=reset_outputs, concurrency_limit=2,
                       show_progress="minimal")
    gr.on(None, on_load, inputs=None, outputs=reset_outputs, api_visibility="private")  # page load only
    preset.input(on_preset, inputs=preset, outputs=config_inputs[:-1], api_visibility="private",
                 queue=False).then(api_visibility="private", **reset_event)
    reset.click(api_name="gan_lab_reset", **reset_event)
    gr.on([dataset.input, optimizer.input, lr_g.submit, lr_d.submit, d_steps.release, latent_dim.release,
           g_width.release, g_depth.release, d_width.release, d_depth.release, seed.submit, use_points.click],
          api_visibility="private", **reset_event)
    loss.input(on_loss_choice, inputs=loss, outputs=[optimizer, lr_g, lr_d, d_steps], api_visibility="private",
               queue=False).then(api_visibility="private", **reset_event)
    points_file.upload(on_points_file, inputs=points_file, outputs=[points_text, dataset],
                       api_visibility="private").success(api_visibility="private", **reset_event)
    clear_points.click(lambda: "", outputs=points_text, api_visibility="private", queue=False)
    plane.select(on_plane_click, inputs=[session, points_text, dataset, seed], outputs=[points_text, dataset],
                 api_visibility="private").success(api_visibility="private", **reset_event)

    play.click(on_play, inputs=[session, *config_inputs], outputs=[session, timer, status],
               api_visibility="private", concurrency_limit=2)
    pause.click(on_pause, inputs=session, outputs=[session, timer, status], api_visibility="private", queue=False)
    step.click(on_step, inputs=[session, *config_inputs], outputs=[session, *frame_outputs, timer],
               api_name="gan_lab_step", concurrency_limit=2, show_progress="minimal")
    timer.tick(on_tick, inputs=[session, speed], outputs=[session, *frame_outputs, timer], api_visibility="private",
               concurrency_limit=2, concurrency_id="gan_lab_tick")


WGAN_TEXT = (
    r"WGAN's Example 1: $P_0 = (0, Z)$ and $P_\theta = (\theta, Z)$ with $Z \sim U[0, 1]$, two parallel segments. "
    r"The earth-mover distance $W(P_0, P_\theta) = |\theta|$ shrinks smoothly as $\theta \to 0$, so it gives a "
    r"gradient; the Jensen–Shannon divergence is $\log 2$ for every $\theta \neq 0$ and $0$ at $\theta = 0$ (the "
    r"supports are disjoint), so it gives none. The estimates come from networks trained on samples at the "
    r"current $\theta$: a critic for $\sup_{\|f\|_L \le 1} \mathbb{E}_{P_0} f - \mathbb{E}_{P_\theta} f$ "
    r"(Kantorovich–Rubinstein, gradient penalty) and a discriminator for "
    r"$\mathrm{JS} = \max_D \tfrac12(\mathbb{E}_{P_0}\log D + \mathbb{E}_{P_\theta}\log(1-D)) + \log 2$. "
    r"A weight-clipped critic gives EM times an unknown constant (`em_estimate_clip_raw`); divided by its measured "
    r"gradient norm between the segments it gives `em_estimate_clip`."
)


def _build_wgan() -> None:
    with gr.Row():
        theta = gr.Slider(-WGAN_THETA_RANGE, WGAN_THETA_RANGE, value=0.5, step=0.01, label="θ", scale=3,
                          elem_id="wgan-theta")
        steps = gr.Slider(20, 400, value=wgan_distances.ESTIMATE_STEPS, step=10,
                          label="training steps per network", scale=2)
        seed = gr.Number(0, precision=0, label="Seed", scale=1, min_width=80)
    plot = gr.Image(type="numpy", interactive=False, format="png", show_label=False, elem_id="wgan-plot",
                    height=WGAN_SIZE[1] + 10)
    caption = gr.Markdown(latex_delimiters=LATEX, elem_id="wgan-caption")
    gr.Markdown(WGAN_TEXT, latex_delimiters=LATEX)
    numbers = gr.JSON(label="exact and estimated distances", elem_id="wgan-numbers")
    event = dict(fn=on_wgan, inputs=[theta, steps, seed], outputs=[plot, caption, numbers], concurrency_limit=2,
                 show_progress="minimal", api_visibility="private", trigger_mode="always_last")
    gr.on(None, lambda: on_wgan(0.5, wgan_distances.ESTIMATE_STEPS, 0), inputs=None,
          outputs=[plot, caption, numbers], api_visibility="private")  # page load only (cached after the first)
    gr.on([theta.change, steps.release, seed.submit], **event)
