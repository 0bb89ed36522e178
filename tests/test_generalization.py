"""core.training.generalization: augmentation's effect on held-out accuracy, measured.

The claim (from scratch, the default pipeline beats no augmentation by at least 5 points of held-out accuracy) is
tested on two seeds with the real configuration; `python -m benchmarks.generalization` shows it over ten. Other tests
use short runs.
"""

from __future__ import annotations

import json
import random

import albumentations as A
import numpy as np
import pytest

from core.data import augment as aug
from core.models import finetune as ft
from core.training import generalization as gen

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SHORT = dict(examples_per_class=2, epochs=3, batch_size=10)
"""A short run for the tests that check the bookkeeping, not the claim."""

MIN_GAIN_POINTS = 5.0


@pytest.fixture(scope="module")
def source():
    return ft.load_source()


def _digits(count: int = 5) -> np.ndarray:
    images, _ = ft.load_target_digits()
    return ft.to_input(images[:count], 0.0, 1.0)[:, 0].numpy()  # (count, 32, 32) in [0, 1]


@pytest.mark.parametrize("start", gen.STARTS)
def test_a_run_has_one_entry_per_epoch_and_the_gap_is_train_minus_held_out(source, start):
    config = gen.GeneralizationConfig(start=start, seed=4, **SHORT)
    states = [(s.epoch, list(s.test_accuracy)) for s in gen.train(config, "default", *source)]
    assert [epoch for epoch, _ in states] == [1, 2, 3]  # one yield per epoch, the curves growing
    assert [len(test) for _, test in states] == [1, 2, 3]
    result = gen.run(config, "default", *source).to_dict()
    for key in ("train_accuracy", "test_accuracy", "gap", "loss"):
        assert len(result[key]) == SHORT["epochs"], key
    for train, test, gap in zip(result["train_accuracy"], result["test_accuracy"], result["gap"]):
        assert 0.0 <= train <= 1.0 and 0.0 <= test <= 1.0
        assert gap == pytest.approx(train - test)
        assert round(train * 20) == pytest.approx(train * 20, abs=1e-6)  # 20 labelled digits: multiples of 1/20
        assert round(test * 500) == pytest.approx(test * 500, abs=1e-4)  # 500 held-out digits
    assert result["final_test_accuracy"] == result["test_accuracy"][-1]
    assert result["final_gap"] == pytest.approx(result["train_accuracy"][-1] - result["test_accuracy"][-1])
    assert result["augmentation"] == "default" and result["start"] == start and result["seconds"] > 0


def test_the_same_seed_gives_the_same_run_and_another_seed_another(source):
    config = gen.GeneralizationConfig(seed=11, **SHORT)
    first = gen.run(config, "default", *source)
    second = gen.run(config, "default", *source)
    assert first.test_accuracy == second.test_accuracy and first.loss == second.loss
    other = gen.run(gen.GeneralizationConfig(seed=12, **SHORT), "default", *source)
    assert other.loss != first.loss
    unaugmented = gen.run(config, "none", *source)
    assert unaugmented.loss != first.loss  # same digits, weights and order: only the augmentation differs


def test_the_global_random_state_does_not_matter(source):
    """A run draws only from its own generators: other global seeds give the same run, and the global NumPy and
    Python states do not move (torch's does: timm's constructor initialises the weights from it, and
    `finetune.build_model` then draws every weight again from the run's generator)."""
    import torch

    config = gen.GeneralizationConfig(seed=5, examples_per_class=1, epochs=2, batch_size=10)
    np.random.seed(1), random.seed(1), torch.manual_seed(1)
    before = (np.random.get_state()[1].copy(), random.getstate())
    first = gen.run(config, "default", *source).loss
    np.testing.assert_array_equal(before[0], np.random.get_state()[1])
    assert before[1] == random.getstate()
    np.random.seed(2), random.seed(2), torch.manual_seed(2)
    assert gen.run(config, "default", *source).loss == first


@pytest.mark.parametrize("seed", [0, 1])
def test_from_scratch_the_default_pipeline_beats_no_augmentation_by_five_points(source, seed):
    config = gen.GeneralizationConfig(start="scratch", seed=seed)
    without = gen.run(config, "none", *source)
    with_ = gen.run(config, "default", *source)
    gain = 100 * (with_.test_accuracy[-1] - without.test_accuracy[-1])
    print(f"\nseed {seed}: held-out {100 * without.test_accuracy[-1]:.1f}% without, "
          f"{100 * with_.test_accuracy[-1]:.1f}% with the default pipeline ({gain:+.1f} points); "
          f"gaps {100 * without.gap[-1]:.1f} vs {100 * with_.gap[-1]:.1f}")
    assert gain >= MIN_GAIN_POINTS
    assert with_.gap[-1] < without.gap[-1]  # augmentation narrows the generalisation gap


