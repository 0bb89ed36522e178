"""The Fine-tuning tab's "Augmentation's effect" sub-tab: the same small labelled set and network trained with and
without augmentation, live, with train and held-out accuracy per epoch and the generalisation gap drawn.

The student predicts first (which run ends with the higher held-out accuracy, which with the larger gap), then
trains both runs side by side; the answer is revealed when they finish. See `core.training.generalization`.

API: `generalization(start, augmentation, seed)`: one run; `start` is "scratch" or "pretrained", `augmentation`
"none", "default" or an Albumentations JSON pipeline (as the Augmentation tab exports it). Returns JSON with
`train_accuracy`, `test_accuracy`, `gap` (lists per epoch), `final_test_accuracy`, `final_train_accuracy`,
`final_gap`, `seconds`, `config`, `notes`.

Hand-off from the Augmentation tab: `use_pipeline(json_text)` returns the values of `SubTab.handoff_outputs`
(the augmentation choice set to custom, the pipeline's JSON, the preview of what it does to digits).
"""

from __future__ import annotations

import html
import importlib
import json
from dataclasses import dataclass
from typing import Any, Iterator

import gradio as gr
import numpy as np
from PIL import Image, ImageDraw

from demos.common import (LazyResource, book_link, header, parse_seed, pil_font, to_jsonable, torch_threads,
                          user_errors)

TITLE = "Augmentation's effect"

_core = LazyResource(lambda: importlib.import_module("core.training.generalization"))
"""core.training.generalization imports Albumentations (seconds): loaded on first use, not at import."""

CONCURRENCY_ID = "finetune_train"
"""The trainings of the whole Fine-tuning tab share one queue slot group (see `demos.finetune.CONCURRENT_RUNS`)."""
CONCURRENT_RUNS = 2
TRAIN_THREADS = 1
"""One torch thread per training (as the Fine-tuning tab): one core per run leaves the other to everybody else."""

START_CHOICES = [("from scratch", "scratch"), ("fine-tuned (pre-trained body)", "pretrained")]
AUGMENTATION_CHOICES = [("default", "default"), ("none", "none"), ("custom JSON", "custom")]
WITH, WITHOUT = "with augmentation", "without augmentation"
SAME = "about the same (within 1 point)"
PREDICTION_CHOICES = [("with", WITH), ("without", WITHOUT), ("about the same", SAME)]
PREDICTIONS = [value for _, value in PREDICTION_CHOICES]
TIE_POINTS = 1.0
"""Two final numbers within this many percentage points count as "about the same"."""

COLORS = {WITHOUT: "#6b7280", WITH: "#0f766e"}  # grey circles / teal squares; line style and markers carry meaning too
MARKERS = {WITHOUT: "circle", WITH: "square"}

EXPLANATION = r"""
Augmentation shows the network a new random variant $T_\theta(x)$ of every training image in every epoch (shifted,
slanted, rotated, warped, partly erased), so it cannot simply memorise its few labelled digits. Memorising shows in
the **generalisation gap** after each epoch: $\text{gap} = \text{acc}_{\text{train}} - \text{acc}_{\text{held-out}}$
(train: the *clean* labelled digits; held-out: 500 digits never trained on). Both runs share the labelled digits,
initial weights, batch order and epochs: only the augmentation differs.
"""

DETAILS_TEMPLATE = """
* **Data**: scikit-learn's handwritten digits (8×8, upsampled to 32×32): {k} labelled digits per class
  ({n} in all, chosen by the seed) and the fixed held-out set of 500 (50 per digit), as in the other sub-tab.
* **Model and training**: the Fine-tuning tab's timm `resnet10t` (16-32-64-128 channels); AdamW with weight decay
  {wd:g}, batches of {batch}, {epochs} epochs, the learning rate annealed to 0 (cosine). *From scratch*: every
  layer random, learning rate {lr:g}. *Fine-tuned*: the body copied from the source model pre-trained on printed
  letters, learning at {body_lr:g}, the new output layer at {lr:g} (the book's 10× rule). Each run uses one CPU
  thread.
* **Augmentation**: an Albumentations pipeline applied to every training digit in every epoch (a fresh draw each
  time, from the run's own seeded generator). The default: `Affine` (scale 0.8–1.2, shift ±10 %, rotation ±15°,
  shear ±15°), then with probability ½ each `ElasticTransform` (wobbly strokes) and `RandomBrightnessContrast`
  (±20 %: lighter or darker ink), and `CoarseDropout` (1–2 missing patches, p = 0.3). No flips: a mirrored 2 is
  not a 2. A custom pipeline (e.g. the Augmentation tab's JSON) sees 32×32 RGB pictures of the digits; its output
  is turned back to grey and, if its size differs, resized to 32×32.
* **Measured** over seeds 0–9 (`python -m benchmarks.generalization`): from scratch, the default pipeline raises the
  held-out accuracy by at least 5 points on every seed.
"""

