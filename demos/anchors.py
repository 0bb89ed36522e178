"""Anchors & IoU tab: bounding boxes, anchors at a clicked pixel, multiscale anchors, IoU and anchor labeling.

Five sub-tabs, each with its formula and the d2l.ai section it illustrates:

- Boxes: the corner form (x1, y1, x2, y2) and the center form (cx, cy, w, h), converted live both ways.
- Anchors: the n + m - 1 anchors of `multibox_prior` at a pixel you click, with their true pixel sizes.
- Multiscale: anchors centred on a uniform fh x fw feature-map grid (the book's `display_anchors`).
- IoU: two boxes, their intersection and union drawn, J(A, B) = |A ∩ B| / |A ∪ B|.
- Labeling: the book's 5-anchor example, the IoU matrix, the greedy assignment step by step, the offsets.

All the math lives in `core.ops.boxes` and `core.ops.anchors`; this module parses inputs, draws and formats.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar, Sequence

import gradio as gr
import numpy as np
import torch
from PIL import Image, ImageDraw

from core.data.images import CAT_PARTS, CAT_SAMPLE, SAMPLE_IMAGES
from core.ops import anchors as core_anchors
from core.ops.boxes import box_area, box_center_to_corner, box_corner_to_center, box_inter_union, box_intersection, box_iou
from demos import drawing, inputs
from demos.common import LATEX, book_link, column_widths, read_image, read_image_quietly, to_jsonable
from demos.router import TabUI
from demos.view import View, ViewValueError, param

TITLE = "Anchors & IoU"

# --- defaults ------------------------------------------------------------------------------------

BOOK_CANVAS = "book"
"""The picker's token for a neutral canvas of the book's image size: the book's figures use catdog.jpg, which is
not bundled offline."""
BOOK_CANVAS_HW = (561, 728)
UPLOADED = "upload"
"""The picker's token while an uploaded picture is shown (offered only then; links cannot carry it)."""
SAMPLE_TOKENS: dict[str, str] = {name.split(" ")[0]: name for name in SAMPLE_IMAGES}
"""The picker's token of each bundled sample (the first word of its name: ``chelsea`` for "chelsea (cat)")."""
IMAGE_LABELS: dict[str, str] = {BOOK_CANVAS: "blank 728×561 canvas (size of the book's catdog.jpg)",
                                **{token: name for token, name in SAMPLE_TOKENS.items()},
                                UPLOADED: "your upload"}
"""What the picker shows for each token (the links write the tokens)."""
DEFAULT_SAMPLE = next(token for token, name in SAMPLE_TOKENS.items() if name == CAT_SAMPLE)
MAX_SIDE = 800
"""Uploads are downscaled to this longest side: clicked pixels refer to the shown (working) image."""

DEFAULT_SIZES = "0.75, 0.5, 0.25"
DEFAULT_RATIOS = "1, 2, 0.5"
MAX_LIST = 10
"""At most this many sizes and this many ratios (up to 19 anchors per pixel)."""
DEFAULT_CENTER = (225, 150)
"""The default sample's center pixel (x, y): chelsea is 451 x 300 (a test checks it)."""

BOX_HEADERS_CORNER = ["label", "x1", "y1", "x2", "y2"]
BOX_HEADERS_CENTER = ["label", "cx", "cy", "w", "h"]
DEFAULT_BOXES = [[name, *map(float, box)] for name, box in CAT_PARTS.items()]
"""Corner boxes (pixels) on the default sample: the cat's eyes and nose (`core.images.CAT_PARTS`, which the
Augmentation tab draws too)."""
BLANK_BOXES = [["", None, None, None, None]]
"""The boxes table of any other picture: one empty row to type a box into (the cat's boxes belong to the cat)."""
MAX_BOXES = 32

IOU_CANVAS_HW = (300, 400)
"""The IoU canvas is at least this size (pixels); it grows to hold both boxes."""
MAX_COORDINATE = 1000.0
"""IoU boxes lie in [0, MAX_COORDINATE] pixels (keeps the canvas, and the response time, bounded)."""
MAX_BOX_COORDINATE = 100_000.0
"""Boxes-table coordinates lie within ±MAX_BOX_COORDINATE pixels."""
DEFAULT_BOX_A = "40, 40, 240, 200"
DEFAULT_BOX_B = "140, 100, 340, 280"

GT_HEADERS = ["class", "x1", "y1", "x2", "y2"]
ANCHOR_HEADERS = ["x1", "y1", "x2", "y2"]
BOOK_GROUND_TRUTH = [[0, 0.1, 0.08, 0.52, 0.92], [1, 0.55, 0.2, 0.9, 0.88]]
"""The book's dog (class 0) and cat (class 1) boxes, normalised corner form (d2l.ai 14.4.3)."""
BOOK_ANCHORS = [
    [0.0, 0.1, 0.2, 0.3],
    [0.15, 0.2, 0.4, 0.4],
    [0.63, 0.05, 0.88, 0.98],
    [0.66, 0.45, 0.8, 0.8],
    [0.57, 0.3, 0.92, 0.9],
]
"""The book's five anchors, normalised corner form (d2l.ai 14.4.3): labels [[0, 1, 2, 0, 2]]."""
CLASS_NAMES = ("dog", "cat")
"""Names of the book's classes 0 and 1; other class indices are shown as 'class k'."""
MAX_GT = 16
MAX_LABEL_ANCHORS = 64
MAX_STEPS = MAX_GT + 1
"""Greedy picks (at most min(A, G)) plus the threshold pass."""
DEFAULT_IOU_THRESHOLD = 0.5

GRID_PRESETS = {"4×4, s=0.15": (4, 4, "0.15"), "2×2, s=0.4": (2, 2, "0.4"), "1×1, s=0.8": (1, 1, "0.8")}
"""The book's three `display_anchors` calls (d2l.ai 14.5.1)."""
MAX_FMAP = 32

PALETTE = drawing.PALETTE
"""(colour name, RGB), in the order boxes and anchors are coloured (Okabe-Ito); tables show a matching swatch."""
GREY = drawing.GREY
BLACK = drawing.BLACK
WHITE = drawing.WHITE
INTERSECTION_RGB = drawing.color(2)  # bluish green
UNION_RGB = drawing.color(6)  # yellow

BOOK_BOXES = book_link("bounding-box.html", "14.3 Object Detection and Bounding Boxes")
BOOK_ANCHOR = book_link("anchor.html", "14.4 Anchor Boxes")
BOOK_MULTISCALE = book_link("multiscale-object-detection.html", "14.5 Multiscale Object Detection")


def _color(index: int) -> tuple[int, int, int]:
    return drawing.color(index)


def _swatch(index: int) -> str:
    return drawing.swatch(_color(index))


# --- the image source ----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _book_canvas() -> np.ndarray:
    """A light canvas of the book's catdog size (561 x 728) with a faint 50-pixel grid."""
    height, width = BOOK_CANVAS_HW
    canvas = np.full((height, width, 3), 242, dtype=np.uint8)
    canvas[::50, :] = 222
    canvas[:, ::50] = 222
    canvas.setflags(write=False)
    return canvas


@lru_cache(maxsize=8)
def _load_upload(path: str, mtime: float, size: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """The upload, decoded once, and its loader's notices. The notices are shown once, by the upload event
    (`_on_upload`): every other view reads the same picture quietly."""
    array, notices = read_image_quietly(path, max_side=MAX_SIDE)
    array.setflags(write=False)
    return array, tuple(notices)


def _upload_path(upload: Any) -> str | None:
    if isinstance(upload, dict):
        upload = upload.get("path") or upload.get("name")
    return os.fspath(upload) if upload else None


def _loaded_upload(path: str) -> tuple[np.ndarray, tuple[str, ...]]:
    try:
        stat = os.stat(path)
    except OSError:
        raise gr.Error("The uploaded file could not be found; please upload it again.") from None
    return _load_upload(path, stat.st_mtime, stat.st_size)


def sample_token(sample: str | None) -> str | None:
    """The picker's token for `sample`, which may also be a sample's full name ("chelsea (cat)" -> "chelsea")."""
    for token, name in SAMPLE_TOKENS.items():
        if sample == name:
            return token
    return sample


def sample_boxes(sample: str | None) -> list[list[Any]]:
    """The boxes table that goes with a picture: the cat's eyes and nose on the cat, an empty row elsewhere."""
    return [list(row) for row in (DEFAULT_BOXES if sample_token(sample) == DEFAULT_SAMPLE else BLANK_BOXES)]


def source_image(upload: Any, sample: str | None) -> np.ndarray:
    """The working image (H, W, 3) uint8: the upload when there is one, else the chosen sample (read-only).

    `sample` is a picker token (``book``, ``chelsea``...) or a sample's full name."""
    path = _upload_path(upload)
    if path:
        return _loaded_upload(path)[0]
    token = sample_token(sample)
    if token == UPLOADED:
        raise gr.Error("The uploaded picture is gone: upload it again, or choose a sample.")
    if token == BOOK_CANVAS:
        return _book_canvas()
    if token not in SAMPLE_TOKENS:
        raise gr.Error(f"Unknown sample image {sample!r}; choose one of: {', '.join([BOOK_CANVAS, *SAMPLE_TOKENS])}.")
    return read_image(None, max_side=MAX_SIDE, sample=SAMPLE_TOKENS[token])


def source_info(upload: Any, sample: str | None) -> str:
    image = source_image(upload, sample)
    return f"**Image**: {'your upload, ' if upload else ''}{image.shape[1]}×{image.shape[0]} px (w×h)"


# --- drawing -------------------------------------------------------------------------------------


def _line_width(image_hw: Sequence[int]) -> int:
    return drawing.line_width(image_hw)


def draw_boxes(image: np.ndarray, boxes: torch.Tensor, colors: Sequence[tuple[int, int, int]],
               labels: Sequence[str] | None = None, *, width: int | None = None, centers: bool = False,
               lines: Sequence[drawing.LineStyle] | None = None) -> np.ndarray:
    """Pixel corner boxes (N, 4) on an (H, W, 3) uint8 image (`demos.drawing.draw_boxes`), each in its colour and
    line style (`lines`, solid by default), labels placed beside their boxes; `centers` marks each center."""
    if len(boxes) == 0:
        return np.array(image)
    styles = [drawing.BoxStyle(tuple(color), (lines[i] if lines is not None else "solid"), width)
              for i, color in enumerate(colors)]
    return drawing.draw_boxes(image, np.asarray(boxes, dtype=np.float64), styles, labels, centers=centers)


def _dim(image: np.ndarray, keep: float = 0.55) -> np.ndarray:
    """Fade an image toward white so coloured boxes stand out."""
    return drawing.fade(image, keep)


# --- table parsing -------------------------------------------------------------------------------


def _rows(table: Any) -> list[list[Any]]:
    """Rows of a Dataframe value (list of lists, dict with 'data', pandas DataFrame or None)."""
    if table is None:
        return []
    if isinstance(table, dict):
        table = table.get("data", [])
    if hasattr(table, "values") and hasattr(table, "columns"):
        table = table.values.tolist()
    return [list(row) for row in table]


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value).strip() == ""


