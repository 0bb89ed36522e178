"""The NMS tab: step through greedy non-maximum suppression on the book's example, on random
clutter, on a table you edit, or on raw detector candidates sent by another tab.

Candidates travel as JSON (the `CANDIDATES_BOX` textbox and the `nms_run` endpoint):

    {"image_size": [W, H],            # optional: the picture the boxes live on (pixels)
     "normalized": false,             # optional: boxes are fractions of image_size (auto-detected)
     "class_names": ["dog", "cat"],   # optional: names for the integer classes
     "candidates": [[x1, y1, x2, y2, score, class], ...]}

`candidates` may also be given as parallel lists `"boxes"` (N, 4), `"scores"` (N,), `"labels"` (N,),
or as a list of `{"box": [...], "score": s, "label": c}` objects; a bare list of rows works too.
Boxes are (x1, y1, x2, y2) corners, scores in [0, 1], classes integers (or names).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Sequence

import gradio as gr
import numpy as np
import torch
from PIL import Image, ImageDraw

from demos.common import (
    LabelPlacer, book_link, column_widths, header, image_upload, parse_seed, pil_font, read_image, readable_on,
    sample_names, to_jsonable, user_errors,
)

TITLE = "NMS"

MAX_CANDIDATES = 300
"""More candidates than this are refused (the picture and the step table stop being readable)."""

MAX_IMAGE_SIDE = 4096
CANVAS = "neutral canvas"
UPLOADED = "uploaded / sent image"
DRAW_SIDE = 820
"""Pictures are drawn with this longer side (readable on a 1366x768 projector)."""

FINAL_STEP = MAX_CANDIDATES
"""Any step >= the number of greedy steps shows the finished result; the step input's maximum."""

BOOK_IMAGE_SIZE = (728, 561)
"""(W, H) of the book's catdog.jpg; its normalised boxes are drawn on a canvas of this size."""

BOOK_BOXES = [[0.1, 0.08, 0.52, 0.92], [0.08, 0.2, 0.56, 0.95], [0.15, 0.3, 0.62, 0.91], [0.55, 0.2, 0.9, 0.88]]
BOOK_SCORES = [0.9, 0.8, 0.7, 0.9]
BOOK_LABELS = [0, 0, 0, 1]
BOOK_CLASS_NAMES = ["dog", "cat"]

CLUTTER_SIZE = (640, 480)
CLUTTER_CLASS_NAMES = ["A", "B", "C", "D", "E"]

PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (148, 103, 189), (23, 190, 207),
           (227, 119, 194), (140, 86, 75), (188, 189, 34)]
"""Class colours (class k: PALETTE[k % 8]). The box's line style tells its status, the colour only its class: no red,
which a student reads as "suppressed", and no grey, the colour of the suppressed boxes."""
BASELINE_HALO = (255, 200, 0)
STATUS_INK = (60, 60, 60)
"""The legend draws the status styles in this neutral grey: a style sample in a class colour would say that the
status has that colour."""

TABLE_HEADERS = ["#", "x1", "y1", "x2", "y2", "score", "class"]
STEP_HEADERS = ["step", "baseline", "class", "score", "suppresses (IoU)", "left after"]

# --- candidates: parsing, generators, JSON -------------------------------------------------


@dataclass
class Candidates:
    """Boxes to run NMS on.

    boxes: (N, 4) float64 (x1, y1, x2, y2), in pixels of `image_size` or normalised when `normalized`.
    scores: (N,) float64 in [0, 1]; labels: (N,) int64 >= 0.
    image_size: (W, H) of the picture the boxes belong to.
    """

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    class_names: list[str] = field(default_factory=list)
    image_size: tuple[int, int] = CLUTTER_SIZE
    normalized: bool = False

    def class_name(self, label: int) -> str:
        return self.class_names[label] if 0 <= label < len(self.class_names) else str(label)

    def pixel_boxes(self) -> np.ndarray:
        """(N, 4) boxes in pixels of `image_size`."""
        if not self.normalized:
            return self.boxes
        width, height = self.image_size
        return self.boxes * np.array([width, height, width, height], dtype=np.float64)

    def to_json(self) -> str:
        rows = [[*map(_short, box), _short(score), int(label)]
                for box, score, label in zip(self.boxes.tolist(), self.scores.tolist(), self.labels.tolist())]
        body = ",\n  ".join(json.dumps(row) for row in rows)
        return (
            "{" + f'"image_size": {json.dumps(list(self.image_size))}, "normalized": {json.dumps(self.normalized)}, '
            f'"class_names": {json.dumps(self.class_names)},\n "candidates": [\n  {body}\n ]' + "}"
        )

    def table(self) -> list[list[Any]]:
        """Rows [#, x1, y1, x2, y2, score, class name] for the editable table, rounded to what its columns show
        (0.1 pixel, 0.001 of a normalised coordinate or a score): an edit sends the table's values back."""
        digits = 3 if self.normalized else 1
        return [[i, *(round(v, digits) for v in box), round(score, 3), self.class_name(int(label))]
                for i, (box, score, label) in enumerate(zip(self.boxes.tolist(), self.scores.tolist(),
                                                            self.labels.tolist()))]


def _short(value: float) -> float:
    return float(f"{value:.6g}")


def book_candidates() -> Candidates:
    """The book's NMS example (d2l 14.4.4): three dog boxes (0.9, 0.8, 0.7) and a cat box (0.9), normalised."""
    return Candidates(
        boxes=np.array(BOOK_BOXES, dtype=np.float64),
        scores=np.array(BOOK_SCORES, dtype=np.float64),
        labels=np.array(BOOK_LABELS, dtype=np.int64),
        class_names=list(BOOK_CLASS_NAMES),
        image_size=BOOK_IMAGE_SIZE,
        normalized=True,
    )


