"""Fine-tuning (d2l.ai 14.2): the four steps of transfer learning, and the same network trained from scratch.

The four steps, on data that ships with installed packages (nothing is downloaded):

1. **Pre-train a source model on a source dataset.** Source: 35 classes of *printed letters*, rendered with
   Pillow's built-in font (Aileron) at random sizes, stroke widths, rotations, shears and aspect ratios, then
   reduced exactly like the UCI digits were made: a 32x32 bitmap summed over 4x4 blocks gives an 8x8 image
   with 17 grey levels. Letters that are drawn like digits (I, O, S, Z, i, l, o, s, z) are left out.
   `python -m core.train finetune_source` trains it (its recipe: core/training/recipes/finetune_source.py).
2. **Copy everything but the output layer** into a target model (`copy_all_but_output`).
3. **Add a new output layer** for the target classes, randomly initialised (`build_model(len(TARGET_CLASSES))`).
4. **Train on the small target dataset**: *handwritten* digits 0-9 (scikit-learn's copy of the UCI digits,
   43 writers), only a few labelled images per class; the new layer learns `output_lr_mult` times faster
   (`param_groups`; the book uses 10).

`compare` trains the fine-tuned model and the *same architecture from scratch* side by side (same labelled
images, same epochs, same seed, same initial output layer, same optimiser and learning rates; only the
starting weights of the copied layers differ) and yields their curves after every epoch.

The network is timm's ``resnet10t`` with 4x fewer channels (``BACKBONE_CONFIG``): 8x8 images are upsampled to
32x32 (bilinear) and normalised with the source's mean and std, as ImageNet's statistics travel with an
ImageNet model in the book.

Everything here is pure (arrays/tensors in and out); `load_target_digits` is the only loader, and the
randomness of a run comes from its seed through `torch.Generator` / `numpy.random.Generator` objects.

Another source (online only; not used by the tab or the tests): steps 2-4 work for any timm model, because
`copy_all_but_output` finds the output layer through timm's own ``pretrained_cfg["classifier"]``. An ImageNet
model comes through the weights module, pinned and verified like ours::

    spec = hub.WeightsSpec(name="resnet18_in1k", architecture="timm", config={"model_name": "resnet18"},
                           class_names=(), mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                           input_size=(3, 224, 224), filename="model.safetensors", sha256="<the file's sha256>",
                           repo_id="timm/resnet18.a1_in1k", revision="<a commit of that repo>")
    source_state = hub.load_state_dict(spec, allow_download=True)   # HF cache, else the Hub
    model = timm.create_model("resnet18", pretrained=False, num_classes=10)   # step 3: a new 10-way fc
    copy_all_but_output(source_state, model)                                  # step 2
    optimizer = torch.optim.AdamW(param_groups(model, 1e-4, 10.0))            # step 4

(its inputs are 3-channel 224x224 images normalised with ImageNet's mean and std).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any, Iterator, Mapping, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SOURCE_WEIGHTS = "finetune_source"
"""Name of the pre-trained source model in weights/ (card: weights/finetune_source.json)."""

SOURCE_CLASSES: tuple[str, ...] = tuple("ABCDEFGHJKLMNPQRTUVWXYabdefghknqrty")
"""The source task's 35 classes: printed letters."""

LEFT_OUT_GLYPHS = "IOSZilosz"
"""Letters not in the source task because they are drawn like digits (1, 0, 5, 2)."""

SOURCE_TRAIN_SEED = 0
"""Render seed of the source model's training glyphs (`source_dataset(per_class, SOURCE_TRAIN_SEED)`)."""

SOURCE_VAL_SEED = 1
"""Render seed of its validation glyphs (the training recipe, core/training/recipes/finetune_source.py, has the rest)."""

TARGET_CLASSES: tuple[str, ...] = tuple("0123456789")
"""The target task's classes: handwritten digits."""

GLYPH_SIDE = 8
"""Images of both tasks are 8x8 (the UCI digits' resolution)."""

