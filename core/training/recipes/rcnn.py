"""Recipe of ``rcnn``: R-CNN's three stages (`core.training.rcnn`) on the engine.

The engine's step loop is stage 1, fine-tuning the CNN on warped proposals: every step draws a global batch of
`RCNNSettings.scenes_per_step` training scenes and their regions (`core.training.rcnn.finetune_draws`, the same
draws on every process), and each process warps and runs its share of the scenes (``Run.shard``); AdamW (body at
a tenth of the heads' rate) with a warm-up and a cosine over max(step share, wall-time share of
`time_budget_s`), gradients clipped at norm 10. The engine evaluates once, after the last step
(``eval_every`` is None), and that evaluation is where the later stages run, on process 0 with the fine-tuned
CNN (`core.training.rcnn.fit_later_stages`): features of the SVM and val scenes, one linear SVM per class with
hard-negative mining, the box regressors, Platt sigmoids, and the SVM C / ridge penalty / NMS IoU with the best
val mAP@0.5 + mAP. The weights saved are the model after those stages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from core.data.images import IMAGENET_MEAN, IMAGENET_STD
from core.data.scenes import CLASS_NAMES, split_seeds
from core.models.rcnn import NAME, RCNNConfig
from core.training import rcnn as stages
from core.training.engine import Recipe, TrainResult


@dataclass
class RCNNSettings:
    train_scenes: int = 600  # first "train" scenes: fine-tuning, and their ground-truth boxes are the SVMs' positives
    svm_scenes: int = 200  # first "train" scenes whose every proposal is a candidate SVM negative (and regression pair)
    val_scenes: int = 100  # first "val" scenes: Platt sigmoids and the search of C, ridge penalty and NMS IoU
    steps: int = 800  # fine-tuning steps at most (the time budget may end them first)
    scenes_per_step: int = 4  # scenes per fine-tuning step, all processes together (32 regions each)
    lr: float = 1e-3  # AdamW peak for fc6/fc7/classifier; the body gets a tenth
    time_budget_s: float = 60 * 60  # fine-tuning follows max(step share, time share) and stops at either's end


class RCNNRecipe(Recipe):
    name = NAME
    Settings = RCNNSettings
    quick = {"train_scenes": 16, "svm_scenes": 4, "val_scenes": 4, "steps": 10}
    threads = 2

    def build(self) -> None:
        s, run = self.settings, self.run
        if s.svm_scenes > s.train_scenes:
            raise ValueError(f"--svm-scenes ({s.svm_scenes}) must not exceed --train-scenes ({s.train_scenes})")
        self.config = RCNNConfig()
        self.model = stages.from_ssd(self.config).to(run.device)
        groups = stages.freeze_for_finetuning(self.model)
        self.trained = run.wrap(self.model)
        self.optimizer = torch.optim.AdamW(groups, lr=s.lr, weight_decay=stages.WEIGHT_DECAY)
        self.train_seeds, self.val_seeds = split_seeds("train", s.train_scenes), split_seeds("val", s.val_scenes)
        with run.main_first():  # process 0 fills the scene cache, the others read it
            self.scenes = stages.Scenes(self.train_seeds, log=run.is_main)
            self.val = stages.Scenes(self.val_seeds, log=run.is_main) if run.is_main else None
        self.rng = np.random.default_rng(run.seed)
        self.total_steps = s.steps
        self.progress = 0.0
        self.later: dict[str, Any] = {}

    def batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        seeds = np.asarray(list(self.train_seeds))
        while True:
            step_seeds = self.rng.choice(seeds, self.settings.scenes_per_step, replace=False)
            draws = stages.finetune_draws(self.scenes, step_seeds, self.config, self.rng)
            yield stages.warped_batch(self.scenes, self.run.shard(draws), self.config)

    def should_stop(self, step: int) -> bool:
        self.progress = max(step / self.total_steps, self.run.elapsed_s / self.settings.time_budget_s)
        return self.progress >= 1.0

    def step(self, batch: tuple[torch.Tensor, torch.Tensor], step: int) -> dict[str, float]:
        s, device = self.settings, self.run.device
        for group in self.optimizer.param_groups:
            group["lr"] = s.lr * group["lr_factor"] * stages.lr_factor(self.progress, step)
        crops, classes = batch[0].to(device), batch[1].to(device)
        stages.batchnorm_eval(self.trained)
        logits = self.trained(crops)
        loss = F.cross_entropy(logits, classes)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 10.0)
        self.optimizer.step()
        return {"loss": float(loss.detach()), "accuracy": float((logits.argmax(1) == classes).float().mean())}

    def evaluate(self) -> dict[str, Any]:
        """Stages 2 and 3 and the search on the fine-tuned CNN (process 0, once: after the last step)."""
        s = self.settings
        self.later = stages.fit_later_stages(
            self.model, self.scenes, self.val, list(self.train_seeds), list(self.train_seeds)[: s.svm_scenes],
            list(self.val_seeds), self.run.seed, log=lambda text: print(text, flush=True))
        self.config = self.model.config
        return self.later["metrics"]

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def spec_fields(self) -> dict[str, Any]:
        c = self.config
        return dict(architecture="rcnn-ssd-body-svm", config=c.to_dict(), class_names=CLASS_NAMES,
                    mean=IMAGENET_MEAN, std=IMAGENET_STD, input_size=(3, c.warp_size, c.warp_size))

    def card(self, result: TrainResult) -> dict[str, Any]:
        s = self.settings
        svm = split_seeds("train", s.svm_scenes)
        later = {k: v for k, v in self.later.items() if k != "metrics"}
        return {
            "data_seeds": {"train": [self.train_seeds.start, self.train_seeds.stop], "svm_negatives": [svm.start, svm.stop],
                           "val": [self.val_seeds.start, self.val_seeds.stop]},
            "metrics": {**result.metrics, "val_scenes": s.val_scenes},
            "epochs": 1,
            **later,
            "training": (
                f"1) CNN fine-tuned on warped proposals: body from weights/ssd.safetensors "
                f"({', '.join(stages.FROZEN_PREFIXES)} and BatchNorm statistics frozen), new fc6/fc7/softmax; "
                f"{s.scenes_per_step} scenes x {stages.REGIONS_PER_SCENE} regions per step "
                f"({stages.FOREGROUND_PER_SCENE} foreground IoU >= {stages.FINETUNE_IOU}), random horizontal flips; "
                f"AdamW lr {s.lr} (body x{stages.BODY_LR_FACTOR}), cosine over max(step share, time share of "
                f"{s.time_budget_s / 60:.0f} min), {s.steps} steps at most; 2) LinearSVC per class on fc7 scaled to "
                f"norm {stages.FEATURE_NORM}, positives = ground-truth boxes, negatives IoU < {stages.SVM_NEGATIVE_IOU}, "
                f"{stages.SVM_MINING_ROUNDS} rounds of hard-negative mining (margin > {stages.SVM_HARD_MARGIN}); "
                f"3) Ridge per class on pool5, proposals IoU >= {stages.REGRESSION_IOU}; Platt sigmoid per class and "
                "C / alpha / NMS chosen on val"),
            "proposals": ("core.data.proposals.PROPOSAL_STRATEGIES (selective search, the paper's fast mode), min side "
                          f"{self.config.min_side} px, at most {self.config.max_proposals}"),
        }