def parse_labeled_boxes(table: Any, form: str) -> tuple[list[str], list[list[float] | None]]:
    """Rows [label, a, b, c, d] -> labels and 4 numbers per row (None for a row with blank cells).

    `form` is "corner" (x1, y1, x2, y2; needs x1 <= x2 and y1 <= y2) or "center" (cx, cy, w, h; w, h >= 0).
    Fully blank rows are dropped.
    """
    headers = BOX_HEADERS_CORNER if form == "corner" else BOX_HEADERS_CENTER
    labels: list[str] = []
    values: list[list[float] | None] = []
    for index, row in enumerate(_rows(table), start=1):
        row = (row + [None] * 5)[:5]
        if all(_blank(v) for v in row):
            continue
        if len(labels) >= MAX_BOXES:
            raise gr.Error(f"At most {MAX_BOXES} boxes, please.")
        labels.append("" if _blank(row[0]) else str(row[0]))
        if any(_blank(v) for v in row[1:]):
            values.append(None)
            continue
        numbers = [inputs.number(v, f"{form} form, row {index}, {headers[k + 1]}") for k, v in enumerate(row[1:])]
        if any(abs(v) > MAX_BOX_COORDINATE for v in numbers):
            raise gr.Error(f"{form} form, row {index}: coordinates must lie within ±{MAX_BOX_COORDINATE:g}.")
        if form == "corner" and (numbers[2] < numbers[0] or numbers[3] < numbers[1]):
            raise gr.Error(f"Corner form, row {index}: need x1 ≤ x2 and y1 ≤ y2, got {numbers}.")
        if form == "center" and (numbers[2] < 0 or numbers[3] < 0):
            raise gr.Error(f"Center form, row {index}: the width and height must be ≥ 0, got {numbers}.")
        values.append(numbers)
    return labels, values


def _tex_int(value: int) -> str:
    """12345 -> '12{,}345' (a thousands separator KaTeX does not space out)."""
    return f"{value:,}".replace(",", "{,}")


def _round(value: float, digits: int = 2) -> float:
    rounded = round(float(value), digits)
    return 0.0 if rounded == 0 else rounded


# --- 1. Boxes: corner <-> center ------------------------------------------------------------------


def convert_boxes(upload: Any, sample: str, table: Any, form: str) -> tuple[np.ndarray, list[list[Any]], dict]:
    """Convert the edited table (`form` = "corner" or "center") to the other form and draw the boxes.

    Returns the picture, the other table's rows, and JSON {"corner": [[x1, y1, x2, y2]], "center": [[cx, cy, w, h]],
    "labels": [...]} (pixels; incomplete rows are null).
    """
    if form not in ("corner", "center"):
        raise gr.Error(f"form must be 'corner' or 'center', got {form!r}.")
    image = source_image(upload, sample)
    labels, values = parse_labeled_boxes(table, form)
    complete = [i for i, v in enumerate(values) if v is not None]
    given = torch.tensor([values[i] for i in complete], dtype=torch.float64).reshape(-1, 4)  # (K, 4)
    if form == "corner":
        corner, center = given, box_corner_to_center(given)
    else:
        corner, center = box_center_to_corner(given), given
    corner_rows: list[list[float] | None] = [None] * len(values)
    center_rows: list[list[float] | None] = [None] * len(values)
    for k, i in enumerate(complete):
        corner_rows[i] = [_round(v) for v in corner[k].tolist()]
        center_rows[i] = [_round(v) for v in center[k].tolist()]
    other = center_rows if form == "corner" else corner_rows
    other_table = [[labels[i], *(other[i] if other[i] is not None else ["", "", "", ""])] for i in range(len(values))]
    picture = draw_boxes(image, corner, [_color(i) for i in complete], [labels[i] for i in complete],
                         centers=True)
    return picture, other_table, {"labels": labels, "corner": corner_rows, "center": center_rows}


def boxes_from_corner(upload: Any, sample: str, corner_table: Any) -> tuple[np.ndarray, list[list[Any]], dict]:
    """Corner table edited: returns the picture, the center table and the JSON of both forms."""
    return convert_boxes(upload, sample, corner_table, "corner")


def boxes_from_center(upload: Any, sample: str, center_table: Any) -> tuple[np.ndarray, list[list[Any]], dict]:
    """Center table edited: returns the picture, the corner table and the JSON of both forms."""
    return convert_boxes(upload, sample, center_table, "center")


# --- 4. IoU ----------------------------------------------------------------------------------------


def parse_box(text: str, name: str) -> list[float]:
    """'x1, y1, x2, y2' in pixels of the IoU canvas, 0 <= x1 <= x2 <= MAX_COORDINATE (same for y)."""
    values = inputs.number_list(text, name, min_count=4, max_count=4)
    x1, y1, x2, y2 = values
    if min(values) < 0 or max(values) > MAX_COORDINATE:
        raise gr.Error(f"{name}: coordinates must lie between 0 and {MAX_COORDINATE:g} pixels, got {values}.")
    if x2 < x1 or y2 < y1:
        raise gr.Error(f"{name}: need x1 ≤ x2 and y1 ≤ y2 (corner form), got {values}.")
    return values


def _iou_canvas(height: int, width: int) -> np.ndarray:
    """White canvas with a 20-pixel grid and a darker line every 100 pixels (to read coordinates off)."""
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    canvas[::20, :] = 236
    canvas[:, ::20] = 236
    canvas[::100, :] = 200
    canvas[:, ::100] = 200
    return canvas


def iou_view(box_a_text: str, box_b_text: str) -> tuple[np.ndarray, str, dict]:
    """Two corner boxes -> the picture (union shaded, intersection hatched), the formula with numbers, JSON."""
    box_a = parse_box(box_a_text, "Box A")
    box_b = parse_box(box_b_text, "Box B")
    boxes = torch.tensor([box_a, box_b], dtype=torch.float64)  # (2, 4)
    inter, union = box_inter_union(boxes[:1], boxes[1:])  # (1, 1) each
    iou = float(box_iou(boxes[:1], boxes[1:])[0, 0])
    inter_box = box_intersection(boxes[:1], boxes[1:])[0, 0]  # (4,)
    area_a, area_b = box_area(boxes).tolist()
    intersection, union_area = float(inter[0, 0]), float(union[0, 0])

    height = int(max(IOU_CANVAS_HW[0], math.ceil(max(box_a[3], box_b[3])) + 20))
    width = int(max(IOU_CANVAS_HW[1], math.ceil(max(box_a[2], box_b[2])) + 20))
    pixels = _iou_canvas(height, width).astype(np.float32)

    def region(box: Sequence[float]) -> tuple[slice, slice]:
        return slice(round(box[1]), round(box[3]) + 1), slice(round(box[0]), round(box[2]) + 1)

    union_mask = np.zeros((height, width), dtype=bool)
    for box in (box_a, box_b):
        union_mask[region(box)] = True
    pixels[union_mask] = pixels[union_mask] * 0.55 + np.array(UNION_RGB) * 0.45  # the union: pale yellow
    if intersection > 0:
        rows, cols = region(inter_box.tolist())
        pixels[rows, cols] = pixels[rows, cols] * 0.3 + np.array(INTERSECTION_RGB) * 0.7  # the intersection
    # A solid, B dashed: the boxes differ by line style and label, not by colour alone
    canvas = Image.fromarray(draw_boxes(pixels.astype(np.uint8), torch.tensor([box_a, box_b]), [_color(0), _color(1)],
                                        ["A", "B"], width=3, lines=["solid", "dashed"]))
    draw = ImageDraw.Draw(canvas)
    for tick in range(100, max(width, height), 100):
        if tick < width:
            draw.text((tick + 2, 2), str(tick), fill=(90, 90, 90), font=drawing.font(12))
        if tick < height:
            draw.text((2, tick + 2), str(tick), fill=(90, 90, 90), font=drawing.font(12))
    if intersection > 0:
        ix1, iy1, ix2, iy2 = inter_box.tolist()
        label = "A and B"
        font = drawing.font(14)
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        if ix2 - ix1 > right - left + 4 and iy2 - iy1 > bottom - top + 4:
            draw.text(((ix1 + ix2 - (right - left)) / 2, (iy1 + iy2 - (bottom - top)) / 2 - top), label,
                      fill=drawing.text_color_on(INTERSECTION_RGB), font=font)
    numbers = (
        f"| | area (px²) |\n|---|---|\n| {_swatch(0)} box A (solid line) | {area_a:.0f} |\n"
        f"| {_swatch(1)} box B (dashed line) | {area_b:.0f} |\n"
        f"| {drawing.swatch(INTERSECTION_RGB)} A∩B (green, labelled “A and B”) | **{intersection:.0f}** |\n"
        f"| {drawing.swatch(UNION_RGB)} A∪B = A + B − A∩B (yellow and green) | **{union_area:.0f}** |\n\n"
        f"$$J(A,B)=\\frac{{|A\\cap B|}}{{|A\\cup B|}}=\\frac{{{intersection:.0f}}}{{{union_area:.0f}}}={iou:.4f}$$"
    )
    result = {
        "box_a": box_a, "box_b": box_b, "area_a": area_a, "area_b": area_b,
        "intersection_box": inter_box.tolist() if intersection > 0 else None,
        "intersection": intersection, "union": union_area, "iou": iou,
    }
    return np.asarray(canvas), numbers, to_jsonable(result)


