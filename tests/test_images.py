"""The shared image loader: every odd file a phone or a probe can send."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from core.data.images import MAX_PIXELS, SAMPLE_IMAGES, ImageLoadError, load_image, sample_image


def _encode(image: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def test_rgb_png_round_trip():
    array = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    loaded = load_image(_encode(Image.fromarray(array)))
    assert loaded.array.dtype == np.uint8 and loaded.array.shape == (20, 30, 3)
    np.testing.assert_array_equal(loaded.array, array)
    assert loaded.notices == []


def test_grayscale_becomes_three_equal_channels():
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8)
    out = load_image(_encode(Image.fromarray(gray, "L"))).array
    assert out.shape == (8, 8, 3)
    np.testing.assert_array_equal(out[..., 0], gray)
    np.testing.assert_array_equal(out[..., 1], out[..., 2])


def test_rgba_is_composited_on_white():
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., 0] = 255  # red, fully transparent except the first pixel
    rgba[0, 0, 3] = 255
    out = load_image(_encode(Image.fromarray(rgba, "RGBA"))).array
    assert tuple(out[0, 0]) == (255, 0, 0)
    assert tuple(out[1, 1]) == (255, 255, 255)


def test_palette_with_transparency():
    image = Image.new("P", (6, 6), 1)
    image.putpalette([0, 0, 0, 10, 200, 30] + [0] * (256 * 3 - 6))
    image.info["transparency"] = 0
    image.putpixel((0, 0), 0)
    out = load_image(_encode(image, transparency=0)).array
    assert tuple(out[3, 3]) == (10, 200, 30)
    assert tuple(out[0, 0]) == (255, 255, 255)


def test_sixteen_bit_is_scaled_not_clipped():
    ramp = np.linspace(0, 65535, 32 * 32).astype(np.uint16).reshape(32, 32)
    out = load_image(_encode(Image.fromarray(ramp, "I;16"))).array[..., 0]
    assert out.min() == 0 and out.max() == 255
    # a mid-grey 16-bit value stays mid-grey instead of saturating to white
    assert 100 < out[16, 0] < 160
    assert (out == 255).mean() < 0.05


def test_cmyk_jpeg():
    cmyk = Image.new("CMYK", (10, 10), (0, 255, 255, 0))  # red in CMYK
    out = load_image(_encode(cmyk, "JPEG")).array
    assert out.shape == (10, 10, 3)
    assert out[5, 5, 0] > 200 and out[5, 5, 1] < 60


EXIF_ORIENTATION = 0x0112

DISPLAYED = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],  # mirrored left-right
    3: lambda a: a[::-1, ::-1],  # rotated 180 degrees
    4: lambda a: a[::-1, :],  # mirrored top-bottom
    5: lambda a: a.transpose(1, 0, 2),  # mirrored along the main diagonal
    6: lambda a: np.rot90(a, k=-1),  # rotated 90 degrees clockwise
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),  # mirrored along the other diagonal
    8: lambda a: np.rot90(a, k=1),  # rotated 90 degrees counter-clockwise
}
"""How a viewer shows the stored pixels for each EXIF orientation (the TIFF/EXIF 2.3 definitions), in numpy alone:
an expectation independent of Pillow's `exif_transpose`, which the loader uses."""


def _marked_picture(height: int = 4, width: int = 6) -> np.ndarray:
    """Every pixel a different colour: any wrong rotation or mirror moves some colour."""
    index = np.arange(height * width).reshape(height, width)
    return np.stack([index * 7 % 256, index * 11 % 256, 255 - index], axis=-1).astype(np.uint8)


def _with_orientation(array: np.ndarray, orientation: int, fmt: str = "PNG", **kwargs) -> bytes:
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    return _encode(Image.fromarray(array), fmt, exif=exif.tobytes(), **kwargs)


