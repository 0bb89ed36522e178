"""The embedded networks on a CUDA GPU against the CPU: the same answers, and how fast on each.

    python -m benchmarks.devices [--scenes 20] [--repeats 20]

What a Space with a GPU runs (`demos.common.on_gpu`: the detection and segmentation handlers load their models
onto the GPU when `torch.cuda.is_available()`). Per model, on held-out test scenes:

- agreement: SSD and Faster R-CNN detections matched across devices (same class, IoU >= 0.9) as a share of all;
  FCN, the share of pixels given the same class;
- every tensor the core functions return is on the CPU (the tabs draw and serialise them there);
- median latency per image on each device (a warm model, one image at a time, as a request does).

Needs only torch, torchvision, timm, numpy and scikit-image (no Gradio): it runs on a bare GPU machine.
Without CUDA it says so and exits with status 2.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from typing import Any, Callable

import numpy as np
import torch
import torchvision

from benchmarks.timing import timed
from core.data.scenes import make_scene, split_seeds

AGREEMENT_TARGET = 0.98
"""Share of detections (or pixels) that must agree: float sums differ in the last bits between devices, so a
detection right at a threshold may cross it on one device and not the other."""


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    if hasattr(value, "__dict__"):
        return [t for v in vars(value).values() for t in _tensors(v)]
    return []


def _all_on_cpu(value: Any) -> bool:
    return all(t.device.type == "cpu" for t in _tensors(value))


def detection_agreement(a: tuple[torch.Tensor, torch.Tensor], b: tuple[torch.Tensor, torch.Tensor]) -> tuple[int, int]:
    """(matched, total): detections (boxes (N, 4), labels (N,)) of one device matched one-to-one to the other's."""
    (boxes_a, labels_a), (boxes_b, labels_b) = a, b
    total = max(len(boxes_a), len(boxes_b))
    if total == 0 or len(boxes_a) == 0 or len(boxes_b) == 0:
        return (total if len(boxes_a) == len(boxes_b) else 0), total
    iou = torchvision.ops.box_iou(boxes_a.float(), boxes_b.float())  # (Na, Nb)
    iou[labels_a[:, None] != labels_b[None, :]] = 0
    matched = 0
    while True:
        best = iou.max()
        if best < 0.9:
            break
        i, j = divmod(int(iou.argmax()), iou.shape[1])
        matched += 1
        iou[i, :] = 0
        iou[:, j] = 0
    return matched, total


def compare(name: str, load: Callable[[str], Any], run: Callable[[Any, np.ndarray], Any],
            boxes_labels: Callable[[Any], tuple[torch.Tensor, torch.Tensor]] | None,
            class_map: Callable[[Any], np.ndarray] | None, images: list[np.ndarray], repeats: int) -> dict[str, Any]:
    models = {device: load(device) for device in ("cpu", "cuda")}
    outputs = {device: [run(models[device], image) for image in images] for device in models}
    row: dict[str, Any] = {"model": name, "cpu_outputs": all(_all_on_cpu(o) for d in outputs for o in outputs[d])}
    if boxes_labels is not None:
        pairs = [detection_agreement(boxes_labels(c), boxes_labels(g)) for c, g in zip(outputs["cpu"], outputs["cuda"])]
        matched, total = sum(p[0] for p in pairs), sum(p[1] for p in pairs)
        row["agreement"], row["compared"] = (matched / total if total else 1.0), f"{total} detections"
    else:
        same = sum(int((class_map(c) == class_map(g)).sum()) for c, g in zip(outputs["cpu"], outputs["cuda"]))
        pixels = sum(class_map(c).size for c in outputs["cpu"])
        row["agreement"], row["compared"] = same / pixels, f"{pixels} pixels"
    image = images[0]

    def on(device: str) -> Callable[[], object]:
        def call() -> object:
            result = run(models[device], image)
            if device == "cuda":
                torch.cuda.synchronize()
            return result
        return call

    times = timed({"cpu": on("cpu"), "cuda": on("cuda")}, repeats, warmup=3)
    row["cpu_ms"] = statistics.median(times["cpu"]) * 1e3
    row["cuda_ms"] = statistics.median(times["cuda"]) * 1e3
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=int, default=20, help="held-out test scenes compared")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA device here: nothing to compare (the lab runs on the CPU)")
        return 2
    torch.set_num_threads(2)
    from core.models import faster_rcnn
    from core.models import fcn
    from core.models import ssd
    from core.weights.registry import load_model, load_spec

    images = [make_scene(seed).image for seed in split_seeds("test")[: args.scenes]]

    spec = load_spec("fcn")

    def fcn_run(model: Any, image: np.ndarray) -> dict[str, Any]:
        return fcn.predict(model, image, spec.mean, spec.std, details=True)

    def loader(name: str) -> Callable[[str], Any]:
        return lambda device: load_model(name, device)

    rows = [
        compare("SSD", loader("ssd"), lambda m, im: ssd.detect(m, im, 0.3, 0.5),
                lambda d: (d.boxes, d.labels), None, images, args.repeats),
        compare("Faster R-CNN", loader("faster_rcnn"), lambda m, im: faster_rcnn.detect(m, im, 0.3, 0.5),
                lambda d: (d["boxes"], d["labels"]), None, images, args.repeats),
        compare("Faster R-CNN insides", loader("faster_rcnn"),
                lambda m, im: faster_rcnn.insides(m, im, 50, 0.3, 0.5),
                lambda d: (d["detections"]["boxes"], d["detections"]["labels"]), None, images, args.repeats),
        compare("FCN", loader("fcn"), fcn_run, None, lambda out: np.asarray(out["class_map"]), images, args.repeats),
    ]
    print(f"{torch.cuda.get_device_name(0)}; torch {torch.__version__}, torchvision {torchvision.__version__}; "
          f"CPU with 2 threads; {args.scenes} test scenes, median of {args.repeats} single-image calls")
    ok = True
    for row in rows:
        passed = row["agreement"] >= AGREEMENT_TARGET and row["cpu_outputs"]
        ok &= passed
        print(f"  {row['model']:<22} agreement {row['agreement']:.4f} over {row['compared']:<16} "
              f"outputs on CPU: {row['cpu_outputs']}   CPU {row['cpu_ms']:7.1f} ms   CUDA {row['cuda_ms']:6.1f} ms   "
              f"({row['cpu_ms'] / row['cuda_ms']:.1f}x)   {'PASS' if passed else 'FAIL'}")
    print("targets met" if ok else "TARGETS NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
