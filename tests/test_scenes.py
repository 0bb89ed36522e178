"""core.data.scenes: determinism, mask/box consistency, occlusion rules, splits, caller backgrounds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchvision.ops import box_iou, masks_to_boxes

from core.data import scenes
from core.data.scenes import CLASS_NAMES, MIN_VISIBLE_FRACTION, SPLITS, make_scene


def _assert_consistent(scene: scenes.Scene) -> None:
    """Every box is the tight pixel-edge extent of its object's visible pixels; the class map agrees."""
    height, width = scene.image.shape[:2]
    n = len(scene.labels)
    assert scene.image.dtype == np.uint8 and scene.image.shape == (height, width, 3)
    assert scene.boxes.dtype == np.float32 and scene.boxes.shape == (n, 4)
    assert scene.labels.dtype == np.int64 and scene.labels.shape == (n,)
    assert scene.mask.dtype == np.uint8 and scene.mask.shape == (height, width)
    assert scene.instance_mask.shape == (height, width)
    assert set(np.unique(scene.instance_mask)) <= set(range(n + 1))
    # class map = label of the object owning the pixel, 0 elsewhere
    lookup = np.concatenate([[0], scene.labels + 1]).astype(np.uint8)
    np.testing.assert_array_equal(scene.mask, lookup[scene.instance_mask])
    for index in range(n):
        rows, cols = np.nonzero(scene.instance_mask == index + 1)
        assert len(rows), "every labelled object has visible pixels"
        expected = [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
        np.testing.assert_array_equal(scene.boxes[index], expected)
    if n:
        assert (scene.boxes[:, 0] >= 0).all() and (scene.boxes[:, 1] >= 0).all()
        assert (scene.boxes[:, 2] <= width).all() and (scene.boxes[:, 3] <= height).all()
        assert (scene.visible_fraction >= MIN_VISIBLE_FRACTION).all()


def test_same_seed_same_scene_and_different_seed_differs():
    a, b, c = make_scene(7), make_scene(7), make_scene(8)
    for field in ("image", "boxes", "labels", "mask", "instance_mask"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.image, c.image)


def test_boxes_equal_torchvision_masks_to_boxes_plus_one_pixel():
    for seed in (0, 1, 2):
        scene = make_scene(seed)
        n = len(scene.labels)
        instances = torch.from_numpy(scene.instance_mask)[None] == torch.arange(1, n + 1)[:, None, None]
        expected = masks_to_boxes(instances) + torch.tensor([0.0, 0.0, 1.0, 1.0])
        np.testing.assert_array_equal(scene.boxes, expected.numpy())


def test_default_size_and_types():
    scene = make_scene(0)
    assert scene.image.shape == (256, 256, 3)
    assert make_scene(0, size=(128, 192)).image.shape == (128, 192, 3)
    _assert_consistent(scene)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_boxes_bound_visible_mask_pixels(seed):
    _assert_consistent(make_scene(seed))


def test_many_scenes_are_consistent_and_varied():
    all_scenes = [make_scene(seed) for seed in range(150)]
    for scene in all_scenes:
        _assert_consistent(scene)
    labels = np.concatenate([s.labels for s in all_scenes])
    assert set(labels.tolist()) == set(range(len(CLASS_NAMES))), "every class appears"
    assert np.bincount(labels).min() > 0.1 * len(labels), "classes are roughly balanced"
    boxes = np.concatenate([s.boxes for s in all_scenes])
    sides = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    # multiscale: many small and many large objects
    assert (sides < 32).mean() > 0.15 and (sides > 80).mean() > 0.1
    # occlusion happens and leaves objects partially hidden but still labelled
    assert (np.concatenate([s.visible_fraction for s in all_scenes]) < 0.95).sum() >= 20
    overlapping = sum(
        bool((box_iou(torch.from_numpy(s.boxes), torch.from_numpy(s.boxes)).fill_diagonal_(0) > 0).any())
        for s in all_scenes
        if len(s.labels) > 1
    )
    assert overlapping >= 20
    counts = [len(s.labels) for s in all_scenes]
    assert min(counts) >= 1 and max(counts) <= scenes.DEFAULT_CONFIG.max_objects


def test_hidden_objects_are_dropped_not_half_labelled():
    """With a threshold of 1.0 only fully visible objects survive; with 0 nearly every attempt does."""
    strict = scenes.SceneConfig(min_visible_fraction=1.0, min_objects=8, max_objects=8)
    loose = scenes.SceneConfig(min_visible_fraction=0.0, min_visible_pixels=0, min_objects=8, max_objects=8)
    n_strict = n_loose = 0
    for seed in range(30):
        s = make_scene(seed, config=strict)
        _assert_consistent(s)
        assert (s.visible_fraction == 1.0).all()
        n_strict += len(s.labels)
        n_loose += len(make_scene(seed, config=loose).labels)
    assert n_strict < n_loose


def test_splits_are_disjoint_and_test_has_500_scenes():
    assert len(SPLITS["test"]) == 500
    names = list(SPLITS)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            ra, rb = SPLITS[a], SPLITS[b]
            assert ra.stop <= rb.start or rb.stop <= ra.start
    assert list(scenes.split_seeds("val", 3)) == [SPLITS["val"].start + i for i in range(3)]
    with pytest.raises(ValueError, match="unknown split"):
        scenes.split_seeds("dev")


def test_caller_background_keeps_its_size_and_the_objects():
    photo = np.full((300, 420, 3), 128, np.uint8)
    photo[:, :210] = (20, 200, 40)
    scene = make_scene(3, background=photo)
    assert scene.image.shape == (300, 420, 3)
    _assert_consistent(scene)
    # same seed and size: the objects (classes, boxes, masks) do not depend on the background
    plain = make_scene(3, size=(300, 420))
    np.testing.assert_array_equal(scene.labels, plain.labels)
    np.testing.assert_array_equal(scene.boxes, plain.boxes)
    np.testing.assert_array_equal(scene.mask, plain.mask)
    # the photo is still there where no object is (up to the light blur)
    background = scene.mask == 0
    left = np.zeros_like(background)
    left[:, 20:190] = True
    assert np.abs(scene.image[background & left].astype(int) - (20, 200, 40)).mean() < 8


def test_caller_background_with_size_is_cover_cropped():
    photo = np.zeros((100, 400, 3), np.uint8)
    photo[:, 150:250] = 255  # a white band in the middle survives the centre crop
    scene = make_scene(5, size=(64, 64), background=photo)
    assert scene.image.shape == (64, 64, 3)
    assert scene.image[scene.mask == 0].mean() > 200
    gray = make_scene(5, background=np.full((50, 60), 90, np.uint8))
    assert gray.image.shape == (50, 60, 3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(seed=-1), "seed"),
        (dict(seed=1.5), "seed"),
        (dict(seed=1, size=(8, 8)), "size"),
        (dict(seed=1, background=np.zeros((10, 10, 3), np.uint8)), "too small"),
        (dict(seed=1, background=np.zeros((40, 40, 3), np.float32)), "uint8"),
        (dict(seed=1, background=np.zeros((40, 40, 2), np.uint8)), "shape"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_scene(**kwargs)


def test_annotations_are_json_friendly():
    scene = make_scene(11)
    annotations = scene.annotations()
    assert len(annotations) == len(scene.labels)
    for item, box, label in zip(annotations, scene.boxes, scene.labels):
        assert item["box"] == [float(v) for v in box]
        assert item["label"] == int(label) and item["class_name"] == CLASS_NAMES[label]
