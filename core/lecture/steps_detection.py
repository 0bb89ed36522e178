"""Lecture steps for topics 1-13: augmentation, fine-tuning, boxes, anchors, IoU, labeling, NMS, multiscale
detection, the data set, SSD and the R-CNN family.

Every numeric answer is computed here by the lab's own functions (core.ops.boxes, core.ops.anchors,
core.ops.nms, core.models.faster_rcnn's RoI pooling) from numbers drawn for the variant; variant 0 uses the
book's numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
import numpy as np
import torch

from core.lecture import links
from core.lecture._shared import D2L_CV, fmt, fmt_box, fmt_list, fmt_matrix, rng, shuffled
from core.lecture.figures import Line, Rect, Text, box_role, fit, labelled_box, matrix
from core.lecture.model import Question, Step
from core.ops.anchors import anchor_pairs, anchors_at_pixel, assign_anchor_to_bbox_steps, grid_anchors, \
    multibox_target, num_anchors
from core.ops.boxes import box_corner_to_center, box_intersection, box_iou
from core.ops.nms import nms, nms_steps
from core.ops.transposed_conv import conv_output_size

# --- the book's numbers ---------------------------------------------------------------------------------------

BOOK_IMAGE_HW = (561, 728)
"""(height, width) of the book's catdog.jpg."""
BOOK_DOG = (60.0, 45.0, 378.0, 516.0)
BOOK_CAT = (400.0, 112.0, 655.0, 493.0)
BOOK_SIZES = (0.75, 0.5, 0.25)
BOOK_RATIOS = (1.0, 2.0, 0.5)
BOOK_GROUND_TRUTH = ((0, 0.1, 0.08, 0.52, 0.92), (1, 0.55, 0.2, 0.9, 0.88))
"""The book's labeling example: (class, x1, y1, x2, y2), normalised; class 0 = dog, 1 = cat."""
BOOK_ANCHORS = ((0.0, 0.1, 0.2, 0.3), (0.15, 0.2, 0.4, 0.4), (0.63, 0.05, 0.88, 0.98), (0.66, 0.45, 0.8, 0.8),
                (0.57, 0.3, 0.92, 0.9))
CLASS_NAMES = ("dog", "cat")
LABEL_NAMES = ("background", "dog", "cat")
"""Class labels after labeling: 0 = background, 1 = dog, 2 = cat."""
BOOK_NMS_BOXES = ((0.1, 0.08, 0.52, 0.92), (0.08, 0.2, 0.56, 0.95), (0.15, 0.3, 0.62, 0.91), (0.55, 0.2, 0.9, 0.88))
BOOK_NMS_SCORES = (0.9, 0.8, 0.7, 0.9)
BOOK_NMS_LABELS = (0, 0, 0, 1)
BOOK_MULTISCALE = (((4, 4), (0.15,)), ((2, 2), (0.4,)), ((1, 1), (0.8,)))
"""The book's three display_anchors calls: feature-map (rows, columns) and sizes; ratios 1, 2, 0.5."""
BOOK_TINY_SSD_SIDE = 256
BOOK_ROI_MAP = tuple(tuple(float(4 * i + j) for j in range(4)) for i in range(4))
BOOK_ROI = (0.0, 10.0, 30.0, 30.0)
"""The book's second RoI (x1, y1, x2, y2) in image pixels; the 4 x 4 map covers 40 x 40 pixels (scale 0.1)."""
ROI_SCALE = 0.1
BIN_NAMES = {(0, 0): "top-left", (0, 1): "top-right", (1, 0): "bottom-left", (1, 1): "bottom-right"}

LAB_IMAGE_HW = {
    "book": BOOK_IMAGE_HW,
    "astronaut": (512, 512),
    "chelsea (cat)": (300, 451),
    "coffee": (400, 600),
    "rocket": (427, 640),
    "china (sklearn)": (427, 640),
    "flower (sklearn)": (427, 640),
}
"""(height, width) of the images the anchors tab offers: "book" is its blank canvas of the book's size, the others
bundled samples (`core.data.images.SAMPLE_IMAGES`; a test checks these sizes against the loaded images)."""
LAB_IMAGES = tuple(LAB_IMAGE_HW)


def _image_words(image: str, hw: tuple[int, int]) -> str:
    height, width = hw
    if image == "book":
        return f"the book's {width} × {height} photo (width × height)"
    return f"the lab's sample image “{image}”, {width} × {height} pixels (width × height)"


def _round(values: np.ndarray | list[float], digits: int = 2) -> tuple[float, ...]:
    return tuple(float(round(float(v), digits)) for v in values)


# --- 1. augmentation -------------------------------------------------------------------------------------------


def ask_augmentation(variant: int) -> Question:
    options, answer = shuffled(variant, "augmentation", "Turning every image upside down (180°)", [
        "Cropping a random 90% of each image",
        "Changing the brightness by up to 20%",
        "Adding faint random noise to the pixels",
    ])
    return Question(
        kind="choice",
        text="A network must tell handwritten 6s from 9s. Which random change to its training images would "
             "**hurt** it?",
        options=options,
        answer=answer,
        explanation=(
            "Upside down, a 6 *is* a 9. Rotating by 180° keeps the label while changing the class, so the network "
            "is trained to ignore the very property that separates the two digits. An augmentation must leave "
            "the label true: small crops, brightness changes and noise do, which is why they help. For the same "
            "reason the book flips photos left to right but rarely upside down."
        ),
        link=links.augmentation("Book: vertical flip"),
    )


AUGMENTATION = Step(
    id="augmentation",
    topics=(1,),
    title="Image augmentation",
    idea=(
        "Each epoch, every training image is changed at random: flipped, cropped, recoloured, or several of these "
        "at once. The network sees a larger and more varied data set, and can no longer rely on accidents of the "
        "photos, such as where the object sits or how bright the scene is, so it generalises better. Random "
        "changes like these were one of the ingredients of AlexNet's success."
    ),
    formula=None,
    source=("d2l 14.1 Image Augmentation", D2L_CV + "image-augmentation.html"),
    ask=ask_augmentation,
)


# --- 2. fine-tuning --------------------------------------------------------------------------------------------


def ask_finetune(variant: int) -> Question:
    classes = 2 if variant == 0 else int(rng(variant, "finetune").integers(3, 21))
    options, answer = shuffled(variant, "finetune", "The new output layer", [
        "The copied layers",
        "Neither: both get the same learning rate",
    ])
    return Question(
        kind="choice",
        text=f"A model pre-trained on ImageNet's 1000 classes is fine-tuned for a data set of {classes} classes. Its "
             "copied layers and its new output layer train together. Which should get the **larger** learning "
             "rate?",
        options=options,
        answer=answer,
        explanation=(
            "The copied layers already compute useful features (edges, textures, object parts): they need only "
            f"small corrections, and large steps would destroy what pre-training found. The new layer with {classes} "
            "outputs starts from random weights and has everything to learn, so it gets the larger rate: the book "
            "trains it ten times faster than the rest. Freezing the copied layers entirely is the extreme case of "
            "the same idea."
        ),
        link=links.finetune(freeze=False),
        params={"classes": classes},
    )


