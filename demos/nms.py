"""The NMS tab: step through greedy non-maximum suppression on the book's example, on random
clutter, on a table you edit, or on raw detector candidates sent by another tab.

Candidates travel as JSON (the tab's JSON textbox and the `nms_run` endpoint):

    {"image_size": [W, H],            # optional: the picture the boxes live on (pixels)
     "normalized": false,             # optional: boxes are fractions of image_size (auto-detected)
     "class_names": ["dog", "cat"],   # optional: names for the integer classes
     "candidates": [[x1, y1, x2, y2, score, class], ...]}

`candidates` may also be given as parallel lists `"boxes"` (N, 4), `"scores"` (N,), `"labels"` (N,),
or as a list of `{"box": [...], "score": s, "label": c}` objects; a bare list of rows works too.
Boxes are (x1, y1, x2, y2) corners, scores in [0, 1], classes integers (or names).

The tab's view (`NmsView`) is its link: where the candidates come from (the book's example, seeded clutter, or
custom candidates carried in the link when they are short enough), the thresholds, the background and the step.
The Detection tab sends its raw candidates here through a `demos.router.Handoff` (`receive`).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Mapping, Sequence

import gradio as gr
import numpy as np
import torch
from PIL import Image, ImageDraw

from core.ops.nms import Candidates
from demos import inputs
from demos.common import book_link, column_widths, header, image_upload, read_image, sample_names, to_jsonable
from demos.drawing import PALETTE as DRAWING_PALETTE
from demos.drawing import BoxStyle, LabelPlacer, draw_boxes, font, text_color_on
from demos.inputs import user_errors
from demos.router import TabUI
from demos.view import View, param

TITLE = "NMS"

MAX_CANDIDATES = 300
"""More candidates than this are refused (the picture and the step table stop being readable)."""

MAX_IMAGE_SIDE = 4096
CANVAS = "canvas"
UPLOADED = "upload"
BACKGROUND_LABELS = {CANVAS: "neutral canvas", UPLOADED: "uploaded / sent image"}
"""What the 'draw on' dropdown shows for its two non-sample values (the links write the short ones)."""
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

CLASS_RGB: tuple[tuple[int, int, int], ...] = tuple(rgb for _, rgb in DRAWING_PALETTE[:7])
"""Class colours (class k: CLASS_RGB[k % 7]): Okabe-Ito's, the first five being `demos.drawing.CLASS_COLORS`.
The box's line style and label tell its status, the colour only its class; no black or grey, the inks of the
suppressed boxes."""
BASELINE_HALO = (255, 200, 0)
STATUS_INK = (60, 60, 60)
"""The legend draws the status styles in this neutral grey: a style sample in a class colour would say that the
status has that colour."""

TABLE_HEADERS = ["#", "x1", "y1", "x2", "y2", "score", "class"]
STEP_HEADERS = ["step", "baseline", "class", "score", "suppresses (IoU)", "left after"]

# --- candidates: parsing, generators, JSON -------------------------------------------------


def to_json(candidates: Candidates) -> str:
    """The candidates as the tab's JSON text (format in the module docstring), one candidate per line."""
    rows = [[*map(_short, box), _short(score), int(label)]
            for box, score, label in zip(candidates.boxes.tolist(), candidates.scores.tolist(),
                                         candidates.labels.tolist())]
    body = ",\n  ".join(json.dumps(row) for row in rows)
    return (
        "{" + f'"image_size": {json.dumps(list(candidates.image_size))}, '
        f'"normalized": {json.dumps(candidates.normalized)}, '
        f'"class_names": {json.dumps(list(candidates.class_names))},\n "candidates": [\n  {body}\n ]' + "}"
    )


def table_rows(candidates: Candidates) -> list[list[Any]]:
    """Rows [#, x1, y1, x2, y2, score, class name] for the editable table, rounded to what its columns show
    (0.1 pixel, 0.001 of a normalised coordinate or a score): an edit sends the table's values back."""
    digits = 3 if candidates.normalized else 1
    return [[i, *(round(v, digits) for v in box), round(score, 3), candidates.class_name(int(label))]
            for i, (box, score, label) in enumerate(zip(candidates.boxes.tolist(), candidates.scores.tolist(),
                                                        candidates.labels.tolist()))]


def _candidates(boxes: Any, scores: Any, labels: Any, class_names: Sequence[str], image_size: tuple[int, int],
                normalized: bool) -> Candidates:
    """`Candidates` with float64 boxes and scores (the tab keeps the JSON's digits) and int64 labels."""
    return Candidates(torch.as_tensor(np.asarray(boxes, dtype=np.float64).reshape(-1, 4)),
                      torch.as_tensor(np.asarray(scores, dtype=np.float64)),
                      torch.as_tensor(np.asarray(labels, dtype=np.int64)),
                      class_names=tuple(class_names), image_size=image_size, normalized=normalized)


