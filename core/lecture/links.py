"""Every "Open in the lab" link of the lecture, in one place.

Each function returns the `LabLink` of one kind of view: the tab id and that tab's state parameters. The
parameter names are short names of the tab's controls, ``part`` names a sub-tab (as `demos.view` does); the
transposed-convolution and segmentation keys are those of their `View` classes. When the other tabs' URL states are
final, align the keys here (and only here). Value formats:

- a box: ``"x1,y1,x2,y2"``; several boxes: separated by ``;``; a labelled box: ``"class:x1,y1,x2,y2"``;
- a list of numbers: ``"0.75,0.5,0.25"``;
- a matrix: as its tab's text box holds it, rows on lines, entries separated by spaces: ``"0 1\n2 3"``;
- NMS candidates: the NMS tab's JSON (``{"image_size": [W, H], "normalized": true, "candidates": [[x1, y1,
  x2, y2, score, class], ...]}``), compact.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from core.lecture.model import LabLink

__all__ = [
    "TAB_IDS",
    "augmentation",
    "finetune",
    "boxes",
    "anchors",
    "iou",
    "labeling",
    "multiscale",
    "nms",
    "dataset",
    "detection",
    "segmentation",
    "transposed_conv",
    "gan_lab",
    "wgan_figure",
    "generative",
]

TAB_IDS = ("lecture", "augmentation", "anchors", "nms", "transposed_conv", "dataset", "detection", "segmentation",
           "gan_lab", "generative", "finetune")
"""The lab's tab ids (`app.tab_id` of each module)."""

BOOK_IMAGE = "book"
"""The anchors tab's blank canvas of the book's image size (728 x 561)."""


def _number(value: float) -> str:
    return f"{float(value):.6g}"


def _numbers(values: Sequence[float]) -> str:
    return ",".join(_number(v) for v in values)


def _boxes(rows: Sequence[Sequence[float]]) -> str:
    return ";".join(_numbers(row) for row in rows)


def _matrix(rows: Sequence[Sequence[float]]) -> str:
    return "\n".join(" ".join(_number(v) for v in row) for row in rows)


def augmentation(preset: str) -> LabLink:
    """The augmentation tab with one of its presets (`core.data.augment.PRESETS` names)."""
    return LabLink("augmentation", {"preset": preset})


def finetune(freeze: bool = False) -> LabLink:
    """The fine-tuning tab: fine-tuned vs scratch, with or without freezing the copied layers."""
    return LabLink("finetune", {"freeze": freeze})


def boxes(image: str, box: Sequence[float], label: str) -> LabLink:
    """The anchors tab's Boxes view: one corner box (pixels) in the table."""
    return LabLink("anchors", {"part": "boxes", "image": image, "boxes": f"{label}:{_numbers(box)}"})


def anchors(image: str, sizes: Sequence[float], ratios: Sequence[float], x: int, y: int) -> LabLink:
    """The anchors tab's Anchors view: the anchors of `sizes` and `ratios` centred on pixel (x, y) of `image`."""
    return LabLink("anchors", {"part": "anchors", "image": image, "sizes": _numbers(sizes),
                               "ratios": _numbers(ratios), "x": int(x), "y": int(y)})


def iou(box_a: Sequence[float], box_b: Sequence[float]) -> LabLink:
    """The anchors tab's IoU view with boxes A and B (pixels)."""
    return LabLink("anchors", {"part": "iou", "box_a": _numbers(box_a), "box_b": _numbers(box_b)})


def labeling(ground_truth: Sequence[Sequence[float]], anchor_boxes: Sequence[Sequence[float]], threshold: float,
             step: int) -> LabLink:
    """The anchors tab's Labeling view. `ground_truth` rows are (class, x1, y1, x2, y2), normalised; `step` is the
    assignment step to show (greedy picks + 1 shows the final labels)."""
    gt = ";".join(f"{int(row[0])}:{_numbers(row[1:])}" for row in ground_truth)
    return LabLink("anchors", {"part": "labeling", "gt": gt, "anchors": _boxes(anchor_boxes),
                               "threshold": float(threshold), "step": int(step)})


def multiscale(fh: int, fw: int, sizes: Sequence[float], ratios: Sequence[float]) -> LabLink:
    """The anchors tab's Multiscale view: anchors on an fh x fw feature-map grid."""
    return LabLink("anchors", {"part": "multiscale", "fh": int(fh), "fw": int(fw), "sizes": _numbers(sizes),
                               "ratios": _numbers(ratios)})


def nms(iou_threshold: float, step: int, candidates: dict | None = None) -> LabLink:
    """The NMS tab at greedy `step`: the book's example when `candidates` is None, else these candidates (the
    tab's JSON format)."""
    if candidates is None:
        return LabLink("nms", {"source": "book", "iou": float(iou_threshold), "step": int(step)})
    payload = json.dumps(candidates, separators=(",", ":"))
    return LabLink("nms", {"source": "custom", "candidates": payload, "iou": float(iou_threshold),
                           "step": int(step)})


def dataset(seed: int = 0, count: int = 8) -> LabLink:
    """The dataset tab: `count` generated scenes from `seed`."""
    return LabLink("dataset", {"seed": int(seed), "count": int(count)})


def detection(model: str, part: str) -> LabLink:
    """The detection tab: `model` "ssd" or "faster_rcnn"; `part` "result", "ssd" (SSD insides), "frcnn" (Faster
    R-CNN insides) or "roi" (RoI pooling vs RoIAlign)."""
    return LabLink("detection", {"model": model, "part": part})


def segmentation(part: str, scale: int | None = None) -> LabLink:
    """The segmentation tab: `part` "result", "coarse" (coarse scores -> upsampled), "upsampling" or "learned";
    `scale` the upsampling explained (2, 4 or 8)."""
    params: dict[str, str | int] = {"part": part}
    if scale is not None:
        params["scale"] = str(scale)
    return LabLink("segmentation", params)


def transposed_conv(input_rows: Sequence[Sequence[float]], kernel_rows: Sequence[Sequence[float]], stride: int,
                    padding: int = 0, output_padding: int = 0, part: str = "scatter") -> LabLink:
    """The transposed-convolution tab with this input, kernel, stride, padding and output padding, on sub-tab
    `part` ("scatter", "zero", "matrix" or "overlap")."""
    return LabLink("transposed_conv", {"part": part, "X": _matrix(input_rows), "K": _matrix(kernel_rows),
                                       "stride": int(stride), "padding": int(padding),
                                       "output_padding": int(output_padding)})


def gan_lab(loss: str, dataset_name: str = "ring") -> LabLink:
    """The GAN lab's live training with `loss` ("minimax", "nonsaturating", "wgan", "wgan-gp")."""
    return LabLink("gan_lab", {"part": "train", "loss": loss, "dataset": dataset_name})


def wgan_figure(theta: float) -> LabLink:
    """The GAN lab's WGAN Figure 1 view at `theta`."""
    return LabLink("gan_lab", {"part": "wgan", "theta": float(theta)})


def generative(part: str, **params: str | int | float) -> LabLink:
    """The generative-models tab: `part` "latent", "interpolation", "cgan" (digit=...), "cyclegan"
    (direction="A->B" or "B->A"), "progan" (stage=1..3, alpha=0..1)."""
    return LabLink("generative", {"part": part, **params})