def clutter_candidates(seed: int, n_objects: int = 5, per_object: int = 4, n_classes: int = 3,
                       n_false: int = 3) -> Candidates:
    """Random detector-like clutter on a 640x480 picture, reproducible from `seed`.

    Each of `n_objects` objects gets `per_object` noisy candidate boxes (the noisier, the lower the
    score; sometimes the wrong class), plus `n_false` low-scoring background boxes.
    """
    rng = np.random.default_rng(seed)
    width, height = CLUTTER_SIZE
    size = np.array([width, height, width, height], dtype=np.float64)
    # objects: (n_objects, 4) normalised (cx, cy, w, h)
    wh = rng.uniform([0.14, 0.16], [0.38, 0.45], size=(n_objects, 2))
    centers = rng.uniform(wh / 2, 1 - wh / 2)
    truth = np.concatenate([centers - wh / 2, centers + wh / 2], axis=1)  # (n_objects, 4) corners
    classes = rng.integers(0, n_classes, size=n_objects)
    # candidates: (n_objects, per_object, 4) corner noise relative to the object's size
    noise = rng.normal(0.0, 0.1, size=(n_objects, per_object, 4))
    noise[:, 0] *= 0.3  # the first candidate of each object is a good one
    boxes = truth[:, None, :] + noise * np.tile(wh, 2)[:, None, :]
    badness = np.abs(noise).mean(axis=2)  # (n_objects, per_object)
    scores = np.clip(0.97 - 3.0 * badness + rng.normal(0.0, 0.04, size=badness.shape), 0.05, 0.99)
    wrong = rng.random(size=badness.shape) < 0.15
    labels = np.where(wrong, rng.integers(0, n_classes, size=badness.shape), classes[:, None])
    boxes, scores, labels = boxes.reshape(-1, 4), scores.reshape(-1), labels.reshape(-1)
    if n_false:
        false_wh = rng.uniform(0.06, 0.2, size=(n_false, 2))
        false_c = rng.uniform(false_wh / 2, 1 - false_wh / 2)
        boxes = np.concatenate([boxes, np.concatenate([false_c - false_wh / 2, false_c + false_wh / 2], 1)])
        scores = np.concatenate([scores, rng.uniform(0.05, 0.35, size=n_false)])
        labels = np.concatenate([labels, rng.integers(0, n_classes, size=n_false)])
    boxes = np.clip(boxes, 0.0, 1.0) * size
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 4.0)  # at least 4 px wide and high
    order = rng.permutation(len(scores))  # candidates arrive unsorted, as from a detector
    return Candidates(
        boxes=np.round(boxes[order], 1),
        scores=np.round(scores[order], 2),
        labels=labels[order].astype(np.int64),
        class_names=CLUTTER_CLASS_NAMES[:n_classes],
        image_size=CLUTTER_SIZE,
        normalized=False,
    )


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{what}: expected a number, got {value!r}.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: expected a number, got {value!r}.") from None
    if not math.isfinite(number):
        raise ValueError(f"{what}: {value!r} is not a finite number.")
    return number


def _rows_from_payload(payload: Any) -> tuple[list[Any], dict]:
    """Split a decoded JSON payload into candidate rows and its metadata dict."""
    if isinstance(payload, list):
        return payload, {}
    if not isinstance(payload, dict):
        raise ValueError("Candidates JSON must be a list of rows or an object with a \"candidates\" list.")
    if "candidates" in payload:
        rows = payload["candidates"]
        if not isinstance(rows, list):
            raise ValueError("\"candidates\" must be a list of [x1, y1, x2, y2, score, class] rows.")
        return rows, payload
    if "boxes" in payload:
        boxes, scores = payload.get("boxes"), payload.get("scores")
        labels = payload.get("labels", None)
        if not isinstance(boxes, list) or not isinstance(scores, list):
            raise ValueError("\"boxes\" and \"scores\" must both be lists.")
        if labels is None:
            labels = [0] * len(boxes)
        if not isinstance(labels, list) or not (len(boxes) == len(scores) == len(labels)):
            raise ValueError(f"\"boxes\", \"scores\" and \"labels\" must have the same length "
                             f"(got {len(boxes)}, {len(scores)}, {len(labels) if isinstance(labels, list) else '?'}).")
        rows = [{"box": b, "score": s, "label": c} for b, s, c in zip(boxes, scores, labels)]
        return rows, payload
    raise ValueError("Candidates JSON object needs a \"candidates\" list (or \"boxes\" and \"scores\").")


