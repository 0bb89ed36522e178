"""Training and evaluation of Fast R-CNN (`core.models.fast_rcnn`) on the generated scenes.

``python -m core.train fast_rcnn [--train-count N --val-count N --batch-images B --lr LR --time-budget MIN
--threads T]`` and ``python -m core.evaluate fast_rcnn [--split test --count N]``.

Recipe (the paper's, scaled to 2 CPU cores): the backbone starts from the SSD's trained weights (``weights/ssd.*``,
the lab's own pre-trained network). Its resnet body stays frozen and its maps of every scene (and of its mirror
image) are computed once (`BodyMaps`); the layers above it (extra blocks, top-down path, every BatchNorm keeping the
SSD's statistics) are fine-tuned with the new RoI head. Mini-batches of `BATCH_IMAGES` scenes x 64 sampled RoIs
(25 % foreground) from their cached selective-search proposals (`core.data.proposals`) plus the ground-truth
boxes; horizontal flips (the paper's only augmentation); AdamW with warm-up and a cosine schedule over max(step
share, wall-time share); the best epoch on the val scenes is kept, then the NMS IoU is chosen on them.
The per-step loss is `core.models.fast_rcnn.loss(model, images, targets)`.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from typing import Any, Sequence

import numpy as np
import torch

from core.models.fast_rcnn import NAME, FastRCNN, FastRCNNConfig, detect, from_ssd, loss
from core.models.rcnn import MEAN, STD, INPUT_SIDE, normalise, select_proposals

TRAIN_COUNT = 600
"""Training scenes (the first seeds of the "train" split; their proposals are cached by `core.data.proposals`)."""

VAL_COUNT = 100
EPOCHS = 8
BATCH_IMAGES = 4
LEARNING_RATE = 1e-3  # AdamW peak for the RoI head; the backbone gets BACKBONE_LR_FACTOR of it
BACKBONE_LR_FACTOR = 0.1
WEIGHT_DECAY = 1e-4
WARMUP_STEPS = 50
FINAL_LR_FRACTION = 0.02
GRAD_CLIP_NORM = 10.0
TIME_BUDGET_S = 150 * 60
"""A cap for a loaded machine: the schedule follows max(step share, time share); on 2 free cores the steps end first."""
FROZEN_PREFIXES: tuple[str, ...] = ("backbone.",)
"""Parameters kept at the SSD's values: the whole resnet body. The paper fine-tuned all but VGG's first layers; here
the body's forward pass is computed once per scene (`BodyMaps`), which makes training ~10x cheaper on 2 CPU cores,
and the layers above it (extra blocks, top-down path) are fine-tuned with the head."""

NMS_CHOICES: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6)
"""Class-wise NMS IoU thresholds tried on the val scenes after training (the best mAP@0.5 + mAP is kept)."""


def _parse_extra(extra: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m core.train fast_rcnn")
    parser.add_argument("--train-count", type=int, default=None)
    parser.add_argument("--val-count", type=int, default=None)
    parser.add_argument("--batch-images", type=int, default=BATCH_IMAGES)
    parser.add_argument("--lr", type=float, default=LEARNING_RATE)
    parser.add_argument("--time-budget", type=float, default=None, help="wall-time budget in minutes")
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args(list(extra))


def _lr_factor(progress: float, step: int) -> float:
    warm = min(1.0, (step + 1) / WARMUP_STEPS)
    return warm * (FINAL_LR_FRACTION + (1 - FINAL_LR_FRACTION) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def _targets(seed: int, config: FastRCNNConfig, flip: bool) -> tuple[np.ndarray, dict[str, torch.Tensor]]:
    """The scene's image (flipped when asked) and its target {"boxes", "labels", "proposals"}."""
    from core.data.proposals import scene_proposals
    from core.models.faster_rcnn import _cached_scene

    scene = _cached_scene(int(seed))
    image, boxes = scene.image, scene.boxes.astype(np.float32)
    proposals = select_proposals(scene_proposals(int(seed)), config.min_side, config.max_proposals)
    if flip:
        width = image.shape[1]
        image = np.ascontiguousarray(image[:, ::-1])
        boxes = np.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], 1)
        proposals = np.stack([width - proposals[:, 2], proposals[:, 1], width - proposals[:, 0], proposals[:, 3]], 1)
    return image, {"boxes": torch.from_numpy(np.ascontiguousarray(boxes)).reshape(-1, 4),
                   "labels": torch.from_numpy(scene.labels.astype(np.int64)),
                   "proposals": torch.from_numpy(np.ascontiguousarray(proposals, dtype=np.float32))}