BITMAP_SIDE = 32
"""The UCI digits are 32x32 bitmaps summed over 4x4 blocks; glyphs are reduced the same way."""

INPUT_SIDE = 32
"""The network sees images upsampled to 32x32."""

BACKBONE_CONFIG: dict[str, Any] = {
    "model_name": "resnet10t",  # timm: deep tiered stem, one BasicBlock per stage, average-pool downsampling
    "in_chans": 1,  # grey images
    "channels": [16, 32, 64, 128],  # per stage (timm's resnet10t: 64..512); 317 k parameters in all
    "stem_width": 16,  # the stem's convolutions: 12, 16, then 32 channels
}
"""Keyword arguments of `timm.create_model` (with ``num_classes``) for source, fine-tuned and scratch models."""

TEST_PER_CLASS = 50
"""The target test set: 50 fixed images per digit (500 in all), never used for training."""

TEST_SPLIT_SEED = 0
"""Seed of the fixed test/pool split of the digits (independent of a run's seed)."""

MAX_EXAMPLES_PER_CLASS = 50
"""Largest labelled subset a run may use (the pool holds at least 124 images of each digit)."""

MAX_EPOCHS = 40
"""Longest run (a run is bounded: examples x epochs stays small)."""

MAX_SHIFT = 3
"""Training augmentation: random translations of up to 3 pixels (of 32) in x and y."""

KEEP_SOURCE_BN_STATISTICS = True
"""The copied BatchNorm layers keep the source's running statistics during fine-tuning (their scale and shift
still learn): a few dozen images are too few to re-estimate them. The scratch model has none to keep."""

SCRATCH_PRECISE_BN = True
"""Before each evaluation the scratch model's BatchNorm statistics are recomputed exactly on its labelled
images ("precise BN"): after a few dozen steps the running averages still remember the random start, and
scratch would be judged on stale statistics rather than on what it learned."""


