"""The R-CNN family side by side: a sub-tab of the Detection tab (`build_subtab`) and the ``/rcnn_family`` API.

One image through R-CNN, Fast R-CNN and Faster R-CNN (all trained here, `core.models.rcnn_family`): the
proposals each classified (a readable top subset drawn, the total counted), how many inputs its CNN ran on, the
seconds of each stage (proposals, features, classify, NMS), its detections and its test-split mAP from its card.
A slider limits R-CNN and Fast R-CNN to the best-ranked n proposals: R-CNN's features time follows n, Fast
R-CNN's does not (the lecture's claim, measured live; ``python -m benchmarks.rcnn_family`` measures it offline).

Endpoint contract: ``/rcnn_family(image)`` -> ``{"rcnn": {...}, "fast_rcnn": {...}, "faster_rcnn": {...}}``, each
``{"proposals": int, "cnn_forward_passes": int, "seconds": {"proposals", "features", "classify", "nms"},
"total_seconds": float, "detections": [records of /detect]}`` (score threshold `DEFAULT_SCORE`, every proposal).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import gradio as gr
import numpy as np
import torch

from core.data.scenes import CLASS_COLORS, CLASS_NAMES, SPLITS
from core.models.rcnn import STAGES
from core.models.rcnn_family import FAMILY, TITLES
from core.weights.registry import load_model
from demos.common import (LATEX, LazyResource, book_link, column_widths, image_upload, on_gpu, read_image,
                          to_jsonable)
from demos.inputs import user_errors

GENERATED = "scene"
UPLOADED = "upload"
SOURCES = (GENERATED, UPLOADED)
"""The input's values (in links: ``family_input=``)."""
SOURCE_LABELS = {GENERATED: "generated scene (seed)", UPLOADED: "your image"}
DEFAULT_SEED = SPLITS["test"].start
"""The first held-out test scene: the default input."""
DEFAULT_SCORE = 0.5
DEFAULT_SHOWN = 40
"""Proposals drawn per picture (the best-ranked; the total is stated)."""
MAX_PROPOSALS = 2000
MAX_PHOTO_SIDE = 1024
DISPLAY_SIDE = 360
"""Pictures are drawn with their shorter side at least this long."""
PROPOSAL_COLOR = "#ffd600"

_FONT_FILE = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
FONT = _FONT_FILE if os.path.isfile(_FONT_FILE) else None
"""A TrueType font for box labels when the system has one (else torchvision's small default)."""


def _font_size(tensor: torch.Tensor) -> int:
    return max(12, min(22, round(min(tensor.shape[-2:]) / 32)))

CONCURRENCY_ID = "rcnn_family"
"""The view and the API share one slot: R-CNN keeps both cores busy for seconds, a second run would only wait."""

TABLE_HEADERS = ["model", "proposals", "CNN passes", "proposals s", "features s", "classify s", "NMS s", "total s",
                 "boxes found", "mAP@0.5", "mAP"]
"""The table's columns; the two mAP columns are the test split's (500 scenes), from each model's card."""


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


WARMUP_RUNS = 2
"""Runs on a blank image when a model loads, so that the first comparison a student sees is not slowed by
oneDNN building its kernels (the timings are the point of the view)."""


def _loader(name: str):
    def load():
        from core.models import rcnn_family

        model = load_model(name, _device())  # the one shared copy (`core.weights.registry`)
        blank = np.full((256, 256, 3), 127, np.uint8)
        blank[64:192, 64:192] = 40  # one square: a few proposals
        for _ in range(WARMUP_RUNS):
            rcnn_family.detect_timed(name, model, blank, DEFAULT_SCORE)
        return model

    return load


MODELS = {name: LazyResource(_loader(name)) for name in FAMILY}
"""Each model of the family, loaded through `core.weights.registry.load_model` and warmed up once."""


