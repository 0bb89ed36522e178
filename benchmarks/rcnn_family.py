"""R-CNN, Fast R-CNN and Faster R-CNN: seconds per stage on the same test scenes, and the lecture's claim measured.

    python -m benchmarks.rcnn_family [--scenes 5] [--threads 1]

Part 1 prints, for each model, the median seconds of its stages (proposals, features, classify, nms) over the first
`--scenes` test scenes (each model times its own selective search or RPN), the number of proposals and of CNN
forward passes, and each stage's ratio to Faster R-CNN's total measured in the same run.

Part 2 is the claim of the lecture (d2l.ai 14.8): R-CNN's features stage (one CNN pass per warped region) grows
with the number of proposals n, Fast R-CNN's (one pass over the image) does not. On the scene with the most
proposals, both classify the best-ranked n proposals for n in `COUNTS`; the table gives the median features-stage
seconds (wall), the CPU seconds of the whole call (this process, all threads), R-CNN's features over Fast R-CNN's,
and a least-squares slope per extra proposal. The machine is shared: CPU seconds are what the work itself costs.
"""

from __future__ import annotations

import argparse
import os
import statistics

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

COUNTS: tuple[int, ...] = (25, 50, 100, 200, 400, 800, 1600)
STAGES: tuple[str, ...] = ("proposals", "features", "classify", "nms")


def main(argv: list[str] | None = None) -> int:
    import time

    from core.data.scenes import make_scene, split_seeds
    from core.models import rcnn_family
    from core.models.fast_rcnn import detect_timed as fast_detect_timed
    from core.models.rcnn import detect_timed as rcnn_detect_timed, prepare, proposals_for
    from core.weights.registry import load_model

    parser = argparse.ArgumentParser(prog="python -m benchmarks.rcnn_family")
    parser.add_argument("--scenes", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="runs per n in part 2")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the app serves with 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    models = {name: load_model(name) for name in rcnn_family.FAMILY}
    scenes = [make_scene(seed) for seed in split_seeds("test", args.scenes)]
    for name, model in models.items():  # warm-up: oneDNN builds its kernels on the first calls
        rcnn_family.detect_timed(name, model, scenes[0].image, 0.5, max_proposals=50)

    print(f"Part 1: median seconds per stage over {len(scenes)} test scenes ({args.threads} thread(s))")
    seconds: dict[str, dict[str, list[float]]] = {n: {s: [] for s in STAGES} for n in models}
    counts: dict[str, list[tuple[int, int]]] = {n: [] for n in models}
    for scene in scenes:
        for name, model in models.items():
            timed = rcnn_family.detect_timed(name, model, scene.image, 0.5)
            for stage in STAGES:
                seconds[name][stage].append(timed.seconds[stage])
            counts[name].append((timed.num_proposals, timed.cnn_forward_passes))
    medians = {n: {s: statistics.median(v) for s, v in seconds[n].items()} for n in models}
    reference = sum(medians["faster_rcnn"].values())
    header = f"{'model':13s} {'proposals':>9s} {'CNN passes':>10s} " + " ".join(f"{s:>10s}" for s in STAGES)
    print(header + f" {'total':>8s} {'x Faster':>8s}")
    for name in models:
        proposals = statistics.median(p for p, _ in counts[name])
        passes = statistics.median(c for _, c in counts[name])
        total = sum(medians[name].values())
        print(f"{rcnn_family.TITLES[name]:13s} {proposals:9.0f} {passes:10.0f} "
              + " ".join(f"{medians[name][s]:10.4f}" for s in STAGES) + f" {total:8.3f} {total / reference:8.1f}")

    print("\nPart 2: the features stage vs the number of proposals n (one scene; proposals precomputed)")
    most = max(range(len(scenes)), key=lambda i: counts["rcnn"][i][0])
    image = scenes[most].image  # the scene with the most proposals: the widest range of n
    prepared, _ = prepare(image)
    started = time.perf_counter()
    boxes = proposals_for(prepared)
    print(f"selective search: {len(boxes)} proposals in {time.perf_counter() - started:.2f} s (not part of the table)")
    print(f"{'n':>6s} {'R-CNN s':>9s} {'R-CNN cpu':>9s} {'Fast s':>9s} {'Fast cpu':>9s} {'R-CNN/Fast':>10s} "
          f"{'R-CNN s per 100':>15s}")
    rows = []
    for n in COUNTS:
        if n > len(boxes):
            break
        wall = {"rcnn": [], "fast_rcnn": []}
        cpu = {"rcnn": [], "fast_rcnn": []}
        for _ in range(args.repeats):
            for name in ("rcnn", "fast_rcnn"):
                run = rcnn_detect_timed if name == "rcnn" else fast_detect_timed
                before = time.process_time()
                timed = run(models[name], image, 0.5, None, boxes, n)
                cpu[name].append(time.process_time() - before)  # the whole call: dominated by features for R-CNN
                wall[name].append(timed.seconds["features"])
        r, f = statistics.median(wall["rcnn"]), statistics.median(wall["fast_rcnn"])
        rows.append((n, r, f))
        print(f"{n:6d} {r:9.4f} {statistics.median(cpu['rcnn']):9.4f} {f:9.4f} {statistics.median(cpu['fast_rcnn']):9.4f} "
              f"{r / f:10.1f} {100 * r / n:15.4f}")
    if len(rows) >= 2:
        ns = np.array([row[0] for row in rows], float)
        slope_r = np.polyfit(ns, [row[1] for row in rows], 1)[0]
        slope_f = np.polyfit(ns, [row[2] for row in rows], 1)[0]
        print(f"least-squares slope of the features seconds per extra proposal: R-CNN {slope_r * 1000:.3f} ms, "
              f"Fast R-CNN {slope_f * 1000:.4f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