LINK = book_link("image-augmentation.html", "14.1 Image Augmentation")


def _gen() -> Any:
    return _core.get()


# --- inputs -----------------------------------------------------------------------------------------------


def parse_start(start: Any) -> str:
    starts = _gen().STARTS
    value = "scratch" if start is None or start == "" else start
    if value not in starts:
        raise gr.Error(f"start must be one of {', '.join(repr(s) for s in starts)}, got {start!r}.")
    return value


def _parse_seed(seed: Any) -> int:
    return 0 if seed is None or seed == "" else parse_seed(seed)


def resolve(augmentation: Any) -> dict | None:
    """The API's `augmentation` input ("none", "default" or JSON text) -> a checked pipeline dict or None;
    bad values -> `gr.Error` naming the input."""
    if augmentation is None or (isinstance(augmentation, str) and not augmentation.strip()):
        augmentation = "default"
    if not isinstance(augmentation, (str, dict)):
        raise gr.Error(f"augmentation must be 'none', 'default' or an Albumentations JSON pipeline, "
                       f"got a {type(augmentation).__name__}.")
    try:
        return _gen().resolve_augmentation(augmentation)
    except ValueError as error:
        raise gr.Error(f"augmentation: {error}") from None


def _ui_augmentation(choice: Any, pipeline_text: Any) -> str:
    """The UI's dropdown and code box -> the API's augmentation value."""
    if choice == "custom":
        text = (pipeline_text or "").strip()
        if not text:
            raise gr.Error("augmentation: the custom pipeline is empty. Paste Albumentations JSON (for example the "
                           "Augmentation tab's export), or choose 'default'.")
        return text
    if choice in ("none", "default"):
        return choice
    raise gr.Error(f"augmentation must be one of none, default, custom; got {choice!r}.")


def _config(start: str, seed: int) -> Any:
    gen = _gen()
    with user_errors():
        return gen.GeneralizationConfig(start=start, seed=seed).validate()


def _source() -> tuple[dict, float, float]:
    from demos.finetune import SOURCE  # the Fine-tuning tab's lazily loaded source model

    return SOURCE.get()


# --- the API ----------------------------------------------------------------------------------------------


def generalization(start: str = "scratch", augmentation: str = "default", seed: int = 0) -> dict:
    """One run: train the Fine-tuning tab's network on the small labelled digit set from `start` ("scratch" or
    "pretrained") with `augmentation` ("none", "default", or an Albumentations JSON pipeline such as the
    Augmentation tab exports), seed `seed`. Returns per-epoch `train_accuracy`, `test_accuracy` and `gap`
    (fractions), `final_test_accuracy`, `final_train_accuracy`, `final_gap`, `seconds`, `config`, `notes`."""
    start = parse_start(start)
    seed = _parse_seed(seed)
    if augmentation is None or (isinstance(augmentation, str) and not augmentation.strip()):
        augmentation = "default"
    resolve(augmentation)  # clear messages before the source model loads
    config = _config(start, seed)
    source_state, mean, std = _source()
    with torch_threads(TRAIN_THREADS), user_errors():
        state = _gen().run(config, augmentation, source_state, mean, std)
    return to_jsonable(state.to_dict())


# --- the hand-off and the preview -------------------------------------------------------------------------


def pipeline_text(pipeline: dict) -> str:
    return json.dumps(pipeline, indent=2)


def default_pipeline_text() -> str:
    return pipeline_text(_gen().default_pipeline())


