"""Generative models tab: a DCGAN latent explorer, a conditional GAN, CycleGAN and ProGAN, all trained here.

Five sub-tabs, each with its formula and its source (the book covers DCGAN; the others cite their papers):

- Latent explorer (DCGAN on 16x16 digits): a seed gives a grid; truncation; one sample moved along the top
  PCA directions of the first layer's activations (GANSpace); its nearest real training digit.
- Interpolation between two seeds' samples, linear or spherical, as a strip.
- CGAN: pick the digit; a grid of samples; the same latents drawn as every digit.
- CycleGAN (day <-> night): A -> B, B -> A and the round trip with its cycle loss, on a sample or an upload.
- ProGAN: the same z drawn by the generator after each growth stage (4x4 ... 32x32); the fade-in blend.

All the math lives in `core.generative`; this module validates inputs, lays out pictures and formats numbers.
Every random draw comes from the seed inputs (`core.ops.latent.latents`, a per-call NumPy generator).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import gradio as gr
import numpy as np
import torch

from core.models import cgan, cyclegan, dcgan, progan
from core.data.digits import NUM_CLASSES, load_digits_tensor, to_uint8
from core.ops.latent import (PrincipalDirections, generate, interpolate, latents, nearest_neighbours,
                                    principal_directions, truncate)
from core.evaluation.generative import digit_classifier
from core.weights.registry import load_model
from demos import drawing, inputs
from demos.common import (
    D2L_GAN, LATEX, LazyResource, book_link, image_upload, read_image, sample_names, single_threaded, to_jsonable,
)
from demos.inputs import user_errors
from demos.router import TabUI
from demos.view import View, ViewValueError, param

TITLE = "Generative models"

SAMPLE_MODELS = ("dcgan", "cgan", "progan")
INTERPOLATE_MODELS = ("dcgan", "progan")
MAX_SAMPLES = 32
MAX_STEPS = 12
DEFAULT_SEED = 7
DEFAULT_N = 16
DEFAULT_PSI = 1.0
DEFAULT_SEED_A = 2
"""Seed 2's first DCGAN sample is a clear 3, seed 26's a clear 0: a path with a visible change."""
DEFAULT_SEED_B = 26
DEFAULT_STEPS = 9
PCA_COMPONENTS = 5
PCA_RANGE = 3.0
"""The PCA sliders move a sample by up to ±3 standard deviations of each component."""
COPY_RATIO = 0.75
"""A sample closer to its nearest real digit than 0.75x the typical real-to-real nearest distance looks copied."""
DISPLAY_SIDE = 128
"""Every generated digit is shown at 128 px, enlarged with nearest-neighbour (the real pixels stay visible)."""
ALL_CLASS_ROWS = 3
PROGAN_STAGE_NAMES = ("4×4", "8×8", "16×16", "32×32")
CYCLE_MAX_UPLOAD_SIDE = 2048
HELD_OUT_SAMPLE = "coffee"
"""The bundled sample CycleGAN never saw (in either domain)."""

PAPER_GANSPACE = "[GANSpace, Härkönen et al. 2020](https://arxiv.org/abs/2004.02546)"
PAPER_CGAN = "[Conditional GAN, Mirza & Osindero 2014](https://arxiv.org/abs/1411.1784)"
PAPER_CYCLEGAN = "[CycleGAN, Zhu et al. 2017](https://arxiv.org/abs/1703.10593)"
PAPER_PROGAN = "[Progressive GAN, Karras et al. 2018](https://arxiv.org/abs/1710.10196)"
BOOK_DCGAN = book_link("dcgan.html", "20.2 Deep Convolutional GANs", chapter=D2L_GAN)
BOOK_GAN = book_link("gan.html", "20.1 Generative Adversarial Networks", chapter=D2L_GAN)


# --- models, loaded lazily, once ------------------------------------------------------------------


@dataclass
class Explorer:
    """The DCGAN generator with what the latent explorer needs beside it."""

    generator: dcgan.Generator
    directions: PrincipalDirections
    real: torch.Tensor  # (N, 1, 16, 16) the training digits in [-1, 1]
    real_labels: torch.Tensor  # (N,)
    real_nn_median: float  # median distance from a real digit to its nearest other real digit


def _build_explorer() -> Explorer:
    generator = load_model("dcgan")
    directions = principal_directions(generator.features, generator.config.latent_dim, k=PCA_COMPONENTS)
    real, labels = load_digits_tensor(generator.config.image_size)
    flat = real.reshape(len(real), -1)  # (N, 256)
    distances = torch.cdist(flat, flat)
    distances.fill_diagonal_(float("inf"))
    return Explorer(generator, directions, real, labels, float(distances.min(1).values.median()))


EXPLORER = LazyResource(_build_explorer)
JUDGE = LazyResource(digit_classifier)
"""The SVM trained on real digits only that says which digit it reads in a sample."""


# --- input checks ------------------------------------------------------------------------------------


def _token(value: Any) -> str:
    """A choice typed by an API client, as the tab writes it ("DCGAN " -> "dcgan")."""
    return str(value).strip().lower() if value is not None else ""


def _digit(value: Any) -> int:
    return inputs.whole(value, "The digit (label)", low=0, high=NUM_CLASSES - 1)


def _show(images: torch.Tensor) -> np.ndarray:
    """(B, 1, S, S) in [-1, 1] -> (B, 128, 128, 3) uint8 for display."""
    return to_uint8(images, scale=DISPLAY_SIDE // images.shape[-1])


def mosaic(tiles: np.ndarray, columns: int, column_labels: list[str] | None = None, gap: int = 4,
           tile_numbers: bool = False) -> np.ndarray:
    """Tiles (N, h, w, 3) uint8 laid out row-major in `columns` columns on a light background, with optional
    labels under the columns and optional tile numbers in the tiles' top-left corners. Returns (H, W, 3) uint8.

    The labels go under the tiles: the page draws its picture buttons (download, fullscreen) over the top right
    corner, where a label above the last column ("nearest real: 8") was hidden."""
    from PIL import Image, ImageDraw

    n, h, w, _ = tiles.shape
    rows = -(-n // columns)
    under = MOSAIC_LABEL_HEIGHT if column_labels else 0
    grid_height = rows * (h + gap) + gap
    canvas = np.full((grid_height + under, columns * (w + gap) + gap, 3), 235, dtype=np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        y, x = gap + r * (h + gap), gap + c * (w + gap)
        canvas[y:y + h, x:x + w] = tile
    if column_labels or tile_numbers:
        picture = Image.fromarray(canvas)
        draw = ImageDraw.Draw(picture)
        for c, text in enumerate(column_labels or []):
            draw.text((gap + c * (w + gap) + w / 2, grid_height + under / 2 - 2), text, fill=(30, 30, 30),
                      font=drawing.font(16), anchor="mm")
        if tile_numbers:
            for i in range(n):
                r, c = divmod(i, columns)
                draw.text((gap + c * (w + gap) + 3, gap + r * (h + gap) + 1), str(i), fill=(120, 170, 255),
                          font=drawing.font(12))
        canvas = np.asarray(picture)
    return canvas


MOSAIC_LABEL_HEIGHT = 28
"""Height of the strip of column labels under a mosaic (pixels)."""


# --- gan_sample / gan_interpolate: the API contract ------------------------------------------------------


def _samples(model: str, seed: int, n: int, label: int) -> torch.Tensor:
    if model == "dcgan":
        return dcgan.sample(EXPLORER.get().generator, seed, n)
    if model == "cgan":
        return cgan.sample(load_model("cgan"), seed, n, label)
    return progan.sample(load_model("progan").final, seed, n)


@single_threaded
def gan_sample(model: str, seed: Any, n: Any, label: Any) -> tuple[list[np.ndarray], dict]:
    """n samples of `model` ("dcgan", "cgan" or "progan") for `seed`; `label` is the digit for cgan.

    Returns a gallery of n images (the same inputs give the same images; sample i does not depend on n) and
    JSON with the digit an SVM trained on real digits reads in each sample (and, for cgan, how many match).
    """
    model = inputs.choice(_token(model), "model", SAMPLE_MODELS)
    seed = inputs.seed(seed)
    n = inputs.whole(n, "n (number of samples)", low=1, high=MAX_SAMPLES)
    digit = _digit(label) if model == "cgan" else None
    with user_errors():
        images = _samples(model, seed, n, digit or 0)
    read_as = JUDGE.get().predict(images)
    gallery = list(_show(images))
    data: dict[str, Any] = {
        "model": model, "seed": seed, "n": n, "label": digit, "resolution": int(images.shape[-1]),
        "read_as": read_as.tolist(),
    }
    if model == "cgan":
        data["share_read_as_label"] = float((read_as == digit).mean())
    return gallery, to_jsonable(data)


def _generate(model: str, z: torch.Tensor) -> torch.Tensor:
    return generate(EXPLORER.get().generator if model == "dcgan" else load_model("progan").final, z)


def _latent_dim(model: str) -> int:
    return EXPLORER.get().generator.config.latent_dim if model == "dcgan" else load_model("progan").config.latent_dim


@single_threaded
def gan_interpolate(model: str, seed_a: Any, seed_b: Any, steps: Any, mode: str) -> tuple[list[np.ndarray], dict]:
    """`steps` images from seed A's sample to seed B's sample, interpolating z linearly or spherically (slerp).

    The first and last images equal `gan_sample(model, seed, 1, 0)` for seed A and seed B. JSON: t and |z| along
    the path (a linear path dips towards the origin, where Gaussian latents almost never are; slerp does not).
    """
    model = inputs.choice(_token(model), "model (interpolation works for dcgan and progan)", INTERPOLATE_MODELS)
    seed_a, seed_b = inputs.seed(seed_a), inputs.seed(seed_b)
    steps = inputs.whole(steps, "steps", low=2, high=MAX_STEPS)
    mode = inputs.choice(_token(mode), "mode", ("linear", "slerp"))
    dim = _latent_dim(model)
    with user_errors():
        path = interpolate(latents(seed_a, 1, dim)[0], latents(seed_b, 1, dim)[0], steps, mode)  # (steps, D)
    images = _generate(model, path)
    t = torch.linspace(0, 1, steps)
    gallery = list(_show(images))
    return gallery, to_jsonable({
        "model": model, "seed_a": seed_a, "seed_b": seed_b, "steps": steps, "mode": mode,
        "t": t, "latent_norm": path.norm(dim=1), "expected_norm_sqrt_d": dim**0.5,
    })


# --- latent explorer ------------------------------------------------------------------------------------


GRID_TILE = 64
"""Tiles of the explorer's mosaics are 64 px (16 px digits x 4), 4 px apart."""
GRID_GAP = 4


