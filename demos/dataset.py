"""The Detection dataset tab: the generated scenes every detector and segmenter in the lab is trained on.

A grid of scenes from a seed (with their boxes and class masks drawn), the box-size histogram that explains why
detection must be multiscale, and one scene exactly as the `make_scene` endpoint returns it: the image, the
ground truth as JSON in its pixel coordinates, and the class mask as a lossless PNG (pixel = class + 1,
0 = background). Upload a photo to paste the objects onto it. All the generation lives in `core.data.scenes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import gradio as gr
import numpy as np
import pandas as pd
import torch
from PIL import Image
from torchvision.utils import draw_bounding_boxes

from core.data.scenes import CLASS_COLORS, CLASS_NAMES, DEFAULT_SIZE, MIN_VISIBLE_FRACTION, SPLITS, Scene, make_scene
from demos import drawing, inputs
from demos.common import LATEX, book_link, header, image_upload, read_image
from demos.inputs import user_errors
from demos.router import TabUI
from demos.view import View, param

TITLE = "Dataset"

ANY_SEED = "any"
SPLIT_CHOICES = [ANY_SEED, *SPLITS]
"""With a split chosen, the seed input is an index into that split's seed range; `ANY_SEED` ("any seed") takes the
seeds themselves."""

DEFAULT_SEED = 0
DEFAULT_COUNT = 8
MAX_COUNT = 16
GRID_COLUMNS = 4
DEFAULT_OPACITY = 0.55
MAX_BACKGROUND_SIDE = 1024
"""Uploaded backgrounds are downscaled to this longer side; `make_scene` keeps the (downscaled) photo's size."""

SIZE_BINS = [0, 16, 32, 48, 64, 96, 128, 10_000]
SIZE_BIN_NAMES = ["<16", "16-32", "32-48", "48-64", "64-96", "96-128", "≥128"]
"""Box size = sqrt(width * height) in pixels; COCO calls < 32 small and >= 96 large."""

EXPLANATION = rf"""
Scenes generated from a seed (the book uses a banana dataset): **{len(CLASS_NAMES)} classes that differ by shape only**
(colour, texture, rotation random), $18$–$112$ px on $256\times256$ — so detection must be multiscale — overlapping
(a pixel belongs to the top object; objects less than ${MIN_VISIBLE_FRACTION * 100:.0f}\%$ visible are not drawn).
A box is the tight extent of object $i$'s visible pixels $V_i$, pixel $(x, y)$ covering $[x, x{{+}}1)\times[y, y{{+}}1)$:
$\;x_1 = \min_{{V_i}} x,\ y_1 = \min_{{V_i}} y,\ x_2 = \max_{{V_i}} x + 1,\ y_2 = \max_{{V_i}} y + 1$. Mask value: $0$ background,
$k+1$ class $k$. Disjoint seed splits: train {SPLITS["train"].start}–{SPLITS["train"].stop - 1},
val {SPLITS["val"].start}–{SPLITS["val"].stop - 1}, test {SPLITS["test"].start}–{SPLITS["test"].stop - 1}.
"""

BACKGROUND_NOTE = (
    "*Backgrounds are random crops of bundled photos and textures, **flipped left–right and upside down at random** "
    "and colour-shifted (that is why the first scene's photo stands on its head): the detectors must find the "
    "shapes whatever the scenery, not learn the scenery. Upload a photo as *your background* to paste the objects "
    "onto it.*")
"""Why a scene's photo may be upside down or oddly coloured (`core.scenes._random_background` flips it on purpose)."""

LINKS = " · ".join(
    [
        book_link("object-detection-dataset.html", "14.6 The Object Detection Dataset"),
        book_link("semantic-segmentation-and-dataset.html", "14.9 Semantic Segmentation and the Dataset"),
    ]
)


def legend_html() -> str:
    """The class legend: a coloured swatch, the class name, its label and mask value."""
    items = "".join(
        f'<span style="display:inline-flex;align-items:center;margin-right:18px;font-size:1.05em">'
        f'<span style="width:18px;height:18px;background:{colour};display:inline-block;margin-right:6px;'
        f'border-radius:3px"></span><b>{name}</b>&nbsp;(label {k}, mask {k + 1})</span>'
        for k, (name, colour) in enumerate(zip(CLASS_NAMES, CLASS_COLORS))
    )
    return f'<div style="padding:4px 0">{items}<span style="color:#666">background: mask 0</span></div>'


# --- drawing ---------------------------------------------------------------------------------------------