def candidates_from_rows(rows: Sequence[Any], *, class_names: Sequence[str] = (),
                         image_size: Any = None, normalized: Any = None) -> Candidates:
    """Validate rows `[x1, y1, x2, y2, score(, class)]` or `{"box", "score", "label"}` into `Candidates`.

    A class may be an integer or a name (names not in `class_names` are appended).
    Raises ValueError with a user-facing message.
    """
    names = [str(n) for n in class_names]
    if len(rows) == 0:
        raise ValueError("There are no candidate boxes: load the book's example, generate clutter or add rows.")
    if len(rows) > MAX_CANDIDATES:
        raise ValueError(f"Too many candidates: {len(rows)} (at most {MAX_CANDIDATES}).")
    boxes, scores, labels = [], [], []
    for i, row in enumerate(rows):
        where = f"candidate {i}"
        if isinstance(row, dict):
            box = row.get("box", row.get("bbox"))
            score = row.get("score", row.get("confidence"))
            label = row.get("label", row.get("class", 0))
            if not isinstance(box, (list, tuple)) or len(box) != 4:
                raise ValueError(f"{where}: \"box\" must be [x1, y1, x2, y2].")
            values = [*box, score, label]
        elif isinstance(row, (list, tuple)):
            values = list(row)
            if len(values) == 5:
                values.append(0)
            if len(values) != 6:
                raise ValueError(f"{where}: expected [x1, y1, x2, y2, score, class], got {len(values)} values.")
        else:
            raise ValueError(f"{where}: expected a row [x1, y1, x2, y2, score, class], got {row!r}.")
        x1, y1, x2, y2 = (_number(v, f"{where} {k}") for v, k in zip(values[:4], ("x1", "y1", "x2", "y2")))
        if x2 < x1 or y2 < y1:
            raise ValueError(f"{where}: corners must satisfy x1 <= x2 and y1 <= y2 (got {[x1, y1, x2, y2]}).")
        score = _number(values[4], f"{where} score")
        if not 0.0 <= score <= 1.0:
            raise ValueError(f"{where}: scores must lie in [0, 1] (got {score}); apply a sigmoid/softmax first.")
        label = values[5]
        if label is None or (isinstance(label, str) and label.strip() == ""):
            label = 0
        if isinstance(label, str) and not _is_int(label):
            name = label.strip()
            if name not in names:
                names.append(name)
            label_index = names.index(name)
        else:
            label_value = _number(label, f"{where} class")
            if label_value != int(label_value) or label_value < 0:
                raise ValueError(f"{where}: a class must be a non-negative integer or a name (got {label!r}).")
            label_index = int(label_value)
            if label_index > 999:
                raise ValueError(f"{where}: class {label_index} is too large (at most 999).")
        boxes.append([x1, y1, x2, y2])
        scores.append(score)
        labels.append(label_index)
    boxes_array = np.array(boxes, dtype=np.float64)
    if normalized is None:
        normalized = bool(boxes_array.min() >= 0.0 and boxes_array.max() <= 1.0)
    normalized = bool(normalized)
    if image_size is None:
        if normalized:
            image_size = CLUTTER_SIZE
        else:
            image_size = (max(1, math.ceil(boxes_array[:, 2].max())), max(1, math.ceil(boxes_array[:, 3].max())))
    image_size = _image_size(image_size)
    return Candidates(boxes_array, np.array(scores, dtype=np.float64), np.array(labels, dtype=np.int64),
                      names, image_size, normalized)


def _is_int(text: str) -> bool:
    try:
        value = float(text)
    except ValueError:
        return False
    return math.isfinite(value) and value == int(value)


def _image_size(value: Any) -> tuple[int, int]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"\"image_size\" must be [width, height], got {value!r}.")
    width, height = (_number(v, "image_size") for v in value)
    if not (1 <= width <= MAX_IMAGE_SIDE and 1 <= height <= MAX_IMAGE_SIDE):
        raise ValueError(f"\"image_size\" must be between 1 and {MAX_IMAGE_SIDE} pixels per side, got {value!r}.")
    return int(round(width)), int(round(height))


def parse_candidates(text: str) -> Candidates:
    """Candidates from the JSON text of the textbox or the API (format in the module docstring)."""
    if text is None or str(text).strip() == "":
        raise ValueError("The candidates JSON is empty: load the book's example or generate clutter.")
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"The candidates are not valid JSON: {error.msg} "
                         f"(line {error.lineno}, column {error.colno}).") from None
    rows, meta = _rows_from_payload(payload)
    names = meta.get("class_names", [])
    if not isinstance(names, list):
        raise ValueError("\"class_names\" must be a list of strings.")
    return candidates_from_rows(rows, class_names=names, image_size=meta.get("image_size"),
                                normalized=meta.get("normalized"))


def candidates_from_table(table: Any, previous_json: str) -> Candidates:
    """Candidates from the edited table; image size, normalisation and class names kept from `previous_json`."""
    if hasattr(table, "values"):
        rows = table.values.tolist()
    else:
        rows = list(table or [])
    rows = [list(row)[1:] for row in rows]  # drop the "#" column
    rows = [row for row in rows if any(str(v).strip() not in ("", "nan", "None") for v in row)]
    try:
        meta = _rows_from_payload(json.loads(previous_json))[1]
    except (ValueError, TypeError):
        meta = {}
    names = meta.get("class_names", []) if isinstance(meta.get("class_names", []), list) else []
    return candidates_from_rows(rows, class_names=names, image_size=meta.get("image_size"),
                                normalized=meta.get("normalized"))


# --- the greedy process, traced --------------------------------------------------------------


@dataclass
class Step:
    """One greedy step: the `baseline` candidate is kept and removes `suppressed` (IoU > threshold)."""

    baseline: int
    suppressed: list[int]
    ious: list[float]


@dataclass
class Trace:
    """NMS on `Candidates` with every step recorded; all indices refer to the original candidates."""

    active: np.ndarray  # (M,) indices with score >= the score threshold
    steps: list[Step]
    kept: list[int]  # in the order NMS returns them (decreasing score)


