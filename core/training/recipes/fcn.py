"""Recipe of ``fcn``: the FCN (timm resnet10t body, skips to stride 2, bilinear-initialised transposed
convolutions) trained from scratch on the generated scenes.

Data: the first `train_scenes` scenes of the "train" split from the scene cache, all in memory. Each step takes
the next `batch_size` scenes of an endless sequence of seeded permutations and augments them (`draw_augmentation`
then `apply_augmentation`: a random `crop` x `crop` window, a horizontal flip, per-channel gain, contrast and
brightness jitter). Loss: pixel-wise cross-entropy + `dice_weight` x soft Dice (`core.models.fcn.soft_dice_loss`).
AdamW with a one-cycle schedule; the transposed convolutions learn `upsampler_lr_mult` times slower, without
weight decay, so that they leave bilinear interpolation slowly. After every epoch of `steps_per_epoch` steps the
val mIoU is measured; the best epoch is kept. The run stops before an epoch that would overrun `time_budget_s`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from core.data.images import IMAGENET_MEAN, IMAGENET_STD
from core.data.scene_cache import scene_arrays
from core.data.scenes import split_seeds
from core.models.fcn import (
    NAME, SCENE_SIZE, SEGMENTATION_CLASS_NAMES, FCNConfig, build_fcn, normalize,
    soft_dice_loss,
)
from core.training.engine import Recipe, TrainResult


@dataclass
class FCNSettings:
    train_scenes: int = 6000  # first seeds of the "train" split, all kept in memory (~1.5 GB)
    val_scenes: int = 250  # first seeds of the "val" split, measured at full 256 x 256 after every epoch
    epochs: int = 12  # the best epoch's weights are kept
    steps_per_epoch: int = 250  # optimiser steps between two validations
    batch_size: int = 16  # scenes per step, all processes together
    crop: int = 160  # random square crops of the 256 x 256 scenes (objects are 18..112 px)
    lr: float = 3e-3  # AdamW peak learning rate (one-cycle schedule, 15% warm-up)
    weight_decay: float = 1e-4  # AdamW's decoupled weight decay (not on the upsamplers)
    upsampler_lr_mult: float = 0.1  # the transposed convolutions move slowly away from bilinear
    dice_weight: float = 1.0  # loss = cross-entropy + dice_weight * soft Dice loss (mIoU weighs rare classes equally)
    time_budget_s: float = 45 * 60  # stop early (keeping the best epoch) when the next epoch would not fit


@dataclass
class Augmentation:
    """What `draw_augmentation` drew for a batch of B scenes (albumentations' "draw, then apply")."""

    tops: np.ndarray  # (B,) int: the crop windows' top rows
    lefts: np.ndarray  # (B,) int: their left columns
    flips: np.ndarray  # (B,) bool: flipped left-right
    gain: np.ndarray  # (B, 3, 1, 1) float32: per-channel colour gain, U(0.75, 1.25)
    contrast: np.ndarray  # (B, 1, 1, 1) float32: contrast around the crop's mean, U(0.7, 1.3)
    bias: np.ndarray  # (B, 1, 1, 1) float32: brightness shift, U(-0.1, 0.1)

    def select(self, index: Any) -> "Augmentation":
        return Augmentation(*(a[index] for a in (self.tops, self.lefts, self.flips, self.gain, self.contrast, self.bias)))


def draw_augmentation(rng: np.random.Generator, batch: int, size: int, crop: int) -> Augmentation:
    """The random parameters of a batch's augmentation, drawn in a fixed order from `rng`."""
    tops = rng.integers(0, size - crop + 1, batch)
    lefts = rng.integers(0, size - crop + 1, batch)
    flips = rng.random(batch) < 0.5
    gain = rng.uniform(0.75, 1.25, (batch, 3, 1, 1)).astype(np.float32)
    contrast = rng.uniform(0.7, 1.3, (batch, 1, 1, 1)).astype(np.float32)
    bias = rng.uniform(-0.1, 0.1, (batch, 1, 1, 1)).astype(np.float32)
    return Augmentation(tops, lefts, flips, gain, contrast, bias)


def apply_augmentation(images: np.ndarray, masks: np.ndarray, index: np.ndarray, crop: int,
                       aug: Augmentation) -> tuple[torch.Tensor, torch.Tensor]:
    """Crop, flip and colour-jitter scenes `index` of images (N, H, W, 3) uint8 / masks (N, H, W).

    Returns images (B, 3, crop, crop) normalised float32 and masks (B, crop, crop) int64.
    """
    batch = len(index)
    x = np.empty((batch, crop, crop, 3), np.uint8)
    y = np.empty((batch, crop, crop), np.uint8)
    for b, (i, t, l, flip) in enumerate(zip(index, aug.tops, aug.lefts, aug.flips)):
        step = -1 if flip else 1
        x[b] = images[i, t : t + crop, l : l + crop][:, ::step]
        y[b] = masks[i, t : t + crop, l : l + crop][:, ::step]
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).float().div_(255.0)  # (B, 3, crop, crop)
    mean = xt.mean(dim=(1, 2, 3), keepdim=True)
    gain, contrast, bias = (torch.from_numpy(a) for a in (aug.gain, aug.contrast, aug.bias))
    xt = ((xt * gain - mean) * contrast + mean + bias).clamp_(0, 1)
    return normalize(xt), torch.from_numpy(y).long()