def move_box_b(box_b_text: str, evt: gr.SelectData) -> str:
    """Click on the IoU canvas: move box B so that its center is the clicked point (same size)."""
    x1, y1, x2, y2 = parse_box(box_b_text, "Box B")
    x, y = float(evt.index[0]), float(evt.index[1])
    half_w, half_h = (x2 - x1) / 2, (y2 - y1) / 2
    # keep B on the canvas (non-negative coordinates)
    cx, cy = max(x, half_w), max(y, half_h)
    return ", ".join(f"{v:g}" for v in (cx - half_w, cy - half_h, cx + half_w, cy + half_h))


# --- 5. Labeling: the IoU matrix as a picture -------------------------------------------------------


class StepView:
    """What the IoU-matrix picture shows at one step of the assignment (indices: anchor i = row, truth j = column).

    picked: greedy picks made before this step; current: the pick made at this step (or None);
    discarded_rows / discarded_cols: rows and columns already removed (current pick's included);
    threshold: the pairs assigned by the threshold pass (last step only) and `background` the anchors left out;
    assignment: the ground-truth index of each anchor after this step (UNASSIGNED = -1).
    """

    def __init__(self, assignment: list[int], picked: list[tuple[int, int]] | None = None,
                 current: tuple[int, int] | None = None, discarded_rows: set[int] | None = None,
                 discarded_cols: set[int] | None = None, threshold: list[tuple[int, int]] | None = None,
                 background: list[int] | None = None, threshold_phase: bool = False):
        self.assignment = assignment
        self.picked = picked or []
        self.current = current
        self.discarded_rows = discarded_rows or set()
        self.discarded_cols = discarded_cols or set()
        self.threshold = threshold or []
        self.background = background or []
        self.threshold_phase = threshold_phase


CURRENT_RGB, PICKED_RGB, THRESHOLD_RGB = drawing.color(4), drawing.color(2), drawing.color(1)
"""The IoU matrix's frames: this step's pick (thick), earlier picks (thin), the threshold pass (dashed)."""


def _heat_color(value: float) -> tuple[int, int, int]:
    """IoU in [0, 1] -> white ... dark blue."""
    v = min(max(value, 0.0), 1.0)
    low, high = (247, 251, 255), (8, 69, 148)
    return tuple(round(a + (b - a) * v) for a, b in zip(low, high))  # type: ignore[return-value]


def render_iou_matrix(iou: np.ndarray, view: StepView, gt_names: Sequence[str], threshold: float) -> np.ndarray:
    """The (A, G) IoU matrix as a picture: numbers in cells, the step's marks, and each anchor's assignment."""
    anchors_count, truths = iou.shape
    cell_w = 100 if truths <= 6 else 72  # big matrices stay small: the PNG encoding time grows with the area
    cell_h = 40 if anchors_count <= 12 else 26
    label_w, header_h, assigned_w = 104, 50, 150
    legend_h = 76
    width = label_w + truths * cell_w + assigned_w
    height = header_h + anchors_count * cell_h + legend_h
    canvas = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(canvas)
    font = 17 if cell_h >= 40 and cell_w >= 100 else 14
    small = 14

    def center_text(box: tuple[float, float, float, float], text: str, fill: tuple[int, int, int],
                    size: int = font) -> None:
        mask = drawing.text_mask(text, size)  # cached: a 64 x 16 matrix draws ~1,000 numbers
        x = round((box[0] + box[2] - mask.width) / 2)
        y = round((box[1] + box[3] - mask.height) / 2)
        canvas.paste(fill, (x, y, x + mask.width, y + mask.height), mask)

    for j in range(truths):
        box = (label_w + j * cell_w, 0, label_w + (j + 1) * cell_w, header_h)
        center_text((box[0], 2, box[2], header_h / 2), f"truth {j}", BLACK, small)
        center_text((box[0], header_h / 2, box[2], header_h - 2), gt_names[j], BLACK, small)
    center_text((label_w + truths * cell_w, 0, width, header_h), "assigned", BLACK, small)
    for i in range(anchors_count):
        top = header_h + i * cell_h
        draw.rectangle((4, top + 8, 18, top + cell_h - 8), fill=_color(i))
        center_text((20, top, label_w, top + cell_h), f"anchor {i}", BLACK, small)
        for j in range(truths):
            box = (label_w + j * cell_w, top, label_w + (j + 1) * cell_w, top + cell_h)
            value = float(iou[i, j])
            if i in view.discarded_rows or j in view.discarded_cols:
                # discarded: grey, hatched, the number still readable
                draw.rectangle(box, fill=(222, 222, 222), outline=(200, 200, 200))
                for offset in range(-cell_h, cell_w, 12):
                    draw.line((box[0] + max(offset, 0), box[1] + max(-offset, 0),
                               box[0] + min(offset + cell_h, cell_w), box[1] + min(cell_h, cell_w - offset)),
                              fill=(200, 200, 200), width=1)
                center_text(box, f"{value:.2f}", (90, 90, 90))
            else:
                draw.rectangle(box, fill=_heat_color(value), outline=(210, 210, 210))
                center_text(box, f"{value:.2f}", WHITE if value > 0.45 else BLACK)
        gt = view.assignment[i]
        text = "-" if gt < 0 else f"-> {gt_names[gt]}"
        if view.threshold_phase and i in view.background:
            text = "background"
        center_text((label_w + truths * cell_w, top, width, top + cell_h), text, BLACK if gt >= 0 else GREY, small)

    def frame(i: int, j: int, color: tuple[int, int, int], width_px: int, line: drawing.LineStyle = "solid") -> None:
        box = (label_w + j * cell_w, header_h + i * cell_h, label_w + (j + 1) * cell_w, header_h + (i + 1) * cell_h)
        drawn = drawing.draw_boxes(np.asarray(canvas), [(box[0] + 1, box[1] + 1, box[2] - 1, box[3] - 1)],
                                   [drawing.BoxStyle(color, line, width_px)])
        canvas.paste(Image.fromarray(drawn))

    for i, j in view.picked:
        frame(i, j, PICKED_RGB, 3)
    for i, j in view.threshold:
        frame(i, j, THRESHOLD_RGB, 3, "dashed")
    if view.current is not None:
        frame(*view.current, CURRENT_RGB, 6)
    legend_top = header_h + anchors_count * cell_h + 8
    legend = [
        (CURRENT_RGB, "thick frame: the largest IoU left, taken now"),
        (PICKED_RGB, "thin solid frame: taken at an earlier step"),
        ((170, 170, 170), "grey, hatched: row and column discarded"),
        (THRESHOLD_RGB, f"dashed frame: a leftover anchor's best truth, IoU >= {threshold:g}"),
    ]
    for k, (color, text) in enumerate(legend):
        y = legend_top + k * 17
        draw.rectangle((6, y + 3, 18, y + 14), outline=color, width=3)
        draw.text((24, y), text, fill=BLACK, font=drawing.font(14))
    return np.asarray(canvas)


# --- 2. Anchors at a pixel ---------------------------------------------------------------------------


def parse_sizes_ratios(sizes_text: str, ratios_text: str) -> tuple[list[float], list[float]]:
    """Sizes in (0, 1] and ratios > 0, as typed lists ('0.75, 0.5, 0.25')."""
    sizes = inputs.number_list(sizes_text, "Sizes", low=0.0, high=1.0, max_count=MAX_LIST)
    ratios = inputs.number_list(ratios_text, "Ratios", low=0.0, max_count=MAX_LIST)
    if max(ratios) / min(ratios) > 1e4:
        raise gr.Error("Ratios: keep them within a factor of 10,000 of each other.")
    return sizes, ratios


