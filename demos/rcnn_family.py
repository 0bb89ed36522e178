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

from typing import Any

import gradio as gr
import numpy as np
import torch

from core.data.scenes import CLASS_COLORS, CLASS_NAMES, SPLITS, make_scene
from demos.common import LATEX, LazyResource, book_link, image_upload, on_gpu, parse_seed, read_image, to_jsonable, user_errors

FAMILY: tuple[str, ...] = ("rcnn", "fast_rcnn", "faster_rcnn")
TITLES = {"rcnn": "R-CNN", "fast_rcnn": "Fast R-CNN", "faster_rcnn": "Faster R-CNN"}
STAGES: tuple[str, ...] = ("proposals", "features", "classify", "nms")

GENERATED = "generated scene (seed)"
UPLOADED = "your image"
SOURCES = [GENERATED, UPLOADED]
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

CONCURRENCY_ID = "rcnn_family"
"""The view and the API share one slot: R-CNN keeps both cores busy for seconds, a second run would only wait."""

TABLE_HEADERS = ["model", "proposals", "CNN forward passes", "proposals s", "features s", "classify s", "NMS s",
                 "total s", "detections", "test mAP@0.5", "test mAP@[.5:.95]"]


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _loader(name: str):
    def load():
        from core.models import rcnn_family

        return rcnn_family.load(name, _device())

    return load


MODELS = {name: LazyResource(_loader(name)) for name in FAMILY}


def available() -> list[str]:
    """The family members whose weights are embedded."""
    from core.hub import WEIGHTS_DIR

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

    from demos.detection import FONT, _font_size

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
    where = "the RPN's RoIs" if name == "faster_rcnn" else "selective-search proposals"
    s = item["seconds"]
    return (f"**{TITLES[name]}** · {item['proposals']:,} {where} (best-ranked {drawn} drawn, thin yellow) · "
            f"**{item['cnn_forward_passes']:,}** CNN forward pass{'es' if item['cnn_forward_passes'] != 1 else ''} · "
            f"features **{s['features']:.2f} s** · {len(item['detections'])} detections (labelled)")


def _input(source: str, seed: Any, upload: Any) -> tuple[np.ndarray, str]:
    if source not in SOURCES:
        raise gr.Error(f"Unknown input {source!r}; choose one of {SOURCES}.")
    if source == GENERATED:
        value = parse_seed(seed)
        with user_errors():
            scene = make_scene(value)
        split = next((name for name, seeds in SPLITS.items() if value in seeds), None)
        return scene.image, f"generated scene, seed {value} ({split + ' split' if split else 'no split'})"
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


def build_subtab() -> None:
    """The "R-CNN family" sub-tab (call inside the Detection tab's `gr.Tabs`)."""
    with gr.Tab("R-CNN family", elem_id="detection-family-tab") as tab:
        gr.Markdown(EXPLANATION + LINK, latex_delimiters=LATEX)
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=260):
                source = gr.Radio(SOURCES, value=GENERATED, label="input", elem_id="family-source")
                seed = gr.Number(value=DEFAULT_SEED, precision=0, minimum=0, label="scene seed",
                                 info=f"test split: {SPLITS['test'].start}–{SPLITS['test'].stop - 1}",
                                 elem_id="family-seed")
                upload = image_upload(label="or your image", height=110, sources=["upload", "clipboard"],
                                      elem_id="family-upload")
                limit = gr.Slider(10, MAX_PROPOSALS, value=MAX_PROPOSALS, step=10,
                                  label="proposals classified by R-CNN and Fast R-CNN (best-ranked; max = all)",
                                  elem_id="family-limit")
                shown = gr.Slider(0, 300, value=DEFAULT_SHOWN, step=10, label="proposals drawn per picture",
                                  elem_id="family-shown")
                score = gr.Slider(0.05, 0.95, value=DEFAULT_SCORE, step=0.05, label="score threshold",
                                  elem_id="family-score")
                run = gr.Button("Compare the three", variant="primary", elem_id="family-run")
            with gr.Column(scale=4, min_width=300):
                summary = gr.Markdown("Press *Compare the three* (R-CNN takes a few seconds: that is the point).",
                                      elem_id="family-summary")
                table = gr.Dataframe(headers=TABLE_HEADERS, label="per model: counts, seconds per stage, test mAP",
                                     interactive=False, wrap=True, elem_id="family-table")
                with gr.Row(equal_height=False):
                    pictures, captions = [], []
                    for name in FAMILY:
                        with gr.Column(min_width=280):
                            pictures.append(gr.Image(type="numpy", format="jpeg", label=TITLES[name],
                                                     interactive=False, height=360, elem_id=f"family-picture-{name}",
                                                     buttons=["download", "fullscreen"]))
                            captions.append(gr.Markdown(elem_id=f"family-caption-{name}"))
                with gr.Accordion("numbers (JSON)", open=False):
                    numbers = gr.JSON(show_label=False, height=260, elem_id="family-json")

    inputs = [source, seed, upload, limit, shown, score]
    outputs = [summary, table, *pictures, *captions, numbers]
    run.click(family_view, inputs=inputs, outputs=outputs, api_name="rcnn_family_view", api_visibility="private",
              concurrency_limit=1, concurrency_id=CONCURRENCY_ID)
    gr.on([tab.select, seed.submit, source.input, limit.release, score.release, upload.change], family_view,
          inputs=inputs, outputs=outputs, api_name="rcnn_family_view_ui", api_visibility="private",
          trigger_mode="always_last", concurrency_limit=1, concurrency_id=CONCURRENCY_ID, show_progress="minimal")

    api_image = image_upload(visible=False)
    api_json = gr.JSON(visible=False)
    api_button = gr.Button(visible=False)
    api_button.click(family_endpoint, inputs=api_image, outputs=api_json, api_name="rcnn_family",
                     concurrency_limit=1, concurrency_id=CONCURRENCY_ID)
