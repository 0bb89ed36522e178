"""core.data.augment: seeding, the book's presets against torchvision/OpenCV, boxes and masks following the image,
serialisation round trips and clear errors."""

from __future__ import annotations

import json
import random

import cv2
import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as F
from torchvision.ops import box_iou

from core.data import augment as aug

A = aug.A
BOOK_CROP = "Book: RandomResizedCrop 200x200, scale (0.1, 1), ratio (0.5, 2)"
pytestmark = pytest.mark.filterwarnings("ignore:Got processor for bboxes")  # pixel-only pipelines carry boxes through


@pytest.fixture(scope="module")
def cat():
    return aug.scene(aug.DEFAULT_SCENE)


@pytest.fixture(scope="module")
def shapes():
    return aug.scene("shapes (exact boxes and mask)")


def one_step(name: str, **params) -> dict:
    return aug.pipeline_dict([aug.make_step(name, params)])


def same_samples(a: list, b: list) -> bool:
    return all(
        np.array_equal(x.image, y.image) and np.array_equal(x.boxes, y.boxes) and x.kept == y.kept
        and [s.params for s in x.steps] == [s.params for s in y.steps]
        for x, y in zip(a, b, strict=True)
    )


# --- seeding -----------------------------------------------------------------------------------


def test_same_seed_same_grid_new_seed_new_grid(cat):
    pipeline = aug.preset(aug.DEFAULT_PRESET)
    first = aug.augment_samples(cat.image, pipeline, 8, 7, cat.boxes, cat.mask)
    again = aug.augment_samples(cat.image, pipeline, 8, 7, cat.boxes, cat.mask)
    other = aug.augment_samples(cat.image, pipeline, 8, 8, cat.boxes, cat.mask)
    assert same_samples(first, again)
    assert all(not np.array_equal(x.image, y.image) for x, y in zip(first, other))
    # the samples of one grid differ from each other as well
    assert len({s.image.tobytes() for s in first}) == 8


def test_sample_i_does_not_depend_on_n(cat):
    pipeline = aug.preset(aug.DEFAULT_PRESET)
    assert aug.sample_seeds(3, 4) == aug.sample_seeds(3, 8)[:4]
    four = aug.augment_samples(cat.image, pipeline, 4, 3, cat.boxes, cat.mask)
    eight = aug.augment_samples(cat.image, pipeline, 8, 3, cat.boxes, cat.mask)
    assert same_samples(four, eight[:4])


def test_two_flips_draw_independently(shapes):
    """Albumentations' Compose(seed=...) gives every transform the same stream (both flips fire together);
    our shared generator pair must not."""
    flips = [aug.make_step("HorizontalFlip", {"p": 0.5}), aug.make_step("VerticalFlip", {"p": 0.5})]
    pipeline = aug.pipeline_dict(flips)
    samples = aug.augment_samples(shapes.image, pipeline, 16, 0)
    combos = {tuple(step.applied for step in s.steps) for s in samples}
    assert combos == {(False, False), (False, True), (True, False), (True, True)}


# --- the book's presets ------------------------------------------------------------------------


def test_book_presets_exist_with_the_books_arguments():
    assert len(aug.PRESETS) >= 7
    crop = aug.step_params(aug.pipeline_steps(aug.preset(BOOK_CROP))[0])
    assert crop["size"] == [200, 200] and crop["scale"] == [0.1, 1.0] and crop["ratio"] == [0.5, 2.0]
    jitter = aug.step_params(aug.pipeline_steps(aug.preset("Book: brightness, contrast, saturation, hue 0.5"))[0])
    assert jitter["brightness"] == [0.5, 1.5] and jitter["contrast"] == [0.5, 1.5]
    assert jitter["saturation"] == [0.5, 1.5] and jitter["hue"] == [-0.5, 0.5]
    composed = [s["__class_fullname__"] for s in aug.pipeline_steps(aug.preset(aug.DEFAULT_PRESET))]
    assert composed == ["HorizontalFlip", "ColorJitter", "RandomResizedCrop"]


