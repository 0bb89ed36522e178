"""R-CNN's training stages (`core.models.rcnn`), run by its recipe `core.training.recipes.rcnn`
(``python -m core.train rcnn``); the evaluation is `core.evaluation.evaluators` (``python -m core.evaluate rcnn``).

The paper's three training stages, scaled to 2 CPU cores:
  1. Fine-tune the CNN on warped proposals: the SSD's trained body (``weights/ssd.*``, the lab's own pre-trained
     backbone; its stem and first stage frozen) + new fc6, fc7 and a softmax over 5 classes + background; a proposal
     with IoU >= 0.5 with a ground-truth box takes its class, every other one is background; mini-batches of 128
     regions from 4 scenes, 32 foreground (the paper's 32 + 96), horizontally flipped at random; BatchNorm
     statistics stay the SSD's (`finetune_draws`, `warped_batch`: the recipe's steps).
  2. One linear SVM per class (``sklearn.svm.LinearSVC``) on the fine-tuned fc7 features, scaled to an average
     norm of 20 (the paper): positives are the ground-truth boxes of the fine-tuning scenes, negatives the
     proposals of the SVM scenes with IoU < 0.3 with every object of that class; hard-negative mining starts
     from a random set of negatives and, for a few rounds, adds every negative the current SVM puts inside the
     margin (score > -1) and retrains (`train_svms`).
  3. One ridge regressor per class (``sklearn.linear_model.Ridge``) on the pool5 features of the proposals with
     IoU >= 0.6 with an object of that class, to the offsets of that object (`train_regressors`).
Then, on the val scenes: a Platt sigmoid per class (``LogisticRegression`` on the SVM margin: is the proposal a
correct detection, IoU >= 0.5, of this class?) so that scores lie in [0, 1], and the SVM's C, the ridge penalty
and the NMS IoU with the best val mAP@0.5 + mAP (`fit_later_stages`: stages 2, 3 and the search).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from core.models.rcnn import (
    RCNN, RCNNConfig, decode_boxes, encode_boxes, finish, label_proposals, normalise, region_features,
    select_proposals, warp_regions,
)

# --- scenes and their proposals ---------------------------------------------------------------------------------


@dataclass
class SceneView:
    """What training needs of one generated scene: image (H, W, 3) uint8, boxes (G, 4) float32, labels (G,)."""

    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray


class Scenes:
    """The scenes of consecutive seeds, read from `core.data.scene_cache` (generated once, kept on disk)."""

    def __init__(self, seeds: range, log: bool = False):
        from core.data.scene_cache import scene_arrays

        self.seeds = seeds
        self.arrays = scene_arrays(seeds, fields=("images",), log=log)

    def __getitem__(self, seed: int) -> SceneView:
        index = int(seed) - self.seeds.start
        if not 0 <= index < len(self.seeds):
            raise KeyError(f"seed {seed} is not among {self.seeds}")
        rows = self.arrays.objects(index)
        return SceneView(self.arrays.images[index], self.arrays.boxes[rows], self.arrays.labels[rows])


# --- R-CNN training --------------------------------------------------------------------------------------------------

SCENES_PER_STEP = 4
REGIONS_PER_SCENE = 32  # 128 regions per step
FOREGROUND_PER_SCENE = 8  # 32 of 128 foreground (the paper)
FINETUNE_IOU = 0.5
BODY_LR_FACTOR = 0.1
WEIGHT_DECAY = 1e-4
WARMUP_STEPS = 50
FINAL_LR_FRACTION = 0.02
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


def lr_factor(progress: float, step: int) -> float:
    """Linear warm-up over `WARMUP_STEPS`, then a cosine from 1 to `FINAL_LR_FRACTION` as progress goes 0 -> 1."""
    warm = min(1.0, (step + 1) / WARMUP_STEPS)
    return warm * (FINAL_LR_FRACTION + (1 - FINAL_LR_FRACTION) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def scene_and_proposals(scenes: Scenes, seed: int, config: RCNNConfig) -> tuple[SceneView, np.ndarray]:
    """Scene `seed` and the proposals a model uses on it (`core.data.proposals`, cached selective search)."""
    from core.data.proposals import scene_proposals

    return scenes[seed], select_proposals(scene_proposals(int(seed)), config.min_side, config.max_proposals)


def from_ssd(config: RCNNConfig = RCNNConfig()) -> RCNN:
    """An R-CNN whose body is the trained SSD's (``weights/ssd.*``); fc6, fc7, the classifier are new."""
    from core.weights import hub

    model = RCNN(config)
    body = {k[len("backbone."):]: v for k, v in hub.load_state_dict("ssd").items() if k.startswith("backbone.")}
    model.body.load_state_dict(body, strict=True)
    return model


