"""Drawing for every tab: fonts, one colour-blind-safe palette, labelled boxes (solid, dashed or dotted), grids.

Pictures are (H, W, 3) uint8 arrays in and out. Colour never carries meaning alone here: a box's meaning also
shows in its line style (`BoxStyle`) and its label, and the palette is Okabe and Ito's, which stays tellable
apart with the common colour-vision deficiencies (https://jfly.uni-koeln.de/color/).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

RGB = tuple[int, int, int]

PALETTE: tuple[tuple[str, RGB], ...] = (
    ("blue", (0, 114, 178)),
    ("orange", (230, 159, 0)),
    ("bluish green", (0, 158, 115)),
    ("reddish purple", (204, 121, 167)),
    ("vermillion", (213, 94, 0)),
    ("sky blue", (86, 180, 233)),
    ("yellow", (240, 228, 66)),
    ("black", (0, 0, 0)),
)
"""Okabe-Ito's eight colours (name, RGB), in the order boxes, classes and curves take them."""

CLASS_COLORS: tuple[str, ...] = tuple(f"#{r:02x}{g:02x}{b:02x}" for _, (r, g, b) in PALETTE[:5])
"""The colour of each class of the generated scenes (`core.data.scenes.CLASS_NAMES`, in order), as #rrggbb."""

GREY: RGB = (150, 150, 150)
BLACK: RGB = (20, 20, 20)
WHITE: RGB = (255, 255, 255)

LineStyle = Literal["solid", "dashed", "dotted"]


def color(index: int) -> RGB:
    """The `index`-th colour of `PALETTE` (cycling)."""
    return PALETTE[index % len(PALETTE)][1]


def color_name(index: int) -> str:
    return PALETTE[index % len(PALETTE)][0]