@pytest.mark.parametrize(("preset", "flip"), [("Book: horizontal flip", np.fliplr), ("Book: vertical flip", np.flipud)])
def test_flip_presets_mirror_exactly_when_applied(cat, preset, flip):
    samples = aug.augment_samples(cat.image, aug.preset(preset), 16, 1, cat.boxes, cat.mask)
    applied = [s.steps[0].applied for s in samples]
    assert 0 < sum(applied) < 16  # p = 0.5: some flipped, some not
    for sample, was_applied in zip(samples, applied):
        expected = flip(cat.image) if was_applied else cat.image
        assert np.array_equal(sample.image, expected)
        assert np.array_equal(sample.mask, flip(cat.mask) if was_applied else cat.mask)


def test_random_resized_crop_preset_has_the_asked_size_and_uses_the_drawn_box(cat):
    height, width = cat.image.shape[:2]
    pipeline = aug.preset(BOOK_CROP)
    for sample in aug.augment_samples(cat.image, pipeline, 8, 2, cat.boxes, cat.mask):
        assert sample.image.shape == (200, 200, 3) and sample.mask.shape == (200, 200)
        params = sample.steps[0].params
        x1, y1, x2, y2 = params["crop_coords"]
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
        assert 0.1 * 0.95 <= params["crop_area_fraction"] <= 1.0
        assert 0.5 * 0.9 <= params["crop_aspect_w_over_h"] <= 2.0 * 1.1
        crop = np.ascontiguousarray(cat.image[y1:y2, x1:x2])
        reference = cv2.resize(crop, (200, 200), interpolation=cv2.INTER_LINEAR)  # (width, height)
        assert np.array_equal(sample.image, reference)


def _torch_image(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array.copy()).permute(2, 0, 1)  # (3, H, W)


def test_brightness_preset_equals_torchvision_with_the_drawn_factor(cat):
    factors = []
    for sample in aug.augment_samples(cat.image, aug.preset("Book: brightness 0.5"), 8, 3):
        params = sample.steps[0].params
        assert params["contrast"] == params["saturation"] == 1.0 and params["hue"] == 0.0
        factor = params["brightness"]
        assert 0.5 <= factor <= 1.5
        factors.append(factor)
        expected = F.adjust_brightness(_torch_image(cat.image), factor).permute(1, 2, 0).numpy()
        assert np.abs(expected.astype(int) - sample.image).max() <= 1
    assert max(factors) - min(factors) > 0.3  # the factor really varies


def test_hue_preset_matches_torchvision_with_the_drawn_shift(cat):
    for sample in aug.augment_samples(cat.image, aug.preset("Book: hue 0.5"), 4, 4):
        params = sample.steps[0].params
        assert params["brightness"] == params["contrast"] == params["saturation"] == 1.0
        assert -0.5 <= params["hue"] <= 0.5
        expected = F.adjust_hue(_torch_image(cat.image), params["hue"]).permute(1, 2, 0).numpy()
        difference = np.abs(expected.astype(int) - sample.image)
        assert difference.mean() < 1.5 and np.percentile(difference, 99) <= 4
        assert not np.array_equal(sample.image, cat.image)


def test_all_four_jitter_factors_stay_in_their_ranges(cat):
    for sample in aug.augment_samples(cat.image, aug.preset("Book: brightness, contrast, saturation, hue 0.5"), 8, 5):
        p = sample.steps[0].params
        assert all(0.5 <= p[k] <= 1.5 for k in ("brightness", "contrast", "saturation"))
        assert -0.5 <= p["hue"] <= 0.5 and sorted(p["order"]) == [0, 1, 2, 3]


def test_composed_book_pipeline_records_every_step(cat):
    samples = aug.augment_samples(cat.image, aug.preset(aug.DEFAULT_PRESET), 8, 0, cat.boxes, cat.mask)
    for sample in samples:
        assert sample.image.shape == (200, 200, 3)
        assert [s.name for s in sample.steps] == ["HorizontalFlip", "ColorJitter", "RandomResizedCrop"]
        assert sample.steps[1].applied and sample.steps[2].applied
        assert aug.summary(sample.steps[0]) in ("applied", "not applied")
        assert "brightness=" in aug.summary(sample.steps[1])


def test_rotation_angle_is_read_from_the_matrix(shapes):
    sample = aug.augment_samples(shapes.image, one_step("Rotate", limit=[30, 30], p=1.0), 1, 0)[0]
    assert sample.steps[0].params["angle_deg"] == pytest.approx(30.0, abs=1e-3)


# --- boxes and masks follow the image ----------------------------------------------------------