def anchors_at_pixel(upload: Any, sample: str, sizes_text: str, ratios_text: str, x: Any, y: Any
                     ) -> tuple[np.ndarray, list[list[Any]], str, dict]:
    """The n + m - 1 anchors centred on pixel (x = column, y = row) of the image.

    Returns the picture, the legend rows (s, r, pixel width/height/area and the formula), the anchor-count text
    and JSON {"image_hw", "center", "anchors": [{"size", "ratio", "width_px", "height_px", "area_px",
    "box_px": [x1, y1, x2, y2], "box_normalized": [...]}], "count": {...}}.
    """
    image = source_image(upload, sample)
    height, width = image.shape[:2]
    sizes, ratios = parse_sizes_ratios(sizes_text, ratios_text)
    col, row = inputs.whole(x, "x"), inputs.whole(y, "y")
    if not (0 <= col < width and 0 <= row < height):
        raise gr.Error(f"The center ({col}, {row}) is outside the {width}×{height} image: "
                       f"x must be in 0..{width - 1} and y in 0..{height - 1}.")
    normalized = core_anchors.anchors_at_pixel((height, width), row, col, sizes, ratios)  # (k, 4)
    scale = torch.tensor([width, height, width, height], dtype=normalized.dtype)
    pixels = normalized * scale  # (k, 4)
    shapes = core_anchors.anchor_shapes(sizes, ratios, (height, width))
    count = len(shapes)
    colors = [_color(i) for i in range(count)]
    picture = draw_boxes(_dim(image, 0.8), pixels, colors, [str(i + 1) for i in range(count)])
    # the center pixel: a small ring
    canvas = Image.fromarray(picture)
    draw = ImageDraw.Draw(canvas)
    radius = max(7, _line_width(image.shape[:2]) * 3)
    draw.ellipse((col - radius, row - radius, col + radius, row + radius), outline=WHITE, width=3)
    draw.ellipse((col - radius + 2, row - radius + 2, col + radius - 2, row + radius - 2), outline=BLACK, width=2)
    picture = np.asarray(canvas)

    legend = []
    items = []
    for i, (shape, box_px, box_n) in enumerate(zip(shapes, pixels.tolist(), normalized.tolist())):
        legend.append([
            f"{_swatch(i)} {i + 1}", f"{shape.size:g}", f"{shape.ratio:g}",
            f"{height}·{shape.size:g}·√{shape.ratio:g} = {shape.width_px:.1f}",
            f"{height}·{shape.size:g}/√{shape.ratio:g} = {shape.height_px:.1f}",
            f"{shape.area_px:,.0f}",
        ])
        items.append({
            "size": shape.size, "ratio": shape.ratio, "width_px": shape.width_px, "height_px": shape.height_px,
            "area_px": shape.area_px, "width_normalized": shape.width, "height_normalized": shape.height,
            "box_px": box_px, "box_normalized": box_n,
        })
    per_pixel = core_anchors.num_anchors((height, width), len(sizes), len(ratios))
    all_pairs = core_anchors.num_anchors((height, width), len(sizes), len(ratios), all_pairs=True)
    n, m = len(sizes), len(ratios)
    count_md = (
        f"**Anchors for the whole image** ({width}×{height} px, n = {n} sizes, m = {m} ratios): "
        f"$wh(n+m-1) = {width}\\cdot{height}\\cdot{n + m - 1} = {_tex_int(per_pixel)}$ "
        f"instead of $whnm = {width}\\cdot{height}\\cdot{n * m} = {_tex_int(all_pairs)}$ with every (s, r) pair."
    )
    result = {
        "image_hw": [height, width], "center": [col, row],
        "center_normalized": [(col + 0.5) / width, (row + 0.5) / height],
        "anchors": items,
        "count": {"per_pixel": n + m - 1, "whole_image": per_pixel, "all_pairs": all_pairs},
    }
    return picture, legend, count_md, to_jsonable(result)


def image_center(upload: Any, sample: str) -> tuple[int, int]:
    image = source_image(upload, sample)
    return image.shape[1] // 2, image.shape[0] // 2


def click_center(evt: gr.SelectData) -> tuple[int, int]:
    """A click on the anchors picture: its pixel (evt.index = [x, y]) becomes the center."""
    return int(evt.index[0]), int(evt.index[1])


# --- 3. Multiscale: anchors on a feature-map grid ------------------------------------------------------


def anchors_grid(upload: Any, sample: str, fh: Any, fw: Any, sizes_text: str, ratios_text: str
                 ) -> tuple[np.ndarray, dict]:
    """Anchors centred on a uniform fh x fw grid (one center per feature-map cell), drawn on the image.

    JSON: {"fmap_hw", "image_hw", "anchors_per_cell", "total", "shapes": [{"size", "ratio", "width_px",
    "height_px"}], "centers_px": [[x, y], ...], "boxes_normalized": [[x1, y1, x2, y2], ...]}.
    """
    image = source_image(upload, sample)
    height, width = image.shape[:2]
    rows, cols = inputs.whole(fh, "Feature-map height fh"), inputs.whole(fw, "Feature-map width fw")
    if not (1 <= rows <= MAX_FMAP and 1 <= cols <= MAX_FMAP):
        raise gr.Error(f"The feature map must be between 1×1 and {MAX_FMAP}×{MAX_FMAP}, got {rows}×{cols}.")
    sizes, ratios = parse_sizes_ratios(sizes_text, ratios_text)
    normalized = core_anchors.grid_anchors((rows, cols), sizes, ratios)  # (fh * fw * k, 4)
    per_cell = len(sizes) + len(ratios) - 1
    pixels = normalized * torch.tensor([width, height, width, height], dtype=normalized.dtype)
    colors = [_color(k % per_cell) for k in range(len(pixels))]
    faded = _dim(image, 0.75)
    # the feature-map cells: white lines
    canvas = Image.fromarray(faded)
    draw = ImageDraw.Draw(canvas)
    for r in range(1, rows):
        y = round(r * height / rows)
        draw.line((0, y, width, y), fill=WHITE, width=2)
    for c in range(1, cols):
        x = round(c * width / cols)
        draw.line((x, 0, x, height), fill=WHITE, width=2)
    line = max(1, _line_width(image.shape[:2]) - (1 if rows * cols > 16 else 0))
    picture = draw_boxes(np.asarray(canvas), pixels, colors, width=line)
    canvas = Image.fromarray(picture)
    draw = ImageDraw.Draw(canvas)
    centers = []
    radius = 3 if rows * cols > 64 else 5
    for r in range(rows):
        for c in range(cols):
            cx, cy = (c + 0.5) * width / cols, (r + 0.5) * height / rows
            centers.append([cx, cy])
            draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=WHITE, outline=BLACK)
    shapes = [
        {"size": s.size, "ratio": s.ratio,
         "width_px": s.width * width, "height_px": s.height * height}
        for s in core_anchors.anchor_shapes(sizes, ratios, (rows, cols))
    ]
    result = to_jsonable({
        "fmap_hw": [rows, cols], "image_hw": [height, width], "anchors_per_cell": per_cell,
        "total": rows * cols * per_cell, "shapes": shapes, "centers_px": centers,
    }, 4)
    # up to 32 * 32 * 19 boxes: round them in one numpy call rather than number by number
    result["boxes_normalized"] = np.round(normalized.numpy().astype(np.float64), 6).tolist()
    return np.asarray(canvas), result


# --- 5. Labeling: the book's example, step by step -----------------------------------------------------

RAW_OFFSETS = core_anchors.OffsetNormalization(mu_xy=0.0, mu_wh=0.0, sigma_xy=1.0, sigma_wh=1.0)
"""No normalisation: the raw offsets ((x_b - x_a) / w_a, ..., log(w_b / w_a), ...)."""
OFFSET_HEADERS = ["anchor", "class label", "truth", "dx raw", "dy raw", "dw raw", "dh raw",
                  "dx = raw/0.1", "dy = raw/0.1", "dw = raw/0.2", "dh = raw/0.2"]
LIMIT_LOW, LIMIT_HIGH = -1.0, 2.0
"""Normalised coordinates must lie in [-1, 2] (anchors may stick out of the image)."""


def class_name(index: int) -> str:
    return CLASS_NAMES[index] if 0 <= index < len(CLASS_NAMES) else f"class {index}"


def parse_ground_truth(table: Any) -> torch.Tensor:
    """Rows [class, x1, y1, x2, y2] (normalised corner form) -> Tensor[G, 5]."""
    rows = []
    for index, row in enumerate(_rows(table), start=1):
        row = (list(row) + [None] * 5)[:5]
        if all(_blank(v) for v in row):
            continue
        values = [inputs.number(v, f"Ground truth row {index}, {GT_HEADERS[k]}") for k, v in enumerate(row)]
        if values[0] != int(values[0]) or not 0 <= values[0] < 100:
            raise gr.Error(f"Ground truth row {index}: the class must be a whole number 0..99, got {row[0]!r}.")
        rows.append(_check_normalized_box(values[1:], f"Ground truth row {index}") and values)
    if not rows:
        raise gr.Error("Give at least one ground-truth box (class, x1, y1, x2, y2).")
    if len(rows) > MAX_GT:
        raise gr.Error(f"At most {MAX_GT} ground-truth boxes, please.")
    return torch.tensor(rows, dtype=torch.float32)  # (G, 5)


def parse_anchor_table(table: Any) -> torch.Tensor:
    """Rows [x1, y1, x2, y2] (normalised corner form) -> Tensor[A, 4]."""
    rows = []
    for index, row in enumerate(_rows(table), start=1):
        row = (list(row) + [None] * 4)[:4]
        if all(_blank(v) for v in row):
            continue
        values = [inputs.number(v, f"Anchor row {index}, {ANCHOR_HEADERS[k]}") for k, v in enumerate(row)]
        rows.append(_check_normalized_box(values, f"Anchor row {index}") and values)
    if not rows:
        raise gr.Error("Give at least one anchor (x1, y1, x2, y2).")
    if len(rows) > MAX_LABEL_ANCHORS:
        raise gr.Error(f"At most {MAX_LABEL_ANCHORS} anchors, please.")
    return torch.tensor(rows, dtype=torch.float32)  # (A, 4)


def _check_normalized_box(values: list[float], where: str) -> bool:
    if min(values) < LIMIT_LOW or max(values) > LIMIT_HIGH:
        raise gr.Error(f"{where}: normalised coordinates must lie between {LIMIT_LOW:g} and {LIMIT_HIGH:g}, "
                       f"got {values}.")
    if not (values[2] > values[0] and values[3] > values[1]):
        raise gr.Error(f"{where}: need x1 < x2 and y1 < y2 (a box with an area), got {values}.")
    return True


