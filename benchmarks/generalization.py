"""Augmentation's effect, measured over seeds: held-out accuracy with and without the default pipeline, from scratch
and fine-tuned, and the wall time of every run (the "Augmentation's effect" sub-tab's configuration, one torch
thread per run as the app trains).

Claims (issue 16): from scratch, the default pipeline beats no augmentation by at least 5 points of held-out
accuracy on every seed; each run takes at most 60 s on 2 cores. The peer for the time is the same run without
augmentation: the ratio is what augmenting every image in every epoch costs.

    python -m benchmarks.generalization                 # seeds 0-9, both starts
    python -m benchmarks.generalization --seeds 10-14 --starts scratch
"""

from __future__ import annotations

import argparse
import os
import time

import torch

MIN_GAIN_POINTS = 5.0
MAX_RUN_SECONDS = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-9", help="a range such as 0-9")
    parser.add_argument("--starts", default="scratch,pretrained")
    args = parser.parse_args()
    first, last = (int(s) for s in args.seeds.split("-"))
    starts = [s.strip() for s in args.starts.split(",") if s.strip()]

    from core.models import finetune as ft
    from core.training import generalization as gen

    torch.set_num_threads(1)
    source = ft.load_source()
    config = gen.GeneralizationConfig()
    print(f"{config.examples_per_class} labelled digits per class, {config.epochs} epochs, lr {config.lr:g}, "
          f"batch {config.batch_size}; 500 held-out digits; 1 torch thread per run; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    gains: dict[str, list[float]] = {start: [] for start in starts}
    walls: list[float] = []
    ratios: list[float] = []
    for start in starts:
        print(f"\n{start}: held-out accuracy (%) without / with the default pipeline, gain (points), "
              "final gap (points) without / with, wall (CPU) seconds without / with")
        for seed in range(first, last + 1):
            run_config = gen.GeneralizationConfig(start=start, seed=seed)
            runs = {}
            for augmentation in ("none", "default"):
                cpu = time.process_time()
                state = gen.run(run_config, augmentation, *source)
                runs[augmentation] = (state, time.process_time() - cpu)
            (without, cpu_without), (with_, cpu_with) = runs["none"], runs["default"]
            gain = 100 * (with_.test_accuracy[-1] - without.test_accuracy[-1])
            gains[start].append(gain)
            walls += [without.seconds, with_.seconds]
            ratios.append(with_.seconds / without.seconds)
            print(f"  seed {seed:2d}: {100 * without.test_accuracy[-1]:5.1f} / {100 * with_.test_accuracy[-1]:5.1f}"
                  f"  gain {gain:+5.1f}   gap {100 * without.gap[-1]:4.1f} / {100 * with_.gap[-1]:4.1f}"
                  f"   {without.seconds:5.1f} ({cpu_without:4.1f}) / {with_.seconds:5.1f} ({cpu_with:4.1f}) s",
                  flush=True)
        values = gains[start]
        print(f"  {start}: minimum gain {min(values):+.1f} points, mean {sum(values) / len(values):+.1f}")
    print(f"\nrun time: median {sorted(walls)[len(walls) // 2]:.1f} s, maximum {max(walls):.1f} s "
          f"(target <= {MAX_RUN_SECONDS:.0f} s); with / without augmentation: "
          f"{sorted(ratios)[len(ratios) // 2]:.2f}x (median)")
    if "scratch" in gains:
        minimum = min(gains["scratch"])
        verdict = "holds" if minimum >= MIN_GAIN_POINTS else "DOES NOT HOLD"
        print(f"from scratch, minimum gain over seeds {first}-{last}: {minimum:+.1f} points "
              f"(claim: >= {MIN_GAIN_POINTS:g}): {verdict}")


if __name__ == "__main__":
    main()
