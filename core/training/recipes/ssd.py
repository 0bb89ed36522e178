"""Recipe of ``ssd``: the multiscale single-shot detector trained from scratch on the generated scenes.

Data: the first `train_scenes` scenes of the "train" split (images and object maps from the scene cache). Every
epoch visits them in a seeded random order; each scene becomes a random `crop` x `crop` window at the objects'
true scale, half of the time zoomed in by up to `zoom`, flipped half of the time, its boxes recomputed from the
object pixels left in the window (`draw_windows`, then `window_batch`). Loss: `core.models.ssd.ssd_loss`
(cross-entropy with 3:1 hard-negative mining + L1 offsets, per positive anchor). AdamW with a one-cycle schedule,
gradients clipped at norm 10. After every epoch the val mAP is measured; the best epoch is kept.

``--resume`` starts from the weights already in ``--out`` (a further stage on the same data, with a fresh
one-cycle schedule); the card then lists every stage, and its epochs and wall time are the totals. The
embedded weights were trained in two stages (their card's ``reproduce`` lists the commands).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterator

import cv2
import numpy as np
import torch

from core.data.datasets import to_book_labels
from core.data.scene_cache import SceneArrays, scene_arrays
from core.data.scenes import CLASS_NAMES, split_seeds
from core.data.images import IMAGENET_MEAN, IMAGENET_STD
from core.models.ssd import INPUT_SIDE, NAME, SSD, SSDConfig, ssd_loss
from core.training.engine import Recipe, TrainResult
from core.weights import hub


@dataclass
class SSDSettings:
    train_scenes: int = 4000  # first scenes of the "train" split (the embedded weights' second stage used 6000)
    val_scenes: int = 200  # first scenes of "val": mAP after every epoch, the best epoch is kept
    epochs: int = 4  # passes over the training scenes
    batch_size: int = 32  # scenes per step, all processes together
    lr: float = 4e-3  # AdamW peak learning rate (one-cycle, 15% warm-up)
    weight_decay: float = 5e-4  # AdamW's decoupled weight decay
    crop: int = 192  # training windows (pixels of the 256-px scenes, objects at true scale)
    zoom: tuple[float, float] = (1.0, 1.35)  # with probability 1/2 a window is crop / z pixels, z ~ U(zoom), scaled to crop
    clip_grad_norm: float = 10.0  # gradients are clipped to this global norm
    resume: bool = False  # start from the weights in --out (a further training stage)


MIN_KEPT_FRACTION = 0.5
"""A window keeps an object when at least this share of its pixels stays inside."""


@dataclass(frozen=True)
class Window:
    """What `draw_windows` drew for one scene: a square window and a flip."""

    top: int
    left: int
    side: int  # pixels of the scene (crop / z)
    flip: bool


def draw_windows(rng: np.random.Generator, count: int, height: int, width: int, crop: int,
                 zoom: tuple[float, float]) -> list[Window]:
    """For each of `count` scenes, in turn: a zoom z ~ U(zoom) with probability 1/2 (else 1), a window of
    ``crop / z`` pixels at a uniform position, a flip with probability 1/2."""
    windows = []
    for _ in range(count):
        z = float(rng.uniform(*zoom)) if rng.random() < 0.5 else 1.0
        side = min(int(round(crop / z)), height, width)
        top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
        windows.append(Window(top, left, side, bool(rng.random() < 0.5)))
    return windows


def window_batch(scenes: SceneArrays, indices: np.ndarray, windows: list[Window],
                 crop: int) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
    """Scenes `indices` cut to their `windows`, scaled to `crop` x `crop` and flipped; each object's box is the
    tight extent of its pixels left in the window (objects with less than `MIN_KEPT_FRACTION` left are dropped).

    Returns:
        images (B, 3, crop, crop) float in [0, 1]; targets ``[{"boxes": (N, 4) pixel xyxy, "labels": (N,)}]``.
    """
    out_images, targets = [], []
    for index, window in zip(indices, windows):
        labels = scenes.labels[scenes.objects(index)]
        inst = scenes.instances[index]  # (H, W)
        top, left, side = window.top, window.left, window.side
        image = scenes.images[index, top : top + side, left : left + side]  # (side, side, 3) uint8
        if side != crop:
            image = cv2.resize(image, (crop, crop), interpolation=cv2.INTER_LINEAR)
        window_inst = inst[top : top + side, left : left + side]
        f = crop / side
        if window.flip:
            image = image[:, ::-1]
        boxes, kept = [], []
        full_counts = np.bincount(inst.reshape(-1), minlength=len(labels) + 1)
        window_counts = np.bincount(window_inst.reshape(-1), minlength=len(labels) + 1)
        for j in range(len(labels)):
            n_in = int(window_counts[j + 1])
            if n_in == 0 or n_in < MIN_KEPT_FRACTION * int(full_counts[j + 1]):
                continue
            obj = window_inst == j + 1
            rows = np.flatnonzero(obj.any(axis=1))
            cols = np.flatnonzero(obj.any(axis=0))
            x1, x2 = cols[0] * f, (cols[-1] + 1) * f
            y1, y2 = rows[0] * f, (rows[-1] + 1) * f
            if window.flip:
                x1, x2 = crop - x2, crop - x1
            boxes.append((x1, y1, x2, y2))
            kept.append(int(labels[j]))
        out_images.append(image)
        targets.append({"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                        "labels": torch.tensor(kept, dtype=torch.int64)})
    batch = np.stack(out_images)  # (B, crop, crop, 3) uint8
    return torch.from_numpy(batch).permute(0, 3, 1, 2).float().div_(255.0), targets


class SSDRecipe(Recipe):
    name = NAME
    Settings = SSDSettings
    quick = {"train_scenes": 64, "val_scenes": 16, "epochs": 1, "batch_size": 16}
    threads = 2

    def build(self) -> None:
        s, run = self.settings, self.run
        self.rng = np.random.default_rng(run.seed)  # every epoch's order, then each window
        self.train_seeds, self.val_seeds = split_seeds("train", s.train_scenes), split_seeds("val", s.val_scenes)
        with run.main_first():  # process 0 fills the scene cache, the others read it
            self.train = scene_arrays(self.train_seeds, fields=("images", "instances"), log=run.is_main)
            self.val = scene_arrays(self.val_seeds, fields=("images",), log=run.is_main)
        self.model = SSD().to(run.device, memory_format=torch.channels_last)  # channels_last: faster CPU convolutions
        self.previous: dict[str, Any] | None = None
        if s.resume:
            self.previous = hub.load_card(NAME, run.out).get("card", {})
            self.model.load_state_dict(hub.load_state_dict(NAME, weights_dir=run.out))
        self.trained = run.wrap(self.model)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=s.lr, weight_decay=s.weight_decay)
        self.steps_per_epoch = self.eval_every = len(self.train) // s.batch_size
        self.total_steps = s.epochs * self.steps_per_epoch
        self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
            self.optimizer, max_lr=s.lr, total_steps=self.total_steps, pct_start=0.15)

    def batches(self) -> Iterator[tuple[torch.Tensor, list[dict[str, torch.Tensor]]]]:
        s = self.settings
        height, width = self.train.images.shape[1:3]
        for _ in range(s.epochs):
            order = self.rng.permutation(len(self.train))
            for step in range(self.steps_per_epoch):
                index = order[step * s.batch_size : (step + 1) * s.batch_size]
                windows = draw_windows(self.rng, len(index), height, width, s.crop, s.zoom)  # the global batch's
                mine = self.run.shard(range(len(index)))  # ...and this process's share of it
                yield window_batch(self.train, index[mine], [windows[i] for i in mine], s.crop)

    def step(self, batch: tuple[torch.Tensor, list[dict[str, torch.Tensor]]], step: int) -> dict[str, float]:
        images, targets = batch
        labels = to_book_labels(targets, images.shape[-2:])
        self.trained.train()
        out = self.trained(images.to(self.run.device, memory_format=torch.channels_last))
        loss, parts = ssd_loss(out, labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.clip_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        return {"loss": float(loss.detach()), "cls": parts["cls"], "box": parts["box"]}

    def evaluate(self) -> dict[str, Any]:
        from core.evaluation.evaluators import ssd_map

        metrics = ssd_map(self.model, self.val)
        return {"val_map_50": metrics["map_50"], "val_map": metrics["map"]}

    def score(self, metrics: dict[str, Any]) -> float:
        return metrics["val_map"] or 0.0

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def spec_fields(self) -> dict[str, Any]:
        return dict(architecture="ssd", config=SSDConfig().to_dict(), class_names=CLASS_NAMES, mean=IMAGENET_MEAN,
                    std=IMAGENET_STD,
                    input_size=(3, INPUT_SIDE, INPUT_SIDE))

    def card(self, result: TrainResult) -> dict[str, Any]:
        s, config = self.settings, SSDConfig()
        kept = result.kept or {}
        stage = {"epochs": len(result.history), "wall_time_s": result.wall_time_s, "training": asdict(s),
                 "history": result.history, "best_epoch": kept.get("epoch")}
        previous = self.previous
        stages = (previous.get("stages") or [previous]) if previous else []
        stages = [{k: st.get(k) for k in ("epochs", "wall_time_s", "training", "history", "best_epoch")} for st in stages]
        stages.append(stage)
        return {
            "data_seeds": {"train": [self.train_seeds.start, self.train_seeds.stop],
                           "val": [self.val_seeds.start, self.val_seeds.stop]},
            "metrics": {**result.metrics, "best_epoch": kept.get("epoch")},
            "epochs": sum(st["epochs"] or 0 for st in stages),
            "wall_time_s": round(sum(st["wall_time_s"] or 0 for st in stages), 1),
            "history": [h for st in stages for h in (st["history"] or [])],
            "stages": stages,
            "loss": "softmax cross-entropy with hard-negative mining (3:1) + L1 offsets (book normalisation), "
                    "per positive anchor",
            "optimizer": "AdamW + OneCycle",
            "augmentation": f"random {s.crop}x{s.crop} windows of the 256x256 scenes (objects at true scale), zoom-in "
                            f"{s.zoom[0]}-{s.zoom[1]}x (p=0.5), horizontal flip; boxes recomputed from the object maps",
            "anchors": {"sizes_px_at_256": [list(v) for v in config.sizes_px], "ratios": list(config.ratios)},
        }
