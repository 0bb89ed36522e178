"""The Detection tab: SSD and Faster R-CNN trained on the generated scenes, with their insides shown.

Main view: an input (a generated scene, objects pasted onto a photo, or a photo as it is), a model, score and
NMS IoU thresholds; the annotated result (`demos.drawing.draw_boxes`, boxes in their class's colour), a table of
detections, and, when the ground truth is known, true positives / false positives / misses as solid / dashed /
dotted outlines labelled TP / FP / missed, with precision and recall (greedy matching at IoU >= 0.5, same class);
the inference time.

Insides (sub-tabs):
  * SSD — which scale (feature map) each detection came from, the anchors of a chosen scale over the image,
    the raw candidates before NMS, and a button that sends them to the NMS tab's step-through (a
    `demos.router.Handoff`: the candidates and the picture travel as extras, `send_view`).
  * Faster R-CNN — the top-k RPN proposals, the top-k of the RoIs kept after the RPN's NMS (hundreds: the caption
    says how many) and the final detections as three layers to toggle (`core.models.faster_rcnn.insides`).
  * RoI pooling vs RoIAlign — the book's 4x4 toy and a real RoI on the model's feature map: the projected RoI,
    the quantisation RoI pooling does, the bin grids, the sampling points, the pooled values
    (`core.models.faster_rcnn.roi_pool_vs_align`, i.e. ``torchvision.ops.roi_pool`` / ``roi_align``).

The tab's view (`DetectionView`) is its link; each insides sub-tab is built by its own function (`_build_ssd`,
`_build_frcnn`, `_build_roi`) and computes its pictures when it is shown (`_insides`).

Endpoint contract: ``/detect`` (image, model, score_threshold, iou_threshold) -> (annotated image, detections
``[{"box": [x1, y1, x2, y2], "score", "label", "class_name"}]`` in pixels of the input image).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, ClassVar, Mapping, Sequence

import gradio as gr
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from core.data.scenes import CLASS_NAMES, SPLITS, make_scene
from core.weights.registry import load_model
from demos import inputs
from demos.common import LATEX, book_link, column_widths, header, image_upload, on_gpu, read_image, sample_names, to_jsonable
from demos.drawing import CLASS_COLORS, BoxStyle, LabelPlacer, LineStyle, draw_boxes, hex_to_rgb, swatch, text_color_on
from demos.inputs import user_errors
from demos.nms import NmsView, sent_view, to_json as candidates_json
from demos.router import Handoff, TabUI
from demos.view import View, param
from demos import rcnn_family
from demos.rcnn_family import build_subtab as build_family_subtab, run_model as run_family_model

TITLE = "Detection"

MODELS: tuple[str, ...] = ("ssd", "faster_rcnn", "rcnn", "fast_rcnn")
"""Model names of the API (``/detect``'s ``model`` input)."""

MODEL_LABELS = {"ssd": "SSD (single shot, 5 scales)", "faster_rcnn": "Faster R-CNN (RPN + RoI heads, FPN)",
                "rcnn": "R-CNN (selective search, CNN per region, SVMs)",
                "fast_rcnn": "Fast R-CNN (selective search, RoI pooling)"}

SOURCES: tuple[str, ...] = ("scene", "pasted", "photo")
GENERATED, PASTED, PHOTO = SOURCES
"""Where the input comes from. Photos: the upload if there is one, else the chosen bundled sample."""
SOURCE_LABELS = {GENERATED: "generated scene (seed)", PASTED: "objects pasted onto a photo",
                 PHOTO: "photo as it is"}
"""What the input dropdown shows (links and the API write the short values; the API also takes these labels)."""

DEFAULT_SEED = SPLITS["test"].start
"""The first held-out test scene: the default input (never seen in training)."""
DEFAULT_SAMPLE = "coffee"
DEFAULT_SCORE = 0.4
DEFAULT_IOU = 0.5
MATCH_IOU = 0.5
"""A detection is a true positive when it overlaps an unmatched ground-truth box of its class by this much."""

MAX_PHOTO_SIDE = 1024
"""Uploads and samples are downscaled to this longer side before anything else."""
DISPLAY_SIDE = 560
"""Pictures are drawn with their shorter side at least this long (readable labels on a projector)."""
MAX_SENT_CANDIDATES = 300
"""The NMS tab takes at most this many candidates: the best-scored ones are sent."""

MATCH_LINES: dict[str, LineStyle] = {"TP": "solid", "FP": "dashed", "missed": "dotted"}
"""True positives, false positives and misses differ by line style and label (their colour is their class's)."""
MATCH_LEGEND = ("true positive: solid outline, label 'TP' · false positive: dashed, 'FP' · missed object: dotted, "
                "'missed'")
LEVEL_COLORS = tuple(f"#{r:02x}{g:02x}{b:02x}" for r, g, b in
                     [(0, 114, 178), (230, 159, 0), (0, 158, 115), (204, 121, 167), (86, 180, 233)])
"""SSD scale s1..s5 (Okabe-Ito; labels and the per-scale table say the scale too)."""
LAYER_PROPOSALS = "RPN proposals (top-k, before NMS)"
LAYER_ROIS = "RoIs kept (after the RPN's NMS)"
LAYER_DETECTIONS = "final detections"
LAYERS = [LAYER_PROPOSALS, LAYER_ROIS, LAYER_DETECTIONS]
LAYER_COLORS = {LAYER_PROPOSALS: "#e69f00", LAYER_ROIS: "#0072b2", LAYER_DETECTIONS: "#d55e00"}
LAYER_LINES: dict[str, LineStyle] = {LAYER_PROPOSALS: "dotted", LAYER_ROIS: "dashed", LAYER_DETECTIONS: "solid"}
"""The three stages differ by line style (and detections by their labels), not by colour alone."""
MEAN_CHANNEL = "mean over channels"
MAX_ROI_CHOICES = 60
"""Highest index of the RoI view's choices (the detections, then the top 10 RoIs)."""
CHANNELS: tuple[str, ...] = ("mean", *map(str, range(8)))
"""Values of the RoI view's channel control: the mean over channels or one of the first eight."""

# --- models ----------------------------------------------------------------------------------------------


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _ssd():
    """The trained SSD (`core.weights.registry`: loaded once, warmed up, shared)."""
    return load_model("ssd", _device())


def _faster_rcnn():
    return load_model("faster_rcnn", _device())


def _weights_present(name: str) -> bool:
    from core.weights.hub import WEIGHTS_DIR

    return (WEIGHTS_DIR / f"{name}.json").is_file() and (WEIGHTS_DIR / f"{name}.safetensors").is_file()


def available_models() -> list[str]:
    """The models whose weights are embedded (Faster R-CNN is listed only once it is trained)."""
    return [name for name in MODELS if _weights_present(name)]


def _check_model(model: Any) -> str:
    if model not in MODELS:
        raise gr.Error(f"Unknown model {model!r}: choose one of {', '.join(repr(m) for m in MODELS)}.")
    if model not in available_models():
        raise gr.Error(f"The {model} weights are not in weights/ yet (train them with `python -m core.train {model}`).")
    return model


def _check_threshold(value: Any, name: str) -> float:
    return inputs.fraction(value, name)


# --- inputs ----------------------------------------------------------------------------------------------


@dataclass
class Input:
    """The image a request works on and, when known, its ground truth (pixels of `image`)."""

    image: np.ndarray  # (H, W, 3) uint8
    gt_boxes: np.ndarray | None  # (G, 4) float32 xyxy, None when unknown
    gt_labels: np.ndarray | None  # (G,) int64
    description: str


def make_input(source: str, seed: Any, sample: str | None, upload: Any) -> Input:
    """Build the input of the view from the source controls."""
    source = next((key for key, label in SOURCE_LABELS.items() if source == label), source)
    if source not in SOURCES:
        raise gr.Error(f"Unknown input source {source!r}; choose one of {', '.join(SOURCES)}.")
    if source == GENERATED:
        value = inputs.seed(seed)
        with user_errors():
            scene = make_scene(value)
        split = next((name for name, seeds in SPLITS.items() if value in seeds), None)
        where = f"{split} split" if split else "no split"
        return Input(scene.image, scene.boxes, scene.labels, f"generated scene, seed {value} ({where})")
    photo = read_image(upload, max_side=MAX_PHOTO_SIDE, sample=sample or DEFAULT_SAMPLE)
    name = "your upload" if upload else f"sample '{sample or DEFAULT_SAMPLE}'"
    if source == PASTED:
        value = inputs.seed(seed)
        with user_errors():
            scene = make_scene(value, background=photo)
        return Input(scene.image, scene.boxes, scene.labels, f"objects of seed {value} pasted onto {name}")
    return Input(photo, None, None, f"{name} as it is (no ground truth)")


# --- detection ---------------------------------------------------------------------------------------------


@dataclass
class Result:
    """Detections of one model on one image (pixels of the input image) and how long it took."""

    boxes: torch.Tensor  # (K, 4)
    scores: torch.Tensor  # (K,)
    labels: torch.Tensor  # (K,) 0-based class indices
    level: torch.Tensor | None  # (K,) SSD scale of each detection
    milliseconds: float
    ssd: Any = None  # core.models.ssd.Detection (SSD only)


def run_model(model: str, image: np.ndarray, score_threshold: float, iou_threshold: float) -> Result:
    """One forward pass of `model` on (H, W, 3) uint8 `image` with the given thresholds."""
    if model in ("rcnn", "fast_rcnn"):
        return run_family_model(model, image, score_threshold, iou_threshold)
    if model == "ssd":
        from core.models.ssd import detect

        net = _ssd()
        started = time.perf_counter()
        det = detect(net, image, score_threshold, iou_threshold)
        ms = (time.perf_counter() - started) * 1000
        return Result(det.boxes, det.scores, det.labels, det.level, ms, det)
    from core.models.faster_rcnn import detect as frcnn_detect

    net = _faster_rcnn()
    started = time.perf_counter()
    with user_errors():
        det = frcnn_detect(net, image, score_threshold, iou_threshold)
    ms = (time.perf_counter() - started) * 1000
    return Result(det["boxes"], det["scores"], det["labels"], None, ms)


def detections_json(result: Result) -> list[dict[str, Any]]:
    """``[{"box": [x1, y1, x2, y2], "score", "label", "class_name"}]`` (pixels of the input image)."""
    return [
        {"box": [round(float(v), 2) for v in box], "score": round(float(score), 4), "label": int(label),
         "class_name": CLASS_NAMES[int(label)]}
        for box, score, label in zip(result.boxes.tolist(), result.scores.tolist(), result.labels.tolist())
    ]


def match_detections(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, gt_boxes: np.ndarray,
                     gt_labels: np.ndarray, iou_threshold: float = MATCH_IOU) -> tuple[list[int], list[bool]]:
    """Greedy matching by decreasing score (the VOC/COCO rule): each detection takes the unmatched ground-truth
    box of its class with the largest IoU if that IoU >= `iou_threshold`.

    Returns (for each detection the matched ground-truth index or -1, for each ground-truth box whether found).
    """
    from torchvision.ops import box_iou

    gt = torch.as_tensor(gt_boxes, dtype=torch.float32).reshape(-1, 4)
    gt_lab = torch.as_tensor(gt_labels, dtype=torch.int64).reshape(-1)
    match = [-1] * len(boxes)
    found = [False] * len(gt)
    if len(boxes) == 0 or len(gt) == 0:
        return match, found
    iou = box_iou(boxes.float(), gt)  # (K, G)
    iou[labels[:, None] != gt_lab[None, :]] = -1.0
    for i in torch.argsort(scores, descending=True, stable=True).tolist():
        row = iou[i].clone()
        row[torch.tensor(found)] = -1.0
        j = int(row.argmax())
        if float(row[j]) >= iou_threshold:
            match[i] = j
            found[j] = True
    return match, found


# --- drawing ---------------------------------------------------------------------------------------------


def _display(image: np.ndarray) -> tuple[torch.Tensor, float]:
    """(3, H', W') uint8 tensor scaled so that the shorter side is at least `DISPLAY_SIDE`, and the factor."""
    height, width = image.shape[:2]
    factor = max(1.0, DISPLAY_SIDE / min(height, width))
    factor = min(factor, 4096 / max(height, width))
    tensor = torch.from_numpy(np.require(image, requirements=("C", "W"))).permute(2, 0, 1)
    if factor != 1.0:
        size = (round(height * factor), round(width * factor))
        tensor = torch.nn.functional.interpolate(tensor[None].float(), size=size, mode="bilinear",
                                                 align_corners=False)[0].round().clamp(0, 255).to(torch.uint8)
    return tensor, factor


def label_size(height: int, width: int) -> int:
    """Letter height in pixels for box labels on an (height, width) picture: about 1/22 of its shorter side, so
    that a label reads about 17 px high when the picture is shown 380 px high (the result view)."""
    return max(14, min(40, round(min(height, width) / 22)))


def draw(image: np.ndarray, boxes: Any, labels: Sequence[str], colors: Sequence[str], width: int = 3,
         display: bool = True, lines: Sequence[LineStyle] | None = None) -> np.ndarray:
    """Boxes (K, 4) pixel xyxy of `image` drawn by `demos.drawing.draw_boxes` in their colours and line styles
    (default solid), at display size (or at the image's own size when not `display`). Labels are tags in the box's
    colour placed by `demos.drawing.LabelPlacer`: inside the picture, not on top of each other (earlier first)."""
    if display:
        tensor, factor = _display(image)
        canvas = tensor.permute(1, 2, 0).numpy()
    else:
        canvas, factor = np.asarray(image, dtype=np.uint8), 1.0
    boxes = np.asarray(torch.as_tensor(np.asarray(boxes, dtype=np.float32)).reshape(-1, 4)) * factor  # (K, 4)
    if len(boxes) == 0:
        return np.array(canvas, copy=True)
    lines = list(lines) if lines is not None else ["solid"] * len(boxes)
    styles = [BoxStyle(hex_to_rgb(color), line, width) for color, line in zip(colors, lines)]
    drawn = draw_boxes(canvas, boxes, styles)
    if not any(labels):
        return drawn
    picture = Image.fromarray(drawn)
    placer = LabelPlacer(picture)
    size = label_size(picture.height, picture.width)
    for box, text, color in zip(boxes.tolist(), labels, colors):
        if text:
            rgb = hex_to_rgb(color)
            placer.add(box, text, rgb, size, text_fill=text_color_on(rgb))
    return np.asarray(picture)


def annotate(inp: Input, result: Result) -> tuple[np.ndarray, list[str], dict[str, Any]]:
    """The annotated picture, the match status of each detection, and TP/FP/miss counts with precision/recall.

    Boxes take their class's colour; with ground truth, true positives are solid, false positives dashed and
    misses dotted, and each label says which ("TP", "FP", "missed")."""
    names = [CLASS_NAMES[int(k)] for k in result.labels.tolist()]
    texts = [f"{n} {s:.2f}" for n, s in zip(names, result.scores.tolist())]
    colors = [CLASS_COLORS[int(k)] for k in result.labels.tolist()]
    if inp.gt_boxes is None:
        return draw(inp.image, result.boxes, texts, colors), [""] * len(texts), {}
    match, found = match_detections(result.boxes, result.scores, result.labels, inp.gt_boxes, inp.gt_labels)
    status = ["TP" if m >= 0 else "FP" for m in match]
    missed = [j for j, f in enumerate(found) if not f]
    boxes = [*result.boxes.tolist(), *inp.gt_boxes[missed].tolist()]
    labels = [f"{t} ({s})" for t, s in zip(texts, status)] + [f"missed {CLASS_NAMES[int(inp.gt_labels[j])]}" for j in missed]
    colors += [CLASS_COLORS[int(inp.gt_labels[j])] for j in missed]
    lines = [MATCH_LINES[s] for s in status] + [MATCH_LINES["missed"]] * len(missed)
    tp, fp, fn = status.count("TP"), status.count("FP"), len(missed)
    counts = {
        "true_positives": tp,
        "false_positives": fp,
        "misses": fn,
        "ground_truth": len(found),
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
        "match_iou": MATCH_IOU,
    }
    return draw(inp.image, boxes, labels, colors, lines=lines), status, counts


# --- main view -----------------------------------------------------------------------------------------------

TABLE_HEADERS = ["#", "class", "score", "box x1, y1, x2, y2", "scale", "truth"]
SCALE_HEADERS = ["scale", "feature map", "stride px", "anchor sizes px", "anchors", "candidates", "detections"]


def _summary(inp: Input, model: str, result: Result, counts: dict[str, Any]) -> str:
    lines = [f"**{inp.description}** · model **{model}** · {len(result.scores)} detections · "
             f"inference **{result.milliseconds:.0f} ms** on {_device().type.upper()}"]
    if counts:
        p = "–" if counts["precision"] is None else f"{counts['precision']:.2f}"
        r = "–" if counts["recall"] is None else f"{counts['recall']:.2f}"
        lines.append(
            f"true positives (solid, 'TP') **{counts['true_positives']}** · "
            f"false positives (dashed, 'FP') **{counts['false_positives']}** · "
            f"misses (dotted, 'missed') **{counts['misses']}** of {counts['ground_truth']} · "
            f"precision **{p}** · recall **{r}** (IoU ≥ {MATCH_IOU}, same class)")
    elif len(result.scores) == 0:
        lines.append("Nothing found: the models only know the five generated shapes "
                     f"({', '.join(CLASS_NAMES)}). Choose *{SOURCE_LABELS[PASTED]}* to paste some onto this photo.")
    else:
        lines.append(f"No ground truth for a photo as it is: boxes in class colours. Choose *{SOURCE_LABELS[PASTED]}* "
                     "to get one.")
    return "\n\n".join(lines)


def _table(result: Result, status: list[str]) -> list[list[Any]]:
    rows = []
    for i, (box, score, label) in enumerate(zip(result.boxes.tolist(), result.scores.tolist(), result.labels.tolist())):
        scale = "" if result.level is None else int(result.level[i]) + 1
        rows.append([i, CLASS_NAMES[int(label)], round(score, 3), ", ".join(f"{v:.0f}" for v in box), scale, status[i]])
    return rows


@on_gpu
def detection_view(source: str, seed: Any, sample: str, upload: Any, model: str, score_threshold: float,
                   iou_threshold: float):
    """The main view: (annotated image, table rows, summary Markdown, JSON, input state)."""
    model = _check_model(model)
    score_threshold = _check_threshold(score_threshold, "Score threshold")
    iou_threshold = _check_threshold(iou_threshold, "NMS IoU threshold")
    inp = make_input(source, seed, sample, upload)
    result = run_model(model, inp.image, score_threshold, iou_threshold)
    picture, status, counts = annotate(inp, result)
    numbers = {
        "model": model,
        "input": inp.description,
        "image_size": [int(inp.image.shape[1]), int(inp.image.shape[0])],
        "inference_ms": round(result.milliseconds, 1),
        "detections": detections_json(result),
        **({"vs_ground_truth": counts,
            "ground_truth": [{"box": [float(v) for v in b], "label": int(k), "class_name": CLASS_NAMES[int(k)]}
                             for b, k in zip(inp.gt_boxes.tolist(), inp.gt_labels.tolist())]} if counts else {}),
    }
    if result.level is not None:
        for item, level in zip(numbers["detections"], result.level.tolist()):
            item["ssd_scale"] = int(level) + 1
    return picture, _table(result, status), _summary(inp, model, result, counts), to_jsonable(numbers), inp


@on_gpu
def detect_endpoint(image: Any, model: str, score_threshold: float, iou_threshold: float):
    """``/detect``: (image, model, score_threshold, iou_threshold) -> (annotated image at the input's size,
    detections JSON in its pixels)."""
    model = _check_model(model)
    score_threshold = _check_threshold(score_threshold, "score_threshold")
    iou_threshold = _check_threshold(iou_threshold, "iou_threshold")
    if image is None or (isinstance(image, str) and not image):
        raise gr.Error("Please give an image.")
    array = read_image(image, max_side=MAX_PHOTO_SIDE)
    result = run_model(model, array, score_threshold, iou_threshold)
    names = [CLASS_NAMES[int(k)] for k in result.labels.tolist()]
    texts = [f"{n} {s:.2f}" for n, s in zip(names, result.scores.tolist())]
    picture = draw(array, result.boxes, texts, [CLASS_COLORS[int(k)] for k in result.labels.tolist()], width=2,
                   display=False)
    return picture, detections_json(result)


# --- SSD insides ---------------------------------------------------------------------------------------------


def _ssd_levels(det: Any) -> list[dict[str, Any]]:
    """Per scale: feature-map size, stride, anchor sizes in input pixels, anchor count."""
    from core.models.ssd import SSDConfig

    net = _ssd()
    config: SSDConfig = net.config
    height = det.input_hw[0]
    rows = []
    for level, ((fh, fw), count, sizes) in enumerate(zip(det.level_sizes, det.level_counts, config.sizes_px)):
        rows.append({
            "scale": level + 1,
            "feature_map": [int(fh), int(fw)],
            "stride_px": round(height / fh / det.scale, 1),
            "anchor_sizes_px": [round(s / det.scale, 1) for s in sizes],
            "ratios": list(config.ratios),
            "anchors": int(count),
        })
    return rows


def _anchor_picture(image: np.ndarray, det: Any, level: int) -> tuple[np.ndarray, str]:
    """The anchors of one scale over the image: all of them on coarse maps, a sparse grid of cells on fine ones;
    the centres of every cell as dots; the anchors that produced this scale's detections highlighted."""
    fh, fw = det.level_sizes[level]
    k = det.level_counts[level] // (fh * fw)
    start = sum(det.level_counts[:level])
    height, width = image.shape[:2]
    in_h, in_w = det.input_hw
    to_image = torch.tensor([in_w, in_h, in_w, in_h], dtype=torch.float32) / det.scale
    anchors = (det.anchors[start : start + det.level_counts[level]] * to_image).reshape(fh, fw, k, 4)  # (fh, fw, k, 4)
    step = max(1, int(np.ceil(max(fh, fw) / 4)))
    rows = list(range(step // 2, fh, step))
    cols = list(range(step // 2, fw, step))
    shown = anchors[rows][:, cols].reshape(-1, 4)
    mine = torch.nonzero(det.level == level).squeeze(1)
    used = det.anchors[det.raw.anchor_index[det.kept_index[mine]]] * to_image  # (D, 4) anchors behind the detections
    tensor, factor = _display(image)
    from torchvision.utils import draw_bounding_boxes

    palette = ["#00e5ff", "#ffea00", "#ff4081", "#76ff03", "#ffffff", "#ff9100"]
    colors = [palette[i % k % len(palette)] for i in range(len(shown))]
    drawn = draw_bounding_boxes(tensor, shown * factor, colors=colors, width=1)
    if len(used):
        drawn = draw_bounding_boxes(drawn, used * factor, colors=["#ff1744"] * len(used), width=3)
    pil = Image.fromarray(drawn.permute(1, 2, 0).numpy())
    paint = ImageDraw.Draw(pil)
    cy = (torch.arange(fh) + 0.5) / fh * in_h / det.scale * factor
    cx = (torch.arange(fw) + 0.5) / fw * in_w / det.scale * factor
    r = 2 if fh * fw > 256 else 3
    for y in cy.tolist():
        for x in cx.tolist():
            if x < width * factor and y < height * factor:
                paint.ellipse((x - r, y - r, x + r, y + r), fill="#ffffff", outline="#000000")
    note = (f"Scale {level + 1}: {fh}×{fw} feature map, {k} anchors per cell ({fh * fw * k} in all); "
            + ("all anchors drawn" if step == 1 else f"anchors drawn every {step} cells, centres of all cells as dots")
            + f"; red: the anchors behind this scale's {len(used)} detections.")
    return np.asarray(pil), note


@on_gpu
def ssd_insides(inp: Input | None, score_threshold: float, iou_threshold: float, level_choice: Any):
    """(scale-coloured detections, per-scale table, anchors picture, anchors note, raw candidates picture, note, JSON)."""
    if inp is None:
        raise gr.Error("Run a detection first.")
    if "ssd" not in available_models():
        raise gr.Error("The SSD weights are not in weights/ yet (python -m core.train ssd).")
    score_threshold = _check_threshold(score_threshold, "Score threshold")
    iou_threshold = _check_threshold(iou_threshold, "NMS IoU threshold")
    from core.models.ssd import detect

    det = detect(_ssd(), inp.image, score_threshold, iou_threshold)
    levels = _ssd_levels(det)
    for row in levels:
        lvl = row["scale"] - 1
        row["candidates_before_nms"] = int((det.raw.level == lvl).sum())
        row["detections"] = int((det.level == lvl).sum())
    texts = [f"{CLASS_NAMES[int(k)]} s{int(l) + 1}" for k, l in zip(det.labels.tolist(), det.level.tolist())]
    by_scale = draw(inp.image, det.boxes, texts, [LEVEL_COLORS[int(l) % len(LEVEL_COLORS)] for l in det.level.tolist()])
    level = _level_index(level_choice, len(levels))
    anchors_picture, anchors_note = _anchor_picture(inp.image, det, level)
    raw = det.raw
    raw_colors = [LEVEL_COLORS[int(l) % len(LEVEL_COLORS)] for l in raw.level.tolist()]
    raw_picture = draw(inp.image, raw.boxes, [""] * len(raw.boxes), raw_colors, width=1)
    raw_note = (f"**{len(raw.scores)} raw candidates** (class probability > {score_threshold:.2f}, one per anchor and "
                f"class, coloured by scale) → class-aware NMS at IoU {iou_threshold:.2f} keeps **{len(det.scores)}**.")
    table = [[r["scale"], f"{r['feature_map'][0]}×{r['feature_map'][1]}", r["stride_px"],
              ", ".join(f"{s:g}" for s in r["anchor_sizes_px"]), r["anchors"], r["candidates_before_nms"],
              r["detections"]] for r in levels]
    numbers = {"scales": levels, "raw_candidates": int(len(raw.scores)), "detections": int(len(det.scores)),
               "detection_scales": [int(l) + 1 for l in det.level.tolist()]}
    return by_scale, table, anchors_picture, anchors_note, raw_picture, raw_note, to_jsonable(numbers)


def _level_index(choice: Any, n_levels: int) -> int:
    try:
        value = int(str(choice).split(":")[0].split()[-1]) - 1 if isinstance(choice, str) else int(choice) - 1
    except (TypeError, ValueError):
        raise gr.Error(f"Unknown scale {choice!r}.") from None
    if not 0 <= value < n_levels:
        raise gr.Error(f"Scale must be between 1 and {n_levels}, got {value + 1}.")
    return value


SCALE_CHOICES = [f"scale {i + 1}" for i in range(5)]


def sent_candidates(inp: Input | None, score_threshold: Any) -> Any:
    """The SSD's raw candidates on this image (the best `MAX_SENT_CANDIDATES`) as the NMS tab's `Candidates`."""
    import demos.nms as nms

    if inp is None:
        raise gr.Error("Run a detection first.")
    score_threshold = _check_threshold(score_threshold, "Score threshold")
    from core.models.ssd import detect

    raw = detect(_ssd(), inp.image, score_threshold, 0.5).raw
    order = torch.argsort(raw.scores, descending=True)[:MAX_SENT_CANDIDATES]
    if len(order) == 0:
        raise gr.Error("No raw candidates above the score threshold: lower it and try again.")
    if len(raw.scores) > MAX_SENT_CANDIDATES:
        gr.Info(f"{len(raw.scores)} candidates: the {MAX_SENT_CANDIDATES} best are sent to the NMS tab.")
    height, width = inp.image.shape[:2]
    return nms.candidates_from_arrays(raw.boxes[order], raw.scores[order], raw.labels[order],
                                      class_names=CLASS_NAMES, image_size=(width, height))


# --- Faster R-CNN insides --------------------------------------------------------------------------------------


DEFAULT_TOP_K = 20
"""Proposals and RoIs drawn by default (the highest objectness): hundreds would cover the picture."""


def _top_k(value: Any) -> int:
    try:
        k = int(value)
    except (TypeError, ValueError):
        raise gr.Error(f"top-k must be an integer, got {value!r}.") from None
    if k < 1:
        raise gr.Error(f"top-k must be at least 1, got {k}.")
    return k


@on_gpu
def frcnn_insides(inp: Input | None, score_threshold: float, iou_threshold: float, top_k: Any = DEFAULT_TOP_K):
    """Faster R-CNN step by step on the current input: (insides state, caption, JSON). `top_k` proposals (before
    the RPN's NMS) and as many RoIs (after it), the highest objectness first, are drawn."""
    if inp is None:
        raise gr.Error("Run a detection first.")
    if "faster_rcnn" not in available_models():
        return None, ("Faster R-CNN is not trained yet (its weights are not in weights/); "
                      "this view appears with them."), {}
    from core.models.faster_rcnn import insides

    score_threshold = _check_threshold(score_threshold, "Score threshold")
    iou_threshold = _check_threshold(iou_threshold, "NMS IoU threshold")
    k = _top_k(top_k)
    with user_errors():
        info = insides(_faster_rcnn(), inp.image, k, score_threshold, iou_threshold)
    info["image"] = inp.image
    rois = len(info["rois"]["objectness"])
    caption = (f"**{info['num_anchors']} anchors** over {len(info['num_anchors_per_level'])} pyramid levels → "
               f"the RPN scores them all; its **top {len(info['proposals']['objectness'])} proposals** are drawn → "
               f"after the RPN's NMS **{rois} RoIs** go to the RoI heads (the top {min(k, rois)} by objectness "
               f"drawn) → **{len(info['detections']['scores'])} detections** (score > {score_threshold:.2f}, "
               f"NMS {iou_threshold:.2f}).")
    numbers = {
        "num_anchors": info["num_anchors"],
        "num_anchors_per_level": info["num_anchors_per_level"],
        "proposals_shown": int(len(info["proposals"]["objectness"])),
        "rois_kept": rois,
        "rois_shown": min(k, rois),
        "detections": [{"box": [round(v, 2) for v in b], "score": round(s, 4), "label": int(l),
                        "class_name": CLASS_NAMES[int(l)]}
                       for b, s, l in zip(info["detections"]["boxes"].tolist(), info["detections"]["scores"].tolist(),
                                          info["detections"]["labels"].tolist())],
        "resized_size": info["resized_size"],
        "fpn_levels": [{"name": f["name"], "stride": f["stride"], "size": list(f["map"].shape[-2:])}
                       for f in info["fpn_features"]],
    }
    return info, caption, to_jsonable(numbers)


def frcnn_layers_picture(info: dict | None, layers: Sequence[str], top_k: Any = DEFAULT_TOP_K) -> np.ndarray | None:
    """The chosen layers over the image: the top-k proposals, the top-k kept RoIs (highest objectness; the RPN
    keeps hundreds, which would cover the picture) and the detections."""
    if info is None:
        return None
    k = _top_k(top_k)
    boxes, labels, colors, lines = [], [], [], []
    for layer, key in ((LAYER_PROPOSALS, "proposals"), (LAYER_ROIS, "rois")):
        if layer in layers:
            shown = info[key]["boxes"][:k]  # sorted by objectness
            boxes.append(shown)
            labels += [""] * len(shown)
            colors += [LAYER_COLORS[layer]] * len(shown)
            lines += [LAYER_LINES[layer]] * len(shown)
    image = info["image"]
    thin = draw(image, torch.cat(boxes) if boxes else torch.zeros(0, 4), labels, colors, width=2, lines=lines)
    if LAYER_DETECTIONS in layers and len(info["detections"]["scores"]):
        det = info["detections"]
        factor = thin.shape[1] / image.shape[1]
        texts = [f"{CLASS_NAMES[int(k)]} {s:.2f}" for k, s in zip(det["labels"].tolist(), det["scores"].tolist())]
        thin = draw(thin, det["boxes"] * factor, texts, [LAYER_COLORS[LAYER_DETECTIONS]] * len(texts), width=3,
                    display=False)
    return thin


# --- RoI pooling vs RoIAlign ---------------------------------------------------------------------------------

CELL = 64
"""Pixels per feature-map cell in the RoI pictures (the book's toy); real maps are scaled to fit."""


def _roi_picture(feature: torch.Tensor, result: dict[str, Any], title: str, max_side: int = 520) -> np.ndarray:
    """A (h, w) feature map as a grey grid with the projected RoI (dashed), RoI pooling's quantised cells and
    bins (red), RoIAlign's bins (blue) and its bilinear sampling points (blue dots)."""
    h, w = feature.shape
    cell = max(6, min(CELL, max_side // max(h, w)))
    margin = 20
    caption_font = ImageFont.load_default(size=14)
    width = max(w * cell + 2 * margin, int(caption_font.getlength(title)) + 2 * margin)
    canvas = Image.new("RGB", (width, h * cell + 2 * margin + 14), "white")
    paint = ImageDraw.Draw(canvas)
    lo, hi = float(feature.min()), float(feature.max())
    span = hi - lo if hi > lo else 1.0
    font = ImageFont.load_default(size=max(10, min(16, cell // 4)))
    integers = bool(torch.all(feature == feature.round()))
    for i in range(h):
        for j in range(w):
            v = (float(feature[i, j]) - lo) / span
            g = int(235 - 150 * v)
            x0, y0 = margin + j * cell, margin + i * cell
            paint.rectangle((x0, y0, x0 + cell, y0 + cell), fill=(g, g, g), outline="#9e9e9e")
            if integers and cell >= 40:  # the toy's values, in the cell's corner (the centre holds samples)
                paint.text((x0 + 4, y0 + 2), f"{int(feature[i, j])}", fill="black", font=font)

    def fx(x: float) -> float:  # feature coordinate (cell edges at integers) -> canvas
        return margin + x * cell

    def fy(y: float) -> float:
        return margin + y * cell

    pool = result["pool"]
    qx1, qy1, qx2, qy2 = pool["quantised"]
    paint.rectangle((fx(qx1), fy(qy1), fx(qx2 + 1), fy(qy2 + 1)), outline="#d50000", width=4)
    for c0, _ in pool["bins_x"].tolist()[1:]:
        paint.line((fx(c0), fy(qy1), fx(c0), fy(qy2 + 1)), fill="#d50000", width=2)
    for r0, _ in pool["bins_y"].tolist()[1:]:
        paint.line((fx(qx1), fy(r0), fx(qx2 + 1), fy(r0)), fill="#d50000", width=2)
    align = result["align"]["aligned"]
    ex, ey = align["edges_x"].tolist(), align["edges_y"].tolist()
    # aligned RoIAlign works in pixel-centre coordinates: cell centre (i + 0.5) is sample coordinate i
    ex = [e + 0.5 for e in ex]
    ey = [e + 0.5 for e in ey]
    for e in ex:
        paint.line((fx(e), fy(ey[0]), fx(e), fy(ey[-1])), fill="#2962ff", width=2)
    for e in ey:
        paint.line((fx(ex[0]), fy(e), fx(ex[-1]), fy(e)), fill="#2962ff", width=2)
    r = max(2, cell // 12)
    for sy in align["samples_y"].tolist():
        for sx in align["samples_x"].tolist():
            paint.ellipse((fx(sx + 0.5) - r, fy(sy + 0.5) - r, fx(sx + 0.5) + r, fy(sy + 0.5) + r), fill="#2962ff")
    px1, py1, px2, py2 = result["projected"]
    _dashed_rect(paint, (fx(px1), fy(py1), fx(px2), fy(py2)), "#000000")
    paint.text((margin, h * cell + margin + 4), title, fill="black", font=caption_font)
    return np.asarray(canvas)


def _dashed_rect(paint: ImageDraw.ImageDraw, box: tuple[float, float, float, float], color: str, dash: int = 8) -> None:
    x1, y1, x2, y2 = box
    for a, b, horizontal, fixed in ((x1, x2, True, y1), (x1, x2, True, y2), (y1, y2, False, x1), (y1, y2, False, x2)):
        pos = a
        while pos < b:
            end = min(pos + dash, b)
            if horizontal:
                paint.line((pos, fixed, end, fixed), fill=color, width=3)
            else:
                paint.line((fixed, pos, fixed, end), fill=color, width=3)
            pos += 2 * dash


def _values_table(values: torch.Tensor) -> str:
    """A (h, w) tensor as a compact Markdown table (rows and columns numbered from 0)."""
    rows = values.tolist()
    integers = all(float(v).is_integer() for row in rows for v in row)
    cell = (lambda v: f"{v:g}") if integers else (lambda v: f"{v:.2f}")
    head = "| | " + " | ".join(str(j) for j in range(len(rows[0]))) + " |\n|---" + "|---" * len(rows[0]) + "|\n"
    return head + "\n".join(f"| **{i}** | " + " | ".join(cell(v) for v in row) + " |" for i, row in enumerate(rows))


@lru_cache(maxsize=1)
def roi_toy() -> tuple[np.ndarray, np.ndarray, str, dict[str, Any]]:
    """The book's 4x4 toy: pictures of both RoIs, a Markdown comparison and the numbers (cached: fixed input)."""
    from core.models.faster_rcnn import BOOK_FEATURE_MAP, BOOK_ROIS, BOOK_SPATIAL_SCALE, book_roi_pool_example
    from torchvision.ops import roi_align, roi_pool

    results = book_roi_pool_example()
    feature = BOOK_FEATURE_MAP[0, 0]
    pictures = [
        _roi_picture(feature, res, f"RoI {i}: {[int(v) for v in BOOK_ROIS[i, 1:].tolist()]} px * 0.1 = "
                     f"{[round(v, 2) for v in res['projected']]}", max_side=256)
        for i, res in enumerate(results)
    ]
    pooled = roi_pool(BOOK_FEATURE_MAP, BOOK_ROIS, output_size=(2, 2), spatial_scale=BOOK_SPATIAL_SCALE)
    aligned = roi_align(BOOK_FEATURE_MAP, BOOK_ROIS, output_size=(2, 2), spatial_scale=BOOK_SPATIAL_SCALE,
                        sampling_ratio=-1, aligned=True)
    text = []
    for i, res in enumerate(results):
        text.append(f"**RoI {i}** quantised to cells {res['pool']['quantised']} → roi_pool\n\n"
                    + _values_table(pooled[i, 0]) + "\n\nroi_align (aligned=True)\n\n" + _values_table(aligned[i, 0]))
    numbers = {
        "X": BOOK_FEATURE_MAP[0, 0].tolist(),
        "rois": BOOK_ROIS.tolist(),
        "spatial_scale": BOOK_SPATIAL_SCALE,
        "roi_pool": pooled.tolist(),
        "roi_align": aligned.tolist(),
        "quantised": [list(r["pool"]["quantised"]) for r in results],
        "projected": [list(r["projected"]) for r in results],
    }
    return pictures[0], pictures[1], "\n\n".join(text), to_jsonable(numbers)


def roi_toy_endpoint():
    """``/detection_roi_toy``: the book's example (pictures of both RoIs, the comparison, the numbers)."""
    return roi_toy()


def _roi_choices(info: dict | None) -> list[str]:
    if info is None:
        return []
    det = info["detections"]
    choices = [f"detection {i}: {CLASS_NAMES[int(k)]} {s:.2f}" for i, (k, s) in
               enumerate(zip(det["labels"].tolist(), det["scores"].tolist()))]
    choices += [f"RoI {i} (objectness {s:.2f})" for i, s in enumerate(info["rois"]["objectness"][:10].tolist())]
    return choices


@on_gpu
def roi_real(info: dict | None, choice: Any, output_size: Any, channel: Any):
    """RoI pooling vs RoIAlign on the Faster R-CNN's own feature map for one detection or RoI.

    Returns (picture, Markdown comparison, JSON numbers).
    """
    if info is None:
        return None, "Faster R-CNN is not available yet: the toy example above shows the idea.", {}
    from core.models.faster_rcnn import roi_pool_vs_align

    choices = _roi_choices(info)
    if not choices:
        return None, "No detection or RoI on this image.", {}
    if isinstance(choice, (int, float)) or (isinstance(choice, str) and choice.strip().isdigit()):
        text = choices[min(int(choice), len(choices) - 1)]  # the view's `roi`: an index into the choices
    else:
        text = str(choice) if choice in choices else choices[0]
    index = int(text.split(":")[0].split()[-1]) if text.startswith("detection") else int(text.split()[1])
    sy, sx = info["scale"]
    if text.startswith("detection"):
        box = info["detections"]["boxes"][index] * torch.tensor([sx, sy, sx, sy])
    else:
        box = info["rois"]["boxes_resized"][index]
    model = _faster_rcnn()
    level = int(model.roi_heads.box_roi_pool.map_levels([box[None].float()])[0])
    feature_info = [f for f in info["fpn_features"] if f["name"] != "pool"][level]
    fmap = feature_info["map"]  # (C, h, w)
    try:
        size = int(output_size)
    except (TypeError, ValueError):
        raise gr.Error(f"Output size must be an integer, got {output_size!r}.") from None
    if not 1 <= size <= 14:
        raise gr.Error(f"Output size must be between 1 and 14, got {size}.")
    if channel in (None, "", MEAN_CHANNEL, "mean"):
        feature, what = fmap.mean(0, keepdim=True), "mean over channels"
    else:
        try:
            c = int(channel)
        except (TypeError, ValueError):
            raise gr.Error(f"Channel must be an integer or '{MEAN_CHANNEL}', got {channel!r}.") from None
        if not 0 <= c < fmap.shape[0]:
            raise gr.Error(f"Channel must be between 0 and {fmap.shape[0] - 1}, got {c}.")
        feature, what = fmap[c : c + 1], f"channel {c}"
    with user_errors():
        res = roi_pool_vs_align(feature, box.tolist(), 1.0 / feature_info["stride"], size)
    # crop the picture around the RoI (a few cells of context) so the bins stay visible
    px1, py1, px2, py2 = res["projected"]
    h, w = feature.shape[-2:]
    r0, r1 = max(0, int(np.floor(py1)) - 2), min(h, int(np.ceil(py2)) + 3)
    c0, c1 = max(0, int(np.floor(px1)) - 2), min(w, int(np.ceil(px2)) + 3)
    crop = feature[0, r0:r1, c0:c1]
    shifted = roi_pool_vs_align(crop[None], (box - torch.tensor([c0, r0, c0, r0]) * feature_info["stride"]).tolist(),
                                1.0 / feature_info["stride"], size)
    picture = _roi_picture(crop, shifted, f"FPN level {feature_info['name']} (stride {feature_info['stride']}), {what}, "
                                         f"rows {r0}-{r1 - 1}, columns {c0}-{c1 - 1}")
    pool_v, align_v = res["pool"]["values"][0], res["align"]["aligned"]["values"][0]
    text = (f"RoI {[round(v, 1) for v in box.tolist()]} (resized-image pixels) × 1/{feature_info['stride']} = "
            f"{[round(v, 2) for v in res['projected']]} on the feature map; RoI pooling rounds it to cells "
            f"{res['pool']['quantised']} (red), RoIAlign keeps the exact edges (blue) and samples bilinearly "
            f"(dots). Mean |pool − align| = {float((pool_v - align_v).abs().mean()):.3g}.\n\n"
            "**roi_pool** (max over each red bin)\n\n" + _values_table(pool_v)
            + "\n\n**roi_align** (mean of the bilinear samples in each blue bin)\n\n" + _values_table(align_v))
    numbers = {"roi_resized": box.tolist(), "fpn_level": feature_info["name"], "stride": feature_info["stride"],
               "projected": list(res["projected"]), "quantised": list(res["pool"]["quantised"]),
               "roi_pool": pool_v.tolist(), "roi_align": align_v.tolist()}
    return picture, text, to_jsonable(numbers)


# --- UI ------------------------------------------------------------------------------------------------------

EXPLANATION = ("**Trained to find only five shapes:** " + ", ".join(
    f"{swatch(hex_to_rgb(c))} {n}" for n, c in zip(CLASS_NAMES, CLASS_COLORS)) + r""" (any colour, texture,
rotation; 18–112 px): on a photo of your own, *paste objects onto it*. Boxes take their class's colour; with ground
truth, a **true positive** is a solid outline labelled TP, a **false positive** a dashed one labelled FP, a
**missed** object a dotted one (IoU ≥ 0.5, same class).
""")

SSD_EXPLANATION = r"""
**SSD** is single-shot: for every anchor $a$ of every scale SSD predicts $C+1$ class scores and the four offsets of
the box $b$ from it (its centre, then its size):
$$\Big(\frac{x_b-x_a}{0.1\,w_a},\ \frac{y_b-y_a}{0.1\,h_a},\ \frac{1}{0.2}\log\frac{w_b}{w_a},\ \frac{1}{0.2}\log\frac{h_b}{h_a}\Big)$$
loss = cross-entropy (hard negatives 3:1) + $L_1$ offsets. Fine maps (small anchors) find small objects,
coarse maps large ones. Each detection comes from one anchor of one scale (s1 = finest).
"""

FRCNN_EXPLANATION = r"""
**Faster R-CNN** is two-stage: a *region proposal network* scores every anchor of the feature pyramid as
object / not object and regresses it to a proposal; the best proposals survive NMS as *RoIs*; the RoI heads pool a
fixed $7\times7$ grid from each RoI (RoIAlign) and classify it and refine its box. Toggle the three stages:
"""

LINKS = " · ".join([
    book_link("multiscale-object-detection.html", "14.5 Multiscale Object Detection"),
    book_link("ssd.html", "14.7 Single Shot Multibox Detection"),
    book_link("rcnn.html", "14.8 Region-based CNNs"),
])

PARTS: tuple[str, ...] = ("result", "ssd", "frcnn", "roi", "family")
"""The sub-tabs: the result, SSD insides, Faster R-CNN insides, RoI pooling vs RoIAlign, the R-CNN family side by
side (the links' ``part=``). The family's comparison runs when its sub-tab is opened or its button pressed, with
its own settings (the view's ``family_*`` fields)."""


@dataclass(frozen=True)
class DetectionView(View):
    """The tab's state: the input, the model and its thresholds, and what each insides sub-tab shows."""

    PARTS: ClassVar[tuple[str, ...]] = PARTS

    source: str = param(GENERATED, choices=SOURCES, label="input")
    seed: int = param(DEFAULT_SEED, low=0, high=inputs.MAX_SEED, label="seed")
    sample: str = param(DEFAULT_SAMPLE, choices=tuple(sample_names()), label="photo (sample)")
    model: str = param("ssd", choices=MODELS, label="model")
    score: float = param(DEFAULT_SCORE, low=0.05, high=0.95, label="score threshold")
    iou: float = param(DEFAULT_IOU, low=0.1, high=0.9, label="NMS IoU threshold")
    scale: str = param("3", choices=tuple(str(i + 1) for i in range(5)), label="anchors of scale")
    top_k: int = param(DEFAULT_TOP_K, low=5, high=300, label="top-k drawn")
    proposals: bool = param(True, label="RPN proposals layer")
    rois: bool = param(True, label="RoIs layer")
    detections: bool = param(True, label="final detections layer")
    roi: int = param(0, low=0, high=MAX_ROI_CHOICES, label="RoI")
    roi_size: int = param(4, low=2, high=7, label="output size")
    channel: str = param("mean", choices=CHANNELS, label="channel")
    family_input: str = param(rcnn_family.GENERATED, choices=rcnn_family.SOURCES, label="R-CNN family: input")
    family_seed: int = param(rcnn_family.DEFAULT_SEED, low=0, high=inputs.MAX_SEED, label="R-CNN family: scene seed")
    family_limit: int = param(rcnn_family.MAX_PROPOSALS, low=10, high=rcnn_family.MAX_PROPOSALS,
                              label="R-CNN family: proposals classified")
    family_shown: int = param(rcnn_family.DEFAULT_SHOWN, low=0, high=300, label="R-CNN family: proposals drawn")
    family_score: float = param(rcnn_family.DEFAULT_SCORE, low=0.05, high=0.95, label="R-CNN family: score threshold")
    family_merges: int = param(rcnn_family.DEFAULT_MERGES, low=0, high=100, label="R-CNN family: merges done (%)")

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> tuple["DetectionView", list[str]]:
        """`View.from_query`; a link whose R-CNN family input is an upload (which no link carries) opens the
        generated scene instead, and the notice says so."""
        view, notices = super().from_query(query)
        if view.family_input == rcnn_family.UPLOADED:
            notices.append("The link's `family_input=upload` was not used: an uploaded image does not travel in "
                           "links. The R-CNN family compares on the generated scene.")
            view = replace(view, family_input=rcnn_family.GENERATED)
        return view, notices


def _layers(proposals: bool, rois: bool, detections: bool) -> list[str]:
    return [layer for layer, on in zip(LAYERS, (proposals, rois, detections)) if on]


def _roi_dropdown(info: dict | None, roi: Any = 0):
    choices = [(text, i) for i, text in enumerate(_roi_choices(info))]
    value = min(inputs.whole(roi, "RoI", low=0, default=0), len(choices) - 1) if choices else None
    return gr.Dropdown(choices=choices, value=value)


def _insides(part: str, inp: Input | None, score: Any, iou: Any, scale: Any, top_k: Any, proposals: bool,
             rois: bool, detections: bool, roi: Any, roi_size: Any, channel: Any) -> list[Any]:
    """The outputs of one insides sub-tab (`part`) for the input in the state, `gr.skip()` for the others:
    [*SSD (7), Faster R-CNN state, caption, JSON, layers picture, RoI dropdown, RoI picture, text, JSON]."""
    ssd = [gr.skip()] * 7
    frcnn = [gr.skip()] * 4
    roi_outputs = [gr.skip()] * 4
    if inp is None or part in ("result", "family"):
        return [*ssd, *frcnn, *roi_outputs]
    if part == "ssd":
        if "ssd" in available_models():
            ssd = list(ssd_insides(inp, score, iou, scale))
    else:
        info, caption, numbers = frcnn_insides(inp, score, iou, top_k)
        frcnn = [info, caption, numbers, frcnn_layers_picture(info, _layers(proposals, rois, detections), top_k)]
        if part == "roi":
            roi_outputs = [_roi_dropdown(info, roi), *roi_real(info, roi, roi_size, channel)]
    return [*ssd, *frcnn, *roi_outputs]


def show(view: DetectionView) -> tuple:
    """Every picture and number of the tab for one view (every sub-tab's; an upload is not part of a view)."""
    main = detection_view(view.source, view.seed, view.sample, None, view.model, view.score, view.iou)
    settings = (view.score, view.iou, view.scale, view.top_k, view.proposals, view.rois, view.detections, view.roi,
                view.roi_size, view.channel)
    ssd = _insides("ssd", main[4], *settings)[:7]
    rest = _insides("roi", main[4], *settings)[7:]
    return (*main, *ssd, *rest, *roi_toy())


def _picture(label: str, elem_id: str | None = None, height: int = 330, **options: Any) -> gr.Image:
    return gr.Image(type="numpy", format=options.pop("format", "jpeg"), label=label, interactive=False,
                    height=height, elem_id=elem_id, **options)


def _build_inputs(view: DetectionView, model_choices: list[tuple[str, str]]) -> dict[str, Any]:
    """The left column: input, model, thresholds, the Detect button."""
    c = dict(source=gr.Dropdown([(SOURCE_LABELS[s], s) for s in SOURCES], value=view.source, label="input",
                                elem_id="detection-source"))
    with gr.Row():
        c["seed"] = gr.Number(value=view.seed, precision=0, minimum=0, label="seed", elem_id="detection-seed",
                              info=f"test split: {SPLITS['test'].start}–{SPLITS['test'].stop - 1}")
        c["sample"] = gr.Dropdown(sample_names(), value=view.sample, label="photo (sample)",
                                  elem_id="detection-sample")
    c["upload"] = image_upload(label="your photo (for the photo inputs)", height=190, sources=["upload", "clipboard"],
                               elem_id="detection-upload")
    c["paste"] = gr.Button("Paste objects onto this photo", size="sm", elem_id="detection-paste")
    c["model"] = gr.Radio(model_choices, value=view.model, label="model", elem_id="detection-model")
    c["score"] = gr.Slider(0.05, 0.95, value=view.score, step=0.05, label="score threshold", elem_id="detection-score")
    c["iou"] = gr.Slider(0.1, 0.9, value=view.iou, step=0.05, label="NMS IoU threshold", elem_id="detection-iou")
    c["run"] = gr.Button("Detect", variant="primary", elem_id="detection-run")
    return c


def _build_result() -> list[Any]:
    with gr.Row(equal_height=False):
        picture = _picture("detections", "detection-picture", 380, buttons=["download", "fullscreen"], scale=4)
        # the box column wraps between its numbers: "1023, 1000," is its longest line
        table = gr.Dataframe(headers=TABLE_HEADERS, label="detections (pixels of the input)", interactive=False,
                             max_height=380, elem_id="detection-table", scale=5, min_width=320, wrap=True,
                             column_widths=column_widths(2, 8, 5, 11, 5, 5))
    with gr.Accordion("numbers (JSON)", open=False):
        numbers = gr.JSON(show_label=False, height=260)
    return [picture, table, numbers]


def _build_ssd(view: DetectionView) -> tuple[gr.Radio, gr.Button, list[Any]]:
    gr.Markdown(SSD_EXPLANATION, latex_delimiters=LATEX, elem_id="detection-ssd-explanation")
    # the table has the tab's whole width: its seven columns fit it at 1366 px (a phone scrolls it sideways)
    scale_table = gr.Dataframe(headers=SCALE_HEADERS, interactive=False, label="the scales",
                               elem_id="detection-scales", column_widths=column_widths(*map(len, SCALE_HEADERS)))
    with gr.Row(equal_height=False):
        by_scale = _picture("detections by scale (label: class and scale, s1 = finest)", "detection-by-scale")
        raw_picture = _picture("raw candidates before NMS (colour: scale)", "detection-raw")
    with gr.Row(equal_height=False):
        with gr.Column(min_width=260):
            scale = gr.Radio([(f"scale {i + 1}", str(i + 1)) for i in range(5)], value=view.scale,
                             label="draw the anchors of", elem_id="detection-scale")
            anchors_note = gr.Markdown()
        anchors_picture = _picture("anchors of the chosen scale", "detection-anchors")
    with gr.Row():
        with gr.Column(min_width=300):  # on a phone: above the button, not squeezed beside it
            raw_note = gr.Markdown(elem_id="detection-raw-note")
        send = gr.Button("Send raw candidates to the NMS tab ▶", size="sm", elem_id="detection-send", scale=0,
                         min_width=260)
    with gr.Accordion("numbers (JSON)", open=False):
        ssd_numbers = gr.JSON(show_label=False, height=220)
    return scale, send, [by_scale, scale_table, anchors_picture, anchors_note, raw_picture, raw_note, ssd_numbers]


def _build_frcnn(view: DetectionView) -> tuple[list[Any], list[Any]]:
    """Controls [top-k, proposals, rois, detections] and outputs [caption, JSON, layers picture]."""
    gr.Markdown(FRCNN_EXPLANATION, latex_delimiters=LATEX)
    caption = gr.Markdown(elem_id="detection-frcnn-caption")
    with gr.Row(equal_height=False):
        picture = _picture("proposals → RoIs → detections", "detection-layers-picture", 400)
        with gr.Column(scale=0, min_width=260, elem_id="detection-layers"):
            toggles = [gr.Checkbox(value=on, label=f"{layer} ({LAYER_LINES[layer]})", elem_id=f"detection-layer-{i}")
                       for i, (layer, on) in enumerate(zip(LAYERS, (view.proposals, view.rois, view.detections)))]
            top_k = gr.Slider(5, 300, value=view.top_k, step=5, elem_id="detection-top-k",
                              label="top-k drawn (proposals and RoIs, highest objectness)")
            gr.HTML(" · ".join(f"{swatch(hex_to_rgb(LAYER_COLORS[layer]))} {layer}: {LAYER_LINES[layer]}"
                               for layer in LAYERS))
    with gr.Accordion("numbers (JSON)", open=False):
        numbers = gr.JSON(show_label=False, height=220)
    return [top_k, *toggles], [caption, numbers, picture]


def _build_roi(view: DetectionView) -> tuple[list[Any], list[Any], list[Any]]:
    """Controls [RoI, output size, channel], outputs [picture, text, JSON] and the toy's [a, b, text, JSON]."""
    gr.Markdown(
        "The book's toy: $X$ = 0..15 (4×4), RoIs $[0,0,20,20]$ and $[0,10,30,30]$ px, spatial scale "
        "0.1, 2×2 output. **RoI pooling** rounds the projected RoI to whole cells (red) and takes the "
        "max per bin; **RoIAlign** keeps the exact edges (blue) and averages bilinear samples "
        "(dots). Dashed: the projected RoI.", latex_delimiters=LATEX)
    with gr.Row(equal_height=False):
        toy_a = _picture("RoI 0", "detection-roi-toy-0", 260, format="png")
        toy_b = _picture("RoI 1", "detection-roi-toy-1", 260, format="png")
        with gr.Column(min_width=240):  # on a phone: under the pictures, not squeezed beside them
            toy_text = gr.Markdown(elem_id="detection-roi-toy")
    toy_numbers = gr.JSON(visible=False)
    gr.Markdown("**On the real feature map** (Faster R-CNN, the FPN level its RoI heads use):")
    with gr.Row(equal_height=False):
        with gr.Column(scale=0, min_width=260):
            roi = gr.Dropdown([(f"detection {view.roi}", view.roi)], value=view.roi, label="RoI",
                              elem_id="detection-roi-choice")
            roi_size = gr.Slider(2, 7, value=view.roi_size, step=1, label="output size (bins per side)",
                                 elem_id="detection-roi-size")
            channel = gr.Dropdown([(MEAN_CHANNEL, "mean"), *[(c, c) for c in CHANNELS[1:]]], value=view.channel,
                                  label="channel", elem_id="detection-roi-channel")
        picture = _picture("RoI on the feature map", "detection-roi-picture", 360, format="png", scale=3)
    # under the picture, with the tab's width: beside it the tables had a narrow column
    text = gr.Markdown(elem_id="detection-roi-text")
    with gr.Accordion("numbers (JSON)", open=False):
        numbers = gr.JSON(show_label=False, height=200)
    return [roi, roi_size, channel], [picture, text, numbers], [toy_a, toy_b, toy_text, toy_numbers]


def _api_endpoints() -> None:
    """`/detect` (the API contract, on hidden components: the UI builds its input from the source controls) and
    `/detection_roi_toy`."""
    api_image = image_upload(visible=False)
    api_model = gr.Textbox(value="ssd", visible=False)
    api_score = gr.Number(value=DEFAULT_SCORE, visible=False)
    api_iou = gr.Number(value=DEFAULT_IOU, visible=False)
    api_outputs = [gr.Image(type="numpy", format="jpeg", visible=False), gr.JSON(visible=False)]
    gr.Button(visible=False).click(detect_endpoint, inputs=[api_image, api_model, api_score, api_iou],
                                   outputs=api_outputs, api_name="detect")
    toy_outputs = [gr.Image(type="numpy", format="png", visible=False), gr.Image(type="numpy", format="png", visible=False),
                   gr.Markdown(visible=False), gr.JSON(visible=False)]
    gr.Button(visible=False).click(roi_toy_endpoint, outputs=toy_outputs, api_name="detection_roi_toy")


@on_gpu
def send_view(inp: Input | None, score_threshold: Any, iou_threshold: Any) -> tuple[NmsView, dict[str, Any]]:
    """The hand-off to the NMS tab: its view (custom candidates, the SSD's own NMS settings, class-aware, drawn
    on this image, so that its last step shows this tab's SSD detections) and the candidates and picture, which a
    link cannot carry."""
    candidates = sent_candidates(inp, score_threshold)
    view = sent_view(candidates, iou_threshold=_check_threshold(iou_threshold, "NMS IoU threshold"),
                     class_aware=True, has_picture=True)
    return view, {"candidates": candidates_json(candidates), "picture": inp.image}


PART_TITLES = {"result": "result", "ssd": "SSD insides", "frcnn": "Faster R-CNN insides",
               "roi": "RoI pooling vs RoIAlign", "family": "R-CNN family"}
SHOWN_PART_JS = ("(part, ...rest) => { const shown = document.querySelector('#detection-parts [role=tab]"
                 "[aria-selected=true]'); const ids = " + json.dumps({t: p for p, t in PART_TITLES.items()})
                 + "; return [(shown && ids[shown.innerText.trim()]) || part, ...rest]; }")
"""The `js=` of the insides' refresh after a detection: the sub-tab shown now (a link may have opened one without
a click), so that only its insides are computed."""


def build() -> TabUI:
    header("Detection: SSD and Faster R-CNN, trained here, insides shown", EXPLANATION, LINKS)
    view = DetectionView()
    models = available_models()
    model_choices = [(MODEL_LABELS[m], m) for m in models] or [(MODEL_LABELS["ssd"], "ssd")]
    state = gr.State(None)
    frcnn_state = gr.State(None)
    part = gr.State(PARTS[0])  # the sub-tab shown: only its insides are computed after a detection
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=280):
            c = _build_inputs(view, model_choices)
        with gr.Column(scale=7, min_width=330):
            summary = gr.Markdown(elem_id="detection-summary")
            with gr.Tabs(elem_id="detection-parts") as parts:
                with gr.Tab(PART_TITLES["result"], id="result") as result_tab:
                    picture, table, numbers = _build_result()
                with gr.Tab(PART_TITLES["ssd"], id="ssd", elem_id="detection-ssd-tab") as ssd_tab:
                    scale, send, ssd_outputs = _build_ssd(view)
                with gr.Tab(PART_TITLES["frcnn"], id="frcnn", elem_id="detection-frcnn-tab") as frcnn_tab:
                    frcnn_controls, frcnn_outputs = _build_frcnn(view)
                with gr.Tab(PART_TITLES["roi"], id="roi", elem_id="detection-roi-tab") as roi_tab:
                    roi_controls, roi_outputs, toy_outputs = _build_roi(view)
                family = build_family_subtab(PART_TITLES["family"], "family")
    _api_endpoints()

    main_inputs = [c["source"], c["seed"], c["sample"], c["upload"], c["model"], c["score"], c["iou"]]
    main_outputs = [picture, table, summary, numbers, state]
    top_k, *toggles = frcnn_controls
    frcnn_caption, frcnn_numbers, layers_picture = frcnn_outputs
    insides_inputs = [state, c["score"], c["iou"], scale, top_k, *toggles, *roi_controls]
    insides_outputs = [*ssd_outputs, frcnn_state, frcnn_caption, frcnn_numbers, layers_picture, roi_controls[0],
                       *roi_outputs]
    quiet = dict(api_visibility="private", show_progress="hidden")

    def then_insides(event) -> None:
        event.then(_insides, inputs=[part, *insides_inputs], outputs=insides_outputs, js=SHOWN_PART_JS,
                   api_visibility="private", show_progress="minimal")

    then_insides(c["run"].click(detection_view, inputs=main_inputs, outputs=main_outputs, api_name="detection_view",
                                show_progress="minimal"))
    then_insides(gr.on([c["source"].input, c["model"].input, c["score"].release, c["iou"].release, c["seed"].submit,
                        c["sample"].input, c["upload"].input], detection_view, inputs=main_inputs,
                       outputs=main_outputs, api_name="detection_view_ui", api_visibility="private",
                       trigger_mode="always_last", show_progress="minimal"))
    then_insides(c["paste"].click(lambda: PASTED, outputs=c["source"], **quiet).then(
        detection_view, inputs=main_inputs, outputs=main_outputs, api_name="detection_paste_ui",
        api_visibility="private"))
    for tab, name in ((result_tab, "result"), (ssd_tab, "ssd"), (frcnn_tab, "frcnn"), (roi_tab, "roi")):
        # a sub-tab computes its insides when it is opened (not on every Detect click)
        tab.select(lambda name=name: name, outputs=part, **quiet).then(
            _insides, inputs=[part, *insides_inputs], outputs=insides_outputs, api_visibility="private",
            show_progress="minimal")
    scale.input(ssd_insides, inputs=[state, c["score"], c["iou"], scale], outputs=ssd_outputs,
                api_name="detection_ssd_insides", show_progress="minimal")
    gr.on([t.input for t in toggles], lambda info, k, *on: frcnn_layers_picture(info, _layers(*on), k),
          inputs=[frcnn_state, top_k, *toggles], outputs=layers_picture, api_name="detection_layers_ui", **quiet)
    top_k.release(lambda *values: _insides("frcnn", *values)[7:11], inputs=insides_inputs,
                  outputs=insides_outputs[7:11], api_name="detection_frcnn_insides_ui", **quiet)
    gr.on([roi_controls[0].input, roi_controls[1].release, roi_controls[2].input], roi_real,
          inputs=[frcnn_state, *roi_controls], outputs=roi_outputs, api_name="detection_roi_ui",
          api_visibility="private", show_progress="minimal")

    return TabUI(DetectionView, controls=[c["source"], c["seed"], c["sample"], c["model"], c["score"], c["iou"], scale,
                                          *frcnn_controls, *roi_controls, *family.controls],
                 outputs=[*main_outputs, *insides_outputs, *toy_outputs], show=show,
                 uploads=[c["upload"], family.upload], parts=parts,
                 handoffs=[Handoff(send, NmsView.TAB, send_view, [state, c["score"], c["iou"]])])