def available() -> list[str]:
    """The family members whose weights are embedded."""
    from core.weights.hub import WEIGHTS_DIR

    return [n for n in FAMILY if (WEIGHTS_DIR / f"{n}.json").is_file() and (WEIGHTS_DIR / f"{n}.safetensors").is_file()]


def _require_all() -> None:
    missing = [n for n in FAMILY if n not in available()]
    if missing:
        raise gr.Error(f"The weights of {', '.join(missing)} are not in weights/ yet "
                       f"(train them with `python -m core.train {missing[0]}`).")


def run_model(model: str, image: np.ndarray, score_threshold: float, iou_threshold: float):
    """``/detect`` for "rcnn" and "fast_rcnn": a `demos.detection.Result` (boxes in the image's pixels)."""
    from core.models import rcnn_family
    from demos.detection import Result

    with user_errors():
        timed = rcnn_family.detect_timed(model, MODELS[model].get(), image, score_threshold, iou_threshold)
    return Result(timed.boxes, timed.scores, timed.labels, None, timed.total_seconds * 1000)


# --- the comparison -------------------------------------------------------------------------------------------


def _records(timed: Any) -> list[dict[str, Any]]:
    from demos.detection import Result, detections_json

    return detections_json(Result(timed.boxes, timed.scores, timed.labels, None, 0.0))


def _summary(name: str, timed: Any) -> dict[str, Any]:
    return {
        "proposals": int(timed.num_proposals),
        "cnn_forward_passes": int(timed.cnn_forward_passes),
        "seconds": {stage: round(float(timed.seconds[stage]), 4) for stage in STAGES},
        "total_seconds": round(float(timed.total_seconds), 4),
        "detections": _records(timed),
    }