# --- data -------------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def load_target_digits() -> tuple[np.ndarray, np.ndarray]:
    """The UCI handwritten digits bundled with scikit-learn.

    Returns:
        images (1797, 8, 8) float32 in [0, 1] (counts 0..16 divided by 16), labels (1797,) int64 in 0..9.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    images.setflags(write=False)
    labels = digits.target.astype(np.int64)
    labels.setflags(write=False)
    return images, labels


def test_indices(labels: np.ndarray, per_class: int = TEST_PER_CLASS) -> np.ndarray:
    """The fixed test set: `per_class` images of each class, drawn once with `TEST_SPLIT_SEED`. Returns (K*per_class,)."""
    rng = np.random.default_rng(TEST_SPLIT_SEED)
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in range(int(labels.max()) + 1)]
    return np.concatenate(chosen)


def labelled_indices(labels: np.ndarray, examples_per_class: int, seed: int) -> np.ndarray:
    """A run's small labelled training set: `examples_per_class` images of each class, chosen by `seed`
    from the images outside the test set. Returns (K*examples_per_class,) indices, class by class."""
    if not 1 <= examples_per_class <= MAX_EXAMPLES_PER_CLASS:
        raise ValueError(f"labelled examples per class must be between 1 and {MAX_EXAMPLES_PER_CLASS}, "
                         f"got {examples_per_class}")
    in_test = np.zeros(len(labels), dtype=bool)
    in_test[test_indices(labels)] = True
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(np.flatnonzero((labels == c) & ~in_test))[:examples_per_class]
              for c in range(int(labels.max()) + 1)]
    return np.concatenate(chosen)


def _font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)  # Pillow's own Aileron Regular (needs FreeType, in Pillow's wheels)


def render_glyph(char: str, rng: np.random.Generator) -> np.ndarray:
    """One printed character, drawn at random and reduced like the UCI digits.

    Random font size, stroke width, rotation (+-15 degrees), shear (+-0.3) and aspect ratio; the ink is cropped,
    scaled to fill a 32x32 bitmap like the UCI normalisation, thresholded, and summed over 4x4 blocks.
    Returns (8, 8) float32 in [0, 1] (multiples of 1/16).
    """
    from PIL import Image, ImageDraw

    canvas_side = 96
    image = Image.new("L", (canvas_side, canvas_side), 0)
    draw = ImageDraw.Draw(image)
    center = canvas_side // 2
    draw.text((center, center), char, fill=255, font=_font(int(rng.integers(34, 44))), anchor="mm",
              stroke_width=int(rng.integers(0, 4)), stroke_fill=255)
    image = image.rotate(float(rng.uniform(-15, 15)), resample=Image.BILINEAR, center=(center, center))
    shear = float(rng.uniform(-0.3, 0.3))
    image = image.transform(image.size, Image.AFFINE, (1, shear, -shear * center, 0, 1, 0), resample=Image.BILINEAR)
    ink = np.asarray(image) > 127
    rows, cols = np.nonzero(ink)
    if len(rows) == 0:
        return np.zeros((GLYPH_SIDE, GLYPH_SIDE), np.float32)
    crop = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    height, width = crop.shape
    longest = max(height, width)
    new_h = max(1, round(height / longest * BITMAP_SIDE))
    new_w = min(BITMAP_SIDE, max(4, int(round(width / longest * BITMAP_SIDE) * rng.uniform(0.8, 1.2))))
    scaled = np.asarray(Image.fromarray(crop.astype(np.uint8) * 255).resize((new_w, new_h), Image.BILINEAR)) > 127
    bitmap = np.zeros((BITMAP_SIDE, BITMAP_SIDE), np.float32)
    top, left = (BITMAP_SIDE - new_h) // 2, (BITMAP_SIDE - new_w) // 2
    bitmap[top:top + new_h, left:left + new_w] = scaled
    block = BITMAP_SIDE // GLYPH_SIDE
    return bitmap.reshape(GLYPH_SIDE, block, GLYPH_SIDE, block).sum((1, 3)) / float(block * block)  # (8, 8)


def source_dataset(per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`per_class` rendered glyphs of each of the 35 `SOURCE_CLASSES`.

    Returns images (35*per_class, 8, 8) float32 in [0, 1] and labels (35*per_class,) int64.
    """
    rng = np.random.default_rng(seed)
    images = np.stack([render_glyph(char, rng) for _ in range(per_class) for char in SOURCE_CLASSES])
    labels = np.tile(np.arange(len(SOURCE_CLASSES), dtype=np.int64), per_class)
    return images.astype(np.float32), labels


def to_input(images: np.ndarray | torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """(N, 8, 8) images in [0, 1] -> (N, 1, 32, 32) float32 network inputs (bilinear upsampling, normalised)."""
    x = torch.tensor(np.asarray(images, dtype=np.float32))[:, None]  # (N, 1, 8, 8), a copy
    x = F.interpolate(x, size=(INPUT_SIDE, INPUT_SIDE), mode="bilinear", align_corners=False)  # (N, 1, 32, 32)
    return (x - mean) / std


def random_shift(x: torch.Tensor, generator: torch.Generator, max_shift: int = MAX_SHIFT,
                 fill: float = 0.0) -> torch.Tensor:
    """Translate each image of (N, C, H, W) by its own random integer offset in [-max_shift, max_shift]^2,
    filling the uncovered border with `fill`. Returns (N, C, H, W)."""
    n, c, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4, value=fill)  # (N, C, H+2s, W+2s)
    offsets = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=generator)
    rows = offsets[:, :1] + torch.arange(h)  # (N, H)
    cols = offsets[:, 1:] + torch.arange(w)  # (N, W)
    batch = torch.arange(n)[:, None, None, None]
    channel = torch.arange(c)[None, :, None, None]
    return padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]  # (N, C, H, W)


# --- the model --------------------------------------------------------------------------------------------


