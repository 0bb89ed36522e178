"""The generated detection / segmentation dataset: textured shapes and horse silhouettes on real backgrounds.

Every scene is a pure function of its seed (``numpy.random.default_rng(seed)``): the same seed gives the
same pixels, boxes and masks on every machine. Nothing is downloaded: backgrounds are random crops of images
bundled with scikit-image (grass, gravel, brick textures; astronaut, coffee, chelsea, rocket, camera photos)
and scikit-learn (china, flower), objects are drawn with OpenCV or cut out of scikit-image's horse silhouette.

What makes the task honest (but learnable by a small detector):
  * five classes that differ by *shape only*: every object gets a random colour, a texture (a crop of a
    bundled texture), a shading gradient and a rotation, so colour is never a shortcut;
  * object sizes are log-uniform between 18 and 112 pixels on a 256x256 scene, so a single anchor scale
    cannot cover them: multiscale detection matters;
  * objects overlap and hide each other, and may be cut by the image border.

Occlusion and boxes (the rules every consumer can rely on):
  * objects are painted bottom to top in the order of ``Scene.boxes``; a pixel belongs to the top object;
  * an object whose *visible* pixels (not hidden by objects above it, inside the image) are fewer than
    ``MIN_VISIBLE_FRACTION`` (60 %) of its full area, or fewer than ``config.min_visible_pixels``, is not drawn
    at all (no pixels, no box, no label) — so every labelled object is clearly recognisable;
  * a box is the tight extent of its object's visible pixels in pixel-edge coordinates: pixel (row y, column x)
    covers [x, x+1) x [y, y+1), so an object whose visible pixels span columns 10..19 has x1 = 10, x2 = 20
    (``torchvision.ops.masks_to_boxes(m) + [0, 0, 1, 1]``);
  * ``Scene.mask`` is the class map (0 = background, k + 1 = class k) and ``Scene.instance_mask`` the object map
    (0 = background, i + 1 = the object in row i of ``boxes``).

A caller's background (a student's photo) replaces the generated one: with ``size=None`` the scene keeps the
photo's own size (objects are scaled by min(H, W) / 256 so that they look the same relative to the image);
with an explicit ``size`` the photo is resized to cover that size and centre-cropped. The objects drawn for a
seed do not depend on the background (they come from their own child generator); only the colours may, since an
object's colour is chosen to contrast with what lies underneath it.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Sequence

import cv2
import numpy as np

from core.data.images import sklearn_loader, skimage_loader

CLASS_NAMES: tuple[str, ...] = ("disc", "ring", "triangle", "star", "horse")
"""Class k has mask value k + 1; label 0 in `Scene.labels` is "disc"."""

NUM_CLASSES = len(CLASS_NAMES)
BACKGROUND = 0
"""Mask value of background pixels."""

CLASS_COLORS: tuple[str, ...] = ("#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4")
"""Display colour of each class (boxes, mask overlays, legends), in `CLASS_NAMES` order."""

DEFAULT_SIZE: tuple[int, int] = (256, 256)
"""(H, W) of a generated scene when neither `size` nor a background is given."""

REFERENCE_SIDE = 256
"""Object sizes in `SceneConfig` are pixels on a scene whose shorter side is this long; they scale with it."""

MIN_VISIBLE_FRACTION = 0.6
"""An object with less of its area visible (occluded or outside the image) is not drawn at all."""

SPLITS: dict[str, range] = {
    "train": range(0, 1_000_000),
    "val": range(1_000_000, 1_000_500),
    "test": range(2_000_000, 2_000_500),
}
"""Disjoint seed ranges. The test split is exactly 500 scenes; training uses a prefix of "train"."""


@dataclass(frozen=True)
class SceneConfig:
    """How scenes are generated. Sizes are in pixels at `REFERENCE_SIDE`; they scale with the scene."""

    min_objects: int = 3  # objects attempted per scene (some may be dropped for occlusion)
    max_objects: int = 8
    min_object_size: float = 18.0  # side of the object's square before rotation, log-uniform in [min, max]
    max_object_size: float = 112.0
    min_visible_fraction: float = MIN_VISIBLE_FRACTION  # see the module docstring
    min_visible_pixels: int = 40  # at REFERENCE_SIDE; scaled by area
    texture_strength: float = 0.35  # how much the object's texture modulates its colour (0 = flat)
    min_colour_distance: float = 90.0  # RGB distance wanted between an object and the background under it
    max_blur_sigma: float = 0.9  # the finished image is blurred with sigma ~ U(0, max) (softens hard edges)


DEFAULT_CONFIG = SceneConfig()


@dataclass
class Scene:
    """One generated scene.

    Attributes:
        image: (H, W, 3) uint8 RGB.
        boxes: (N, 4) float32, (x1, y1, x2, y2) pixel-edge coordinates of each object's visible pixels.
        labels: (N,) int64 class indices into `CLASS_NAMES` (0-based).
        mask: (H, W) uint8 class map: 0 = background, k + 1 = class k.
        instance_mask: (H, W) uint8 object map: 0 = background, i + 1 = object i (row i of `boxes`).
        visible_fraction: (N,) float32 share of each object's full area that is visible.
        seed: the seed it was generated from.
    """

    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    mask: np.ndarray
    instance_mask: np.ndarray
    visible_fraction: np.ndarray
    seed: int = 0
    class_names: tuple[str, ...] = field(default=CLASS_NAMES)

    def annotations(self) -> list[dict]:
        """Ground truth as JSON-friendly dicts: ``[{"box": [x1, y1, x2, y2], "label": k, "class_name": ...}]``."""
        return [
            {"box": [float(v) for v in box], "label": int(label), "class_name": self.class_names[int(label)]}
            for box, label in zip(self.boxes, self.labels)
        ]


# --- bundled sources (loaded once per process, lazily) ------------------------------------------------------


BACKGROUND_SOURCES: dict[str, Callable[[], np.ndarray]] = {
    "grass": skimage_loader("grass"),
    "gravel": skimage_loader("gravel"),
    "brick": skimage_loader("brick"),
    "camera": skimage_loader("camera"),
    "astronaut": skimage_loader("astronaut"),
    "coffee": skimage_loader("coffee"),
    "chelsea": skimage_loader("chelsea"),
    "rocket": skimage_loader("rocket"),
    "china": sklearn_loader("china.jpg"),
    "flower": sklearn_loader("flower.jpg"),
}
"""Bundled images that backgrounds are cropped from (grayscale ones get a random tint)."""

TEXTURE_SOURCES: tuple[str, ...] = ("grass", "gravel", "brick")
"""Grayscale textures that modulate the objects' colours."""


