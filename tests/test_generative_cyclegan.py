"""core.models.cyclegan: the unpaired domains, the generators, round trips of the embedded model."""

import numpy as np
import pytest
import torch

from core.models import cyclegan
from core.weights.registry import load_model


def test_domains_are_unpaired_halves():
    a_parts, b_parts = cyclegan.domain_images()
    assert len(a_parts) == len(b_parts) == len(cyclegan.TRAIN_PHOTOS)
    for name, a, b in zip(cyclegan.TRAIN_PHOTOS, a_parts, b_parts):
        photo = cyclegan.to_working_size(cyclegan.bundled_photo(name))
        half = photo.shape[1] // 2
        assert np.array_equal(a, photo[:, :half])  # A: the left half, as it is
        assert b.shape[1] == photo.shape[1] - half  # B: only the right half, filtered
        assert np.array_equal(b, cyclegan.night_filter(photo)[:, half:])
    assert cyclegan.HELD_OUT_PHOTO not in cyclegan.TRAIN_PHOTOS


def test_working_size_and_crops():
    image = np.zeros((300, 451, 3), dtype=np.uint8)
    small = cyclegan.to_working_size(image)
    assert max(small.shape[:2]) == cyclegan.WORK_SIDE and small.shape[0] % 4 == 0 and small.shape[1] % 4 == 0
    parts = [np.full((40, 50, 3), 255, dtype=np.uint8)]
    crops = cyclegan.random_crops(parts, 5, 32, torch.Generator().manual_seed(0))
    assert crops.shape == (5, 3, 32, 32) and float(crops.min()) == 1.0


def test_generator_is_fully_convolutional():
    config = cyclegan.CycleGANConfig()
    generator, discriminator = cyclegan.CycleGenerator(config).eval(), cyclegan.PatchDiscriminator(config)
    with torch.no_grad():
        for shape in [(1, 3, 32, 32), (2, 3, 40, 64)]:
            assert generator(torch.zeros(shape)).shape == shape
        assert discriminator(torch.zeros(2, 3, 32, 32)).shape == (2, 1, 6, 6)


def test_held_out_round_trips_of_the_embedded_model():
    model = load_model("cyclegan")
    photo = cyclegan.to_working_size(cyclegan.bundled_photo(cyclegan.HELD_OUT_PHOTO))
    night = cyclegan.night_filter(photo)
    there = cyclegan.translate(model, photo, "A->B")
    back = cyclegan.translate(model, night, "B->A")
    for result in (there, back):
        assert result.translated.shape == photo.shape and result.reconstructed.shape == photo.shape
        assert 0 < result.cycle_loss < 0.2
        expected = float((cyclegan.to_tensor(result.reconstructed) - cyclegan.to_tensor(result.source)).abs().mean())
        assert result.cycle_loss == pytest.approx(expected, abs=0.01)  # the reported loss is the pictured one
    # G moved the unseen photo most of the way to its true night grade (never seen paired with it), F back
    target = cyclegan.to_tensor(night)
    baseline = float((cyclegan.to_tensor(photo) - target).abs().mean())
    assert float((cyclegan.to_tensor(there.translated) - target).abs().mean()) < 0.5 * baseline
    assert float((cyclegan.to_tensor(back.translated) - cyclegan.to_tensor(photo)).abs().mean()) < 0.5 * baseline


def test_night_filter_matches_its_formula():
    pixel = np.array([[[200, 100, 50]]], dtype=np.uint8)
    x = pixel[0, 0] / 255
    grey = 0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]
    mixed = cyclegan.NIGHT_SATURATION * x + (1 - cyclegan.NIGHT_SATURATION) * grey
    expected = np.clip(mixed**cyclegan.NIGHT_GAMMA * cyclegan.NIGHT_GAIN + cyclegan.NIGHT_OFFSET, 0, 1) * 255
    assert np.abs(cyclegan.night_filter(pixel)[0, 0] - expected).max() <= 0.5 + 1e-6
    assert cyclegan.night_filter(pixel).dtype == np.uint8


def test_bad_direction_and_image_are_refused():
    model = load_model("cyclegan")
    with pytest.raises(ValueError, match="direction"):
        cyclegan.translate(model, np.zeros((8, 8, 3), dtype=np.uint8), "A->C")
    with pytest.raises(ValueError, match="uint8"):
        cyclegan.translate(model, np.zeros((8, 8), dtype=np.float32), "A->B")