def test_augment_digits_applies_the_pipeline_as_albumentations_does():
    """A seeded Affine through our grey <-> RGB wrapping equals Albumentations on the same picture and generators."""
    steps = [{"__class_fullname__": "Affine", "p": 1.0, "rotate": [-20, 20], "shear": [-10, 10]}]
    pipeline = aug.pipeline_dict(steps)
    digits = _digits(4)
    ours = gen.augment_digits(digits, gen.build_augmenter(pipeline, seed=3))
    reference = A.Compose([A.Affine(rotate=(-20, 20), shear=(-10, 10), p=1.0)])
    reference.set_random_state(np.random.default_rng(3), random.Random(3))
    for digit, out in zip(digits, ours):
        picture = np.repeat(np.round(digit * 255).astype(np.uint8)[:, :, None], 3, axis=2)
        expected = reference(image=picture)["image"].astype(np.float32).mean(axis=2) / 255.0
        np.testing.assert_allclose(out, expected, atol=1e-6)
    assert np.abs(ours - digits).max() > 0.2  # it did move the strokes


def test_flips_and_resizes_reach_the_network_as_32x32_grey_digits():
    digits = _digits(3)
    flipped = gen.augment_digits(digits, gen.build_augmenter(
        aug.pipeline_dict([{"__class_fullname__": "HorizontalFlip", "p": 1.0}]), seed=0))
    np.testing.assert_allclose(flipped, digits[:, :, ::-1], atol=0.5 / 255)  # only uint8 rounding
    resized = gen.augment_digits(digits, gen.build_augmenter(
        aug.pipeline_dict([{"__class_fullname__": "Resize", "p": 1.0, "height": 64, "width": 64}]), seed=0))
    assert resized.shape == digits.shape and resized.dtype == np.float32
    np.testing.assert_allclose(resized, digits, atol=0.08)  # up to 64x64 and back: nearly the same picture


def test_the_augmentation_tab_export_runs_with_notes():
    """The Augmentation tab's default (the book's flip + ColorJitter + RandomResizedCrop 200x200) works on digits:
    its 200x200 output is resized back, and the flip is flagged as changing a digit's class."""
    exported = aug.to_json(aug.preset(aug.DEFAULT_PRESET))
    pipeline = gen.resolve_augmentation(exported)
    notes = gen.check_pipeline(pipeline)
    assert any("200x200" in note and "resized back to 32x32" in note for note in notes), notes
    assert any(note.startswith("HorizontalFlip") for note in notes), notes
    clean, augmented = gen.preview(pipeline, seed=0, draws=2)
    assert clean.shape == (10, 32, 32) and augmented.shape == (2, 10, 32, 32)
    assert gen.check_pipeline(gen.default_pipeline()) == []


def test_the_default_pipeline_has_no_transform_that_changes_a_digit():
    names = gen.transform_names(gen.default_pipeline())
    assert names and not set(names) & set(gen.MEANING_CHANGING)
    assert gen.resolve_augmentation("none") is None
    assert gen.resolve_augmentation(" Default ") == gen.default_pipeline()
    assert gen.resolve_augmentation(json.dumps(gen.default_pipeline())) == gen.default_pipeline()


@pytest.mark.parametrize("text, message", [
    ('{"transform": {"__class_fullname__": "Compose", "transforms": [', "not valid JSON"),
    ('{"__class_fullname__": "Sparkle", "p": 1}', "Unknown transform 'Sparkle'"),
    ('{"__class_fullname__": "Rotate", "limit": [-10, 10], "wobble": 3}', "Unknown parameter(s) 'wobble'"),
    ('{"__class_fullname__": "RandomCrop", "height": 200, "width": 200}', "cannot run on the 32x32 digit images"),
    ('{"__class_fullname__": "Resize", "height": 512, "width": 512}', "at most 256x256 here"),
    ("defualt", "must be 'none', 'default' or an Albumentations pipeline"),
    ("", "must be 'none', 'default' or an Albumentations pipeline"),
])
def test_bad_pipelines_get_a_clear_message(text, message):
    with pytest.raises(aug.PipelineError) as error:
        gen.resolve_augmentation(text)
    assert message in str(error.value)


def test_bad_settings_get_a_clear_message(source):
    with pytest.raises(ValueError, match="start must be one of scratch, pretrained"):
        gen.GeneralizationConfig(start="imagenet").validate()
    with pytest.raises(ValueError, match="Epochs must be between"):
        gen.GeneralizationConfig(epochs=0).validate()
    with pytest.raises(ValueError, match="must split into whole batches of 16: a last batch of 4"):
        gen.GeneralizationConfig(examples_per_class=2, batch_size=16).validate()
    gen.GeneralizationConfig(examples_per_class=2, batch_size=20).validate()
    gen.GeneralizationConfig(examples_per_class=2, batch_size=32).validate()  # one batch of all 20
    with pytest.raises(ValueError, match="Seed must be between"):
        next(gen.train(gen.GeneralizationConfig(seed=-1), "none", *source))