@lru_cache(maxsize=None)
def _source(name: str) -> np.ndarray:
    array = np.ascontiguousarray(BACKGROUND_SOURCES[name]())
    array.setflags(write=False)
    return array


@lru_cache(maxsize=None)
def _texture(name: str) -> np.ndarray:
    """A texture as float32 in [-1, 1] with zero mean (modulation around the object's colour)."""
    gray = _source(name).astype(np.float32)
    gray = (gray - gray.mean()) / (3.0 * gray.std() + 1e-6)
    texture = np.clip(gray, -1.0, 1.0)
    texture.setflags(write=False)
    return texture


@lru_cache(maxsize=None)
def _horse() -> np.ndarray:
    """The horse silhouette cropped tight, float32 (h, w) with 1 on the horse."""
    from skimage import data

    horse = ~data.horse()  # skimage stores the horse as False on a True background
    rows, cols = np.nonzero(horse)
    crop = horse[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].astype(np.float32)
    crop.setflags(write=False)
    return crop


# --- backgrounds -------------------------------------------------------------------------------------------


def _random_background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A random crop of a bundled image, flipped and colour-shifted, resized to (H, W, 3) uint8."""
    height, width = size
    names = list(BACKGROUND_SOURCES)
    source = _source(names[int(rng.integers(len(names)))])
    src_h, src_w = source.shape[:2]
    aspect = width / height
    scale = rng.uniform(0.3, 1.0)
    crop_h = max(8, int(round(min(src_h, src_w / aspect) * scale)))  # crop with the scene's aspect ratio
    crop_w = max(8, min(src_w, int(round(crop_h * aspect))))
    top = int(rng.integers(0, src_h - crop_h + 1))
    left = int(rng.integers(0, src_w - crop_w + 1))
    crop = source[top : top + crop_h, left : left + crop_w]
    interpolation = cv2.INTER_AREA if crop_h > height else cv2.INTER_LINEAR
    image = cv2.resize(crop, (width, height), interpolation=interpolation).astype(np.float32)
    if image.ndim == 2:  # grayscale texture or photo: tint it
        tint = rng.uniform(0.55, 1.1, size=3).astype(np.float32)
        image = image[..., None] * (tint / tint.max())
    else:
        gray = image.mean(axis=2, keepdims=True)
        saturation = rng.uniform(0.5, 1.2)
        image = gray + (image - gray) * saturation
        image = image[..., rng.permutation(3)] if rng.random() < 0.3 else image  # a colour shift
    if rng.random() < 0.5:
        image = image[:, ::-1]
    if rng.random() < 0.5:
        image = image[::-1]
    contrast = rng.uniform(0.6, 1.1)
    brightness = rng.uniform(-30.0, 30.0)
    mean = image.mean()
    image = (image - mean) * contrast + mean + brightness
    return np.clip(image, 0, 255)


def fit_background(background: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """A caller's photo as the scene's background, (H, W, 3) uint8.

    With `size=None` the photo keeps its size; otherwise it is resized to cover (H, W) and centre-cropped.
    Grayscale (H, W) and RGBA (H, W, 4) inputs are converted to RGB.
    """
    array = np.asarray(background)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"background must be (H, W), (H, W, 3) or (H, W, 4), got shape {array.shape}")
    array = array[..., :3]
    if array.dtype != np.uint8:
        raise ValueError(f"background must be uint8, got {array.dtype}")
    if min(array.shape[:2]) < 16:
        raise ValueError(f"background is too small ({array.shape[1]}x{array.shape[0]}); at least 16x16 pixels")
    if size is None:
        return np.ascontiguousarray(array)
    height, width = size
    scale = max(height / array.shape[0], width / array.shape[1])
    new_w = max(width, int(math.ceil(array.shape[1] * scale)))
    new_h = max(height, int(math.ceil(array.shape[0] * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(np.ascontiguousarray(array), (new_w, new_h), interpolation=interpolation)
    top, left = (new_h - height) // 2, (new_w - width) // 2
    return np.ascontiguousarray(resized[top : top + height, left : left + width])


# --- object shapes: each returns a bool alpha (s, s) with the shape centred in it ----------------------------

_SUBPIXEL_BITS = 4
_SUBPIXEL = 1 << _SUBPIXEL_BITS


def _canvas(side: int) -> np.ndarray:
    return np.zeros((side, side), np.uint8)


def _polygon(side: int, points: np.ndarray) -> np.ndarray:
    canvas = _canvas(side)
    cv2.fillPoly(canvas, [np.round(points * _SUBPIXEL).astype(np.int32)], 1, cv2.LINE_8, _SUBPIXEL_BITS)
    return canvas.astype(bool)


def _circle(canvas: np.ndarray, center: float, radius: float, value: int) -> None:
    c = int(round(center * _SUBPIXEL))
    cv2.circle(canvas, (c, c), int(round(radius * _SUBPIXEL)), value, -1, cv2.LINE_8, _SUBPIXEL_BITS)


def _shape_disc(rng: np.random.Generator, size: float, side: int) -> np.ndarray:
    canvas = _canvas(side)
    _circle(canvas, (side - 1) / 2, size / 2, 1)
    return canvas.astype(bool)


def _shape_ring(rng: np.random.Generator, size: float, side: int) -> np.ndarray:
    canvas = _canvas(side)
    _circle(canvas, (side - 1) / 2, size / 2, 1)
    _circle(canvas, (side - 1) / 2, size / 2 * rng.uniform(0.45, 0.6), 0)
    return canvas.astype(bool)


def _regular_points(rng: np.random.Generator, radii: np.ndarray, side: int) -> np.ndarray:
    angles = rng.uniform(0, 2 * np.pi) + np.arange(len(radii)) * (2 * np.pi / len(radii))
    center = (side - 1) / 2
    return np.stack([center + radii * np.cos(angles), center + radii * np.sin(angles)], axis=1)  # (P, 2) x, y


def _shape_triangle(rng: np.random.Generator, size: float, side: int) -> np.ndarray:
    radii = size / 2 * rng.uniform(0.9, 1.1, size=3)
    return _polygon(side, _regular_points(rng, radii, side))


def _shape_star(rng: np.random.Generator, size: float, side: int) -> np.ndarray:
    inner = rng.uniform(0.38, 0.5)
    radii = size / 2 * np.tile([1.0, inner], 5)  # 5 tips alternating with 5 notches
    return _polygon(side, _regular_points(rng, radii, side))


def _shape_horse(rng: np.random.Generator, size: float, side: int) -> np.ndarray:
    horse = _horse()
    if rng.random() < 0.5:
        horse = horse[:, ::-1]
    scale = size / max(horse.shape)
    angle = rng.uniform(-35.0, 35.0)
    matrix = cv2.getRotationMatrix2D((horse.shape[1] / 2, horse.shape[0] / 2), angle, scale)
    matrix[:, 2] += np.array([(side - 1) / 2, (side - 1) / 2]) - np.array([horse.shape[1] / 2, horse.shape[0] / 2])
    warped = cv2.warpAffine(np.ascontiguousarray(horse), matrix, (side, side), flags=cv2.INTER_LINEAR)
    return warped >= 0.5


SHAPES: tuple[Callable[[np.random.Generator, float, int], np.ndarray], ...] = (
    _shape_disc,
    _shape_ring,
    _shape_triangle,
    _shape_star,
    _shape_horse,
)
"""Shape renderer of each class, in `CLASS_NAMES` order: (rng, size, canvas side) -> bool (side, side)."""


# --- appearance -------------------------------------------------------------------------------------------


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    hue = rng.random()
    saturation = rng.uniform(0.45, 1.0)
    value = rng.uniform(0.4, 1.0)
    return np.array(colorsys.hsv_to_rgb(hue, saturation, value), np.float32) * 255.0


def _object_pixels(
    rng: np.random.Generator, side: int, colour: np.ndarray, config: SceneConfig
) -> np.ndarray:
    """(side, side, 3) float32: the colour modulated by a texture crop and a linear shading gradient."""
    texture_source = _texture(TEXTURE_SOURCES[int(rng.integers(len(TEXTURE_SOURCES)))])
    scale = rng.uniform(0.5, 1.5)
    crop = max(2, min(texture_source.shape[0], int(round(side * scale))))
    top = int(rng.integers(0, texture_source.shape[0] - crop + 1))
    left = int(rng.integers(0, texture_source.shape[1] - crop + 1))
    texture = cv2.resize(texture_source[top : top + crop, left : left + crop], (side, side))
    direction = rng.uniform(0, 2 * np.pi)
    ramp = np.linspace(-1.0, 1.0, side, dtype=np.float32)
    shading = (np.cos(direction) * ramp[None, :] + np.sin(direction) * ramp[:, None]) * rng.uniform(0.0, 0.2)
    factor = 1.0 + config.texture_strength * texture + shading  # (side, side)
    return colour[None, None, :] * factor[..., None]


@dataclass
class _Placed:
    label: int
    top: int  # row of the canvas's top-left corner in the scene (may be negative)
    left: int
    alpha: np.ndarray  # (side, side) bool
    rng: np.random.Generator  # draws this object's appearance


def _clip(placed: _Placed, height: int, width: int) -> tuple[slice, slice, slice, slice] | None:
    """Scene slices and canvas slices of the part of the canvas inside the image."""
    side = placed.alpha.shape[0]
    y0, x0 = max(placed.top, 0), max(placed.left, 0)
    y1, x1 = min(placed.top + side, height), min(placed.left + side, width)
    if y0 >= y1 or x0 >= x1:
        return None
    return (
        slice(y0, y1),
        slice(x0, x1),
        slice(y0 - placed.top, y1 - placed.top),
        slice(x0 - placed.left, x1 - placed.left),
    )


def make_scene(
    seed: int,
    size: tuple[int, int] | None = None,
    background: np.ndarray | None = None,
    config: SceneConfig = DEFAULT_CONFIG,
) -> Scene:
    """Generate the scene for `seed`.

    Args:
        seed: any non-negative integer; the same seed always gives the same scene.
        size: (H, W) of the scene. Default: (256, 256), or the background's own size when one is given.
        background: optional (H, W, 3) uint8 RGB photo to paste the objects onto (see the module docstring).
        config: generation settings.

    Returns:
        A `Scene` whose boxes are (x1, y1, x2, y2) pixel-edge coordinates of visible object pixels.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if size is not None:
        size = (int(size[0]), int(size[1]))
        if min(size) < 16 or max(size) > 4096:
            raise ValueError(f"size must be between 16 and 4096 pixels per side, got {size}")
    rng = np.random.default_rng(int(seed))
    background_rng, object_rng = rng.spawn(2)

    if background is not None:
        canvas = fit_background(background, size).astype(np.float32)
    else:
        canvas = _random_background(background_rng, size or DEFAULT_SIZE)
    height, width = canvas.shape[:2]
    scale = min(height, width) / REFERENCE_SIDE

    # 1. draw every object's class, size, shape and position (bottom to top)
    placed: list[_Placed] = []
    count = int(object_rng.integers(config.min_objects, config.max_objects + 1))
    log_low, log_high = math.log(config.min_object_size), math.log(config.max_object_size)
    for _ in range(count):
        label = int(object_rng.integers(NUM_CLASSES))
        object_size = math.exp(object_rng.uniform(log_low, log_high)) * scale
        side = int(math.ceil(object_size * 1.1)) + 3  # room for rotation of the horse and rounding
        alpha = SHAPES[label](object_rng, object_size, side)
        center_y = object_rng.uniform(0, height)
        center_x = object_rng.uniform(0, width)
        top, left = int(round(center_y - side / 2)), int(round(center_x - side / 2))
        placed.append(_Placed(label, top, left, alpha, object_rng.spawn(1)[0]))

    # 2. visibility, top object first: an object too hidden is dropped and hides nothing
    min_pixels = config.min_visible_pixels * scale * scale
    covered = np.zeros((height, width), bool)
    kept: list[tuple[_Placed, tuple[slice, slice, slice, slice], float]] = []
    for obj in reversed(placed):
        slices = _clip(obj, height, width)
        full_area = int(obj.alpha.sum())
        if slices is None or full_area == 0:
            continue
        sy, sx, cy, cx = slices
        inside = obj.alpha[cy, cx]
        visible = int((inside & ~covered[sy, sx]).sum())
        fraction = visible / full_area
        if visible == 0 or fraction < config.min_visible_fraction or visible < min_pixels:
            continue
        covered[sy, sx] |= inside
        kept.append((obj, slices, fraction))
    kept.reverse()  # back to bottom-to-top painting order

    # 3. paint bottom to top; the top object owns shared pixels
    mask = np.zeros((height, width), np.uint8)
    instance_mask = np.zeros((height, width), np.uint8)
    for index, (obj, (sy, sx, cy, cx), _) in enumerate(kept):
        inside = obj.alpha[cy, cx]
        under = canvas[sy, sx][inside]
        side = obj.alpha.shape[0]
        colour = _contrasting_colour(obj.rng, under.mean(axis=0) if len(under) else np.zeros(3), config)
        pixels = _object_pixels(obj.rng, side, colour, config)[cy, cx]
        canvas[sy, sx][inside] = pixels[inside]
        mask[sy, sx][inside] = obj.label + 1
        instance_mask[sy, sx][inside] = index + 1

    sigma = float(background_rng.uniform(0.0, config.max_blur_sigma))
    if sigma > 0.3:
        canvas = cv2.GaussianBlur(canvas, (0, 0), sigma)
    image = np.clip(canvas + 0.5, 0, 255).astype(np.uint8)

    boxes = np.zeros((len(kept), 4), np.float32)
    labels = np.array([obj.label for obj, _, _ in kept], np.int64)
    fractions = np.array([fraction for _, _, fraction in kept], np.float32)
    for index, (obj, (sy, sx, cy, cx), _) in enumerate(kept):
        rows, cols = np.nonzero(instance_mask[sy, sx] == index + 1)
        boxes[index] = (sx.start + cols.min(), sy.start + rows.min(), sx.start + cols.max() + 1, sy.start + rows.max() + 1)
    return Scene(image, boxes, labels, mask, instance_mask, fractions, int(seed))


def _contrasting_colour(rng: np.random.Generator, under: np.ndarray, config: SceneConfig) -> np.ndarray:
    """The first of up to 4 random colours far enough from `under` (mean RGB below the object), else the farthest."""
    best, best_distance = None, -1.0
    for _ in range(4):
        colour = _random_colour(rng)
        distance = float(np.linalg.norm(colour - under))
        if distance >= config.min_colour_distance:
            return colour
        if distance > best_distance:
            best, best_distance = colour, distance
    return best


def make_scenes(seeds: Sequence[int], size: tuple[int, int] | None = None, config: SceneConfig = DEFAULT_CONFIG) -> list[Scene]:
    """`make_scene` for each seed."""
    return [make_scene(int(seed), size=size, config=config) for seed in seeds]


def split_seeds(split: str, count: int | None = None) -> range:
    """The first `count` seeds of a split (all of them when `count` is None)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {sorted(SPLITS)}")
    seeds = SPLITS[split]
    if count is None:
        return seeds
    if not 0 < count <= len(seeds):
        raise ValueError(f"count must be between 1 and {len(seeds)} for split {split!r}, got {count}")
    return seeds[:count]