def preview_picture(pipeline: dict | None, seed: int = 0, draws: int = 3) -> np.ndarray:
    """One labelled digit of each class (top row) and `draws` augmented copies below. Returns (H, W, 3) uint8."""
    clean, augmented = _gen().preview(pipeline, seed, draws)
    cell, pad, left, top = 56, 6, 92, 30  # room for the component's label above the first row
    rows = [("labelled", clean)] + [(f"draw {i + 1}", augmented[i]) for i in range(draws)]
    width = left + len(clean) * (cell + pad)
    height = top + len(rows) * (cell + pad)
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for r, (name, images) in enumerate(rows):
        y = top + r * (cell + pad)
        draw.text((4, y + cell // 2 - 8), name, fill=(51, 65, 85), font=pil_font(14))
        for c, image in enumerate(images):
            x = left + c * (cell + pad)
            tile = Image.fromarray(np.uint8(255 * (1 - np.clip(image, 0, 1)))).resize((cell, cell), Image.NEAREST)
            canvas.paste(tile.convert("RGB"), (x, y))
            draw.rectangle([x - 1, y - 1, x + cell, y + cell], outline=(203, 213, 225))
    return np.asarray(canvas)


def preview(choice: Any, pipeline_json: Any, seed: Any) -> tuple[np.ndarray, str]:
    """The preview picture and notes for the current augmentation controls."""
    pipeline = resolve(_ui_augmentation(choice, pipeline_json))
    notes = _gen().check_pipeline(pipeline) if pipeline is not None else []
    return preview_picture(pipeline, _parse_seed(seed)), _notes_text(notes, pipeline is None)


def _notes_text(notes: list[str], none: bool = False) -> str:
    if none:
        return "*No augmentation: every epoch sees the same clean digits (the top row).*"
    return " ".join(f"⚠ {note}" for note in notes)


def use_pipeline(json_text: str) -> tuple[str, str, np.ndarray, str, Any]:
    """Take an Albumentations JSON pipeline (e.g. exported from the Augmentation tab) as the custom augmentation.

    Returns the values of `SubTab.handoff_outputs`: (augmentation choice "custom", the pipeline's JSON,
    the preview picture, the notes, the custom pipeline's accordion opened). Bad JSON or an unknown transform ->
    `gr.Error`.
    """
    if not isinstance(json_text, str) or not json_text.strip():
        raise gr.Error("augmentation: the pipeline is empty. Paste Albumentations JSON (A.to_dict).")
    pipeline = resolve(json_text)
    opened = gr.Accordion(open=True)
    if pipeline is None:  # "none" typed into the box
        return "none", json_text, preview_picture(None), _notes_text([], True), opened
    return ("custom", pipeline_text(pipeline), preview_picture(pipeline),
            _notes_text(_gen().check_pipeline(pipeline)), opened)


# --- the plot ---------------------------------------------------------------------------------------------


def _marker(kind: str, x: float, y: float, color: str, size: float = 3.6) -> str:
    if kind == "square":
        return (f'<rect x="{x - size:.1f}" y="{y - size:.1f}" width="{2 * size:.1f}" height="{2 * size:.1f}" '
                f'fill="{color}" stroke="#fff" stroke-width="0.8"/>')
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{size + 0.4:.1f}" fill="{color}" stroke="#fff" stroke-width="0.8"/>'


def curves_svg(runs: dict[str, dict], epochs: int) -> str:
    """Accuracy per epoch: train solid, held-out dashed, the gap between them shaded (hatched for the run without
    augmentation); runs told apart by colour, marker (circle / square) and the legend's words."""
    width, height = 560, 330
    left, right, top, bottom = 52, 16, 44, 48
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for run in runs.values() for key in ("train_accuracy", "test_accuracy") for v in run.get(key, [])]
    low = 0.0 if not values else max(0.0, np.floor((100 * min(values) - 2) / 10) * 10)
    epochs = max(epochs, 2)

    def px(epoch: float) -> float:
        return left + (epoch - 1) / (epochs - 1) * plot_w

    def py(value: float) -> float:
        return top + (100 - 100 * value) / (100 - low) * plot_h

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
           f'style="font-family:system-ui,sans-serif" aria-label="{html.escape(_plot_summary(runs))}">',
           '<defs><pattern id="gen-hatch" patternUnits="userSpaceOnUse" width="6" height="6" '
           'patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" stroke="#6b7280" stroke-width="1.6" '
           'stroke-opacity="0.45"/></pattern></defs>']
    out.append(f'<text x="{left}" y="16" font-size="15" font-weight="bold" fill="#0f172a">Accuracy per epoch: '
               'train (solid) vs held-out (dashed)</text>')
    for tick in np.arange(low, 100.01, 10 if 100 - low > 30 else 5):
        y = py(tick / 100)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#e2e8f0"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="12" text-anchor="end" fill="#334155">'
                   f'{tick:g}</text>')
    step = max(1, round(epochs / 6))
    for epoch in sorted(set(list(range(1, epochs + 1, step)) + [epochs])):
        x = px(epoch)
        out.append(f'<text x="{x:.1f}" y="{top + plot_h + 16}" font-size="12" text-anchor="middle" fill="#334155">'
                   f'{epoch}</text>')
    out.append(f'<text x="{left + plot_w / 2}" y="{height - 6}" font-size="13" text-anchor="middle" '
               f'fill="#334155">epoch</text>')
    out.append(f'<text x="14" y="{top + plot_h / 2}" font-size="13" text-anchor="middle" fill="#334155" '
               f'transform="rotate(-90 14 {top + plot_h / 2})">accuracy (%)</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#94a3b8"/>')

    for name, run in runs.items():
        train, test = run.get("train_accuracy", []), run.get("test_accuracy", [])
        if not train:
            continue
        color = COLORS[name]
        upper = [(px(e + 1), py(v)) for e, v in enumerate(train)]
        lower = [(px(e + 1), py(v)) for e, v in enumerate(test)]
        area = " ".join(f"{x:.1f},{y:.1f}" for x, y in upper + lower[::-1])
        fill = 'url(#gen-hatch)' if name == WITHOUT else color
        opacity = "1" if name == WITHOUT else "0.16"
        out.append(f'<polygon points="{area}" fill="{fill}" fill-opacity="{opacity}" stroke="none"/>')
        for points, dash in ((upper, ""), (lower, ' stroke-dasharray="6 4"')):
            line = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            out.append(f'<polyline points="{line}" fill="none" stroke="{color}" stroke-width="2.2"{dash}/>')
            mark_every = max(1, len(points) // 8)
            for i, (x, y) in enumerate(points):
                if i % mark_every == 0 or i == len(points) - 1:
                    out.append(_marker(MARKERS[name], x, y, color))

    # legend: line styles, then the runs (colour + marker + words)
    lx, ly = left + 4, 32
    out.append(f'<line x1="{lx}" y1="{ly}" x2="{lx + 26}" y2="{ly}" stroke="#334155" stroke-width="2.2"/>')
    out.append(f'<text x="{lx + 30}" y="{ly + 4}" font-size="12" fill="#0f172a">train</text>')
    lx += 72
    out.append(f'<line x1="{lx}" y1="{ly}" x2="{lx + 26}" y2="{ly}" stroke="#334155" stroke-width="2.2" '
               'stroke-dasharray="6 4"/>')
    out.append(f'<text x="{lx + 30}" y="{ly + 4}" font-size="12" fill="#0f172a">held-out</text>')
    lx += 92
    for name in (WITHOUT, WITH):
        if name not in runs:
            continue
        out.append(_marker(MARKERS[name], lx + 5, ly, COLORS[name], 4.5))
        out.append(f'<text x="{lx + 14}" y="{ly + 4}" font-size="12" fill="#0f172a">{name}</text>')
        lx += 150
    out.append(f'<text x="{left + plot_w - 4}" y="{top + plot_h - 8}" font-size="11.5" text-anchor="end" '
               'fill="#475569">shaded: the gap (train − held-out); hatched = without augmentation</text>')
    out.append("</svg>")
    return "".join(out)


def gap_bars_svg(runs: dict[str, dict]) -> str:
    """Final held-out accuracy and final gap of each run as labelled bars (the numbers written on them)."""
    width, height = 300, 330
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" role="img" '
           'style="font-family:system-ui,sans-serif" aria-label="Final held-out accuracy and gap of each run">',
           '<defs><pattern id="gen-hatch-bar" patternUnits="userSpaceOnUse" width="6" height="6" '
           'patternTransform="rotate(45)"><rect width="6" height="6" fill="#e5e7eb"/><line x1="0" y1="0" x2="0" '
           'y2="6" stroke="#6b7280" stroke-width="2"/></pattern></defs>',
           '<text x="8" y="16" font-size="15" font-weight="bold" fill="#0f172a">After the last epoch</text>']
    finished = {name: run for name, run in runs.items() if run.get("test_accuracy")}
    sections = [("held-out accuracy (%)", "final_test_accuracy", 58), ("gap (points)", "final_gap", 196)]
    for title, key, y0 in sections:
        out.append(f'<text x="8" y="{y0 - 12}" font-size="13" font-weight="bold" fill="#334155">{title}</text>')
        values = {name: 100 * run["test_accuracy"][-1] if key == "final_test_accuracy"
                  else 100 * (run["train_accuracy"][-1] - run["test_accuracy"][-1]) for name, run in finished.items()}
        scale_max = 100.0 if key == "final_test_accuracy" else max([10.0] + [abs(v) for v in values.values()])
        for i, name in enumerate((WITHOUT, WITH)):
            y = y0 + i * 46
            out.append(f'<text x="8" y="{y + 4}" font-size="12" fill="#0f172a">{name}</text>')
            if name not in values:
                out.append(f'<text x="8" y="{y + 22}" font-size="12" fill="#64748b">—</text>')
                continue
            value = values[name]
            bar = max(1.0, 190 * max(value, 0.0) / scale_max)
            fill = 'url(#gen-hatch-bar)' if name == WITHOUT else COLORS[WITH]
            out.append(f'<rect x="8" y="{y + 9}" width="{bar:.1f}" height="20" fill="{fill}" '
                       f'stroke="{COLORS[name]}" stroke-width="1.2"/>')
            out.append(f'<text x="{8 + bar + 6:.1f}" y="{y + 24}" font-size="13" font-weight="bold" '
                       f'fill="#0f172a">{value:.1f}</text>')
    out.append("</svg>")
    return "".join(out)