def draw_boxes(scene: Scene, width: int = 2) -> np.ndarray:
    """The scene image with its boxes (class colours and names), (H, W, 3) uint8."""
    image = torch.from_numpy(scene.image).permute(2, 0, 1)  # (3, H, W) uint8
    if len(scene.labels) == 0:
        return scene.image.copy()
    drawn = draw_bounding_boxes(
        image,
        torch.from_numpy(scene.boxes),
        labels=[CLASS_NAMES[k] for k in scene.labels],
        colors=[CLASS_COLORS[k] for k in scene.labels],
        width=width,
    )
    return drawn.permute(1, 2, 0).numpy()


CLASS_RGB = np.array([(0, 0, 0)] + [drawing.hex_to_rgb(c) for c in CLASS_COLORS], np.float32)
"""(K + 1, 3) colour of each mask value (0 = background, never painted)."""


def draw_masks(scene: Scene, opacity: float = DEFAULT_OPACITY) -> np.ndarray:
    """The class mask over the image in class colours, (H, W, 3) uint8.

    The same pixels as ``torchvision.utils.draw_segmentation_masks(image, one_hot, alpha=opacity, colors=...)``
    (tested), computed with a colour lookup table: 25x faster, and no torch thread pool in the request path.
    """
    image = scene.image.astype(np.float32)
    painted = scene.mask > 0
    image[painted] = image[painted] * (1.0 - opacity) + CLASS_RGB[scene.mask[painted]] * opacity
    return image.astype(np.uint8)


# --- endpoints -------------------------------------------------------------------------------------------


def _seeds(seed: Any, count: Any, split: str) -> list[int]:
    start = inputs.seed(seed)
    n = inputs.whole(count, "Count", low=1, high=MAX_COUNT)
    if split in (None, "", ANY_SEED, "any seed"):
        return [start + i for i in range(n)]
    if split not in SPLITS:
        raise gr.Error(f"Unknown split {split!r}; choose one of {SPLIT_CHOICES}.")
    seeds = SPLITS[split]
    if start + n > len(seeds):
        raise gr.Error(f"The {split} split has {len(seeds)} scenes: index {start} + {n} scenes goes past its end.")
    return [seeds[start + i] for i in range(n)]


def _background(upload: Any) -> np.ndarray | None:
    if not upload:
        return None
    return read_image(upload, max_side=MAX_BACKGROUND_SIDE)


def _size_table(scenes: list[Scene]) -> pd.DataFrame:
    rows = []
    for scene in scenes:
        sizes = np.sqrt((scene.boxes[:, 2] - scene.boxes[:, 0]) * (scene.boxes[:, 3] - scene.boxes[:, 1]))
        bins = np.digitize(sizes, SIZE_BINS[1:-1])
        rows += [(SIZE_BIN_NAMES[b], CLASS_NAMES[k]) for b, k in zip(bins, scene.labels)]
    counts = pd.DataFrame(rows, columns=["box size (px)", "class"]).value_counts().rename("boxes").reset_index()
    full = pd.MultiIndex.from_product([SIZE_BIN_NAMES, CLASS_NAMES], names=["box size (px)", "class"])
    return counts.set_index(["box size (px)", "class"]).reindex(full, fill_value=0).reset_index()


def dataset_grid(seed: Any, count: Any, split: str, opacity: float, upload: Any):
    """A grid of scenes: boxes, masks, a size histogram and the numbers as JSON.

    Returns (boxes grid (H, W, 3) uint8, masks grid, box-size bar plot data, stats JSON).
    """
    seeds = _seeds(seed, count, split)
    background = _background(upload)
    inputs.fraction(opacity, "Opacity")
    with user_errors():
        scenes = [make_scene(s, size=DEFAULT_SIZE if background is not None else None, background=background) for s in seeds]
    boxes_grid = drawing.grid([draw_boxes(s) for s in scenes], GRID_COLUMNS)
    masks_grid = drawing.grid([draw_masks(s, opacity) for s in scenes], GRID_COLUMNS)
    labels = np.concatenate([s.labels for s in scenes]) if scenes else np.zeros(0, np.int64)
    all_boxes = np.concatenate([s.boxes for s in scenes])
    sizes = np.sqrt((all_boxes[:, 2] - all_boxes[:, 0]) * (all_boxes[:, 3] - all_boxes[:, 1]))
    stats = {
        "seeds": seeds,
        "objects": int(len(labels)),
        "class_counts": {name: int((labels == k).sum()) for k, name in enumerate(CLASS_NAMES)},
        "box_size_px": {
            "min": float(sizes.min()) if len(sizes) else None,
            "median": float(np.median(sizes)) if len(sizes) else None,
            "max": float(sizes.max()) if len(sizes) else None,
            "small_lt_32": int((sizes < 32).sum()),
            "medium": int(((sizes >= 32) & (sizes < 96)).sum()),
            "large_ge_96": int((sizes >= 96).sum()),
        },
        "scenes": [{"seed": s.seed, "annotations": s.annotations()} for s in scenes],
    }
    return boxes_grid, masks_grid, _size_table(scenes), stats