def run_nms(candidates: Candidates, score_threshold: float, iou_threshold: float, class_aware: bool) -> Trace:
    """Score filter, then greedy NMS (class-aware: a box only suppresses boxes of its own class)."""
    from core.ops.nms import nms_steps

    active = np.flatnonzero(candidates.scores >= score_threshold)
    if len(active) == 0:
        return Trace(active, [], [])
    boxes = torch.as_tensor(candidates.boxes[active], dtype=torch.float32)  # (M, 4)
    scores = torch.as_tensor(candidates.scores[active], dtype=torch.float32)  # (M,)
    labels = torch.as_tensor(candidates.labels[active]) if class_aware else None  # (M,) or None: class-agnostic
    raw_steps = nms_steps(boxes, scores, iou_threshold, idxs=labels)
    steps = [Step(int(active[s.baseline]), [int(active[i]) for i in s.suppressed], [float(v) for v in s.ious])
             for s in raw_steps]
    return Trace(active, steps, [s.baseline for s in steps])


# --- drawing ------------------------------------------------------------------------------------


def _scaled(image: Image.Image, note: str) -> tuple[Image.Image, str]:
    scale = DRAW_SIDE / max(image.size)
    return image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BILINEAR), note


@lru_cache(maxsize=32)
def _cached_background(image_size: tuple[int, int], background: str) -> tuple[Image.Image, str]:
    return _scaled(*_background(image_size, background, None))


def _background(image_size: tuple[int, int], background: str, upload: Any) -> tuple[Image.Image, str]:
    """The picture to draw on, at the candidates' image size (W, H), and a note saying what it is."""
    width, height = image_size
    if background == UPLOADED:
        if upload is None:
            background = CANVAS
        else:
            # the picture is drawn at the boxes' size (then at DRAW_SIDE): a larger upload is downscaled on load
            array = read_image(upload, max_side=max(width, height, DRAW_SIDE))
            image = Image.fromarray(array)
            note = "your image"
            if image.size != (width, height):
                note += f" (resized from {image.width}x{image.height} to the boxes' {width}x{height})"
                image = image.resize((width, height), Image.Resampling.BILINEAR)
            return image, note
    if background in sample_names():
        image = Image.fromarray(read_image(None, sample=background, max_side=None))
        note = f"sample '{background}'"
        if image.size != (width, height):
            image = image.resize((width, height), Image.Resampling.BILINEAR)
            note += f" stretched to {width}x{height}"
        image = Image.blend(image, Image.new("RGB", image.size, (255, 255, 255)), 0.45)
        return image, note
    image = Image.new("RGB", (width, height), (246, 246, 242))
    draw = ImageDraw.Draw(image)
    grid = max(width, height) / 10
    for k in range(1, 10):
        draw.line([(k * grid, 0), (k * grid, height)], fill=(230, 230, 224))
        draw.line([(0, k * grid), (width, k * grid)], fill=(230, 230, 224))
    return image, f"neutral canvas {width}x{height}"


class _DashedBoxes:
    """Dashed rectangle outlines, drawn in one pass: solid outlines on a mask, cut by a diagonal dash pattern."""

    def __init__(self, size: tuple[int, int]):
        self.size = size
        self.layers: dict[tuple, Image.Image] = {}

    def add(self, box: Sequence[float], color: tuple, width: int, period: int = 16, dash: int = 10) -> None:
        key = (color, period, dash)
        if key not in self.layers:
            self.layers[key] = (Image.new("L", self.size, 0), Image.new("L", self.size, 0))
        horizontal, vertical = (ImageDraw.Draw(layer) for layer in self.layers[key])
        x1, y1, x2, y2 = box
        for y in (y1 + width / 2, y2 - width / 2):
            horizontal.line([(x1, y), (x2, y)], fill=255, width=width)
        for x in (x1 + width / 2, x2 - width / 2):
            vertical.line([(x, y1), (x, y2)], fill=255, width=width)

    def paste_on(self, image: Image.Image) -> None:
        for (color, period, dash), (horizontal, vertical) in self.layers.items():
            along_x, along_y = _dash_patterns(self.size, period, dash)
            mask = np.maximum(np.asarray(horizontal) * along_x, np.asarray(vertical) * along_y)  # (H, W) uint8
            image.paste(color, (0, 0), Image.fromarray(mask, "L"))
        self.layers.clear()


@lru_cache(maxsize=16)
def _dash_patterns(size: tuple[int, int], period: int, dash: int) -> tuple[np.ndarray, np.ndarray]:
    """Two (H, W) uint8 {0, 1} masks cutting horizontal / vertical lines into `dash`-long pieces every `period`."""
    yy, xx = np.indices(size[::-1])  # (H, W) each
    return ((xx % period) < dash).astype(np.uint8), ((yy % period) < dash).astype(np.uint8)


def _class_color(label: int) -> tuple[int, int, int]:
    return PALETTE[label % len(PALETTE)]


def status_at(trace: Trace, n: int, step: int) -> tuple[dict[int, str], dict[int, tuple[int, float]]]:
    """Each candidate's status after `step` greedy steps: 'below' (score filter), 'waiting', 'kept',
    'baseline' (the step's baseline) or 'suppressed'; plus, for suppressed ones, (by whom, IoU)."""
    status = {i: "below" for i in range(n)}
    for i in trace.active.tolist():
        status[i] = "waiting"
    by: dict[int, tuple[int, float]] = {}
    for k, s in enumerate(trace.steps[:step]):
        status[s.baseline] = "baseline" if k == step - 1 else "kept"
        for i, iou in zip(s.suppressed, s.ious):
            status[i] = "suppressed"
            by[i] = (s.baseline, iou)
    return status, by


