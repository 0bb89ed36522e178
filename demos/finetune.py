"""The Fine-tuning tab: the four steps of transfer learning drawn on the actual model, and a live race between
the fine-tuned model and the same architecture trained from scratch (same data, epochs, seed).

Source: a small timm ResNet pre-trained here on printed letters (weights/finetune_source.*). Target:
scikit-learn's handwritten digits with a few labelled images per class. See `core.models.finetune`.

API: `finetune(examples_per_class, epochs, lr, output_lr_mult, freeze_body, seed)`, every input optional;
it streams one update per epoch and ends with the JSON
``{"fine_tuned": {"test_accuracy": [...], "loss": [...], "test_loss": [...]}, "scratch": {...}, ...}``.
"""

from __future__ import annotations

import contextlib
import html
import threading
from dataclasses import asdict
import math
from functools import lru_cache
from typing import Any, Iterator

import gradio as gr
import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from core.models import finetune as ft
from demos.common import book_link, header, parse_seed, to_jsonable, torch_threads, user_errors

TITLE = "Fine-tuning"

DEFAULTS = ft.FinetuneConfig()

CONCURRENT_RUNS = 2
"""At most this many trainings at once in the whole app (others wait in the queue); each run is bounded by
`core.models.finetune.MAX_EPOCHS` x `MAX_EXAMPLES_PER_CLASS` and yields after every epoch, so Stop acts quickly."""

TRAIN_THREADS = 1
"""Torch threads of one training (set around each epoch, then restored): under a classroom's load one core per
run leaves the other core to everybody else, and OpenMP threads fighting for busy cores are far slower
(the default run: ~13 s on one thread, 158 s on two threads of a fully loaded 2-core machine)."""

MIN_EPOCH_AXIS = 10
"""The epoch axis spans at least 1..10 (whole-number ticks; short runs leave room on the right)."""

COPIED = "#2563eb"  # blue: layers copied from the source model
NEW = "#ea580c"  # orange: the new, randomly initialised output layer
FROZEN = "#94a3b8"  # grey: layers that do not train
SCRATCH = "#6b7280"  # the scratch model's curves
RIGHT, WRONG = (22, 163, 74), (220, 38, 38)
MODEL_NAMES = {"fine_tuned": "fine-tuned", "scratch": "from scratch"}
COLOR_MAP = {"fine-tuned": COPIED, "from scratch": SCRATCH}

EXPLANATION = r"""
**Transfer learning in four steps** (the book fine-tunes an ImageNet ResNet-18 on hot dogs; here a small timm
ResNet pre-trained *in this lab* on **printed letters** is fine-tuned on **handwritten digits**):
① pre-train a source model on a big source dataset, ② copy all its layers except the output layer,
③ add a new output layer for the target classes, initialised at random, ④ train on the small target dataset,
the new layer with a larger learning rate:
$\theta_{\text{body}} \leftarrow \theta^{\text{source}}_{\text{body}},\ W_{\text{out}} \sim \text{random}$;
each step updates $\theta_{\text{body}}$ with learning rate $\eta$ and $W_{\text{out}}$ with $\alpha\eta$ ($\alpha = 10$ in the book).
**Scratch** = the same network, every layer random, same data, epochs, seed and learning rates.
"""

