"""core.data.datasets: items match the scenes, augmentation keeps boxes tight on the mask, determinism, collate."""

from __future__ import annotations

import albumentations as A
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from core.data.datasets import (
    PADDING_CLASS,
    SceneDetection,
    SceneSegmentation,
    detection_collate,
    image_to_tensor,
    to_book_labels,
)
from core.data.scenes import SPLITS, make_scene


def _assert_boxes_tight_on_mask(boxes: torch.Tensor, labels: torch.Tensor, mask: np.ndarray) -> None:
    """Each box's four border lines touch a pixel of its class, and the box lies inside the image."""
    height, width = mask.shape
    for (x1, y1, x2, y2), label in zip(boxes.int().tolist(), labels.tolist()):
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
        inside = mask[y1:y2, x1:x2] == label + 1
        assert inside[:, 0].any() and inside[:, -1].any() and inside[0].any() and inside[-1].any()


def test_plain_items_are_the_scenes():
    ds = SceneDetection("val", count=4)
    assert len(ds) == 4
    for index in range(4):
        image, target = ds[index]
        scene = make_scene(SPLITS["val"][index])
        assert image.shape == (3, 256, 256) and image.dtype == torch.float32
        torch.testing.assert_close(image, torch.from_numpy(scene.image).permute(2, 0, 1).float() / 255)
        assert target["boxes"].dtype == torch.float32 and target["labels"].dtype == torch.int64
        np.testing.assert_array_equal(target["boxes"].numpy(), scene.boxes)
        np.testing.assert_array_equal(target["labels"].numpy(), scene.labels)
        assert target["image_id"] == SPLITS["val"][index]
    seg = SceneSegmentation([5, 6])
    image, mask = seg[1]
    assert mask.dtype == torch.int64 and mask.shape == (256, 256)
    np.testing.assert_array_equal(mask.numpy(), make_scene(6).mask)


def test_label_offset_for_torchvision_style_models():
    _, target = SceneDetection([3], label_offset=1)[0]
    np.testing.assert_array_equal(target["labels"].numpy(), make_scene(3).labels + 1)


def test_augmentation_is_deterministic_per_epoch_and_changes_between_epochs():
    a = SceneDetection("train", count=6, augment=True, augment_seed=1)
    b = SceneDetection("train", count=6, augment=True, augment_seed=1)
    for index in range(6):
        torch.testing.assert_close(a[index][0], b[index][0], rtol=0, atol=0)
        torch.testing.assert_close(a[index][1]["boxes"], b[index][1]["boxes"], rtol=0, atol=0)
    before = [a[i][0] for i in range(6)]
    a.set_epoch(1)
    assert sum(not torch.equal(before[i], a[i][0]) for i in range(6)) >= 5


def test_augmented_boxes_stay_tight_on_the_augmented_mask():
    det = SceneDetection("train", count=40, augment=True, augment_seed=3)
    seg = SceneSegmentation("train", count=40, augment=True, augment_seed=3)
    changed = 0
    for index in range(40):
        image, target = det[index]
        _, mask = seg[index]  # same seeds, same epoch: the same augmentation draw
        _assert_boxes_tight_on_mask(target["boxes"], target["labels"], mask.numpy())
        changed += not np.array_equal(target["boxes"].numpy(), make_scene(index).boxes)
    assert changed >= 15, "the augmentation moves boxes"


def test_flip_moves_boxes_like_albumentations():
    """A horizontal flip: x1' = W - x2, x2' = W - x1 (hand-computed), y unchanged."""
    flip = A.Compose(
        [A.HorizontalFlip(p=1.0)],
        bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels", "instance_ids"]),
        additional_targets={"instances": "mask"},
    )
    image, target = SceneDetection([9], augment=flip)[0]
    scene = make_scene(9)
    expected = scene.boxes.copy()
    expected[:, [0, 2]] = 256 - scene.boxes[:, [2, 0]]
    np.testing.assert_array_equal(target["boxes"].numpy(), expected)
    torch.testing.assert_close(image, image_to_tensor(scene.image[:, ::-1]))


def test_collate_and_book_labels():
    ds = SceneDetection("val", count=4)
    images, targets = next(iter(DataLoader(ds, batch_size=4, collate_fn=detection_collate)))
    assert images.shape == (4, 3, 256, 256) and len(targets) == 4
    labels = to_book_labels(targets, (256, 256))
    g = max(len(t["labels"]) for t in targets)
    assert labels.shape == (4, g, 5)
    for i, target in enumerate(targets):
        n = len(target["labels"])
        torch.testing.assert_close(labels[i, :n, 0], target["labels"].float())
        torch.testing.assert_close(labels[i, :n, 1:] * 256, target["boxes"])
        assert (labels[i, n:] == PADDING_CLASS).all()
    assert to_book_labels(targets, (256, 256), max_objects=2).shape == (4, 2, 5)
    mixed = detection_collate([(torch.zeros(3, 8, 8), {}), (torch.zeros(3, 8, 9), {})])
    assert isinstance(mixed[0], list)


def test_bad_split_is_refused():
    with pytest.raises(ValueError, match="unknown split"):
        SceneDetection("holdout")