def plot_html(runs: dict[str, dict], epochs: int) -> str:
    """The curves and the bars side by side; they stack on a narrow screen."""
    return ('<div style="display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start">'
            f'<div style="flex:3 1 420px;min-width:0">{curves_svg(runs, epochs)}</div>'
            f'<div style="flex:1 1 220px;min-width:0;max-width:420px">{gap_bars_svg(runs)}</div></div>')


def _plot_summary(runs: dict[str, dict]) -> str:
    parts = []
    for name, run in runs.items():
        if run.get("test_accuracy"):
            parts.append(f"{name}: train {100 * run['train_accuracy'][-1]:.1f}%, held-out "
                         f"{100 * run['test_accuracy'][-1]:.1f}% after epoch {len(run['test_accuracy'])}")
    return "Accuracy per epoch. " + ("; ".join(parts) if parts else "No run yet.")


# --- the table, the status, the reveal --------------------------------------------------------------------

TABLE_HEADERS = ["run", "train %", "held-out %", "gap (points)", "best held-out %", "epochs", "seconds"]


def _pct(value: float) -> float:
    return round(100 * value, 1)


def table_rows(runs: dict[str, dict]) -> list[list[Any]]:
    rows = []
    for name, run in runs.items():
        if not run.get("test_accuracy"):
            rows.append([name, None, None, None, None, 0, None])
            continue
        train, test = run["train_accuracy"][-1], run["test_accuracy"][-1]
        rows.append([name, _pct(train), _pct(test), _pct(train - test), _pct(max(run["test_accuracy"])),
                     len(run["test_accuracy"]), round(run["seconds"], 1)])
    if len(rows) == 2 and all(row[2] is not None for row in rows):
        without, with_ = rows
        rows.append(["with − without", round(with_[1] - without[1], 1), round(with_[2] - without[2], 1),
                     round(with_[3] - without[3], 1), round(with_[4] - without[4], 1), None, None])
    return rows