def _short(value: float) -> float:
    return float(f"{value:.6g}")


def book_candidates() -> Candidates:
    """The book's NMS example (d2l 14.4.4): three dog boxes (0.9, 0.8, 0.7) and a cat box (0.9), normalised."""
    return _candidates(
        boxes=BOOK_BOXES,
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
    return _candidates(
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
    return _candidates(boxes_array, scores, labels, names, image_size, normalized)


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

    active = np.flatnonzero((candidates.scores >= score_threshold).numpy())
    if len(active) == 0:
        return Trace(active, [], [])
    rows = torch.from_numpy(active)
    boxes = candidates.boxes[rows].float()  # (M, 4)
    scores = candidates.scores[rows].float()  # (M,)
    labels = candidates.labels[rows] if class_aware else None  # (M,) or None: class-agnostic
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


def normalise_background(background: Any) -> str:
    """A 'draw on' value as the view holds it: the dropdown's old labels ("neutral canvas", "uploaded / sent
    image", which API clients may still send) become their short values."""
    for value, label in BACKGROUND_LABELS.items():
        if background == label:
            return value
    return CANVAS if background in (None, "") else str(background)


def _background(image_size: tuple[int, int], background: str, upload: Any) -> tuple[Image.Image, str]:
    """The picture to draw on, at the candidates' image size (W, H), and a note saying what it is."""
    width, height = image_size
    background = normalise_background(background)
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


def class_color(label: int) -> tuple[int, int, int]:
    """The colour of class `label` (cycling through `CLASS_RGB`)."""
    return CLASS_RGB[label % len(CLASS_RGB)]


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
STATUS_STYLES = (("kept", "kept: thick solid, label 'kept'"), ("baseline", "baseline: solid + yellow halo"),
                 ("suppressed", "suppressed now: dashed, label 'IoU'"), ("earlier", "suppressed earlier: light dashed"),
                 ("waiting", "waiting: thin solid"), ("below", "below score threshold: dotted"))
"""(status, what the legend says) in the legend's order: each status has its own line style and words."""


def status_styles(status: str, color: tuple[int, int, int]) -> list[tuple[BoxStyle, float]]:
    """How a box of `status` and class colour `color` is drawn: (style, outset in pixels) for each outline, the
    picture and the legend share this. A baseline also gets a yellow halo 4 px outside it."""
    if status == "below":
        return [(BoxStyle((190, 190, 190), "dotted", 1), 0.0)]
    if status == "waiting":
        return [(BoxStyle(color, "solid", 2), 0.0)]
    if status == "suppressed":
        return [(BoxStyle((95, 95, 95), "dashed", 3), 0.0)]
    if status == "earlier":
        return [(BoxStyle((185, 185, 185), "dashed", 2), 0.0)]
    outlines = [(BoxStyle(color, "solid", 4), 0.0)]
    if status == "baseline":
        outlines.insert(0, (BoxStyle(BASELINE_HALO, "solid", 5), 8.0))
    return outlines


def _stroke_all(image: np.ndarray, items: Sequence[tuple[Sequence[float], str, tuple[int, int, int]]]) -> np.ndarray:
    """Draw (box, status, class colour) items in order with `demos.drawing.draw_boxes`; (H, W, 3) uint8 out."""
    boxes, styles = [], []
    for box, status, color in items:
        for style, outset in status_styles(status, color):
            x1, y1, x2, y2 = box
            boxes.append([x1 - outset, y1 - outset, x2 + outset, y2 + outset])
            styles.append(style)
    if not boxes:
        return np.array(image, copy=True)
    return draw_boxes(image, np.array(boxes, dtype=np.float64), styles)


@lru_cache(maxsize=64)
def _legend(width: int, classes: tuple[tuple[str, tuple[int, int, int]], ...] = ()) -> Image.Image:
    """The strip under the picture: each status's line style (drawn in neutral grey) with its words, then the
    colour of each class shown; entries flow onto as many rows as `width` needs."""
    face = font(16)
    entries = [("style", status, text) for status, text in STATUS_STYLES]
    if classes:
        entries += [("text", None, "colour = class:")] + [("class", color, name) for name, color in classes]
    placed, x, row = [], 8, 0
    for kind, what, text in entries:
        item = (0 if kind == "text" else 36) + face.getlength(text)
        if x > 8 and x + item > width - 8:
            x, row = 8, row + 1
        placed.append((kind, what, text, x, row))
        x += item + 18
    strip = np.full(((row + 1) * LEGEND_ROW + 8, width, 3), 255, np.uint8)
    samples = [([x + 6, 6 + r * LEGEND_ROW + 6, x + 26, 6 + r * LEGEND_ROW + 16], what, STATUS_INK)
               for kind, what, _, x, r in placed if kind == "style"]
    picture = Image.fromarray(_stroke_all(strip, samples))
    draw = ImageDraw.Draw(picture)
    for kind, what, text, x, r in placed:
        y = 6 + r * LEGEND_ROW
        if kind == "class":
            draw.rectangle([x + 4, y + 4, x + 28, y + 18], fill=what)
        draw.text((x if kind == "text" else x + 36, y), text, fill=(40, 40, 40), font=face)
    return picture


def background_picture(candidates: Candidates, background: str, upload: Any) -> tuple[Image.Image, str]:
    """The picture the candidates are drawn on, scaled to `DRAW_SIDE`, and a note saying what it is."""
    background = normalise_background(background)
    if background == UPLOADED and upload is not None:
        return _scaled(*_background(candidates.image_size, background, upload))
    return _cached_background(candidates.image_size, background if background in sample_names() else CANVAS)


def render(candidates: Candidates, trace: Trace, step: int, background: str = CANVAS,
           upload: Any = None, base: tuple[Image.Image, str] | None = None) -> tuple[np.ndarray, str]:
    """Draw the candidates after `step` greedy steps. Returns (H, W, 3) uint8 and a note on the background.

    Boxes are drawn lowest priority first (below the score threshold, waiting, suppressed, kept, the baseline);
    labels most important first, by `demos.drawing.LabelPlacer`, inside the picture (not on the legend).
    """
    image, note = base if base is not None else background_picture(candidates, background, upload)
    scale = image.width / candidates.image_size[0]
    shown_classes = sorted({int(k) for k in candidates.labels.tolist()})
    legend = _legend(image.width, tuple((candidates.class_name(k), class_color(k)) for k in shown_classes))
    boxes = candidates.pixel_boxes() * scale
    status, by = status_at(trace, len(candidates), step)
    scores, classes = candidates.scores.tolist(), candidates.labels.tolist()
    current = trace.steps[step - 1].baseline if step > 0 else None
    kinds = {i: ("earlier" if kind == "suppressed" and by[i][0] != current else kind) for i, kind in status.items()}
    order = {"below": 0, "waiting": 1, "earlier": 2, "suppressed": 2, "kept": 3, "baseline": 4}
    drawing_order = sorted(kinds, key=lambda j: (order[kinds[j]], scores[j]))
    items = [(boxes[i].tolist(), kinds[i], class_color(classes[i])) for i in drawing_order]
    picture = Image.fromarray(_stroke_all(np.asarray(image), items))  # the background is shared: a new array
    labels = LabelPlacer(picture)
    label_waiting = sum(1 for v in status.values() if v == "waiting") <= MAX_WAITING_LABELS
    for i in reversed(drawing_order):  # labels, most important first
        box = boxes[i].tolist()
        color = class_color(classes[i])
        name = f"#{i} {candidates.class_name(classes[i])} {scores[i]:.2f}"
        kind = kinds[i]
        if kind == "baseline":
            labels.add(box, f"baseline {name}", BASELINE_HALO, 20, text_fill=(0, 0, 0))
        elif kind == "kept":
            labels.add(box, f"kept {name}", color, 20, text_fill=text_color_on(color))
        elif kind == "suppressed":
            labels.add(box, f"#{i} IoU {by[i][1]:.2f}", (80, 80, 80), 20, text_fill=(255, 255, 255))
        elif kind == "waiting" and label_waiting:
            labels.add(box, name, color, 17, text_fill=text_color_on(color), required=False)
    canvas = Image.new("RGB", (image.width, image.height + legend.height), (255, 255, 255))
    canvas.paste(picture, (0, 0))
    canvas.paste(legend, (0, image.height))
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
               f"({candidates.class_name(int(candidates.labels[s.baseline]))}, {float(candidates.scores[s.baseline]):.2f}) "
               f"is kept and suppresses {victims}.")
        if step == len(trace.steps):
            now += " Done."
    return f"{head}\n\n{now} *Drawn on: {note}.*"


def nms_result(candidates_json: str, score_threshold: float = 0.0, iou_threshold: float = 0.5,
               class_aware: bool = False, step: int = FINAL_STEP, background: str = CANVAS,
               upload: Any = None) -> tuple[np.ndarray, dict, list[list[Any]], str, int, int]:
    """Everything the tab shows. Returns (picture, JSON result, steps table, caption, step shown, number of steps)."""
    return nms_outputs(parse_candidates(candidates_json), score_threshold, iou_threshold, class_aware, step,
                       background, upload)


def nms_outputs(candidates: Candidates, score_threshold: float = 0.0, iou_threshold: float = 0.5,
                class_aware: bool = False, step: int = FINAL_STEP, background: str = CANVAS,
                upload: Any = None) -> tuple[np.ndarray, dict, list[list[Any]], str, int, int]:
    """`nms_result` for parsed candidates."""
    score_threshold = inputs.fraction(score_threshold, "Score threshold")
    iou_threshold = inputs.fraction(iou_threshold, "IoU threshold")
    step_value = inputs.whole(step, "Step", low=0, default=FINAL_STEP)
    trace = run_nms(candidates, score_threshold, iou_threshold, bool(class_aware))
    n_steps = len(trace.steps)
    shown = int(min(max(step_value, 0), n_steps))
    picture, note = render(candidates, trace, shown, background, upload)
    counts = {
        "candidates": len(candidates),
        "above_score_threshold": int(len(trace.active)),
        "kept": len(trace.kept),
        "suppressed": int(len(trace.active)) - len(trace.kept),
    }
    pixel_boxes = candidates.pixel_boxes().tolist()
    scores, classes = candidates.scores.tolist(), candidates.labels.tolist()
    result = {
        "kept": trace.kept,
        "kept_boxes": [
            {"index": i, "box": pixel_boxes[i], "score": scores[i], "label": classes[i],
             "class_name": candidates.class_name(classes[i])}
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


MAX_FRAMES = 40
"""The pictures of every greedy step are computed at once (and stepping happens in the browser) when there are at
most this many steps; beyond, each step is drawn by the server when it is shown."""


def _data_url(picture: np.ndarray) -> str:
    """A picture as a JPEG data URL (encoded in ~10 ms: a PNG takes ~70 ms, for the same look on screen)."""
    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def caption_html(markdown: str) -> str:
    """A caption's Markdown (paragraphs, **bold**, *italics*) as HTML, for the browser to show without the server."""
    text = html.escape(markdown, quote=False)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"\*(.+?)\*", r"<em>\1</em>", text)
    return "".join(f"<p>{part}</p>" for part in text.split("\n\n"))


def step_frames(candidates: Candidates, score_threshold: Any, iou_threshold: Any, class_aware: bool,
                background: str = CANVAS, upload: Any = None) -> dict[str, list[str]]:
    """Every greedy step's picture (JPEG data URLs) and caption (HTML), step 0 first, so that the browser steps
    without a round trip; empty lists when there are more than `MAX_FRAMES` steps."""
    score_threshold = inputs.fraction(score_threshold, "Score threshold")
    iou_threshold = inputs.fraction(iou_threshold, "IoU threshold")
    trace = run_nms(candidates, score_threshold, iou_threshold, bool(class_aware))
    if len(trace.steps) > MAX_FRAMES:
        return {"pictures": [], "captions": []}
    base = background_picture(candidates, background, upload)
    counts = {"candidates": len(candidates), "above_score_threshold": int(len(trace.active)),
              "kept": len(trace.kept), "suppressed": int(len(trace.active)) - len(trace.kept)}
    pictures, captions = [], []
    for step in range(len(trace.steps) + 1):
        picture, note = render(candidates, trace, step, base=base)
        pictures.append(_data_url(picture))
        captions.append(caption_html(_caption(candidates, trace, step, counts, note, bool(class_aware))))
    return {"pictures": pictures, "captions": captions}


SHOW_STEP_JS = """
const labNmsShow = (step, frames) => {
  if (!frames || !frames.pictures || !frames.pictures.length) {  // too many steps: the server draws this one
    setTimeout(() => document.getElementById("nms-step-server")?.click(), 0);
    return;
  }
  const k = Math.max(0, Math.min(step, frames.pictures.length - 1));
  const img = document.querySelector("#nms-picture img");
  if (img) img.src = frames.pictures[k];
  const caption = document.querySelector("#nms-caption .nms-caption-text");
  if (caption) caption.innerHTML = frames.captions[k];
};
"""
"""Shows step `step` from the precomputed frames (`step_frames`), or asks the server when there are none."""


def step_js(delta: int | None) -> str:
    """The `js=` of the step slider's change (`delta` None: show its step, whoever set it: the student, a redraw
    or a link) or of the ◀ / ▶ buttons (the new step, returned to the slider, whose change then shows it)."""
    if delta is None:
        return f"(step, frames) => {{ {SHOW_STEP_JS} labNmsShow(step, frames); }}"
    return (f"(step, frames) => {{ const last = frames && frames.pictures && frames.pictures.length ? "
            f"frames.pictures.length - 1 : {FINAL_STEP}; return Math.max(0, Math.min(last, step + ({delta}))); }}")


def caption_block(markdown: str) -> str:
    """The caption as the tab shows it: HTML in a box of its own, whose content the stepping script replaces."""
    return f'<div class="nms-caption-text">{caption_html(markdown)}</div>'


# --- the tab ----------------------------------------------------------------------------------------

SOURCES: tuple[str, ...] = ("book", "clutter", "custom")
BOOK, CLUTTER, CUSTOM = SOURCES
"""Where the candidates come from: the book's example, seeded clutter (`clutter_candidates`), or custom ones (an
edited table, pasted JSON, or sent by the Detection tab), which a link carries in `NmsView.candidates` when they
are short enough (`MAX_LINK_CANDIDATES`)."""

MAX_LINK_CANDIDATES = 1500
"""Longest compact candidates JSON a link carries (about 40 boxes); longer custom candidates do not travel."""


def background_choices() -> tuple[str, ...]:
    return (CANVAS, *sample_names(), UPLOADED)


@dataclass(frozen=True)
class NmsView(View):
    """The tab's state: the candidates' source (and, for custom ones, their compact JSON), the thresholds, the
    picture drawn on and the greedy step shown."""

    source: str = param(BOOK, choices=SOURCES, label="candidates")
    seed: int = param(0, low=0, high=inputs.MAX_SEED, label="seed")
    objects: int = param(5, low=1, high=12, label="objects")
    per_object: int = param(4, low=1, high=10, label="boxes / object")
    classes: int = param(3, low=1, high=len(CLUTTER_CLASS_NAMES), label="classes")
    candidates: str = param("", max_length=MAX_LINK_CANDIDATES, label="candidates JSON")
    score: float = param(0.0, low=0.0, high=1.0, label="score threshold")
    iou: float = param(0.5, low=0.0, high=1.0, label="IoU threshold")
    class_aware: bool = param(False, label="class-aware")
    background: str = param(CANVAS, choices=background_choices(), label="draw on")
    step: int = param(FINAL_STEP, low=0, high=FINAL_STEP, label="greedy step")


def link_text(candidates: Candidates) -> str:
    """The compact JSON a link carries for custom candidates, or "" when it is longer than `MAX_LINK_CANDIDATES`."""
    payload = {"image_size": list(candidates.image_size), "normalized": candidates.normalized,
               "class_names": list(candidates.class_names),
               "candidates": [[*map(_short, box), _short(score), int(label)] for box, score, label in
                              zip(candidates.boxes.tolist(), candidates.scores.tolist(), candidates.labels.tolist())]}
    text = json.dumps(payload, separators=(",", ":"))
    return text if len(text) <= MAX_LINK_CANDIDATES else ""


NOT_IN_LINK = ("*These candidates are too long for a link (or were sent by the Detection tab): a link to this view "
               "opens the book's example with these settings.*")


def view_candidates(view: NmsView) -> tuple[Candidates, str]:
    """The candidates a view describes, and a note for the caption when the view could not carry them."""
    if view.source == CLUTTER:
        return clutter_candidates(view.seed, view.objects, view.per_object, view.classes), ""
    if view.source == CUSTOM:
        if view.candidates:
            with user_errors():
                return parse_candidates(view.candidates), ""
        return book_candidates(), ("*The custom candidates of this view did not travel with its link (too long, or "
                                   "sent by the Detection tab): showing the book's example.*")
    return book_candidates(), ""


def _tab_outputs(candidates: Candidates, score: Any, iou: Any, class_aware: bool, step: Any, background: str,
                 upload: Any, note: str = "") -> list[Any]:
    """[picture, JSON, steps table, caption, step slider, step frames, candidates JSON, candidates table]."""
    with user_errors():
        picture, result, steps, caption, shown, n_steps = nms_outputs(candidates, score, iou, class_aware, step,
                                                                      background, upload)
    if note:
        caption += "\n\n" + note
    frames = step_frames(candidates, score, iou, class_aware, background, upload)
    if note:
        frames["captions"] = [text + caption_html(note) for text in frames["captions"]]
    return [picture, result, _steps_table(candidates, run_nms(candidates, result["score_threshold"],
                                                              result["iou_threshold"], bool(class_aware)), -1),
            caption_block(caption), gr.update(value=shown, maximum=max(n_steps, 1)), frames, to_json(candidates),
            table_rows(candidates)]


def show(view: NmsView) -> list[Any]:
    """Every output of the tab for one view (an uploaded background is not part of a view: the canvas stands in)."""
    candidates, note = view_candidates(view)
    return _tab_outputs(candidates, view.score, view.iou, view.class_aware, view.step, view.background, None, note)


def receive(view: NmsView, extras: Mapping[str, Any]) -> list[Any]:
    """Candidates sent by another tab (`extras`: "candidates", their JSON; "picture", the (H, W, 3) image they were
    found on, or None): the tab's outputs, then the background upload's value."""
    with user_errors():
        candidates = parse_candidates(extras["candidates"])
    picture = extras.get("picture")
    note = "" if view.candidates else NOT_IN_LINK
    return [*_tab_outputs(candidates, view.score, view.iou, view.class_aware, view.step, view.background, picture,
                          note), picture]


def sent_view(candidates: Candidates, *, iou_threshold: float, class_aware: bool,
              has_picture: bool) -> NmsView:
    """The view another tab opens when it sends `candidates` (custom; carried by the link when short enough),
    drawn on the picture it sends and with its own NMS settings, at the last step."""
    return NmsView(source=CUSTOM, candidates=link_text(candidates), iou=float(iou_threshold),
                   class_aware=bool(class_aware), background=UPLOADED if has_picture else CANVAS)


def candidates_from_arrays(boxes: Any, scores: Any, labels: Any = None, *, class_names: Sequence[str] = (),
                           image_size: tuple[int, int] | None = None, normalized: bool = False) -> Candidates:
    """Candidates from (N, 4) boxes (x1, y1, x2, y2) in pixels of `image_size` (fractions when `normalized`),
    (N,) scores and (N,) integer labels (default all 0), checked as the tab checks its table."""
    boxes_list = to_jsonable(boxes)
    scores_list = to_jsonable(scores)
    labels_list = to_jsonable(labels) if labels is not None else [0] * len(boxes_list)
    rows = [[*b, s, c] for b, s, c in zip(boxes_list, scores_list, labels_list)]
    with user_errors():
        return candidates_from_rows(rows, class_names=class_names, image_size=image_size, normalized=normalized)


def nms_clutter(seed: Any, n_objects: float, per_object: float, n_classes: float) -> tuple[str, list[list[Any]], str]:
    """The `nms_clutter` endpoint: (candidates JSON, table rows, background) of seeded random clutter."""
    candidates = _clutter(seed, n_objects, per_object, n_classes)
    return to_json(candidates), table_rows(candidates), CANVAS


def _clutter(seed: Any, n_objects: Any, per_object: Any, n_classes: Any) -> Candidates:
    return clutter_candidates(inputs.seed(seed), inputs.whole(n_objects, "Objects", low=1, high=12),
                              inputs.whole(per_object, "Boxes per object", low=1, high=10),
                              inputs.whole(n_classes, "Classes", low=1, high=len(CLUTTER_CLASS_NAMES)))


def nms_run(candidates_json: str, score_threshold: float, iou_threshold: float, class_aware: bool, step: float,
            background: str = CANVAS, upload: Any = None):
    """The `nms_run` endpoint: the picture after `step` greedy steps and the JSON result."""
    with user_errors():
        picture, result, steps, caption, shown, n_steps = nms_result(
            candidates_json, score_threshold, iou_threshold, class_aware, step, background, upload)
    return picture, result, steps, caption, gr.update(value=shown, maximum=max(n_steps, 1))


def _redraw(source: str, carried: str, candidates_json: str, score_threshold: float, iou_threshold: float,
            class_aware: bool, background: str = CANVAS, upload: Any = None) -> list[Any]:
    """The tab after a threshold, mode or background change: the finished result and every step's frame
    ([picture, JSON, steps table, caption, step slider, step frames])."""
    with user_errors():
        candidates = parse_candidates(candidates_json)
    note = NOT_IN_LINK if source == CUSTOM and not carried else ""
    return _tab_outputs(candidates, score_threshold, iou_threshold, class_aware, FINAL_STEP, background, upload,
                        note)[:6]


def _server_step(candidates_json, score_threshold, iou_threshold, class_aware, step, background, upload):
    """One step drawn by the server (when there are too many steps to precompute): [picture, caption]."""
    picture, _, _, caption, _ = nms_run(candidates_json, score_threshold, iou_threshold, class_aware, step,
                                        background, upload)
    return picture, caption_block(caption)


def _load(source: str):
    """A handler that loads the book's example or clutter (from the clutter controls) and draws it finished:
    [source, link candidates, background, *`_tab_outputs`] in one event."""
    def load(seed, n_objects, per_object, n_classes, score, iou, class_aware):
        candidates = book_candidates() if source == BOOK else _clutter(seed, n_objects, per_object, n_classes)
        return [source, "", CANVAS, *_tab_outputs(candidates, score, iou, class_aware, FINAL_STEP, CANVAS, None)]
    return load


def _custom(candidates: Candidates, score, iou, class_aware, background, upload) -> list[Any]:
    """[source, link candidates, *`_tab_outputs`] for custom candidates (the table's or the JSON's), finished."""
    carried = link_text(candidates)
    return [CUSTOM, carried, *_tab_outputs(candidates, score, iou, class_aware, FINAL_STEP, background, upload,
                                           "" if carried else NOT_IN_LINK)]


def _from_table(table, previous_json, score, iou, class_aware, background, upload):
    with user_errors():
        candidates = candidates_from_table(table, previous_json)
    return _custom(candidates, score, iou, class_aware, background, upload)


def _from_json(text, score, iou, class_aware, background, upload):
    with user_errors():
        candidates = parse_candidates(text)
    return _custom(candidates, score, iou, class_aware, background, upload)


EXPLANATION = r"""
Sort the candidates by score; the best remaining one becomes the *baseline* and is kept; every remaining box with
$\text{IoU}(B_1, B_2) = |B_1 \cap B_2| \,/\, |B_1 \cup B_2| > \epsilon$ is removed; repeat. Boxes under the score
threshold go first. *Class-aware* NMS (torchvision's `batched_nms`) only suppresses within a class; the book's
`multibox_detection` is class-agnostic. The book's photo is not bundled: its boxes are drawn on a 728×561 canvas.
"""

CSS = """
/* NMS: the step buttons keep their own height and width beside the slider (on a phone: not tall thin columns) */
#nms-step-row {align-items: center; flex-wrap: nowrap}
#nms-step-row > button {flex: none; align-self: center}
#nms-step-server {display: none !important}  /* clicked by the stepping script when the server draws a step */
"""


def _build_controls(view: NmsView) -> dict[str, Any]:
    """The left column: where the candidates come from, the thresholds, the background, the table and the JSON."""
    book = book_candidates()
    with gr.Row(equal_height=True):
        # 130 px: narrower (a phone), the names broke onto two lines
        c = dict(book=gr.Button("Book's example", variant="primary", size="sm", elem_id="nms-book", min_width=130),
                 clutter=gr.Button("Random clutter", size="sm", elem_id="nms-clutter", min_width=130),
                 seed=gr.Number(value=view.seed, precision=0, minimum=0, label="seed", min_width=70,
                                elem_id="nms-seed"))
    with gr.Accordion("clutter settings", open=False):
        with gr.Row():
            c["objects"] = gr.Slider(1, 12, value=view.objects, step=1, label="objects", min_width=90,
                                     elem_id="nms-objects")
            c["per_object"] = gr.Slider(1, 10, value=view.per_object, step=1, label="boxes / object", min_width=90,
                                        elem_id="nms-per-object")
            c["classes"] = gr.Slider(1, len(CLUTTER_CLASS_NAMES), value=view.classes, step=1, label="classes",
                                     min_width=90, elem_id="nms-classes")
    c["source"] = gr.Radio([("book's example", BOOK), ("random clutter", CLUTTER), ("custom (table / JSON)", CUSTOM)],
                           value=view.source, label="candidates shown", interactive=False, elem_id="nms-source")
    c["score"] = gr.Slider(0.0, 1.0, value=view.score, step=0.01, label="score threshold (drop below)",
                           elem_id="nms-score")
    c["iou"] = gr.Slider(0.0, 1.0, value=view.iou, step=0.01, label="IoU threshold ε (suppress above)",
                         elem_id="nms-iou")
    c["class_aware"] = gr.Checkbox(value=view.class_aware, label="class-aware (suppress only boxes of the same class)",
                                   elem_id="nms-class-aware")
    c["background"] = gr.Dropdown([(BACKGROUND_LABELS.get(b, b), b) for b in background_choices()],
                                  value=view.background, label="draw on", elem_id="nms-background")
    # each number keeps its whole width (a phone scrolls the table sideways instead of cutting "37.5" to "37…")
    c["table"] = gr.Dataframe(value=table_rows(book), headers=TABLE_HEADERS, datatype=["number"] * 6 + ["str"],
                              interactive=True, label="candidates (edit cells, add rows; class = number or name)",
                              max_height=260, static_columns=[0], elem_id="nms-table",
                              # "#" and its lock, "1023.5", "0.975", "triangle" (the Detection tab's classes)
                              column_widths=column_widths(4, 6, 6, 6, 6, 5, 8))
    with gr.Accordion("Candidates as JSON (paste raw detector outputs here)", open=False):
        c["json"] = gr.Textbox(value=to_json(book), lines=8, max_lines=14, label="candidates JSON",
                               elem_id="nms-json", buttons=["copy"])
        c["apply"] = gr.Button("Use this JSON", size="sm", elem_id="nms-apply-json")
        c["upload"] = image_upload(label="background picture (choose 'uploaded / sent image')", height=190,
                                   elem_id="nms-upload")
    c["link_candidates"] = gr.Textbox(value=view.candidates, visible=False, label="candidates in the link")
    return c


def _build_result(view: NmsView) -> dict[str, Any]:
    """The right column: the step slider and buttons, the picture, the caption, the steps and the JSON."""
    with gr.Row(equal_height=False, elem_id="nms-step-row"):
        o = dict(previous=gr.Button("◀ step", size="sm", min_width=70, scale=0, elem_id="nms-previous"),
                 step=gr.Slider(0, FINAL_STEP, value=view.step, step=1, label="greedy step (0 = before NMS)",
                                scale=5, min_width=150, elem_id="nms-step"),
                 following=gr.Button("step ▶", size="sm", min_width=70, scale=0, elem_id="nms-next"))
    o["picture"] = gr.Image(type="numpy", format="png", label="candidates after the step shown", show_label=False,
                            interactive=False, height=450, buttons=["download", "fullscreen"], elem_id="nms-picture")
    o["caption"] = gr.HTML(elem_id="nms-caption", padding=False)
    o["steps"] = gr.Dataframe(headers=STEP_HEADERS, label="the greedy steps", interactive=False,
                              max_height=220, wrap=True, elem_id="nms-steps",
                              column_widths=column_widths(4, 8, 8, 5, 24, 5))
    with gr.Accordion("all the numbers (JSON, as the nms_run endpoint returns them)", open=False):
        o["result"] = gr.JSON(show_label=False, max_height=400)
    return o


def build() -> TabUI:
    header("Non-maximum suppression, step by step", EXPLANATION,
           book_link("anchor.html#predicting-bounding-boxes-with-non-maximum-suppression",
                     "14.4.4 Predicting Bounding Boxes with Non-Maximum Suppression"))
    view = NmsView()
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=330):
            c = _build_controls(view)
        with gr.Column(scale=7, min_width=330):
            o = _build_result(view)
    frames = gr.JSON(visible=False)  # every step's picture and caption: the browser steps through them (`step_js`)
    c["step"], c["candidates"] = o["step"], c["link_candidates"]

    outputs = [o["picture"], o["result"], o["steps"], o["caption"], o["step"], frames, c["json"], c["table"]]
    redraw = outputs[:6]
    settings = [c["score"], c["iou"], c["class_aware"]]
    drawn_on = [c["background"], c["upload"]]
    quiet = dict(api_visibility="private", show_progress="hidden")
    # stepping: in the browser, from the precomputed frames (no round trip); the server draws a step only when
    # there are more than MAX_FRAMES steps (the script then clicks this button, hidden by CSS)
    o["step"].change(None, inputs=[o["step"], frames], js=step_js(None))
    o["previous"].click(None, inputs=[o["step"], frames], outputs=o["step"], js=step_js(-1))
    o["following"].click(None, inputs=[o["step"], frames], outputs=o["step"], js=step_js(+1))
    server_step = gr.Button("draw this step", elem_id="nms-step-server", size="sm")
    server_step.click(_server_step, inputs=[c["json"], *settings, o["step"], *drawn_on],
                      outputs=[o["picture"], o["caption"]], api_name="nms_step_ui", trigger_mode="always_last", **quiet)
    # The public endpoint takes its step from a hidden number: the slider's maximum follows the number of steps
    # in each session, so it cannot validate steps for API clients (and its background from a hidden text: API
    # clients may send the dropdown's old labels, see `normalise_background`)
    api_step = gr.Number(value=FINAL_STEP, precision=0, visible=False)
    api_background = gr.Textbox(value=CANVAS, visible=False)
    gr.Button(visible=False).click(nms_run, inputs=[c["json"], *settings, api_step, api_background, c["upload"]],
                                   outputs=outputs[:5], api_name="nms_run")
    gr.on([c["score"].release, c["iou"].release, c["class_aware"].input, c["background"].input, c["upload"].input],
          _redraw, inputs=[c["source"], c["link_candidates"], c["json"], *settings, *drawn_on], outputs=redraw,
          api_name="nms_refresh_ui", api_visibility="private", show_progress="minimal")
    clutter_settings = [c["seed"], c["objects"], c["per_object"], c["classes"], *settings]
    loaded = [c["source"], c["link_candidates"], c["background"], *outputs]
    c["book"].click(_load(BOOK), inputs=clutter_settings, outputs=loaded, api_name="nms_book_ui", **quiet)
    c["clutter"].click(_load(CLUTTER), inputs=clutter_settings, outputs=loaded, api_name="nms_clutter_ui", **quiet)
    gr.Button(visible=False).click(nms_clutter, inputs=clutter_settings[:4], outputs=[c["json"], c["table"],
                                   gr.Textbox(visible=False)], api_name="nms_clutter")
    custom = [c["source"], c["link_candidates"], *outputs]
    c["table"].input(_from_table, inputs=[c["table"], c["json"], *settings, *drawn_on], outputs=custom,
                     api_name="nms_table_ui", **quiet)
    c["apply"].click(_from_json, inputs=[c["json"], *settings, *drawn_on], outputs=custom, api_name="nms_json_ui",
                     **quiet)
    return TabUI(NmsView, controls=[c[name] for name in NmsView.specs()], outputs=outputs, show=show,
                 uploads=[c["upload"]], inbox={"picture": c["upload"]}, receive=receive)