def mask_image(mask: np.ndarray) -> Image.Image:
    """The class mask as an 8-bit grayscale ("L") image; the output component saves it as a lossless PNG."""
    return Image.fromarray(np.ascontiguousarray(mask, dtype=np.uint8), mode="L")


def _single(seed: Any, upload: Any) -> Scene:
    value = inputs.seed(seed)
    background = _background(upload)
    with user_errors():
        return make_scene(value, background=background)


def make_scene_endpoint(seed: Any, background: Any):
    """`/make_scene`: (seed, background image or None) -> (scene image, ground-truth JSON, class mask PNG).

    The JSON is ``[{"box": [x1, y1, x2, y2], "label": k, "class_name": name}, ...]`` in pixels of the returned
    image; the PNG has the image's size, pixel = class + 1, 0 = background. With a background the scene keeps the
    photo's size (after downscaling to at most 1024 px).
    """
    scene = _single(seed, background)
    return scene.image, scene.annotations(), mask_image(scene.mask)


def draw_preview(scene: Scene, opacity: float = DEFAULT_OPACITY) -> np.ndarray:
    """Mask overlay with the boxes on top, (H, W, 3) uint8."""
    overlay = draw_masks(scene, opacity)
    return draw_boxes(Scene(overlay, scene.boxes, scene.labels, scene.mask, scene.instance_mask,
                            scene.visible_fraction, scene.seed))


def _single_preview(seed: Any, background: Any, opacity: float) -> np.ndarray:
    return draw_preview(_single(seed, background), opacity)


# --- UI --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetView(View):
    """The tab's state: which scenes the grid shows and how, the single scene's seed, and the grid's sub-tab."""

    PARTS: ClassVar[tuple[str, ...]] = ("boxes", "masks")

    split: str = param(ANY_SEED, choices=tuple(SPLIT_CHOICES), label="seeds from")
    seed: int = param(DEFAULT_SEED, low=0, high=inputs.MAX_SEED, label="seed (first scene)")
    count: int = param(DEFAULT_COUNT, low=1, high=MAX_COUNT, label="scenes")
    opacity: float = param(DEFAULT_OPACITY, low=0.0, high=1.0, label="mask opacity")
    scene_seed: int = param(DEFAULT_SEED, low=0, high=inputs.MAX_SEED, label="seed of the single scene")


def show(view: DatasetView) -> tuple:
    """Every output of the tab for one view (no uploaded background: it does not travel in links)."""
    grid = dataset_grid(view.seed, view.count, view.split, view.opacity, None)
    image, annotations, mask = make_scene_endpoint(view.scene_seed, None)
    return (*grid, image, annotations, mask, _single_preview(view.scene_seed, None, view.opacity))