RECTANGLE = 0  # index of the rectangle in the shapes scene

GEOMETRIC = {
    "HorizontalFlip": aug.pipeline_dict([aug.make_step("HorizontalFlip", {"p": 1.0})]),
    "VerticalFlip": aug.pipeline_dict([aug.make_step("VerticalFlip", {"p": 1.0})]),
    "RandomResizedCrop": aug.preset(BOOK_CROP),
    "Rotate": aug.pipeline_dict([aug.make_step("Rotate", {"limit": [-45, 45], "p": 1.0})]),
    "Affine": aug.pipeline_dict([aug.make_step("Affine", {"scale": [0.7, 1.3], "translate_percent": [-0.1, 0.1],
                                                          "rotate": [-30, 30], "shear": [-15, 15], "p": 1.0})]),
    "Perspective": aug.pipeline_dict([aug.make_step("Perspective", {"scale": [0.05, 0.1], "p": 1.0})]),
    "composed book pipeline": aug.preset(aug.DEFAULT_PRESET),
}


@pytest.mark.parametrize("name", list(GEOMETRIC))
def test_box_of_a_rectangle_still_bounds_it(shapes, name):
    checked = 0
    for sample in aug.augment_samples(shapes.image, GEOMETRIC[name], 8, 11, shapes.boxes, shapes.mask):
        if RECTANGLE not in sample.kept:
            continue
        truth = aug.mask_boxes(sample.mask, len(shapes.names))[RECTANGLE]  # true extent after the transform
        box = sample.boxes[sample.kept.index(RECTANGLE)]
        iou = box_iou(torch.from_numpy(box[None]), torch.from_numpy(truth[None])).item()
        assert iou >= 0.9, f"{name}, sample {sample.index}: IoU {iou:.3f} between {box} and {truth}"
        checked += 1
    assert checked >= 4


def test_shapes_scene_boxes_are_the_exact_mask_extents(shapes):
    assert shapes.exact
    assert np.array_equal(shapes.boxes, aug.mask_boxes(shapes.mask, 3))
    x1, y1, x2, y2 = shapes.boxes[RECTANGLE].astype(int)
    assert np.all(shapes.mask[y1:y2, x1:x2] == RECTANGLE + 1)


def test_min_visibility_decides_whether_a_cut_box_is_dropped(shapes):
    """CenterCrop leaves a known fraction of the rectangle visible: kept above it, dropped below."""
    height, width = shapes.image.shape[:2]
    crop_h, crop_w = 300, 330
    cx1, cy1 = (width - crop_w) // 2, (height - crop_h) // 2
    x1, y1, x2, y2 = shapes.boxes[RECTANGLE]
    visible = (x2 - max(x1, cx1)) * (min(y2, cy1 + crop_h) - max(y1, cy1)) / ((x2 - x1) * (y2 - y1))
    assert 0.2 < visible < 0.8
    steps = [aug.make_step("CenterCrop", {"height": crop_h, "width": crop_w, "p": 1.0})]
    for threshold, dropped in ((visible - 0.05, False), (visible + 0.05, True)):
        pipeline = aug.pipeline_dict(steps, min_visibility=threshold)
        sample = aug.augment_samples(shapes.image, pipeline, 1, 0, shapes.boxes, shapes.mask)[0]
        assert (RECTANGLE in sample.dropped) is dropped
        if not dropped:  # clipped to the crop
            box = sample.boxes[sample.kept.index(RECTANGLE)]
            assert box[0] == 0 and box[2] == pytest.approx(x2 - cx1)


def test_boxes_leaving_the_image_are_reported_as_dropped(cat):
    samples = aug.augment_samples(cat.image, aug.preset(aug.DEFAULT_PRESET), 16, 0, cat.boxes, cat.mask)
    assert any(s.dropped for s in samples)
    for s in samples:
        assert sorted(s.kept + s.dropped) == list(range(len(cat.boxes)))
        assert len(s.boxes) == len(s.kept)


def test_draw_sample_draws_boxes_and_mask(shapes):
    picture = aug.draw_sample(shapes.image, shapes.boxes, [0, 1, 2], shapes.names, shapes.mask)
    assert picture.shape == shapes.image.shape and picture.dtype == np.uint8
    x1, y1, x2, y2 = shapes.boxes[RECTANGLE].astype(int)
    assert tuple(picture[y1 + 40, x1]) == aug.PALETTE[0]  # the box outline
    inside = (shapes.mask == 2)
    assert not np.array_equal(picture[inside], shapes.image[inside])  # the mask is blended in