class BodyMaps:
    """The frozen backbone's maps of every (scene, flip), computed once and kept in memory as float16
    (the body never changes during training, so its forward pass is not repeated every epoch)."""

    def __init__(self, model: FastRCNN):
        self.model = model
        self.maps: dict[tuple[int, bool], list[torch.Tensor]] = {}

    def batch(self, keys: Sequence[tuple[int, bool]], images: Sequence[np.ndarray]) -> list[torch.Tensor]:
        """Per level, the maps of the batch stacked: [(B, C_l, h_l, w_l)] float32."""
        missing = [(k, im) for k, im in zip(keys, images) if k not in self.maps]
        if missing:
            with torch.no_grad():
                out = self.model.backbone(torch.stack([normalise(im) for _, im in missing]))
            for i, (key, _) in enumerate(missing):
                self.maps[key] = [level[i].half() for level in out]
        return [torch.stack([self.maps[k][level] for k in keys]).float() for level in range(len(self.maps[keys[0]]))]


def _freeze(model: FastRCNN) -> None:
    for name, parameter in model.named_parameters():
        if name.startswith(FROZEN_PREFIXES):
            parameter.requires_grad_(False)


def _batchnorm_eval(model: FastRCNN) -> None:
    """Every BatchNorm keeps the SSD's running statistics (a few images per step are too few to estimate them)."""
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eval()