def hex_to_rgb(text: str) -> RGB:
    """'#0072b2' -> (0, 114, 178)."""
    value = text.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def text_color_on(background: Sequence[int]) -> RGB:
    """Black or white, whichever reads better on `background` (WCAG relative luminance)."""
    def channel(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    luminance = 0.2126 * channel(background[0]) + 0.7152 * channel(background[1]) + 0.0722 * channel(background[2])
    return BLACK if (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) else WHITE


def swatch(rgb: Sequence[int]) -> str:
    """A coloured square as HTML, for legends and html cells (no emoji font needed)."""
    return f'<span aria-hidden="true" style="color:#{rgb[0]:02x}{rgb[1]:02x}{rgb[2]:02x};font-size:1.2em">&#9632;</span>'


# --- text ---------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def font(size: float) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled scalable font at `size` pixels (at least 8): pictures look the same on every machine."""
    return ImageFont.load_default(size=max(8, int(size)))


@functools.lru_cache(maxsize=4096)
def text_mask(text: str, size: int) -> Image.Image:
    """`text` rendered as an 'L' mask cropped to its ink: paste it in any colour (cached: labels repeat)."""
    face = font(size)
    left, top, right, bottom = face.getbbox(text)
    mask = Image.new("L", (max(1, right - left), max(1, bottom - top)), 0)
    ImageDraw.Draw(mask).text((-left, -top), text, fill=255, font=face)
    return mask


def label_size(image_hw: Sequence[int]) -> int:
    """A label font size that reads on a projector: about 1/30 of the picture's longer side, 13 to 28 px."""
    return int(min(28, max(13, round(max(image_hw) / 30))))


def line_width(image_hw: Sequence[int]) -> int:
    return max(2, round(max(image_hw) / 220))


# --- boxes --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoxStyle:
    """How one box is drawn: its colour, its line (solid, dashed, dotted) and width (None: from the picture's size)."""

    color: RGB
    line: LineStyle = "solid"
    width: int | None = None


class LabelPlacer:
    """Puts labels near their boxes without covering each other, always inside the picture.

    Tries spots around the box (above its top-left corner, inside each corner, below it); the first free one
    wins. A label with no free spot goes to the first spot when `required` (else it is left out).
    """

    def __init__(self, image: Image.Image):
        self.image, self.draw = image, ImageDraw.Draw(image)
        self.placed = np.zeros((0, 4))  # (P, 4) rectangles already used

    def add(self, box: Sequence[float], text: str, fill: Sequence[int], size: int, *,
            text_fill: Sequence[int] | None = None, required: bool = True) -> tuple[int, int, int, int] | None:
        """Draw `text` on a `fill` tag next to `box` (x1, y1, x2, y2); returns the tag's rectangle, or None."""
        mask = text_mask(text, size)
        pad = max(3, size // 5)
        w, h = mask.width + 2 * pad, mask.height + 2 * pad
        x1, y1, x2, y2 = box
        spots = np.array([(x1, y1 - h), (x1 + 2, y1 + 2), (x2 - w - 2, y1 + 2), (x1 + 2, y2 - h - 2),
                          (x2 - w - 2, y2 - h - 2), (x1, y2 + 1), (x2 - w, y1 - h), (x2 - w, y2 + 1)], float)  # (S, 2)
        bounds_w, bounds_h = self.image.size
        spots[:, 0] = np.clip(spots[:, 0], 0, max(0, bounds_w - w))
        spots[:, 1] = np.clip(spots[:, 1], 0, max(0, bounds_h - h))
        rects = np.concatenate([spots, spots + [w, h]], axis=1)  # (S, 4)
        p = self.placed
        clash = ((rects[:, None, 0] < p[None, :, 2]) & (p[None, :, 0] < rects[:, None, 2]) &
                 (rects[:, None, 1] < p[None, :, 3]) & (p[None, :, 1] < rects[:, None, 3])).any(axis=1)  # (S,)
        free = np.flatnonzero(~clash)
        if len(free) == 0 and not required:
            return None
        rect = rects[free[0] if len(free) else 0]
        self.placed = np.concatenate([self.placed, rect[None]])
        x, y = int(rect[0]), int(rect[1])
        self.draw.rectangle([x, y, x + w - 1, y + h - 1], fill=tuple(fill))
        ink = tuple(text_fill) if text_fill is not None else text_color_on(fill)
        self.image.paste(ink, (x + pad, y + pad), mask)
        return x, y, x + w, y + h


def _dash_mask(length: int, line: LineStyle, width: int) -> np.ndarray:
    """(length,) bool: which pixels along an edge are inked for a line style."""
    if line == "solid":
        return np.ones(length, bool)
    period, on = (max(12, 5 * width), max(7, 3 * width)) if line == "dashed" else (max(4, 2 * width), max(2, width))
    return (np.arange(length) % period) < on


def _stroke(canvas: np.ndarray, box: Sequence[float], style: BoxStyle, width: int) -> None:
    """Draw a rectangle's outline into canvas (H, W, 3) in place, `width` pixels thick, inside the box edge."""
    height, width_px = canvas.shape[:2]
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    x1, x2 = max(0, min(x1, width_px - 1)), max(0, min(x2, width_px - 1))
    y1, y2 = max(0, min(y1, height - 1)), max(0, min(y2, height - 1))
    if x2 < x1 or y2 < y1:
        return
    colour = np.array(style.color, np.uint8)
    along_x = _dash_mask(x2 - x1 + 1, style.line, width)
    along_y = _dash_mask(y2 - y1 + 1, style.line, width)
    for t in range(width):
        for y in (min(y1 + t, y2), max(y2 - t, y1)):
            canvas[y, x1 : x2 + 1][along_x] = colour
        for x in (min(x1 + t, x2), max(x2 - t, x1)):
            canvas[y1 : y2 + 1, x][along_y] = colour


def draw_boxes(image: np.ndarray, boxes: Sequence[Sequence[float]] | np.ndarray, styles: Sequence[BoxStyle],
               labels: Sequence[str] | None = None, *, label_font_size: int | None = None,
               centers: bool = False) -> np.ndarray:
    """Boxes (N, 4) (x1, y1, x2, y2) in pixels of an (H, W, 3) uint8 image, each in its `BoxStyle`, with labels
    (empty strings draw none) placed by `LabelPlacer`. Returns a new (H, W, 3) uint8 array.

    `centers` marks each box's centre with a cross.
    """
    canvas = np.array(image, dtype=np.uint8, copy=True)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)  # (N, 4)
    if len(styles) != len(boxes) or (labels is not None and len(labels) != len(boxes)):
        raise ValueError(f"{len(boxes)} boxes need as many styles and labels (got {len(styles)} and "
                         f"{len(labels) if labels is not None else 'no'})")
    default_width = line_width(canvas.shape[:2])
    for box, style in zip(boxes, styles):
        _stroke(canvas, box, style, style.width or default_width)
    picture = Image.fromarray(canvas)
    if centers:
        paint = ImageDraw.Draw(picture)
        for box, style in zip(boxes, styles):
            width = style.width or default_width
            cx, cy, arm = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, max(4, 3 * width)
            paint.line((cx - arm, cy, cx + arm, cy), fill=style.color, width=width)
            paint.line((cx, cy - arm, cx, cy + arm), fill=style.color, width=width)
    if labels is not None:
        placer = LabelPlacer(picture)
        size = label_font_size or label_size(canvas.shape[:2])
        for box, style, text in zip(boxes, styles, labels):
            if text:
                placer.add(box, text, style.color, size)
    return np.asarray(picture)


# --- layout -------------------------------------------------------------------------------------------------


def fade(image: np.ndarray, keep: float = 0.55) -> np.ndarray:
    """An image faded toward white (keep = 1: unchanged) so that coloured boxes stand out on it."""
    return (image.astype(np.float32) * keep + 255 * (1 - keep)).astype(np.uint8)


def grid(tiles: Sequence[np.ndarray], columns: int, padding: int = 4, background: int = 255) -> np.ndarray:
    """Tiles of one size (h, w, 3) in rows of `columns`, `padding` pixels apart (like torchvision's make_grid)."""
    if not tiles:
        raise ValueError("grid() needs at least one tile")
    height, width = tiles[0].shape[:2]
    columns = max(1, min(columns, len(tiles)))
    rows = -(-len(tiles) // columns)
    out = np.full((rows * (height + padding) + padding, columns * (width + padding) + padding, 3), background, np.uint8)
    for index, tile in enumerate(tiles):
        if tile.shape[:2] != (height, width):
            raise ValueError(f"tile {index} is {tile.shape[:2]}, not {(height, width)}")
        top = padding + (index // columns) * (height + padding)
        left = padding + (index % columns) * (width + padding)
        out[top : top + height, left : left + width] = tile
    return out