@pytest.mark.parametrize("name", list(aug.TRANSFORMS))
def test_every_curated_transform_runs_with_boxes_and_mask(name):
    small = aug.shapes_scene(96, 128)
    step = aug.default_step(name)
    step["p"] = 1.0
    sample = aug.augment_samples(small.image, aug.pipeline_dict([step]), 1, 0, small.boxes, small.mask)[0]
    assert sample.image.dtype == np.uint8 and sample.image.ndim == 3
    assert sample.mask.shape == sample.image.shape[:2]
    assert sample.steps[0].applied
    json.dumps(sample.steps[0].params)  # JSON-friendly


def test_curated_list_covers_the_families():
    assert len(aug.TRANSFORMS) >= 20
    families = {spec.category for spec in aug.TRANSFORMS.values()}
    assert families == {"geometric", "colour", "blur/noise", "dropout", "weather"}


# --- the builder's list operations -------------------------------------------------------------


def test_move_remove_replace_steps():
    steps = aug.pipeline_steps(aug.preset(aug.DEFAULT_PRESET))
    names = lambda s: [x["__class_fullname__"] for x in s]  # noqa: E731
    assert names(aug.move_step(steps, 2, -1)) == ["HorizontalFlip", "RandomResizedCrop", "ColorJitter"]
    assert names(aug.move_step(steps, 0, -1)) == names(steps)  # clamped
    assert names(aug.remove_step(steps, 0)) == ["ColorJitter", "RandomResizedCrop"]
    assert names(aug.replace_step(steps, 1, aug.default_step("GaussianBlur")))[1] == "GaussianBlur"
    with pytest.raises(aug.PipelineError, match="does not exist"):
        aug.remove_step(steps, 3)


# --- export / import ---------------------------------------------------------------------------

ROUND_TRIP = [
    aug.preset(aug.DEFAULT_PRESET),
    aug.preset("Detection: flip + affine + brightness/contrast", min_visibility=0.5),
    aug.validate_pipeline({"transform": {"__class_fullname__": "Compose", "p": 1.0, "transforms": [
        {"__class_fullname__": "OneOf", "p": 1.0, "transforms": [aug.default_step("GaussianBlur"),
                                                               aug.default_step("MotionBlur")]},
        aug.default_step("CoarseDropout")]}}),
]


@pytest.mark.parametrize("pipeline", ROUND_TRIP)
def test_json_yaml_and_python_round_trips_are_identical(pipeline):
    assert aug.parse_pipeline(aug.to_json(pipeline)) == pipeline
    assert aug.from_text(aug.to_json(pipeline), "json") == pipeline
    assert aug.from_text(aug.to_yaml(pipeline), "yaml") == pipeline
    assert aug.parse_pipeline(aug.to_yaml(pipeline)) == pipeline
    namespace: dict = {}
    exec(aug.to_python(pipeline).split("\n# the app's grid")[0], namespace)  # noqa: S102 - our own generated code
    assert aug.validate_pipeline(A.to_dict(namespace["transform"])) == pipeline


@pytest.mark.parametrize("index", [0, 5])
def test_python_code_reproduces_a_sample_of_the_grid(cat, index):
    pipeline = aug.preset(aug.DEFAULT_PRESET)
    code = aug.to_python(pipeline, seed=5, n=8)
    assert "s = int(seeds[0])" in code
    namespace = {"image": cat.image, "mask": cat.mask, "boxes": cat.boxes}
    exec(code.replace("seeds[0]", f"seeds[{index}]"), namespace)  # noqa: S102 - a fresh pipeline, as a user would
    sample = aug.augment_samples(cat.image, pipeline, 8, 5, cat.boxes, cat.mask)[index]
    assert np.array_equal(namespace["out"]["image"], sample.image)
    assert np.array_equal(namespace["out"]["mask"], sample.mask)
    assert [int(k) for k in namespace["out"]["labels"]] == sample.kept