FINETUNE = Step(
    id="finetune",
    topics=(2,),
    title="Fine-tuning",
    idea=(
        "A data set of a few thousand chair photos is tiny next to ImageNet, and a large model trained on it alone "
        "overfits. Transfer learning reuses a source model instead: pre-train it on the large set, copy all its "
        "layers except the output layer into the target model, add a new, randomly initialised output layer "
        "with one unit per target class, and train the whole target model on the small set."
    ),
    formula=None,
    source=("d2l 14.2 Fine-Tuning", D2L_CV + "fine-tuning.html"),
    ask=ask_finetune,
)


# --- 3. bounding boxes -----------------------------------------------------------------------------------------

CENTER_FORM = {  # coordinate -> (index in (cx, cy, w, h), LaTeX name, words)
    "cx": (0, "c_x", "the x coordinate of its centre"),
    "cy": (1, "c_y", "the y coordinate of its centre"),
    "w": (2, "w", "its width"),
    "h": (3, "h", "its height"),
}


def ask_box_center(variant: int) -> Question:
    height, width = BOOK_IMAGE_HW
    if variant == 0:
        box, label, coordinate = BOOK_DOG, "dog", "cy"
    else:
        g = rng(variant, "box-center")
        x1, y1 = int(g.integers(0, width - 120)), int(g.integers(0, height - 120))
        x2, y2 = int(g.integers(x1 + 60, width + 1)), int(g.integers(y1 + 60, height + 1))
        box, label = (float(x1), float(y1), float(x2), float(y2)), "object"
        coordinate = ("cx", "cy", "w", "h")[int(g.integers(4))]
    index, symbol, words = CENTER_FORM[coordinate]
    center = box_corner_to_center(torch.tensor(box, dtype=torch.float64)).tolist()
    answer = center[index]
    x1, y1, x2, y2 = box
    derivation = {
        "cx": rf"$c_x = (x_1 + x_2)/2 = ({fmt(x1)} + {fmt(x2)})/2 = {fmt(answer)}$",
        "cy": rf"$c_y = (y_1 + y_2)/2 = ({fmt(y1)} + {fmt(y2)})/2 = {fmt(answer)}$",
        "w": rf"$w = x_2 - x_1 = {fmt(x2)} - {fmt(x1)} = {fmt(answer)}$",
        "h": rf"$h = y_2 - y_1 = {fmt(y2)} - {fmt(y1)} = {fmt(answer)}$",
    }[coordinate]
    font = 32.0
    shapes = [Rect(0, 0, width, height, "frame"),
              Text(0, -0.4 * font, "(0, 0)  x →", 0.9, "start"),
              Text(-0.3 * font, 1.5 * font, "y", 0.9, "end"), Text(-0.3 * font, 2.6 * font, "↓", 0.9, "end"),
              *labelled_box(box, label, "a", font, below=True),
              Text(x1, y1 - 0.3 * font, f"({fmt(x1)}, {fmt(y1)})", 0.9, "start"),
              Text(x2, y2 + 1.1 * font, f"({fmt(x2)}, {fmt(y2)})", 0.9, "end")]
    if variant == 0:
        shapes += labelled_box(BOOK_CAT, "cat", "b", font, below=True)
    return Question(
        kind="number",
        text=(f"The {label}'s box is {fmt_box(box)} in corner form $(x_1, y_1, x_2, y_2)$, in pixels of a "
              f"{width} × {height} image. In centre form $(c_x, c_y, w, h)$, what is ${symbol}$, {words}?"),
        answer=answer,
        tolerance=0.5,
        unit="px",
        explanation=(
            f"{derivation}. " + {
                "cx": "The origin is the image's top-left corner and x grows to the right. ",
                "cy": "The origin is the image's top-left corner and y grows downwards: the centre is "
                      f"{fmt(answer)} pixels below the top edge. ",
                "w": "Width and height are differences of corners: they do not depend on where the origin is. ",
                "h": "Width and height are differences of corners: they do not depend on where the origin is. ",
            }[coordinate] + f"In centre form the whole box is {fmt_box(center)}."
        ),
        link=links.boxes("book", box, label),
        figure=fit(shapes, f"A {width} by {height} image with the {label}'s box and its two corners labelled.",
                   font),
        params={"box": list(box), "coordinate": coordinate},
    )


BOX_CENTER = Step(
    id="box-center",
    topics=(3,),
    title="Object detection and bounding boxes",
    idea=(
        "A detector finds several objects in one image and gives each a class and a position. The position is a "
        "bounding box, stored either by two corners $(x_1, y_1, x_2, y_2)$ or by its centre, width and height "
        "$(c_x, c_y, w, h)$. Pixel coordinates start at the top-left corner: x grows to the right, y downwards."
    ),
    formula=r"c_x = \frac{x_1 + x_2}{2},\quad c_y = \frac{y_1 + y_2}{2},\quad w = x_2 - x_1,\quad h = y_2 - y_1",
    source=("d2l 14.3 Object Detection and Bounding Boxes", D2L_CV + "bounding-box.html"),
    ask=ask_box_center,
)


# --- 4. anchor boxes -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnchorSetup:
    """Anchors at one pixel of one of the lab's images (shared by the two anchor steps of a variant)."""

    image: str
    hw: tuple[int, int]
    sizes: tuple[float, ...]
    ratios: tuple[float, ...]
    x: int  # column of the centre pixel
    y: int  # row
    asked: int  # index into anchor_pairs(sizes, ratios)


def anchor_setup(variant: int) -> AnchorSetup:
    if variant == 0:
        return AnchorSetup("book", BOOK_IMAGE_HW, BOOK_SIZES, BOOK_RATIOS, 250, 250, 0)
    g = rng(variant, "anchors")
    image = LAB_IMAGES[int(g.integers(len(LAB_IMAGES)))]
    hw = LAB_IMAGE_HW[image]
    n, m = int(g.integers(2, 5)), int(g.integers(2, 5))
    sizes = tuple(sorted(_round(g.choice(np.arange(2, 19) * 0.05, n, replace=False)), reverse=True))
    ratios = _round(g.choice([1.0, 2.0, 0.5, 3.0, 0.25, 4.0], m, replace=False))
    x, y = int(g.integers(hw[1])), int(g.integers(hw[0]))
    return AnchorSetup(image, hw, sizes, ratios, x, y, int(g.integers(n + m - 1)))


def ask_anchor_count(variant: int) -> Question:
    setup = anchor_setup(variant)
    height, width = setup.hw
    n, m = len(setup.sizes), len(setup.ratios)
    answer = num_anchors(setup.hw, n, m)
    all_pairs = num_anchors(setup.hw, n, m, all_pairs=True)
    book = " — the book's `(1, 2042040, 4)` anchor tensor" if variant == 0 else ""
    return Question(
        kind="number",
        text=(f"Anchors of sizes {fmt_list(setup.sizes)} and ratios {fmt_list(setup.ratios)} are centred on every "
              f"pixel of {_image_words(setup.image, setup.hw)}. How many anchors is that in all?"),
        answer=float(answer),
        tolerance=0.0,
        explanation=(
            f"Each pixel gets $n + m - 1 = {n} + {m} - 1 = {n + m - 1}$ anchors: every size with the first ratio "
            f"$r_1 = {fmt(setup.ratios[0])}$, and the first size $s_1 = {fmt(setup.sizes[0])}$ with the other "
            f"{m - 1} ratio{'s' if m > 2 else ''}. The image has ${width} \\cdot {height} = {fmt(width * height)}$ "
            f"pixels, so there are ${fmt(width * height)} \\cdot {n + m - 1} = {fmt(answer)}$ anchors{book}. "
            f"All $n \\cdot m = {n * m}$ pairs would have given {fmt(all_pairs)}."
        ),
        link=links.anchors(setup.image, setup.sizes, setup.ratios, setup.x, setup.y),
        params={"image": setup.image, "image_hw": list(setup.hw), "sizes": list(setup.sizes),
                "ratios": list(setup.ratios)},
    )


