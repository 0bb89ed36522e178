"""Augmentation playground: Albumentations pipelines you can see, reproduce and export.

Presets reproduce the book's figures (flips, RandomResizedCrop, ColorJitter, the composed pipeline);
a builder chains any of the curated transforms; a grid of n samples from one seed shows what every
sample drew; boxes and masks follow the image; the pipeline exports as Albumentations JSON/YAML and code.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from typing import Any

import gradio as gr
import numpy as np

from demos import inputs
from demos.common import LazyResource, book_link, column_widths, header, image_upload, read_image
from demos.inputs import user_errors
from demos.router import Handoff, TabUI
from demos.view import View, param

TITLE = "Augmentation"

MAX_UPLOAD_SIDE = 1024
MAX_BOXES = 32
MAX_OUTPUT_PIXELS = 16 * 1024 * 1024
"""n x output height x width per request: 16 samples of 1024 x 1024 at most. Drawing is the slow part (about
0.25 s per megapixel on one core), so a pipeline resizing to 2048 x 2048 with n = 16 would hold a worker for
many seconds; it is refused with a message instead."""

_core = LazyResource(lambda: importlib.import_module("core.data.augment"))
"""core.data.augment imports Albumentations (seconds): loaded on first use, not at import of this module."""

FORMULA = r"""
Each sample draws its own random parameters $\theta$ (flip or not, the jitter factors, the crop box …) and
applies **the same** transform to the image, its boxes and its mask:
$\tilde x = T_\theta(x),\ \tilde b = T_\theta(b),\ \tilde m = T_\theta(m),\ \theta \sim p(\theta)$.
A box is kept when $\lvert T_\theta(b) \cap \text{image}\rvert \,/\, \lvert T_\theta(b)\rvert \ge$ `min_visibility`.
The book's composed pipeline, shown first: **HorizontalFlip** mirrors the image with probability $p = 0.5$;
**ColorJitter**(brightness, contrast, saturation, hue $= 0.5$) multiplies the brightness, the contrast and the
saturation by factors drawn from $U(0.5, 1.5)$ and turns the hue by $\delta \sim U(-0.5, 0.5)$ of the colour
circle (up to 180°: why a cat can come out purple or green), the four in a random order;
**RandomResizedCrop** draws an area fraction $s \sim U(0.1, 1)$ and an aspect ratio
$\log r \sim U(\log 0.5, \log 2)$, crops $w = \sqrt{s r HW} \times h = \sqrt{s HW / r}$ and resizes it to 200 × 200.
The table lists what each sample actually drew; the same seed always gives the same grid. `p` is the probability
that a step is applied.
"""


def _aug():
    return _core.get()


# --- text <-> values ------------------------------------------------------------------------


def boxes_text(boxes: np.ndarray, names: list[str]) -> str:
    """'x1, y1, x2, y2, name' per line."""
    return "\n".join(
        f"{x1:g}, {y1:g}, {x2:g}, {y2:g}, {name}" for (x1, y1, x2, y2), name in zip(boxes.tolist(), names)
    )


def parse_boxes(text: str | None) -> tuple[np.ndarray, list[str]]:
    """Parse 'x1, y1, x2, y2[, name]' lines into (K, 4) float32 pixel boxes and their names."""
    boxes, names = [], []
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.replace(";", ",").split(",")]
        if len(parts) < 4:
            raise gr.Error(f"Boxes, line {number}: expected 'x1, y1, x2, y2, name', got {line!r}.")
        try:
            coordinates = [float(p) for p in parts[:4]]
        except ValueError:
            raise gr.Error(f"Boxes, line {number}: the first four values must be numbers, got {line!r}.") from None
        boxes.append(coordinates)
        names.append(", ".join(p for p in parts[4:] if p) or f"box {len(names) + 1}")
    if len(boxes) > MAX_BOXES:
        raise gr.Error(f"At most {MAX_BOXES} boxes, got {len(boxes)}.")
    return np.asarray(boxes, dtype=np.float32).reshape(-1, 4), names


def _pipeline_json(pipeline: dict) -> str:
    return json.dumps(pipeline, indent=2)


def _steps_table(pipeline: dict) -> list[list[Any]]:
    aug = _aug()
    rows = []
    for number, step in enumerate(aug.pipeline_steps(pipeline), start=1):
        name = step["__class_fullname__"]
        if "transforms" in step:
            args = aug.step_params(step)
            inner = ", ".join(child["__class_fullname__"] for child in args.pop("transforms"))
            args = {"of": inner, **args}
        else:
            args = aug.step_arguments(step)  # p, the ranges, and non-default scalars
        p = args.pop("p", None)
        rows.append([number, name, p, ", ".join(f"{k}={json.dumps(v)}" for k, v in args.items())])
    return rows or [["", "(empty: add a step)", "", ""]]


def _builder_views(pipeline: dict) -> tuple:
    """Outputs shared by every builder action: state, steps table, JSON, YAML."""
    return pipeline, _steps_table(pipeline), _pipeline_json(pipeline), _aug().to_yaml(pipeline)


def _step_index(step_number: Any, pipeline: dict) -> int:
    try:
        index = int(float(step_number)) - 1
    except (TypeError, ValueError):
        raise gr.Error(f"Step must be a whole number, got {step_number!r}.") from None
    count = len(_aug().pipeline_steps(pipeline))
    if count == 0:
        raise gr.Error("The pipeline is empty: add a step first.")
    if not 0 <= index < count:
        raise gr.Error(f"Step {index + 1} does not exist: the pipeline has {count} step(s).")
    return index


def _parse_params(text: str, name: str) -> dict:
    text = (text or "").strip() or "{}"
    try:
        params = json.loads(text)
    except json.JSONDecodeError as error:
        raise gr.Error(f"Parameters of {name} are not valid JSON: {error.msg} (line {error.lineno}).") from None
    if not isinstance(params, dict):
        raise gr.Error(f"Parameters of {name} must be a JSON object like {{\"p\": 0.5}}.")
    return params


# --- actions --------------------------------------------------------------------------------


def load_preset(preset: str, min_visibility: float) -> tuple:
    """The builder's views for a preset (its id, `PRESET_IDS`, or its name)."""
    if preset == CUSTOM:  # chosen by hand: the pipeline stays as built
        return (gr.skip(),) * 4
    with user_errors():
        return _builder_views(_aug().preset(PRESET_IDS.get(preset, preset), min_visibility=float(min_visibility)))


