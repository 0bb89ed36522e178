"""core.evaluation.metrics against hand-computed values (and torchmetrics' own Jaccard index)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchmetrics.classification import MulticlassJaccardIndex

from core.evaluation.metrics import DetectionMeter, SegmentationMeter, detection_map, jsonable, segmentation_iou

GT = {"boxes": [[0.0, 0.0, 10.0, 10.0]], "labels": [0]}


def _pred(boxes, scores, labels):
    return {"boxes": boxes, "scores": scores, "labels": labels}


def test_perfect_detection_is_one():
    result = detection_map([_pred([[0, 0, 10, 10]], [0.9], [0])], [GT])
    assert result["map_50"] == pytest.approx(1.0) and result["map"] == pytest.approx(1.0)
    assert result["per_class_ap50"]["disc"] == pytest.approx(1.0)
    assert result["per_class_ap50"]["ring"] is None  # no ground truth, no prediction: no number


def test_loose_box_counts_only_at_low_iou_thresholds():
    """IoU = 100 / 128 = 0.78: a hit at 0.50, 0.55, ..., 0.75 (6 of the 10 thresholds), a miss above."""
    result = detection_map([_pred([[0, 0, 10, 12.8]], [0.9], [0])], [GT])
    assert result["map_50"] == pytest.approx(1.0)
    assert result["map_75"] == pytest.approx(1.0)
    assert result["map"] == pytest.approx(0.6)
    assert result["map_small"] == pytest.approx(0.6)  # a 10x10 box is "small" (< 32^2)


def test_false_positive_ranked_first_halves_the_precision():
    """Class 1: an unmatched box scores 0.9, the match 0.8 -> precision 1/2 at every recall -> AP 0.5.

    Class 0 is perfect, so mAP@0.5 = (1 + 0.5) / 2.
    """
    target = {"boxes": [[0, 0, 10, 10], [50, 50, 70, 70]], "labels": [0, 1]}
    pred = _pred([[0, 0, 10, 10], [100, 100, 120, 120], [50, 50, 70, 70]], [0.9, 0.9, 0.8], [0, 1, 1])
    result = detection_map([pred], [target])
    assert result["per_class_ap50"] == {"disc": pytest.approx(1.0), "ring": pytest.approx(0.5), "triangle": None,
                                        "star": None, "horse": None}
    assert result["map_50"] == pytest.approx(0.75)


def test_a_missed_object_caps_recall_at_one_half():
    """Two objects, one found: COCO's 101-point interpolation gives 51 / 101 (recalls 0.00..0.50 at precision 1)."""
    target = {"boxes": [[0, 0, 10, 10], [40, 40, 50, 50]], "labels": [2, 2]}
    result = detection_map([_pred([[0, 0, 10, 10]], [0.7], [2])], [target])
    assert result["map_50"] == pytest.approx(51 / 101)
    assert result["mar_100"] == pytest.approx(0.5)


def test_wrong_class_is_a_miss_and_meter_accumulates_images():
    meter = DetectionMeter()
    meter.update([_pred([[0, 0, 10, 10]], [0.9], [1])], [GT])  # right box, wrong class
    meter.update([_pred(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int))], [{"boxes": np.zeros((0, 4)), "labels": []}])
    result = meter.compute()
    assert result["per_class_ap50"]["disc"] == pytest.approx(0.0)
    assert result["per_class_ap50"]["ring"] is None  # COCO: no ground truth of a class -> its AP is undefined
    assert result["map_50"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="predictions for"):
        meter.update([], [GT])


def test_segmentation_iou_by_hand():
    """truth [[0,0,1],[1,2,2]] vs prediction [[0,1,1],[1,2,0]]: IoU 1/3, 2/3, 1/2; accuracy 4/6."""
    true = torch.tensor([[0, 0, 1], [1, 2, 2]])
    pred = torch.tensor([[0, 1, 1], [1, 2, 0]])
    result = segmentation_iou(pred, true, 3, ["bg", "a", "b"])
    assert result["per_class_iou"] == pytest.approx([1 / 3, 2 / 3, 1 / 2])
    assert result["miou"] == pytest.approx(0.5)
    assert result["pixel_accuracy"] == pytest.approx(4 / 6)
    assert result["per_class"]["a"] == pytest.approx(2 / 3)
    assert result["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]


def test_absent_class_is_none_and_left_out_of_the_mean():
    true = np.array([[0, 0, 1], [1, 2, 2]])
    pred = np.array([[0, 1, 1], [1, 2, 0]])
    result = segmentation_iou(pred, true, 4)
    assert result["per_class_iou"][3] is None
    assert result["miou"] == pytest.approx(0.5)


def test_iou_is_accumulated_over_the_dataset_like_torchmetrics_jaccard():
    generator = torch.Generator().manual_seed(0)
    true = torch.randint(0, 6, (4, 16, 16), generator=generator)
    pred = torch.where(torch.rand(4, 16, 16, generator=generator) < 0.6, true, torch.randint(0, 6, (4, 16, 16), generator=generator))
    meter = SegmentationMeter(6)
    for i in range(4):  # image by image
        meter.update(pred[i], true[i])
    reference = MulticlassJaccardIndex(6, average="none")(pred, true)
    result = meter.compute()
    assert result["per_class_iou"] == pytest.approx(reference.tolist(), abs=1e-6)
    assert list(result["per_class"]) == ["background", "disc", "ring", "triangle", "star", "horse"]


def test_segmentation_input_errors():
    with pytest.raises(ValueError, match="shape"):
        segmentation_iou(np.zeros((2, 2), int), np.zeros((2, 3), int), 3)
    with pytest.raises(ValueError, match=r"in \[0, 3\)"):
        segmentation_iou(np.full((2, 2), 3), np.zeros((2, 2), int), 3)
    meter = SegmentationMeter(3, ignore_index=255)
    meter.update(np.array([[0, 1]]), np.array([[0, 255]]))
    assert meter.compute()["pixel_accuracy"] == pytest.approx(1.0)


def test_jsonable():
    assert jsonable({"a": torch.tensor([1.5]), "b": np.int64(2), "c": (np.float32(0.5),)}) == {"a": [1.5], "b": 2, "c": [0.5]}