DETAILS = f"""
* **Source (step ①)**: {len(ft.SOURCE_CLASSES)} classes of printed letters (`{''.join(ft.SOURCE_CLASSES)}`;
  the digit-like {', '.join(ft.LEFT_OUT_GLYPHS)} are left out), drawn with Pillow's built-in font at random sizes,
  strokes, angles and shears, then reduced exactly like the UCI digits (a 32×32 bitmap summed over 4×4 blocks:
  8×8 pixels, 17 grey levels). `python -m core.train finetune_source` made `weights/finetune_source.*`;
  its model card records data, epochs, wall time and accuracy.
* **Target (step ④)**: scikit-learn's UCI handwritten digits (43 writers). *Labelled examples per class* are drawn
  by the seed from the images outside the test set; the test set is fixed: 50 images of each digit (500).
* **Model**: timm `resnet10t` with 16-32-64-128 channels (317 k parameters), input 8×8 upsampled to 32×32.
  Optimiser: AdamW (weight decay 0.001), batches of {DEFAULTS.batch_size}, random shifts of up to
  {ft.MAX_SHIFT} pixels. The copied BatchNorm layers keep the source's running statistics (a few dozen images
  are too few to re-estimate them); their scale and shift still learn unless the body is frozen. To judge scratch
  fairly, its BatchNorm statistics are recomputed on its labelled images before every evaluation ("precise BN").
  Each run uses one CPU thread, at most {CONCURRENT_RUNS} runs at a time; *Stop* ends a run after the current epoch.
* **Why it helps**: with 5 images per digit, the scratch network has to learn strokes, curves and corners from 50
  pictures; the copied layers already detect them (they saw 10,500 letters), so only the combination has to be learned.
  Raise *labelled examples per class* and watch the gap shrink: transfer matters most when data is scarce.
* **Freeze the body** = train only the new output layer on the source's features (a linear probe; Teachable
  Machine's approach). Scratch always trains all its layers.
"""

LINK = book_link("fine-tuning.html", "14.2 Fine-Tuning")


# --- resources ------------------------------------------------------------------------------------------------


def _source() -> ft.SourceWeights:
    """The pre-trained source model (`core.weights.registry`: loaded once, shared)."""
    from core.weights.hub import WeightsError
    from core.weights.registry import load_model

    try:
        return load_model(ft.SOURCE_WEIGHTS)
    except WeightsError as error:
        raise gr.Error(f"The pre-trained source model is not available ({error}).") from None


@lru_cache(maxsize=1)
def _card() -> dict:
    from core.weights import hub

    return hub.load_card(ft.SOURCE_WEIGHTS)


@lru_cache(maxsize=1)
def _tables() -> tuple[list[ft.LayerInfo], list[ft.LayerInfo]]:
    """(source model's blocks, target model's blocks): the same body, 35 vs 10 outputs."""
    source = ft.layer_table(ft.build_model(len(ft.SOURCE_CLASSES)))
    target = ft.layer_table(ft.build_model(len(ft.TARGET_CLASSES)))
    return source, target


@lru_cache(maxsize=1)
def _letter_samples() -> np.ndarray:
    """(8, 8, 8) one rendered glyph of 8 source classes (for the diagram)."""
    images, _ = ft.source_dataset(1, seed=ft.SOURCE_VAL_SEED)
    return images[[0, 1, 2, 6, 9, 22, 25, 34]]


# --- inputs ---------------------------------------------------------------------------------------------------


def _number(value: Any, name: str, default: float) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        return float(default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise gr.Error(f"{name} must be a number, got {value!r}.") from None
    if not math.isfinite(number):
        raise gr.Error(f"{name} must be a finite number, got {value!r}.")
    return number


def _integer(value: Any, name: str, default: int) -> int:
    number = _number(value, name, default)
    if number != int(number):
        raise gr.Error(f"{name} must be a whole number, got {value!r}.")
    return int(number)


def parse_config(examples_per_class: Any = None, epochs: Any = None, lr: Any = None, output_lr_mult: Any = None,
                 freeze_body: Any = None, seed: Any = None) -> ft.FinetuneConfig:
    """The tab's inputs (None = the default) -> a validated `FinetuneConfig`; bad values -> `gr.Error`."""
    config = ft.FinetuneConfig(
        examples_per_class=_integer(examples_per_class, "Labelled examples per class", DEFAULTS.examples_per_class),
        epochs=_integer(epochs, "Epochs", DEFAULTS.epochs),
        lr=_number(lr, "Learning rate", DEFAULTS.lr),
        output_lr_mult=_number(output_lr_mult, "Output layer's learning-rate multiplier", DEFAULTS.output_lr_mult),
        freeze_body=DEFAULTS.freeze_body if freeze_body is None else bool(freeze_body),
        seed=DEFAULTS.seed if seed is None or seed == "" else parse_seed(seed),
    )
    with user_errors():
        return config.validate()


# --- the diagram ----------------------------------------------------------------------------------------------


def _shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(s) for s in shape)