def step_view(trace: Any, step: int, gt_names: Sequence[str]) -> tuple[StepView, str]:
    """The picture state and the explanation for `step`: 0 = the matrix, 1..K = greedy picks, K + 1 = threshold."""
    steps = trace.steps
    count = len(steps)
    num_anchors_ = trace.iou.shape[0]
    if step == 0:
        view = StepView(assignment=[core_anchors.UNASSIGNED] * num_anchors_)
        text = (f"**Step 0 of {count + 1}.** The IoU of every anchor (row) with every ground-truth box (column). "
                f"Move the step slider to run the greedy assignment: {count} pick(s), then the threshold pass.")
        return view, text
    if step <= count:
        done = steps[:step]
        assignment = [core_anchors.UNASSIGNED] * num_anchors_
        for s in done:
            assignment[s.anchor] = s.gt
        current = steps[step - 1]
        view = StepView(assignment=assignment, picked=[(s.anchor, s.gt) for s in done[:-1]],
                        current=(current.anchor, current.gt), discarded_rows={s.anchor for s in done},
                        discarded_cols={s.gt for s in done})
        text = (f"**Step {step} of {count + 1} (greedy).** The largest IoU left in the matrix is "
                f"**{current.iou:.2f}**, at anchor {current.anchor} × truth {current.gt} "
                f"({gt_names[current.gt]}): anchor {current.anchor} is assigned to truth {current.gt}, "
                f"then row {current.anchor} and column {current.gt} are discarded (grey).")
        return view, text
    final = trace.anchors_bbox_map.tolist()
    picked_rows = {s.anchor for s in steps}
    threshold_pairs = [(i, g) for i, g in enumerate(trace.threshold_map.tolist()) if i not in picked_rows and g >= 0]
    background = [i for i, g in enumerate(final) if g < 0]
    view = StepView(assignment=final, picked=[(s.anchor, s.gt) for s in steps], threshold=threshold_pairs,
                    background=background, threshold_phase=True)
    by_threshold = ", ".join(f"anchor {i} → truth {g} ({float(trace.iou[i, g]):.2f})" for i, g in threshold_pairs)
    text = (f"**Step {count + 1} of {count + 1} (threshold).** Every anchor not picked above takes the truth of its "
            f"largest IoU if that IoU ≥ the threshold: {by_threshold or 'none does'}. "
            f"{'Anchors ' + ', '.join(map(str, background)) + ' stay background (class 0).' if background else ''}")
    return view, text


def anchors_label(gt_table: Any, anchor_table: Any, threshold: Any, step: Any, upload: Any, sample: str
                  ) -> tuple[np.ndarray, np.ndarray, str, list[list[Any]], dict]:
    """Label anchors against ground truth (the book's multibox_target) and show one step of the assignment.

    Returns the boxes picture, the IoU-matrix picture at `step`, the step's explanation, the offsets table and
    JSON {"iou", "steps", "threshold_map", "anchors_bbox_map", "class_labels" (1 x A, 0 = background),
    "offsets": {"raw", "normalized" (A x 4, null for background), "bbox_offset", "bbox_mask" (1 x 4A)},
    "step", "num_steps", "assignment_at_step"}.
    """
    labels = parse_ground_truth(gt_table)  # (G, 5)
    anchors = parse_anchor_table(anchor_table)  # (A, 4)
    iou_threshold = inputs.fraction(threshold, "IoU threshold")
    trace = core_anchors.assign_anchor_to_bbox_steps(labels[:, 1:], anchors, iou_threshold)
    gt_names = [class_name(int(c)) for c in labels[:, 0].tolist()]
    num_steps = len(trace.steps) + 1
    current = inputs.whole(step, "Step")
    if not 0 <= current <= num_steps:
        raise gr.Error(f"Step must be between 0 and {num_steps}, got {current}.")
    bbox_offset, bbox_mask, class_labels = core_anchors.multibox_target(
        anchors[None], labels[None], iou_threshold=iou_threshold)  # (1, 4A), (1, 4A), (1, A)
    final = trace.anchors_bbox_map  # (A,)
    assigned_bb = labels[final.clamp(min=0), 1:]  # (A, 4)
    raw = core_anchors.offset_boxes(anchors, assigned_bb, norm=RAW_OFFSETS)  # (A, 4)
    normalized = core_anchors.offset_boxes(anchors, assigned_bb)  # (A, 4)

    view, text = step_view(trace, current, gt_names)
    text += (f"\n\n**Class labels** after the last step (`multibox_target`, 0 = background, class + 1 otherwise): "
             f"`{class_labels.tolist()}`")
    heatmap = render_iou_matrix(trace.iou.numpy(), view, gt_names, iou_threshold)

    image = source_image(upload, sample)
    height, width = image.shape[:2]
    scale = torch.tensor([width, height, width, height], dtype=torch.float32)
    truth_px = labels[:, 1:] * scale  # (G, 4)
    anchors_px = anchors * scale  # (A, 4)
    unassigned = "background" if view.threshold_phase else "not yet"
    anchor_labels = [f"{i}: {unassigned}" if g < 0 else f"{i}: {gt_names[g]}" for i, g in enumerate(view.assignment)]
    # one call, so that no label covers another: anchors (solid once assigned, dashed while not), then the truths
    # (black, thicker); the labels say the same in words
    line = _line_width(image.shape[:2])
    styles = [drawing.BoxStyle(_color(i), "solid" if g >= 0 else "dashed", line) for i, g in enumerate(view.assignment)]
    styles += [drawing.BoxStyle(BLACK, "solid", line + 2)] * len(labels)
    picture = drawing.draw_boxes(_dim(image, 0.7), torch.cat([anchors_px, truth_px]).double().numpy(), styles,
                                 [*anchor_labels, *(f"truth {j}: {name}" for j, name in enumerate(gt_names))])
    if view.current is not None:  # this step's pick: its anchor drawn thick
        anchor = view.current[0]
        picture = draw_boxes(picture, anchors_px[anchor:anchor + 1], [_color(anchor)],
                             width=2 * _line_width(image.shape[:2]) + 2)

    table = []
    for i, g in enumerate(final.tolist()):
        if g < 0:
            table.append([f"{_swatch(i)} {i}", "0 (background)", "–", *["–"] * 8])
            continue
        klass = int(class_labels[0, i])
        table.append([f"{_swatch(i)} {i}", f"{klass} ({gt_names[g]})", str(g),
                      *[f"{v:.3f}" for v in raw[i].tolist()], *[f"{v:.3f}" for v in normalized[i].tolist()]])
    mask = final >= 0
    result = {
        "iou": trace.iou,
        "steps": [{"step": k + 1, "anchor": s.anchor, "gt": s.gt, "iou": s.iou} for k, s in enumerate(trace.steps)],
        "threshold_map": trace.threshold_map,
        "anchors_bbox_map": final,
        "class_labels": class_labels,
        "offsets": {
            "raw": [row if ok else None for row, ok in zip(raw.tolist(), mask.tolist())],
            "normalized": [row if ok else None for row, ok in zip(normalized.tolist(), mask.tolist())],
            "bbox_offset": bbox_offset,
            "bbox_mask": bbox_mask,
        },
        "iou_threshold": iou_threshold,
        "step": current,
        "num_steps": num_steps,
        "assignment_at_step": view.assignment,
    }
    return picture, heatmap, text, table, to_jsonable(result)


# --- the UI --------------------------------------------------------------------------------------------

INTRO = (
    "Type a value and press Enter, or click a picture: pictures and numbers follow. "
    "The image above is used by Boxes, Anchors, Multiscale and Labeling."
)
BOXES_MD = (
    "**Two ways to write a box** (pixels, $y$ grows downward). Corner form $(x_1,y_1,x_2,y_2)$: upper-left and "
    "lower-right corners. Center form $(c_x,c_y,w,h)$:\n"
    "$$c_x=\\tfrac{x_1+x_2}{2},\\ c_y=\\tfrac{y_1+y_2}{2},\\ w=x_2-x_1,\\ h=y_2-y_1$$"
    "$$x_1=c_x-\\tfrac{w}{2},\\ y_1=c_y-\\tfrac{h}{2},\\ x_2=c_x+\\tfrac{w}{2},\\ y_2=c_y+\\tfrac{h}{2}$$"
    "Edit a cell in **either** table: the other table and the picture (+ marks each center) follow. "
    "Add rows for more boxes.\n\n" + BOOK_BOXES
)
ANCHORS_MD = (
    "**Click the picture** to move the center pixel. Sizes $s_1..s_n\\in(0,1]$ and ratios $r_1..r_m>0$ give "
    "each pixel the $n+m-1$ pairs $(s_1,r_j)$ and $(s_i,r_1)$. In **pixels**, for an image of height $h$:\n"
    "$$\\text{width}=h\\,s\\sqrt{r},\\quad \\text{height}=h\\,s/\\sqrt{r},\\quad \\text{area}=(hs)^2$$"
    "The book's text writes the width as $ws\\sqrt r$, but its code (`multibox_prior`, the factor "
    "`in_height / in_width`) measures both sides in units of the image **height**: $s$ is a fraction of the "
    "height, $r$ is the true width : height ratio, and $r=1$ is a square on any image. "
    "The table gives the pixel numbers.\n\n" + BOOK_ANCHOR
)
MULTISCALE_MD = (
    "One center per cell of an $f_h\\times f_w$ feature map (white lines), at "
    "$\\left(\\frac{j+0.5}{f_w},\\frac{i+0.5}{f_h}\\right)$ of the image; `multibox_prior` on the map gives "
    "normalised width $s\\sqrt r\\,f_h/f_w$ and height $s/\\sqrt r$. Small maps with large $s$ look for large "
    "objects, large maps with small $s$ for small ones. The book's figure: 4×4 with $s=0.15$, 2×2 with $s=0.4$, "
    "1×1 with $s=0.8$.\n\n" + BOOK_MULTISCALE
)
IOU_MD = (
    "$$J(A,B)=\\frac{|A\\cap B|}{|A\\cup B|}=\\frac{|A\\cap B|}{|A|+|B|-|A\\cap B|}$$"
    "Union shaded yellow, intersection green. Type a box as `x1, y1, x2, y2` (pixels of the grid, a thick line "
    "every 100) and press Enter, or **click the grid** to move box B's center there.\n\n"
    + book_link("anchor.html#intersection-over-union-iou", "14.4.2 Intersection over Union")
)
LABELING_MD = (
    "The book's example: dog and cat ground truth, 5 anchors (normalised corner form; catdog.jpg is not bundled, "
    "so they are drawn on the chosen image; the blank canvas has its 728×561 size). "
    "**1. Greedy:** take the largest IoU left, assign that anchor to that box, discard its row and column; once "
    "per box. **2. Threshold:** every other anchor takes its best box if IoU ≥ threshold. Class label = class + 1 "
    "(0 = background). In the picture an anchor is drawn solid once assigned, dashed while not, and its label "
    "names its box; the ground truth is black. Offsets, with $\\mu=0$, $\\sigma_x=\\sigma_y=0.1$, $\\sigma_w=\\sigma_h=0.2$: "
    "the center's $\\left(\\frac{(x_b-x_a)/w_a-\\mu}{\\sigma_x},\\frac{(y_b-y_a)/h_a-\\mu}{\\sigma_y}\\right)$ "
    "and the size's $\\left(\\frac{\\log(w_b/w_a)-\\mu}{\\sigma_w},\\frac{\\log(h_b/h_a)-\\mu}{\\sigma_h}\\right)$ "
    "(centers $x, y$, sizes $w, h$). " + book_link("anchor.html#labeling-anchor-boxes-in-training-data",
                                                   "14.4.3 Labeling Anchor Boxes")
)
LEGEND_HEADERS = ["anchor", "s", "r", "width = h·s·√r (px)", "height = h·s/√r (px)", "area (px²)"]


