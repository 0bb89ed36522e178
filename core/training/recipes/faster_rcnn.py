"""Recipe of ``faster_rcnn``: torchvision's Faster R-CNN on a narrow timm resnet10t + FPN, from scratch.

Data: the first `train_scenes` scenes of the "train" split (from the scene cache) through
`core.data.datasets.SceneDetection`'s Albumentations augmentation (flip, affine, colour jitter, noise/blur; each
item's drawn from (seed, epoch, scene), so it does not depend on which process loads it), in batches drawn by a
seeded `RandomSampler` (drop_last); every process loads its share of each batch (`ShardedBatches`). AdamW (no
weight decay on norms and biases) with a linear warm-up, then a cosine to `final_lr_fraction` of the peak over
``max(step share, wall-time share of time_budget_s)``: a loaded machine gets a shorter, still annealed run, and
training stops when either share is spent. Gradients are clipped at norm 10. After every epoch (and when the
budget stops the run) the val mAP is measured; the epoch with the best mAP + mAP@0.5 is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import torch
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, Sampler

from core.data.images import IMAGENET_MEAN, IMAGENET_STD
from core.data.datasets import SceneDetection, detection_collate
from core.data.scene_cache import SceneArrays, scene_arrays
from core.data.scenes import CLASS_NAMES, Scene, split_seeds
from core.models.faster_rcnn import (
    LABEL_OFFSET, WEIGHTS_NAME, FasterRCNNConfig, build_faster_rcnn,
)
from core.training.engine import Recipe, Run, TrainResult


@dataclass
class FasterRCNNSettings:
    train_scenes: int = 4000  # first scenes of the "train" split, augmented afresh every epoch
    val_scenes: int = 100  # first scenes of "val": mAP after every epoch, the best epoch is kept
    epochs: int = 6  # at most (the time budget may end the run first)
    batch_size: int = 8  # scenes per step, all processes together
    lr: float = 1e-3  # AdamW peak learning rate
    weight_decay: float = 1e-4  # AdamW's decoupled weight decay (none on norms and biases)
    warmup_steps: int = 150  # linear warm-up of the learning rate
    final_lr_fraction: float = 0.02  # the cosine schedule ends at this share of the peak
    clip_grad_norm: float = 10.0  # gradients are clipped to this global norm
    time_budget_s: float = 55 * 60  # the schedule follows max(step share, time share); training stops at either's end


class CachedSceneDetection(SceneDetection):
    """`SceneDetection` whose scenes come from `core.data.scene_cache` arrays instead of being generated."""

    def __init__(self, arrays: SceneArrays, **options: Any):
        super().__init__(list(arrays.seeds), **options)
        self.arrays = arrays

    def scene(self, index: int) -> Scene:
        return self.arrays.scene(index)


class ShardedBatches(Sampler):
    """This process's share (`Run.shard`) of every batch of `batches`: the same global batches on every process."""

    def __init__(self, batches: BatchSampler, run: Run):
        self.batches, self.run = batches, run

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.batches:
            yield self.run.shard(batch)

    def __len__(self) -> int:
        return len(self.batches)


def lr_factor(progress: float, step: int, warmup_steps: int, final_fraction: float) -> float:
    """Linear warm-up over `warmup_steps`, then cosine from 1 to `final_fraction` as progress goes 0 -> 1."""
    warm = min(1.0, (step + 1) / warmup_steps)
    cosine = final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return warm * cosine