def _count_text(n: int) -> str:
    return "no weights" if n == 0 else (f"{n / 1000:.1f} k" if n >= 1000 else str(n)) + " params"


def _kind_text(info: ft.LayerInfo) -> str:
    names = {"SelectAdaptivePool2d": "global avg pool", "BatchNorm2d": "BatchNorm", "MaxPool2d": "max pool",
             "Sequential": "3 conv stem", "BasicBlock": "residual block", "Linear": "linear", "ReLU": "ReLU"}
    return names.get(info.kind, info.kind)


def _glyph_svg(image: np.ndarray, x: float, y: float, pixel: float) -> str:
    """An 8x8 image in [0, 1] as SVG squares (dark ink on white)."""
    parts = [f'<rect x="{x:.1f}" y="{y:.1f}" width="{8 * pixel:.1f}" height="{8 * pixel:.1f}" fill="#fff" '
             f'stroke="#cbd5e1" stroke-width="0.5"/>']
    for (r, c), value in np.ndenumerate(image):
        if value > 0.05:
            level = int(round(255 * (1 - value)))
            parts.append(f'<rect x="{x + c * pixel:.1f}" y="{y + r * pixel:.1f}" width="{pixel:.2f}" '
                         f'height="{pixel:.2f}" fill="rgb({level},{level},{level})"/>')
    return "".join(parts)