ANCHOR_COUNT = Step(
    id="anchor-count",
    topics=(4,),
    title="Anchor boxes: how many?",
    idea=(
        "An anchor-based detector starts from boxes of several sizes $s \\in (0, 1]$ and aspect ratios $r > 0$ "
        "centred on every pixel, and learns to correct them. Every pair of $n$ sizes and $m$ ratios at every "
        "pixel would be far too many, so only the pairs that contain $s_1$ or $r_1$ are used: "
        "$(s_1, r_1), \\dots, (s_n, r_1)$ and $(s_1, r_2), \\dots, (s_1, r_m)$."
    ),
    formula=r"\text{anchors} = w \cdot h \cdot (n + m - 1)",
    source=("d2l 14.4 Anchor Boxes", D2L_CV + "anchor.html"),
    ask=ask_anchor_count,
)


def ask_anchor_width(variant: int) -> Question:
    setup = anchor_setup(variant)
    height, width = setup.hw
    pairs = anchor_pairs(setup.sizes, setup.ratios)
    size, ratio = pairs[setup.asked]
    boxes = anchors_at_pixel(setup.hw, setup.y, setup.x, setup.sizes, setup.ratios).double()  # (k, 4) normalised
    boxes_px = boxes * torch.tensor([width, height, width, height], dtype=torch.float64)
    x1, y1, x2, y2 = boxes_px[setup.asked].tolist()
    answer = round(x2 - x1, 4)  # the anchors are float32, as the book's: 420.74998... is 420.75
    height_px = round(y2 - y1, 4)
    font = max(width, height) / 20
    shapes = [Rect(0, 0, width, height, "frame")]
    for k, box in enumerate(boxes_px.tolist()):
        if k != setup.asked:
            shapes.append(Rect(*box, "muted"))
    shapes += labelled_box(boxes_px[setup.asked].tolist(), f"s = {fmt(size)}, r = {fmt(ratio)}: width?", "a", font)
    shapes.append(Rect(setup.x - font / 4, setup.y - font / 4, setup.x + font / 4, setup.y + font / 4, "a", fill=True))
    trap = (f" The tempting ${fmt(size)} \\cdot {width} = {fmt(size * width)}$ would take the size as a fraction of "
            "the width; it is a fraction of the height." if width != height else "")
    return Question(
        kind="number",
        text=(f"On {_image_words(setup.image, setup.hw)}, the anchors have sizes {fmt_list(setup.sizes)} and ratios "
              f"{fmt_list(setup.ratios)}. How wide, in pixels, is the anchor with $s = {fmt(size)}$ and "
              f"$r = {fmt(ratio)}$ centred on pixel $(x, y) = ({setup.x}, {setup.y})$?"),
        answer=answer,
        tolerance=1.0,
        unit="px",
        explanation=(
            f"Width $= h \\cdot s \\sqrt{{r}} = {height} \\cdot {fmt(size)} \\cdot \\sqrt{{{fmt(ratio)}}} = "
            f"{fmt(answer)}$ px, and height $= h \\cdot s / \\sqrt{{r}} = {fmt(height_px)}$ px: the ratio of the two "
            f"is $r = {fmt(ratio)}$, the area $(h s)^2$. The image height $h = {height}$ sets the scale of both.{trap} "
            "The centre pixel only moves the box, it never changes its size."
        ),
        link=links.anchors(setup.image, setup.sizes, setup.ratios, setup.x, setup.y),
        figure=fit(shapes, f"A {width} by {height} image with the anchors centred on pixel ({setup.x}, {setup.y}); "
                           "the anchor asked about is labelled.", font),
        params={"image": setup.image, "image_hw": list(setup.hw), "sizes": list(setup.sizes),
                "ratios": list(setup.ratios), "x": setup.x, "y": setup.y, "size": size, "ratio": ratio},
    )


ANCHOR_WIDTH = Step(
    id="anchor-width",
    topics=(4,),
    title="Anchor boxes: their size in pixels",
    idea=(
        "With the book's normalisation, an anchor of size $s$ and ratio $r$ on an image of height $h$ is "
        "$h s \\sqrt{r}$ pixels wide and $h s / \\sqrt{r}$ pixels high. Both lengths scale with the image's "
        "*height*, so width over height is exactly $r$ and the area is $(h s)^2$, whatever the image's width."
    ),
    formula=r"w_{\mathrm{px}} = h\, s \sqrt{r}, \qquad h_{\mathrm{px}} = \frac{h\, s}{\sqrt{r}}",
    source=("d2l 14.4.1 Generating Multiple Anchor Boxes", D2L_CV + "anchor.html#generating-multiple-anchor-boxes"),
    ask=ask_anchor_width,
)


# --- 5. IoU ----------------------------------------------------------------------------------------------------

DEFAULT_IOU_BOXES = ((40.0, 40.0, 240.0, 200.0), (140.0, 100.0, 340.0, 280.0))
"""The anchors tab's IoU defaults, in pixels."""