class FasterRCNNRecipe(Recipe):
    name = WEIGHTS_NAME
    Settings = FasterRCNNSettings
    quick = {"train_scenes": 16, "val_scenes": 8, "epochs": 1, "time_budget_s": 600.0}
    threads = 2

    def build(self) -> None:
        s, run = self.settings, self.run
        self.config = FasterRCNNConfig()
        self.model = build_faster_rcnn(self.config).to(run.device)  # initial weights from the seeded global RNG
        self.trained = run.wrap(self.model)
        self.train_seeds, self.val_seeds = split_seeds("train", s.train_scenes), split_seeds("val", s.val_scenes)
        with run.main_first():  # process 0 fills the scene cache, the others read it
            self.train = scene_arrays(self.train_seeds, log=run.is_main)
            self.val = scene_arrays(self.val_seeds, fields=("images",), log=run.is_main)
        self.data = CachedSceneDetection(self.train, augment=True, augment_seed=run.seed, label_offset=LABEL_OFFSET)
        generator = torch.Generator().manual_seed(run.seed)
        global_batches = BatchSampler(RandomSampler(self.data, generator=generator), s.batch_size, drop_last=True)
        self.loader = DataLoader(self.data, batch_sampler=ShardedBatches(global_batches, run),
                                 collate_fn=detection_collate, generator=generator, num_workers=0)
        decay, no_decay = [], []
        for _, p in self.model.named_parameters():
            (no_decay if p.ndim <= 1 else decay).append(p)
        self.optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": s.weight_decay},
                                            {"params": no_decay, "weight_decay": 0.0}], lr=s.lr)
        self.steps_per_epoch = self.eval_every = len(self.loader)
        self.total_steps = s.epochs * self.steps_per_epoch
        self.progress = 0.0

    def batches(self) -> Iterator[tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]]:
        for epoch in range(self.settings.epochs):
            self.data.set_epoch(epoch)
            yield from self.loader

    def should_stop(self, step: int) -> bool:
        """The schedule's progress, max(step share, time share), reached 1."""
        self.progress = max(step / self.total_steps, self.run.elapsed_s / self.settings.time_budget_s)
        return self.progress >= 1.0

    def step(self, batch: tuple[Sequence[torch.Tensor], Sequence[dict[str, torch.Tensor]]], step: int) -> dict[str, float]:
        s, device = self.settings, self.run.device
        for group in self.optimizer.param_groups:
            group["lr"] = s.lr * lr_factor(self.progress, step, s.warmup_steps, s.final_lr_fraction)
        images, targets = batch
        images = [im.to(device) for im in images]
        targets = [{"boxes": t["boxes"].to(device), "labels": t["labels"].to(device)} for t in targets]
        self.trained.train()
        losses = self.trained(images, targets)
        loss = sum(losses.values())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), s.clip_grad_norm)
        self.optimizer.step()
        return {"loss": float(loss.detach()), **{k[5:]: float(v.detach()) for k, v in losses.items()}}

    def evaluate(self) -> dict[str, Any]:
        from core.evaluation.evaluators import faster_rcnn_map

        metrics = faster_rcnn_map(self.model, self.val)
        return {"val_map_50": metrics["map_50"], "val_map": metrics["map"]}

    def score(self, metrics: dict[str, Any]) -> float:
        return (metrics["val_map"] or 0.0) + (metrics["val_map_50"] or 0.0)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def spec_fields(self) -> dict[str, Any]:
        c = self.config
        return dict(architecture="torchvision-faster-rcnn-timm-fpn", config=c.to_dict(), class_names=CLASS_NAMES,
                    mean=IMAGENET_MEAN, std=IMAGENET_STD, input_size=(3, c.min_size, c.min_size))

    def card(self, result: TrainResult) -> dict[str, Any]:
        s = self.settings
        return {
            "data_seeds": {"train": [self.train_seeds.start, self.train_seeds.stop],
                           "val": [self.val_seeds.start, self.val_seeds.stop]},
            "metrics": {**result.metrics, "val_scenes": s.val_scenes},
            "best_epoch": (result.kept or {}).get("epoch"),
            "epochs": len(result.history),
            "training": (f"AdamW lr {s.lr} (weight decay {s.weight_decay}, none on norms/biases), {s.warmup_steps} "
                         f"warm-up steps, cosine to {s.final_lr_fraction}x over max(step share, wall-time share of "
                         f"{s.time_budget_s / 60:.0f} min), batch {s.batch_size}, gradient clip {s.clip_grad_norm}; "
                         "augmentation core.data.datasets.default_augmentation (flip, affine, colour jitter, "
                         "noise/blur); backbone from scratch"),
        }
