"""Recipe of ``fast_rcnn``: Fast R-CNN (`core.models.fast_rcnn`) fine-tuned from the SSD's backbone.

The backbone starts from the SSD's trained weights (``weights/ssd.*``). Its resnet body stays frozen and its maps of
every scene (and of its mirror image) are computed once (`core.training.fast_rcnn.BodyMaps`); the layers above it
(extra blocks, top-down path, every BatchNorm keeping the SSD's statistics) are fine-tuned with the new RoI head.
Every epoch visits the training scenes in a seeded order, each flipped or not (drawn per epoch, the same on every
process); a step takes `FastRCNNSettings.batch_size` scenes, every process its share (``Run.shard``), with 64
sampled RoIs per scene (25 % foreground) from its cached selective-search proposals plus the ground-truth boxes.
The loss is the paper's multi-task loss (`core.models.fast_rcnn.loss`); the processes' gradients are averaged
after each backward pass (the loss is not the model's forward, so by an all-reduce rather than
`DistributedDataParallel`). AdamW with a warm-up and a cosine over max(step share, wall-time share of
`time_budget_s`), gradients clipped at norm 10. After every epoch the val mAP is measured and the best epoch is
kept; then the class-wise NMS IoU with the best val mAP@0.5 + mAP is chosen for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import torch

from core.data.images import IMAGENET_MEAN, IMAGENET_STD
from core.data.scenes import CLASS_NAMES, split_seeds
from core.models.fast_rcnn import NAME, FastRCNNConfig, detect, from_ssd, loss
from core.models.rcnn import INPUT_SIDE
from core.training import fast_rcnn as pieces
from core.training.engine import Recipe, TrainResult
from core.training.rcnn import Scenes, lr_factor


@dataclass
class FastRCNNSettings:
    train_scenes: int = 600  # first scenes of the "train" split (their proposals are cached by core.data.proposals)
    val_scenes: int = 100  # first scenes of "val": mAP after every epoch (the best epoch is kept) and the NMS choice
    epochs: int = 8  # at most (the time budget may end the run first)
    batch_size: int = 4  # scenes per step, all processes together
    lr: float = 1e-3  # AdamW peak for the RoI head; the fine-tuned backbone layers get a tenth
    time_budget_s: float = 150 * 60  # the schedule follows max(step share, time share); training stops at either's end


class FastRCNNRecipe(Recipe):
    name = NAME
    Settings = FastRCNNSettings
    quick = {"train_scenes": 16, "val_scenes": 8, "epochs": 1, "time_budget_s": 600.0}
    threads = 2

    def build(self) -> None:
        s, run = self.settings, self.run
        self.config = FastRCNNConfig()
        self.model = from_ssd(self.config).to(run.device)
        pieces.freeze(self.model)
        self.body_maps = pieces.BodyMaps(self.model)
        head_names = ("fc", "cls", "bbox")
        backbone = [p for n, p in self.model.named_parameters() if p.requires_grad and not n.startswith(head_names)]
        head = [p for n, p in self.model.named_parameters() if n.startswith(head_names)]
        self.trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW([{"params": backbone, "lr_factor": pieces.BACKBONE_LR_FACTOR},
                                            {"params": head, "lr_factor": 1.0}], lr=s.lr,
                                           weight_decay=pieces.WEIGHT_DECAY)
        self.train_seeds, self.val_seeds = split_seeds("train", s.train_scenes), split_seeds("val", s.val_scenes)
        with run.main_first():  # process 0 fills the scene cache, the others read it
            self.scenes = Scenes(self.train_seeds, log=run.is_main)
            self.val = Scenes(self.val_seeds, log=run.is_main) if run.is_main else None
        self.rng = np.random.default_rng(run.seed)
        self.generator = torch.Generator().manual_seed(run.seed + run.rank)  # this process's RoI samples
        self.steps_per_epoch = self.eval_every = len(self.train_seeds) // s.batch_size
        if self.steps_per_epoch < 1:
            raise ValueError(f"--train-scenes ({s.train_scenes}) must be at least --batch-size ({s.batch_size})")
        self.total_steps = s.epochs * self.steps_per_epoch
        self.progress = 0.0
        self.best: tuple[float, dict[str, torch.Tensor]] | None = None
        self.nms_scores: dict[float, dict[str, Any]] = {}

    def batches(self) -> Iterator[list[tuple[int, bool]]]:
        seeds, size = np.asarray(list(self.train_seeds)), self.settings.batch_size
        for _ in range(self.settings.epochs):
            order = self.rng.permutation(len(seeds))
            flips = self.rng.random(len(seeds)) < 0.5
            for i in range(self.steps_per_epoch):
                chosen = order[i * size:(i + 1) * size]
                yield self.run.shard([(int(seeds[c]), bool(flips[c])) for c in chosen])

    def should_stop(self, step: int) -> bool:
        self.progress = max(step / self.total_steps, self.run.elapsed_s / self.settings.time_budget_s)
        return self.progress >= 1.0

    def step(self, batch: list[tuple[int, bool]], step: int) -> dict[str, float]:
        s, run = self.settings, self.run
        for group in self.optimizer.param_groups:
            group["lr"] = s.lr * group["lr_factor"] * lr_factor(self.progress, step)
        self.model.train()
        pieces.batchnorm_eval(self.model)
        images, targets = zip(*(pieces.scene_target(self.scenes, seed, self.config, flip) for seed, flip in batch))
        maps = [level.to(run.device) for level in self.body_maps.batch(batch, images)]
        targets = [{k: v.to(run.device) for k, v in t.items()} for t in targets]
        value, logs = loss(self.model, None, list(targets), self.generator, body_maps=maps)
        self.optimizer.zero_grad(set_to_none=True)
        value.backward()
        self._average_gradients()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), pieces.GRAD_CLIP_NORM)
        self.optimizer.step()
        return {"loss": float(value.detach()), "loss_cls": logs["loss_cls"], "loss_box": logs["loss_box"],
                "accuracy": logs["accuracy"]}

    def _average_gradients(self) -> None:
        """The mean of the processes' gradients (each process's loss is the mean over its own scenes' RoIs)."""
        if not self.run.distributed:
            return
        for p in self.trainable:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            torch.distributed.all_reduce(p.grad)
            p.grad /= self.run.world_size

    def _val_map(self, nms_iou: float | None) -> dict[str, Any]:
        from core.evaluation.evaluators import proposals_map
        from core.data.scene_cache import scene_arrays

        arrays = scene_arrays(self.val_seeds, fields=("images",))
        return proposals_map(lambda image, proposals: detect(self.model, image, 0.01, nms_iou, proposals), arrays)

    def evaluate(self) -> dict[str, Any]:
        self.model.eval()
        metrics = self._val_map(None)
        found = {"val_map_50": metrics["map_50"], "val_map": metrics["map"]}
        score = self.score(found)
        if self.best is None or score > self.best[0]:
            self.best = (score, {k: v.detach().clone() for k, v in self.model.state_dict().items()})
        return found

    def score(self, metrics: dict[str, Any]) -> float:
        return (metrics["val_map"] or 0.0) + (metrics["val_map_50"] or 0.0)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def spec_fields(self) -> dict[str, Any]:
        return dict(architecture="fast-rcnn-ssd-backbone", config=self.config.to_dict(), class_names=CLASS_NAMES,
                    mean=IMAGENET_MEAN, std=IMAGENET_STD, input_size=(3, INPUT_SIDE, INPUT_SIDE))

    def choose_nms(self) -> float:
        """The best epoch's weights, then the NMS IoU of `pieces.NMS_CHOICES` with the best val mAP@0.5 + mAP."""
        if self.best is not None:
            self.model.load_state_dict(self.best[1])
        self.model.eval()
        for iou in pieces.NMS_CHOICES:
            self.nms_scores[iou] = self._val_map(iou)
            print(f"val with NMS IoU {iou}: mAP50 {self.nms_scores[iou]['map_50']:.4f} "
                  f"mAP {self.nms_scores[iou]['map']:.4f}", flush=True)
        chosen = max(pieces.NMS_CHOICES, key=lambda t: (self.nms_scores[t]["map_50"] or 0.0)
                     + (self.nms_scores[t]["map"] or 0.0))
        self.config = FastRCNNConfig(**{**self.config.to_dict(), "nms_iou": chosen})
        self.model.config = self.config
        return chosen

    def card(self, result: TrainResult) -> dict[str, Any]:
        s, c = self.settings, self.config
        chosen = self.choose_nms()  # before spec_fields: the card's config carries the chosen NMS IoU
        val = self.nms_scores[chosen]
        return {
            "data_seeds": {"train": [self.train_seeds.start, self.train_seeds.stop],
                           "val": [self.val_seeds.start, self.val_seeds.stop]},
            "metrics": {"val_map_50": val["map_50"], "val_map": val["map"], "val_scenes": s.val_scenes},
            "best_epoch": (result.kept or {}).get("epoch"),
            "epochs": len(result.history),
            "nms_choice": {str(k): {"val_map_50": v["map_50"], "val_map": v["map"]} for k, v in self.nms_scores.items()},
            "training": (
                f"backbone, extra blocks and top-down path from weights/ssd.safetensors (the resnet body frozen, its "
                f"maps computed once per scene and flip; extra blocks and top-down path fine-tuned; BatchNorm "
                f"statistics frozen), RoI head from scratch; {s.batch_size} scenes x {c.rois_per_image} RoIs per step "
                f"({c.foreground_fraction:.0%} foreground IoU >= {c.foreground_iou}, background IoU in "
                f"{list(c.background_iou)}), proposals + ground-truth boxes; horizontal flips; AdamW lr {s.lr} "
                f"(backbone x{pieces.BACKBONE_LR_FACTOR}, weight decay {pieces.WEIGHT_DECAY}), "
                f"{pieces.WARMUP_STEPS} warm-up steps, cosine to {pieces.FINAL_LR_FRACTION}x over max(step share, "
                f"wall-time share of {s.time_budget_s / 60:.0f} min); loss = cross-entropy + smooth L1 (beta 1) of "
                "the true class's offsets; best epoch on val, then the NMS IoU with the best val mAP@0.5 + mAP"),
            "proposals": ("core.data.proposals.PROPOSAL_STRATEGIES (selective search, the paper's fast mode), min side "
                          f"{c.min_side} px, at most {c.max_proposals}"),
        }