def diagram_svg(config: ft.FinetuneConfig = DEFAULTS, digit_samples: np.ndarray | None = None) -> str:
    """The four steps drawn on the real model: its named children (timm's ResNet: conv1 ... fc) for the source
    and the target model; copied blocks blue, the new output layer orange, frozen blocks hatched grey."""
    source, target = _tables()
    if digit_samples is None:
        images, labels = ft.load_target_digits()
        digit_samples = images[ft.labelled_indices(labels, 1, config.seed)][:8]
    widths = [100 if info.parameters else 86 for info in target]
    gap, left, block_h = 12, 150, 66
    xs = np.cumsum([left] + [w + gap for w in widths[:-1]])
    total_w = int(xs[-1] + widths[-1] + 130)
    row1, row2, height = 36, 184, 324
    body_fill = FROZEN if config.freeze_body else COPIED
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {total_w} {height}" width="100%" '
           f'style="max-height:{height}px;font-family:system-ui,sans-serif" role="img" '
           f'aria-label="The source model and the target model, block by block">',
           '<defs><pattern id="ft-hatch" patternUnits="userSpaceOnUse" width="8" height="8" '
           'patternTransform="rotate(45)"><rect width="8" height="8" fill="#e2e8f0"/>'
           '<line x1="0" y1="0" x2="0" y2="8" stroke="#cbd5e1" stroke-width="2.5"/></pattern>'
           '<marker id="ft-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" '
           'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#475569"/></marker></defs>']

    def text(x, y, s, size=13, weight="normal", fill="#0f172a", anchor="middle"):
        out.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" font-weight="{weight}" fill="{fill}" '
                   f'text-anchor="{anchor}">{html.escape(s)}</text>')

    def block(x, y, w, info: ft.LayerInfo, fill: str, hatched: bool, out_label: str | None = None):
        if hatched:
            out.append(f'<rect x="{x}" y="{y}" width="{w}" height="{block_h}" rx="7" fill="url(#ft-hatch)" '
                       f'stroke="#64748b" stroke-width="2"/>')
            color, sub = "#0f172a", "#1e293b"
        elif info.parameters or info.is_output:
            out.append(f'<rect x="{x}" y="{y}" width="{w}" height="{block_h}" rx="7" fill="{fill}" '
                       f'stroke="{fill}" stroke-width="2"/>')
            color, sub = "#fff", "#f1f5f9"
        else:  # no weights: nothing to copy or train
            out.append(f'<rect x="{x}" y="{y}" width="{w}" height="{block_h}" rx="7" fill="#eff6ff" '
                       f'stroke="#93c5fd" stroke-width="2" stroke-dasharray="4 3"/>')
            color, sub = "#1e3a8a", "#1e40af"
        cx = x + w / 2
        text(cx, y + 17, info.name, 14 if len(info.name) <= 8 else 12, "bold", color)
        text(cx, y + 33, _kind_text(info), 11.5, fill=sub)
        text(cx, y + 48, out_label or _shape_text(info.output_shape), 11.5, fill=sub)
        text(cx, y + 62, _count_text(info.parameters), 11, fill=sub)

    # legend
    for i, (fill, label, kind) in enumerate([(COPIED, "copied from the source", "solid"),
                                             (NEW, "new, random init", "solid"),
                                             (FROZEN, "frozen (not trained)", "hatch"),
                                             ("#93c5fd", "no weights", "dashed")]):
        x = total_w - 720 + i * 180
        style = {"solid": f'fill="{fill}" stroke="{fill}"',
                 "hatch": 'fill="url(#ft-hatch)" stroke="#64748b"',
                 "dashed": 'fill="#eff6ff" stroke="#93c5fd" stroke-dasharray="3 2"'}[kind]
        out.append(f'<rect x="{x}" y="6" width="18" height="14" rx="3" {style}/>')
        text(x + 24, 18, label, 12, anchor="start")

    # row 1: the source model (step 1)
    text(8, row1 - 12, "① source model, pre-trained on printed letters", 15, "bold", "#0f172a", "start")
    for i, glyph in enumerate(_letter_samples()):
        out.append(_glyph_svg(glyph, 8 + (i % 4) * 33, row1 + 2 + (i // 4) * 34, 3.6))
    for x, w, info in zip(xs, widths, source):
        block(x, row1, w, info, NEW if info.is_output else COPIED, False,
              f"{len(ft.SOURCE_CLASSES)} letters" if info.is_output else None)
    text(xs[-1] + widths[-1] + 10, row1 + 28, f"{len(ft.SOURCE_CLASSES)} classes:", 12, anchor="start")
    text(xs[-1] + widths[-1] + 10, row1 + 44, "A B C … y", 12, anchor="start")

    # between the rows: step 2 (copy) and the output layer that is not copied
    for x, w, info in zip(xs, widths, target):
        cx = x + w / 2
        if info.is_output:
            text(cx, row1 + block_h + 32, "✕ not copied", 13, "bold", NEW)
            text(cx, row1 + block_h + 48, "35 ≠ 10 classes", 11, fill=NEW)
        else:
            out.append(f'<line x1="{cx}" y1="{row1 + block_h + 4}" x2="{cx}" y2="{row2 - 6}" stroke="#475569" '
                       f'stroke-width="2" marker-end="url(#ft-arrow)"/>')
    text(8, row1 + block_h + 28, "② copy all but", 14, "bold", COPIED, "start")
    text(8, row1 + block_h + 45, "the output layer", 14, "bold", COPIED, "start")

    # row 2: the target model (step 3) and how it trains (step 4)
    text(8, row2 - 4, "③ target model", 15, "bold", "#0f172a", "start")
    for i, digit in enumerate(digit_samples[:8]):
        out.append(_glyph_svg(digit, 8 + (i % 4) * 33, row2 + 6 + (i // 4) * 34, 3.6))
    for x, w, info in zip(xs, widths, target):
        if info.is_output:
            block(x, row2, w, info, NEW, False, f"{len(ft.TARGET_CLASSES)} digits")
        else:
            block(x, row2, w, info, body_fill, config.freeze_body and info.parameters > 0)
    text(xs[-1] + widths[-1] + 10, row2 + 20, "new, random", 13, "bold", NEW, "start")
    text(xs[-1] + widths[-1] + 10, row2 + 38, "10 classes:", 12, anchor="start")
    text(xs[-1] + widths[-1] + 10, row2 + 54, "0 1 2 … 9", 12, anchor="start")

    y4 = row2 + block_h + 10
    body_end = xs[-2] + widths[-2]
    body_label = ("④ frozen: the copied layers keep the source's weights (learning rate 0)" if config.freeze_body
                  else f"④ train the copied layers with learning rate η = {config.lr:g}")
    out.append(f'<line x1="{xs[0]}" y1="{y4}" x2="{body_end}" y2="{y4}" stroke="{body_fill}" stroke-width="3"/>')
    text((xs[0] + body_end) / 2, y4 + 18, body_label, 14, "bold", "#334155" if config.freeze_body else COPIED)
    out.append(f'<line x1="{xs[-1]}" y1="{y4}" x2="{xs[-1] + widths[-1]}" y2="{y4}" stroke="{NEW}" '
               f'stroke-width="3"/>')
    head_x = xs[-1] + widths[-1] / 2
    text(head_x, y4 + 18, f"αη = {config.lr * config.output_lr_mult:g}", 14, "bold", NEW)
    text(head_x, y4 + 33, f"(α = {config.output_lr_mult:g})", 12, fill=NEW)
    text(8, height - 12, f"④ on {config.examples_per_class} labelled digits per class "
         f"({config.examples_per_class * len(ft.TARGET_CLASSES)} images) for {config.epochs} epochs.   "
         "Compared with: the same target model trained from scratch (every block random and trained; grey curves).",
         13, anchor="start", fill="#334155")
    out.append("</svg>")
    return "".join(out)


def diagram_html(config: ft.FinetuneConfig = DEFAULTS) -> str:
    return f'<div id="finetune-diagram-svg">{diagram_svg(config)}</div>'


def preview_diagram(examples_per_class: Any, epochs: Any, lr: Any, output_lr_mult: Any, freeze_body: Any,
                    seed: Any) -> str:
    """The diagram for the current controls (no training)."""
    return diagram_html(parse_config(examples_per_class, epochs, lr, output_lr_mult, freeze_body, seed))


# --- curves, predictions, JSON --------------------------------------------------------------------------------


def curve_frames(curves: dict[str, dict[str, list[float]]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long tables for gr.LinePlot: (epoch, test accuracy %, model) and (epoch, training loss, model)."""
    accuracy_rows, loss_rows = [], []
    for key, name in MODEL_NAMES.items():
        history = curves.get(key, {})
        for epoch, value in enumerate(history.get("test_accuracy", []), start=1):
            accuracy_rows.append({"epoch": epoch, "test accuracy (%)": round(100 * value, 2), "model": name})
        for epoch, value in enumerate(history.get("loss", []), start=1):
            loss_rows.append({"epoch": epoch, "training loss": round(value, 4), "model": name})
    accuracy = pd.DataFrame(accuracy_rows, columns=["epoch", "test accuracy (%)", "model"])
    loss = pd.DataFrame(loss_rows, columns=["epoch", "training loss", "model"])
    return accuracy, loss


def _accuracy_plot(frame: pd.DataFrame, epochs: int) -> gr.LinePlot:
    return gr.LinePlot(frame, x_lim=[1, max(epochs, MIN_EPOCH_AXIS)], y_lim=[0, 100])


def _loss_plot(frame: pd.DataFrame, epochs: int) -> gr.LinePlot:
    return gr.LinePlot(frame, x_lim=[1, max(epochs, MIN_EPOCH_AXIS)])


@lru_cache(maxsize=4)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def _mark(draw: ImageDraw.ImageDraw, x: int, y: int, right: bool) -> None:
    """A drawn check mark or cross in a 12x12 box at (x, y)."""
    if right:
        draw.line([(x, y + 6), (x + 4, y + 11), (x + 12, y + 1)], fill=(255, 255, 255), width=3)
    else:
        draw.line([(x + 1, y + 1), (x + 11, y + 11)], fill=(255, 255, 255), width=3)
        draw.line([(x + 1, y + 11), (x + 11, y + 1)], fill=(255, 255, 255), width=3)


def predictions_grid(images: np.ndarray, truth: np.ndarray, predictions: dict[str, np.ndarray],
                     accuracy: dict[str, float]) -> np.ndarray:
    """Test digits with both models' predicted classes: green with a check when right, red with a cross when wrong.

    images (K, 8, 8) in [0, 1], class by class as `core.models.finetune.preview_positions` orders them (column = digit);
    `predictions` maps "fine_tuned"/"scratch" to (K,) classes. Returns (H, W, 3) uint8.
    """
    columns = len(ft.TARGET_CLASSES)
    rows = math.ceil(len(images) / columns)
    cell_w, cell_h, pixel, top = 86, 116, 7, 64
    width, height = columns * cell_w + 16, top + rows * cell_h + 4
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    title = (f"Test predictions.  Fine-tuned (FT): {100 * accuracy['fine_tuned']:.1f}% of the 500 test digits right;"
             f"  from scratch (SC): {100 * accuracy['scratch']:.1f}%")
    draw.text((8, 6), title, fill=(15, 23, 42), font=_font(18))
    draw.text((8, 34), f"The first {rows} test images of each digit; the label is the predicted class "
              "(green = right, red = wrong).", fill=(71, 85, 105), font=_font(15))
    for i, image in enumerate(images):
        x0 = 8 + (i // rows) * cell_w
        y0 = top + (i % rows) * cell_h
        side = 8 * pixel
        tile = Image.fromarray(np.uint8(255 * (1 - np.clip(image, 0, 1)))).resize((side, side), Image.NEAREST)
        tx = x0 + (cell_w - 10 - side) // 2
        canvas.paste(tile.convert("RGB"), (tx, y0))
        draw.rectangle([tx - 1, y0 - 1, tx + side, y0 + side], outline=(203, 213, 225))
        for j, key in enumerate(("fine_tuned", "scratch")):
            predicted = int(predictions[key][i])
            right = predicted == int(truth[i])
            y = y0 + side + 3 + j * 24
            draw.rounded_rectangle([x0, y, x0 + cell_w - 10, y + 21], radius=4, fill=RIGHT if right else WRONG)
            draw.text((x0 + 5, y + 2), f"{'FT' if j == 0 else 'SC'}: {predicted}", fill=(255, 255, 255), font=_font(15))
            _mark(draw, x0 + cell_w - 30, y + 5, right)
    return np.asarray(canvas)


def _grid_placeholder(config: ft.FinetuneConfig) -> np.ndarray:
    """What the prediction grid shows while a run trains. Returns (H, W, 3) uint8."""
    canvas = Image.new("RGB", (876, 120), (248, 250, 252))
    draw = ImageDraw.Draw(canvas)
    draw.text((16, 30), f"Training {config.epochs} epochs… the test predictions of both models appear here "
              "after the last epoch.", fill=(71, 85, 105), font=_font(17))
    draw.text((16, 64), "(Stop keeps the curves so far.)", fill=(100, 116, 139), font=_font(15))
    return np.asarray(canvas)


def _grid_for(state_predictions: dict[str, Any], accuracy: dict[str, float]) -> np.ndarray:
    images, labels = ft.load_target_digits()
    test = ft.test_indices(labels)[ft.preview_positions()]
    return predictions_grid(images[test], labels[test], {k: np.asarray(v) for k, v in state_predictions.items()},
                            accuracy)


def result_json(config: ft.FinetuneConfig, curves: dict, epochs_done: int, seconds: float, *,
                precomputed: bool = False, stopped: bool = False) -> dict:
    """The API's JSON: the curves plus what produced them."""
    result = {
        **curves,
        "epochs_done": epochs_done,
        "config": asdict(config),
        "labelled_images": config.examples_per_class * len(ft.TARGET_CLASSES),
        "test_images": ft.TEST_PER_CLASS * len(ft.TARGET_CLASSES),
        "seconds": round(seconds, 2),
        "precomputed": precomputed,
    }
    if curves["fine_tuned"]["test_accuracy"] and curves["scratch"]["test_accuracy"]:
        final_ft, final_scratch = curves["fine_tuned"]["test_accuracy"][-1], curves["scratch"]["test_accuracy"][-1]
        result["final"] = {"fine_tuned_test_accuracy": final_ft, "scratch_test_accuracy": final_scratch,
                           "gap_points": round(100 * (final_ft - final_scratch), 2)}
    return to_jsonable(result)


def _status(config: ft.FinetuneConfig, curves: dict, epochs_done: int, seconds: float, *, done: bool,
            precomputed: bool = False) -> str:
    if not epochs_done:
        return "Starting…"
    ft_acc = 100 * curves["fine_tuned"]["test_accuracy"][-1]
    sc_acc = 100 * curves["scratch"]["test_accuracy"][-1]
    head = ("**Precomputed with the default settings** (press *Train both* to run it live). " if precomputed
            else ("**Done.** " if done else "**Training…** "))
    return (f"{head}Epoch {epochs_done}/{config.epochs} · {seconds:.1f} s · test accuracy: "
            f"<span style='color:{COPIED}'>**fine-tuned {ft_acc:.1f}%**</span> vs "
            f"**from scratch {sc_acc:.1f}%** (gap {ft_acc - sc_acc:+.1f} points)")


# --- events ---------------------------------------------------------------------------------------------------


def finetune(examples_per_class: Any = DEFAULTS.examples_per_class, epochs: Any = DEFAULTS.epochs,
             lr: Any = DEFAULTS.lr, output_lr_mult: Any = DEFAULTS.output_lr_mult,
             freeze_body: Any = DEFAULTS.freeze_body, seed: Any = DEFAULTS.seed,
             progress: gr.Progress = gr.Progress()) -> Iterator[tuple]:
    """Train the fine-tuned and the scratch model side by side; yield (diagram, accuracy plot, loss plot,
    predictions grid, JSON, status) after every epoch; the grid comes with the last epoch."""
    config = parse_config(examples_per_class, epochs, lr, output_lr_mult, freeze_body, seed)
    source_state, mean, std = _source()
    diagram = diagram_html(config)
    empty_accuracy, empty_loss = curve_frames({})
    progress(0, desc="starting")
    yield (diagram, _accuracy_plot(empty_accuracy, config.epochs), _loss_plot(empty_loss, config.epochs),
           _grid_placeholder(config),
           result_json(config, {"fine_tuned": {"test_accuracy": [], "loss": [], "test_loss": []},
                                "scratch": {"test_accuracy": [], "loss": [], "test_loss": []}}, 0, 0.0),
           "**Training…** epoch 0")
    epochs_run = ft.compare(config, source_state, mean, std)
    while True:
        with torch_threads(TRAIN_THREADS):  # one epoch of both models
            state = next(epochs_run, None)
        if state is None:
            break
        curves = state.curves()
        accuracy, loss = curve_frames(curves)
        progress((state.epoch, config.epochs), desc=f"epoch {state.epoch}/{config.epochs}", unit="epochs")
        grid = gr.skip()
        if state.done:
            grid = _grid_for({k: v[ft.preview_positions()] for k, v in state.predictions.items()},
                             {k: curves[k]["test_accuracy"][-1] for k in curves})
        yield (diagram if state.done else gr.skip(), _accuracy_plot(accuracy, config.epochs), _loss_plot(loss, config.epochs), grid,
               result_json(config, curves, state.epoch, state.seconds),
               _status(config, curves, state.epoch, state.seconds, done=state.done))


def first_view() -> tuple:
    """On page load: the diagram and the default run precomputed by `python -m core.evaluate finetune_source`."""
    config = DEFAULTS
    diagram = diagram_html(config)
    run = _card().get("card", {}).get("default_run")
    if not run:
        accuracy, loss = curve_frames({})
        return (diagram, _accuracy_plot(accuracy, config.epochs), _loss_plot(loss, config.epochs), None, None,
                "Press **Train both** to fine-tune and train from scratch side by side.")
    curves = run["curves"]
    accuracy, loss = curve_frames(curves)
    grid = _grid_for(run["preview_predictions"], {k: curves[k]["test_accuracy"][-1] for k in curves})
    epochs_done = len(curves["fine_tuned"]["test_accuracy"])
    return (diagram, _accuracy_plot(accuracy, config.epochs), _loss_plot(loss, config.epochs), grid,
            result_json(config, curves, epochs_done, run["seconds"], precomputed=True),
            _status(config, curves, epochs_done, run["seconds"], done=True, precomputed=True))


def _warm_up() -> None:
    """Import timm, draw the diagram's parts and read the card in the background, so that the first visitor's
    page load does not wait for them (errors are left for the request that needs the resource)."""
    with contextlib.suppress(Exception):
        _tables()
        _letter_samples()
        ft.load_target_digits()
        _card()


def build() -> None:
    from demos import generalization  # the "Augmentation's effect" sub-tab

    with gr.Tabs(elem_id="finetune-subtabs"):
        with gr.Tab("Transfer", id="finetune-transfer"):
            _build_transfer()
        generalization.build_tab()


def _build_transfer() -> None:
    threading.Thread(target=_warm_up, name="finetune-warm-up", daemon=True).start()
    header("Fine-tuning: the four steps of transfer learning, live", EXPLANATION, LINK)
    with gr.Accordion("Details: data, model, optimiser, why it helps", open=False):
        gr.Markdown(DETAILS)
    # filled on page load (building the diagram imports timm: nothing heavy happens while the app starts)
    diagram = gr.HTML("<p>Drawing the model…</p>", elem_id="finetune-diagram", min_height=300)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=280):
            examples = gr.Slider(1, ft.MAX_EXAMPLES_PER_CLASS, DEFAULTS.examples_per_class, step=1,
                                 label="Labelled examples per class", elem_id="finetune-examples")
            epochs = gr.Slider(1, ft.MAX_EPOCHS, DEFAULTS.epochs, step=1, label="Epochs", elem_id="finetune-epochs")
            with gr.Row():
                lr = gr.Number(DEFAULTS.lr, label="Learning rate η", min_width=100, elem_id="finetune-lr")
                mult = gr.Number(DEFAULTS.output_lr_mult, label="Output layer ×α", min_width=100,
                                 elem_id="finetune-mult")
            with gr.Row():
                freeze = gr.Checkbox(DEFAULTS.freeze_body, label="Freeze the copied layers", min_width=140,
                                     elem_id="finetune-freeze")
                seed = gr.Number(DEFAULTS.seed, precision=0, label="Seed", min_width=80, elem_id="finetune-seed")
            with gr.Row():
                train_button = gr.Button("Train both", variant="primary", elem_id="finetune-train")
                stop_button = gr.Button("Stop", variant="stop", elem_id="finetune-stop")
        with gr.Column(scale=3):
            status = gr.Markdown("", elem_id="finetune-status")
            with gr.Row():
                accuracy_plot = gr.LinePlot(x="epoch", y="test accuracy (%)", color="model", color_map=COLOR_MAP,
                                            title="Test accuracy (500 held-out digits)", y_lim=[0, 100], height=260,
                                            elem_id="finetune-accuracy")
                loss_plot = gr.LinePlot(x="epoch", y="training loss", color="model", color_map=COLOR_MAP,
                                        title="Training loss (cross-entropy)", height=260, elem_id="finetune-loss")
    with gr.Row(equal_height=False):
        grid = gr.Image(label="Test predictions of both models", show_label=False, type="numpy", format="png",
                        interactive=False, height=440, scale=3, elem_id="finetune-grid")
        with gr.Column(scale=1, min_width=260):
            result = gr.JSON(label="Curves (API: finetune)", elem_id="finetune-json", height=440)

    inputs = [examples, epochs, lr, mult, freeze, seed]
    outputs = [diagram, accuracy_plot, loss_plot, grid, result, status]
    run = train_button.click(finetune, inputs, outputs, api_name="finetune", concurrency_limit=CONCURRENT_RUNS,
                             concurrency_id="finetune_train", show_progress_on=[status])
    stop_button.click(None, None, None, cancels=[run], api_visibility="private")
    gr.on([freeze.change, lr.blur, mult.blur, examples.release, epochs.release, seed.blur], preview_diagram, inputs,
          diagram, api_name="finetune_diagram_ui", api_visibility="private", show_progress="hidden",
          trigger_mode="always_last")
    gr.on([_root_load()], first_view, None, outputs, api_name="finetune_load_ui", api_visibility="private",
          show_progress="hidden")


def _root_load():
    from gradio.context import Context

    return Context.root_block.load
