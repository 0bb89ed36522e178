"""Detection mAP and segmentation IoU: thin wrappers over torchmetrics that return plain Python numbers.

* `detection_map(preds, targets)` — COCO-style average precision through
  ``torchmetrics.detection.MeanAveragePrecision`` (pycocotools backend): ``map_50`` (AP at IoU 0.5, the
  book's and VOC's number), ``map`` (mean over IoU 0.50:0.05:0.95), ``map_75``, ``map_small`` / ``medium`` /
  ``large`` (COCO area ranges: < 32², < 96², larger — the multiscale story), ``mar_100`` and per-class AP.
* `segmentation_iou(pred_masks, true_masks, num_classes)` — per-class IoU accumulated over all pixels of all
  images (the FCN / VOC definition: intersection and union summed over the dataset, then divided), from
  torchmetrics' confusion matrix; ``miou`` is the mean over the classes that occur (in prediction or truth).

Streaming versions (`DetectionMeter`, `SegmentationMeter`) accumulate batches for evaluating a whole split.
Boxes are (x1, y1, x2, y2) pixels; class masks hold class indices (for the scenes: 0 = background).
Classes absent from both prediction and truth get ``None`` (JSON null), never a made-up 0 or 1.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from core.data.scenes import CLASS_NAMES

SEGMENTATION_CLASS_NAMES: tuple[str, ...] = ("background",) + CLASS_NAMES
"""Names of the scene mask values 0..5 (0 = background, k + 1 = `CLASS_NAMES[k]`)."""


def _tensor(value: Any, dtype: torch.dtype) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", dtype)
    return torch.as_tensor(np.require(np.asarray(value), requirements="W"), dtype=dtype)  # a read-only array is copied


def _float_or_none(value: Any) -> float | None:
    value = float(value)
    return None if math.isnan(value) or value < 0 else value  # torchmetrics marks "no data" with -1


class DetectionMeter:
    """Accumulates detections over batches; `compute` gives the numbers of `detection_map`."""

    def __init__(self, class_names: Sequence[str] = CLASS_NAMES):
        from torchmetrics.detection import MeanAveragePrecision

        self.class_names = tuple(class_names)
        # sync_on_compute=False: a meter counts what its own process saw (under torchrun, process 0 evaluates alone;
        # torchmetrics would otherwise wait for the other processes to join the computation)
        common = dict(box_format="xyxy", iou_type="bbox", class_metrics=True, backend="pycocotools",
                      sync_on_compute=False)
        self._coco = MeanAveragePrecision(**common)
        self._at_50 = MeanAveragePrecision(iou_thresholds=[0.5], **common)  # per-class AP at IoU 0.5

    def update(self, preds: Sequence[Mapping[str, Any]], targets: Sequence[Mapping[str, Any]]) -> None:
        """preds: per image {"boxes" (N, 4) xyxy, "scores" (N,), "labels" (N,)}; targets: {"boxes", "labels"}."""
        if len(preds) != len(targets):
            raise ValueError(f"{len(preds)} predictions for {len(targets)} targets")
        p = [
            {
                "boxes": _tensor(x["boxes"], torch.float32).reshape(-1, 4),  # (N, 4)
                "scores": _tensor(x["scores"], torch.float32).reshape(-1),
                "labels": _tensor(x["labels"], torch.int64).reshape(-1),
            }
            for x in preds
        ]
        t = [
            {"boxes": _tensor(x["boxes"], torch.float32).reshape(-1, 4), "labels": _tensor(x["labels"], torch.int64).reshape(-1)}
            for x in targets
        ]
        self._coco.update(p, t)
        self._at_50.update(p, t)

    def compute(self) -> dict[str, Any]:
        coco = self._coco.compute()
        at_50 = self._at_50.compute()
        result: dict[str, Any] = {
            key: _float_or_none(coco[key])
            for key in ("map", "map_50", "map_75", "map_small", "map_medium", "map_large", "mar_100")
        }
        per_class = {name: None for name in self.class_names}
        per_class_50 = dict(per_class)
        classes = coco["classes"].reshape(-1).tolist()
        for index, value in zip(classes, coco["map_per_class"].reshape(-1).tolist()):
            per_class[self._name(index)] = _float_or_none(value)
        for index, value in zip(at_50["classes"].reshape(-1).tolist(), at_50["map_per_class"].reshape(-1).tolist()):
            per_class_50[self._name(index)] = _float_or_none(value)
        result["per_class_ap"] = per_class
        result["per_class_ap50"] = per_class_50
        return result

    def _name(self, index: int) -> str:
        return self.class_names[index] if 0 <= index < len(self.class_names) else str(index)


def detection_map(
    preds: Sequence[Mapping[str, Any]],
    targets: Sequence[Mapping[str, Any]],
    class_names: Sequence[str] = CLASS_NAMES,
) -> dict[str, Any]:
    """COCO mAP of detections against ground truth.

    Args:
        preds: one dict per image: ``boxes`` (N, 4) xyxy pixels, ``scores`` (N,), ``labels`` (N,) class indices.
        targets: one dict per image: ``boxes`` (M, 4), ``labels`` (M,).
        class_names: names of the label indices, for the per-class entries.

    Returns:
        ``{"map_50", "map", "map_75", "map_small", "map_medium", "map_large", "mar_100",
        "per_class_ap50": {name: AP@0.5}, "per_class_ap": {name: AP@[.5:.95]}}`` (None where there is no data).
    """
    meter = DetectionMeter(class_names)
    meter.update(preds, targets)
    return meter.compute()


class SegmentationMeter:
    """Accumulates a confusion matrix over batches of class-index masks; `compute` gives IoUs."""

    def __init__(self, num_classes: int, class_names: Sequence[str] | None = None, ignore_index: int | None = None):
        from torchmetrics.classification import MulticlassConfusionMatrix

        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        self.num_classes = int(num_classes)
        if class_names is None:
            class_names = SEGMENTATION_CLASS_NAMES if num_classes == len(SEGMENTATION_CLASS_NAMES) else [str(i) for i in range(num_classes)]
        if len(class_names) != num_classes:
            raise ValueError(f"{len(class_names)} class names for {num_classes} classes")
        self.class_names = tuple(class_names)
        self._confusion = MulticlassConfusionMatrix(num_classes, ignore_index=ignore_index, validate_args=False,
                                                    sync_on_compute=False)  # process-local, as `DetectionMeter`

    def update(self, pred_masks: Any, true_masks: Any) -> None:
        """Masks (H, W) or (B, H, W) of class indices in [0, num_classes)."""
        pred = _tensor(pred_masks, torch.int64)
        true = _tensor(true_masks, torch.int64)
        if pred.shape != true.shape:
            raise ValueError(f"prediction shape {tuple(pred.shape)} differs from truth shape {tuple(true.shape)}")
        ignore = self._confusion.ignore_index
        for name, mask in (("prediction", pred), ("truth", true if ignore is None else true[true != ignore])):
            if mask.numel() and (int(mask.min()) < 0 or int(mask.max()) >= self.num_classes):
                raise ValueError(f"{name} mask values must be in [0, {self.num_classes}), got {int(mask.min())}..{int(mask.max())}")
        self._confusion.update(pred.reshape(-1), true.reshape(-1))

    def compute(self) -> dict[str, Any]:
        confusion = self._confusion.compute().double()  # (C, C): rows = truth, columns = prediction
        intersection = confusion.diagonal()
        union = confusion.sum(0) + confusion.sum(1) - intersection
        iou = torch.where(union > 0, intersection / union.clamp(min=1), torch.tensor(float("nan"), dtype=torch.float64))
        total = confusion.sum()
        per_class = [None if math.isnan(v) else float(v) for v in iou.tolist()]
        present = [v for v in per_class if v is not None]
        return {
            "miou": float(sum(present) / len(present)) if present else None,
            "per_class_iou": per_class,
            "per_class": dict(zip(self.class_names, per_class)),
            "pixel_accuracy": float(intersection.sum() / total) if total > 0 else None,
            "confusion": confusion.long().tolist(),
        }


def segmentation_iou(pred_masks: Any, true_masks: Any, num_classes: int, class_names: Sequence[str] | None = None) -> dict[str, Any]:
    """Per-class and mean IoU of class-index masks, accumulated over every pixel of every image.

    Args:
        pred_masks, true_masks: (H, W) or (B, H, W) integer class indices (tensors or arrays).
        num_classes: including background (6 for the scenes).

    Returns:
        ``{"miou": float, "per_class_iou": [IoU or None per class], "per_class": {name: IoU},
        "pixel_accuracy": float, "confusion": (C, C) counts (rows = truth)}``.
    """
    meter = SegmentationMeter(num_classes, class_names)
    meter.update(pred_masks, true_masks)
    return meter.compute()


def jsonable(value: Any) -> Any:
    """Tensors, arrays and numpy scalars -> plain Python (for printing metrics as JSON)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value