def _compare(a: float, b: float) -> str:
    """Which of two percentages (with, without) is larger, or about the same."""
    if abs(a - b) < TIE_POINTS:
        return SAME
    return WITH if a > b else WITHOUT


def reveal(runs: dict[str, dict], predicted_accuracy: Any, predicted_gap: Any) -> str:
    """After both runs: the measured answers next to the student's predictions."""
    if WITH not in runs or WITHOUT not in runs:
        return ("Only the run without augmentation was trained: choose *default* or a *custom* pipeline to compare "
                "with it.")
    with_, without = runs[WITH], runs[WITHOUT]
    acc_with, acc_without = 100 * with_["test_accuracy"][-1], 100 * without["test_accuracy"][-1]
    gap_with = 100 * (with_["train_accuracy"][-1] - with_["test_accuracy"][-1])
    gap_without = 100 * (without["train_accuracy"][-1] - without["test_accuracy"][-1])
    lines = ["**The answer**"]
    for question, predicted, answer, detail in (
            ("Higher held-out accuracy", predicted_accuracy, _compare(acc_with, acc_without),
             f"with {acc_with:.1f}% vs without {acc_without:.1f}%"),
            ("Larger gap", predicted_gap, _compare(gap_with, gap_without),
             f"with {gap_with:.1f} vs without {gap_without:.1f} points")):
        if predicted in PREDICTIONS:
            verdict = "✓ your prediction was right" if predicted == answer else f"✗ you predicted *{predicted}*"
        else:
            verdict = "(no prediction made)"
        lines.append(f"* {question}: **{answer}** ({detail}) — {verdict}.")
    if acc_with > acc_without and gap_with < gap_without:
        lines.append("\nAugmentation closed part of the gap: the network could no longer memorise its labelled "
                     "digits, so more of what it learned holds for digits it never saw.")
    return "\n".join(lines)