def iou_boxes(variant: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if variant == 0:
        return DEFAULT_IOU_BOXES
    g = rng(variant, "iou")
    while True:
        corners = []
        for _ in range(2):
            w, h = int(g.integers(8, 23)) * 10, int(g.integers(6, 19)) * 10
            x1, y1 = int(g.integers(0, 41 - w // 10)) * 10, int(g.integers(0, 31 - h // 10)) * 10
            corners.append((float(x1), float(y1), float(x1 + w), float(y1 + h)))
        value = float(box_iou(torch.tensor(corners[:1]), torch.tensor(corners[1:]))[0, 0])
        if 0.05 <= value <= 0.8:
            return corners[0], corners[1]


def ask_iou(variant: int) -> Question:
    a, b = iou_boxes(variant)
    ta, tb = torch.tensor([a], dtype=torch.float64), torch.tensor([b], dtype=torch.float64)
    answer = float(box_iou(ta, tb)[0, 0])
    inter = box_intersection(ta, tb)[0, 0].tolist()
    inter_w, inter_h = inter[2] - inter[0], inter[3] - inter[1]
    area_a, area_b = (a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])
    area_i = inter_w * inter_h
    union = area_a + area_b - area_i
    font = 20.0
    shapes = [Rect(0, 0, 400, 300, "frame"), Rect(*inter, "highlight", fill=True),
              *labelled_box(a, "A", "a", font), *labelled_box(b, "B", "b", font, below=True)]
    return Question(
        kind="number",
        text=f"Box A is {fmt_box(a)} and box B is {fmt_box(b)}, corners in pixels. What is their IoU?",
        answer=answer,
        tolerance=0.01,
        explanation=(
            f"They overlap from x = {fmt(inter[0])} to {fmt(inter[2])} and from y = {fmt(inter[1])} to "
            f"{fmt(inter[3])}: $|A \\cap B| = {fmt(inter_w)} \\cdot {fmt(inter_h)} = {fmt(area_i)}$ px². "
            f"$|A| = {fmt(area_a)}$ and $|B| = {fmt(area_b)}$, so $|A \\cup B| = {fmt(area_a)} + {fmt(area_b)} - "
            f"{fmt(area_i)} = {fmt(union)}$ and IoU $= {fmt(area_i)} / {fmt(union)} = {fmt(answer)}$. The union "
            "counts the shared area once; boxes that visibly overlap can still score well below 0.5."
        ),
        link=links.iou(a, b),
        figure=fit(shapes, "Boxes A and B on a 400 by 300 canvas; their overlap is shaded.", font),
        params={"box_a": list(a), "box_b": list(b)},
    )


IOU = Step(
    id="iou",
    topics=(5,),
    title="Intersection over union",
    idea=(
        "To measure how well two boxes agree, detection uses the Jaccard index: the area the boxes share divided "
        "by the area they cover together. It is 1 for identical boxes and 0 for boxes that do not touch, and it "
        "does not change when both boxes are scaled together."
    ),
    formula=r"J(\mathcal{A}, \mathcal{B}) = \frac{|\mathcal{A} \cap \mathcal{B}|}{|\mathcal{A} \cup \mathcal{B}|}",
    source=("d2l 14.4.2 Intersection over Union", D2L_CV + "anchor.html#intersection-over-union-iou"),
    ask=ask_iou,
)


# --- 6. labeling anchors ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelingSetup:
    ground_truth: tuple[tuple[float, ...], ...]  # (class, x1, y1, x2, y2), normalised
    anchors: tuple[tuple[float, ...], ...]  # (x1, y1, x2, y2), normalised


def _jitter(box: tuple[float, ...], g: np.random.Generator, amount: float = 0.06) -> tuple[float, ...]:
    x1, y1, x2, y2 = (float(np.clip(v + g.uniform(-amount, amount), 0.0, 1.0)) for v in box)
    x1, x2 = sorted((x1, x2))
    y1, y2 = sorted((y1, y2))
    x2, y2 = max(x2, x1 + 0.05), max(y2, y1 + 0.05)
    return _round((x1, y1, x2, y2))


def labeling_setup(variant: int) -> LabelingSetup:
    if variant == 0:
        return LabelingSetup(BOOK_GROUND_TRUTH, BOOK_ANCHORS)
    g = rng(variant, "labeling")
    ground_truth = tuple((float(row[0]), *_jitter(row[1:], g)) for row in BOOK_GROUND_TRUTH)
    return LabelingSetup(ground_truth, tuple(_jitter(a, g) for a in BOOK_ANCHORS))


@dataclass(frozen=True)
class Labeling:
    iou: list[list[float]]  # (A, G)
    picks: list[tuple[int, int, float]]  # greedy (anchor, ground truth, IoU), in order
    threshold_map: list[int]  # (A,) ground truth by threshold alone, -1 = none
    classes: list[int]  # (A,) 0 background, 1 dog, 2 cat
    offsets: list[list[float]]  # (A, 4)


def label_anchors(setup: LabelingSetup, threshold: float = 0.5) -> Labeling:
    gt = torch.tensor(setup.ground_truth, dtype=torch.float64)  # (G, 5)
    anchors = torch.tensor(setup.anchors, dtype=torch.float64)  # (A, 4)
    trace = assign_anchor_to_bbox_steps(gt[:, 1:], anchors, threshold)
    offsets, _, classes = multibox_target(anchors[None], gt[None], threshold)
    return Labeling(
        iou=trace.iou.tolist(),
        picks=[(s.anchor, s.gt, s.iou) for s in trace.steps],
        threshold_map=trace.threshold_map.tolist(),
        classes=classes[0].tolist(),
        offsets=offsets.reshape(-1, 4).tolist(),
    )


def _labeling_figure(setup: LabelingSetup, asked: int, description: str):
    height, width = BOOK_IMAGE_HW
    scale = [width, height, width, height]
    font = 30.0
    shapes = [Rect(0, 0, width, height, "frame")]
    for row in setup.ground_truth:
        cls = int(row[0])
        shapes += labelled_box([v * s for v, s in zip(row[1:], scale)], CLASS_NAMES[cls], box_role(cls), font)
    for k, anchor in enumerate(setup.anchors):
        box = [v * s for v, s in zip(anchor, scale)]
        role = "c" if k == asked else "muted"
        shapes += [Rect(*box, role), Text(box[2] - 0.2 * font, box[3] - 0.3 * font, f"A{k}", 0.9, "end", role)]
    return fit(shapes, description, font)


def _labeling_link(setup: LabelingSetup, result: Labeling):
    return links.labeling(setup.ground_truth, setup.anchors, 0.5, len(result.picks) + 1)


def ask_anchor_label(variant: int) -> Question:
    setup = labeling_setup(variant)
    result = label_anchors(setup)
    asked = 1 if variant == 0 else int(rng(variant, "anchor-label").integers(len(setup.anchors)))
    answer = LABEL_NAMES[result.classes[asked]]
    options, _ = shuffled(variant, "anchor-label", answer, [n for n in LABEL_NAMES if n != answer])
    row = result.iou[asked]
    best = int(np.argmax(row))
    lines = [f"IoU of A{asked} with the dog: {row[0]:.3f}, with the cat: {row[1]:.3f}."]
    for number, (anchor, gt, value) in enumerate(result.picks, start=1):
        lines.append(f"Greedy pick {number}: the largest remaining entry is A{anchor}–{CLASS_NAMES[gt]} "
                     f"({value:.3f}), so A{anchor} gets the {CLASS_NAMES[gt]}; its row and that column leave the "
                     "matrix.")
    picked = {anchor: (gt, value) for anchor, gt, value in result.picks}
    if asked in picked:
        gt, value = picked[asked]
        verdict = f"A{asked} was taken by the greedy pass: **{CLASS_NAMES[gt]}**"
        if value < 0.5:
            verdict += (f", although {value:.3f} is far below 0.5 — the greedy pass makes sure every object gets "
                        "at least one anchor")
    elif result.threshold_map[asked] >= 0:
        verdict = (f"The greedy pass did not take A{asked}; its largest IoU, {row[best]:.3f} with the "
                   f"{CLASS_NAMES[best]}, reaches 0.5, so it is labelled **{CLASS_NAMES[best]}**")
    else:
        verdict = (f"The greedy pass did not take A{asked}, and its largest IoU, {row[best]:.3f}, is below 0.5: "
                   "**background**")
    lines.append(verdict + ".")
    lines.append(f"All five labels: {result.classes} (0 = background, 1 = dog, 2 = cat)"
                 + (", the book's `[[0, 1, 2, 0, 2]]`." if variant == 0 else "."))
    gt_words = "; ".join(f"{CLASS_NAMES[int(r[0])]} {fmt_box(r[1:])}" for r in setup.ground_truth)
    return Question(
        kind="choice",
        text=(f"Ground truth ({gt_words}) and five anchors A0–A4 (normalised corners, picture). With the threshold "
              f"0.5, which label does anchor **A{asked}** {fmt_box(setup.anchors[asked])} get?"),
        options=options,
        answer=answer,
        explanation=" ".join(lines),
        link=_labeling_link(setup, result),
        figure=_labeling_figure(setup, asked, f"The dog and cat boxes and five anchors; A{asked} is highlighted."),
        params={"ground_truth": [list(r) for r in setup.ground_truth], "anchors": [list(a) for a in setup.anchors],
                "anchor": asked},
    )


ANCHOR_LABEL = Step(
    id="anchor-label",
    topics=(6,),
    title="Labeling anchors: classes",
    idea=(
        "For training, every anchor gets a class and an offset. Take the IoU of every anchor with every "
        "ground-truth box, a matrix $X$ of $n_a \\times n_b$; repeatedly pick its largest entry, give that anchor "
        "that box, and delete the row and the column. Once every box has an anchor, each remaining anchor takes "
        "the box of its largest IoU if that IoU reaches a threshold, and is background otherwise."
    ),
    formula=r"(i^\ast, j^\ast) = \arg\max_{i,j}\, x_{ij}\ \text{(greedy)};\qquad \text{then } "
            r"j = \arg\max_j x_{ij} \text{ if } x_{ij} \ge 0.5",
    source=("d2l 14.4.3 Labeling Anchor Boxes", D2L_CV + "anchor.html#labeling-anchor-boxes-in-training-data"),
    ask=ask_anchor_label,
)

OFFSET_NAMES = (("x", r"\frac{(x_b - x_a)/w_a - \mu_x}{\sigma_x}"), ("y", r"\frac{(y_b - y_a)/h_a - \mu_y}{\sigma_y}"),
                ("w", r"\frac{\log(w_b/w_a) - \mu_w}{\sigma_w}"), ("h", r"\frac{\log(h_b/h_a) - \mu_h}{\sigma_h}"))


def ask_anchor_offset(variant: int) -> Question:
    setup = labeling_setup(variant)
    result = label_anchors(setup)
    assigned = [k for k, c in enumerate(result.classes) if c > 0]
    if variant == 0:
        asked, component = 1, 0
    else:
        g = rng(variant, "anchor-offset")
        asked, component = assigned[int(g.integers(len(assigned)))], int(g.integers(4))
    cls = result.classes[asked] - 1
    gt_box = setup.ground_truth[[int(r[0]) for r in setup.ground_truth].index(cls)][1:]
    anchor = setup.anchors[asked]
    answer = round(result.offsets[asked][component], 6)
    xa, ya, wa, ha = box_corner_to_center(torch.tensor(anchor, dtype=torch.float64)).tolist()
    xb, yb, wb, hb = box_corner_to_center(torch.tensor(gt_box, dtype=torch.float64)).tolist()
    name, _ = OFFSET_NAMES[component]
    derivation = [
        rf"\frac{{({fmt(xb)} - {fmt(xa)}) / {fmt(wa)}}}{{0.1}}",
        rf"\frac{{({fmt(yb)} - {fmt(ya)}) / {fmt(ha)}}}{{0.1}}",
        rf"\frac{{\log({fmt(wb)} / {fmt(wa)})}}{{0.2}}",
        rf"\frac{{\log({fmt(hb)} / {fmt(ha)})}}{{0.2}}",
    ][component]
    others = ", ".join(f"{OFFSET_NAMES[c][0]}: {fmt(result.offsets[asked][c])}" for c in range(4) if c != component)
    height, width = BOOK_IMAGE_HW
    scale = [width, height, width, height]
    font = 30.0
    shapes = [Rect(0, 0, width, height, "frame"),
              *labelled_box([v * s for v, s in zip(gt_box, scale)], CLASS_NAMES[cls], box_role(cls), font),
              *labelled_box([v * s for v, s in zip(anchor, scale)], f"A{asked}", "c", font, below=True),
              Rect(xa * width - 4, ya * height - 4, xa * width + 4, ya * height + 4, "c", fill=True),
              Rect(xb * width - 4, yb * height - 4, xb * width + 4, yb * height + 4, box_role(cls), fill=True)]
    return Question(
        kind="number",
        text=(f"Anchor A{asked} {fmt_box(anchor)} is labelled {CLASS_NAMES[cls]}, whose box is {fmt_box(gt_box)} "
              f"(normalised corners). With $\\mu = 0$, $\\sigma_x = \\sigma_y = 0.1$, $\\sigma_w = \\sigma_h = 0.2$, "
              f"what is its **{name}** offset?"),
        answer=answer,
        tolerance=0.05,
        explanation=(
            f"Centres and sizes: the anchor $(x_a, y_a, w_a, h_a) = ({fmt(xa)}, {fmt(ya)}, {fmt(wa)}, {fmt(ha)})$, "
            f"the {CLASS_NAMES[cls]} $(x_b, y_b, w_b, h_b) = ({fmt(xb)}, {fmt(yb)}, {fmt(wb)}, {fmt(hb)})$. "
            f"Offset {name} $= {derivation} = {fmt(answer)}$. The others: {others}. Offsets measure the shift in "
            "units of the anchor's own size, and sizes on a log scale, so the network predicts numbers of similar "
            "range for small and large boxes; a poor anchor gives large targets."
        ),
        link=_labeling_link(setup, result),
        figure=fit(shapes, f"Anchor A{asked} and the {CLASS_NAMES[cls]}'s box, with their centres marked.", font),
        params={"anchor": list(anchor), "box": list(gt_box), "component": name},
    )


ANCHOR_OFFSET = Step(
    id="anchor-offset",
    topics=(6,),
    title="Labeling anchors: offsets",
    idea=(
        "The network does not output a box directly but its offset from the anchor: how far the centre moves, "
        "in units of the anchor's width and height, and the logarithm of how much the width and height change. "
        "The offsets are normalised, commonly with $\\mu = 0$, $\\sigma_x = \\sigma_y = 0.1$ and "
        "$\\sigma_w = \\sigma_h = 0.2$; background anchors get no offset target."
    ),
    formula=(r"\left(\frac{\frac{x_b - x_a}{w_a} - \mu_x}{\sigma_x},\ \frac{\frac{y_b - y_a}{h_a} - \mu_y}{\sigma_y},"
             r"\ \frac{\log\frac{w_b}{w_a} - \mu_w}{\sigma_w},\ \frac{\log\frac{h_b}{h_a} - \mu_h}{\sigma_h}\right)"),
    source=("d2l 14.4.3 Labeling Anchor Boxes", D2L_CV + "anchor.html#labeling-anchor-boxes-in-training-data"),
    ask=ask_anchor_offset,
)


# --- 7. NMS ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NmsSetup:
    boxes: tuple[tuple[float, ...], ...]  # normalised (x1, y1, x2, y2)
    scores: tuple[float, ...]
    threshold: float


def nms_setup(variant: int) -> NmsSetup:
    if variant == 0:
        return NmsSetup(BOOK_NMS_BOXES, BOOK_NMS_SCORES, 0.5)
    g = rng(variant, "nms")
    while True:
        objects = int(g.integers(2, 4))
        counts = [int(c) for c in g.integers(1, 4, size=objects)]
        if not 5 <= sum(counts) <= 7:
            continue
        boxes = []
        for count in counts:
            cx, cy = g.uniform(0.25, 0.75, size=2)
            w, h = g.uniform(0.2, 0.4, size=2)
            for _ in range(count):
                jx, jy = g.uniform(-0.06, 0.06, size=2)
                sw, sh = g.uniform(0.8, 1.2, size=2)
                bw, bh = w * sw, h * sh
                boxes.append(_round(np.clip([cx + jx - bw / 2, cy + jy - bh / 2, cx + jx + bw / 2, cy + jy + bh / 2],
                                            0, 1)))
        scores = _round(g.choice(np.arange(30, 99), len(boxes), replace=False) / 100)
        threshold = float(g.choice([0.3, 0.4, 0.5, 0.6, 0.7]))
        iou = box_iou(torch.tensor(boxes, dtype=torch.float64), torch.tensor(boxes, dtype=torch.float64))
        if not bool(((iou - threshold).abs() < 0.01).any()):
            return NmsSetup(tuple(boxes), scores, threshold)


def _nms_candidates(setup: NmsSetup) -> dict:
    return {"image_size": [BOOK_IMAGE_HW[1], BOOK_IMAGE_HW[0]], "normalized": True,
            "candidates": [[*box, score, 0] for box, score in zip(setup.boxes, setup.scores)]}


def _nms_figure(setup: NmsSetup, removed_by: dict[int, int] | None, description: str):
    height, width = BOOK_IMAGE_HW
    font = 28.0
    shapes = [Rect(0, 0, width, height, "frame")]
    for i, (box, score) in enumerate(zip(setup.boxes, setup.scores)):
        px = [box[0] * width, box[1] * height, box[2] * width, box[3] * height]
        if removed_by is None:
            label, role = f"#{i} {fmt(score)}", box_role(i)
        elif i in removed_by:
            label, role = f"#{i} removed by #{removed_by[i]}", "muted"
        else:
            label, role = f"#{i} {fmt(score)} kept", box_role(i)
        shapes += labelled_box(px, label, role, font, below=i % 2 == 1)
    return fit(shapes, description, font)


def ask_nms(variant: int) -> Question:
    setup = nms_setup(variant)
    boxes = torch.tensor(setup.boxes, dtype=torch.float64)
    scores = torch.tensor(setup.scores, dtype=torch.float64)
    kept = nms(boxes, scores, setup.threshold).tolist()
    steps = nms_steps(boxes, scores, setup.threshold)
    order = sorted(range(len(setup.scores)), key=lambda i: (-setup.scores[i], i))
    lines = ["By score: " + ", ".join(f"#{i} ({fmt(setup.scores[i])})" for i in order) + "."]
    removed_by: dict[int, int] = {}
    quiet: list[str] = []
    for number, step in enumerate(steps, start=1):
        if step.suppressed:
            if len(step.suppressed) == 1:
                listed = (f"#{step.suppressed[0]}, whose IoU with it is {step.ious[0]:.3f} > "
                          f"{fmt(setup.threshold)}")
            else:
                gone = [f"#{j} (IoU {v:.3f})" for j, v in zip(step.suppressed, step.ious)]
                listed = (", ".join(gone[:-1]) + " and " + gone[-1]
                          + f", {'both' if len(gone) == 2 else 'all'} above ε = {fmt(setup.threshold)}")
            lines.append(f"Step {number} keeps #{step.baseline} and removes {listed}.")
            removed_by.update({j: step.baseline for j in step.suppressed})
        else:
            quiet.append(f"#{step.baseline}")
    if quiet:
        lines.append(f"{', '.join(quiet)} {'is' if len(quiet) == 1 else 'are'} kept without removing anything: no "
                     f"box left overlaps {'it' if len(quiet) == 1 else 'them'} by more than ε.")
    survivors = ", ".join(f"#{i}" for i in kept)
    lines.append(f"**{len(kept)}** boxes survive: {survivors}; no two of them overlap by more than ε.")
    if variant == 0:
        lines.append("The dog's two weaker boxes are gone; the cat's box, which overlaps no dog box much, stays.")
    book = variant == 0
    text = ("The book's four predictions: three dog boxes with scores 0.9, 0.8, 0.7 and a cat box with 0.9 "
            f"(picture). NMS with ε = {fmt(setup.threshold)} over all classes together: how many boxes survive?"
            if book else
            f"A detector predicts these {len(setup.boxes)} boxes (picture, with their scores). NMS with "
            f"ε = {fmt(setup.threshold)}: how many boxes survive?")
    return Question(
        kind="number",
        text=text,
        answer=float(len(kept)),
        tolerance=0.0,
        explanation=" ".join(lines),
        link=links.nms(setup.threshold, len(steps), None if book else _nms_candidates(setup)),
        figure=_nms_figure(setup, None, f"{len(setup.boxes)} predicted boxes, each labelled with its number and "
                                        "score."),
        reveal_figure=_nms_figure(setup, removed_by, "The boxes after NMS: kept boxes and removed boxes."),
        params={"boxes": [list(b) for b in setup.boxes], "scores": list(setup.scores), "iou": setup.threshold},
    )


NMS = Step(
    id="nms",
    topics=(7,),
    title="Non-maximum suppression",
    idea=(
        "At prediction time every anchor gets a class and offsets, so one object collects many similar boxes. "
        "Non-maximum suppression sorts the non-background boxes by confidence, keeps the best one, removes every "
        "remaining box whose IoU with it exceeds a threshold $\\varepsilon$, and repeats with the best box left. "
        "At the end, no two kept boxes overlap by more than $\\varepsilon$."
    ),
    formula=r"\text{keep } B_1;\quad \text{remove } B_j \text{ if } \mathrm{IoU}(B_1, B_j) > \varepsilon;\quad "
            r"\text{repeat}",
    source=("d2l 14.4.4 Non-Maximum Suppression",
            D2L_CV + "anchor.html#predicting-bounding-boxes-with-non-maximum-suppression"),
    ask=ask_nms,
)


# --- 8. multiscale detection -----------------------------------------------------------------------------------


def multiscale_setup(variant: int) -> tuple[tuple[tuple[tuple[int, int], tuple[float, ...]], ...], tuple[float, ...]]:
    if variant == 0:
        return BOOK_MULTISCALE, BOOK_RATIOS
    g = rng(variant, "multiscale")
    fh, fw = int(g.integers(3, 9)), int(g.integers(3, 9))
    maps = []
    for base in (0.15, 0.4, 0.75):
        n = int(g.integers(1, 3))
        maps.append(((fh, fw), _round([base + 0.1 * k for k in range(n)])))
        fh, fw = max(1, math.ceil(fh / 2)), max(1, math.ceil(fw / 2))
    m = int(g.integers(1, 4))
    return tuple(maps), BOOK_RATIOS[:m]


def ask_multiscale(variant: int) -> Question:
    maps, ratios = multiscale_setup(variant)
    counts = [int(grid_anchors(hw, sizes, ratios).shape[0]) for hw, sizes in maps]
    answer = sum(counts)
    terms = " + ".join(f"{h} \\cdot {w} \\cdot {len(s) + len(ratios) - 1}" for (h, w), s in maps)
    described = "; ".join(f"{h} × {w} with size{'s' if len(s) > 1 else ''} {fmt_list(s)}" for (h, w), s in maps)
    panel, font = 200.0, 20.0
    shapes = []
    left = 0.0
    for (h, w), sizes in maps:
        pw, ph = panel * w / max(h, w), panel * h / max(h, w)
        shapes += [Rect(left, 0, left + pw, ph, "frame"), Text(left, ph + 1.4 * font, f"{h} × {w}", 1.0, "start")]
        for i in range(1, h):
            shapes.append(Line(left, ph * i / h, left + pw, ph * i / h, "muted"))
        for j in range(1, w):
            shapes.append(Line(left + pw * j / w, 0, left + pw * j / w, ph, "muted"))
        for i in range(h):
            for j in range(w):
                cx, cy = left + pw * (j + 0.5) / w, ph * (i + 0.5) / h
                shapes.append(Rect(cx - 3, cy - 3, cx + 3, cy + 3, "a", fill=True))
        left += pw + 40
    return Question(
        kind="number",
        text=(f"Anchors are centred on the cells of three feature maps: {described}; every map uses the ratios "
              f"{fmt_list(ratios)}. How many anchors do the three maps generate together?"),
        answer=float(answer),
        tolerance=0.0,
        explanation=(
            f"Each map contributes rows · columns · $(n + m - 1)$ anchors: ${terms} = "
            f"{' + '.join(str(c) for c in counts)} = {answer}$. A coarse map spends few anchors on large objects, "
            "which need few positions: on a 2 × 2 image a 1 × 1 object can sit in 4 places, a 1 × 2 object in 2 "
            "and a 2 × 2 object in only 1."
        ),
        link=links.multiscale(maps[0][0][0], maps[0][0][1], maps[0][1], ratios),
        figure=fit(shapes, "Three feature-map grids with a dot at the centre of each cell.", font),
        params={"maps": [[list(hw), list(s)] for hw, s in maps], "ratios": list(ratios)},
    )


MULTISCALE = Step(
    id="multiscale",
    topics=(8,),
    title="Multiscale detection",
    idea=(
        "Anchors at every pixel are far more than needed. Instead, centre them on the cells of a coarser feature "
        "map, sampled uniformly over the image: small anchors on a fine grid to find small objects, large anchors "
        "on a coarse grid for large ones. Each cell of a feature map sees a region of the image, and its features "
        "predict the classes and offsets of its anchors."
    ),
    formula=r"\text{anchors} = \sum_{\text{maps}} f_h\, f_w\, (n + m - 1)",
    source=("d2l 14.5 Multiscale Object Detection", D2L_CV + "multiscale-object-detection.html"),
    ask=ask_multiscale,
)


# --- 9. the data set -------------------------------------------------------------------------------------------


def ask_dataset(variant: int) -> Question:
    options, answer = shuffled(variant, "dataset", "Pad every list with rows of class −1", [
        "Keep only each image's largest object",
        "Repeat objects until every list is equally long",
        "Use batches of a single image",
    ])
    return Question(
        kind="choice",
        text="Images in one batch hold different numbers of objects, but the labels must form one tensor of shape "
             "(batch, m, 5). How does the book make the lists the same length?",
        options=options,
        answer=answer,
        explanation=(
            "Each object is a row (class, x1, y1, x2, y2). Every image's list is padded up to the largest count m "
            "with rows whose class is −1, a class that does not exist, and the anchor labeling skips those rows "
            "(this lab's `multibox_target` does the same). Dropping objects would teach the detector to miss them; "
            "repeating them would count them twice in the loss; batches of one would waste the hardware."
        ),
        link=links.dataset(seed=variant, count=8),
    )


DATASET = Step(
    id="dataset",
    topics=(9,),
    title="A detection data set",
    idea=(
        "Detection needs a box for every object, and drawing them by hand is slow. For teaching, a synthetic set "
        "avoids that: objects (Pikachu in the lecture, bananas in the book, five shapes in this lab) are pasted "
        "at random places and sizes onto real backgrounds, so every box is known exactly."
    ),
    formula=None,
    source=("d2l 14.6 The Object Detection Dataset", D2L_CV + "object-detection-dataset.html"),
    ask=ask_dataset,
)


# --- 10. SSD ---------------------------------------------------------------------------------------------------

BOOK_SSD_SIZES = ((0.2, 0.272), (0.37, 0.447), (0.54, 0.619), (0.71, 0.79), (0.88, 0.961))


def ssd_feature_sides(side: int) -> list[int]:
    """Sides of TinySSD's five feature maps for a square input: the base network's three halvings (each a 2 x 2
    max-pool, stride 2), three more halving blocks, then a global max-pool to 1 x 1."""
    for _ in range(3):
        side = conv_output_size(side, kernel=2, stride=2)
    sides = [side]
    for _ in range(3):
        sides.append(conv_output_size(sides[-1], kernel=2, stride=2))
    return sides + [1]


def ssd_setup(variant: int) -> tuple[int, int, int]:
    """(input side, sizes per scale n, ratios m)."""
    if variant == 0:
        return BOOK_TINY_SSD_SIDE, 2, 3
    g = rng(variant, "ssd")
    return int(g.choice([192, 256, 320, 384, 448, 512])), int(g.integers(1, 4)), int(g.integers(1, 5))


def ask_ssd(variant: int) -> Question:
    side, n, m = ssd_setup(variant)
    sides = ssd_feature_sides(side)
    ratios = (1.0, 2.0, 0.5, 3.0)[:m]
    counts = []
    for k, f in enumerate(sides):
        low, high = BOOK_SSD_SIZES[k]
        sizes = [low + (high - low) * i / max(n - 1, 1) for i in range(n)] if n > 1 else [low]
        counts.append(int(grid_anchors((f, f), sizes, ratios).shape[0]))
    answer = sum(counts)
    positions = sum(f * f for f in sides)
    book = " — the book's anchor tensor of shape `(1, 5444, 4)`" if variant == 0 else ""
    return Question(
        kind="number",
        text=(f"A TinySSD reads a {side} × {side} image. Its base network halves height and width three times; the "
              "next three blocks halve them once each; the last block max-pools the map down to 1 × 1. All five "
              f"scales generate anchors with {n} size{'s' if n > 1 else ''} and {m} ratio{'s' if m > 1 else ''} at "
              "every position. How many anchors in all?"),
        answer=float(answer),
        tolerance=0.0,
        explanation=(
            "The five feature maps are " + ", ".join(f"{f} × {f}" for f in sides) + ": "
            + " + ".join(str(f * f) for f in sides) + f" = {fmt(positions)} positions. Each holds "
            f"${n} + {m} - 1 = {n + m - 1}$ anchors, so there are {fmt(answer)} anchors{book}. "
            f"{fmt(counts[0])} of them sit on the finest map, which looks for the smallest objects; the last map has "
            "just one position, for objects as large as the image."
        ),
        link=links.detection("ssd", "ssd"),
        params={"side": side, "sizes": n, "ratios": m, "feature_sides": sides},
    )


SSD = Step(
    id="ssd",
    topics=(10,),
    title="Single shot multibox detection (SSD)",
    idea=(
        "SSD is a base network followed by a few blocks, each of which halves the feature map's height and width. "
        "At every scale, anchors are generated on the map's cells, and small convolutions predict for each anchor "
        "its class and its four offsets. Deeper blocks see larger parts of the image, so they detect larger "
        "objects; all scales are predicted in one forward pass."
    ),
    formula=r"\text{anchors} = \sum_{i=1}^{5} h_i\, w_i\, (n + m - 1)",
    source=("d2l 14.7 Single Shot Multibox Detection", D2L_CV + "ssd.html"),
    ask=ask_ssd,
)


# --- 11-13. the R-CNN family -----------------------------------------------------------------------------------


def ask_rcnn(variant: int) -> Question:
    options, answer = shuffled(variant, "rcnn", "A CNN forward pass for each of ~2,000 overlapping regions", [
        "Training one support vector machine per class",
        "Refining every box with a regression model",
        "Warping each region to the CNN's input size",
    ])
    return Question(
        kind="choice",
        text="Which stage makes R-CNN slow?",
        options=options,
        answer=answer,
        explanation=(
            "Selective search proposes about two thousand regions per image, and R-CNN runs the whole pre-trained "
            "CNN on every one of them separately. The regions overlap heavily, so most of this work recomputes "
            "features already computed for a neighbouring region. Warping, the per-class SVMs and the box "
            "regressors are cheap next to thousands of CNN passes. Fast R-CNN removes the repetition by running "
            "the CNN once per image."
        ),
        link=links.detection("faster_rcnn", "frcnn"),
    )


RCNN = Step(
    id="rcnn",
    topics=(11,),
    title="R-CNN",
    idea=(
        "R-CNN detects in three stages. Selective search proposes many regions, each labelled in training with a "
        "class and a box. Each region is warped to the input size of a pre-trained CNN, cut off before its output "
        "layer, which turns it into a feature vector. One support vector machine per class classifies the "
        "features, and a regressor refines the box."
    ),
    formula=None,
    source=("d2l 14.8.1 R-CNN", D2L_CV + "rcnn.html#r-cnns"),
    ask=ask_rcnn,
)


def roi_setup(variant: int) -> tuple[tuple[tuple[float, ...], ...], tuple[float, ...], tuple[int, int]]:
    """(4 x 4 feature map, RoI in pixels, bin asked)."""
    if variant == 0:
        return BOOK_ROI_MAP, BOOK_ROI, (0, 1)
    g = rng(variant, "roi-pool")
    values = g.permutation(16).reshape(4, 4)
    x1, y1 = int(g.integers(0, 3)), int(g.integers(0, 3))
    x2, y2 = int(g.integers(x1 + 1, 4)), int(g.integers(y1 + 1, 4))
    feature = tuple(tuple(float(v) for v in row) for row in values)
    roi = (10.0 * x1, 10.0 * y1, 10.0 * x2, 10.0 * y2)
    return feature, roi, (int(g.integers(2)), int(g.integers(2)))


def ask_roi_pool(variant: int) -> Question:
    from core.models.faster_rcnn import roi_pool_vs_align

    feature, roi, (i, j) = roi_setup(variant)
    result = roi_pool_vs_align(torch.tensor(feature)[None], roi, ROI_SCALE, (2, 2))
    pool = result["pool"]
    values = pool["values_from_bins"][0]  # (2, 2), the lab's own max over the bins
    answer = float(values[i, j])
    qx1, qy1, qx2, qy2 = pool["quantised"]
    rows = [tuple(r) for r in pool["bins_y"].tolist()]
    cols = [tuple(c) for c in pool["bins_x"].tolist()]
    cells = [feature[r][c] for r in range(*rows[i]) for c in range(*cols[j])]
    where = BIN_NAMES[(i, j)]
    def span(first: int, end: int) -> str:
        return str(first) if end - 1 == first else f"{first}–{end - 1}"

    shared = " (the rows do not split evenly, so the bins share a row)" if rows[0][1] > rows[1][0] else ""
    shared += " (the columns do not split evenly, so the bins share a column)" if cols[0][1] > cols[1][0] else ""
    roi_cells = {(r, c) for r in range(qy1, qy2 + 1) for c in range(qx1, qx2 + 1)}
    cell, font = 50.0, 20.0
    shapes = [*matrix(feature, 0, 0, cell, "feature map X", highlight=roi_cells),
              *matrix([["", ""], ["", ""]], 4 * cell + 60, cell, cell, "2 × 2 output", unknown=[(i, j)])]
    book = ", as in the book" if variant == 0 else ""
    return Question(
        kind="number",
        text=(f"A 4 × 4 feature map (picture) covers a 40 × 40 image, so the spatial scale is 0.1. RoI pooling of "
              f"the region {fmt_box(roi)} (image pixels) into 2 × 2 bins: what is the **{where}** value?"),
        answer=answer,
        tolerance=0.0,
        explanation=(
            f"Scaled by 0.1 and rounded, the RoI covers columns {qx1}–{qx2} and rows {qy1}–{qy2} of the map (both "
            f"ends included). The bins take rows {span(*rows[0])} | {span(*rows[1])} and columns {span(*cols[0])} | "
            f"{span(*cols[1])}{shared}. The {where} bin holds "
            f"{fmt_list(cells)}, and pooling keeps the maximum, {fmt(answer)}. The whole output is "
            f"{fmt_matrix(values.tolist())}{book}."
        ),
        link=links.detection("faster_rcnn", "roi"),
        figure=fit(shapes, "A 4 by 4 feature map with the region of interest shaded, and the 2 by 2 output with the "
                           "asked cell marked.", font),
        params={"feature_map": [list(r) for r in feature], "roi": list(roi), "bin": [i, j]},
    )


ROI_POOL = Step(
    id="roi-pool",
    topics=(12,),
    title="Fast R-CNN and RoI pooling",
    idea=(
        "Fast R-CNN runs the CNN once, on the whole image. Each of the $n$ proposed regions becomes a region of "
        "interest on the feature map, and RoI pooling cuts it into a fixed grid of bins and keeps each bin's "
        "maximum, so regions of any size give features of one shape. A fully connected layer turns them into an "
        "$n \\times d$ matrix, from which a softmax predicts $n \\times q$ class probabilities and a regressor "
        "$n \\times 4$ box offsets."
    ),
    formula=r"y_{ij} = \max_{(r, c) \in \mathrm{bin}_{ij}} X_{rc}",
    source=("d2l 14.8.2 Fast R-CNN", D2L_CV + "rcnn.html#fast-r-cnn"),
    ask=ask_roi_pool,
)


def ask_faster_rcnn(variant: int) -> Question:
    options, answer = shuffled(variant, "faster-rcnn", "Its proposals are learned, together with the detector", [
        "Its NMS uses a lower IoU threshold",
        "It ignores regions smaller than the anchors",
        "Its feature map has a finer resolution",
    ])
    return Question(
        kind="choice",
        text="Faster R-CNN reaches Fast R-CNN's accuracy with far fewer proposals (hundreds instead of about two "
             "thousand). Why can it afford fewer?",
        options=options,
        answer=answer,
        explanation=(
            "Selective search knows nothing about the classes or the detector: it proposes every region that looks "
            "like a coherent patch, so it needs thousands to be sure to cover the objects. The region proposal "
            "network is trained on the same data and shares the detector's features: it learns what the objects of "
            "*this* task look like, scores anchors by how likely they hold one, and refines their boxes, so a few "
            "hundred well-placed proposals suffice. Proposing inside the network is also much faster."
        ),
        link=links.detection("faster_rcnn", "frcnn"),
    )


FASTER_RCNN = Step(
    id="faster-rcnn",
    topics=(13,),
    title="Faster R-CNN",
    idea=(
        "Faster R-CNN keeps Fast R-CNN's single CNN pass and its RoI pooling, and changes where the regions come "
        "from. Anchors on the feature map are scored and refined by a small network that shares the CNN's "
        "features, and the best of them, after NMS, become the regions of interest."
    ),
    formula=None,
    source=("d2l 14.8.3 Faster R-CNN", D2L_CV + "rcnn.html#faster-r-cnn"),
    ask=ask_faster_rcnn,
)

STEPS = (AUGMENTATION, FINETUNE, BOX_CENTER, ANCHOR_COUNT, ANCHOR_WIDTH, IOU, ANCHOR_LABEL, ANCHOR_OFFSET, NMS,
         MULTISCALE, DATASET, SSD, RCNN, ROI_POOL, FASTER_RCNN)