@pytest.mark.parametrize("orientation", sorted(DISPLAYED))
def test_exif_orientation_shows_the_picture_as_a_viewer_does(orientation):
    """Lossless (PNG with an eXIf chunk): every pixel where a viewer shows it; a rotation the wrong way round
    (6 for 8) or a mirror instead of a rotation fails here."""
    stored = _marked_picture()
    out = load_image(_with_orientation(stored, orientation)).array
    np.testing.assert_array_equal(out, DISPLAYED[orientation](stored))


def test_the_eight_orientations_are_told_apart():
    """The expectation itself: the eight displays of the marked picture are eight different arrays."""
    shown = {orientation: DISPLAYED[orientation](_marked_picture()) for orientation in DISPLAYED}
    assert len({(a.shape, a.tobytes()) for a in shown.values()}) == 8


@pytest.mark.parametrize("orientation", sorted(DISPLAYED))
def test_exif_orientation_of_a_phone_jpeg_moves_the_marked_corner(orientation):
    """A JPEG as phones write it: a red block in the stored top-left corner ends where the viewer shows it."""
    stored = np.full((60, 90, 3), 255, np.uint8)
    stored[:20, :20] = (255, 0, 0)
    out = load_image(_with_orientation(stored, orientation, "JPEG", quality=95)).array
    expected = DISPLAYED[orientation](stored)
    assert out.shape == expected.shape
    red = (out[..., 0] > 200) & (out[..., 1] < 80) & (out[..., 2] < 80)
    expected_red = (expected[..., 0] == 255) & (expected[..., 1] == 0)
    assert (red == expected_red).mean() > 0.99


def test_animated_gif_first_frame_with_notice():
    frames = [Image.new("RGB", (8, 8), colour) for colour in ((255, 0, 0), (0, 255, 0))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    loaded = load_image(buffer.getvalue())
    assert loaded.array[4, 4, 0] > 200 and loaded.array[4, 4, 1] < 50
    assert any("first frame" in n for n in loaded.notices)


@pytest.mark.parametrize(
    "data, message",
    [(b"", "empty"), (b"this is not an image at all", "not an image"), (b"%PDF-1.4\n", "not an image")],
)
def test_bad_bytes_give_clear_messages(data, message):
    with pytest.raises(ImageLoadError, match=message):
        load_image(data)


def test_truncated_file():
    data = _encode(Image.fromarray(np.full((64, 64, 3), 128, np.uint8)), "JPEG")
    with pytest.raises(ImageLoadError, match="truncated or corrupt"):
        load_image(data[: len(data) // 2])


def test_pixel_cap_refused_before_decoding(tmp_path):
    # A 1-bit 8000x6000 PNG is tiny on disk but 48 MP: it must be refused from its header.
    big = Image.new("1", (8000, 6000))
    path = tmp_path / "bomb.png"
    big.save(path)
    assert path.stat().st_size < 1_000_000
    with pytest.raises(ImageLoadError, match="too large"):
        load_image(path)
    assert 8000 * 6000 > MAX_PIXELS


def test_downscale_notice():
    loaded = load_image(np.zeros((300, 1200, 3), np.uint8), max_side=600)
    assert loaded.array.shape == (150, 600, 3)
    assert "Downscaled" in loaded.notices[0]


def test_missing_path(tmp_path):
    with pytest.raises(ImageLoadError, match="could not be found"):
        load_image(tmp_path / "nope.png")


def test_float_and_uint16_arrays():
    assert load_image(np.ones((2, 2), np.float32)).array.max() == 255
    assert load_image(np.full((2, 2, 3), 65535, np.uint16)).array.min() == 255
    with pytest.raises(ImageLoadError, match="shape"):
        load_image(np.zeros((2, 2, 5), np.uint8))


def test_every_sample_image_loads_offline():
    for name in SAMPLE_IMAGES:
        image = sample_image(name)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3 and min(image.shape[:2]) > 100
    first = sample_image("astronaut")
    original = first[0, 0].copy()
    first[0, 0] = original + 1  # callers get their own copy: the cache is untouched
    np.testing.assert_array_equal(sample_image("astronaut")[0, 0], original)
    with pytest.raises(ImageLoadError, match="Unknown sample"):
        sample_image("nope")