def _status(runs: dict[str, dict], epochs: int, done: bool, notes: list[str]) -> str:
    parts = []
    for name, run in runs.items():
        if run.get("test_accuracy"):
            parts.append(f"{name}: held-out **{100 * run['test_accuracy'][-1]:.1f}%**, gap "
                         f"{100 * (run['train_accuracy'][-1] - run['test_accuracy'][-1]):.1f} points")
    epoch = max([len(run.get("test_accuracy", [])) for run in runs.values()] + [0])
    head = "**Done.**" if done else f"**Training…** epoch {epoch}/{epochs}."
    text = head + (" " + " · ".join(parts) if parts else "")
    if notes:
        text += "\n\n" + _notes_text(notes)
    return text


# --- the run ----------------------------------------------------------------------------------------------


def compare(start: Any, choice: Any, pipeline_json: Any, seed: Any, predicted_accuracy: Any = None,
            predicted_gap: Any = None) -> Iterator[tuple]:
    """Train without and with augmentation, interleaved epoch by epoch; yields (plot, table, status, reveal, JSON)
    after every epoch. Each run is exactly what `generalization(start, augmentation, seed)` returns."""
    start = parse_start(start)
    seed = _parse_seed(seed)
    augmentation = _ui_augmentation(choice, pipeline_json)
    pipeline = resolve(augmentation)
    config = _config(start, seed)
    source_state, mean, std = _source()
    gen = _gen()
    plans = {WITHOUT: "none"}
    if pipeline is not None:
        plans[WITH] = augmentation
    with user_errors():
        trainings = {name: gen.train(config, plan, source_state, mean, std) for name, plan in plans.items()}
    states: dict[str, Any] = {}
    runs: dict[str, dict] = {name: {} for name in plans}
    yield (plot_html(runs, config.epochs), table_rows(runs), _status(runs, config.epochs, False, []), "",
           gr.skip())
    for _ in range(config.epochs):
        with torch_threads(TRAIN_THREADS), user_errors():
            for name, training in trainings.items():
                states[name] = next(training)
                runs[name] = to_jsonable(states[name].to_dict())
        done = all(state.done for state in states.values())
        notes = states[WITH].notes if WITH in states else []
        result = {"start": start, "seed": seed, "without": runs[WITHOUT], "with": runs.get(WITH)}
        if WITH in runs:
            result["difference_points"] = round(
                100 * (runs[WITH]["final_test_accuracy"] - runs[WITHOUT]["final_test_accuracy"]), 2)
        yield (plot_html(runs, config.epochs), table_rows(runs), _status(runs, config.epochs, done, notes),
               reveal(runs, predicted_accuracy, predicted_gap) if done else "", result)


def empty_view() -> tuple[str, list, str]:
    config = _gen().GeneralizationConfig()
    runs = {WITHOUT: {}, WITH: {}}
    return (plot_html(runs, config.epochs), table_rows(runs),
            "Predict first, then press **Train both**: the run without augmentation and the run with it train "
            "side by side (about half a minute).")


# --- layout -----------------------------------------------------------------------------------------------


@dataclass
class SubTab:
    """The sub-tab's components a hand-off needs: `use_pipeline`'s outputs, and the tab to select (its id is
    "finetune-generalization" in the Fine-tuning tab's `gr.Tabs`)."""

    tab: gr.Tab
    augmentation: gr.Dropdown
    pipeline: gr.Code
    handoff_outputs: list


