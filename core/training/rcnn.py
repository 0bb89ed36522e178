"""Training and evaluation of R-CNN (`core.models.rcnn`) on the generated scenes, and the evaluation both
R-CNN and Fast R-CNN share.

``python -m core.train rcnn [--train-count N --svm-count N --val-count N --steps N --time-budget MIN --threads T]``
and ``python -m core.evaluate rcnn [--split test --count N]``.

The paper's three training stages, scaled to 2 CPU cores:
  1. Fine-tune the CNN on warped proposals: the SSD's trained body (``weights/ssd.*``, the lab's own pre-trained
     backbone; its stem and first stage frozen) + new fc6, fc7 and a softmax over 5 classes + background; a proposal with IoU >= 0.5 with a
     ground-truth box takes its class, every other one is background; mini-batches of 128 regions from 4 scenes,
     32 foreground (the paper's 32 + 96), horizontally flipped at random; BatchNorm statistics stay the SSD's.
  2. One linear SVM per class (``sklearn.svm.LinearSVC``) on the fine-tuned fc7 features, scaled to an average
     norm of 20 (the paper): positives are the ground-truth boxes of the fine-tuning scenes, negatives the
     proposals of `SVM_COUNT` scenes with IoU < 0.3 with every object of that class; hard-negative mining starts
     from a random set of negatives and, for a few rounds, adds every negative the current SVM puts inside the
     margin (score > -1) and retrains.
  3. One ridge regressor per class (``sklearn.linear_model.Ridge``) on the pool5 features of the proposals with
     IoU >= 0.6 with an object of that class, to the offsets of that object.
Then, on the val scenes: a Platt sigmoid per class (``LogisticRegression`` on the SVM margin: is the proposal a
correct detection, IoU >= 0.5, of this class?) so that scores lie in [0, 1], and the SVM's C, the ridge penalty
and the NMS IoU with the best val mAP@0.5 + mAP.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from core.models.rcnn import (
    MEAN, NAME, STD, INPUT_SIDE, RCNN, RCNNConfig, decode_boxes, detect, encode_boxes, finish, label_proposals,
    normalise, region_features, select_proposals, warp_regions,
)

# --- the evaluation R-CNN and Fast R-CNN share -------------------------------------------------------------------

SUBSET_COUNT = 10
"""The first test scenes measured on their own (``test_subset_*`` in the cards): the tests recompute this mAP."""

DetectFn = Callable[..., dict]
"""``detect_fn(image (H, W, 3) uint8, proposals (N, 4) or None) -> {"boxes", "scores", "labels"}``."""


def measure(detect_fn: DetectFn, split: str = "test", count: int | None = None, cached: bool = True) -> dict[str, Any]:
    """COCO mAP (`core.evaluation.metrics.DetectionMeter`) of a detector on the first `count` scenes of `split`.

    `cached`: read each scene's selective-search proposals from `core.data.proposals` (the same boxes the model
    would compute; False: the detector computes them itself).
    """
    from core.data.proposals import scene_proposals
    from core.data.scenes import split_seeds
    from core.evaluation.metrics import DetectionMeter
    from core.models.faster_rcnn import _cached_scene

    meter = DetectionMeter()
    for seed in split_seeds(split, count):
        scene = _cached_scene(int(seed))
        pred = detect_fn(scene.image, scene_proposals(int(seed)) if cached else None)
        meter.update([pred], [{"boxes": scene.boxes, "labels": scene.labels}])
    return meter.compute()


def measure_on_photos(detect_fn: DetectFn) -> dict[str, Any]:
    """COCO mAP on the unseen-photo scenes of `core.models.faster_rcnn.evaluate_on_photos` (the first test seeds
    pasted onto scikit-image photos training never saw, at the photos' own sizes); proposals computed live."""
    from core.data.scenes import make_scene, split_seeds
    from core.evaluation.metrics import DetectionMeter
    from core.models.faster_rcnn import PHOTO_SCENES, UNSEEN_PHOTOS, unseen_photo

    photos = [unseen_photo(name) for name in UNSEEN_PHOTOS]
    meter = DetectionMeter()
    for i, seed in enumerate(split_seeds("test", PHOTO_SCENES)):
        scene = make_scene(int(seed), background=photos[i % len(photos)])
        meter.update([detect_fn(scene.image, None)], [{"boxes": scene.boxes, "labels": scene.labels}])
    return meter.compute()


def proposal_quality(split: str = "test", count: int | None = None) -> dict[str, Any]:
    """Selective search's recall against the ground truth of `split` (all its proposals, from the cache):
    ``proposals_recall_50``, ``proposals_recall_70`` (share of objects some proposal overlaps by IoU >= 0.5 / 0.7),
    ``proposals_mabo`` (mean best overlap), ``proposals_per_image`` (mean count)."""
    from core.data.proposals import scene_proposals
    from core.data.scenes import split_seeds
    from core.models.faster_rcnn import _cached_scene
    from core.ops.selective_search import proposal_recall

    found, truth = [], []
    for seed in split_seeds(split, count):
        found.append(scene_proposals(int(seed)))
        truth.append(_cached_scene(int(seed)).boxes)
    recall = proposal_recall(found, truth)
    return {"proposals_recall_50": recall["recall_50"], "proposals_recall_70": recall["recall_70"],
            "proposals_mabo": recall["mabo"], "proposals_objects": recall["objects"],
            "proposals_per_image": float(np.mean([len(f) for f in found])),
            "proposals_note": f"selective search (core.data.proposals.PROPOSAL_STRATEGIES) on all {split} scenes, "
                              "every proposal, before the models' min-side filter"}


def evaluate_and_record(name: str, detect_fn: DetectFn, split: str = "test", count: int | None = None) -> dict[str, Any]:
    """Measure a detector on `split` and write the numbers into ``weights/<name>.json`` (``<split>_*``); on the
    whole test split also the unseen photos (``photos_*``) and the fixed subset (``test_subset_*``)."""
    from core import hub
    from core.data.scenes import split_seeds

    started = time.time()
    metrics = measure(detect_fn, split, count)
    seeds = split_seeds(split, count)
    record: dict[str, Any] = {f"{split}_{k}": v for k, v in metrics.items()}
    record[f"{split}_scenes"] = len(seeds)
    record[f"{split}_seeds"] = [seeds.start, seeds.stop]
    record[f"{split}_score_threshold"] = 0.01
    record[f"{split}_eval_wall_s"] = round(time.time() - started, 1)
    if count is None and split == "test":
        photos = measure_on_photos(detect_fn)
        metrics["photos"] = photos
        from core.models.faster_rcnn import PHOTO_SCENES, UNSEEN_PHOTOS

        record.update({f"photos_{k}": photos[k] for k in ("map_50", "map", "map_75", "per_class_ap50")})
        record["photos_scenes"] = PHOTO_SCENES
        record["photos_backgrounds"] = (f"scikit-image {', '.join(UNSEEN_PHOTOS)} (not training backgrounds), at "
                                        "their own sizes, in turn; test seeds; proposals computed live")
        record.update(proposal_quality("test"))
        subset = measure(detect_fn, "test", SUBSET_COUNT, cached=False)
        metrics["subset"] = subset
        record.update({"test_subset_map_50": subset["map_50"], "test_subset_map": subset["map"],
                       "test_subset_seeds": [split_seeds("test", SUBSET_COUNT).start,
                                             split_seeds("test", SUBSET_COUNT).stop],
                       "test_subset_note": "the first test scenes, proposals computed live, score > 0.01; "
                                           "tests/test_rcnn_family.py recomputes this"})
    record["evaluated_with"] = f"python -m core.evaluate {name}"
    hub.update_card(name, metrics=record)
    return metrics


# --- R-CNN training --------------------------------------------------------------------------------------------------

TRAIN_COUNT = 600
"""Fine-tuning scenes (the first "train" seeds); their ground-truth boxes are also the SVMs' positives."""

SVM_COUNT = 200
"""Scenes whose every proposal is a candidate negative for the SVMs (hard-negative mining) and trains the
box regressors (the first "train" seeds)."""

VAL_COUNT = 100
FINETUNE_STEPS = 800
SCENES_PER_STEP = 4
REGIONS_PER_SCENE = 32  # 128 regions per step
FOREGROUND_PER_SCENE = 8  # 32 of 128 foreground (the paper)
FINETUNE_IOU = 0.5
LEARNING_RATE = 1e-3  # AdamW peak for fc6/fc7/classifier; the body gets BODY_LR_FACTOR of it
BODY_LR_FACTOR = 0.1
WEIGHT_DECAY = 1e-4
WARMUP_STEPS = 50
FINAL_LR_FRACTION = 0.02
FINETUNE_BUDGET_S = 60 * 60
FROZEN_PREFIXES: tuple[str, ...] = ("conv1", "bn1", "layer1")
"""Body layers kept at the SSD's values while fine-tuning (the stem and first stage, as the paper kept the first
layers): their backward pass at the highest resolution is the costliest part of a step."""

SVM_NEGATIVE_IOU = 0.3  # negatives: proposals with IoU below this with every object of the class
SVM_POSITIVE_WEIGHT = 2.0  # the paper's weight of the positive class
SVM_INITIAL_NEGATIVES = 5000
SVM_MINING_ROUNDS = 3
SVM_HARD_MARGIN = -1.0  # a negative scored above this is "hard" (inside the margin or wrong)
SVM_MAX_NEW_NEGATIVES = 20000  # per round, the hardest ones
FEATURE_NORM = 20.0  # fc7 features are scaled to this average norm (the paper)
REGRESSION_IOU = 0.6
C_CHOICES: tuple[float, ...] = (1e-4, 1e-3, 1e-2)
ALPHA_CHOICES: tuple[float, ...] = (100.0, 1000.0, 10000.0)
NMS_CHOICES: tuple[float, ...] = (0.3, 0.4, 0.5)


def _parse_extra(extra: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m core.train rcnn")
    parser.add_argument("--train-count", type=int, default=None)
    parser.add_argument("--svm-count", type=int, default=None)
    parser.add_argument("--val-count", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None, help="fine-tuning steps")
    parser.add_argument("--lr", type=float, default=LEARNING_RATE)
    parser.add_argument("--time-budget", type=float, default=None, help="fine-tuning wall-time budget in minutes")
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args(list(extra))


def _lr_factor(progress: float, step: int) -> float:
    warm = min(1.0, (step + 1) / WARMUP_STEPS)
    return warm * (FINAL_LR_FRACTION + (1 - FINAL_LR_FRACTION) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def _scene_and_proposals(seed: int, config: RCNNConfig):
    from core.data.proposals import scene_proposals
    from core.models.faster_rcnn import _cached_scene

    scene = _cached_scene(int(seed))
    return scene, select_proposals(scene_proposals(int(seed)), config.min_side, config.max_proposals)


def from_ssd(config: RCNNConfig = RCNNConfig()) -> RCNN:
    """An R-CNN whose body is the trained SSD's (``weights/ssd.*``); fc6, fc7, the classifier are new."""
    from core import hub

    model = RCNN(config)
    body = {k[len("backbone."):]: v for k, v in hub.load_state_dict("ssd").items() if k.startswith("backbone.")}
    model.body.load_state_dict(body, strict=True)
    return model


def _finetune_batch(seeds: Sequence[int], config: RCNNConfig, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Warped regions (R, 3, S, S) and their classes (R,) (0 = background, k + 1 = class k) from a few scenes."""
    crops, classes = [], []
    for seed in seeds:
        scene, proposals = _scene_and_proposals(seed, config)
        gt_boxes, gt_labels = torch.from_numpy(scene.boxes.astype(np.float32)), torch.from_numpy(scene.labels)
        candidates = torch.cat([torch.from_numpy(proposals), gt_boxes.reshape(-1, 4)])
        best, _, labels = label_proposals(candidates, gt_boxes, gt_labels)
        foreground = np.flatnonzero((best >= FINETUNE_IOU).numpy())
        background = np.flatnonzero((best < FINETUNE_IOU).numpy())
        fg = rng.choice(foreground, min(len(foreground), FOREGROUND_PER_SCENE), replace=False)
        bg = rng.choice(background, min(len(background), REGIONS_PER_SCENE - len(fg)), replace=False)
        chosen = torch.from_numpy(np.concatenate([fg, bg]).astype(np.int64))
        cls = torch.zeros(len(chosen), dtype=torch.int64)
        cls[: len(fg)] = labels[chosen[: len(fg)]] + 1
        warped = warp_regions(normalise(scene.image), candidates[chosen], config.warp_size, config.context_padding)
        flip = torch.from_numpy(rng.random(len(chosen)) < 0.5)
        warped[flip] = warped[flip].flip(-1)
        crops.append(warped)
        classes.append(cls)
    return torch.cat(crops), torch.cat(classes)


def finetune(model: RCNN, seeds: Sequence[int], steps: int, lr: float, budget_s: float, seed: int = 0,
             log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Stage 1: the CNN + softmax trained on warped proposals (in place). Returns a loss log per 50 steps."""
    from core.train import progress

    rng = np.random.default_rng(seed)
    for name, parameter in model.body.named_parameters():
        if name.startswith(FROZEN_PREFIXES):
            parameter.requires_grad_(False)
    body = [p for p in model.body.parameters() if p.requires_grad]
    heads = [p for n, p in model.named_parameters() if not n.startswith("body.")]
    optimizer = torch.optim.AdamW([{"params": body, "lr_factor": BODY_LR_FACTOR},
                                   {"params": heads, "lr_factor": 1.0}], lr=lr, weight_decay=WEIGHT_DECAY)
    model.train()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eval()  # the SSD's statistics
    started = time.time()
    history, running_loss, running_acc = [], 0.0, 0.0
    seeds = np.asarray(list(seeds))
    for step in progress(range(steps), desc="fine-tuning"):
        share = max(step / steps, (time.time() - started) / budget_s)
        if share >= 1.0:
            break
        for group in optimizer.param_groups:
            group["lr"] = lr * group["lr_factor"] * _lr_factor(share, step)
        crops, classes = _finetune_batch(rng.choice(seeds, SCENES_PER_STEP, replace=False), model.config, rng)
        logits = model(crops)
        loss = F.cross_entropy(logits, classes)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
        running_loss += float(loss.detach())
        running_acc += float((logits.argmax(1) == classes).float().mean())
        if (step + 1) % 50 == 0:
            entry = {"step": step + 1, "loss": round(running_loss / 50, 4), "accuracy": round(running_acc / 50, 4),
                     "elapsed_s": round(time.time() - started, 1)}
            history.append(entry)
            log(f"fine-tuning {entry}")
            running_loss = running_acc = 0.0
    model.eval()
    return history


class SceneFeatures:
    """Features of every proposal of a set of scenes: pool5 (float16), fc7 (float16), and for each proposal its
    IoU with the objects of each class (R, C) and the best object of its own best class (for regression)."""

    def __init__(self, model: RCNN, seeds: Sequence[int], with_proposals: bool = True, log: Callable = print):
        from core.train import progress

        config = model.config
        pool5, fc7, iou_per_class, best_iou, best_box, best_label, proposals, image_index = [], [], [], [], [], [], [], []
        self.scenes = []
        for i, seed in enumerate(progress(list(seeds), desc="features")):
            scene, boxes = _scene_and_proposals(int(seed), config)
            if not with_proposals:
                boxes = np.zeros((0, 4), np.float32)
            all_boxes = np.concatenate([boxes, scene.boxes.astype(np.float32)]) if not with_proposals else boxes
            p5, f7 = region_features(model, scene.image, all_boxes)
            pool5.append(p5.half())
            fc7.append(f7.half())
            iou_c, b_iou, b_box, b_label = _overlaps(torch.from_numpy(all_boxes), scene.boxes, scene.labels,
                                                     config.num_classes)
            iou_per_class.append(iou_c)
            best_iou.append(b_iou)
            best_box.append(b_box)
            best_label.append(b_label)
            proposals.append(torch.from_numpy(all_boxes))
            image_index.append(torch.full((len(all_boxes),), i, dtype=torch.int64))
            self.scenes.append(scene)
        self.pool5, self.fc7 = torch.cat(pool5), torch.cat(fc7)
        self.iou_per_class, self.best_iou = torch.cat(iou_per_class), torch.cat(best_iou)
        self.best_box, self.best_label = torch.cat(best_box), torch.cat(best_label)
        self.proposals, self.image_index = torch.cat(proposals), torch.cat(image_index)
        log(f"features of {len(self.proposals)} regions from {len(self.scenes)} scenes")


def _overlaps(boxes: torch.Tensor, gt_boxes: np.ndarray, gt_labels: np.ndarray, num_classes: int):
    """(R, C) IoU with the best object of each class, and the best object overall: IoU (R,), box (R, 4), label (R,)."""
    from torchvision.ops import box_iou

    gt = torch.from_numpy(gt_boxes.astype(np.float32)).reshape(-1, 4)
    labels = torch.from_numpy(gt_labels.astype(np.int64))
    per_class = torch.zeros(len(boxes), num_classes)
    if len(gt) == 0 or len(boxes) == 0:
        return per_class, torch.zeros(len(boxes)), torch.zeros(len(boxes), 4), torch.full((len(boxes),), -1)
    iou = box_iou(boxes.float(), gt)  # (R, G)
    for c in range(num_classes):
        mine = labels == c
        if mine.any():
            per_class[:, c] = iou[:, mine].max(1).values
    best, index = iou.max(1)
    return per_class, best, gt[index], labels[index]


def train_svms(positives: torch.Tensor, positive_labels: torch.Tensor, negatives: SceneFeatures, C: float,
               feature_scale: float, num_classes: int, seed: int = 0, log: Callable = print
               ) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    """Stage 2: one linear SVM per class with hard-negative mining. Returns weights (C, D), biases (C,), a log."""
    from sklearn.svm import LinearSVC

    rng = np.random.default_rng(seed)
    pool = negatives.fc7.float().numpy() * feature_scale  # (N, D)
    pos_all = positives.float().numpy() * feature_scale
    weights = np.zeros((num_classes, pool.shape[1]), np.float32)
    biases = np.zeros(num_classes, np.float32)
    report = []
    for c in range(num_classes):
        pos = pos_all[(positive_labels == c).numpy()]
        candidates = np.flatnonzero((negatives.iou_per_class[:, c] < SVM_NEGATIVE_IOU).numpy())
        cache = rng.choice(candidates, min(SVM_INITIAL_NEGATIVES, len(candidates)), replace=False)
        rounds = []
        for round_index in range(SVM_MINING_ROUNDS + 1):
            x = np.concatenate([pos, pool[cache]])
            y = np.concatenate([np.ones(len(pos)), np.zeros(len(cache))])
            svm = LinearSVC(C=C, class_weight={1: SVM_POSITIVE_WEIGHT, 0: 1.0}, intercept_scaling=10.0,
                            max_iter=5000, random_state=seed).fit(x, y)
            margins = pool[candidates] @ svm.coef_[0] + svm.intercept_[0]
            hard = candidates[margins > SVM_HARD_MARGIN]
            new = np.setdiff1d(hard, cache, assume_unique=False)
            rounds.append({"round": round_index, "negatives": int(len(cache)), "hard_found": int(len(hard)),
                           "new": int(len(new))})
            if round_index == SVM_MINING_ROUNDS or len(new) == 0:
                break
            hardest = new[np.argsort(-(pool[new] @ svm.coef_[0]))[:SVM_MAX_NEW_NEGATIVES]]
            cache = np.concatenate([cache, hardest])
        weights[c], biases[c] = svm.coef_[0], svm.intercept_[0]
        report.append({"class": c, "positives": int(len(pos)), "candidate_negatives": int(len(candidates)),
                       "rounds": rounds})
        log(f"SVM class {c}: {len(pos)} positives, rounds {rounds}")
    return weights, biases, report


def train_regressors(features: SceneFeatures, alpha: float, num_classes: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Stage 3: ridge regressors pool5 -> offsets, per class, on proposals with IoU >= 0.6. Returns (C, 4, P),
    (C, 4) and the number of training pairs per class."""
    from sklearn.linear_model import Ridge

    dim = features.pool5.shape[1]
    weights = np.zeros((num_classes, 4, dim), np.float32)
    biases = np.zeros((num_classes, 4), np.float32)
    counts = []
    targets_all = encode_boxes(features.proposals, features.best_box)  # (N, 4)
    for c in range(num_classes):
        chosen = torch.nonzero((features.best_iou >= REGRESSION_IOU) & (features.best_label == c)).squeeze(1)
        counts.append(int(len(chosen)))
        if len(chosen) < 10:
            continue
        ridge = Ridge(alpha=alpha).fit(features.pool5[chosen].float().numpy(), targets_all[chosen].numpy())
        weights[c], biases[c] = ridge.coef_, ridge.intercept_
    return weights, biases, counts


def fit_platt(model: RCNN, val: SceneFeatures) -> np.ndarray:
    """(C, 2) per-class (a, b): sigmoid(a * margin + b) ~ P(IoU >= 0.5 with an object of the class)."""
    from sklearn.linear_model import LogisticRegression

    margins = model.svm_margins(val.fc7.float()).numpy()  # (N, C)
    out = np.zeros((margins.shape[1], 2), np.float32)
    for c in range(margins.shape[1]):
        y = (val.iou_per_class[:, c] >= 0.5).numpy()
        if y.all() or not y.any():
            out[c] = (1.0, 0.0)
            continue
        fit = LogisticRegression(C=1e4, max_iter=1000).fit(margins[:, c:c + 1], y)
        out[c] = (fit.coef_[0, 0], fit.intercept_[0])
    return out


def _val_map(model: RCNN, val: SceneFeatures, nms_iou: float) -> dict[str, Any]:
    """mAP on the val scenes from their stored features (what `detect` computes, without the CNN)."""
    from core.evaluation.metrics import DetectionMeter

    meter = DetectionMeter()
    with torch.inference_mode():
        scores = model.class_scores(val.fc7.float())
        offsets = model.box_offsets(val.pool5.float())
    for i, scene in enumerate(val.scenes):
        mine = val.image_index == i
        boxes = decode_boxes(val.proposals[mine], offsets[mine], scene.image.shape[:2])
        kept = finish(boxes, scores[mine], 0.01, nms_iou)
        meter.update([{"boxes": kept[0], "scores": kept[1], "labels": kept[2]}],
                     [{"boxes": scene.boxes, "labels": scene.labels}])
    return meter.compute()


def _set_svms(model: RCNN, weights: np.ndarray, biases: np.ndarray) -> None:
    model.svm_weight.copy_(torch.from_numpy(weights))
    model.svm_bias.copy_(torch.from_numpy(biases))


def _set_regressors(model: RCNN, weights: np.ndarray, biases: np.ndarray) -> None:
    model.regressor_weight.copy_(torch.from_numpy(weights))
    model.regressor_bias.copy_(torch.from_numpy(biases))


def train(args: argparse.Namespace) -> None:
    """Train R-CNN's three stages and write ``weights/rcnn.*`` (see the module docstring). ``--quick``: tiny."""
    from core import hub
    from core.data.scenes import split_seeds
    from core.train import run_card

    opts = _parse_extra(getattr(args, "extra", []) or [])
    torch.set_num_threads(opts.threads)
    started = time.time()
    quick = bool(args.quick)
    train_count = opts.train_count or (16 if quick else TRAIN_COUNT)
    svm_count = opts.svm_count or (4 if quick else SVM_COUNT)
    val_count = opts.val_count or (4 if quick else VAL_COUNT)
    steps = opts.steps or (10 if quick else FINETUNE_STEPS)
    budget = (opts.time_budget * 60) if opts.time_budget else FINETUNE_BUDGET_S
    config = RCNNConfig()
    model = from_ssd(config)
    seeds = list(split_seeds("train", train_count))
    timings: dict[str, float] = {}

    mark = time.time()
    history = finetune(model, seeds, steps, opts.lr, budget, args.seed)
    timings["finetune_s"] = round(time.time() - mark, 1)

    mark = time.time()
    with torch.inference_mode():
        positives = SceneFeatures(model, seeds, with_proposals=False)  # ground-truth boxes only
        negatives = SceneFeatures(model, seeds[:svm_count])
        val = SceneFeatures(model, list(split_seeds("val", val_count)))
    timings["features_s"] = round(time.time() - mark, 1)
    mean_norm = float(negatives.fc7.float().norm(dim=1).mean())
    feature_scale = FEATURE_NORM / max(mean_norm, 1e-6)
    model.feature_scale.fill_(feature_scale)

    mark = time.time()
    search: list[dict[str, Any]] = []
    best_alpha, best_nms = 1000.0, 0.3
    reg_w, reg_b, reg_counts = train_regressors(negatives, best_alpha, config.num_classes)
    _set_regressors(model, reg_w, reg_b)
    best = None
    for C in C_CHOICES:  # the SVMs' C, with the default ridge penalty and the paper's NMS 0.3
        w, b, report = train_svms(positives.fc7, positives.best_label, negatives, C, feature_scale, config.num_classes,
                                  args.seed)
        _set_svms(model, w, b)
        found = _val_map(model, val, best_nms)
        search.append({"C": C, "alpha": best_alpha, "nms": best_nms, "val_map_50": found["map_50"], "val_map": found["map"]})
        print(f"search {search[-1]}", flush=True)
        if best is None or found["map_50"] + found["map"] > best[0]:
            best = (found["map_50"] + found["map"], C, w, b, report)
    _, best_C, svm_w, svm_b, svm_report = best
    _set_svms(model, svm_w, svm_b)
    best = None
    for alpha in ALPHA_CHOICES:
        w, b, counts = train_regressors(negatives, alpha, config.num_classes)
        _set_regressors(model, w, b)
        found = _val_map(model, val, best_nms)
        search.append({"C": best_C, "alpha": alpha, "nms": best_nms, "val_map_50": found["map_50"], "val_map": found["map"]})
        print(f"search {search[-1]}", flush=True)
        if best is None or found["map_50"] + found["map"] > best[0]:
            best = (found["map_50"] + found["map"], alpha, w, b, counts)
    _, best_alpha, reg_w, reg_b, reg_counts = best
    _set_regressors(model, reg_w, reg_b)
    model.platt.copy_(torch.from_numpy(fit_platt(model, val)))
    best = None
    for nms in NMS_CHOICES:
        found = _val_map(model, val, nms)
        search.append({"C": best_C, "alpha": best_alpha, "nms": nms, "val_map_50": found["map_50"], "val_map": found["map"]})
        print(f"search {search[-1]}", flush=True)
        if best is None or found["map_50"] + found["map"] > best[0]:
            best = (found["map_50"] + found["map"], nms, found)
    _, best_nms, val_metrics = best
    timings["svm_regression_search_s"] = round(time.time() - mark, 1)
    config = RCNNConfig(**{**config.to_dict(), "nms_iou": best_nms})
    model.config = config

    card = run_card(
        args, started=started, epochs=1,
        data_seeds={"train": [seeds[0], seeds[-1] + 1], "svm_negatives": [seeds[0], seeds[svm_count - 1] + 1],
                    "val": [split_seeds("val", val_count).start, split_seeds("val", val_count).stop]},
        metrics={"val_map_50": val_metrics["map_50"], "val_map": val_metrics["map"], "val_scenes": val_count},
        finetune_history=history, stage_wall_s=timings, search=search,
        chosen={"svm_C": best_C, "ridge_alpha": best_alpha, "nms_iou": best_nms, "feature_scale": feature_scale},
        svm_mining=svm_report, regression_pairs=reg_counts,
        regions={"svm_negative_candidates": int(len(negatives.proposals)), "val": int(len(val.proposals)),
                 "positives": int(len(positives.proposals))},
        training=(f"1) CNN fine-tuned on warped proposals: body from weights/ssd.safetensors ({', '.join(FROZEN_PREFIXES)} "
                  f"and BatchNorm statistics frozen), new fc6/fc7/softmax; {SCENES_PER_STEP} scenes x {REGIONS_PER_SCENE} regions per step "
                  f"({FOREGROUND_PER_SCENE} foreground IoU >= {FINETUNE_IOU}), random horizontal flips; AdamW lr "
                  f"{opts.lr} (body x{BODY_LR_FACTOR}), cosine over max(step share, time share of {budget / 60:.0f} "
                  f"min), {steps} steps at most; 2) LinearSVC per class on fc7 scaled to norm {FEATURE_NORM}, "
                  f"positives = ground-truth boxes, negatives IoU < {SVM_NEGATIVE_IOU}, {SVM_MINING_ROUNDS} rounds "
                  f"of hard-negative mining (margin > {SVM_HARD_MARGIN}); 3) Ridge per class on pool5, proposals "
                  f"IoU >= {REGRESSION_IOU}; Platt sigmoid per class and C / alpha / NMS chosen on val"),
        proposals="core.data.proposals.PROPOSAL_STRATEGIES (selective search, the paper's fast mode), min side "
                  f"{config.min_side} px, at most {config.max_proposals}",
        threads=opts.threads,
    )
    if quick and "LAB_SAVE_QUICK" not in os.environ:
        print(f"quick run: weights not saved (val mAP50 {val_metrics['map_50']})", flush=True)
        return
    spec = hub.save_weights(
        NAME, model.state_dict(),
        spec_fields=dict(architecture="rcnn-ssd-body-svm", config=config.to_dict(), class_names=_class_names(),
                         mean=MEAN, std=STD, input_size=(3, config.warp_size, config.warp_size)),
        card=card,
    )
    print(f"saved weights/{spec.filename} (val mAP50 {val_metrics['map_50']:.4f}, mAP {val_metrics['map']:.4f})",
          flush=True)


def _class_names() -> tuple[str, ...]:
    from core.data.scenes import CLASS_NAMES

    return CLASS_NAMES


def evaluate(args: argparse.Namespace) -> dict[str, Any]:
    """``python -m core.evaluate rcnn [--split test --count N]``: COCO mAP, recorded in the model card."""
    from core.models.rcnn import load_rcnn

    torch.set_num_threads(2)
    model = load_rcnn(args.device)
    return evaluate_and_record(NAME, lambda image, proposals=None: detect(model, image, 0.01, None, proposals),
                               getattr(args, "split", "test"), getattr(args, "count", None))