def test_a_step_skipped_inside_one_of_shows_no_stale_parameters(shapes):
    pipeline = aug.validate_pipeline({"transform": {"__class_fullname__": "Compose", "p": 1.0, "transforms": [
        {"__class_fullname__": "OneOf", "p": 1.0, "transforms": [aug.default_step("GaussianBlur"),
                                                               aug.default_step("MedianBlur")]}]}})
    samples = aug.augment_samples(shapes.image, pipeline, 8, 0)
    for sample in samples:
        assert [step.applied for step in sample.steps].count(True) == 1  # exactly one of the two, every time
    assert {tuple(step.applied for step in s.steps) for s in samples} == {(True, False), (False, True)}


def test_albumentations_own_dict_is_accepted():
    compose = A.Compose([A.HorizontalFlip(p=0.5), A.RandomResizedCrop(size=(96, 128), p=1.0)])
    pipeline = aug.validate_pipeline(A.to_dict(compose))
    assert [s["__class_fullname__"] for s in aug.pipeline_steps(pipeline)] == ["HorizontalFlip", "RandomResizedCrop"]
    assert pipeline["transform"]["bbox_params"]["format"] == aug.BOX_FORMAT  # boxes added for the playground
    single = aug.parse_pipeline(json.dumps({"__class_fullname__": "VerticalFlip", "p": 1.0}))
    assert aug.pipeline_steps(single)[0]["__class_fullname__"] == "VerticalFlip"


# --- clear errors ------------------------------------------------------------------------------

BAD_PIPELINES = [
    ('{"transform": {"__class_fullname__": "Compose", "transforms": [', "not valid JSON"),
    ("", "empty"),
    ("[1, 2]", "JSON object"),
    ('{"transform": {"__class_fullname__": "Compose", "p": 1, "transforms": [{"__class_fullname__": "Fooo"}]}}',
     "Unknown transform 'Fooo'"),
    ('{"transform": {"__class_fullname__": "FDA", "reference_images": ["/etc/passwd"]}}', "does not offer"),
    ('{"transform": {"__class_fullname__": "Compose", "transforms": [{"__class_fullname__": "ColorJitter", '
     '"brightnes": 0.5}]}}', "Unknown parameter(s) 'brightnes' for ColorJitter"),
    ('{"transform": {"__class_fullname__": "Compose", "transforms": [{"__class_fullname__": "ColorJitter", '
     '"brightness": -1}]}}', "Invalid parameters for ColorJitter"),
    ('{"transform": {"__class_fullname__": "Compose", "transforms": [{"__class_fullname__": "Resize", '
     '"height": 100000, "width": 10}]}}', "above the limit"),
    ('{"transform": {"__class_fullname__": "Compose", "transforms": {"a": 1}}}', '"transforms" list'),
    ('{"transform": {"transforms": []}}', "__class_fullname__"),
]


@pytest.mark.parametrize(("text", "message"), BAD_PIPELINES)
def test_bad_pipelines_get_clear_messages(text, message):
    with pytest.raises(aug.PipelineError) as error:
        aug.parse_pipeline(text)
    assert message in str(error.value)


def test_bad_run_arguments_get_clear_messages(cat):
    pipeline = aug.preset(aug.DEFAULT_PRESET)
    with pytest.raises(aug.PipelineError, match="between 1 and 16"):
        aug.augment_samples(cat.image, pipeline, 17, 0)
    with pytest.raises(aug.PipelineError, match="x2 > x1"):
        aug.augment_samples(cat.image, pipeline, 1, 0, np.array([[50, 50, 10, 60]]))
    with pytest.raises(aug.PipelineError, match="outside"):
        aug.augment_samples(cat.image, pipeline, 1, 0, np.array([[5000, 50, 5100, 60]]))
    with pytest.raises(aug.PipelineError, match="Unknown transform"):
        aug.make_step("NoSuchTransform", {})


def test_deterministic_under_threads(cat):
    """Per-request generators: concurrent grids do not disturb each other."""
    from concurrent.futures import ThreadPoolExecutor

    pipeline = aug.preset(aug.DEFAULT_PRESET)
    reference = aug.augment_samples(cat.image, pipeline, 4, 9, cat.boxes, cat.mask)
    random.seed(123)  # global state is never used
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(
            lambda _: aug.augment_samples(cat.image, pipeline, 4, 9, cat.boxes, cat.mask), range(4)))
    assert all(same_samples(reference, r) for r in results)