def train(args: argparse.Namespace) -> None:
    """Train Fast R-CNN and write ``weights/fast_rcnn.*`` (see the module docstring). ``--quick``: 16 scenes."""
    from core import hub
    from core.data.scenes import split_seeds
    from core.train import progress, run_card
    from core.training.rcnn import measure

    opts = _parse_extra(getattr(args, "extra", []) or [])
    torch.set_num_threads(opts.threads)
    started = time.time()
    quick = bool(args.quick)
    train_count = opts.train_count or (16 if quick else TRAIN_COUNT)
    val_count = opts.val_count or (8 if quick else VAL_COUNT)
    epochs = args.epochs or (1 if quick else EPOCHS)
    budget = (opts.time_budget * 60) if opts.time_budget else (600 if quick else TIME_BUDGET_S)
    config = FastRCNNConfig()
    model = from_ssd(config)
    _freeze(model)
    body_maps = BodyMaps(model)
    backbone = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith(("fc", "cls", "bbox"))]
    head = [p for n, p in model.named_parameters() if n.startswith(("fc", "cls", "bbox"))]
    optimizer = torch.optim.AdamW([{"params": backbone, "lr_factor": BACKBONE_LR_FACTOR},
                                   {"params": head, "lr_factor": 1.0}], lr=opts.lr, weight_decay=WEIGHT_DECAY)
    seeds = np.array(list(split_seeds("train", train_count)))
    val_seeds = list(split_seeds("val", val_count))
    rng = np.random.default_rng(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    steps_per_epoch = len(seeds) // opts.batch_images
    total_steps = epochs * steps_per_epoch
    step = 0
    history: list[dict[str, Any]] = []
    best: tuple[float, int, dict[str, torch.Tensor], dict[str, Any]] | None = None
    stop = False
    for epoch in range(epochs):
        model.train()
        _batchnorm_eval(model)
        order = rng.permutation(len(seeds))
        flips = rng.random(len(seeds)) < 0.5
        sums: dict[str, float] = {}
        bar = progress(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{epochs}")
        for i in bar:
            progress_share = max(step / total_steps, (time.time() - started) / budget)
            if progress_share >= 1.0:
                stop = True
                break
            for group in optimizer.param_groups:
                group["lr"] = opts.lr * group["lr_factor"] * _lr_factor(progress_share, step)
            chosen = order[i * opts.batch_images:(i + 1) * opts.batch_images]
            keys = [(int(seeds[c]), bool(flips[c])) for c in chosen]
            images, targets = zip(*(_targets(seed, config, flip) for seed, flip in keys))
            value, logs = loss(model, None, list(targets), generator, body_maps=body_maps.batch(keys, images))
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP_NORM)
            optimizer.step()
            step += 1
            for key in ("loss_cls", "loss_box", "accuracy"):
                sums[key] = sums.get(key, 0.0) + logs[key]
            if step % 25 == 0:
                print(f"step {step} ({time.time() - started:.0f} s): loss {float(value.detach()):.3f} cls {logs['loss_cls']:.3f} "
                      f"box {logs['loss_box']:.3f} acc {logs['accuracy']:.2f} fg {logs['foreground']}", flush=True)
        batches = max(1, step - sum(h["steps"] for h in history))
        model.eval()
        metrics = measure(lambda image, proposals: detect(model, image, 0.01, None, proposals), "val", val_count)
        entry = {"epoch": epoch + 1, "steps": batches, "elapsed_s": round(time.time() - started, 1),
                 "val_map_50": metrics["map_50"], "val_map": metrics["map"],
                 **{k: round(v / batches, 4) for k, v in sums.items()}}
        history.append(entry)
        print(f"epoch {epoch + 1}: {entry}", flush=True)
        score = (metrics["map"] or 0.0) + (metrics["map_50"] or 0.0)
        if best is None or score > best[0]:
            best = (score, epoch + 1, {k: v.detach().clone() for k, v in model.state_dict().items()}, metrics)
        if stop:
            break
    assert best is not None
    model.load_state_dict(best[2])
    model.eval()
    nms_scores = {}
    for iou in NMS_CHOICES:
        found = measure(lambda image, proposals: detect(model, image, 0.01, iou, proposals), "val", val_count)
        nms_scores[iou] = found
        print(f"val with NMS IoU {iou}: mAP50 {found['map_50']:.4f} mAP {found['map']:.4f}", flush=True)
    chosen_iou = max(NMS_CHOICES, key=lambda t: (nms_scores[t]["map_50"] or 0.0) + (nms_scores[t]["map"] or 0.0))
    config = FastRCNNConfig(**{**config.to_dict(), "out_indices": config.out_indices,
                               "background_iou": config.background_iou, "nms_iou": chosen_iou})
    model.config = config
    val = nms_scores[chosen_iou]
    card = run_card(
        args, started=started, epochs=len(history),
        data_seeds={"train": [int(seeds[0]), int(seeds[-1]) + 1], "val": [int(val_seeds[0]), int(val_seeds[-1]) + 1]},
        metrics={"val_map_50": val["map_50"], "val_map": val["map"], "val_scenes": val_count},
        best_epoch=best[1], history=history, steps=step,
        nms_choice={str(k): {"val_map_50": v["map_50"], "val_map": v["map"]} for k, v in nms_scores.items()},
        training=(f"backbone, extra blocks and top-down path from weights/ssd.safetensors (the resnet body frozen, its "
                  f"maps computed once per scene and flip; extra blocks and top-down path fine-tuned; BatchNorm "
                  f"statistics frozen), RoI head from scratch; {opts.batch_images} scenes x "
                  f"{config.rois_per_image} RoIs per step ({config.foreground_fraction:.0%} foreground IoU >= "
                  f"{config.foreground_iou}, background IoU in {list(config.background_iou)}), proposals + ground-truth "
                  f"boxes; horizontal flips; AdamW lr {opts.lr} (backbone x{BACKBONE_LR_FACTOR}, weight decay "
                  f"{WEIGHT_DECAY}), {WARMUP_STEPS} warm-up steps, cosine to {FINAL_LR_FRACTION}x over max(step share, "
                  f"wall-time share of {budget / 60:.0f} min); loss = cross-entropy + smooth L1 (beta 1) of the true "
                  f"class's offsets; best epoch on val, then the NMS IoU with the best val mAP@0.5 + mAP"),
        proposals="core.data.proposals.PROPOSAL_STRATEGIES (selective search, the paper's fast mode), min side "
                  f"{config.min_side} px, at most {config.max_proposals}",
        threads=opts.threads,
    )
    if quick and "LAB_SAVE_QUICK" not in os.environ:
        print(f"quick run: weights not saved (val mAP50 {val['map_50']})", flush=True)
        return
    spec = hub.save_weights(
        NAME, model.state_dict(),
        spec_fields=dict(architecture="fast-rcnn-ssd-backbone", config=config.to_dict(), class_names=_class_names(),
                         mean=MEAN, std=STD, input_size=(3, INPUT_SIDE, INPUT_SIDE)),
        card=card,
    )
    print(f"saved weights/{spec.filename} (best epoch {best[1]}, NMS IoU {chosen_iou})", flush=True)


def _class_names() -> tuple[str, ...]:
    from core.data.scenes import CLASS_NAMES

    return CLASS_NAMES


def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    """``python -m core.evaluate fast_rcnn [--split test --count N]``: COCO mAP, recorded in the model card
    (the whole test split also measures the unseen photos and the fixed test subset the tests check)."""
    from core.models.fast_rcnn import load_fast_rcnn
    from core.training.rcnn import evaluate_and_record

    torch.set_num_threads(2)
    model = load_fast_rcnn(args.device)
    return evaluate_and_record(NAME, lambda image, proposals=None: detect(model, image, 0.01, None, proposals),
                               getattr(args, "split", "test"), getattr(args, "count", None))