def build() -> TabUI:
    view = DatasetView()
    header("Detection dataset: generated scenes with boxes and masks", EXPLANATION, LINKS)
    gr.HTML(legend_html())
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=260):
            split = gr.Dropdown([("any seed", ANY_SEED), *SPLITS], value=view.split, label="seeds from",
                                elem_id="dataset-split",
                                info="a split: the seed box is an index into its range")
            seed = gr.Number(value=view.seed, precision=0, label="seed (first scene)", minimum=0,
                             elem_id="dataset-seed")
            count = gr.Slider(1, MAX_COUNT, value=view.count, step=1, label="scenes", elem_id="dataset-count")
            with gr.Row():
                previous = gr.Button("◀ previous", size="sm")
                generate = gr.Button("Generate", variant="primary", size="sm")
                following = gr.Button("next ▶", size="sm")
            opacity = gr.Slider(0.0, 1.0, value=view.opacity, step=0.05, label="mask opacity",
                                elem_id="dataset-opacity")
            upload = image_upload(height=190, sources=["upload", "clipboard"],
                                  label="your background (optional)", elem_id="dataset-upload")
        with gr.Column(scale=7, min_width=600):
            with gr.Tabs() as parts:
                with gr.Tab("boxes", id="boxes"):
                    boxes_grid = gr.Image(type="numpy", format="jpeg", label="scenes and their boxes", interactive=False, height=420,
                                          elem_id="dataset-boxes-grid", buttons=["download", "fullscreen"])
                with gr.Tab("masks", id="masks"):
                    masks_grid = gr.Image(type="numpy", format="jpeg", label="class masks", interactive=False, height=420,
                                          elem_id="dataset-masks-grid", buttons=["download", "fullscreen"])
            gr.Markdown(BACKGROUND_NOTE, elem_id="dataset-background-note")
            # a short axis title (Vega cuts a long one with "…"), slanted bin names (level, they overlap on a phone)
            # and no fixed height: at 240 px the legend under the bars was cut off
            sizes = gr.BarPlot(x="box size (px)", y="boxes", color="class", label="box sizes in these scenes",
                               color_map=dict(zip(CLASS_NAMES, CLASS_COLORS)), sort=SIZE_BIN_NAMES,
                               x_title="box size √(w·h), pixels", elem_id="dataset-sizes", x_label_angle=-40,
                               caption="COCO calls a box small below 32 px, large from 96 px.")
            with gr.Accordion("numbers (dataset_grid endpoint)", open=False):
                stats = gr.JSON(label="numbers", elem_id="dataset-stats", height=300)

    gr.Markdown("#### One scene, exactly as the `make_scene` endpoint returns it", latex_delimiters=LATEX)
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=260):
            single_seed = gr.Number(value=view.scene_seed, precision=0, label="seed", minimum=0,
                                    elem_id="dataset-scene-seed")
            single_button = gr.Button("Make scene", variant="primary", size="sm")
            gr.Markdown("Uses the background uploaded above, at the photo's own size. The mask PNG is lossless: "
                        "pixel value = class + 1, 0 = background (it looks black; the preview shows it in colour).")
        with gr.Column(scale=7, min_width=600):
            with gr.Row():
                single_image = gr.Image(type="numpy", format="png", label="scene image", interactive=False,
                                        height=300, buttons=["download"])
                single_preview = gr.Image(type="numpy", format="jpeg", label="boxes + mask preview", interactive=False, height=300,
                                          elem_id="dataset-single-preview")
                single_mask = gr.Image(type="filepath", format="png", image_mode="L", interactive=False, height=300,
                                       label="class mask PNG (0 = background, k+1 = class k)", buttons=["download"])
            single_json = gr.JSON(label="ground truth [{box, label, class_name}] in pixels", open=True, height=220,
                                  elem_id="dataset-single-json")

    # The grids are JPEG: 40x faster to encode than WebP at 16 scenes; `make_scene` returns exact PNGs.
    grid_inputs = [seed, count, split, opacity, upload]
    grid_outputs = [boxes_grid, masks_grid, sizes, stats]
    grid_event = dict(fn=dataset_grid, inputs=grid_inputs, outputs=grid_outputs, show_progress="minimal")
    generate.click(api_name="dataset_grid", **grid_event)
    gr.on([count.release, opacity.release, split.input, seed.submit, upload.change],
          api_name="dataset_grid_ui", api_visibility="private", trigger_mode="always_last", **grid_event)

    # the next seeds are counted in the browser: a click sends one request, the grid's (docs/performance.md §4)
    for button, delta, name in ((previous, -1, "previous"), (following, +1, "next")):
        button.click(None, inputs=[seed, count], outputs=seed,
                     js=f"(seed, count) => Math.min(Math.max(0, (Math.floor(Number(seed)) || 0) + {delta} * "
                        f"(Math.floor(Number(count)) || 1)), {inputs.MAX_SEED})").then(
            api_name=f"dataset_grid_{name}_ui", api_visibility="private", **grid_event)

    single_event = single_button.click(make_scene_endpoint, inputs=[single_seed, upload],
                                       outputs=[single_image, single_json, single_mask], api_name="make_scene")
    single_event.then(_single_preview, inputs=[single_seed, upload, opacity], outputs=single_preview,
                      api_name="make_scene_preview_ui", api_visibility="private", show_progress="hidden")
    single_seed.submit(make_scene_endpoint, inputs=[single_seed, upload], outputs=[single_image, single_json, single_mask],
                       api_name="make_scene_ui", api_visibility="private").then(
        _single_preview, inputs=[single_seed, upload, opacity], outputs=single_preview,
        api_name="make_scene_submit_preview_ui", api_visibility="private", show_progress="hidden")

    single_outputs = [single_image, single_json, single_mask, single_preview]
    return TabUI(DatasetView, [split, seed, count, opacity, single_seed], [*grid_outputs, *single_outputs], show,
                 uploads=[upload], parts=parts)