MAX_WAITING_LABELS = 40
"""Waiting boxes get labels only when there are at most this many (beyond, they are just clutter)."""
LEGEND_ROW = 30
"""Height of a row of the legend (pixels)."""
STATUS_STYLES = (("kept", "kept (thick)"), ("baseline", "baseline (kept now)"), ("suppressed", "suppressed now (IoU)"),
                 ("earlier", "suppressed earlier"), ("waiting", "waiting (thin)"), ("below", "below score thr."))
"""(status, what the legend says) in the legend's order: each status has its own line style."""


def _status_sample(draw: ImageDraw.ImageDraw, dashed: "_DashedBoxes", status: str, box: list[float],
                   color: tuple[int, int, int]) -> None:
    """Draw `box` in the line style of `status` (the picture and the legend share this)."""
    if status == "below":
        dashed.add(box, (200, 200, 200), 1, period=8, dash=3)
    elif status == "waiting":
        draw.rectangle(box, outline=color, width=2)
    elif status == "suppressed":
        dashed.add(box, (95, 95, 95), 3)
    elif status == "earlier":
        dashed.add(box, (185, 185, 185), 2)
    else:
        if status == "baseline":
            draw.rectangle([box[0] - 4, box[1] - 4, box[2] + 4, box[3] + 4], outline=BASELINE_HALO, width=5)
        draw.rectangle(box, outline=color, width=4)


@lru_cache(maxsize=64)
def _legend(width: int, classes: tuple[tuple[str, tuple[int, int, int]], ...] = ()) -> Image.Image:
    """The strip under the picture: the line style of each status (drawn in neutral grey), then the colour of
    each class shown; entries flow onto as many rows as `width` needs."""
    font = pil_font(16)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    entries = [("style", status, text) for status, text in STATUS_STYLES]
    if classes:
        entries += [("text", None, "colour = class:")] + [("class", color, name) for name, color in classes]
    placed, x, row = [], 8, 0
    for kind, what, text in entries:
        item = (0 if kind == "text" else 36) + measure.textlength(text, font=font)
        if x > 8 and x + item > width - 8:
            x, row = 8, row + 1
        placed.append((kind, what, text, x, row))
        x += item + 18
    strip = Image.new("RGB", (width, (row + 1) * LEGEND_ROW + 8), (255, 255, 255))
    draw = ImageDraw.Draw(strip)
    dashed = _DashedBoxes(strip.size)
    for kind, what, text, x, row in placed:
        y = 6 + row * LEGEND_ROW
        box = [x + 4, y + 4, x + 28, y + 18]
        if kind == "style":
            _status_sample(draw, dashed, what, box, STATUS_INK)
        elif kind == "class":
            draw.rectangle(box, fill=what)
        draw.text((x if kind == "text" else x + 36, y), text, fill=(40, 40, 40), font=font)
    dashed.paste_on(strip)
    return strip


def render(candidates: Candidates, trace: Trace, step: int, background: str = CANVAS,
           upload: Any = None) -> tuple[np.ndarray, str]:
    """Draw the candidates after `step` greedy steps. Returns (H, W, 3) uint8 and a note on the background."""
    if background == UPLOADED and upload is not None:
        image, note = _scaled(*_background(candidates.image_size, background, upload))
    else:
        image, note = _cached_background(candidates.image_size, background if background in sample_names() else CANVAS)
    scale = image.width / candidates.image_size[0]
    shown_classes = sorted({int(k) for k in candidates.labels.tolist()})
    legend = _legend(image.width, tuple((candidates.class_name(k), _class_color(k)) for k in shown_classes))
    canvas = Image.new("RGB", (image.width, image.height + legend.height), (255, 255, 255))  # image is shared: copy
    canvas.paste(image, (0, 0))
    canvas.paste(legend, (0, image.height))
    draw = ImageDraw.Draw(canvas)
    dashed = _DashedBoxes(canvas.size)
    boxes = candidates.pixel_boxes() * scale
    status, by = status_at(trace, len(candidates.scores), step)
    current = trace.steps[step - 1].baseline if step > 0 else None
    labels = LabelPlacer(canvas, (image.width, image.height))
    order = {"below": 0, "waiting": 1, "suppressed": 2, "kept": 3, "baseline": 4}
    drawing_order = sorted(status, key=lambda j: (order[status[j]], candidates.scores[j]))
    solid_from = next((k for k, j in enumerate(drawing_order) if status[j] in ("kept", "baseline")), len(drawing_order))
    for k, i in enumerate(drawing_order):  # boxes first, lowest priority first
        if k == solid_from:
            dashed.paste_on(canvas)  # dashed ones under the kept ones
        kind = status[i]
        if kind == "suppressed" and by[i][0] != current:
            kind = "earlier"
        _status_sample(draw, dashed, kind, boxes[i].tolist(), _class_color(int(candidates.labels[i])))
    if solid_from == len(drawing_order):
        dashed.paste_on(canvas)
    label_waiting = sum(1 for v in status.values() if v == "waiting") <= MAX_WAITING_LABELS
    for i in reversed(drawing_order):  # then labels, most important first
        box = boxes[i].tolist()
        color = _class_color(int(candidates.labels[i]))
        name = f"#{i} {candidates.class_name(int(candidates.labels[i]))} {candidates.scores[i]:.2f}"
        kind = status[i]
        if kind == "baseline":
            labels.add(box, f"baseline {name}", BASELINE_HALO, 20, text_color=(0, 0, 0))
        elif kind == "kept":
            labels.add(box, f"kept {name}", color, 20, text_color=readable_on(color))
        elif kind == "suppressed" and by[i][0] == current:
            labels.add(box, f"#{i} IoU {by[i][1]:.2f}", (80, 80, 80), 20)
        elif kind == "waiting" and label_waiting:
            labels.add(box, name, color, 17, text_color=readable_on(color), required=False)
    return np.asarray(canvas), note