# --- the view: everything a link carries -------------------------------------------------------------


def _num(value: Any) -> str:
    return f"{float(value):g}"


def _complete(row: Sequence[Any], count: int) -> bool:
    return len(row) >= count and not any(_blank(v) for v in row[-count:])


def boxes_text(table: Any) -> str:
    """The corner table as a link writes it: ``label:x1,y1,x2,y2;...`` (rows with blank numbers left out)."""
    rows = [(list(row) + [None] * 5)[:5] for row in _rows(table)]
    return ";".join(f"{'' if _blank(row[0]) else str(row[0]).replace(';', ',')}:{','.join(_num(v) for v in row[1:])}"
                    for row in rows if _complete(row, 4))


def boxes_rows(text: str, image: str | None = None) -> list[list[Any]]:
    """``label:x1,y1,x2,y2;...`` -> corner-table rows [label, x1, y1, x2, y2]; an empty text is the picture's own
    boxes (`sample_boxes`: the cat's on the cat, one empty row elsewhere). Raises gr.Error naming the bad box."""
    rows = []
    for index, part in enumerate([p for p in str(text or "").split(";") if p.strip()], start=1):
        label, _, numbers = part.rpartition(":")
        values = inputs.number_list(numbers, f"Boxes, box {index}", min_count=4, max_count=4)
        rows.append([label.strip(), *values])
    if len(rows) > MAX_BOXES:
        raise gr.Error(f"At most {MAX_BOXES} boxes, please.")
    parse_labeled_boxes(rows, "corner")  # the table's own checks (x1 <= x2 ...)
    return rows or sample_boxes(image)


def gt_text(table: Any) -> str:
    """The ground-truth table as a link writes it: ``class:x1,y1,x2,y2;...``."""
    rows = [(list(row) + [None] * 5)[:5] for row in _rows(table)]
    return ";".join(f"{int(float(row[0]))}:{','.join(_num(v) for v in row[1:])}" for row in rows
                    if _complete(row, 5))


def gt_rows(text: str) -> list[list[float]]:
    """``class:x1,y1,x2,y2;...`` -> ground-truth rows [class, x1, y1, x2, y2] (checked as the table is)."""
    rows = []
    for index, part in enumerate([p for p in str(text or "").split(";") if p.strip()], start=1):
        klass, _, numbers = part.rpartition(":")
        rows.append([inputs.number(klass, f"Ground truth, box {index}, class"),
                     *inputs.number_list(numbers, f"Ground truth, box {index}", min_count=4, max_count=4)])
    parse_ground_truth(rows)
    return rows


def anchors_text(table: Any) -> str:
    """The anchors table as a link writes it: ``x1,y1,x2,y2;...``."""
    rows = [(list(row) + [None] * 4)[:4] for row in _rows(table)]
    return ";".join(",".join(_num(v) for v in row) for row in rows if _complete(row, 4))


def anchor_rows(text: str) -> list[list[float]]:
    """``x1,y1,x2,y2;...`` -> anchor rows (checked as the table is)."""
    rows = [inputs.number_list(part, f"Anchors, anchor {index}", min_count=4, max_count=4)
            for index, part in enumerate([p for p in str(text or "").split(";") if p.strip()], start=1)]
    parse_anchor_table(rows)
    return rows


@dataclass(frozen=True)
class AnchorsView(View):
    """The tab's state: the picture, each sub-tab's inputs, and the sub-tab shown (``part``)."""

    PARTS: ClassVar[tuple[str, ...]] = ("boxes", "anchors", "multiscale", "iou", "labeling")

    image: str = param(DEFAULT_SAMPLE, choices=(BOOK_CANVAS, *SAMPLE_TOKENS, UPLOADED), label="image")
    boxes: str = param("", label="boxes", max_length=1500)  # empty: the picture's own (`sample_boxes`)
    sizes: str = param(DEFAULT_SIZES, label="Sizes", max_length=200)
    ratios: str = param(DEFAULT_RATIOS, label="Ratios", max_length=200)
    x: int = param(DEFAULT_CENTER[0], low=0, high=MAX_SIDE - 1, label="center x")
    y: int = param(DEFAULT_CENTER[1], low=0, high=MAX_SIDE - 1, label="center y")
    fh: int = param(GRID_PRESETS["4×4, s=0.15"][0], low=1, high=MAX_FMAP, label="feature-map rows fh")
    fw: int = param(GRID_PRESETS["4×4, s=0.15"][1], low=1, high=MAX_FMAP, label="feature-map columns fw")
    grid_sizes: str = param(GRID_PRESETS["4×4, s=0.15"][2], label="grid sizes", max_length=200)
    grid_ratios: str = param(DEFAULT_RATIOS, label="grid ratios", max_length=200)
    box_a: str = param(DEFAULT_BOX_A, label="box A", max_length=100)
    box_b: str = param(DEFAULT_BOX_B, label="box B", max_length=100)
    gt: str = param(gt_text(BOOK_GROUND_TRUTH), label="ground truth", max_length=1200)
    anchors: str = param(anchors_text(BOOK_ANCHORS), label="anchors", max_length=2400)
    threshold: float = param(DEFAULT_IOU_THRESHOLD, low=0.0, high=1.0, label="IoU threshold")
    step: int = param(min(len(BOOK_GROUND_TRUTH), len(BOOK_ANCHORS)) + 1, low=0, high=MAX_STEPS,
                      label="assignment step")

    def validate(self) -> None:
        if self.image == UPLOADED:
            raise ViewValueError("an uploaded picture does not travel in links")
        try:
            boxes_rows(self.boxes, self.image)
            inputs.number_list(self.sizes, "Sizes", low=0.0, high=1.0, max_count=MAX_LIST)
            inputs.number_list(self.ratios, "Ratios", low=0.0, max_count=MAX_LIST)
            inputs.number_list(self.grid_sizes, "Grid sizes", low=0.0, high=1.0, max_count=MAX_LIST)
            inputs.number_list(self.grid_ratios, "Grid ratios", low=0.0, max_count=MAX_LIST)
            parse_box(self.box_a, "Box A")
            parse_box(self.box_b, "Box B")
            gt_rows(self.gt)
            anchor_rows(self.anchors)
            height, width = source_image(None, self.image).shape[:2]
        except gr.Error as error:
            raise ViewValueError(str(error.message).rstrip(".")) from None
        if self.x >= width or self.y >= height:
            raise ViewValueError(f"the center ({self.x}, {self.y}) is outside the {width}×{height} image")


def num_steps(gt: Any, anchors: Any) -> int:
    """Steps of the labeling stepper: one greedy pick per ground-truth box (at most one per anchor), then the
    threshold pass."""
    return min(len(parse_ground_truth(gt)), len(parse_anchor_table(anchors))) + 1


def show(view: AnchorsView) -> tuple:
    """Every picture and number of the tab for one view (in the order of `build`'s outputs); a step beyond the
    last shows the last."""
    corner_rows = boxes_rows(view.boxes, view.image)
    boxes_picture, center_rows, boxes_data = boxes_from_corner(None, view.image, corner_rows)
    center_rows = center_rows or [list(row) for row in BLANK_BOXES]
    anchors = anchors_at_pixel(None, view.image, view.sizes, view.ratios, view.x, view.y)
    grid = anchors_grid(None, view.image, view.fh, view.fw, view.grid_sizes, view.grid_ratios)
    iou = iou_view(view.box_a, view.box_b)
    gt, anchor_boxes = gt_rows(view.gt), anchor_rows(view.anchors)
    steps = num_steps(gt, anchor_boxes)
    step = min(view.step, steps)
    label = anchors_label(gt, anchor_boxes, view.threshold, step, None, view.image)
    return (source_info(None, view.image), corner_rows, center_rows, boxes_picture, boxes_data, *anchors, *grid,
            *iou, gt, anchor_boxes, gr.Slider(maximum=steps, value=step), *label)


# --- events ----------------------------------------------------------------------------------------------