def is_upsampler(name: str) -> bool:
    return name.startswith(("merges.", "upsample."))


class FCNRecipe(Recipe):
    name = NAME
    Settings = FCNSettings
    quick = {"train_scenes": 8, "val_scenes": 4, "epochs": 1, "steps_per_epoch": 2, "batch_size": 4}
    threads = 2

    def build(self) -> None:
        s, run = self.settings, self.run
        self.train_seeds, self.val_seeds = split_seeds("train", s.train_scenes), split_seeds("val", s.val_scenes)
        with run.main_first():  # process 0 fills the scene cache, the others read it
            self.train = scene_arrays(self.train_seeds, fields=("images", "masks"), log=run.is_main)
            self.val = scene_arrays(self.val_seeds, fields=("images", "masks"), log=run.is_main)
        generator = torch.Generator().manual_seed(run.seed)
        torch.manual_seed(run.seed)  # timm draws the initial weights from the global RNG (training only)
        self.model = build_fcn(FCNConfig()).to(run.device)
        self.trained = run.wrap(self.model)
        upsamplers = [p for n, p in self.model.named_parameters() if is_upsampler(n)]
        others = [p for n, p in self.model.named_parameters() if not is_upsampler(n)]
        self.optimizer = torch.optim.AdamW(
            [{"params": others, "lr": s.lr},
             {"params": upsamplers, "lr": s.lr * s.upsampler_lr_mult, "weight_decay": 0.0}],
            lr=s.lr, weight_decay=s.weight_decay,
        )
        self.steps_per_epoch = self.eval_every = s.steps_per_epoch
        self.total_steps = s.epochs * s.steps_per_epoch
        self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
            self.optimizer, max_lr=[s.lr, s.lr * s.upsampler_lr_mult], total_steps=self.total_steps, pct_start=0.15)
        self.rng = np.random.default_rng(int(torch.randint(0, 2**31, (1,), generator=generator)))
        self.epoch_started: float | None = None
        self.epoch_times: list[float] = []

    def batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        s = self.settings
        order = np.empty(0, np.int64)
        while True:
            if len(order) < s.batch_size:
                order = np.concatenate([order, self.rng.permutation(len(self.train))])
            index, order = order[: s.batch_size], order[s.batch_size :]
            aug = draw_augmentation(self.rng, s.batch_size, self.train.images.shape[1], s.crop)  # the global batch's
            mine = self.run.shard(np.arange(s.batch_size))  # ...and this process's share of it
            yield apply_augmentation(self.train.images, self.train.masks, index[mine], s.crop, aug.select(mine))

    def should_stop(self, step: int) -> bool:
        """Before each epoch: stop when the longest epoch so far would overrun the time budget."""
        if step % self.settings.steps_per_epoch:
            return False
        now = self.run.elapsed_s
        if self.epoch_started is not None:
            self.epoch_times.append(now - self.epoch_started)
        self.epoch_started = now
        return bool(self.epoch_times) and now + max(self.epoch_times) > self.settings.time_budget_s

    def step(self, batch: tuple[torch.Tensor, torch.Tensor], step: int) -> dict[str, float]:
        x, y = (t.to(self.run.device) for t in batch)
        self.trained.train()
        logits = self.trained(x)
        loss = F.cross_entropy(logits, y)
        if self.settings.dice_weight:
            loss = loss + self.settings.dice_weight * soft_dice_loss(logits, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        return {"loss": loss.item()}

    def evaluate(self) -> dict[str, Any]:
        from core.evaluation.evaluators import fcn_iou

        result = fcn_iou(self.model, self.val)  # in eval mode; `step` switches back to training mode
        return {"val_miou": result["miou"], "val_per_class_iou": result["per_class"],
                "val_pixel_accuracy": result["pixel_accuracy"]}

    def score(self, metrics: dict[str, Any]) -> float:
        return metrics["val_miou"]

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def spec_fields(self) -> dict[str, Any]:
        return dict(architecture="fcn", config=FCNConfig().to_dict(), class_names=SEGMENTATION_CLASS_NAMES,
                    mean=IMAGENET_MEAN, std=IMAGENET_STD, input_size=(3, SCENE_SIZE, SCENE_SIZE))

    def card(self, result: TrainResult) -> dict[str, Any]:
        s = self.settings
        return {
            "data_seeds": {"train": [self.train_seeds.start, self.train_seeds.stop],
                           "val": [self.val_seeds.start, self.val_seeds.stop]},
            "metrics": {**result.metrics, "best_epoch": (result.kept or {}).get("epoch")},
            "epochs": len(result.history),
            "optimizer": "AdamW, one-cycle",
            "loss": "pixel-wise cross-entropy" + (f" + {s.dice_weight} x soft Dice" if s.dice_weight else ""),
            "augmentation": "random crop, horizontal flip, per-channel gain, contrast and brightness jitter",
            "init": "backbone from scratch (timm pretrained=False), score layers default / skips zero, "
                    "transposed convolutions bilinear",
        }