# --- the endpoint --------------------------------------------------------------------------------


def _steps_table(candidates: Candidates, trace: Trace, step: int) -> list[list[Any]]:
    rows = []
    remaining = len(trace.active)
    for k, s in enumerate(trace.steps, start=1):
        remaining -= 1 + len(s.suppressed)
        suppressed = ", ".join(f"#{i} ({iou:.2f})" for i, iou in zip(s.suppressed, s.ious)) or "—"
        marker = "▶ " if k == step else ""
        rows.append([f"{marker}{k}", f"#{s.baseline}", candidates.class_name(int(candidates.labels[s.baseline])),
                     round(float(candidates.scores[s.baseline]), 3), suppressed, remaining])
    return rows


def _caption(candidates: Candidates, trace: Trace, step: int, counts: dict, note: str, class_aware: bool) -> str:
    mode = ("class-aware (a box only suppresses its own class)" if class_aware
            else "class-agnostic (any class suppresses any)")
    head = (f"**{counts['candidates']}** candidates → "
            f"**{counts['above_score_threshold']}** with score ≥ threshold → "
            f"**{counts['kept']}** kept after NMS ({counts['suppressed']} suppressed). Mode: {mode}.")
    if not trace.steps:
        return head + "\n\nNo candidate passes the score threshold."
    if step == 0:
        now = "Step 0: candidates sorted by score, nothing decided yet."
    else:
        s = trace.steps[step - 1]
        victims = ", ".join(f"#{i} (IoU {iou:.2f})" for i, iou in zip(s.suppressed, s.ious)) or "nothing"
        now = (f"Step {step}/{len(trace.steps)}: baseline **#{s.baseline}** "
               f"({candidates.class_name(int(candidates.labels[s.baseline]))}, {candidates.scores[s.baseline]:.2f}) "
               f"is kept and suppresses {victims}.")
        if step == len(trace.steps):
            now += " Done."
    return f"{head}\n\n{now} *Drawn on: {note}.*"


def nms_result(candidates_json: str, score_threshold: float = 0.0, iou_threshold: float = 0.5,
               class_aware: bool = False, step: int = FINAL_STEP, background: str = CANVAS,
               upload: Any = None) -> tuple[np.ndarray, dict, list[list[Any]], str, int, int]:
    """Everything the tab shows. Returns (picture, JSON result, steps table, caption, step shown, number of steps)."""
    candidates = parse_candidates(candidates_json)
    score_threshold = _number(score_threshold, "score threshold")
    iou_threshold = _number(iou_threshold, "IoU threshold")
    if not 0.0 <= score_threshold <= 1.0:
        raise ValueError(f"The score threshold must lie in [0, 1], got {score_threshold}.")
    if not 0.0 <= iou_threshold <= 1.0:
        raise ValueError(f"The IoU threshold must lie in [0, 1], got {iou_threshold}.")
    step_value = _number(step if step is not None else FINAL_STEP, "step")
    trace = run_nms(candidates, score_threshold, iou_threshold, bool(class_aware))
    n_steps = len(trace.steps)
    shown = int(min(max(step_value, 0), n_steps))
    picture, note = render(candidates, trace, shown, background, upload)
    counts = {
        "candidates": int(len(candidates.scores)),
        "above_score_threshold": int(len(trace.active)),
        "kept": len(trace.kept),
        "suppressed": int(len(trace.active)) - len(trace.kept),
    }
    pixel_boxes = candidates.pixel_boxes()
    result = {
        "kept": trace.kept,
        "kept_boxes": [
            {"index": i, "box": pixel_boxes[i], "score": candidates.scores[i], "label": int(candidates.labels[i]),
             "class_name": candidates.class_name(int(candidates.labels[i]))}
            for i in trace.kept
        ],
        "steps": [{"step": k, "baseline": s.baseline, "suppressed": s.suppressed, "ious": s.ious}
                  for k, s in enumerate(trace.steps, start=1)],
        "counts": counts,
        "step_shown": shown,
        "n_steps": n_steps,
        "class_aware": bool(class_aware),
        "score_threshold": score_threshold,
        "iou_threshold": iou_threshold,
        "image_size": list(candidates.image_size),
    }
    caption = _caption(candidates, trace, shown, counts, note, bool(class_aware))
    return picture, to_jsonable(result), _steps_table(candidates, trace, shown), caption, shown, n_steps


# --- the tab ----------------------------------------------------------------------------------------

CANDIDATES_BOX: gr.Textbox | None = None
"""The candidates JSON textbox (set by `build`): other tabs write into it through `load_candidates`."""
CANDIDATES_TABLE: gr.Dataframe | None = None
BACKGROUND_CHOICE: gr.Dropdown | None = None
BACKGROUND_UPLOAD: gr.Image | None = None
IOU_THRESHOLD: gr.Slider | None = None
CLASS_AWARE: gr.Checkbox | None = None
LOAD_TARGETS: list[gr.components.Component] = []
"""Outputs for `load_candidates` (set by `build`):
[CANDIDATES_BOX, CANDIDATES_TABLE, BACKGROUND_CHOICE, BACKGROUND_UPLOAD, IOU_THRESHOLD, CLASS_AWARE]."""
REFRESH: dict[str, Any] = {}
"""`fn`, `inputs`, `outputs` (and a private api_name) that redraw the tab from its current inputs (set by `build`);
chain with `.then(**REFRESH)` after writing into `LOAD_TARGETS`."""