def grid_columns(n: int) -> int:
    """Columns of the explorer's grid: 8 at most (two wide rows for 16 samples fit a projector)."""
    return min(n, 8)


@single_threaded
def latent_grid(seed: Any, n: Any, psi: Any) -> tuple[np.ndarray, dict]:
    """The DCGAN grid for `seed` with truncation ψ (z' = ψ z), sample numbers in the corners.

    Returns one picture (`grid_columns(n)` columns, 64 px tiles) and JSON with what an SVM trained on real
    digits reads in each sample."""
    seed = inputs.seed(seed)
    n = inputs.whole(n, "n (number of samples)", low=1, high=MAX_SAMPLES)
    psi = inputs.number(psi, "Truncation ψ", low=0.0, high=2.0)
    explorer = EXPLORER.get()
    z = truncate(latents(seed, n, explorer.generator.config.latent_dim), psi)
    images = generate(explorer.generator, z)
    read_as = JUDGE.get().predict(images)
    tiles = to_uint8(images, scale=GRID_TILE // images.shape[-1])
    picture = mosaic(tiles, grid_columns(n), gap=GRID_GAP, tile_numbers=True)
    counts = np.bincount(read_as, minlength=NUM_CLASSES)
    return picture, to_jsonable({"seed": seed, "n": n, "truncation_psi": psi, "read_as": read_as,
                                 "different_digits_read": int((counts > 0).sum())})


def grid_index(x: float, y: float, n: int) -> int:
    """The sample under pixel (x, y) of `latent_grid`'s picture (the nearest tile when between tiles)."""
    columns = grid_columns(n)
    column = min(max(int((x - GRID_GAP / 2) // (GRID_TILE + GRID_GAP)), 0), columns - 1)
    row = max(int((y - GRID_GAP / 2) // (GRID_TILE + GRID_GAP)), 0)
    return min(row * columns + column, n - 1)


@single_threaded
def latent_edit(seed: Any, n: Any, psi: Any, index: Any, *amounts: Any) -> tuple[np.ndarray, str, dict]:
    """Sample #index of the grid moved by `amounts` standard deviations along the top PCA directions, and the
    nearest real training digit to the moved sample (L2 distance in pixels of [-1, 1])."""
    seed = inputs.seed(seed)
    n = inputs.whole(n, "n (number of samples)", low=1, high=MAX_SAMPLES)
    psi = inputs.number(psi, "Truncation ψ", low=0.0, high=2.0)
    index = inputs.whole(index, "the sample number", low=0, high=n - 1)
    if len(amounts) != PCA_COMPONENTS:
        raise gr.Error(f"Expected {PCA_COMPONENTS} PCA amounts, got {len(amounts)}.")
    steps = torch.tensor([inputs.number(a, f"PC{k + 1}", low=-PCA_RANGE, high=PCA_RANGE)
                          for k, a in enumerate(amounts)])
    explorer = EXPLORER.get()
    z = truncate(latents(seed, index + 1, explorer.generator.config.latent_dim)[index:], psi)  # (1, D)
    moved = explorer.directions.move(z, steps)
    images = generate(explorer.generator, torch.cat([z, moved]))  # (2, 1, 16, 16)
    nearest, distance = nearest_neighbours(images[1:], explorer.real)
    real_index = int(nearest[0])
    real_label = int(explorer.real_labels[real_index])
    shown = to_uint8(torch.cat([images, explorer.real[real_index:real_index + 1]]), scale=8)  # (3, 128, 128, 3)
    picture = mosaic(shown, 3, [f"sample #{index}", "moved", f"nearest real: {real_label}"], gap=6)
    ratio = float(distance[0]) / explorer.real_nn_median
    if ratio < COPY_RATIO:
        verdict = "closer than real digits usually are to each other: possibly a near copy"
    elif ratio <= 1 / COPY_RATIO:
        verdict = "about as close as real digits are to each other: a new digit in the data's style"
    else:
        verdict = "farther than real digits are from each other: not a copy"
    note = (f"The moved sample's nearest real digit (of 1,797) is a {real_label} at L2 = "
            f"**{float(distance[0]):.2f}**; a real digit's nearest other real digit is "
            f"typically {explorer.real_nn_median:.2f} away (median), ratio {ratio:.2f}: {verdict}.")
    return picture, note, to_jsonable({
        "seed": seed, "index": index, "truncation_psi": psi, "pca_amounts_std": steps,
        "explained_variance_ratio": explorer.directions.explained,
        "nearest_real_index": real_index, "nearest_real_label": real_label,
        "nearest_real_l2": float(distance[0]), "median_real_to_real_nearest_l2": explorer.real_nn_median,
    })


# --- CGAN ------------------------------------------------------------------------------------------


@single_threaded
def cgan_all_classes(seed: Any, rows: Any) -> tuple[np.ndarray, dict]:
    """`rows` latents of `seed`, each drawn as every digit 0..9: one row per z (same style, different class).

    Returns one picture (rows x 10 tiles, digits labelled above the columns) and JSON with what the real-digit
    SVM reads in each tile."""
    seed = inputs.seed(seed)
    rows = inputs.whole(rows, "rows (latents)", low=1, high=8)
    images = cgan.sample_all_classes(load_model("cgan"), seed, rows)  # (10 * rows, 1, 16, 16), class-major
    order = torch.arange(NUM_CLASSES * rows).reshape(NUM_CLASSES, rows).T.reshape(-1)  # row r: z_r as 0, 1, ..., 9
    images = images[order]
    labels = torch.arange(NUM_CLASSES).repeat(rows)
    read_as = JUDGE.get().predict(images)
    picture = mosaic(to_uint8(images, scale=4), NUM_CLASSES, [str(d) for d in range(NUM_CLASSES)])
    return picture, to_jsonable({
        "seed": seed, "rows": rows, "asked": labels.reshape(rows, NUM_CLASSES),
        "read_as": read_as.reshape(rows, NUM_CLASSES), "share_read_as_asked": float((read_as == labels.numpy()).mean()),
    })


# --- CycleGAN ----------------------------------------------------------------------------------------


DIRECTION_LABELS = {"A->B": "day → night (A→B, G)", "B->A": "night → day (B→A, F)"}


def _cycle_source(image: Any) -> np.ndarray:
    array = read_image(image, max_side=CYCLE_MAX_UPLOAD_SIDE)
    return cyclegan.to_working_size(array)


@single_threaded
def cyclegan_translate(image: Any, direction: str) -> tuple[list[tuple[np.ndarray, str]], dict]:
    """Translate `image` (taken to be in the source domain) with G (A->B) or F (B->A), then back.

    The image is resized to 160 px on its long side (the scale of the training photos). Returns the gallery
    [input, translated, back] and {"cycle_loss": mean |back - input| on the [-1, 1] scale, ...}.
    """
    return _translate(_cycle_source(image), direction)


def _translate(source: np.ndarray, direction: str) -> tuple[list[tuple[np.ndarray, str]], dict]:
    """`cyclegan_translate` of a (H, W, 3) uint8 picture already at CycleGAN's working size."""
    if direction not in cyclegan.DIRECTIONS:
        raise gr.Error(f"direction must be 'A->B' (day to night) or 'B->A' (night to day), got {direction!r}.")
    with user_errors():
        result = cyclegan.translate(load_model("cyclegan"), source, direction)
    src, dst = direction.split("->")
    names = cyclegan.DOMAINS
    gallery = [
        (result.source, f"input ({src}: {names[src]})"),
        (result.translated, f"translated ({dst}: {names[dst]})"),
        (result.reconstructed, f"back to {src}: cycle loss {result.cycle_loss:.3f}"),
    ]
    data = {"direction": direction, "cycle_loss": result.cycle_loss, "size": [source.shape[1], source.shape[0]]}
    if direction == "A->B":  # we know the true filter: how close is G's night to it? (never used in training)
        true = cyclegan.to_tensor(cyclegan.night_filter(source))
        data["l1_to_true_filter"] = float((cyclegan.to_tensor(result.translated) - true).abs().mean())
        data["l1_input_to_true_filter"] = float((cyclegan.to_tensor(source) - true).abs().mean())
    return gallery, to_jsonable(data)


@single_threaded
def cycle_view(upload: Any, sample: str, night: bool, direction: str) -> tuple[list[tuple[np.ndarray, str]], dict]:
    """The CycleGAN sub-tab: the upload (else the bundled `sample`), made night by the true grade when `night`
    (a B image), translated in `direction` and back (`cyclegan_translate`)."""
    if upload is None and sample not in sample_names():
        raise gr.Error(f"Unknown sample {sample!r}; choose one of {', '.join(sample_names())}.")
    source = cyclegan.to_working_size(read_image(upload, max_side=CYCLE_MAX_UPLOAD_SIDE, sample=sample))
    if night:
        source = cyclegan.night_filter(source)
    return _translate(source, direction)


def cycle_sample(name: str) -> np.ndarray:
    """A bundled sample at CycleGAN's working size, as the input image."""
    if name not in sample_names():
        raise gr.Error(f"Unknown sample {name!r}; choose one of {', '.join(sample_names())}.")
    return cyclegan.to_working_size(read_image(None, max_side=None, sample=name))


def cycle_make_night(image: Any) -> np.ndarray:
    """Apply domain B's filter (the night grade) to the input image: a B input for B->A."""
    return cyclegan.night_filter(_cycle_source(image))


# --- ProGAN ------------------------------------------------------------------------------------------


@single_threaded
def progan_stages(seed: Any) -> tuple[list[tuple[np.ndarray, str]], dict]:
    """The same z (seed's first latent) drawn by the generator as it was at the end of each growth stage."""
    seed = inputs.seed(seed)
    grown = load_model("progan")
    z = latents(seed, 1, grown.config.latent_dim)
    gallery, read = [], []
    judge = JUDGE.get()
    with torch.no_grad():
        for stage, generator in enumerate(grown.snapshots):
            image = generator(z, stage)  # (1, 1, R, R)
            read.append(int(judge.predict(image)[0]) if image.shape[-1] >= 8 else None)
            gallery.append((_show(image)[0], PROGAN_STAGE_NAMES[stage]))
    return gallery, to_jsonable({"seed": seed, "resolutions": [4, 8, 16, 32], "read_as": read})


@single_threaded
def progan_fade(seed: Any, stage: Any, alpha: Any) -> tuple[list[tuple[np.ndarray, str]], dict]:
    """Fade-in of `stage` (1: 8x8, 2: 16x16, 3: 32x32) in the generator at the end of that stage:
    out = (1 - α) · upsample(to_rgb_old(h)) + α · to_rgb_new(block_new(h))."""
    seed = inputs.seed(seed)
    stage = inputs.whole(stage, "stage", low=1, high=3)
    alpha = inputs.number(alpha, "α", low=0.0, high=1.0)
    generator = load_model("progan").snapshots[stage]
    z = latents(seed, 1, generator.config.latent_dim)
    with torch.no_grad():
        old, new = generator.fade_parts(z, stage)
        blend = generator(z, stage, alpha)
    shown = _show(torch.cat([old, new, blend]))
    gallery = [
        (shown[0], f"old ×{1 - alpha:.2f}"),
        (shown[1], f"new ×{alpha:.2f}"),
        (shown[2], "blend"),
    ]
    return gallery, to_jsonable({
        "seed": seed, "stage": stage, "alpha": alpha, "resolution": int(blend.shape[-1]),
        "mean_abs_old_minus_new": float((old - new).abs().mean()),
    })


# --- layout --------------------------------------------------------------------------------------------

INTRO_MD = r"""A GAN's generator $G$ maps a random latent $z \sim \mathcal N(0, I)$ to an image; the discriminator $D$
learns to tell real from generated images while $G$ learns to fool it:
$\min_G \max_D\ \mathbb E_x[\log D(x)] + \mathbb E_z[\log(1 - D(G(z)))]$. Every model here was trained on this
machine on bundled data (scikit-learn's 1,797 handwritten 8×8 digits, upscaled; photos from scikit-image)."""

EXPLORER_MD = rf"""**DCGAN on 16×16 digits.** A seed fixes the latents $z_i$. **Truncation** pulls them towards the mean:
$z' = \psi z$ (cleaner, less varied samples for $\psi<1$). **PCA directions** (as in {PAPER_GANSPACE}): PCA of the
first layer's activations $y = G_1(z)$ over 4,096 latents, transferred back to $z$ by least squares
$U = \arg\min_U \lVert XU - Z\rVert^2$; a slider moves the chosen sample by $x_k\sigma_k U_k$.
The nearest real digit answers "does it just memorise?". {BOOK_DCGAN}"""

INTERP_MD = rf"""**Interpolation** between the first samples of two seeds: linear $z(t) = (1-t)z_A + t z_B$ or spherical
$z(t) = \frac{{\sin((1-t)\theta)}}{{\sin\theta}}z_A + \frac{{\sin(t\theta)}}{{\sin\theta}}z_B$ with $\theta = \angle(z_A, z_B)$
(Shoemake 1985; used for GANs since White 2016). A linear path cuts through the middle of the ball, where Gaussian
latents almost never lie ($|z|\approx\sqrt D$), so its middle images can look washed out; slerp stays on the shell.
The end images are exactly the two seeds' samples. {BOOK_DCGAN}"""

CGAN_MD = rf"""**Conditional GAN**: both players see the class $y$ as a one-hot vector (concatenated to $z$ for $G$, as 10
constant planes for $D$): $\min_G\max_D\ \mathbb E[\log D(x\mid y)] + \mathbb E[\log(1 - D(G(z\mid y)\mid y))]$.
{{measured}}{PAPER_CGAN} · {BOOK_GAN}"""

CYCLE_MD = rf"""**CycleGAN**, unpaired: $G: A\to B$ and $F: B\to A$ learn from day photos (A: left halves) and night
scenes (B: right halves after a "day for night" grade): no photo is ever shown with its own night version.
$\mathcal L = \mathcal L_{{GAN}}(G, D_B) + \mathcal L_{{GAN}}(F, D_A) + \lambda\,(\lVert F(G(a)) - a\rVert_1 +
\lVert G(F(b)) - b\rVert_1) + \lambda_{{id}}(\lVert G(b)-b\rVert_1 + \lVert F(a)-a\rVert_1)$, λ = 10, λ_id = 5.
The **cycle loss** shown is $\mathrm{{mean}}\,|F(G(a)) - a|$ on the [-1, 1] scale. {PAPER_CYCLEGAN}"""

PROGAN_MD = rf"""**Progressive GAN**: training starts at 4×4 and adds a block per stage (8×8, 16×16, 32×32). A new block
fades in: $\text{{out}} = (1-\alpha)\cdot\text{{up}}(\text{{toRGB}}_{{old}}(h)) + \alpha\cdot\text{{toRGB}}_{{new}}(\text{{block}}(h))$
while α runs from 0 to 1. Left: one $z$ as the generator drew it at the end of each stage; right: the blend of the
chosen stage, in the generator saved at the end of that stage. {PAPER_PROGAN}"""


def _card_metric(name: str, *keys: str) -> Any:
    """A number from a model card, for the explanations (None when absent)."""
    try:
        from core.weights import hub

        value: Any = hub.load_card(name)["card"]["metrics"]
        for key in keys:
            value = value[key]
        return value
    except Exception:  # the explanation still renders without the number
        return None


def _gallery(label: str, columns: int, height: int | str = "auto", elem_id: str | None = None) -> gr.Gallery:
    """A PNG gallery without its floating label (it would cover the first picture): put a heading above."""
    return gr.Gallery(label=label, show_label=False, columns=columns, height=height, format="png",
                      object_fit="contain", allow_preview=False, buttons=["download"], interactive=False,
                      elem_id=elem_id)


def _strip_layout(steps: Any, data: dict | None) -> tuple[gr.Gallery, str]:
    """One gallery column per step, and the |z| along the path in words."""
    if not data or "latent_norm" not in data:
        return gr.Gallery(), ""
    norms = data["latent_norm"]
    dim = round(data["expected_norm_sqrt_d"] ** 2)
    note = (f"|z| along the path: {' → '.join(f'{v:.1f}' for v in norms)} (a Gaussian latent in {dim} "
            f"dimensions has |z| ≈ √D = {data['expected_norm_sqrt_d']:.1f}; the {data['mode']} path's smallest is "
            f"{min(norms):.1f}).")
    return gr.Gallery(columns=int(data["steps"])), note


def _read_note(data: dict | None) -> str:
    """What the real-digit SVM reads in each sample, in order."""
    if not data or "read_as" not in data:
        return ""
    reads = " ".join(str(d) for d in data["read_as"])
    text = f"An SVM trained only on real digits reads them as: **{reads}**"
    if data.get("share_read_as_label") is not None:
        return text + f": **{data['share_read_as_label']:.0%}** read as the requested {data['label']}."
    return text + f" ({data.get('different_digits_read', len(set(data['read_as'])))} different digits)."


def _cycle_note(data: dict | None) -> str:
    if not data or "cycle_loss" not in data:
        return ""
    text = f"Cycle loss mean |F(G(x)) − x| = **{data['cycle_loss']:.3f}** (on the [−1, 1] scale)."
    if "l1_to_true_filter" in data:
        text += (f" G's night differs from the true night grade by {data['l1_to_true_filter']:.3f} on average "
                 f"(the day photo itself by {data['l1_input_to_true_filter']:.3f}); CycleGAN never saw such a pair.")
    return text


def _json(label: str) -> gr.JSON:
    with gr.Accordion(f"JSON ({label})", open=False):
        return gr.JSON(show_label=False, height=220)


# --- the view: every sub-tab's settings, one link ------------------------------------------------------------


@dataclass(frozen=True)
class GenerativeView(View):
    """The tab's state: each sub-tab's settings (an uploaded photo for CycleGAN is not part of it) and the sub-tab
    shown (``part``)."""

    PARTS: ClassVar[tuple[str, ...]] = ("latent", "interpolation", "cgan", "cyclegan", "progan")

    seed: int = param(DEFAULT_SEED, low=0, high=inputs.MAX_SEED, label="seed")
    n: int = param(DEFAULT_N, low=1, high=MAX_SAMPLES, label="samples")
    psi: float = param(DEFAULT_PSI, low=0.0, high=1.5, label="truncation ψ")
    index: int = param(0, low=0, high=MAX_SAMPLES - 1, label="sample #")
    pc1: float = param(0.0, low=-PCA_RANGE, high=PCA_RANGE, label="PC1 (σ)")
    pc2: float = param(0.0, low=-PCA_RANGE, high=PCA_RANGE, label="PC2 (σ)")
    pc3: float = param(0.0, low=-PCA_RANGE, high=PCA_RANGE, label="PC3 (σ)")
    pc4: float = param(0.0, low=-PCA_RANGE, high=PCA_RANGE, label="PC4 (σ)")
    pc5: float = param(0.0, low=-PCA_RANGE, high=PCA_RANGE, label="PC5 (σ)")
    seed_a: int = param(DEFAULT_SEED_A, low=0, high=inputs.MAX_SEED, label="seed A")
    seed_b: int = param(DEFAULT_SEED_B, low=0, high=inputs.MAX_SEED, label="seed B")
    steps: int = param(DEFAULT_STEPS, low=2, high=MAX_STEPS, label="steps")
    mode: str = param("slerp", choices=("linear", "slerp"), label="mode")
    interp_model: str = param("dcgan", choices=INTERPOLATE_MODELS, label="interpolation model")
    digit: int = param(3, low=0, high=NUM_CLASSES - 1, label="digit (label y)")
    cgan_seed: int = param(DEFAULT_SEED, low=0, high=inputs.MAX_SEED, label="CGAN seed")
    cgan_n: int = param(8, low=1, high=MAX_SAMPLES, label="CGAN samples")
    rows: int = param(ALL_CLASS_ROWS, low=1, high=6, label="rows")
    sample: str = param(HELD_OUT_SAMPLE, choices=tuple(sample_names()), label="bundled sample")
    night: bool = param(False, label="night input")
    direction: str = param("A->B", choices=tuple(DIRECTION_LABELS), label="direction")
    pg_seed: int = param(DEFAULT_SEED, low=0, high=inputs.MAX_SEED, label="ProGAN seed")
    stage: int = param(3, low=1, high=3, label="fade-in stage")
    alpha: float = param(0.5, low=0.0, high=1.0, label="fade-in α")

    def pcs(self) -> tuple[float, ...]:
        return self.pc1, self.pc2, self.pc3, self.pc4, self.pc5

    def validate(self) -> None:
        if self.index >= self.n:
            raise ViewValueError(f"sample # is {self.index}, but there are only {self.n} samples (0 to {self.n - 1})")


def explorer(seed: Any, n: Any, psi: Any, index: Any, *amounts: Any) -> tuple:
    """The latent explorer in one event: the grid, its JSON and what the SVM reads, and the edit trio with its note
    and JSON (`latent_grid`, `latent_edit`)."""
    grid, grid_json = latent_grid(seed, n, psi)
    return (grid, grid_json, _read_note(grid_json), *latent_edit(seed, n, psi, index, *amounts))


def explorer_next_seed(seed: Any, n: Any, psi: Any, index: Any, *amounts: Any) -> tuple:
    """The "next seed" button: its `js=` has already added 1 to the seed in the browser (one event per click)."""
    return (inputs.seed(seed), *explorer(seed, n, psi, index, *amounts))


NEXT_SEED_JS = f"(...values) => [(Number(values[0]) || 0) + 1, ...values.slice(1, {4 + PCA_COMPONENTS})]"
"""The next seed, computed in the browser: the event's inputs (seed, n, psi, index, PC1..PC5) with seed + 1.
A `js=` function receives the inputs then the outputs; what it returns is sent as the inputs."""


def interpolation(model: Any, seed_a: Any, seed_b: Any, steps: Any, mode: Any) -> tuple[gr.Gallery, dict, str]:
    """The interpolation strip (one column per step), its JSON and the |z| along the path in words."""
    strip, data = gan_interpolate(model, seed_a, seed_b, steps, mode)
    _, note = _strip_layout(steps, data)
    return gr.Gallery(value=strip, columns=int(data["steps"])), data, note


def cgan_samples(seed: Any, n: Any, digit: Any) -> tuple[list[np.ndarray], dict, str]:
    gallery, data = gan_sample("cgan", seed, n, digit)
    return gallery, data, _read_note(data)


def cycle_outputs(upload: Any, sample: str, night: bool, direction: str) -> tuple[list, dict, str]:
    gallery, data = cycle_view(upload, sample, night, direction)
    return gallery, data, _cycle_note(data)


def cycle_night(upload: Any, sample: str, night: bool, direction: str) -> tuple:
    """The night check box: a night input is a B picture, translated B -> A (a day input A -> B)."""
    direction = "B->A" if night else "A->B"
    return (direction, *cycle_outputs(upload, sample, night, direction))


def show(view: GenerativeView) -> tuple:
    """Every picture and number of the five sub-tabs for one view (an uploaded photo is not part of a view)."""
    return (
        *explorer(view.seed, view.n, view.psi, view.index, *view.pcs()),
        *interpolation(view.interp_model, view.seed_a, view.seed_b, view.steps, view.mode),
        *cgan_samples(view.cgan_seed, view.cgan_n, view.digit),
        *cgan_all_classes(view.cgan_seed, view.rows),
        *cycle_outputs(None, view.sample, view.night, view.direction),
        *progan_stages(view.pg_seed),
        *progan_fade(view.pg_seed, view.stage, view.alpha),
    )


# --- layout: one function per sub-tab --------------------------------------------------------------------------


def _build_latent(view: GenerativeView) -> tuple[list, list]:
    """(controls seed, n, psi, index, PC1..PC5; outputs as `explorer` returns them)."""
    gr.Markdown(EXPLORER_MD, latex_delimiters=LATEX)
    with gr.Row():
        with gr.Column(scale=2, min_width=200):
            with gr.Row():
                seed = gr.Number(view.seed, label="seed", precision=0, minimum=0, min_width=80, elem_id="gen-seed")
                index = gr.Number(view.index, label="sample #", precision=0, minimum=0, maximum=MAX_SAMPLES - 1,
                                  min_width=80, elem_id="gen-index")
            n = gr.Slider(1, MAX_SAMPLES, value=view.n, step=1, label="samples", elem_id="gen-n")
            psi = gr.Slider(0.0, 1.5, value=view.psi, step=0.05, label="truncation ψ", elem_id="gen-psi")
            # one under the other: side by side in this column "Next seed ▶" broke over two lines
            sample_button = gr.Button("Sample", variant="primary", elem_id="gen-sample")
            next_button = gr.Button("Next seed ▶", elem_id="gen-next-seed")
            grid_json = _json("generative_latent_grid")
        with gr.Column(scale=6):
            gr.Markdown("**Samples** (the number in each corner is the sample #): click one to edit it")
            grid = gr.Image(label="samples of the seed", show_label=False, format="png", interactive=False,
                            height=230, buttons=["download", "fullscreen"], elem_id="gen-grid")
            read_note = gr.Markdown(elem_id="gen-read-note")
        with gr.Column(scale=5, min_width=340):
            gr.Markdown("**Edit**: the sample → moved along the principal components → nearest real digit")
            edit = gr.Image(label="the sample, moved, and its nearest real digit", show_label=False, format="png",
                            interactive=False, height=150, buttons=["download", "fullscreen"], elem_id="gen-edit")
            amounts = view.pcs()
            pcs = []
            for first, last in ((0, 2), (2, 4), (4, PCA_COMPONENTS)):
                with gr.Row():
                    pcs += [gr.Slider(-PCA_RANGE, PCA_RANGE, value=amounts[k], step=0.25, label=f"PC{k + 1} (σ)",
                                      min_width=150, elem_id=f"gen-pc{k + 1}") for k in range(first, last)]
                    if last == PCA_COMPONENTS:
                        reset = gr.Button("Reset sliders", size="sm", min_width=150)
            nearest_note = gr.Markdown(elem_id="gen-nearest-note")
            edit_json = _json("generative_latent_edit")

    grid_outputs = [grid, grid_json, read_note]
    edit_inputs = [seed, n, psi, index, *pcs]
    edit_outputs = [edit, nearest_note, edit_json]
    gr.on([sample_button.click, seed.submit, n.release, psi.release], explorer, edit_inputs,
          [*grid_outputs, *edit_outputs], api_name="generative_explorer_ui", api_visibility="private",
          trigger_mode="always_last", show_progress="minimal")
    next_button.click(explorer_next_seed, edit_inputs, [seed, *grid_outputs, *edit_outputs], js=NEXT_SEED_JS,
                      api_name="generative_next_seed_ui", api_visibility="private", trigger_mode="always_last",
                      show_progress="minimal")
    gr.on([index.submit, *[p.release for p in pcs]], latent_edit, edit_inputs, edit_outputs,
          api_name="generative_latent_edit", trigger_mode="always_last")

    def pick(seed_value: Any, count: Any, psi_value: Any, *rest: Any) -> tuple:
        *amounts_now, evt = rest
        x, y = evt.index
        picked = grid_index(x, y, inputs.whole(count, "samples", low=1, high=MAX_SAMPLES))
        return (picked, *latent_edit(seed_value, count, psi_value, picked, *amounts_now))

    grid.select(pick, [seed, n, psi, *pcs], [index, *edit_outputs], api_visibility="private")
    reset.click(lambda *values: (*[0.0] * PCA_COMPONENTS, *latent_edit(*values, *[0.0] * PCA_COMPONENTS)),
                [seed, n, psi, index], [*pcs, *edit_outputs], api_visibility="private")
    # the public endpoint keeps its (seed, n, psi) -> (picture, JSON) signature
    api_inputs = [gr.Number(visible=False), gr.Number(visible=False), gr.Number(visible=False)]
    gr.Button(visible=False).click(latent_grid, api_inputs, [gr.Image(format="png", visible=False),
                                                             gr.JSON(visible=False)],
                                   api_name="generative_latent_grid")
    return [seed, n, psi, index, *pcs], [*grid_outputs, *edit_outputs]


def _build_interpolation(view: GenerativeView) -> tuple[list, list]:
    """(controls seed A, seed B, steps, mode, model; outputs strip, JSON, note)."""
    gr.Markdown(INTERP_MD, latex_delimiters=LATEX)
    with gr.Row():
        seed_a = gr.Number(view.seed_a, label="seed A", precision=0, minimum=0, min_width=100, elem_id="gen-seed-a")
        seed_b = gr.Number(view.seed_b, label="seed B", precision=0, minimum=0, min_width=100, elem_id="gen-seed-b")
        steps = gr.Slider(2, MAX_STEPS, value=view.steps, step=1, label="steps", min_width=160, elem_id="gen-steps")
        mode = gr.Radio(["linear", "slerp"], value=view.mode, label="mode", min_width=160, elem_id="gen-mode")
        model = gr.Radio(list(INTERPOLATE_MODELS), value=view.interp_model, label="model", min_width=160,
                         elem_id="gen-interp-model")
        button = gr.Button("Interpolate", variant="primary", min_width=120, elem_id="gen-interpolate")
    gr.Markdown("**From seed A's first sample (t = 0, left) to seed B's (t = 1, right)**")
    strip = _gallery("interpolation", columns=view.steps, height=170)
    norm_note = gr.Markdown(elem_id="gen-norm-note")
    data = _json("gan_interpolate")
    outputs = [strip, data, norm_note]
    gr.on([button.click, mode.input, model.input, steps.release, seed_a.submit, seed_b.submit], interpolation,
          [model, seed_a, seed_b, steps, mode], outputs, api_name="generative_interpolation_ui",
          api_visibility="private", trigger_mode="always_last")
    # the public endpoint: (model, seed A, seed B, steps, mode) -> (gallery, JSON); the radio checks the model
    api_inputs = [gr.Radio(list(INTERPOLATE_MODELS), value="dcgan", visible=False, label="model"),
                  gr.Number(visible=False), gr.Number(visible=False), gr.Number(visible=False),
                  gr.Radio(["linear", "slerp"], value="slerp", visible=False, label="mode")]
    api_outputs = [gr.Gallery(format="png", visible=False), gr.JSON(visible=False)]
    gr.Button(visible=False).click(gan_interpolate, api_inputs, api_outputs, api_name="gan_interpolate")
    return [seed_a, seed_b, steps, mode, model], outputs


def _build_cgan(view: GenerativeView) -> tuple[list, list]:
    """(controls digit, seed, samples, rows; outputs gallery, JSON, note, all-classes picture, its JSON)."""
    accuracy = _card_metric("cgan", "class_accuracy")
    measured = (f"Measured: an SVM trained only on real digits reads **{accuracy:.1%}** of 2,000 samples "
                f"as the requested digit (model card). " if accuracy is not None else "")
    gr.Markdown(CGAN_MD.replace("{measured}", measured), latex_delimiters=LATEX)
    with gr.Row():
        with gr.Column(scale=2, min_width=210):
            digit = gr.Radio([(str(d), d) for d in range(NUM_CLASSES)], value=view.digit, label="digit (label y)",
                             elem_id="gen-digit")
            seed = gr.Number(view.cgan_seed, label="seed", precision=0, minimum=0, elem_id="gen-cgan-seed")
            n = gr.Slider(1, MAX_SAMPLES, value=view.cgan_n, step=1, label="samples", elem_id="gen-cgan-n")
            model = gr.Textbox("cgan", visible=False, label="model")
            button = gr.Button("Sample", variant="primary", elem_id="gen-cgan-sample")
            data = _json("gan_sample")
        with gr.Column(scale=5):
            gr.Markdown("**Samples of the chosen digit** (latents of the seed)")
            grid = _gallery("samples of the chosen digit", columns=4, height=330, elem_id="gen-cgan-grid")
            note = gr.Markdown(elem_id="gen-cgan-note")
        with gr.Column(scale=5):
            gr.Markdown("**The same z in every row, drawn as 0 … 9**: z keeps the style, y picks the digit")
            all_grid = gr.Image(label="the same latents drawn as every digit", show_label=False, format="png",
                                height=250, interactive=False, buttons=["download", "fullscreen"],
                                elem_id="gen-cgan-all")
            rows = gr.Slider(1, 6, value=view.rows, step=1, label="rows (the seed's first latents)",
                             elem_id="gen-rows")
            all_json = _json("generative_cgan_all_classes")
    gr.on([button.click, digit.input, n.release, seed.submit], cgan_samples, [seed, n, digit], [grid, data, note],
          api_name="generative_cgan_ui", api_visibility="private", trigger_mode="always_last")
    gr.on([button.click, rows.release, seed.submit], cgan_all_classes, [seed, rows], [all_grid, all_json],
          api_name="generative_cgan_all_classes", trigger_mode="always_last")
    # the public endpoint of every model: (model, seed, n, label) -> (gallery, JSON)
    gr.Button(visible=False).click(gan_sample, [model, gr.Number(visible=False), gr.Number(visible=False),
                                                gr.Number(visible=False)],
                                   [gr.Gallery(format="png", visible=False), gr.JSON(visible=False)],
                                   api_name="gan_sample")
    return [digit, seed, n, rows], [grid, data, note, all_grid, all_json]


def _build_cyclegan(view: GenerativeView) -> tuple[list, list, gr.Image]:
    """(controls sample, night, direction; outputs gallery, JSON, note; the upload)."""
    gr.Markdown(CYCLE_MD, latex_delimiters=LATEX)
    with gr.Row():
        with gr.Column(scale=3, min_width=260):
            sample = gr.Dropdown(sample_names(), value=view.sample, elem_id="gen-cycle-sample",
                                 label=f"bundled sample ({HELD_OUT_SAMPLE} was never trained on)")
            upload = image_upload(label="or upload your photo (used instead of the sample)", height=180,
                                  sources=["upload", "clipboard"], format="png", elem_id="gen-cycle-upload")
            night = gr.Checkbox(view.night, label="make the input night (B) with the true grade first",
                                elem_id="gen-night")
            direction = gr.Radio([(label, key) for key, label in DIRECTION_LABELS.items()], value=view.direction,
                                 label="direction", elem_id="gen-direction")
            button = gr.Button("Translate", variant="primary", elem_id="gen-translate")
        with gr.Column(scale=9):
            gr.Markdown("**Input → translated → translated back** (resized to 160 px on the long side, "
                        "as the training photos were)")
            gallery = _gallery("input → translated → translated back", columns=3, height=300,
                               elem_id="gen-cycle-gallery")
            note = gr.Markdown(elem_id="gen-cycle-note")
            data = _json("cyclegan_translate")
    outputs = [gallery, data, note]
    inputs_ = [upload, sample, night, direction]
    gr.on([button.click, direction.input, sample.input, upload.upload, upload.clear], cycle_outputs, inputs_,
          outputs, api_name="generative_cyclegan_ui", api_visibility="private", trigger_mode="always_last")
    night.input(cycle_night, inputs_, [direction, *outputs], api_visibility="private", trigger_mode="always_last")
    # the public endpoint: (image, direction) -> (gallery, JSON); the radio checks the direction
    api_inputs = [image_upload(visible=False), gr.Radio(list(DIRECTION_LABELS), value="A->B", visible=False,
                                                        label="direction")]
    api_outputs = [gr.Gallery(format="png", visible=False), gr.JSON(visible=False)]
    gr.Button(visible=False).click(cyclegan_translate, api_inputs, api_outputs, api_name="cyclegan_translate")
    return [sample, night, direction], outputs, upload


def _build_progan(view: GenerativeView) -> tuple[list, list]:
    """(controls seed, stage, alpha; outputs stages gallery, its JSON, fade gallery, its JSON)."""
    gr.Markdown(PROGAN_MD, latex_delimiters=LATEX)
    with gr.Row():
        with gr.Column(scale=2, min_width=220):
            seed = gr.Number(view.pg_seed, label="seed", precision=0, minimum=0, elem_id="gen-progan-seed")
            stage = gr.Radio([("8×8", 1), ("16×16", 2), ("32×32", 3)], value=view.stage, label="fade-in of stage",
                             elem_id="gen-stage")
            alpha = gr.Slider(0.0, 1.0, value=view.alpha, step=0.05, label="fade-in α", elem_id="gen-alpha")
            button = gr.Button("Draw", variant="primary", elem_id="gen-progan-draw")
        with gr.Column(scale=5):
            gr.Markdown("**The same z after each growth stage** (4×4, 8×8, 16×16, 32×32)")
            stages = _gallery("the same z after each growth stage", columns=4, height=190, elem_id="gen-progan-stages")
            stages_json = _json("generative_progan_stages")
        with gr.Column(scale=4):
            gr.Markdown("**Fade-in**: (1 − α) · old (previous stage, upsampled) + α · new block = blend")
            fade = _gallery("(1 − α) · old upsampled + α · new = blend", columns=3, height=190,
                            elem_id="gen-progan-fade")
            fade_json = _json("generative_progan_fade")
    gr.on([button.click, seed.submit], progan_stages, seed, [stages, stages_json],
          api_name="generative_progan_stages", trigger_mode="always_last")
    gr.on([button.click, seed.submit, stage.input, alpha.release], progan_fade, [seed, stage, alpha],
          [fade, fade_json], api_name="generative_progan_fade", trigger_mode="always_last")
    return [seed, stage, alpha], [stages, stages_json, fade, fade_json]


def build() -> TabUI:
    """The Generative models tab (called inside a `gr.Tab`)."""
    gr.Markdown(INTRO_MD, latex_delimiters=LATEX)
    view = GenerativeView()
    with gr.Tabs() as parts:
        with gr.Tab("Latent explorer (DCGAN)", id="latent"):
            latent_controls, latent_outputs = _build_latent(view)
        with gr.Tab("Interpolation", id="interpolation"):
            interp_controls, interp_outputs = _build_interpolation(view)
        with gr.Tab("CGAN", id="cgan"):
            cgan_controls, cgan_outputs = _build_cgan(view)
        with gr.Tab("CycleGAN", id="cyclegan"):
            cycle_controls, cycle_outputs_, upload = _build_cyclegan(view)
        with gr.Tab("ProGAN", id="progan"):
            progan_controls, progan_outputs = _build_progan(view)
    return TabUI(GenerativeView,
                 controls=[*latent_controls, *interp_controls, *cgan_controls, *cycle_controls, *progan_controls],
                 outputs=[*latent_outputs, *interp_outputs, *cgan_outputs, *cycle_outputs_, *progan_outputs],
                 show=show, uploads=[upload], parts=parts)