def transform_defaults(name: str) -> str:
    with user_errors():
        return json.dumps(_aug().step_params(_aug().default_step(name)))


def add_step(pipeline: dict, name: str, params_text: str) -> tuple:
    with user_errors():
        aug = _aug()
        step = aug.make_step(name, _parse_params(params_text, name))
        steps = aug.pipeline_steps(pipeline) + [step]
        if len(steps) > aug.MAX_STEPS:
            raise gr.Error(f"At most {aug.MAX_STEPS} steps.")
        new = aug.with_steps(pipeline, steps)
        return (*_builder_views(new), len(steps))


def replace_selected(pipeline: dict, step_number: Any, name: str, params_text: str) -> tuple:
    with user_errors():
        aug = _aug()
        index = _step_index(step_number, pipeline)
        step = aug.make_step(name, _parse_params(params_text, name))
        return _builder_views(aug.with_steps(pipeline, aug.replace_step(aug.pipeline_steps(pipeline), index, step)))


def move(pipeline: dict, step_number: Any, offset: int) -> tuple:
    with user_errors():
        aug = _aug()
        index = _step_index(step_number, pipeline)
        steps = aug.move_step(aug.pipeline_steps(pipeline), index, offset)
        new_index = min(max(index + offset, 0), len(steps) - 1)
        return (*_builder_views(aug.with_steps(pipeline, steps)), new_index + 1)


def remove(pipeline: dict, step_number: Any) -> tuple:
    with user_errors():
        aug = _aug()
        index = _step_index(step_number, pipeline)
        steps = aug.remove_step(aug.pipeline_steps(pipeline), index)
        return (*_builder_views(aug.with_steps(pipeline, steps)), max(1, min(index + 1, len(steps))))


def select_step(pipeline: dict, evt: gr.SelectData) -> tuple:
    """Clicking a row of the steps table selects that step and loads it into the editor."""
    aug = _aug()
    steps = aug.pipeline_steps(pipeline)
    row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
    if not steps or row is None or not 0 <= int(row) < len(steps):
        return gr.update(), gr.update(), gr.update()
    step = steps[int(row)]
    name = step["__class_fullname__"]
    editor_name = name if name in aug.TRANSFORMS else gr.update()
    return int(row) + 1, editor_name, json.dumps(aug.step_params(step))