def load_candidates(boxes: Any, scores: Any, labels: Any = None, *, class_names: Sequence[str] = (),
                    image: np.ndarray | None = None, image_size: tuple[int, int] | None = None,
                    normalized: bool = False, iou_threshold: float | None = None,
                    class_aware: bool | None = None) -> dict:
    """Updates for `LOAD_TARGETS` that put candidates (and optionally their picture) into the tab.

    boxes: (N, 4) (x1, y1, x2, y2) in pixels of `image` (or of `image_size`; fractions when `normalized`);
    scores: (N,); labels: (N,) integer classes (default all 0); image: (H, W, 3) uint8.
    iou_threshold / class_aware: the sender's own NMS settings, so that the tab's final step reproduces its
    result (left as the student set them when None).
    Use: `button.click(my_fn, inputs, demos.nms.LOAD_TARGETS).then(**demos.nms.REFRESH)` where `my_fn`
    returns `demos.nms.load_candidates(...)`.
    """
    boxes_list = to_jsonable(boxes)
    scores_list = to_jsonable(scores)
    labels_list = to_jsonable(labels) if labels is not None else [0] * len(boxes_list)
    if image is not None and image_size is None:
        image_size = (int(image.shape[1]), int(image.shape[0]))
    rows = [[*b, s, c] for b, s, c in zip(boxes_list, scores_list, labels_list)]
    with user_errors():
        candidates = candidates_from_rows(rows, class_names=class_names, image_size=image_size, normalized=normalized)
    updates: dict = {CANDIDATES_BOX: candidates.to_json(), CANDIDATES_TABLE: candidates.table()}
    if image is not None:
        updates[BACKGROUND_CHOICE] = UPLOADED
        updates[BACKGROUND_UPLOAD] = image
    if iou_threshold is not None:
        updates[IOU_THRESHOLD] = float(iou_threshold)
    if class_aware is not None:
        updates[CLASS_AWARE] = bool(class_aware)
    return updates


def _load_book() -> tuple[str, list[list[Any]], str]:
    """(candidates JSON, table rows, background) for the book's example."""
    candidates = book_candidates()
    return candidates.to_json(), candidates.table(), CANVAS


def nms_clutter(seed: Any, n_objects: float, per_object: float, n_classes: float) -> tuple[str, list[list[Any]], str]:
    """The `nms_clutter` endpoint: (candidates JSON, table rows, background) of seeded random clutter."""
    candidates = clutter_candidates(parse_seed(seed), int(n_objects), int(per_object), int(n_classes))
    return candidates.to_json(), candidates.table(), CANVAS


def _table_to_json(table: Any, previous_json: str) -> str:
    with user_errors():
        return candidates_from_table(table, previous_json).to_json()


def _json_to_table(candidates_json: str) -> list[list[Any]]:
    with user_errors():
        return parse_candidates(candidates_json).table()


def nms_run(candidates_json: str, score_threshold: float, iou_threshold: float, class_aware: bool, step: float,
            background: str = CANVAS, upload: Any = None):
    """The `nms_run` endpoint: the picture after `step` greedy steps and the JSON result."""
    with user_errors():
        picture, result, steps, caption, shown, n_steps = nms_result(
            candidates_json, score_threshold, iou_threshold, class_aware, step, background, upload)
    return picture, result, steps, caption, gr.update(value=shown, maximum=max(n_steps, 1))


def _nms_final(candidates_json: str, score_threshold: float, iou_threshold: float, class_aware: bool,
               background: str = CANVAS, upload: Any = None):
    return nms_run(candidates_json, score_threshold, iou_threshold, class_aware, FINAL_STEP, background, upload)


def _nms_move(delta: int):
    def move(candidates_json, score_threshold, iou_threshold, class_aware, step, background, upload):
        return nms_run(candidates_json, score_threshold, iou_threshold, class_aware, max(0, int(step) + delta),
                       background, upload)
    return move


EXPLANATION = r"""
Sort the candidates by score; the best remaining one becomes the *baseline* and is kept; every remaining box with
$\text{IoU}(B_1, B_2) = |B_1 \cap B_2| \,/\, |B_1 \cup B_2| > \epsilon$ is removed; repeat. Boxes under the score
threshold go first. *Class-aware* NMS (torchvision's `batched_nms`) only suppresses within a class; the book's
`multibox_detection` is class-agnostic. The book's photo is not bundled: its boxes are drawn on a 728×561 canvas.
"""