def freeze_for_finetuning(model: RCNN) -> list[dict[str, Any]]:
    """Freeze `FROZEN_PREFIXES` of the body; the optimiser's parameter groups (body at `BODY_LR_FACTOR`, heads at 1)."""
    for name, parameter in model.body.named_parameters():
        if name.startswith(FROZEN_PREFIXES):
            parameter.requires_grad_(False)
    body = [p for p in model.body.parameters() if p.requires_grad]
    heads = [p for n, p in model.named_parameters() if not n.startswith("body.")]
    return [{"params": body, "lr_factor": BODY_LR_FACTOR}, {"params": heads, "lr_factor": 1.0}]


def batchnorm_eval(model: torch.nn.Module) -> None:
    """Every BatchNorm keeps the SSD's running statistics (train mode elsewhere)."""
    model.train()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eval()


@dataclass
class SceneDraw:
    """The regions one fine-tuning step takes from one scene: candidates (M, 4) (proposals + ground truth),
    the chosen ones' indices (R,), their classes (R,) (0 = background, k + 1 = class k), and which are flipped."""

    seed: int
    candidates: torch.Tensor
    chosen: torch.Tensor
    classes: torch.Tensor
    flips: torch.Tensor


def finetune_draws(scenes: Scenes, step_seeds: Sequence[int], config: RCNNConfig,
                   rng: np.random.Generator) -> list[SceneDraw]:
    """The regions of one global fine-tuning batch, drawn with `rng` in scene order: every process draws the whole
    batch identically (labelling is cheap), then warps and runs only its own scenes (`warped_batch`)."""
    draws = []
    for seed in step_seeds:
        scene, proposals = scene_and_proposals(scenes, int(seed), config)
        gt_boxes, gt_labels = torch.from_numpy(scene.boxes.astype(np.float32)), torch.from_numpy(scene.labels)
        candidates = torch.cat([torch.from_numpy(proposals), gt_boxes.reshape(-1, 4)])
        best, _, labels = label_proposals(candidates, gt_boxes, gt_labels)
        foreground = np.flatnonzero((best >= FINETUNE_IOU).numpy())
        background = np.flatnonzero((best < FINETUNE_IOU).numpy())
        fg = rng.choice(foreground, min(len(foreground), FOREGROUND_PER_SCENE), replace=False)
        bg = rng.choice(background, min(len(background), REGIONS_PER_SCENE - len(fg)), replace=False)
        chosen = torch.from_numpy(np.concatenate([fg, bg]).astype(np.int64))
        classes = torch.zeros(len(chosen), dtype=torch.int64)
        classes[: len(fg)] = labels[chosen[: len(fg)]] + 1
        flips = torch.from_numpy(rng.random(len(chosen)) < 0.5)
        draws.append(SceneDraw(int(seed), candidates, chosen, classes, flips))
    return draws


