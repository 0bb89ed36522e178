"""Latency of our FCN against torchvision's LR-ASPP MobileNetV3-Large, side by side in one run, and ``/segment``.

    python -m benchmarks.segmentation [--repeats 20] [--requests 15] [--no-endpoint]

Targets (issue 6, on 2 CPU cores): our FCN's forward pass on a 320x320 image at most 1.5x the time of
``torchvision.models.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None)`` (random
weights, nothing downloaded); ``/segment`` end to end (gradio_client upload of a 320x320 scene, PNG class map
downloaded) under 300 ms. After warm-up both models run once per round, back to back, for ``repeats`` rounds;
the ratio is the median of the per-round ratios (both sides ran under the same load).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch

THREADS = 2
SIDE = 320
RATIO_TARGET = 1.5
ENDPOINT_TARGET_MS = 300.0


def _ms(fn) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def models():
    """(ours, peer): our trained FCN (untrained when weights/fcn.* is missing: the same latency) and LR-ASPP."""
    from torchvision.models.segmentation import lraspp_mobilenet_v3_large

    from core.models.fcn import NUM_SEG_CLASSES, build_fcn
    from core.weights.registry import load_model

    try:
        ours = load_model("fcn")
        source = "weights/fcn.safetensors"
    except Exception as error:  # noqa: BLE001 - a benchmark still measures speed without trained weights
        ours, source = build_fcn().eval(), f"untrained ({type(error).__name__})"
    peer = lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=NUM_SEG_CLASSES).eval()
    return ours, peer, source


def model_latency(repeats: int) -> dict:
    torch.set_num_threads(THREADS)
    ours, peer, source = models()
    x = torch.rand(1, 3, SIDE, SIDE, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        for _ in range(3):
            ours(x)
            peer(x)["out"]
        ours_ms, peer_ms = [], []
        for _ in range(repeats):
            ours_ms.append(_ms(lambda: ours(x)))
            peer_ms.append(_ms(lambda: peer(x)["out"]))
    ratios = [a / b for a, b in zip(ours_ms, peer_ms)]
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    return {
        "ours_source": source,
        "ours_ms_median": statistics.median(ours_ms),
        "ours_ms_min": min(ours_ms),
        "peer_ms_median": statistics.median(peer_ms),
        "peer_ms_min": min(peer_ms),
        "ratio_median": statistics.median(ratios),
        "ours_params": count(ours),
        "peer_params": count(peer),
    }


def endpoint_latency(requests: int) -> dict:
    """``/segment`` through gradio_client on an in-process app restricted to the Segmentation tab."""
    os.environ["LAB_TABS"] = "demos.segmentation"
    from gradio_client import Client, handle_file
    from PIL import Image

    import app
    from core.data.scenes import SPLITS, make_scene

    demo, url = app.launch_in_background()
    folder = tempfile.TemporaryDirectory()
    try:
        client = Client(url, verbose=False, download_files=folder.name)
        path = os.path.join(folder.name, "scene320.png")
        Image.fromarray(make_scene(SPLITS["test"][0], size=(SIDE, SIDE)).image).save(path)
        for _ in range(2):
            client.predict(handle_file(path), "fcn", api_name="/segment")
        times = []
        for _ in range(requests):
            started = time.perf_counter()
            _, png, _ = client.predict(handle_file(path), "fcn", api_name="/segment")
            assert Image.open(png).size == (SIDE, SIDE)
            times.append((time.perf_counter() - started) * 1000)
        import demos.segmentation as seg

        handler = [_ms(lambda: seg.segment(path)) for _ in range(requests)]  # the same work without HTTP
    finally:
        demo.close()
        folder.cleanup()
    return {"segment_ms_median": statistics.median(times), "segment_ms_p90": float(np.percentile(times, 90)),
            "handler_ms_median": statistics.median(handler)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--requests", type=int, default=15)
    parser.add_argument("--no-endpoint", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    if load > (os.cpu_count() or 1):
        print(f"warning: load average {load:.1f} on {os.cpu_count()} cores: absolute times are inflated; "
              "the ratio is paired per round and stays meaningful")
    m = model_latency(args.repeats)
    print(f"{SIDE}x{SIDE}, {THREADS} threads, {args.repeats} rounds; ours = {m['ours_source']}")
    print(f"  our FCN            median {m['ours_ms_median']:7.1f} ms  min {m['ours_ms_min']:7.1f} ms  "
          f"({m['ours_params'] / 1e6:.2f} M parameters)")
    print(f"  lraspp_mobilenet_v3 median {m['peer_ms_median']:7.1f} ms  min {m['peer_ms_min']:7.1f} ms  "
          f"({m['peer_params'] / 1e6:.2f} M parameters)")
    verdict = "ok" if m["ratio_median"] <= RATIO_TARGET else "OVER TARGET"
    print(f"  ratio ours / lraspp (median of per-round ratios): {m['ratio_median']:.2f}  "
          f"(target <= {RATIO_TARGET}: {verdict})")
    if not args.no_endpoint:
        e = endpoint_latency(args.requests)
        verdict = "ok" if e["segment_ms_median"] < ENDPOINT_TARGET_MS else "OVER TARGET"
        print(f"/segment end to end (320x320 scene, gradio_client): median {e['segment_ms_median']:.1f} ms, "
              f"p90 {e['segment_ms_p90']:.1f} ms  (target < {ENDPOINT_TARGET_MS:.0f} ms: {verdict}); "
              f"the handler alone (in-process, 1 torch thread as the app runs it): {e['handler_ms_median']:.1f} ms")


if __name__ == "__main__":
    main()
