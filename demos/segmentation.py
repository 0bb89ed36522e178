"""The Segmentation tab: the lab's FCN on generated scenes, scenes pasted on your photo, samples and uploads.

What a student sees: the class overlay (torchvision's ``draw_segmentation_masks``) with a legend; with ground truth
(a generated scene) the error map and the per-class IoU; the coarse class scores at the feature map's resolution
next to what the skips and the transposed convolution make of them; and "Upsampling explained": the bilinear
kernel as numbers and as a picture, nearest vs bilinear on a small image, and the trained network's own upsampling
kernel next to its bilinear start. The model lives in `core.models.fcn`; this module only draws and wires.

Endpoints: ``/segment`` (image, model) -> (overlay, class map PNG of the input's size, JSON of class fractions);
``/segment_scene`` (seed, background, model) -> the same plus the error map and IoUs against the true mask;
``/segmentation_bilinear_kernel`` (scale) and ``/segmentation_learned_kernel`` (model) for the numbers.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import gradio as gr
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from torchvision.utils import draw_segmentation_masks

from core.models.fcn import NAME as FCN_NAME
from core.models.fcn import SEGMENTATION_CLASS_NAMES, bilinear_kernel, predict
from core.weights.registry import load_model, load_spec
from core.data.images import SAMPLE_IMAGES
from core.evaluation.metrics import segmentation_iou
from core.data.scenes import CLASS_COLORS, SPLITS, make_scene
from demos import drawing, inputs
from demos.common import LATEX, book_link, column_widths, header, image_upload, on_gpu, read_image
from demos.inputs import user_errors
from demos.dataset import legend_html
from demos.router import Handoff, TabUI
from demos.transposed_conv import TransposedConvView
from demos.view import View, param

TITLE = "Segmentation"

MODELS: tuple[str, ...] = (FCN_NAME,)
"""Values of the `model` input of the endpoints."""

SOURCES: tuple[str, ...] = ("scene", "scene_on_photo", "sample", "upload")
SCENE, SCENE_ON_PHOTO, SAMPLE, UPLOAD = SOURCES
SOURCE_LABELS = {SCENE: "generated scene", SCENE_ON_PHOTO: "scene on your photo", SAMPLE: "bundled sample",
                 UPLOAD: "your upload"}
"""What the input dropdown shows for each source (the links write the short names)."""

DEFAULT_SEED = SPLITS["test"][6]
"""A held-out test scene (the network never saw it) with several classes."""

DEFAULT_OPACITY = 0.55
DEFAULT_SAMPLE = "chelsea (cat)"
ALL_CLASSES = "all classes (argmax)"

WORK_SHORT_SIDE = 256
"""The network runs on the image resized so that its shorter side is this long: the scale it was trained at
(scenes are 256 x 256, and `make_scene` on a photo scales the objects by min(H, W) / 256)."""

MAX_WORK_LONG_SIDE = 768
"""...unless the longer side would exceed this (panoramas), to bound the latency."""

MAX_INPUT_SIDE = 2048
"""Uploads are downscaled (with a notice) to this longer side before anything else; the class map PNG has the
size of the image after this step (the input's own size for anything smaller)."""

MAX_BACKGROUND_SIDE = 1024
"""A photo used as a scene background is downscaled to this longer side (as in the Detection dataset tab)."""

BACKGROUND_RGB = (40, 40, 40)
CLASS_RGB = np.array([BACKGROUND_RGB] + [tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in CLASS_COLORS], np.uint8)
"""(6, 3) display colour of class index 0..5 (0 = background)."""

ERROR_COLOURS = {"wrong class": (255, 0, 255), "missed (predicted background)": (255, 215, 0),
                 "false alarm (truly background)": (0, 220, 255)}
VIEW_SIDE = 256
"""Display side of the small views (coarse scores, kernels)."""

SCALES = (2, 4, 8, 16, 32)

COARSE_STRIDE = 32
"""Stride of the deepest feature map (the coarse scores)."""

def _model():
    """The trained FCN (`core.weights.registry`: loaded once, shared) and its weights' spec."""
    return load_model("fcn", "cuda" if torch.cuda.is_available() else "cpu"), load_spec("fcn")

EXPLANATION = r"""
**FCN**: CNN body ($\div32$) → $1\times1$ conv to $K=6$ class scores → **transposed convolution** (kernel $2s$, stride
$s$, padding $s/2$: side $n \to (n-1)s-s+2s = ns$) that starts as **bilinear interpolation**
$K_{ij}=\bigl(1-\frac{|i-c|}{f}\bigr)\bigl(1-\frac{|j-c|}{f}\bigr)$, $f=\lceil k/2\rceil$, $c=f-\frac12$;
skips add finer stages' scores. Quality: $\mathrm{IoU}_c=\frac{|P_c\cap T_c|}{|P_c\cup T_c|}$, mIoU = mean over classes.
"""

DETAILS = r"""
A CNN body reduces the image $32\times$ to features $h\times w$; a $1\times1$ convolution turns each feature vector into
$K=6$ class scores (background + 5 shapes); a transposed convolution upsamples the scores. The book uses one
($s=32$: kernel 64, stride 32, padding 16). Ours adds FCN skips: scores at strides 32 → 16 → 8 → 4 → 2, each step a
$\times2$ transposed convolution (kernel 4, stride 2, padding 1, bilinear at the start) plus the $1\times1$ scores of the
earlier, finer stage (zero at the start), and a last $\times2$ back to the image. The body is timm's `resnet10t` with
narrower stages, trained here from scratch on 6,000 generated scenes (the model card in `weights/fcn.json` has the
recipe and the test numbers). A photo is resized so that its shorter side is 256 pixels (the scale of the training
scenes); the class map comes back at the photo's own size.
"""

LINKS = " · ".join(
    [
        book_link("fcn.html", "14.11 Fully Convolutional Networks"),
        book_link("semantic-segmentation-and-dataset.html", "14.9 Semantic Segmentation"),
        book_link("transposed-conv.html", "14.10 Transposed Convolution"),
    ]
)


# --- running the model -----------------------------------------------------------------------------------


def _check_model(model: Any) -> None:
    if model not in MODELS:
        raise gr.Error(f"Unknown model {model!r}; choose one of {list(MODELS)}.")


def working_size(height: int, width: int) -> tuple[int, int]:
    """(h, w) the network runs at: shorter side `WORK_SHORT_SIDE`, longer side at most `MAX_WORK_LONG_SIDE`."""
    scale = min(WORK_SHORT_SIDE / min(height, width), MAX_WORK_LONG_SIDE / max(height, width))
    return max(32, round(height * scale)), max(32, round(width * scale))


def run_model(image: np.ndarray, details: bool = True) -> dict[str, Any]:
    """Segment an (H, W, 3) uint8 image: `core.models.fcn.predict` at the working size, class map back at (H, W).

    Returns predict's arrays (at the working size; only the class map without `details`) plus
    ``class_map_full`` (H, W) uint8, ``work`` the resized
    image, ``ms`` the inference time and ``spec`` the weights' spec.
    """
    model, spec = _model()
    height, width = image.shape[:2]
    h, w = working_size(height, width)
    work = image if (h, w) == (height, width) else np.asarray(Image.fromarray(image).resize((w, h), Image.BILINEAR))
    started = time.perf_counter()
    out = predict(model, work, spec.mean, spec.std, details=details)
    out["ms"] = (time.perf_counter() - started) * 1000
    class_map = out["class_map"]
    if (h, w) != (height, width):
        class_map = np.asarray(Image.fromarray(class_map).resize((width, height), Image.NEAREST))
    out["class_map_full"] = class_map
    out["work"] = work
    out["fused_stride"] = model.final_stride
    out["spec"] = spec
    return out


def class_fractions(class_map: np.ndarray) -> dict[str, float]:
    """Share of the pixels in each class (background included), by name."""
    counts = np.bincount(class_map.reshape(-1), minlength=len(SEGMENTATION_CLASS_NAMES))
    return {name: round(float(c) / class_map.size, 6) for name, c in zip(SEGMENTATION_CLASS_NAMES, counts)}


# --- drawing (numpy / PIL) -------------------------------------------------------------------------------


def overlay(image: np.ndarray, class_map: np.ndarray, opacity: float = DEFAULT_OPACITY) -> np.ndarray:
    """The class map over the image with torchvision's ``draw_segmentation_masks``, (H, W, 3) uint8."""
    classes = torch.arange(1, len(CLASS_COLORS) + 1)[:, None, None]  # (5, 1, 1): mask values of the objects
    masks = torch.from_numpy(np.array(class_map, np.uint8))[None] == classes  # (5, H, W) bool
    drawn = draw_segmentation_masks(torch.tensor(image).permute(2, 0, 1), masks, alpha=float(opacity),
                                    colors=list(CLASS_COLORS))
    return drawn.permute(1, 2, 0).numpy()


def colour_classes(class_map: np.ndarray) -> np.ndarray:
    """(h, w) class indices -> (h, w, 3) uint8 in the class colours (background dark grey)."""
    return CLASS_RGB[class_map]


def enlarge(image: np.ndarray, side: int = VIEW_SIDE, grid: bool = False) -> np.ndarray:
    """Nearest-neighbour enlargement so the longer side is about `side` (every cell stays a visible square);
    `grid` draws thin lines between the cells."""
    h, w = image.shape[:2]
    factor = max(1, side // max(h, w))
    big = np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)
    if grid and factor >= 4:
        big = big.copy()
        big[::factor] = big[::factor] // 2 + 100
        big[:, ::factor] = big[:, ::factor] // 2 + 100
    return big


def cells(image: np.ndarray, stride: int, size: tuple[int, int], grid: bool = False) -> np.ndarray:
    """A stride-`stride` map (h, w, 3) drawn at image scale: each cell s x s pixels, cropped to `size` (H, W);
    `grid` draws a line between the cells."""
    big = np.repeat(np.repeat(image, stride, axis=0), stride, axis=1)[: size[0], : size[1]].copy()
    if grid:
        big[::stride] = big[::stride] // 2 + 100
        big[:, ::stride] = big[:, ::stride] // 2 + 100
    return big


_VIRIDIS = np.array([(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)], np.float32)


def heatmap(values: np.ndarray, vmin: float | None = None, vmax: float | None = None) -> np.ndarray:
    """(h, w) floats -> (h, w, 3) uint8 through a viridis-like colour ramp (no matplotlib)."""
    values = np.asarray(values, np.float32)
    lo = float(values.min()) if vmin is None else vmin
    hi = float(values.max()) if vmax is None else vmax
    t = np.clip((values - lo) / (hi - lo if hi > lo else 1.0), 0, 1) * (len(_VIRIDIS) - 1)
    i = np.minimum(t.astype(np.int64), len(_VIRIDIS) - 2)
    frac = (t - i)[..., None]
    return (_VIRIDIS[i] * (1 - frac) + _VIRIDIS[i + 1] * frac + 0.5).astype(np.uint8)


def diverging(values: np.ndarray, limit: float | None = None) -> np.ndarray:
    """(h, w) signed floats -> (h, w, 3) uint8: blue (negative), white (0), red (positive), symmetric scale."""
    values = np.asarray(values, np.float32)
    limit = float(np.abs(values).max()) if limit is None else limit
    t = np.clip(values / (limit if limit > 0 else 1.0), -1, 1)[..., None]
    white = np.array([255, 255, 255], np.float32)
    red, blue = np.array([200, 30, 30], np.float32), np.array([30, 60, 200], np.float32)
    out = np.where(t >= 0, white + (red - white) * t, white + (blue - white) * -t)
    return (out + 0.5).astype(np.uint8)


def number_grid(values: np.ndarray, cell: int = 44, digits: int = 3) -> np.ndarray:
    """A matrix as a heatmap with its numbers written in the cells, (h * cell, w * cell, 3) uint8."""
    colours = enlarge(heatmap(values, 0.0, max(float(values.max()), 1e-6)), side=cell * max(values.shape))
    image = Image.fromarray(colours)
    draw = ImageDraw.Draw(image)
    font = drawing.font(max(9, cell // 4))
    for (r, c), v in np.ndenumerate(values):
        text = f"{v:.{digits}f}".rstrip("0").rstrip(".") if v else "0"
        fill = (0, 0, 0) if v > 0.6 * values.max() else (255, 255, 255)
        draw.text((c * cell + cell / 2, r * cell + cell / 2), text, fill=fill, font=font, anchor="mm")
    return np.asarray(image)


def captioned(tiles: Sequence[np.ndarray], captions: Sequence[str], gap: int = 8, caption_px: int = 22) -> np.ndarray:
    """Tiles of one height side by side with a caption under each, on white, (H, W, 3) uint8."""
    height = max(t.shape[0] for t in tiles)
    width = sum(t.shape[1] for t in tiles) + gap * (len(tiles) + 1)
    canvas = Image.new("RGB", (width, height + caption_px + gap), "white")
    draw = ImageDraw.Draw(canvas)
    font = drawing.font(15)
    x = gap
    for tile, caption in zip(tiles, captions):
        canvas.paste(Image.fromarray(tile), (x, 0))
        draw.text((x + tile.shape[1] / 2, height + 4), caption, fill=(20, 20, 20), font=font, anchor="ma")
        x += tile.shape[1] + gap
    return np.asarray(canvas)


def error_map(image: np.ndarray, pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Correct pixels as the dimmed grey image, errors in `ERROR_COLOURS`, (H, W, 3) uint8."""
    grey = image.astype(np.float32).mean(axis=2, keepdims=True) * 0.45 + 20
    out = np.repeat(grey, 3, axis=2).astype(np.uint8)
    wrong = pred != truth
    kinds = (wrong & (pred > 0) & (truth > 0), wrong & (pred == 0), wrong & (truth == 0))
    for mask, colour in zip(kinds, ERROR_COLOURS.values()):
        out[mask] = colour
    return out


def error_legend() -> str:
    items = "".join(
        f'<span style="display:inline-flex;align-items:center;margin-right:14px">'
        f'<span style="width:14px;height:14px;background:rgb{colour};display:inline-block;margin-right:5px"></span>'
        f"{name}</span>"
        for name, colour in ERROR_COLOURS.items()
    )
    return f'<div style="font-size:0.95em">error map: grey = correct · {items}</div>'


# --- endpoints -------------------------------------------------------------------------------------------


def _png_path(class_map: np.ndarray) -> str:
    """The class map as a lossless 8-bit PNG file (pixel = class index, 0 = background).

    Written inside Gradio's cache folder: Gradio then serves it in place and `delete_cache` removes it with the
    other outputs, where a file anywhere else is copied into the cache and the original left behind, one per
    request.
    """
    folder = Path(gr.utils.get_upload_folder()) / "class_maps"
    folder.mkdir(parents=True, exist_ok=True)
    handle, path = tempfile.mkstemp(suffix=".png", prefix="classmap_", dir=folder)
    os.close(handle)
    Image.fromarray(np.ascontiguousarray(class_map, np.uint8), mode="L").save(path, format="PNG", compress_level=1)
    return path


def _summary(out: dict[str, Any], image: np.ndarray, model: str) -> dict[str, Any]:
    class_map = out["class_map_full"]
    return {
        "model": model,
        "size": [int(image.shape[0]), int(image.shape[1])],
        "working_size": [int(out["work"].shape[0]), int(out["work"].shape[1])],
        "coarse_size": [-(-int(out["work"].shape[0]) // COARSE_STRIDE), -(-int(out["work"].shape[1]) // COARSE_STRIDE)],
        "class_fractions": class_fractions(class_map),
        "classes_present": [SEGMENTATION_CLASS_NAMES[k] for k in np.unique(class_map).tolist() if k > 0],
        "inference_ms": round(out["ms"], 1),
    }


@on_gpu
def segment(image: Any, model: str = FCN_NAME, opacity: float = DEFAULT_OPACITY):
    """`/segment`: (image, model) -> (overlay (H, W, 3) uint8, class map PNG path, JSON).

    The class map PNG has the image's size; pixel = class index (0 = background, k + 1 = `CLASS_NAMES[k]`),
    the encoding of `make_scene`'s mask. JSON: class pixel fractions, sizes, inference time.
    """
    _check_model(model)
    array = read_image(image, max_side=MAX_INPUT_SIDE)
    with user_errors():
        out = run_model(array, details=False)
    return overlay(array, out["class_map_full"], opacity), _png_path(out["class_map_full"]), _summary(out, array, model)


def _scene(seed: Any, background: Any):
    value = inputs.seed(seed)
    photo = read_image(background, max_side=MAX_BACKGROUND_SIDE) if background else None
    with user_errors():
        return make_scene(value, background=photo)


def _with_truth(summary: dict[str, Any], pred: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    iou = segmentation_iou(pred, truth, len(SEGMENTATION_CLASS_NAMES), SEGMENTATION_CLASS_NAMES)
    return {
        **summary,
        "miou": iou["miou"],
        "per_class_iou": iou["per_class"],
        "pixel_accuracy": iou["pixel_accuracy"],
        "true_class_fractions": class_fractions(truth),
    }


@on_gpu
def segment_scene(seed: Any, background: Any = None, model: str = FCN_NAME, opacity: float = DEFAULT_OPACITY):
    """`/segment_scene`: (seed, background photo or None, model) -> (overlay, class map PNG, error map, JSON).

    The scene is ``make_scene(seed, background=photo)``, so the truth is known: the JSON adds ``miou``,
    ``per_class_iou`` (None for a class absent from both maps) and ``pixel_accuracy``.
    """
    _check_model(model)
    scene = _scene(seed, background)
    with user_errors():
        out = run_model(scene.image, details=False)
    pred = out["class_map_full"]
    summary = _with_truth(_summary(out, scene.image, model), pred, scene.mask)
    summary["seed"] = scene.seed
    return overlay(scene.image, pred, opacity), _png_path(pred), error_map(scene.image, pred, scene.mask), summary


def coarse_views(out: dict[str, Any], score_class: str = ALL_CLASSES) -> tuple[np.ndarray, ...]:
    """Four pictures of what the upsampling adds, at the working size:

    1. the coarse scores of the deepest stage (stride 32), one cell per feature-map position;
    2. those scores upsampled x32 by the bilinear transposed convolution alone (the book's FCN-32s at its start);
    3. the scores after the skips (at the finest skip's stride, 2 for the trained model);
    4. the network's output after its last (learned) transposed convolution.
    Argmax class colours, or the softmax probability of `score_class` as a heatmap.
    """
    h, w = out["work"].shape[:2]
    coarse = torch.from_numpy(out["coarse"])[None]  # (1, K, h/32, w/32)
    kernel = bilinear_kernel(coarse.shape[1], coarse.shape[1], 64)
    bilinear32 = F.conv_transpose2d(coarse, kernel, stride=32, padding=16)[0, :, :h, :w]  # (K, h', w')
    fused = torch.from_numpy(out["fused"])
    probs = torch.from_numpy(out["probs"])
    maps = [coarse[0], bilinear32, fused, None]
    if score_class == ALL_CLASSES or score_class not in SEGMENTATION_CLASS_NAMES:
        pictures = [colour_classes(m.argmax(0).numpy().astype(np.uint8)) for m in maps[:3]]
        pictures.append(colour_classes(out["class_map"]))
    else:
        k = SEGMENTATION_CLASS_NAMES.index(score_class)
        pictures = [heatmap(m.softmax(0)[k].numpy(), 0.0, 1.0) for m in maps[:3]]
        pictures.append(heatmap(probs[k].numpy(), 0.0, 1.0))
    # Each cell of a stride-s map covers s x s image pixels: drawn at exactly that size, aligned with the image.
    return (
        cells(pictures[0], COARSE_STRIDE, (h, w), grid=True),
        pictures[1],
        cells(pictures[2], out["fused_stride"], (h, w)),
        pictures[3],
    )


# --- upsampling explained --------------------------------------------------------------------------------


def _small_image(side: int = 12) -> np.ndarray:
    """A tiny crop of the bundled cat (its eye), (side, side, 3) uint8: big pixels make upsampling visible."""
    from core.data.images import sample_image

    cat = sample_image("chelsea (cat)")
    crop = cat[80:200, 120:240]  # (120, 120, 3) around the eye
    return np.asarray(Image.fromarray(crop).resize((side, side), Image.BOX))


def bilinear_upsample(image: np.ndarray, scale: int) -> np.ndarray:
    """(h, w, 3) uint8 upsampled by the bilinear-kernel transposed convolution (kernel 2s, stride s, padding s/2)."""
    x = torch.tensor(image).permute(2, 0, 1)[None].float()  # (1, 3, h, w)
    y = F.conv_transpose2d(x, bilinear_kernel(3, 3, 2 * scale), stride=scale, padding=scale // 2)
    return y[0].permute(1, 2, 0).clamp(0, 255).round().to(torch.uint8).numpy()


def bilinear_kernel_view(scale: Any = 4):
    """`/segmentation_bilinear_kernel`: scale s -> (kernel picture, kernel table, nearest-vs-bilinear strip, JSON).

    JSON: the 2s x 2s kernel, the transposed-convolution parameters, and the largest difference between the
    kernel's upsampling and ``F.interpolate(mode="bilinear", align_corners=False)`` away from the border.
    """
    try:
        s = int(scale)
    except (TypeError, ValueError):
        raise gr.Error(f"Scale must be one of {list(SCALES)}, got {scale!r}.") from None
    if s not in SCALES:
        raise gr.Error(f"Scale must be one of {list(SCALES)}, got {scale!r}.")
    k = 2 * s
    kernel = bilinear_kernel(1, 1, k)[0, 0].numpy()
    small = _small_image()
    bilinear = bilinear_upsample(small, s)
    nearest = np.repeat(np.repeat(small, s, axis=0), s, axis=1)
    reference = F.interpolate(torch.tensor(small).permute(2, 0, 1)[None].float(), scale_factor=s, mode="bilinear",
                              align_corners=False)[0].permute(1, 2, 0).numpy()
    mine = F.conv_transpose2d(torch.tensor(small).permute(2, 0, 1)[None].float(), bilinear_kernel(3, 3, k),
                              stride=s, padding=s // 2)[0].permute(1, 2, 0).numpy()
    interior = slice(s, -s)
    difference = float(np.abs(mine - reference)[interior, interior].max())
    side = 240
    strip = captioned(
        [enlarge(small, side), enlarge(nearest, side), enlarge(bilinear, side)],
        [f"input {small.shape[0]}x{small.shape[1]}", f"nearest x{s}", f"bilinear x{s} (zero-padded rim)"],
    )
    cell = max(14, min(48, 360 // k))
    picture = number_grid(kernel, cell=cell) if cell >= 30 else enlarge(heatmap(kernel, 0.0, float(kernel.max())), 360)
    table = pd.DataFrame(np.round(kernel.astype(np.float64), 4), columns=[str(j) for j in range(k)])
    info = {
        "scale": s,
        "kernel_size": k,
        "stride": s,
        "padding": s // 2,
        "factor_f": (k + 1) // 2,
        "center_c": ((k + 1) // 2) - 0.5,
        "kernel": np.round(kernel, 6).tolist(),
        "max_interior_difference_vs_F_interpolate": difference,
        "pytorch": f"nn.ConvTranspose2d(C, C, kernel_size={k}, stride={s}, padding={s // 2}, bias=False)",
    }
    return picture, table, strip, info


def learned_kernel(model: str = FCN_NAME):
    """`/segmentation_learned_kernel`: model -> (picture, JSON): the last transposed convolution after training
    (the class-to-same-class kernels, one per class) next to its bilinear start, with how far it moved."""
    _check_model(model)
    net, spec = _model()
    weight = net.upsample.weight.detach().float().cpu()  # (K, K, k, k)
    classes, _, k, _ = weight.shape
    start = bilinear_kernel(classes, classes, k)
    diagonal = weight[range(classes), range(classes)].numpy()  # (K, k, k)
    off = weight.clone()
    off[range(classes), range(classes)] = 0
    vmax = float(max(diagonal.max(), start.max()))
    tile = 150
    tiles = [enlarge(heatmap(start[0, 0].numpy(), 0.0, vmax), tile)]
    tiles += [enlarge(heatmap(d, 0.0, vmax), tile) for d in diagonal]
    captions = ["bilinear start"] + [f"learned: {name}" for name in SEGMENTATION_CLASS_NAMES]  # ~140 px at 15 px
    change = diagonal - start[0, 0].numpy()[None]  # (K, k, k)
    limit = float(np.abs(change).max())
    diff_tiles = [np.full_like(tiles[0], 255)] + [enlarge(diverging(c, limit), tile) for c in change]
    diff_captions = [f"change, max {limit:.3f}"] + list(SEGMENTATION_CLASS_NAMES)
    picture = np.concatenate([captioned(tiles, captions), captioned(diff_tiles, diff_captions)], axis=0)
    info = {
        "layer": f"upsample: ConvTranspose2d({classes}, {classes}, kernel_size={k}, stride={net.final_stride}, "
                 f"padding={net.final_stride // 2})",
        "bilinear_start": np.round(start[0, 0].numpy(), 4).tolist(),
        "learned_diagonal": {name: np.round(d, 4).tolist() for name, d in zip(SEGMENTATION_CLASS_NAMES, diagonal)},
        "max_abs_change_diagonal": float(np.abs(diagonal - start[0, 0].numpy()[None]).max()),
        "off_diagonal_abs_sum": float(off.abs().sum()),
        "diagonal_abs_sum": float(np.abs(diagonal).sum()),
        "weights": spec.filename,
    }
    return picture, info


# --- the tab's main action -------------------------------------------------------------------------------


def _iou_table(summary: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for name in SEGMENTATION_CLASS_NAMES:
        iou = summary.get("per_class_iou", {}).get(name)
        true = summary.get("true_class_fractions", {}).get(name)
        rows.append({
            "class": name,
            "IoU": "—" if iou is None else f"{iou:.3f}",
            "predicted %": f"{100 * summary['class_fractions'][name]:.1f}",
            "true %": "—" if true is None else f"{100 * true:.1f}",
        })
    if "miou" in summary:
        rows.append({"class": "mean (mIoU)", "IoU": f"{summary['miou']:.3f}", "predicted %": "", "true %": ""})
    return pd.DataFrame(rows)


@on_gpu
def analyse(source: str, seed: Any, upload: Any, sample: str, opacity: float, score_class: str):
    """The tab's main action: every picture and number for one input."""
    if not 0.0 <= float(opacity) <= 1.0:
        raise gr.Error(f"Opacity must be between 0 and 1, got {opacity}.")
    truth = None
    if source == SCENE:
        scene = _scene(seed, None)
        image, truth = scene.image, scene.mask
    elif source == SCENE_ON_PHOTO:
        if not upload:
            raise gr.Error("Upload a photo first: the scene's objects are pasted onto it.")
        scene = _scene(seed, upload)
        image, truth = scene.image, scene.mask
    elif source == SAMPLE:
        if sample not in SAMPLE_IMAGES:
            raise gr.Error(f"Unknown sample {sample!r}; choose one of {list(SAMPLE_IMAGES)}.")
        image = read_image(None, sample=sample, max_side=MAX_INPUT_SIDE)
    elif source == UPLOAD:
        if not upload:
            raise gr.Error("Upload an image (or choose another input).")
        image = read_image(upload, max_side=MAX_INPUT_SIDE)
    else:
        raise gr.Error(f"Unknown input {source!r}; choose one of {list(SOURCES)}.")
    with user_errors():
        out = run_model(image)
    pred = out["class_map_full"]
    summary = _summary(out, image, FCN_NAME)
    if truth is not None:
        summary = _with_truth(summary, pred, truth)
        errors = error_map(image, pred, truth)
        truth_view = overlay(image, truth, opacity)
    else:
        errors = truth_view = None
    views = coarse_views(out, score_class)
    return (overlay(image, pred, opacity), truth_view, errors, _iou_table(summary), summary, *views)


# --- UI --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentationView(View):
    """The tab's state: the input, how it is drawn, the upsampling scale explained, and the sub-tab shown."""

    PARTS: ClassVar[tuple[str, ...]] = ("result", "coarse", "upsampling", "learned")

    source: str = param(SCENE, choices=SOURCES, label="input")
    seed: int = param(DEFAULT_SEED, low=0, high=2**31 - 1, label="scene seed")
    sample: str = param(DEFAULT_SAMPLE, choices=tuple(SAMPLE_IMAGES), label="bundled sample")
    opacity: float = param(DEFAULT_OPACITY, low=0.0, high=1.0, label="overlay opacity")
    score_class: str = param(ALL_CLASSES, choices=(ALL_CLASSES, *SEGMENTATION_CLASS_NAMES), label="coarse scores shown")
    scale: str = param("4", choices=tuple(str(s) for s in SCALES[:3]), label="upsampling scale")


def show(view: SegmentationView) -> tuple:
    """Every picture and number of the tab for one view (an upload is not part of a view)."""
    main = analyse(view.source, view.seed, None, view.sample, view.opacity, view.score_class)
    return (*main, *bilinear_kernel_view(int(view.scale)), *learned_kernel(FCN_NAME))


def _picture(label: str | None, elem_id: str, height: int, **options: Any) -> gr.Image:
    return gr.Image(type="numpy", format="png", label=label, show_label=label is not None, interactive=False,
                    height=height, elem_id=elem_id, **options)


def _build_result() -> list:
    with gr.Row():
        result = _picture("prediction (overlay)", "seg-overlay", 300, buttons=["download", "fullscreen"])
        truth = _picture("ground truth", "seg-truth", 300)
        errors = _picture("error map", "seg-errors", 300)
    gr.HTML(legend_html() + error_legend())
    with gr.Row(equal_height=False):
        table = gr.Dataframe(label="per-class IoU and pixel shares", interactive=False, elem_id="seg-iou",
                             max_height=260, scale=3, column_widths=column_widths(11, 5, 11, 6))
        with gr.Column(min_width=220):  # on a phone: under the table, not squeezed beside it
            with gr.Accordion("numbers (JSON)", open=False):
                summary = gr.JSON(show_label=False, elem_id="seg-json", max_height=260)
    return [result, truth, errors, table, summary]


def _build_coarse(view: SegmentationView) -> tuple[gr.Dropdown, list]:
    with gr.Row(equal_height=False):
        with gr.Column(min_width=300):  # on a phone: above the picker, not squeezed beside it
            gr.Markdown(
                "The deepest feature map is 32× smaller than the image: its $1\\times1$ class scores (left, one cell "
                "per position) know *what* is there but not the outline. Bilinear upsampling alone (the book's FCN "
                "before training) only blurs the cells; the skips from earlier, finer stages and the learned "
                "transposed convolutions recover the shapes.", latex_delimiters=LATEX)
        score_class = gr.Dropdown([ALL_CLASSES, *SEGMENTATION_CLASS_NAMES], value=view.score_class,
                                  label="show (argmax colours or one class's probability)",
                                  elem_id="seg-score-class", scale=0, min_width=300)
    with gr.Row():
        pictures = [_picture("coarse, stride 32", "seg-coarse-map", 290, buttons=["fullscreen"]),
                    _picture("x32 bilinear only", "seg-coarse-bilinear", 290, buttons=["fullscreen"]),
                    _picture("+ skips (finer)", "seg-fused", 290, buttons=["fullscreen"]),
                    _picture("output", "seg-final", 290, buttons=["fullscreen"])]
    return score_class, pictures


def _build_upsampling(view: SegmentationView) -> tuple[gr.Radio, list]:
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            scale = gr.Radio([str(s) for s in SCALES[:3]], value=view.scale, label="scale s (kernel 2s × 2s)",
                             elem_id="seg-scale")
            kernel_picture = _picture("bilinear kernel", "seg-kernel", 300)
        with gr.Column(scale=5, min_width=500):
            strip = _picture("nearest neighbour vs the bilinear kernel", "seg-strip", 200)
            kernel_table = gr.Dataframe(label="the kernel's numbers", interactive=False, max_height=190,
                                        elem_id="seg-kernel-table",
                                        column_widths=column_widths(*[6] * 2 * SCALES[2]))
    with gr.Accordion("the kernel as the transposed_conv endpoint sees it (JSON)", open=False):
        kernel_json = gr.JSON(show_label=False, max_height=250)
    return scale, [kernel_picture, kernel_table, strip, kernel_json]


def _build_learned() -> tuple[list, gr.Button]:
    gr.Markdown("The last transposed convolution of our FCN (see the JSON for its kernel, stride and padding) started "
                "as the bilinear kernel for every class; after training, each class's kernel (top) and how far it "
                "moved (bottom: red = larger, blue = smaller than bilinear):", latex_delimiters=LATEX)
    learned = _picture(None, "seg-learned-kernels", 300)
    with gr.Accordion("numbers (JSON)", open=False):
        learned_json = gr.JSON(show_label=False, max_height=250)
    gr.Markdown("Step through how a transposed convolution scatters each input value times the kernel:")
    to_tc = gr.Button("open the Transposed convolution tab at the FCN's ×2 layer ↗", size="sm", elem_id="seg-to-tc")
    return [learned, learned_json], to_tc


def _api_endpoints(seed: gr.Number) -> None:
    """`/segment`, `/segment_scene` and `/segmentation_learned_kernel`: hidden inputs with a fixed signature."""
    api_image = image_upload(visible=False)
    api_model = gr.Dropdown(list(MODELS), value=FCN_NAME, visible=False)
    api_overlay = gr.Image(type="numpy", format="jpeg", visible=False)  # JPEG: 30x faster to encode than PNG
    api_png = gr.Image(type="filepath", format="png", image_mode="L", visible=False)
    api_json = gr.JSON(visible=False)
    api_errors = gr.Image(type="numpy", format="png", visible=False)
    gr.Button(visible=False).click(segment, inputs=[api_image, api_model], outputs=[api_overlay, api_png, api_json],
                                   api_name="segment")
    gr.Button(visible=False).click(segment_scene, inputs=[seed, api_image, api_model],
                                   outputs=[api_overlay, api_png, api_errors, api_json], api_name="segment_scene")
    api_learned = [gr.Image(type="numpy", format="png", visible=False), gr.JSON(visible=False)]
    gr.Button(visible=False).click(learned_kernel, inputs=gr.Dropdown(list(MODELS), value=FCN_NAME, visible=False),
                                   outputs=api_learned, api_name="segmentation_learned_kernel")


def _fcn_upsampling_layer() -> TransposedConvView:
    """One FCN skip step before training: the x2 transposed convolution (kernel 4, stride 2, padding 1) with its
    bilinear start (`core.models.fcn.bilinear_kernel` for k = 4), on a small input."""
    row = bilinear_kernel(1, 1, 4)[0, 0].numpy()  # (4, 4): the outer product of (1, 3, 3, 1) / 4 with itself
    kernel = "\n".join(" ".join(f"{v:g}" for v in line) for line in row)
    return TransposedConvView(X="1 2 3\n4 5 6\n7 8 9", K=kernel, stride=2, padding=1)


def build() -> TabUI:
    header("Segmentation: a fully convolutional network (FCN)", EXPLANATION, LINKS)
    view = SegmentationView()
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=260):
            source = gr.Dropdown([(SOURCE_LABELS[s], s) for s in SOURCES], value=view.source, label="input",
                                 elem_id="seg-source")
            seed = gr.Number(value=view.seed, precision=0, minimum=0,
                             label="scene seed (test split: 2000000–2000499)", elem_id="seg-seed")
            sample = gr.Dropdown(list(SAMPLE_IMAGES), value=view.sample, label="bundled sample", elem_id="seg-sample")
            # 190 px: a lower box writes "Drop Image Here or Click to Upload" on one line, wider than the column
            upload = image_upload(height=190, sources=["upload", "clipboard"], label="your photo / image",
                                  elem_id="seg-upload")
            opacity = gr.Slider(0.0, 1.0, value=view.opacity, step=0.05, label="overlay opacity",
                                elem_id="seg-opacity")
            run = gr.Button("Segment", variant="primary", elem_id="seg-run")
        with gr.Column(scale=7, min_width=600):
            with gr.Tabs() as parts:
                with gr.Tab("result", id="result"):
                    main_outputs = _build_result()
                with gr.Tab("coarse scores → upsampled", id="coarse"):
                    score_class, coarse_outputs = _build_coarse(view)
                with gr.Tab("upsampling explained", id="upsampling"):
                    scale, kernel_outputs = _build_upsampling(view)
                with gr.Tab("learned upsampling", id="learned"):
                    learned_outputs, to_tc = _build_learned()
    with gr.Accordion("how the pieces fit", open=False):
        gr.Markdown(DETAILS, latex_delimiters=LATEX)
    _api_endpoints(seed)

    main_inputs = [source, seed, upload, sample, opacity, score_class]
    main = dict(fn=analyse, inputs=main_inputs, outputs=[*main_outputs, *coarse_outputs], show_progress="minimal")
    run.click(api_name="segmentation_ui", api_visibility="private", **main)
    gr.on([seed.submit, source.input, sample.input, upload.change, opacity.release, score_class.input],
          api_name="segmentation_change_ui", api_visibility="private", trigger_mode="always_last", **main)
    scale.input(bilinear_kernel_view, inputs=scale, outputs=kernel_outputs, api_name="segmentation_bilinear_kernel")
    return TabUI(SegmentationView, controls=[source, seed, sample, opacity, score_class, scale],
                 outputs=[*main_outputs, *coarse_outputs, *kernel_outputs, *learned_outputs], show=show,
                 uploads=[upload], parts=parts,
                 handoffs=[Handoff(to_tc, TransposedConvView.TAB, _fcn_upsampling_layer)])
