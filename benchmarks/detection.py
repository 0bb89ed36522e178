"""Detector latency on a 320x320 image, measured side by side with torchvision's small detectors in one run,
and the ``/detect`` endpoint end to end.

    python -m benchmarks.detection [--repeats 20] [--no-endpoint] [--faster-rcnn]

Targets (issue 5, 2 CPU cores):
  * our SSD (`core.models.ssd.detect`: resize to 256, forward, decode, NMS) vs torchvision's
    ``ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None)`` (its own transform, forward and
    postprocess): ratio <= 1.0;
  * our Faster R-CNN (`core.models.faster_rcnn.detect`) vs ``fasterrcnn_mobilenet_v3_large_320_fpn(weights=None,
    weights_backbone=None)``: ratio <= 1.0 (untrained weights when ours are not embedded yet: the latency of a
    two-stage detector barely depends on them, its RPN keeps a fixed number of proposals);
  * ``/detect`` through gradio_client on a 320x320 scene: < 300 ms (median).
After warm-up each competitor runs once per round, back to back; a ratio is the median of the per-round ratios
(both sides ran under the same load), a time the median of the rounds. Random weights need no download.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as app.py: idle OpenMP threads sleep on the shared cores

import argparse
import statistics
import tempfile

import numpy as np
import torch

from benchmarks.timing import timed

THREADS = 2
SIDE = 320


def ratio_row(name: str, t: dict[str, list[float]], ours: str, theirs: str, limit: float) -> tuple[str, str, str, bool]:
    ratio = statistics.median(a / b for a, b in zip(t[ours], t[theirs]))
    text = (f"ours {statistics.median(t[ours]) * 1e3:.1f} ms / torchvision {statistics.median(t[theirs]) * 1e3:.1f} ms:"
            f" {ratio:.2f}x [min {min(t[ours]) / min(t[theirs]):.2f}x]")
    return name, text, f"<= {limit}x", ratio <= limit


def scene_image(seed: int = 2_000_000) -> np.ndarray:
    from core.data.scenes import make_scene

    return make_scene(seed, size=(SIDE, SIDE)).image


def bench_ssd(image: np.ndarray, repeats: int) -> list[tuple]:
    from torchvision.models.detection import ssdlite320_mobilenet_v3_large

    from core.models.ssd import SSD, detect
    from core.weights.registry import load_model

    try:
        ours = load_model("ssd")
        note = ""
    except Exception as error:  # not trained yet: an untrained model has the same latency
        ours, note = SSD().eval(), f" (untrained: {type(error).__name__})"
    theirs = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None).eval()
    tensor = torch.from_numpy(image).permute(2, 0, 1).float() / 255.0  # (3, 320, 320)

    def run_theirs():
        with torch.inference_mode():
            theirs([tensor])

    t = timed({"ours": lambda: detect(ours, image, 0.3, 0.5), "tv": run_theirs}, repeats)
    return [ratio_row(f"SSD vs ssdlite320_mobilenet_v3_large{note}", t, "ours", "tv", 1.0)]


def bench_faster_rcnn(image: np.ndarray, repeats: int) -> list[tuple]:
    from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_320_fpn

    from core.models import faster_rcnn
    from core.weights.registry import load_model

    try:
        ours = load_model("faster_rcnn")
        note = ""
    except Exception as error:
        ours, note = faster_rcnn.build_faster_rcnn().eval(), f" (untrained: {type(error).__name__})"
    theirs = fasterrcnn_mobilenet_v3_large_320_fpn(weights=None, weights_backbone=None).eval()
    tensor = torch.from_numpy(image).permute(2, 0, 1).float() / 255.0

    def run_theirs():
        with torch.inference_mode():
            theirs([tensor])

    t = timed({"ours": lambda: faster_rcnn.detect(ours, image, 0.3, 0.5), "tv": run_theirs}, repeats)
    return [ratio_row(f"Faster R-CNN vs fasterrcnn_mobilenet_v3_large_320_fpn{note}", t, "ours", "tv", 1.0)]


def bench_endpoint(image: np.ndarray, repeats: int) -> list[tuple]:
    """/detect through gradio_client on the app restricted to the detection tab (in this process)."""
    os.environ.setdefault("LAB_TABS", "demos.nms,demos.detection")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gradio_client import Client, handle_file
    from PIL import Image

    import app

    demo, url = app.launch_in_background()  # as served: one torch thread per request
    torch.set_num_threads(THREADS)  # this thread's setting, for the measurements that follow
    try:
        with tempfile.TemporaryDirectory() as folder:
            client = Client(url, verbose=False, download_files=folder)
            path = os.path.join(folder, "scene.png")
            Image.fromarray(image).save(path)
            t = timed({"detect": lambda: client.predict(handle_file(path), "ssd", 0.4, 0.5, api_name="/detect")},
                      repeats, warmup=3)
    finally:
        demo.close()
    median = statistics.median(t["detect"]) * 1e3
    return [("/detect end to end, 320x320 scene (ssd)", f"{median:.0f} ms [min {min(t['detect']) * 1e3:.0f} ms]",
             "< 300 ms", median < 300)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--no-endpoint", action="store_true", help="skip the /detect measurement")
    parser.add_argument("--faster-rcnn", action="store_true",
                        help="also compare our Faster R-CNN (benchmarks.faster_rcnn is its own benchmark)")
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    image = scene_image()
    rows = bench_ssd(image, args.repeats)
    if args.faster_rcnn:
        rows += bench_faster_rcnn(image, args.repeats)
    if not args.no_endpoint:
        torch.set_num_threads(int(os.environ.get("LAB_TORCH_THREADS", "1")))  # as the app serves
        rows += bench_endpoint(image, args.repeats)
    print(f"detection benchmark: {SIDE}x{SIDE} scene, torch threads {THREADS}, load average "
          f"{os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
    width = max(len(r[0]) for r in rows)
    for name, measured, target, ok in rows:
        print(f"{name:<{width}}  {measured}  target {target}  {'OK' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