def compare(image: np.ndarray, score_threshold: float = DEFAULT_SCORE, max_proposals: int | None = None
            ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The three models on one (H, W, 3) uint8 image: (the timed results, the JSON of ``/rcnn_family``)."""
    from core.models import rcnn_family

    _require_all()
    models = {name: MODELS[name].get() for name in FAMILY}
    with user_errors():
        results = rcnn_family.compare(models, image, score_threshold, max_proposals)
    return results, {name: _summary(name, results[name]) for name in FAMILY}


def _test_map(name: str) -> tuple[float | None, float | None]:
    from core.models import rcnn_family

    metrics = rcnn_family.card_metrics(name)
    return metrics.get("test_map_50"), metrics.get("test_map")


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def table_rows(numbers: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for name in FAMILY:
        item = numbers[name]
        map50, map_all = _test_map(name)
        rows.append([TITLES[name], item["proposals"], item["cnn_forward_passes"],
                     *(f"{item['seconds'][s]:.3f}" for s in STAGES), f"{item['total_seconds']:.3f}",
                     len(item["detections"]), _fmt(map50), _fmt(map_all)])
    return rows


def picture(image: np.ndarray, timed: Any, shown: int) -> np.ndarray:
    """The image at display size with the best-ranked `shown` proposals (thin) and the detections (labelled)."""
    from torchvision.utils import draw_bounding_boxes


    height, width = image.shape[:2]
    factor = min(max(1.0, DISPLAY_SIDE / min(height, width)), 2048 / max(height, width))
    tensor = torch.from_numpy(np.require(image, requirements=("C", "W"))).permute(2, 0, 1)
    if factor != 1.0:
        size = (round(height * factor), round(width * factor))
        tensor = torch.nn.functional.interpolate(tensor[None].float(), size=size, mode="bilinear",
                                                 align_corners=False)[0].round().clamp(0, 255).to(torch.uint8)
    proposals = timed.proposals[:shown] * factor
    if len(proposals):
        tensor = draw_bounding_boxes(tensor, proposals, colors=[PROPOSAL_COLOR] * len(proposals), width=1)
    if len(timed.scores):
        labels = [f"{CLASS_NAMES[int(k)]} {s:.2f}" for k, s in zip(timed.labels.tolist(), timed.scores.tolist())]
        colors = [CLASS_COLORS[int(k)] for k in timed.labels.tolist()]
        tensor = draw_bounding_boxes(tensor, timed.boxes * factor, labels=labels, colors=colors, width=3,
                                     font=FONT, font_size=_font_size(tensor) if FONT else None)
    return tensor.permute(1, 2, 0).numpy()


def caption(name: str, item: dict[str, Any], shown: int) -> str:
    drawn = min(shown, item["proposals"])
    where = "RoIs from its RPN" if name == "faster_rcnn" else "selective-search proposals"
    s = item["seconds"]
    return (f"**{TITLES[name]}** · {item['proposals']:,} {where} (best-ranked {drawn} drawn, thin yellow) · "
            f"**{item['cnn_forward_passes']:,}** CNN forward pass{'es' if item['cnn_forward_passes'] != 1 else ''} · "
            f"features **{s['features']:.2f} s** · {len(item['detections'])} detections (labelled)")


def _input(source: str, seed: Any, upload: Any) -> tuple[np.ndarray, str]:
    if source not in SOURCES:
        raise gr.Error(f"Unknown input {source!r}; choose one of {list(SOURCES)}.")
    if source == GENERATED:
        from demos import detection  # the Detection tab's own input (it imports this module at its top)

        generated = detection.make_input(detection.GENERATED, seed, None, None)
        return generated.image, generated.description
    if upload is None or upload == "":
        raise gr.Error("Upload an image first (or choose the generated scene).")
    return read_image(upload, max_side=MAX_PHOTO_SIDE), "your image"


def _check_score(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise gr.Error(f"Score threshold must be a number between 0 and 1, got {value!r}.") from None
    if not 0.0 <= number <= 1.0:
        raise gr.Error(f"Score threshold must be between 0 and 1, got {number}.")
    return number


def _check_count(value: Any, name: str, low: int, high: int) -> int:
    try:
        number = int(float(value))
    except (TypeError, ValueError):
        raise gr.Error(f"{name} must be a whole number, got {value!r}.") from None
    if not low <= number <= high:
        raise gr.Error(f"{name} must be between {low} and {high}, got {number}.")
    return number


@on_gpu(duration=120)
def family_view(source: str, seed: Any, upload: Any, max_proposals: Any, shown: Any, score_threshold: Any):
    """The sub-tab: (summary Markdown, table rows, three pictures, three captions, JSON)."""
    image, description = _input(source, seed, upload)
    limit = _check_count(max_proposals, "Proposals classified", 1, MAX_PROPOSALS)
    drawn = _check_count(shown, "Proposals drawn", 0, 500)
    score = _check_score(score_threshold)
    results, numbers = compare(image, score, None if limit >= MAX_PROPOSALS else limit)
    r, f = numbers["rcnn"], numbers["fast_rcnn"]
    ratio = r["seconds"]["features"] / max(f["seconds"]["features"], 1e-9)
    summary = (f"**{description}** · {image.shape[1]}×{image.shape[0]} px · R-CNN ran its CNN on "
               f"**{r['cnn_forward_passes']:,}** warped regions in **{r['seconds']['features']:.2f} s**; Fast R-CNN "
               f"ran it **once** in **{f['seconds']['features']:.3f} s** ({ratio:,.0f}× less) and pooled the same "
               f"{f['proposals']:,} proposals from its feature map. Selective search (both): "
               f"{r['seconds']['proposals']:.2f} s; Faster R-CNN's RPN: {numbers['faster_rcnn']['seconds']['proposals']:.3f} s.")
    pictures = [picture(image, results[name], drawn) for name in FAMILY]
    captions = [caption(name, numbers[name], drawn) for name in FAMILY]
    payload = {"input": description, "score_threshold": score, "max_proposals": limit, **numbers}
    return summary, table_rows(numbers), *pictures, *captions, to_jsonable(payload)


@on_gpu(duration=120)
def family_endpoint(image: Any):
    """``/rcnn_family(image)``: the three models on one image (JSON, see the module docstring)."""
    if image is None or (isinstance(image, str) and not image):
        raise gr.Error("Please give an image.")
    array = read_image(image, max_side=MAX_PHOTO_SIDE)
    _, numbers = compare(array, DEFAULT_SCORE)
    return to_jsonable(numbers)


# --- selective search, step by step --------------------------------------------------------------------------

SEARCH_STRATEGY_TEXT = "HSV, k = 100, colour + texture + size + fill (the paper's single strategy)"


@lru_cache(maxsize=8)
def _hierarchy(key: bytes, shape: tuple[int, ...]):
    """The grouping of one prepared image (cached by its bytes: the slider only redraws)."""
    from core.ops.selective_search import SINGLE, group_regions

    image = np.frombuffer(key, np.uint8).reshape(shape)
    return group_regions(image, SINGLE[0])


def _region_colours(count: int) -> np.ndarray:
    """(count, 3) uint8 colours that tell neighbouring regions apart (golden-angle hues; they mean nothing)."""
    import colorsys

    return np.array([colorsys.hsv_to_rgb((i * 0.618034) % 1.0, 0.75, 0.95) for i in range(count)]) * 255


def search_step_view(source: str, seed: Any, upload: Any, percent: Any):
    """(picture of the regions after a share of the merges with the last merge boxed, caption)."""
    from core.models.rcnn import prepare
    from torchvision.utils import draw_bounding_boxes

    image, description = _input(source, seed, upload)
    share = _check_count(percent, "Merges done", 0, 100)
    with user_errors():
        prepared, _ = prepare(image)
        hierarchy = _hierarchy(prepared.tobytes(), prepared.shape)
    n = hierarchy.num_initial
    step = round(share / 100 * (n - 1))
    labels = hierarchy.labels_at(step)
    colours = _region_colours(hierarchy.num_regions)
    overlay = (0.45 * prepared + 0.55 * colours[labels]).astype(np.uint8)
    factor = max(1.0, DISPLAY_SIDE / min(overlay.shape[:2]))
    tensor = torch.from_numpy(np.ascontiguousarray(overlay)).permute(2, 0, 1)
    if factor != 1.0:
        size = (round(overlay.shape[0] * factor), round(overlay.shape[1] * factor))
        tensor = torch.nn.functional.interpolate(tensor[None], size=size, mode="nearest")[0]
    current = np.unique(labels)
    text = [f"**{description}**, as selective search sees it ({prepared.shape[1]}×{prepared.shape[0]} px), "
            f"strategy {SEARCH_STRATEGY_TEXT}: **{n}** Felzenszwalb regions, **{n - 1}** merges in all. "
            f"After **{step}** merge{'s' if step != 1 else ''}: **{len(current)}** region{'s' if len(current) != 1 else ''}."]
    if step > 0:
        a, b, t = (int(v) for v in hierarchy.merges[step - 1])
        colour, texture, size, fill = hierarchy.components[step - 1]
        box = hierarchy.boxes[t]
    
        tensor = draw_bounding_boxes(tensor, torch.tensor(box[None] * factor, dtype=torch.float32),
                                     labels=[f"merge {step}: {a} + {b} -> {t}"], colors=["#ffffff"], width=3,
                                     font=FONT, font_size=_font_size(tensor) if FONT else None)
        text.append(f"Merge {step} joined regions {a} and {b} (the most similar neighbours) into region {t}, box "
                    f"[{', '.join(f'{v:.0f}' for v in box)}] (white): $s$ = {hierarchy.similarity[step - 1]:.3f} = "
                    f"colour {colour:.3f} + texture {texture:.3f} + size {size:.3f} + fill {fill:.3f}.")
    text.append("Every region that ever exists, the initial ones and each merge's, gives one proposal box.")
    return tensor.permute(1, 2, 0).numpy(), "\n\n".join(text)


SEARCH_EXPLANATION = r"""
Felzenszwalb's graph segmentation over-segments the image; then the two most similar *neighbouring* regions are
merged, again and again, until one region is left. Similarity $s(a,b) = s_\text{colour} + s_\text{texture} +
s_\text{size} + s_\text{fill}$: histogram intersections $\sum_k \min(C_a^k, C_b^k)$ of colour and texture, plus
bonuses for merging small regions first and for pairs that fill their joint box. Colours below only tell the
current regions apart. The proposals above use 8 such strategies (HSV and Lab, k = 50 and 100, with and without
colour), deduplicated.
"""


# --- UI ------------------------------------------------------------------------------------------------------

EXPLANATION = r"""
**Three generations on one image.** *R-CNN* warps each of the $n$ selective-search proposals to 64×64 px and runs
the CNN on every one, then a linear SVM per class scores it and a ridge regressor refines its box. *Fast R-CNN* runs
the same CNN **once** on the whole image; *RoI pooling* cuts a fixed 7×7 grid out of the feature map for each
proposal (max over the cells of each bin), and fully connected layers give softmax scores over classes +
background and box offsets. *Faster R-CNN* replaces selective search by a region proposal network on its own
feature map.

$$T_{\text{R-CNN}} \approx T_{\text{search}} + n\,T_{\text{CNN}}(64^2) \qquad
T_{\text{Fast}} \approx T_{\text{search}} + T_{\text{CNN}}(H\times W) + n\,T_{\text{fc}}$$

Watch the **features** column: R-CNN's grows with the number of proposals (lower the slider), Fast R-CNN's
does not. """

LINK = book_link("rcnn.html", "14.8 Region-based CNNs (R-CNNs)")


DEFAULT_MERGES = 50
"""The selective-search stepper's default: half of the merges done."""


@dataclass
class FamilySubtab:
    """What `build_subtab` hands to the Detection tab, which puts the settings in its view (and so in links).

    controls: input, scene seed, proposals classified, proposals drawn, score threshold, merges done (%): the
        Detection view's ``family_*`` fields, in order. A link restores them, then opens the sub-tab, whose
        opening computes the comparison and the search step with them.
    upload: the sub-tab's own image upload (a link cannot carry it).
    outputs: `family_view`'s outputs, then `search_step_view`'s.
    """

    controls: list[gr.components.Component]
    upload: gr.components.Component
    outputs: list[gr.components.Component]


def build_subtab(title: str = "R-CNN family", tab_id: str = "family") -> FamilySubtab:
    """The "R-CNN family" sub-tab (call inside the Detection tab's `gr.Tabs`; `tab_id` is its ``part=``)."""
    with gr.Tab(title, id=tab_id, elem_id="detection-family-tab") as tab:
        gr.Markdown(EXPLANATION + LINK, latex_delimiters=LATEX)
        # the sub-tab sits in the Detection tab's right column (~900 px at 1366): two controls a row
        with gr.Row(equal_height=False):
            with gr.Column(min_width=240):
                source = gr.Radio([(SOURCE_LABELS[v], v) for v in SOURCES], value=GENERATED, label="input",
                                  elem_id="family-source")
                seed = gr.Number(value=DEFAULT_SEED, precision=0, minimum=0, label="scene seed",
                                 info=f"test split: {SPLITS['test'].start}–{SPLITS['test'].stop - 1}",
                                 elem_id="family-seed")
            upload = image_upload(label="or your image", height=190, sources=["upload", "clipboard"],
                                  elem_id="family-upload", min_width=260)
        with gr.Row(equal_height=False):
            limit = gr.Slider(10, MAX_PROPOSALS, value=MAX_PROPOSALS, step=10,
                              label="proposals classified by R-CNN, Fast R-CNN (max = all)",
                              elem_id="family-limit", min_width=260)
            shown = gr.Slider(0, 300, value=DEFAULT_SHOWN, step=10, label="proposals drawn per picture",
                              elem_id="family-shown", min_width=260)
        with gr.Row(equal_height=False):
            score = gr.Slider(0.05, 0.95, value=DEFAULT_SCORE, step=0.05, label="score threshold",
                              elem_id="family-score", min_width=260)
            run = gr.Button("Compare the three", variant="primary", elem_id="family-run", min_width=200)
        summary = gr.Markdown("Press *Compare the three* (R-CNN takes a few seconds: that is the point).",
                              elem_id="family-summary")
        table = gr.Dataframe(headers=TABLE_HEADERS, label="per model: counts, seconds per stage, test-split mAP",
                             interactive=False, wrap=True, elem_id="family-table",
                             column_widths=column_widths(6, 9, 6, 9, 8, 8, 5, 5, 5, 7, 5))  # each header's longest word
        with gr.Row(equal_height=False):
            pictures, captions = [], []
            for name in FAMILY:
                with gr.Column(min_width=240):
                    pictures.append(gr.Image(type="numpy", format="jpeg", label=TITLES[name], interactive=False,
                                             height=320, elem_id=f"family-picture-{name}",
                                             buttons=["download", "fullscreen"]))
                    captions.append(gr.Markdown(elem_id=f"family-caption-{name}"))
        with gr.Accordion("numbers (JSON)", open=False):
            numbers = gr.JSON(show_label=False, height=260, elem_id="family-json")
        with gr.Accordion("Selective search, step by step", open=True):
            gr.Markdown(SEARCH_EXPLANATION, latex_delimiters=LATEX)
            with gr.Row(equal_height=False):
                with gr.Column(scale=1, min_width=240):
                    progress = gr.Slider(0, 100, value=DEFAULT_MERGES, step=1, label="merges done (% of all)",
                                         elem_id="family-search-progress")
                    search_caption = gr.Markdown(elem_id="family-search-caption")
                search_picture = gr.Image(type="numpy", format="png", label="regions after this many merges",
                                          interactive=False, height=360, elem_id="family-search-picture", scale=2,
                                          min_width=260)
        # /rcnn_family: the API contract (hidden components, inside the tab: gr.Tabs holds only tabs)
        api_image = image_upload(visible=False)
        api_json = gr.JSON(visible=False)
        api_button = gr.Button(visible=False)

    inputs = [source, seed, upload, limit, shown, score]
    outputs = [summary, table, *pictures, *captions, numbers]
    run.click(family_view, inputs=inputs, outputs=outputs, api_name="rcnn_family_view", api_visibility="private",
              concurrency_limit=1, concurrency_id=CONCURRENCY_ID)
    compare = dict(fn=family_view, inputs=inputs, outputs=outputs, api_name="rcnn_family_view_ui",
                   api_visibility="private", trigger_mode="always_last", concurrency_limit=1,
                   concurrency_id=CONCURRENCY_ID, show_progress="minimal")
    step = dict(fn=search_step_view, inputs=[source, seed, upload, progress], outputs=[search_picture, search_caption],
                api_name="rcnn_family_search_ui", api_visibility="private", trigger_mode="always_last",
                show_progress="minimal")
    gr.on([tab.select, seed.submit, source.input, limit.release, score.release], **compare)
    gr.on([tab.select, progress.release, seed.submit, source.input], **step)
    # an upload (or its removal) chooses the input itself, then both views follow
    chosen = upload.change(lambda image: GENERATED if image is None else UPLOADED, inputs=upload, outputs=source,
                           queue=False, api_visibility="private")
    chosen.then(**compare)
    chosen.then(**step)

    api_button.click(family_endpoint, inputs=api_image, outputs=api_json, api_name="rcnn_family",
                     concurrency_limit=1, concurrency_id=CONCURRENCY_ID)
    return FamilySubtab(controls=[source, seed, limit, shown, score, progress], upload=upload,
                        outputs=[*outputs, search_picture, search_caption])
