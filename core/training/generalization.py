"""Augmentation's effect on generalisation (d2l.ai 14.1), measured live.

The same small labelled set of handwritten digits, the same network, trained four ways:
{from scratch, fine-tuned from the source model} x {no augmentation, augmentation}. After every epoch the model
is scored on its own (clean) training images and on the fixed held-out set; the generalisation gap is

    gap(epoch) = train accuracy(epoch) - held-out accuracy(epoch).

Without augmentation a small network memorises a few dozen digits (train accuracy 100 %) long before it has
learned what makes a 4 a 4; augmentation shows it a new, plausibly distorted copy of every image in every epoch,
so memorising is harder and what it learns carries over to digits it has never seen.

Everything but the augmentation comes from `core.models.finetune`: the digits and their fixed test split, the
seeded labelled subset, the timm network and its initialisation, step 2's copy of the source model, the optimiser
groups, the epoch loop, precise BatchNorm for scratch and the evaluation. Augmentation pipelines are
Albumentations pipelines in its serialized form, validated and built by `core.data.augment` (the Augmentation
tab's JSON works here as it is).

How a pipeline sees a digit: the 8x8 image is upsampled to the network's 32x32 input (as `finetune.to_input`
does), turned into a 32x32 RGB uint8 picture (grey replicated, white ink on black, as the Augmentation tab's
pictures are uint8 RGB), augmented, and turned back to grey (the mean of the channels); a pipeline that changes the
size (crops, resizes) has its output resized back to 32x32. Every training image gets a fresh draw in every epoch.

Randomness: a run's seed fixes the labelled images, the initial weights, the batch order and the augmentation's
draws (one `np.random.Generator` / `random.Random` pair for the whole run, given to the pipeline with
`Compose.set_random_state`); nothing global is seeded. Runs with the same seed and another augmentation or start
use the same labelled images, initial output layer and batch order.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator, Mapping

import cv2
import numpy as np
import torch

from core.data import augment as aug
from core.models import finetune as ft

STARTS: tuple[str, ...] = ("scratch", "pretrained")
"""Where a run's weights start: every layer random, or the source model's body (with a new output layer)."""

NO_AUGMENTATION = "none"
DEFAULT_AUGMENTATION = "default"

DEFAULT_STEPS: list[dict[str, Any]] = [
    {"__class_fullname__": "Affine", "p": 1.0, "scale": [0.8, 1.2], "translate_percent": [-0.1, 0.1],
     "rotate": [-15, 15], "shear": [-15, 15]},
    {"__class_fullname__": "ElasticTransform", "p": 0.5, "alpha": 34.0, "sigma": 4.0},
    {"__class_fullname__": "RandomBrightnessContrast", "p": 0.5, "brightness_limit": [-0.2, 0.2],
     "contrast_limit": [-0.2, 0.2]},
    {"__class_fullname__": "CoarseDropout", "p": 0.3, "num_holes_range": [1, 2], "hole_height_range": [4, 8],
     "hole_width_range": [4, 8]},
]
"""The default pipeline, designed for 32x32 digits: a writer's size, position, angle and slant (`Affine`), wobbly
strokes (`ElasticTransform`, Simard et al.'s augmentation for handwriting), lighter or darker ink
(`RandomBrightnessContrast`) and missing patches of ink (`CoarseDropout`). No flips or 90-degree turns: they change
what a digit is (a mirrored 2 is no digit, a turned 6 is a 9). Chosen by `python -m benchmarks.generalization`."""

MEANING_CHANGING = {
    "HorizontalFlip": "a mirrored digit is not the same digit",
    "VerticalFlip": "an upside-down digit is not the same digit (6 and 9)",
    "RandomRotate90": "a digit turned by 90 or 180 degrees is not the same digit (6 and 9)",
}
"""Transforms that run on digits but change their class: a run keeps them and says so in its notes."""

MAX_EPOCHS = 100
"""Longest run (runs are bounded: at most `finetune.MAX_EXAMPLES_PER_CLASS` digits per class, this many epochs)."""

DIGIT_SIDE = ft.INPUT_SIDE
"""Pipelines see the digits at the network's input size: 32x32."""

MAX_PIPELINE_SIDE = 256
"""Largest output a pipeline may make of a 32x32 digit (it is resized back): a run augments every labelled digit
in every epoch, so a pipeline that blows each one up to 2048x2048 would hold a core for minutes."""


class GeneralizationError(ValueError):
    """A user-facing message: a run's settings cannot be used."""


# --- augmentation ------------------------------------------------------------------------------------------


def default_pipeline() -> dict[str, Any]:
    """The default pipeline (`DEFAULT_STEPS`) as a validated Albumentations dict (`A.to_dict` form)."""
    return aug.pipeline_dict(DEFAULT_STEPS)


def resolve_augmentation(augmentation: str | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """`"none"` -> None, `"default"` -> `default_pipeline()`, JSON text or a dict -> the validated pipeline dict.

    Raises:
        augment.PipelineError: unparsable JSON, an unknown transform or argument, or a pipeline that cannot run
            on the 32x32 digits (`check_pipeline`).
    """
    if augmentation is None:
        return None
    if isinstance(augmentation, Mapping):
        pipeline = aug.validate_pipeline(dict(augmentation))
    elif isinstance(augmentation, str):
        text = augmentation.strip()
        if text.lower() == NO_AUGMENTATION:
            return None
        if text.lower() == DEFAULT_AUGMENTATION:
            return default_pipeline()
        if not text.startswith("{"):
            raise aug.PipelineError(
                f"The augmentation must be 'none', 'default' or an Albumentations pipeline as JSON "
                f"(A.to_dict, as the Augmentation tab exports it), got {text[:40]!r}.")
        pipeline = aug.parse_pipeline(text)
    else:
        raise aug.PipelineError(f"The augmentation must be text ('none', 'default' or JSON), "
                                f"got a {type(augmentation).__name__}.")
    check_pipeline(pipeline)
    return pipeline


def transform_names(pipeline: Mapping[str, Any] | None) -> list[str]:
    """Class names of every transform in a pipeline dict (nested ones included), in order."""
    names: list[str] = []

    def visit(node: Mapping[str, Any]) -> None:
        for child in node.get("transforms", []):
            names.append(child["__class_fullname__"].rsplit(".", 1)[-1])
            visit(child)

    if pipeline is not None:
        visit(pipeline["transform"])
    return names


def build_augmenter(pipeline: Mapping[str, Any], seed: int) -> Any:
    """An `A.Compose` for a validated pipeline dict that draws from its own generators seeded by `seed`.

    The box settings of the dict (the Augmentation tab's pipelines carry them) are dropped: digits have no boxes.
    """
    transform = dict(pipeline["transform"])
    transform["bbox_params"] = None
    compose = aug.build_pipeline({**pipeline, "transform": transform})
    compose.save_applied_params = False
    compose.set_random_state(np.random.default_rng(seed), random.Random(seed))
    return compose


def _draw(compose: Any, picture: np.ndarray) -> np.ndarray:
    """One call of the pipeline on a (32, 32) uint8 grey picture, given as RGB. Returns its raw (H', W'[, C']) output.

    Raises:
        augment.PipelineError: the pipeline fails on the picture or returns no image, with Albumentations' reason.
    """
    try:
        result = np.asarray(compose(image=np.repeat(picture[:, :, None], 3, axis=2))["image"])
    except Exception as error:  # noqa: BLE001 - Albumentations raises many kinds; the student needs the reason
        raise aug.PipelineError(f"The pipeline cannot run on the {DIGIT_SIDE}x{DIGIT_SIDE} digit images: "
                                f"{aug._short_error(error)}") from None
    if result.ndim not in (2, 3) or min(result.shape[:2]) < 1 or not np.all(np.isfinite(result)):
        raise aug.PipelineError("The pipeline does not return an image for the digit images.")
    if max(result.shape[:2]) > MAX_PIPELINE_SIDE:
        raise aug.PipelineError(
            f"The pipeline turns the {DIGIT_SIDE}x{DIGIT_SIDE} digits into {result.shape[1]}x{result.shape[0]} "
            f"images; at most {MAX_PIPELINE_SIDE}x{MAX_PIPELINE_SIDE} here (they are resized back to "
            f"{DIGIT_SIDE}x{DIGIT_SIDE} anyway): lower its output size.")
    return result


def augment_digits(images: np.ndarray, compose: Any) -> np.ndarray:
    """One draw of the pipeline for each image (grey replicated to RGB uint8, then the channels' mean; an output
    of another size resized back to 32x32).

    Args:
        images: (N, 32, 32) float32 in [0, 1] (white ink on black).
        compose: from `build_augmenter`; its generators advance with every image.
    Returns:
        (N, 32, 32) float32 in [0, 1].
    """
    out = np.empty((len(images), DIGIT_SIDE, DIGIT_SIDE), np.float32)
    pictures = np.round(np.clip(images, 0.0, 1.0) * 255.0).astype(np.uint8)  # (N, 32, 32)
    for i, picture in enumerate(pictures):
        result = _draw(compose, picture)  # (H', W', C') or (H', W')
        grey = result.astype(np.float32).mean(axis=2) if result.ndim == 3 else result.astype(np.float32)
        if result.dtype == np.uint8:
            grey /= 255.0
        if grey.shape != (DIGIT_SIDE, DIGIT_SIDE):
            shrinking = grey.shape[0] > DIGIT_SIDE or grey.shape[1] > DIGIT_SIDE
            grey = cv2.resize(grey, (DIGIT_SIDE, DIGIT_SIDE),
                              interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
        out[i] = np.clip(grey, 0.0, 1.0)
    return out


def check_pipeline(pipeline: Mapping[str, Any], probes: int = 4) -> list[str]:
    """Run the pipeline on a few digits before a run starts; returns notes for the student (size changes,
    transforms that change a digit's class).

    Raises:
        augment.PipelineError: the pipeline fails on 32x32 digits (e.g. a crop larger than the image), with
            Albumentations' reason, or makes them larger than `MAX_PIPELINE_SIDE`.
    """
    images, _ = ft.load_target_digits()
    upsampled = ft.to_input(images[:probes], 0.0, 1.0)[:, 0].numpy()  # (probes, 32, 32) in [0, 1]
    compose = build_augmenter(pipeline, seed=0)
    sizes = {_draw(compose, picture).shape[:2] for picture in np.round(upsampled * 255.0).astype(np.uint8)}
    notes = []
    other_sizes = sorted(s for s in sizes if s != (DIGIT_SIDE, DIGIT_SIDE))
    if other_sizes:
        shown = ", ".join(f"{w}x{h}" for h, w in other_sizes)
        notes.append(f"The pipeline outputs {shown} images; they are resized back to {DIGIT_SIDE}x{DIGIT_SIDE}.")
    for name in dict.fromkeys(transform_names(pipeline)):
        if name in MEANING_CHANGING:
            notes.append(f"{name}: {MEANING_CHANGING[name]}.")
    return notes


def preview(pipeline: Mapping[str, Any] | None, seed: int = 0, draws: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """What a pipeline does to the digits: one labelled digit of each class (the run's first of each, for `seed`)
    and `draws` augmented copies of each, drawn from a generator seeded like a run's augmentation.

    Returns:
        clean (10, 32, 32) and augmented (draws, 10, 32, 32), float32 in [0, 1] (no pipeline: copies of clean).
    """
    images, labels = ft.load_target_digits()
    clean = ft.to_input(images[ft.labelled_indices(labels, 1, seed)], 0.0, 1.0)[:, 0].numpy()  # (10, 32, 32)
    if pipeline is None:
        return clean, np.repeat(clean[None], draws, axis=0)
    compose = build_augmenter(pipeline, seed + 2)
    return clean, np.stack([augment_digits(clean, compose) for _ in range(draws)])


# --- a run ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GeneralizationConfig:
    """One run (the API fixes everything but `start` and `seed`; the augmentation is passed beside it)."""

    start: str = "scratch"  # "scratch" or "pretrained" (`STARTS`)
    examples_per_class: int = 3  # labelled digits per class (30 in all): few enough that augmentation matters
    epochs: int = 80  # passes over the labelled digits (each pass with a fresh augmentation draw)
    lr: float = 3e-3  # AdamW's learning rate (cosine-annealed to 0): every layer from scratch, the new output layer
    #                   when fine-tuning
    body_lr_mult: float = 0.1  # fine-tuning: the copied layers learn at lr x this (the book's new layer learns 10x
    #                            faster than the copied ones; its scratch model learns at the new layer's rate)
    batch_size: int = 10  # labelled images per optimiser step (the labelled set splits into whole batches)
    weight_decay: float = 1e-3  # AdamW's decoupled weight decay
    seed: int = 0  # labelled digits, initial weights, batch order and augmentation draws

    def validate(self) -> "GeneralizationConfig":
        """Clear messages for out-of-range values; returns self."""
        if self.start not in STARTS:
            raise GeneralizationError(f"start must be one of {', '.join(STARTS)}, got {self.start!r}.")
        if not 1 <= self.examples_per_class <= ft.MAX_EXAMPLES_PER_CLASS:
            raise GeneralizationError(f"Labelled examples per class must be between 1 and "
                                      f"{ft.MAX_EXAMPLES_PER_CLASS}, got {self.examples_per_class}.")
        if not 1 <= self.epochs <= MAX_EPOCHS:
            raise GeneralizationError(f"Epochs must be between 1 and {MAX_EPOCHS}, got {self.epochs}.")
        if not (math.isfinite(self.lr) and 0 < self.lr <= 0.1):
            raise GeneralizationError(f"The learning rate must be in (0, 0.1], got {self.lr:g}.")
        if not (math.isfinite(self.body_lr_mult) and 0 < self.body_lr_mult <= 1):
            raise GeneralizationError(f"The copied layers' learning-rate multiplier must be in (0, 1], "
                                      f"got {self.body_lr_mult:g}.")
        if not 1 <= self.batch_size <= 512:
            raise GeneralizationError(f"Batch size must be between 1 and 512, got {self.batch_size}.")
        labelled = self.examples_per_class * len(ft.TARGET_CLASSES)
        if labelled % self.batch_size and self.batch_size < labelled:
            raise GeneralizationError(
                f"The {labelled} labelled digits must split into whole batches of {self.batch_size}: a last batch "
                f"of {labelled % self.batch_size} would give BatchNorm unreliable statistics (and the run an "
                f"unstable step in every epoch).")
        if not 0 <= self.seed < 2**31:
            raise GeneralizationError(f"Seed must be between 0 and 2147483647, got {self.seed}.")
        return self


@dataclass
class GeneralizationState:
    """What `train` yields after every epoch (the same object, updated)."""

    config: GeneralizationConfig
    augmentation: str  # "none", "default" or "custom"
    epoch: int = 0  # epochs finished
    loss: list[float] = field(default_factory=list)  # mean training cross-entropy (on the augmented images)
    train_accuracy: list[float] = field(default_factory=list)  # on the clean labelled images
    test_accuracy: list[float] = field(default_factory=list)  # on the 500 held-out digits
    seconds: float = 0.0  # wall time so far
    notes: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.epoch >= self.config.epochs

    @property
    def gap(self) -> list[float]:
        """Generalisation gap per epoch: train accuracy - held-out accuracy."""
        return [train - test for train, test in zip(self.train_accuracy, self.test_accuracy)]

    def to_dict(self) -> dict[str, Any]:
        """The API's numbers (fractions in [0, 1])."""
        final = {}
        if self.test_accuracy:
            final = {"final_train_accuracy": self.train_accuracy[-1], "final_test_accuracy": self.test_accuracy[-1],
                     "final_gap": self.gap[-1]}
        return {"start": self.config.start, "augmentation": self.augmentation, "seed": self.config.seed,
                "epochs_done": self.epoch, "train_accuracy": list(self.train_accuracy),
                "test_accuracy": list(self.test_accuracy), "gap": self.gap, "loss": list(self.loss), **final,
                "seconds": self.seconds, "config": asdict(self.config), "notes": list(self.notes)}


def augmentation_label(augmentation: str | Mapping[str, Any] | None) -> str:
    """"none", "default" or "custom" for what `resolve_augmentation` accepts."""
    if augmentation is None:
        return NO_AUGMENTATION
    if isinstance(augmentation, str) and augmentation.strip().lower() in (NO_AUGMENTATION, DEFAULT_AUGMENTATION):
        return augmentation.strip().lower()
    return "custom"


def train(config: GeneralizationConfig, augmentation: str | Mapping[str, Any] | None,
          source_state: Mapping[str, torch.Tensor], mean: float, std: float) -> Iterator[GeneralizationState]:
    """Train one run epoch by epoch; yields the shared `GeneralizationState` after every epoch.

    Args:
        config: the run (validated here).
        augmentation: "none", "default", a pipeline's JSON text or dict (`resolve_augmentation`).
        source_state: the source model's state dict (used when ``config.start == "pretrained"``).
        mean, std: the source's input normalisation (both starts use it, as in `finetune.compare`).
    """
    config.validate()
    pipeline = resolve_augmentation(augmentation)
    started = time.perf_counter()
    state = GeneralizationState(config, augmentation_label(augmentation),
                                notes=check_pipeline(pipeline) if pipeline is not None else [])
    images, labels = ft.load_target_digits()
    train_idx = ft.labelled_indices(labels, config.examples_per_class, config.seed)
    test_idx = ft.test_indices(labels)
    clean = ft.to_input(images[train_idx], 0.0, 1.0)  # (N, 1, 32, 32) in [0, 1]
    x_train, y_train = (clean - mean) / std, torch.as_tensor(labels[train_idx])
    x_test, y_test = ft.to_input(images[test_idx], mean, std), torch.as_tensor(labels[test_idx])
    fill = (0.0 - mean) / std

    pretrained = config.start == "pretrained"
    model = ft.build_model(len(ft.TARGET_CLASSES), torch.Generator().manual_seed(config.seed))
    if pretrained:
        ft.copy_all_but_output(source_state, model)
    groups = (ft.param_groups(model, config.lr * config.body_lr_mult, 1.0 / config.body_lr_mult) if pretrained
              else ft.param_groups(model, config.lr, 1.0))
    optimizer = torch.optim.AdamW(groups, lr=config.lr,
                                  weight_decay=config.weight_decay, foreach=True)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    order = torch.Generator().manual_seed(config.seed + 1)
    augmenter = build_augmenter(pipeline, config.seed + 2) if pipeline is not None else None
    clean_pictures = clean[:, 0].numpy()  # (N, 32, 32)

    for epoch in range(config.epochs):
        x_epoch = x_train
        if augmenter is not None:
            x_epoch = (torch.from_numpy(augment_digits(clean_pictures, augmenter))[:, None] - mean) / std
        ft.set_train_mode(model, frozen_body=False, keep_bn_statistics=pretrained and ft.KEEP_SOURCE_BN_STATISTICS)
        state.loss.append(ft.train_epoch(model, optimizer, x_epoch, y_train, config.batch_size, order, fill,
                                         max_shift=0))
        schedule.step()
        if not pretrained and ft.SCRATCH_PRECISE_BN:
            ft.recalibrate_batchnorm(model, x_train)  # the clean images: the model is scored on clean digits
        state.train_accuracy.append(ft.evaluate_model(model, x_train, y_train)[0])
        state.test_accuracy.append(ft.evaluate_model(model, x_test, y_test)[0])
        state.epoch = epoch + 1
        state.seconds = time.perf_counter() - started
        yield state


def run(config: GeneralizationConfig, augmentation: str | Mapping[str, Any] | None,
        source_state: Mapping[str, torch.Tensor], mean: float, std: float) -> GeneralizationState:
    """`train` to the end; returns the final state."""
    state = None
    for state in train(config, augmentation, source_state, mean, std):
        pass
    assert state is not None
    return state