def set_min_visibility(pipeline: dict, min_visibility: float) -> tuple:
    with user_errors():
        return _builder_views(_aug().with_min_visibility(pipeline, float(min_visibility)))


def import_pipeline(text: str, data_format: str) -> tuple:
    """Paste JSON or YAML in Albumentations' serialized form: restores the builder."""
    with user_errors():
        aug = _aug()
        pipeline = aug.from_text(text, data_format) if data_format == "yaml" else aug.parse_pipeline(text)
        return (*_builder_views(pipeline), aug.min_visibility_of(pipeline))


def scene_boxes(scene_name: str) -> str:
    with user_errors():
        scene = _aug().scene(scene_name)
        return boxes_text(scene.boxes, scene.names)


def _source(scene_name: str | None, upload: Any, boxes_text_value: str | None) -> tuple:
    """(image, boxes, names, mask, label): an upload with typed boxes, or a bundled scene."""
    aug = _aug()
    if upload:
        image = read_image(upload, max_side=MAX_UPLOAD_SIDE)
        boxes, names = parse_boxes(boxes_text_value)
        return image, boxes, names, None, "your image"
    name = scene_name or aug.DEFAULT_SCENE
    scene = aug.scene(name)
    if boxes_text_value is None:
        boxes, names = scene.boxes, scene.names
    else:
        boxes, names = parse_boxes(boxes_text_value)
    return scene.image, boxes, names, scene.mask, name


def _n(n: Any) -> int:
    return inputs.whole(n, "Number of samples", low=1, high=_aug().MAX_SAMPLES)


def _pipeline_from_text(pipeline: Any) -> dict:
    if isinstance(pipeline, dict):
        return _aug().validate_pipeline(pipeline)
    if pipeline is not None and not isinstance(pipeline, str):  # API callers can send any JSON value
        raise gr.Error(f"The pipeline must be JSON text in Albumentations' serialized form (A.to_dict), "
                       f"got a {type(pipeline).__name__}.")
    return _aug().parse_pipeline(pipeline)


def compute(image: np.ndarray, boxes: np.ndarray, names: list[str], mask: np.ndarray | None, pipeline: dict,
            n: int, seed: int) -> tuple:
    """Run and draw: (gallery items, status markdown, table rows, JSON, Python code)."""
    aug = _aug()
    samples = aug.augment_samples(image, pipeline, n, seed, boxes, mask)
    pixels = sum(sample.image.shape[0] * sample.image.shape[1] for sample in samples)
    if pixels > MAX_OUTPUT_PIXELS:
        height, width = samples[0].image.shape[:2]
        raise gr.Error(f"{len(samples)} samples of {width}×{height} are {pixels / 1e6:.1f} megapixels, more than one "
                       f"request may draw ({MAX_OUTPUT_PIXELS / 1e6:.1f}): lower n or the pipeline's output size.")
    gallery, rows, records, dropped_lines = [], [], [], []
    for sample in samples:
        picture = aug.draw_sample(sample.image, sample.boxes, sample.kept, names, sample.mask)
        caption = f"#{sample.index + 1}"
        if sample.dropped:  # the caption only counts them: a thumbnail is 133 px wide; the status line names them
            lost = ", ".join(names[k] for k in sample.dropped)
            caption += f" · {len(sample.dropped)} dropped"
            dropped_lines.append(f"#{sample.index + 1}: {lost}")
        gallery.append((picture, caption))
        for step in sample.steps:
            rows.append([sample.index + 1, step.name, aug.summary(step)])
        records.append({
            "sample": sample.index + 1,
            "seed": sample.seed,
            "size": list(sample.image.shape[:2]),
            "transforms": [{"name": s.name, "applied": s.applied, "params": s.params} for s in sample.steps],
            "boxes": [[round(float(v), 2) for v in box] for box in sample.boxes.tolist()],
            "labels": [names[k] for k in sample.kept],
            "dropped": [names[k] for k in sample.dropped],
        })
    height, width = samples[0].image.shape[:2]
    status = f"**{len(samples)} samples of {width}×{height}** from seed {seed}"
    if len(boxes):
        if dropped_lines:
            status += (f" · boxes dropped (min_visibility {aug.min_visibility_of(pipeline):g}) in "
                       f"{len(dropped_lines)} of {len(samples)}: " + "; ".join(dropped_lines))
        else:
            status += " · every box kept in every sample"
    result = {"seed": seed, "n": n, "output_size": [height, width], "samples": records}
    return gallery, status, rows, result, aug.to_python(pipeline, seed=seed, n=n)


