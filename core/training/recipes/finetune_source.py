"""Recipe of ``finetune_source``: step 1 of fine-tuning, pre-training the source model on printed letters.

The 35 printed letters of `core.models.finetune.source_dataset` (rendered with fixed seeds), upsampled to 32x32
and normalised with the training glyphs' own mean and std; timm's narrow resnet10t initialised from the run's
seed; AdamW with a one-cycle schedule; random shifts of up to `max_shift` pixels. The validation glyphs are
measured after every epoch; the last epoch's weights are kept. Then ``python -m core.evaluate finetune_source``
records the tab's default fine-tuning comparison in the card.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.nn.functional as F

from core.models import finetune as ft
from core.training.engine import Recipe, TrainResult


@dataclass
class FinetuneSourceSettings:
    epochs: int = 10  # passes over the training glyphs
    train_per_class: int = 300  # rendered training glyphs per letter (render seed ft.SOURCE_TRAIN_SEED)
    val_per_class: int = 40  # rendered validation glyphs per letter (render seed ft.SOURCE_VAL_SEED)
    batch_size: int = 128  # glyphs per optimiser step (all processes together)
    lr: float = 3e-3  # AdamW's peak learning rate (one-cycle schedule over the whole run)
    weight_decay: float = 1e-4  # AdamW's decoupled weight decay
    max_shift: int = 3  # augmentation: random translations of up to this many pixels (of 32) in x and y


class FinetuneSourceRecipe(Recipe):
    name = ft.SOURCE_WEIGHTS
    Settings = FinetuneSourceSettings
    quick = {"epochs": 1, "train_per_class": 8, "val_per_class": 2}
    threads = 1

    def build(self) -> None:
        s = self.settings
        images, labels = ft.source_dataset(s.train_per_class, ft.SOURCE_TRAIN_SEED)
        val_images, val_labels = ft.source_dataset(s.val_per_class, ft.SOURCE_VAL_SEED)
        self.mean = float(images.mean())
        self.std = float(ft.to_input(images, 0.0, 1.0).std())  # of the upsampled inputs the network sees
        self.x, self.y = ft.to_input(images, self.mean, self.std), torch.as_tensor(labels)
        self.x_val, self.y_val = ft.to_input(val_images, self.mean, self.std), torch.as_tensor(val_labels)
        self.fill = (0.0 - self.mean) / self.std  # the background (ink 0) after normalisation
        # One generator draws the initial weights, then every epoch's order and every batch's shifts.
        self.generator = torch.Generator().manual_seed(self.run.seed)
        self.model = ft.build_model(len(ft.SOURCE_CLASSES), self.generator).to(self.run.device)
        self.trained = self.run.wrap(self.model)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=s.lr, weight_decay=s.weight_decay)
        self.steps_per_epoch = self.eval_every = math.ceil(len(self.y) / s.batch_size)
        self.total_steps = s.epochs * self.steps_per_epoch
        self.schedule = torch.optim.lr_scheduler.OneCycleLR(self.optimizer, s.lr, total_steps=self.total_steps)

    def batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        s = self.settings
        for _ in range(s.epochs):
            order = torch.randperm(len(self.y), generator=self.generator)
            for start in range(0, len(order), s.batch_size):
                index = order[start : start + s.batch_size]
                # the shifts are drawn for the whole global batch, so every process's generator stays in step
                x = ft.random_shift(self.x[index], self.generator, s.max_shift, fill=self.fill)
                yield self.run.shard(x), self.run.shard(self.y[index])

    def step(self, batch: tuple[torch.Tensor, torch.Tensor], step: int) -> dict[str, float]:
        x, y = (t.to(self.run.device) for t in batch)
        loss = F.cross_entropy(self.trained(x), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.schedule.step()
        return {"loss": loss.item()}

    def evaluate(self) -> dict[str, Any]:
        device = self.run.device
        accuracy, loss, _ = ft.evaluate_model(self.model, self.x_val.to(device), self.y_val.to(device))
        return {"val_accuracy": accuracy, "val_loss": loss}

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def spec_fields(self) -> dict[str, Any]:
        return dict(architecture="timm-resnet-source", config=dict(ft.BACKBONE_CONFIG), class_names=ft.SOURCE_CLASSES,
                    mean=(self.mean,), std=(self.std,), input_size=(1, ft.INPUT_SIDE, ft.INPUT_SIDE))

    def card(self, result: TrainResult) -> dict[str, Any]:
        s = self.settings
        return {
            "data_seeds": {"source_train": {"render_seed": ft.SOURCE_TRAIN_SEED, "per_class": s.train_per_class},
                           "source_val": {"render_seed": ft.SOURCE_VAL_SEED, "per_class": s.val_per_class}},
            "metrics": {"source_val_accuracy": result.metrics.get("val_accuracy"),
                        "source_val_loss": result.metrics.get("val_loss")},
            "data": ("source: 35 printed letters (" + "".join(ft.SOURCE_CLASSES) + "; left out as digit-like: "
                     + ft.LEFT_OUT_GLYPHS + ") rendered with Pillow's built-in font at random size, stroke, rotation, "
                     "shear and aspect, reduced like the UCI digits (32x32 bitmap -> 4x4 block sums -> 8x8, 17 "
                     "levels); upsampled to 32x32. Target (not used here): scikit-learn's UCI handwritten digits."),
            "training": (f"AdamW lr {s.lr} one-cycle, weight decay {s.weight_decay}, batch {s.batch_size}, random "
                         f"shifts of up to {s.max_shift} px; {len(self.y)} training and {len(self.y_val)} "
                         "validation glyphs; the last epoch's weights"),
        }
