"""GAN lab speed: training steps per second and refreshed pictures per second on 2 CPU cores.

Measured side by side in one run:
- training: `core.models.gan2d.Trainer.advance` (batch 256, 2x64 MLPs) for every loss, with 1 intra-op thread (what the
  tab uses per request) and with 2 (the app's global setting); the peer is a book-style loop (separate real and
  fake forward passes, `nn.BCEWithLogitsLoss` against label tensors, default Adam) on the same networks and data;
- refreshing: one frame of the live view (snapshot: 1000 generated points, the 64x64 discriminator heatmap, 60
  gradient arrows, coverage; numpy/Pillow drawing; PNG encoding of both pictures as Gradio does) alone, and a whole
  timer tick (20 training steps + the frame) as `demos.gan_lab.on_tick` runs it.
Targets: >= 200 training steps/s and >= 4 refreshes/s.

On a shared machine wall time includes waiting for a core; CPU time (time.process_time) is what the work costs.
Both are printed.

    python -m benchmarks.gan_lab
"""

from __future__ import annotations

import io
import os
from dataclasses import replace

import torch
from PIL import Image
from torch import nn

from benchmarks.timing import median_seconds
from core.models import gan2d
from core.models.gan2d import GANConfig, Trainer

TARGET_STEPS_PER_SECOND = 200.0
TARGET_REFRESHES_PER_SECOND = 4.0
STEPS = 300


def book_style_step(trainer: Trainer, loss_fn: nn.Module, opt_g: torch.optim.Optimizer,
                    opt_d: torch.optim.Optimizer, gen: torch.Generator) -> None:
    """One non-saturating GAN step written the way the book's `update_D`/`update_G` are: two D forward passes,
    BCE against ones/zeros label tensors, a fresh G forward for the generator update."""
    batch = trainer.config.batch_size
    real = trainer._real[torch.randint(0, len(trainer._real), (batch,), generator=gen)]
    z = torch.randn(batch, trainer.config.latent_dim, generator=gen)
    ones, zeros = torch.ones(batch, 1), torch.zeros(batch, 1)
    opt_d.zero_grad()
    fake = trainer.G(z)
    loss_d = (loss_fn(trainer.D(real), ones) + loss_fn(trainer.D(fake.detach()), zeros)) / 2
    loss_d.backward()
    opt_d.step()
    opt_g.zero_grad()
    fake = trainer.G(z)
    loss_g = loss_fn(trainer.D(fake), ones)
    loss_g.backward()
    opt_g.step()


def training_rates(threads: int, losses: tuple[str, ...] = gan2d.LOSSES,
                   steps: int = STEPS, repeats: int = 3) -> list[tuple[str, float, float]]:
    torch.set_num_threads(threads)
    rows = []
    for loss in losses:
        for d_steps in sorted({1, gan2d.DEFAULTS_BY_LOSS[loss]["d_steps"]}):
            config = replace(gan2d.with_loss_defaults(GANConfig(dataset="ring"), loss), d_steps=d_steps)
            trainer = Trainer(config)
            wall, cpu = median_seconds(lambda: trainer.advance(steps), repeats=repeats)
            rows.append((f"{loss}, {d_steps} D step{'s' if d_steps > 1 else ''}", steps / wall, steps / cpu))
    trainer = Trainer(GANConfig(dataset="ring"))
    opt_g = torch.optim.Adam(trainer.G.parameters(), lr=1e-3)
    opt_d = torch.optim.Adam(trainer.D.parameters(), lr=1e-3)
    gen, loss_fn = torch.Generator().manual_seed(0), nn.BCEWithLogitsLoss()

    def book_loop() -> None:
        for _ in range(steps):
            book_style_step(trainer, loss_fn, opt_g, opt_d, gen)

    wall, cpu = median_seconds(book_loop, repeats=repeats)
    rows.append(("peer: book-style loop (non-saturating, 1 D step)", steps / wall, steps / cpu))
    return rows


def _png(array) -> int:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="png")
    return buffer.tell()


def refresh_rates() -> list[tuple[str, float, float]]:
    from demos import gan_lab

    torch.set_num_threads(2)  # the app's global setting; the handlers switch to 1 thread themselves
    session = gan_lab.new_session(gan_lab.DEFAULT)
    session.trainer.advance(200)

    def one_frame() -> None:
        plane, curves, *_ = gan_lab.frame(session, "benchmark")
        _png(plane), _png(curves)

    def one_tick() -> None:
        session.start_run()
        _, plane, curves, *_ = gan_lab.on_tick(session, 20)
        _png(plane), _png(curves)

    rows = []
    wall, cpu = median_seconds(one_frame, repeats=10)
    rows.append(("frame only (snapshot + drawing + 2 PNGs)", 1 / wall, 1 / cpu))
    wall, cpu = median_seconds(one_tick, repeats=10)
    rows.append(("timer tick: 20 training steps + frame", 1 / wall, 1 / cpu))
    session = gan_lab.new_session(replace(gan_lab.DEFAULT, loss="wgan-gp", d_steps=5))
    session.trainer.advance(50)
    wall, cpu = median_seconds(one_tick, repeats=10)
    rows.append(("timer tick, WGAN-GP with 5 critic steps", 1 / wall, 1 / cpu))
    return rows


def _verdict(wall_rate: float, cpu_rate: float, target: float) -> str:
    def word(rate: float) -> str:
        return "ok" if rate >= target else "BELOW"
    return f"wall {word(wall_rate)}, CPU {word(cpu_rate)}"


def main() -> None:
    print(f"torch {torch.__version__}, {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} "
          f"(above 2 the cores are shared: trust the per-CPU-second column); batch 256, 2x64 MLPs, "
          f"{STEPS} steps per measurement")
    print("\nTraining: generator steps per second (each includes its D steps)   target >= "
          f"{TARGET_STEPS_PER_SECOND:.0f}/s; 'vs peer' compares CPU time")
    # 2 threads: one short measurement (on an oversubscribed machine OpenMP's thread teams wait for each other)
    for threads, losses, steps, repeats in ((1, gan2d.LOSSES, STEPS, 3), (2, ("nonsaturating",), 60, 1)):
        print(f"  {threads} intra-op thread{'s' if threads > 1 else ''}"
              f"{' (what the tab uses per request)' if threads == 1 else ' (the app-wide setting)'}:")
        rows = training_rates(threads, losses, steps, repeats)
        peer = rows[-1][2]
        for name, wall_rate, cpu_rate in rows:
            ok = _verdict(wall_rate, cpu_rate, TARGET_STEPS_PER_SECOND)
            print(f"    {name:<52} {wall_rate:7.0f}/s wall  {cpu_rate:7.0f}/s per CPU-second  "
                  f"x{cpu_rate / peer:.2f} vs peer  [{ok}]")
    print(f"\nRefreshing the live view   target >= {TARGET_REFRESHES_PER_SECOND:.0f}/s (the timer asks for 5/s)")
    for name, wall_rate, cpu_rate in refresh_rates():
        ok = _verdict(wall_rate, cpu_rate, TARGET_REFRESHES_PER_SECOND)
        print(f"    {name:<52} {wall_rate:7.1f}/s wall  {cpu_rate:7.1f}/s per CPU-second  [{ok}]")


if __name__ == "__main__":
    main()