def run(scene_name: str, upload: Any, boxes_text_value: str, pipeline: str, n: Any, seed: Any) -> tuple:
    """The tab's main action: the grid, the status line, the drawn-parameters table and JSON, the code."""
    with user_errors():
        pipeline_dict = _pipeline_from_text(pipeline)
        image, boxes, names, mask, _ = _source(scene_name, upload, boxes_text_value)
        return compute(image, boxes, names, mask, pipeline_dict, _n(n), inputs.seed(seed))


def augment(image: Any, pipeline: str, n: Any, seed: Any) -> tuple:
    """API `augment`: (image or None, pipeline JSON, n, seed) -> (gallery of n images, drawn parameters JSON).

    With no image the default scene (with its boxes and mask) is used; the gallery images have the
    pipeline's output size.
    """
    with user_errors():
        pipeline_dict = _pipeline_from_text(pipeline)
        source = _source(None, image, "" if image else None)
        image_array, boxes, names, mask, _ = source
        gallery, _, _, result, _ = compute(image_array, boxes, names, mask, pipeline_dict, _n(n), inputs.seed(seed))
        return gallery, result


# --- the view: everything a link carries -------------------------------------------------------------

CUSTOM = "custom"
"""The preset's value once the builder or an import has changed the pipeline: a custom pipeline does not travel in
links (a link with ``preset=custom`` shows the default preset, and says so)."""

MAX_SAMPLES = 16
"""`core.data.augment.MAX_SAMPLES` (a test checks it): the view's bound, known without importing Albumentations."""

PRESET_IDS: dict[str, str] = {
    "composed": "Book: flip + colour + crop (composed)",
    "hflip": "Book: horizontal flip",
    "vflip": "Book: vertical flip",
    "crop": "Book: RandomResizedCrop 200x200, scale (0.1, 1), ratio (0.5, 2)",
    "brightness": "Book: brightness 0.5",
    "hue": "Book: hue 0.5",
    "jitter": "Book: brightness, contrast, saturation, hue 0.5",
    "detection": "Detection: flip + affine + brightness/contrast",
}
"""The id a link writes (``preset=vflip``) of each of `core.data.augment.PRESETS`, in its order (a test checks them),
the first the default; `core.lecture.links` writes the same ids."""
PRESET_NAMES = tuple(PRESET_IDS.values())

SCENE_NAMES = ("cat (the book's example)", "shapes (exact boxes and mask)", "astronaut")
"""`core.data.augment.SCENES`' names (a test checks them), the first the default."""

DEFAULT_BOXES = "133, 84, 210, 147, left eye\n293, 108, 344, 164, right eye\n234, 222, 294, 266, nose"
"""The default scene's boxes as the boxes box writes them (`boxes_text` of the cat's parts; a test checks it)."""

CUSTOM_NOTE = ("A custom pipeline does not travel in links: this link shows the default preset. Export the pipeline "
               "(JSON or YAML below) to share it.")


@dataclass(frozen=True)
class AugmentationView(View):
    """The tab's state: the preset (or ``custom``), the scene and its boxes, n, the seed, min_visibility."""

    preset: str = param(next(iter(PRESET_IDS)), choices=(*PRESET_IDS, CUSTOM), label="preset")
    scene: str = param(SCENE_NAMES[0], choices=SCENE_NAMES, label="scene")
    boxes: str = param(DEFAULT_BOXES, label="boxes", max_length=1200)
    n: int = param(8, low=1, high=MAX_SAMPLES, label="samples n")
    seed: int = param(0, low=0, high=inputs.MAX_SEED, label="seed")
    min_visibility: float = param(0.3, low=0.0, high=1.0, label="min_visibility")


def show(view: AugmentationView) -> tuple:
    """Every output of the tab for one view: the pipeline's views, the grid and what it drew, the boxes shown.

    A link that names another scene without boxes shows that scene's own boxes (the default boxes are the cat's).
    """
    aug = _aug()
    name = aug.DEFAULT_PRESET if view.preset == CUSTOM else PRESET_IDS[view.preset]
    pipeline = aug.preset(name, min_visibility=view.min_visibility)
    boxes = view.boxes
    if view.scene != SCENE_NAMES[0] and boxes == DEFAULT_BOXES:
        boxes = scene_boxes(view.scene)
    gallery, status, rows, drawn, python = run(view.scene, None, boxes, _pipeline_json(pipeline), view.n, view.seed)
    if view.preset == CUSTOM:
        status = f"{status}\n\n⚠️ {CUSTOM_NOTE}"
    return (*_builder_views(pipeline), gallery, status, rows, drawn, python, boxes)