def build_model(num_classes: int, generator: torch.Generator | None = None) -> nn.Module:
    """The backbone of `BACKBONE_CONFIG` with a `num_classes`-way output layer, every weight drawn from
    `generator` (timm's ResNet initialisation: He-normal convolutions, BatchNorm 1/0, the last BatchNorm of
    each block zero, PyTorch's default for the linear layer), so that a seed alone fixes the model.

    Input (N, 1, 32, 32), output logits (N, num_classes).
    """
    import timm

    config = dict(BACKBONE_CONFIG)
    model = timm.create_model(config.pop("model_name"), pretrained=False, num_classes=num_classes, **config)
    if generator is not None:
        init_weights_(model, generator)
    return model


@torch.no_grad()
def init_weights_(model: nn.Module, generator: torch.Generator) -> None:
    """Re-initialise every parameter of a timm ResNet from `generator` (in place), as timm does from the global RNG."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu", generator=generator)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
            module.reset_running_stats()
        elif isinstance(module, nn.Linear):
            nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
            bound = 1.0 / math.sqrt(module.in_features)
            nn.init.uniform_(module.bias, -bound, bound, generator=generator)
    for module in model.modules():
        if hasattr(module, "zero_init_last"):
            module.zero_init_last()


def output_layer_name(model: nn.Module) -> str:
    """The name of the output layer ("fc" for timm's ResNets), from timm's own model config."""
    name = getattr(model, "pretrained_cfg", {}).get("classifier")
    if not name:
        raise ValueError("the model does not name its output layer (pretrained_cfg['classifier'])")
    return name


def is_output_parameter(name: str, head: str) -> bool:
    """True for a state-dict key of the output layer `head` ("fc.weight", "fc.bias")."""
    return name == head or name.startswith(head + ".")


def copy_all_but_output(source_state: Mapping[str, torch.Tensor], model: nn.Module) -> list[str]:
    """Step 2: copy every tensor of the source model except its output layer into `model` (in place).

    The source's output layer has one row per source class and the target model's one row per target class;
    it is the only part left as initialised (step 3). Buffers (BatchNorm running statistics) are copied too.
    Returns the copied keys.

    Raises:
        ValueError: a body tensor of the source is missing or has another shape (a different architecture).
    """
    head = output_layer_name(model)
    target = model.state_dict()
    copied = []
    for key, value in target.items():
        if is_output_parameter(key, head):
            continue
        if key not in source_state:
            raise ValueError(f"the source weights have no {key!r}: they belong to another architecture")
        if tuple(source_state[key].shape) != tuple(value.shape):
            raise ValueError(f"{key}: source shape {tuple(source_state[key].shape)} != target {tuple(value.shape)}")
        copied.append(key)
    model.load_state_dict({k: source_state[k] for k in copied}, strict=False)
    return copied


def param_groups(model: nn.Module, lr: float, output_lr_mult: float, freeze_body: bool = False) -> list[dict]:
    """Step 4's optimiser groups: the copied layers at `lr`, the new output layer at `lr * output_lr_mult`.

    With `freeze_body` the copied layers get no group at all and stop requiring gradients (only the output
    layer learns, on the source's features). Returns a list for `torch.optim.Optimizer`, each group with a
    ``"name"`` ("body" or "output").
    """
    head = output_layer_name(model)
    body, output = [], []
    for name, parameter in model.named_parameters():
        if is_output_parameter(name, head):
            output.append(parameter)
        else:
            parameter.requires_grad_(not freeze_body)
            body.append(parameter)
    groups = [{"params": output, "lr": lr * output_lr_mult, "name": "output"}]
    if not freeze_body:
        groups.insert(0, {"params": body, "lr": lr, "name": "body"})
    return groups


@dataclass
class LayerInfo:
    """One top-level block of the model, for the diagram."""

    name: str  # "conv1", "layer3", "fc"
    kind: str  # class name: "Sequential", "BasicBlock", "Linear", ...
    output_shape: tuple[int, ...]  # per image: (C, H, W) or (K,)
    parameters: int
    is_output: bool  # the output layer: new in the target model


def layer_table(model: nn.Module) -> list[LayerInfo]:
    """The model's named children in order, with each one's output shape for a (1, 1, 32, 32) input."""
    head = output_layer_name(model)
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = [child.register_forward_hook(lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(out.shape[1:])))
             for name, child in model.named_children()]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, BACKBONE_CONFIG["in_chans"], INPUT_SIDE, INPUT_SIDE))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    table = []
    for name, child in model.named_children():
        kind = type(child).__name__
        if isinstance(child, nn.Sequential) and len(child) == 1:
            kind = type(child[0]).__name__
        elif isinstance(child, nn.Sequential) and all(type(c).__name__ == type(child[0]).__name__ for c in child):
            kind = f"{len(child)}x {type(child[0]).__name__}"
        table.append(LayerInfo(name, kind, shapes.get(name, ()), sum(p.numel() for p in child.parameters()),
                               name == head))
    return table


def describe(model: nn.Module) -> str:
    """One line per named child: name, type, output shape, parameters (for text views and docs)."""
    return "\n".join(f"{info.name:12s} {info.kind:24s} {str(info.output_shape):16s} {info.parameters:>8d}"
                     + ("  <- output layer" if info.is_output else "") for info in layer_table(model))


# --- training and evaluation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FinetuneConfig:
    """A fine-tuning run (the tab's controls)."""

    examples_per_class: int = 5  # labelled target images per digit: the "small" dataset (50 images in all)
    epochs: int = 15  # passes over the labelled images
    lr: float = 1e-3  # Adam's learning rate for the copied layers (and the scratch model's body)
    output_lr_mult: float = 10.0  # the output layer learns this many times faster (the book's 10x)
    freeze_body: bool = False  # fine-tuned model: train only the output layer (scratch always trains all)
    seed: int = 0  # which labelled images, the new layer's (and scratch's) initial weights, order, shifts
    batch_size: int = 16  # labelled images per optimiser step
    weight_decay: float = 1e-3  # AdamW's decoupled weight decay, both models

    def validate(self) -> "FinetuneConfig":
        """Clear messages for out-of-range values; returns self."""
        if not 1 <= self.examples_per_class <= MAX_EXAMPLES_PER_CLASS:
            raise ValueError(f"Labelled examples per class must be between 1 and {MAX_EXAMPLES_PER_CLASS}, "
                             f"got {self.examples_per_class}.")
        if not 1 <= self.epochs <= MAX_EPOCHS:
            raise ValueError(f"Epochs must be between 1 and {MAX_EPOCHS}, got {self.epochs}.")
        if not (math.isfinite(self.lr) and 0 < self.lr <= 0.1):
            raise ValueError(f"The learning rate must be in (0, 0.1], got {self.lr}.")
        if not (math.isfinite(self.output_lr_mult) and 0 < self.output_lr_mult <= 1000):
            raise ValueError(f"The output layer's learning-rate multiplier must be in (0, 1000], got {self.output_lr_mult}.")
        if self.lr * self.output_lr_mult > 1.0:
            raise ValueError(f"The output layer's learning rate lr x multiplier = {self.lr * self.output_lr_mult:g} "
                             f"is above 1: training would diverge. Lower one of them.")
        if not 0 <= self.seed < 2**31:
            raise ValueError(f"Seed must be between 0 and 2147483647, got {self.seed}.")
        if not 1 <= self.batch_size <= 512:
            raise ValueError(f"Batch size must be between 1 and 512, got {self.batch_size}.")
        return self


@dataclass
class History:
    """One model's curves: one entry per finished epoch."""

    loss: list[float] = field(default_factory=list)  # mean training cross-entropy over the epoch's steps
    test_accuracy: list[float] = field(default_factory=list)  # fraction of the 500 test digits right
    test_loss: list[float] = field(default_factory=list)  # mean cross-entropy on the test digits

    def to_dict(self) -> dict[str, list[float]]:
        return asdict(self)


@dataclass
class ComparisonState:
    """What `compare` yields after every epoch (the same object, updated)."""

    config: FinetuneConfig
    epoch: int  # epochs finished
    fine_tuned: History
    scratch: History
    train_indices: np.ndarray  # (K*examples_per_class,) indices into `load_target_digits()`
    test_indices: np.ndarray  # (500,)
    predictions: dict[str, np.ndarray] = field(default_factory=dict)  # model -> (500,) predicted test classes
    seconds: float = 0.0  # wall time so far

    @property
    def done(self) -> bool:
        return self.epoch >= self.config.epochs

    def curves(self) -> dict[str, dict[str, list[float]]]:
        """The API's JSON: {"fine_tuned": {"test_accuracy": [...], "loss": [...], "test_loss": [...]}, "scratch": {...}}."""
        return {"fine_tuned": self.fine_tuned.to_dict(), "scratch": self.scratch.to_dict()}


def set_train_mode(model: nn.Module, *, frozen_body: bool, keep_bn_statistics: bool) -> None:
    """`model.train()`, except that the body's BatchNorm layers stay in eval mode (use, and do not update, their
    running statistics) when the body is frozen or `keep_bn_statistics`."""
    model.train()
    if frozen_body or keep_bn_statistics:
        head = output_layer_name(model)
        for name, module in model.named_modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and not is_output_parameter(name, head):
                module.eval()


def train_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                batch_size: int, generator: torch.Generator, fill: float, max_shift: int = MAX_SHIFT) -> float:
    """One pass over (x (N, 1, 32, 32), y (N,)) in shuffled batches with random shifts of up to `max_shift`
    pixels (0: none, and `generator` only draws the order); returns the mean loss."""
    order = torch.randperm(len(y), generator=generator)
    total, steps = 0.0, 0
    for start in range(0, len(order), batch_size):
        batch = order[start:start + batch_size]
        inputs = random_shift(x[batch], generator, max_shift, fill) if max_shift else x[batch]  # (B, 1, 32, 32)
        logits = model(inputs)  # (B, K)
        loss = F.cross_entropy(logits, y[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.item()
        steps += 1
    return total / max(steps, 1)


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, x: torch.Tensor, batch_size: int = 500) -> None:
    """Precise BatchNorm: set every BatchNorm layer's running mean and variance to the exact statistics of the
    model's current activations on x (N, C, H, W) (the average over batches of `batch_size`), in place."""
    layers = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, m.training) for m in layers]
    was_training = model.training
    model.eval()
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative average over the batches below
        layer.train()
    for start in range(0, len(x), batch_size):
        model(x[start:start + batch_size])
    for layer, (momentum, training) in zip(layers, saved):
        layer.momentum = momentum
        layer.train(training)
    model.train(was_training)
    for layer, (_, training) in zip(layers, saved):
        layer.train(training)


@torch.no_grad()
def evaluate_model(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500
                   ) -> tuple[float, float, np.ndarray]:
    """Accuracy, mean cross-entropy and (N,) predicted classes of `model` (in eval mode) on x (N, C, H, W)."""
    was_training = model.training
    model.eval()
    logits = torch.cat([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])  # (N, K)
    model.train(was_training)
    predictions = logits.argmax(1)
    return float((predictions == y).float().mean()), float(F.cross_entropy(logits, y)), predictions.cpu().numpy()


def compare(config: FinetuneConfig, source_state: Mapping[str, torch.Tensor], mean: float, std: float,
            ) -> Iterator[ComparisonState]:
    """Fine-tune the source model and train the same architecture from scratch, epoch by epoch.

    Both models start from the same seeded initialisation (so their new output layers are identical); the
    fine-tuned one then receives every source tensor except the output layer. Both train with AdamW at
    `lr` for the body and `lr * output_lr_mult` for the output layer, on the same labelled images in the same
    order with the same random shifts. Yields the shared `ComparisonState` after each epoch; after the last
    one its `predictions` hold both models' test predictions.
    """
    config.validate()
    started = time.perf_counter()
    images, labels = load_target_digits()
    train_idx = labelled_indices(labels, config.examples_per_class, config.seed)
    test_idx = test_indices(labels)
    x_train, y_train = to_input(images[train_idx], mean, std), torch.as_tensor(labels[train_idx])
    x_test, y_test = to_input(images[test_idx], mean, std), torch.as_tensor(labels[test_idx])
    fill = (0.0 - mean) / std  # the background (ink 0) after normalisation

    models, optimizers, generators = {}, {}, {}
    for kind in ("fine_tuned", "scratch"):
        model = build_model(len(TARGET_CLASSES), torch.Generator().manual_seed(config.seed))
        if kind == "fine_tuned":
            copy_all_but_output(source_state, model)
            groups = param_groups(model, config.lr, config.output_lr_mult, config.freeze_body)
        else:
            groups = param_groups(model, config.lr, config.output_lr_mult, freeze_body=False)
        models[kind] = model
        optimizers[kind] = torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay)
        generators[kind] = torch.Generator().manual_seed(config.seed + 1)  # same order and shifts for both

    state = ComparisonState(config, 0, History(), History(), train_idx, test_idx)
    for epoch in range(config.epochs):
        for kind, history in (("fine_tuned", state.fine_tuned), ("scratch", state.scratch)):
            model = models[kind]
            fine_tuned = kind == "fine_tuned"
            set_train_mode(model, frozen_body=fine_tuned and config.freeze_body,
                           keep_bn_statistics=fine_tuned and KEEP_SOURCE_BN_STATISTICS)
            history.loss.append(train_epoch(model, optimizers[kind], x_train, y_train, config.batch_size,
                                            generators[kind], fill))
            if not fine_tuned and SCRATCH_PRECISE_BN:
                recalibrate_batchnorm(model, x_train)
            accuracy, test_loss, predictions = evaluate_model(model, x_test, y_test)
            history.test_accuracy.append(accuracy)
            history.test_loss.append(test_loss)
            if epoch == config.epochs - 1:
                state.predictions[kind] = predictions
        state.epoch = epoch + 1
        state.seconds = time.perf_counter() - started
        yield state