def warped_batch(scenes: Scenes, draws: Sequence[SceneDraw], config: RCNNConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Warped regions (R, 3, S, S), flipped as drawn, and their classes (R,) of `draws`."""
    crops, classes = [], []
    for draw in draws:
        image = normalise(scenes[draw.seed].image)
        warped = warp_regions(image, draw.candidates[draw.chosen], config.warp_size, config.context_padding)
        warped[draw.flips] = warped[draw.flips].flip(-1)
        crops.append(warped)
        classes.append(draw.classes)
    if not crops:
        size = config.warp_size
        return torch.zeros(0, 3, size, size), torch.zeros(0, dtype=torch.int64)
    return torch.cat(crops), torch.cat(classes)


class SceneFeatures:
    """Features of every proposal of a set of scenes: pool5 (float16), fc7 (float16), and for each proposal its
    IoU with the objects of each class (R, C) and the best object of its own best class (for regression)."""

    def __init__(self, model: RCNN, scenes: Scenes, seeds: Sequence[int], with_proposals: bool = True,
                 log: Callable = print):
        config = model.config
        pool5, fc7, iou_per_class, best_iou, best_box, best_label, proposals, image_index = [], [], [], [], [], [], [], []
        self.scenes = []
        for i, seed in enumerate(seeds):
            scene, boxes = scene_and_proposals(scenes, int(seed), config)
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


def _choose(options: Sequence[Any], try_option: Callable[[Any], tuple[dict[str, Any], Any]],
            settings: Callable[[Any], dict[str, Any]], search: list[dict[str, Any]],
            log: Callable[[str], None]) -> tuple[Any, Any, dict[str, Any]]:
    """Try each of `options` in order and keep the one with the best val mAP@0.5 + mAP (the first on a tie).

    `try_option(option)` applies it to the model and returns (val metrics of `_val_map`, what to keep of it);
    `settings(option)` is the search row's settings, logged and appended to `search` with the metrics.
    Returns (the best option, what was kept of it, its val metrics).
    """
    best: tuple[float, Any, Any, dict[str, Any]] | None = None
    for option in options:
        found, kept = try_option(option)
        search.append({**settings(option), "val_map_50": found["map_50"], "val_map": found["map"]})
        log(f"search {search[-1]}")
        score = (found["map_50"] or 0.0) + (found["map"] or 0.0)
        if best is None or score > best[0]:
            best = (score, option, kept, found)
    assert best is not None, "no option to choose from"
    return best[1], best[2], best[3]


def fit_later_stages(model: RCNN, scenes: Scenes, val_scenes: Scenes, train_seeds: Sequence[int],
                     svm_seeds: Sequence[int], val_seeds: Sequence[int], seed: int = 0,
                     log: Callable[[str], None] = print) -> dict[str, Any]:
    """Stages 2 and 3 and the search on the fine-tuned `model` (in place: feature scale, SVMs, regressors, Platt
    sigmoids and ``config.nms_iou``). Returns the card's entries: ``metrics`` (val), ``search``, ``chosen``, ...

    Args:
        scenes: holds `train_seeds` (the SVMs' positives: their ground-truth boxes) and `svm_seeds` (every
            proposal a candidate negative; they also train the regressors); val_scenes: holds `val_seeds`.
    """
    model.eval()
    config = model.config
    timings: dict[str, float] = {}
    mark = time.time()
    with torch.inference_mode():
        positives = SceneFeatures(model, scenes, train_seeds, with_proposals=False, log=log)  # ground truth only
        negatives = SceneFeatures(model, scenes, svm_seeds, log=log)
        val = SceneFeatures(model, val_scenes, val_seeds, log=log)
    timings["features_s"] = round(time.time() - mark, 1)
    mean_norm = float(negatives.fc7.float().norm(dim=1).mean())
    feature_scale = FEATURE_NORM / max(mean_norm, 1e-6)
    model.feature_scale.fill_(feature_scale)

    mark = time.time()
    search: list[dict[str, Any]] = []
    best_alpha, best_nms = 1000.0, 0.3
    reg_w, reg_b, reg_counts = train_regressors(negatives, best_alpha, config.num_classes)
    _set_regressors(model, reg_w, reg_b)

    def svms_with(C: float) -> tuple[dict[str, Any], tuple]:
        w, b, report = train_svms(positives.fc7, positives.best_label, negatives, C, feature_scale,
                                  config.num_classes, seed, log)
        _set_svms(model, w, b)
        return _val_map(model, val, best_nms), (w, b, report)

    def regressors_with(alpha: float) -> tuple[dict[str, Any], tuple]:
        w, b, counts = train_regressors(negatives, alpha, config.num_classes)
        _set_regressors(model, w, b)
        return _val_map(model, val, best_nms), (w, b, counts)

    # one setting at a time, the others fixed: the SVMs' C (default ridge penalty, the paper's NMS 0.3), then the
    # ridge penalty, then (with Platt's sigmoids fitted) the NMS IoU
    best_C, (svm_w, svm_b, svm_report), _ = _choose(
        C_CHOICES, svms_with, lambda C: {"C": C, "alpha": best_alpha, "nms": best_nms}, search, log)
    _set_svms(model, svm_w, svm_b)
    best_alpha, (reg_w, reg_b, reg_counts), _ = _choose(
        ALPHA_CHOICES, regressors_with, lambda alpha: {"C": best_C, "alpha": alpha, "nms": best_nms}, search, log)
    _set_regressors(model, reg_w, reg_b)
    model.platt.copy_(torch.from_numpy(fit_platt(model, val)))
    best_nms, _, val_metrics = _choose(
        NMS_CHOICES, lambda nms: (_val_map(model, val, nms), None),
        lambda nms: {"C": best_C, "alpha": best_alpha, "nms": nms}, search, log)
    timings["svm_regression_search_s"] = round(time.time() - mark, 1)
    model.config = RCNNConfig(**{**config.to_dict(), "nms_iou": best_nms})
    return {
        "metrics": {"val_map_50": val_metrics["map_50"], "val_map": val_metrics["map"]},
        "stage_wall_s": timings, "search": search,
        "chosen": {"svm_C": best_C, "ridge_alpha": best_alpha, "nms_iou": best_nms, "feature_scale": feature_scale},
        "svm_mining": svm_report, "regression_pairs": reg_counts,
        "regions": {"svm_negative_candidates": int(len(negatives.proposals)), "val": int(len(val.proposals)),
                    "positives": int(len(positives.proposals))},
    }