def build_tab() -> SubTab:
    """The "Augmentation's effect" sub-tab (call inside a `gr.Tabs`)."""
    config = _gen().GeneralizationConfig()
    plot0, rows0, status0 = empty_view()
    picture0, notes0 = preview("default", None, 0)  # a few milliseconds: what the default pipeline does
    with gr.Tab(TITLE, id="finetune-generalization", elem_id="generalization-tab") as tab:
        header("Augmentation's effect on generalisation, live", EXPLANATION, LINK)
        with gr.Accordion("Details: data, model, training, the default pipeline", open=False):
            gr.Markdown(DETAILS_TEMPLATE.format(
                k=config.examples_per_class, n=10 * config.examples_per_class, lr=config.lr,
                body_lr=config.lr * config.body_lr_mult, epochs=config.epochs, batch=config.batch_size,
                wd=config.weight_decay))
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=300):
                start = gr.Radio(START_CHOICES, value="scratch", label="Start from", elem_id="generalization-start")
                with gr.Row():
                    choice = gr.Dropdown(AUGMENTATION_CHOICES, value="default", label="Augmentation", scale=3,
                                         min_width=150, elem_id="generalization-augmentation")
                    seed = gr.Number(0, precision=0, minimum=0, label="Seed", scale=1, min_width=80,
                                     elem_id="generalization-seed")
                with gr.Row():
                    run_button = gr.Button("Train both", variant="primary", elem_id="generalization-run")
                    stop_button = gr.Button("Stop", variant="stop", elem_id="generalization-stop")
                with gr.Accordion("Custom pipeline (Albumentations JSON)", open=False,
                                  elem_id="generalization-custom") as custom:
                    pipeline = gr.Code(default_pipeline_text(), language="json", interactive=True, lines=6,
                                       max_lines=16, elem_id="generalization-pipeline",
                                       label="Paste the Augmentation tab's JSON export (or edit the default)")
                    use_button = gr.Button("Use this pipeline", elem_id="generalization-use")
            with gr.Column(scale=5):
                with gr.Group():
                    gr.Markdown("**Predict first** — the answer appears after the run", padding=True)
                    with gr.Row(equal_height=True):
                        predict_accuracy = gr.Radio(PREDICTION_CHOICES, value=None, min_width=240,
                                                    elem_id="generalization-predict-acc",
                                                    label="Which run ends with the higher held-out accuracy?")
                        predict_gap = gr.Radio(PREDICTION_CHOICES, value=None, min_width=240,
                                               elem_id="generalization-predict-gap",
                                               label="Which run ends with the larger gap (train − held-out)?")
                status = gr.Markdown(status0, elem_id="generalization-status")
                plot = gr.HTML(plot0, elem_id="generalization-plot", min_height=200)
                answer = gr.Markdown("", elem_id="generalization-reveal")
                table = gr.Dataframe(rows0, headers=TABLE_HEADERS, interactive=False, wrap=True,
                                     label="Final numbers (percent)", elem_id="generalization-table")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                picture = gr.Image(picture0, label="One labelled digit per class (top) and what the augmentation makes of it",
                                   type="numpy",
                                   format="png", interactive=False, height=300, elem_id="generalization-preview")
                notes = gr.Markdown(notes0, elem_id="generalization-notes")
            with gr.Column(scale=2, min_width=260):
                result = gr.JSON(label="Both runs (API: generalization, one run per call)", height=340,
                                 elem_id="generalization-json")

        ui = dict(api_visibility="private")
        run = run_button.click(compare, [start, choice, pipeline, seed, predict_accuracy, predict_gap],
                               [plot, table, status, answer, result], concurrency_limit=CONCURRENT_RUNS,
                               concurrency_id=CONCURRENCY_ID, show_progress_on=[status], **ui)
        stop_button.click(None, None, None, cancels=[run], **ui)
        gr.on([choice.input, seed.blur], preview, [choice, pipeline, seed], [picture, notes], show_progress="hidden",
              trigger_mode="always_last", **ui)
        choice.input(lambda value: gr.Accordion(open=True) if value == "custom" else gr.skip(), choice, custom,
                     show_progress="hidden", **ui)
        handoff_outputs = [choice, pipeline, picture, notes, custom]
        use_button.click(use_pipeline, pipeline, handoff_outputs, **ui)
        gr.api(generalization, api_name="generalization", concurrency_limit=CONCURRENT_RUNS,
               concurrency_id=CONCURRENCY_ID)
    return SubTab(tab=tab, augmentation=choice, pipeline=pipeline, handoff_outputs=handoff_outputs)