def run_comparison(config: FinetuneConfig, source_state: Mapping[str, torch.Tensor], mean: float, std: float
                   ) -> ComparisonState:
    """`compare` to the end; returns the final state."""
    state = None
    for state in compare(config, source_state, mean, std):
        pass
    assert state is not None
    return state


class SourceWeights(NamedTuple):
    """The pre-trained source model as step 2 copies it: its state dict and its inputs' normalisation."""

    state: dict[str, torch.Tensor]  # every tensor of the source model (`build_model(len(SOURCE_CLASSES))`)
    mean: float  # of the training glyphs' inputs
    std: float


def from_weights(spec: Any, state: dict[str, torch.Tensor], device: Any = "cpu") -> SourceWeights:
    """The embedded source model (``core.weights.registry.load_model("finetune_source")``); tensors stay on the
    CPU, where the tab fine-tunes."""
    return SourceWeights(state, float(spec.mean[0]), float(spec.std[0]))


PREVIEW_PER_CLASS = 4
"""The prediction grid shows the first 4 test images of every digit (40 in all)."""


def preview_positions(per_class: int = PREVIEW_PER_CLASS) -> np.ndarray:
    """Positions in the test set (`test_indices` order, class by class) of the prediction grid's images:
    the first `per_class` of each class, class 0 first. Returns (K*per_class,)."""
    return np.concatenate([np.arange(per_class) + c * TEST_PER_CLASS for c in range(len(TARGET_CLASSES))])
