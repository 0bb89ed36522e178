"""R-CNN, Fast R-CNN and Faster R-CNN behind one call, for comparing them on the same image.

Every model answers `detect_timed(name, model, image, ...)` with a `core.models.rcnn.TimedDetections`:
detections in the image's pixels, the proposals it classified, the seconds of the stages proposals / features /
classify / nms, and how many inputs its CNN ran on (R-CNN: one per proposal; the other two: 1).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn

from core.models.rcnn import TimedDetections

FAMILY: tuple[str, ...] = ("rcnn", "fast_rcnn", "faster_rcnn")
"""The models' weights names, in the order of their history (2014, 2015, 2015)."""

TITLES = {"rcnn": "R-CNN", "fast_rcnn": "Fast R-CNN", "faster_rcnn": "Faster R-CNN"}


def _check(name: str) -> str:
    if name not in FAMILY:
        raise ValueError(f"unknown model {name!r}; choose one of {FAMILY}")
    return name


def detect_timed(name: str, model: nn.Module, image: np.ndarray, score_threshold: float = 0.5,
                 iou_threshold: float | None = None, max_proposals: int | None = None) -> TimedDetections:
    """One image through model `name`, timed by stage.

    Args:
        image: (H, W, 3) uint8 RGB.
        score_threshold: keep detections scored above this.
        iou_threshold: class-wise NMS IoU (None: the model's own setting).
        max_proposals: R-CNN and Fast R-CNN classify only the best-ranked this many selective-search proposals
            (None: all); Faster R-CNN ignores it (its RPN decides).
    """
    if _check(name) == "rcnn":
        from core.models.rcnn import detect_timed as run

        return run(model, image, score_threshold, iou_threshold, max_proposals=max_proposals)
    if name == "fast_rcnn":
        from core.models.fast_rcnn import detect_timed as run

        return run(model, image, score_threshold, iou_threshold, max_proposals=max_proposals)
    from core.models.faster_rcnn import DEFAULT_IOU_THRESHOLD, detect_timed as run

    return run(model, image, score_threshold, DEFAULT_IOU_THRESHOLD if iou_threshold is None else iou_threshold)


def card_metrics(name: str) -> dict[str, Any]:
    """The model card's recorded metrics (test-split mAP and more), {} when the card has none."""
    from core.weights import hub

    return dict(hub.load_card(_check(name)).get("card", {}).get("metrics", {}))


def compare(models: dict[str, nn.Module], image: np.ndarray, score_threshold: float = 0.5,
            max_proposals: int | None = None) -> dict[str, TimedDetections]:
    """Every model of `models` (names of `FAMILY` -> loaded models) on the same image, in `FAMILY` order.

    R-CNN and Fast R-CNN use the same selective search; it runs once here and its seconds count in both models'
    "proposals" stage (each would spend them alone). Each model uses its own NMS IoU.
    """
    import time

    from core.models.rcnn import prepare, proposals_for

    for name in models:
        _check(name)
    shared: tuple[np.ndarray, float] | None = None
    if "rcnn" in models or "fast_rcnn" in models:
        started = time.perf_counter()
        prepared, _ = prepare(image)
        shared = (proposals_for(prepared), time.perf_counter() - started)
    results: dict[str, TimedDetections] = {}
    for name in FAMILY:
        if name not in models:
            continue
        if name == "faster_rcnn":
            results[name] = detect_timed(name, models[name], image, score_threshold)
            continue
        assert shared is not None
        if name == "rcnn":
            from core.models.rcnn import detect_timed as run
        else:
            from core.models.fast_rcnn import detect_timed as run
        timed = run(models[name], image, score_threshold, None, shared[0], max_proposals)
        timed.seconds["proposals"] += shared[1]
        results[name] = timed
    return results