def _refresh_source(upload: Any, sample: str, sizes: str, ratios: str, fh: Any, fw: Any, grid_sizes: str,
                    grid_ratios: str, gt_table: Any, anchor_table: Any, threshold: Any, step: Any) -> tuple:
    """A new image (sample or upload): its own boxes (`sample_boxes`), every picture redrawn; the anchor center
    moves to the image center. Returns (info, corner rows, center rows, boxes picture, boxes JSON, x, y, the
    anchor outputs, the grid outputs, the labeling picture, the boxes text): the order of `source_outputs` in
    `_connect`."""
    corner_table = sample_boxes(UPLOADED if _upload_path(upload) else sample)
    x, y = image_center(upload, sample)
    picture, center_table, boxes_data = boxes_from_corner(upload, sample, corner_table)
    center_table = center_table or [list(row) for row in BLANK_BOXES]  # both forms offer a row to fill in
    anchors = anchors_at_pixel(upload, sample, sizes, ratios, x, y)
    grid = anchors_grid(upload, sample, fh, fw, grid_sizes, grid_ratios)
    label = anchors_label(gt_table, anchor_table, threshold, step, upload, sample)
    return (source_info(upload, sample), corner_table, center_table, picture, boxes_data, x, y, *anchors, *grid,
            label[0], "")


def _picker(uploaded: bool, value: str) -> gr.Dropdown:
    """The image picker: "your upload" is offered (and shown) while an upload is the picture."""
    tokens = [BOOK_CANVAS, *SAMPLE_TOKENS] + ([UPLOADED] if uploaded else [])
    return gr.Dropdown(choices=[(IMAGE_LABELS[t], t) for t in tokens], value=value)


def _on_upload(upload: Any, *settings: Any) -> tuple:
    """A picture uploaded: the picker says "your upload", the cat's boxes give way to an empty row, and the
    loader's notice (downscaled ...) is shown once."""
    path = _upload_path(upload)
    if not path:
        raise gr.Error("Please upload an image.")
    for notice in _loaded_upload(path)[1]:
        gr.Info(notice)
    return (_picker(True, UPLOADED), *_refresh_source(upload, UPLOADED, *settings))


def _on_sample(sample: str, upload: Any, *settings: Any) -> tuple:
    """A sample chosen: the upload is dropped, "your upload" leaves the picker, the sample's boxes come.
    Returns the picker, the upload and the outputs of `_refresh_source`."""
    if sample == UPLOADED and _upload_path(upload):
        return (_picker(True, UPLOADED), upload, *_refresh_source(upload, UPLOADED, *settings))
    outputs = _refresh_source(None, sample, *settings)  # first: "your upload" without one is refused here
    return (_picker(False, sample), None, *outputs)


def _boxes_typed(upload: Any, sample: str, text: str) -> tuple:
    """The boxes typed as text: the corner table, then what `boxes_from_corner` returns."""
    rows = boxes_rows(text, UPLOADED if _upload_path(upload) else sample)
    picture, center_table, data = boxes_from_corner(upload, sample, rows)
    return rows, picture, center_table or [list(row) for row in BLANK_BOXES], data


def _labeling_tables_changed(gt_table: Any, anchor_table: Any, threshold: Any, step: Any, upload: Any, sample: str
                             ) -> tuple:
    """Edited tables can change the number of steps: update the step slider's range, and the texts a link
    carries, too."""
    steps = num_steps(gt_table, anchor_table)
    current = min(max(inputs.whole(step, "Step"), 0), steps)
    outputs = anchors_label(gt_table, anchor_table, threshold, current, upload, sample)
    return (gt_text(gt_table), anchors_text(anchor_table), gr.Slider(maximum=steps, value=current), *outputs)


def _labeling_typed(gt: str, anchors: str, threshold: Any, step: Any, upload: Any, sample: str) -> tuple:
    """Ground truth or anchors typed as text: the tables, then what `_labeling_tables_changed` returns."""
    gt_table, anchor_table = gt_rows(gt), anchor_rows(anchors)
    return (gt_table, anchor_table,
            *_labeling_tables_changed(gt_table, anchor_table, threshold, step, upload, sample)[2:])


def _clicked_center(upload: Any, sample: str, sizes: str, ratios: str, evt: gr.SelectData) -> tuple:
    """A click on the anchors picture: the clicked pixel becomes the center (x, y), and its anchors are drawn."""
    x, y = click_center(evt)
    return (x, y, *anchors_at_pixel(upload, sample, sizes, ratios, x, y))


def _clicked_box_b(box_a: str, box_b: str, evt: gr.SelectData) -> tuple:
    """A click on the IoU grid: box B moves there (`move_box_b`) and the IoU follows."""
    moved = move_box_b(box_b, evt)
    return (moved, *iou_view(box_a, moved))


def _set_grid_preset(name: str) -> tuple[int, int, str]:
    fh, fw, size = GRID_PRESETS[name]
    return fh, fw, size


def _picture(label: str, elem_id: str | None = None, height: int = 340, image_format: str = "jpeg") -> gr.Image:
    """An output picture: named for screen readers (`label`), its caption hidden; JPEG for photos."""
    return gr.Image(type="numpy", format=image_format, label=label, show_label=False, interactive=False,
                    height=height, buttons=["download", "fullscreen"], elem_id=elem_id)


def _build_boxes(view: AnchorsView) -> dict[str, Any]:
    with gr.Row():
        with gr.Column(scale=4):
            image = _picture("Boxes on the image", "anchors-boxes-image", 360)
        with gr.Column(scale=7):
            with gr.Row():
                corner = gr.Dataframe(
                    headers=BOX_HEADERS_CORNER, datatype=["str"] + ["number"] * 4, type="array",
                    interactive=True, label="Corner form (x1, y1, x2, y2)", elem_id="anchors-corner",
                    column_count=5, max_height=230)
                center = gr.Dataframe(
                    headers=BOX_HEADERS_CENTER, datatype=["str"] + ["number"] * 4, type="array",
                    interactive=True, label="Center form (cx, cy, w, h)", elem_id="anchors-center",
                    column_count=5, max_height=230)
            boxes = gr.Textbox(view.boxes, label="the boxes as text (label:x1,y1,x2,y2; ...), what a link carries; "
                                                "empty: the picture's own",
                               max_lines=2, elem_id="anchors-boxes-text")
            gr.Markdown(BOXES_MD, latex_delimiters=LATEX)
    with gr.Accordion("JSON (what the boxes_convert endpoint returns)", open=False):
        data = gr.JSON(show_label=False)
    return dict(image=image, corner=corner, center=center, boxes=boxes, json=data)


def _build_anchors(view: AnchorsView) -> dict[str, Any]:
    with gr.Row():
        with gr.Column(scale=7):
            with gr.Row():
                sizes = gr.Textbox(view.sizes, label="Sizes s (0 < s ≤ 1)", max_lines=1, min_width=120,
                                   elem_id="anchors-sizes")
                ratios = gr.Textbox(view.ratios, label="Ratios r (> 0)", max_lines=1, min_width=120,
                                    elem_id="anchors-ratios")
                x = gr.Number(view.x, label="center x", precision=0, min_width=90, elem_id="anchors-center-x")
                y = gr.Number(view.y, label="center y", precision=0, min_width=90, elem_id="anchors-center-y")
            legend = gr.Dataframe(headers=LEGEND_HEADERS, datatype=["html"] + ["str"] * 5,
                                  type="array", interactive=False, max_height=330, wrap=True,
                                  column_widths=column_widths(6, 4, 5, 20, 20, 10),
                                  label="The anchors at this pixel, in pixels (h = image height)")
            count = gr.Markdown(latex_delimiters=LATEX)
        with gr.Column(scale=5):
            gr.Markdown("**Click the picture** to move the center (the ringed pixel).")
            image = _picture("Anchors at the center", "anchors-pixel-image")
    gr.Markdown(ANCHORS_MD, latex_delimiters=LATEX)
    with gr.Accordion("JSON (what the anchors_at_pixel endpoint returns)", open=False):
        data = gr.JSON(show_label=False)
    return dict(sizes=sizes, ratios=ratios, x=x, y=y, outputs=[image, legend, count, data])


def _build_multiscale(view: AnchorsView) -> dict[str, Any]:
    with gr.Row():
        with gr.Column(scale=4, min_width=320):
            fh = gr.Slider(1, MAX_FMAP, value=view.fh, step=1, label="feature-map rows fh", elem_id="anchors-fh")
            fw = gr.Slider(1, MAX_FMAP, value=view.fw, step=1, label="feature-map columns fw", elem_id="anchors-fw")
            with gr.Row():
                sizes = gr.Textbox(view.grid_sizes, label="Sizes s", max_lines=1, elem_id="anchors-grid-sizes")
                ratios = gr.Textbox(view.grid_ratios, label="Ratios r", max_lines=1, elem_id="anchors-grid-ratios")
            with gr.Row():
                presets = [gr.Button(name, size="sm", min_width=80) for name in GRID_PRESETS]
            gr.Markdown(MULTISCALE_MD, latex_delimiters=LATEX)
        with gr.Column(scale=7):
            image = _picture("Anchors on the feature-map grid", "anchors-grid-image", 400)
    with gr.Accordion("JSON (what the anchors_grid endpoint returns)", open=False):
        data = gr.JSON(show_label=False)
    return dict(fh=fh, fw=fw, sizes=sizes, ratios=ratios, presets=presets, outputs=[image, data])