# --- layout ---------------------------------------------------------------------------------


def build() -> TabUI:
    aug = _aug()
    header(TITLE + " — see, reproduce and export Albumentations pipelines", FORMULA,
           book_link("image-augmentation.html", "14.1 Image Augmentation"))
    view = AugmentationView()
    pipeline0 = aug.preset(PRESET_IDS[view.preset], min_visibility=view.min_visibility)

    state = gr.State(pipeline0)
    with gr.Row():
        with gr.Column(scale=2, min_width=420):
            preset = gr.Dropdown([*((name, id_) for id_, name in PRESET_IDS.items()),
                                  (f"{CUSTOM} (built or imported below)", CUSTOM)], value=view.preset,
                                 label="Preset", elem_id="augmentation-preset")
            scene = gr.Dropdown(list(SCENE_NAMES), value=view.scene, label="Scene", elem_id="augmentation-scene")
            # the whole column's width: beside the scene its "Drop Image Here" did not fit
            upload = image_upload(label="…or upload a photo (type its boxes below)", height=190,
                                  elem_id="augmentation-upload")
            with gr.Row():
                n = gr.Slider(1, MAX_SAMPLES, view.n, step=1, label="Samples n", elem_id="augmentation-n")
                seed = gr.Number(view.seed, precision=0, minimum=0, label="Seed", min_width=90,
                                 elem_id="augmentation-seed")
                next_seed = gr.Button("Next seed", min_width=80, elem_id="augmentation-next-seed")
            with gr.Row():
                min_visibility = gr.Slider(0.0, 1.0, view.min_visibility, step=0.05, scale=2,
                                           label="min_visibility", info="less visible boxes are dropped",
                                           elem_id="augmentation-min-visibility")
                run_button = gr.Button("Augment", variant="primary", elem_id="augmentation-run", scale=1)
            boxes = gr.Textbox(view.boxes, lines=2, max_lines=8,
                               label="Boxes: x1, y1, x2, y2, name (one per line, pixels)",
                               elem_id="augmentation-boxes")
            with gr.Accordion("Pipeline builder", open=True):
                with gr.Row():
                    transform = gr.Dropdown(
                        [(f"{spec.category} · {name}", name) for name, spec in aug.TRANSFORMS.items()],
                        value="Rotate", label="Transform", scale=2, elem_id="augmentation-transform")
                    add_button = gr.Button("Add step", variant="secondary", scale=1, elem_id="augmentation-add")
                params = gr.Textbox(transform_defaults("Rotate"), lines=2, max_lines=6, elem_id="augmentation-params",
                                    label="Its arguments as JSON (Albumentations' names; edit, then Add or Replace)")
                # arguments wrap between words: "mask_interpolation=0," is the longest of the curated ones
                steps = gr.Dataframe(_steps_table(pipeline0), headers=["#", "transform", "p", "arguments"],
                                     interactive=False, wrap=True, max_height=240,
                                     column_widths=column_widths(2, 17, 3, 22),
                                     label="Pipeline (click a row to select it)", elem_id="augmentation-steps")
                # two rows: five in one squeezed "↓ Down" onto two lines on a phone
                with gr.Row():
                    step_number = gr.Number(1, precision=0, minimum=1, label="Selected step", min_width=90)
                    up_button = gr.Button("↑ Up", min_width=95)
                    down_button = gr.Button("↓ Down", min_width=95)
                with gr.Row():
                    remove_button = gr.Button("✕ Remove", min_width=100)
                    replace_button = gr.Button("Replace", min_width=100)
        with gr.Column(scale=3):
            # JPEG: ~0.5 ms per picture where PNG takes 5-20 ms (16 pictures per click); same inputs, same bytes
            gallery = gr.Gallery(columns=4, height=430, format="jpeg", object_fit="contain",
                                 label="Samples (boxes and mask drawn)", elem_id="augmentation-gallery")
            status = gr.Markdown(elem_id="augmentation-status")
            table = gr.Dataframe(headers=["sample", "transform", "drawn parameters"], interactive=False,
                                 wrap=True, max_height=260, column_widths=column_widths(6, 17, 50),
                                 label="What each sample drew", elem_id="augmentation-table")
            with gr.Tabs():
                with gr.Tab("JSON"):
                    json_code = gr.Code(_pipeline_json(pipeline0), language="json", interactive=True, lines=8,
                                        max_lines=18, label="A.to_dict(pipeline): edit or paste, then Import")
                    with gr.Row():
                        import_json = gr.Button("Import JSON")
                        to_effect = gr.Button("Measure its effect on generalisation ↗", elem_id="augmentation-to-effect")
                with gr.Tab("YAML"):
                    yaml_code = gr.Code(aug.to_yaml(pipeline0), language="yaml", interactive=True, lines=8,
                                        max_lines=18, label="A.save(pipeline, f, data_format='yaml')")
                    import_yaml = gr.Button("Import YAML")
                with gr.Tab("Python"):
                    python_code = gr.Code(language="python", interactive=False, lines=8, max_lines=24,
                                          label="The same pipeline and sample seeds in code")
                with gr.Tab("Drawn parameters (JSON)"):
                    drawn = gr.JSON(label="Per sample: seed, size, transforms' parameters, boxes")
            api_button = gr.Button("augment (API)", visible=False)

    views = [state, steps, json_code, yaml_code]
    run_inputs = [scene, upload, boxes, json_code, n, seed]
    run_outputs = [gallery, status, table, drawn, python_code]
    ui = dict(api_visibility="private")  # builder events belong to the page; the API is augment / augmentation_run
    rerun = dict(fn=run, inputs=run_inputs, outputs=run_outputs, show_progress="minimal", **ui)

    custom = dict(fn=lambda: CUSTOM, inputs=None, outputs=preset, queue=False, **ui)  # the builder changed it
    preset.input(load_preset, [preset, min_visibility], views, **ui).success(**rerun)
    transform.input(transform_defaults, transform, params, **ui)
    add_button.click(add_step, [state, transform, params], views + [step_number], **ui).success(**custom).success(
        **rerun)
    replace_button.click(replace_selected, [state, step_number, transform, params], views, **ui).success(
        **custom).success(**rerun)
    up_button.click(lambda p, k: move(p, k, -1), [state, step_number], views + [step_number], **ui).success(
        **custom).success(**rerun)
    down_button.click(lambda p, k: move(p, k, +1), [state, step_number], views + [step_number], **ui).success(
        **custom).success(**rerun)
    remove_button.click(remove, [state, step_number], views + [step_number], **ui).success(**custom).success(**rerun)
    steps.select(select_step, [state], [step_number, transform, params], **ui)
    min_visibility.release(set_min_visibility, [state, min_visibility], views, **ui).success(**rerun)
    import_json.click(lambda text: import_pipeline(text, "json"), json_code, views + [min_visibility],
                      **ui).success(**custom).success(**rerun)
    import_yaml.click(lambda text: import_pipeline(text, "yaml"), yaml_code, views + [min_visibility],
                      **ui).success(**custom).success(**rerun)
    scene.input(scene_boxes, scene, boxes, **ui).success(lambda: None, None, upload, **ui).success(**rerun)
    upload.upload(lambda: "", None, boxes, **ui).success(**rerun)
    upload.clear(scene_boxes, scene, boxes, **ui).success(**rerun)
    # the next seed is counted in the browser: the click sends one request, the grid's (docs/performance.md §4)
    next_seed.click(None, seed, seed, js=f"(s) => Math.min((Math.floor(Number(s)) || 0) + 1, {inputs.MAX_SEED})",
                    **ui).then(**rerun)
    gr.on([run_button.click, seed.submit, n.release, boxes.submit], run, run_inputs, run_outputs,
          api_name="augmentation_run")
    api_button.click(augment, [upload, json_code, n, seed], [gallery, drawn], api_name="augment")
    return TabUI(AugmentationView, [preset, scene, boxes, n, seed, min_visibility],
                 [*views, *run_outputs, boxes], show, uploads=[upload],
                 handoffs=[Handoff(to_effect, "finetune", effect_view, [json_code])])


def effect_view(pipeline_json: str) -> tuple[View, dict[str, str]]:
    """The hand-off to the Fine-tuning tab's "Augmentation's effect" part: train from scratch with and without
    this pipeline (its JSON export, which a link cannot carry: it travels as the target's inbox ``pipeline``)."""
    from demos.finetune import FinetuneView  # cheap: the Fine-tuning tab loads its models lazily

    return FinetuneView(augmentation="custom"), {"pipeline": pipeline_json}