def build() -> None:
    global CANDIDATES_BOX, CANDIDATES_TABLE, BACKGROUND_CHOICE, BACKGROUND_UPLOAD, IOU_THRESHOLD, CLASS_AWARE
    global LOAD_TARGETS, REFRESH
    header("Non-maximum suppression, step by step", EXPLANATION,
           book_link("anchor.html#predicting-bounding-boxes-with-non-maximum-suppression",
                     "14.4.4 Predicting Bounding Boxes with Non-Maximum Suppression"))
    book = book_candidates()
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=330):
            with gr.Row(equal_height=True):
                # 130 px: narrower (a phone), the names broke onto two lines
                book_button = gr.Button("Book's example", variant="primary", size="sm", elem_id="nms-book",
                                        min_width=130)
                clutter_button = gr.Button("Random clutter", size="sm", elem_id="nms-clutter", min_width=130)
                seed = gr.Number(value=0, precision=0, label="seed", min_width=70, elem_id="nms-seed")
            with gr.Accordion("clutter settings", open=False):
                with gr.Row():
                    n_objects = gr.Slider(1, 12, value=5, step=1, label="objects", min_width=90)
                    per_object = gr.Slider(1, 10, value=4, step=1, label="boxes / object", min_width=90)
                    n_classes = gr.Slider(1, len(CLUTTER_CLASS_NAMES), value=3, step=1, label="classes",
                                          min_width=90)
            score_threshold = gr.Slider(0.0, 1.0, value=0.0, step=0.01, label="score threshold (drop below)",
                                        elem_id="nms-score")
            iou_threshold = gr.Slider(0.0, 1.0, value=0.5, step=0.01, label="IoU threshold ε (suppress above)",
                                      elem_id="nms-iou")
            class_aware = gr.Checkbox(value=False, label="class-aware (suppress only boxes of the same class)",
                                      elem_id="nms-class-aware")
            background = gr.Dropdown([CANVAS, *sample_names(), UPLOADED], value=CANVAS, label="draw on")
            table = gr.Dataframe(value=book.table(), headers=TABLE_HEADERS, datatype=["number"] * 6 + ["str"],
                                 interactive=True, label="candidates (edit cells, add rows; class = number or name)",
                                 max_height=260, static_columns=[0], elem_id="nms-table",
                                 # "#" and its lock, "1023.5", "0.975", "triangle" (the Detection tab's classes)
                                 column_widths=column_widths(4, 6, 6, 6, 6, 5, 8))
            with gr.Accordion("Candidates as JSON (paste raw detector outputs here)", open=False):
                candidates_box = gr.Textbox(value=book.to_json(), lines=8, max_lines=14, label="candidates JSON",
                                            elem_id="nms-json", buttons=["copy"])
                apply_json = gr.Button("Use this JSON", size="sm", elem_id="nms-apply-json")
                upload = image_upload(label="background picture (choose 'uploaded / sent image')", height=190)
        with gr.Column(scale=7, min_width=520):
            # not equal_height: stretched to the slider's height the buttons were tall thin columns on a phone
            with gr.Row(equal_height=False, elem_id="nms-step-row"):
                previous = gr.Button("◀ step", size="sm", min_width=60, scale=0, elem_id="nms-previous")
                step = gr.Slider(0, FINAL_STEP, value=FINAL_STEP, step=1, label="greedy step (0 = before NMS)",
                                 scale=5, elem_id="nms-step")
                following = gr.Button("step ▶", size="sm", min_width=60, scale=0, elem_id="nms-next")
            picture = gr.Image(type="numpy", format="png", show_label=False, interactive=False, height=450,
                               buttons=["download", "fullscreen"], elem_id="nms-picture")
            caption = gr.Markdown(elem_id="nms-caption")
            steps_table = gr.Dataframe(headers=STEP_HEADERS, label="the greedy steps (▶ = shown)", interactive=False,
                                       max_height=220, wrap=True, elem_id="nms-steps",
                                       column_widths=column_widths(4, 8, 8, 5, 24, 5))
            with gr.Accordion("all the numbers (JSON, as the nms_run endpoint returns them)", open=False):
                result = gr.JSON(show_label=False, max_height=400)

    CANDIDATES_BOX, CANDIDATES_TABLE, BACKGROUND_CHOICE, BACKGROUND_UPLOAD = candidates_box, table, background, upload
    IOU_THRESHOLD, CLASS_AWARE = iou_threshold, class_aware
    LOAD_TARGETS = [candidates_box, table, background, upload, iou_threshold, class_aware]
    base_inputs = [candidates_box, score_threshold, iou_threshold, class_aware]
    outputs = [picture, result, steps_table, caption, step]
    REFRESH = dict(fn=_nms_final, inputs=[*base_inputs, background, upload], outputs=outputs,
                   api_name="nms_refresh_ui", api_visibility="private", show_progress="minimal")

    step.input(nms_run, inputs=[*base_inputs, step, background, upload], outputs=outputs, api_name="nms_step_ui",
               api_visibility="private", trigger_mode="always_last", show_progress="hidden")
    # The public endpoint takes its step from a hidden number: the slider's maximum follows the number of steps
    # in each session, so it cannot validate steps for API clients.
    api_step = gr.Number(value=FINAL_STEP, precision=0, visible=False)
    api_button = gr.Button(visible=False)
    api_button.click(nms_run, inputs=[*base_inputs, api_step, background, upload], outputs=outputs,
                     api_name="nms_run")
    previous.click(_nms_move(-1), inputs=[*base_inputs, step, background, upload], outputs=outputs,
                   api_name="nms_previous_ui", api_visibility="private", show_progress="hidden")
    following.click(_nms_move(+1), inputs=[*base_inputs, step, background, upload], outputs=outputs,
                    api_name="nms_next_ui", api_visibility="private", show_progress="hidden")
    gr.on([score_threshold.release, iou_threshold.release, class_aware.input, background.input, upload.change],
          **REFRESH)
    book_button.click(_load_book, outputs=[candidates_box, table, background],
                      api_name="nms_book_ui", api_visibility="private").then(**REFRESH)
    clutter_button.click(nms_clutter, inputs=[seed, n_objects, per_object, n_classes],
                         outputs=[candidates_box, table, background], api_name="nms_clutter").then(**REFRESH)
    table.input(_table_to_json, inputs=[table, candidates_box], outputs=candidates_box,
                api_name="nms_table_ui", api_visibility="private").then(**REFRESH)
    apply_json.click(_json_to_table, inputs=candidates_box, outputs=table, api_name="nms_json_ui",
                     api_visibility="private").then(**REFRESH)
    gr.on([_root_load()], **REFRESH)


def _root_load():
    from gradio.context import Context

    return Context.root_block.load