def _build_iou(view: AnchorsView) -> dict[str, Any]:
    with gr.Row():
        with gr.Column(scale=4, min_width=320):
            with gr.Row():
                box_a = gr.Textbox(view.box_a, label="box A, blue, solid (x1, y1, x2, y2)", max_lines=1,
                                   elem_id="anchors-box-a")
                box_b = gr.Textbox(view.box_b, label="box B, orange, dashed (x1, y1, x2, y2)", max_lines=1,
                                   elem_id="anchors-box-b")
            numbers = gr.Markdown(latex_delimiters=LATEX, elem_id="anchors-iou-numbers")
            gr.Markdown(IOU_MD, latex_delimiters=LATEX)
        with gr.Column(scale=6):
            gr.Markdown("**Click the grid** to move box B's center there.")
            image = _picture("A ∪ B (yellow) and A ∩ B (green)", "anchors-iou-image", 400, "png")
    with gr.Accordion("JSON (what the anchors_iou endpoint returns)", open=False):
        data = gr.JSON(show_label=False)
    return dict(box_a=box_a, box_b=box_b, outputs=[image, numbers, data])


def _build_labeling(view: AnchorsView) -> dict[str, Any]:
    with gr.Row():
        with gr.Column(scale=4, min_width=330):
            # Built with the largest possible range so that API callers with up to MAX_GT boxes can ask for any
            # step; `show` narrows it to the example's steps, and so do table edits.
            step = gr.Slider(0, MAX_STEPS, value=view.step, step=1, label="Assignment step (0 = IoU only)",
                             elem_id="anchors-step")
            threshold = gr.Slider(0.0, 1.0, value=view.threshold, step=0.01, label="IoU threshold",
                                  elem_id="anchors-threshold")
            gt_table = gr.Dataframe(
                headers=GT_HEADERS, datatype="number", type="array", interactive=True,
                label="Ground truth (class 0 = dog, 1 = cat)", column_count=5, max_height=160,
                elem_id="anchors-gt-table")
            anchor_table = gr.Dataframe(
                headers=ANCHOR_HEADERS, datatype="number", type="array", interactive=True,
                label="Anchors", column_count=4, max_height=250, elem_id="anchors-anchor-table")
            with gr.Accordion("the tables as text (what a link carries)", open=False):
                gt = gr.Textbox(view.gt, label="ground truth (class:x1,y1,x2,y2; ...)", max_lines=3,
                                elem_id="anchors-gt")
                anchors = gr.Textbox(view.anchors, label="anchors (x1,y1,x2,y2; ...)", max_lines=4,
                                     elem_id="anchors-anchors")
        with gr.Column(scale=4):
            heatmap = _picture("IoU matrix", "anchors-heatmap", image_format="png")
            step_text = gr.Markdown(elem_id="anchors-step-text")
        with gr.Column(scale=4):
            image = _picture("Ground truth (black) and anchors (solid: assigned, dashed: not)", "anchors-label-image",
                             image_format="png")  # many small labels: PNG keeps their letters sharp
    offsets = gr.Dataframe(headers=OFFSET_HEADERS, datatype=["html"] + ["str"] * 10, type="array",
                           interactive=False, label="Class labels and offset targets (final assignment)",
                           max_height=330)
    gr.Markdown(LABELING_MD, latex_delimiters=LATEX)
    with gr.Accordion("JSON (what the anchors_label endpoint returns)", open=False):
        data = gr.JSON(show_label=False)
    return dict(step=step, threshold=threshold, gt_table=gt_table, anchor_table=anchor_table, gt=gt,
                anchors=anchors, outputs=[image, heatmap, step_text, offsets, data])


def build() -> TabUI:
    """The Anchors & IoU tab (called inside a `gr.Tab`)."""
    view = AnchorsView()
    with gr.Row(equal_height=True, elem_classes=["anchors-source"]):
        sample = gr.Dropdown([(IMAGE_LABELS[t], t) for t in (BOOK_CANVAS, *SAMPLE_TOKENS)], value=view.image,
                             label="Image", scale=3, show_label=False, container=False, elem_id="anchors-image")
        upload = gr.UploadButton("Upload your own image", file_types=["image"], type="filepath", scale=1,
                                 size="md", elem_id="anchors-upload")
        info = gr.Markdown(container=False)
    gr.Markdown(INTRO)
    with gr.Tabs() as parts:
        with gr.Tab("Boxes", id="boxes"):
            boxes = _build_boxes(view)
        with gr.Tab("Anchors", id="anchors"):
            anchors = _build_anchors(view)
        with gr.Tab("Multiscale", id="multiscale"):
            grid = _build_multiscale(view)
        with gr.Tab("IoU", id="iou"):
            iou = _build_iou(view)
        with gr.Tab("Labeling", id="labeling"):
            labeling = _build_labeling(view)
    _connect(sample, upload, info, boxes, anchors, grid, iou, labeling)
    controls = [sample, boxes["boxes"], anchors["sizes"], anchors["ratios"], anchors["x"], anchors["y"], grid["fh"],
                grid["fw"], grid["sizes"], grid["ratios"], iou["box_a"], iou["box_b"], labeling["gt"],
                labeling["anchors"], labeling["threshold"], labeling["step"]]
    outputs = [info, boxes["corner"], boxes["center"], boxes["image"], boxes["json"], *anchors["outputs"],
               *grid["outputs"], *iou["outputs"], labeling["gt_table"], labeling["anchor_table"], labeling["step"],
               *labeling["outputs"]]
    return TabUI(AnchorsView, controls, outputs, show, uploads=[upload], parts=parts)


def _connect(sample: gr.Dropdown, upload: gr.UploadButton, info: gr.Markdown, boxes: dict, anchors: dict, grid: dict,
             iou: dict, labeling: dict) -> None:
    """The tab's events: each sub-tab computes on its own inputs; a new picture redraws every sub-tab."""
    anchor_outputs, grid_outputs, label_outputs = anchors["outputs"], grid["outputs"], labeling["outputs"]
    settings = [anchors["sizes"], anchors["ratios"], grid["fh"], grid["fw"], grid["sizes"], grid["ratios"],
                labeling["gt_table"], labeling["anchor_table"], labeling["threshold"], labeling["step"]]
    source_outputs = [info, boxes["corner"], boxes["center"], boxes["image"], boxes["json"], anchors["x"],
                      anchors["y"], *anchor_outputs, *grid_outputs, label_outputs[0], boxes["boxes"]]
    sample.input(_on_sample, [sample, upload, *settings], [sample, upload, *source_outputs], api_visibility="private")
    upload.upload(_on_upload, [upload, *settings], [sample, *source_outputs], api_visibility="private")

    corner, center = boxes["corner"], boxes["center"]
    to_text = dict(fn=boxes_text, inputs=corner, outputs=boxes["boxes"], api_visibility="private", queue=False)
    corner.input(boxes_from_corner, [upload, sample, corner], [boxes["image"], center, boxes["json"]],
                 api_name="boxes_convert", trigger_mode="always_last").success(**to_text)
    center.input(boxes_from_center, [upload, sample, center], [boxes["image"], corner, boxes["json"]],
                 api_name="boxes_convert_center", trigger_mode="always_last").success(**to_text)
    gr.on([boxes["boxes"].submit, boxes["boxes"].blur], _boxes_typed, [upload, sample, boxes["boxes"]],
          [corner, boxes["image"], center, boxes["json"]], api_visibility="private", trigger_mode="always_last")

    sizes, ratios, x, y = anchors["sizes"], anchors["ratios"], anchors["x"], anchors["y"]
    anchor_inputs = [upload, sample, sizes, ratios, x, y]
    gr.on([sizes.submit, ratios.submit, x.submit, y.submit, sizes.blur, ratios.blur, x.blur, y.blur],
          anchors_at_pixel, anchor_inputs, anchor_outputs, api_name="anchors_at_pixel", trigger_mode="always_last")
    # a click is one event: the new center and its anchors together (docs/performance.md §4)
    anchor_outputs[0].select(_clicked_center, [upload, sample, sizes, ratios], [x, y, *anchor_outputs],
                             api_visibility="private", trigger_mode="always_last", show_progress="minimal")

    grid_inputs = [upload, sample, grid["fh"], grid["fw"], grid["sizes"], grid["ratios"]]
    gr.on([grid["fh"].release, grid["fw"].release, grid["sizes"].submit, grid["ratios"].submit, grid["sizes"].blur,
           grid["ratios"].blur], anchors_grid, grid_inputs, grid_outputs, api_name="anchors_grid",
          trigger_mode="always_last")
    for button, name in zip(grid["presets"], GRID_PRESETS):
        button.click(lambda n=name: _set_grid_preset(n), None, [grid["fh"], grid["fw"], grid["sizes"]],
                     api_visibility="private", queue=False).then(anchors_grid, grid_inputs, grid_outputs,
                                                                 api_visibility="private")

    box_a, box_b = iou["box_a"], iou["box_b"]
    gr.on([box_a.submit, box_b.submit, box_a.blur, box_b.blur], iou_view, [box_a, box_b], iou["outputs"],
          api_name="anchors_iou", trigger_mode="always_last")
    iou["outputs"][0].select(_clicked_box_b, [box_a, box_b], [box_b, *iou["outputs"]], api_visibility="private",
                             trigger_mode="always_last")

    step, threshold = labeling["step"], labeling["threshold"]
    gt_table, anchor_table = labeling["gt_table"], labeling["anchor_table"]
    label_inputs = [gt_table, anchor_table, threshold, step, upload, sample]
    gr.on([threshold.release, step.input], anchors_label, label_inputs, label_outputs, api_name="anchors_label",
          trigger_mode="always_last")
    gr.on([gt_table.input, anchor_table.input], _labeling_tables_changed, label_inputs,
          [labeling["gt"], labeling["anchors"], step, *label_outputs], api_visibility="private",
          trigger_mode="always_last")
    gr.on([labeling["gt"].submit, labeling["anchors"].submit, labeling["gt"].blur, labeling["anchors"].blur],
          _labeling_typed, [labeling["gt"], labeling["anchors"], threshold, step, upload, sample],
          [gt_table, anchor_table, step, *label_outputs], api_visibility="private", trigger_mode="always_last")
