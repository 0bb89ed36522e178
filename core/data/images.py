"""The one image loader every upload goes through, and the bundled sample images.

`load_image` decodes with Pillow itself so that it can refuse oversized files *before*
decoding, and normalise every odd mode (grayscale, RGBA, palettes with transparency,
16-bit, CMYK, EXIF orientation, animated first frame) to an (H, W, 3) uint8 RGB array.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
"""ImageNet's per-channel pixel mean and standard deviation (RGB, pixels in [0, 1]): the normalisation every
network of the lab uses, as the timm backbones it builds on were designed for."""

MAX_PIXELS = 40_000_000
"""Refuse images with more pixels than this (40 MP) before decoding them."""

MAX_FILE_BYTES = 50 * 1024 * 1024


class ImageLoadError(ValueError):
    """A user-facing message: the upload cannot be used as an image."""


@dataclass
class LoadedImage:
    """A decoded upload. `array` is (H, W, 3) uint8 RGB; `notices` are user-facing remarks."""

    array: np.ndarray
    notices: list[str] = field(default_factory=list)


def _open(source: str | os.PathLike | bytes | Image.Image) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    else:
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise ImageLoadError("The uploaded file could not be found.")
        size = os.path.getsize(path)
        if size == 0:
            raise ImageLoadError("The uploaded file is empty (0 bytes).")
        if size > MAX_FILE_BYTES:
            raise ImageLoadError(f"The file is too large ({size / 2**20:.0f} MiB; the limit is {MAX_FILE_BYTES // 2**20} MiB).")
        with open(path, "rb") as f:
            data = f.read()
    if len(data) == 0:
        raise ImageLoadError("The uploaded file is empty (0 bytes).")
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageLoadError("This file is not an image Pillow can read (try PNG or JPEG).") from None
    except Image.DecompressionBombError:
        raise ImageLoadError(f"The image is too large (over {MAX_PIXELS / 1e6:.0f} megapixels).") from None
    except Exception as error:  # Pillow raises many types for broken headers
        raise ImageLoadError(f"The image file is truncated or corrupt ({error}).") from None
    return image


def _to_rgb(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        array = np.asarray(image).astype(np.float64)
        top = 65535.0 if mode.startswith("I;16") else max(float(array.max()), 1.0)
        if mode == "I" and array.max() <= 65535 and array.min() >= 0:
            top = 65535.0 if array.max() > 255 else 255.0
        array = np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(array, "L").convert("RGB")
    if mode == "F":
        array = np.asarray(image, dtype=np.float64)
        low, high = float(np.nanmin(array)), float(np.nanmax(array))
        scaled = (array - low) / (high - low if high > low else 1.0) * 255.0
        return Image.fromarray(np.nan_to_num(scaled).astype(np.uint8), "L").convert("RGB")
    if mode == "P":
        image = image.convert("RGBA") if "transparency" in image.info else image.convert("RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def load_image(
    source: str | os.PathLike | bytes | Image.Image | np.ndarray,
    *,
    max_pixels: int = MAX_PIXELS,
    max_side: int | None = None,
) -> LoadedImage:
    """Decode any upload into an (H, W, 3) uint8 RGB array.

    Args:
        source: a file path, raw bytes, a PIL image or an array (H, W), (H, W, 3) or (H, W, 4).
        max_pixels: images with more pixels are refused before decoding.
        max_side: when given, larger images are downscaled so that max(H, W) == max_side,
            and a notice says so.

    Raises:
        ImageLoadError: empty, unreadable, truncated or oversized input (message is user-facing).
    """
    notices: list[str] = []
    if isinstance(source, np.ndarray):
        image = Image.fromarray(_array_to_uint8(source))
    else:
        image = _open(source)
    width, height = image.size
    if width * height > max_pixels:
        raise ImageLoadError(
            f"The image is too large: {width}x{height} = {width * height / 1e6:.1f} megapixels "
            f"(the limit is {max_pixels / 1e6:.0f} MP)."
        )
    if width == 0 or height == 0:
        raise ImageLoadError("The image has no pixels.")
    try:
        image.seek(0)
    except (EOFError, AttributeError, ValueError):
        pass
    if getattr(image, "n_frames", 1) > 1:
        notices.append("Animated image: using its first frame.")
    try:
        image.load()
        image = ImageOps.exif_transpose(image) or image
        image = _to_rgb(image)
    except ImageLoadError:
        raise
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageLoadError(f"The image file is truncated or corrupt ({error}).") from None
    if max_side is not None and max(image.size) > max_side:
        scale = max_side / max(image.size)
        new_size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        notices.append(f"Downscaled from {image.width}x{image.height} to {new_size[0]}x{new_size[1]} (max side {max_side}).")
        image = image.resize(new_size, Image.Resampling.LANCZOS)
    array = np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
    return LoadedImage(array=array, notices=notices)


def _array_to_uint8(array: np.ndarray) -> np.ndarray:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageLoadError(f"Expected an image array of shape (H, W), (H, W, 3) or (H, W, 4), got {array.shape}.")
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.uint16:
        return (array.astype(np.float64) / 65535.0 * 255.0 + 0.5).astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        top = 1.0 if float(np.nanmax(array)) <= 1.0 else 255.0
        return np.clip(np.nan_to_num(array) / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return np.clip(array, 0, 255).astype(np.uint8)


# --- bundled sample images (shipped inside installed packages, no downloads) -------------


def skimage_loader(name: str) -> Callable[[], np.ndarray]:
    """A loader of the image `skimage.data.<name>()` (bundled with scikit-image; imported on first call)."""

    def load() -> np.ndarray:
        from skimage import data

        return getattr(data, name)()

    return load


def sklearn_loader(name: str) -> Callable[[], np.ndarray]:
    """A loader of scikit-learn's bundled sample image `name` ("china.jpg", "flower.jpg")."""

    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_image

        return load_sample_image(name)

    return load


SAMPLE_IMAGES: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": skimage_loader("astronaut"),
    "chelsea (cat)": skimage_loader("chelsea"),
    "coffee": skimage_loader("coffee"),
    "rocket": skimage_loader("rocket"),
    "china (sklearn)": sklearn_loader("china.jpg"),
    "flower (sklearn)": sklearn_loader("flower.jpg"),
}
"""Names shown in the UI -> loaders of images bundled with scikit-image / scikit-learn."""

CAT_SAMPLE = "chelsea (cat)"
CAT_PARTS: dict[str, tuple[int, int, int, int]] = {
    "left eye": (133, 84, 210, 147),
    "right eye": (293, 108, 344, 164),
    "nose": (234, 222, 294, 266),
}
"""Hand-placed corner boxes (x1, y1, x2, y2) in pixels of the cat's eyes and nose in the `CAT_SAMPLE` image
(451 x 300): the one definition the Augmentation and the Anchors & IoU tabs both draw."""


@lru_cache(maxsize=None)
def _sample_cached(name: str) -> np.ndarray:
    array = load_image(SAMPLE_IMAGES[name]()).array
    array.setflags(write=False)
    return array


def sample_image(name: str) -> np.ndarray:
    """A bundled sample as an (H, W, 3) uint8 RGB array (a fresh, writable copy)."""
    if name not in SAMPLE_IMAGES:
        raise ImageLoadError(f"Unknown sample image {name!r}; choose one of {sorted(SAMPLE_IMAGES)}.")
    return _sample_cached(name).copy()
