"""Fast R-CNN (Girshick, ICCV 2015) on the generated scenes.

d2l.ai, "Region-based CNNs (R-CNNs)" (chapter_computer-vision/rcnn.html), section Fast R-CNN:

  1. the same selective-search proposals as R-CNN (`core.models.rcnn.proposals_for`), n regions;
  2. ONE forward pass of the CNN over the whole image: the SSD's backbone and top-down pathway (the lab's own
     pre-trained network), whose finest map (stride 8, 64 channels) is the feature map;
  3. RoI pooling (``torchvision.ops.roi_pool``, spatial scale 1/8) turns each of the n proposals into a fixed
     7 x 7 x 64 feature, whatever its size;
  4. two fully connected layers (n x d, d = 256);
  5. a softmax over the 5 classes + background (n x 6) and class-specific box offsets (n x 5 x 4, book-normalised);
  6. class-wise NMS.

The multi-task loss of one mini-batch of RoIs (`fast_rcnn_loss`, the paper's): L = L_cls(p, u) + lambda [u >= 1]
L_loc(t^u, v) with cross-entropy L_cls and smooth-L1 L_loc over the four offsets of the true class u
(background RoIs have no box loss), lambda = 1. RoIs are sampled per image: 25 % foreground (IoU >= 0.5 with a
ground-truth box, which gives the class), the rest background (IoU in [0.1, 0.5)).

Public API: `from_weights(spec, state, device)` (``core.weights.registry.load_model("fast_rcnn", device)`` is the
embedded trained model), `detect(model, image, ...)`, `detect_timed(model, image, ...)` (the same
`TimedDetections` as R-CNN, with cnn_forward_passes = 1), `FastRCNN.pool(features, rois)` (the RoI pooling step).
Training and evaluation: ``python -m core.train fast_rcnn`` (recipe `core.training.recipes.fast_rcnn`, pieces in
`core.training.fast_rcnn`) / ``python -m core.evaluate fast_rcnn`` (`core.evaluation.evaluators`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.data.scenes import NUM_CLASSES
from core.models.rcnn import (
    StageClock, TimedDetections, check_thresholds, decode_boxes, encode_boxes, finish, label_proposals,
    normalise, prepare, proposals_for, select_proposals,
)

NAME = "fast_rcnn"
"""Weights name (``weights/fast_rcnn.safetensors`` + ``.json``) and `core.train` key."""


@dataclass(frozen=True)
class FastRCNNConfig:
    """Architecture, sampling and inference settings (stored in the model card)."""

    backbone: str = "resnet10t"  # the SSD's body (its config below), with the SSD's extra blocks and top-down path
    backbone_kwargs: dict = field(default_factory=lambda: {"channels": [32, 64, 128, 192], "stem_width": 8})
    out_indices: tuple[int, ...] = (2, 3, 4)  # strides 8, 16, 32
    extra_blocks: int = 2  # the SSD's stride-64 and stride-128 blocks (context for the top-down path)
    width: int = 64  # channels of the feature map RoIs are pooled from
    feature_stride: int = 8  # RoI pooling reads the finest map: spatial scale 1 / 8
    roi_size: int = 7  # RoI pooling output (7 x 7 bins)
    fc_width: int = 256  # d, the fully connected layers
    num_classes: int = NUM_CLASSES  # + background
    min_side: float = 8.0  # proposals smaller than this (pixels of the 256-px image) are skipped
    max_proposals: int = 2000
    nms_iou: float = 0.5  # class-wise NMS of the final detections (chosen on val)
    rois_per_image: int = 64  # training: RoIs sampled per image
    foreground_fraction: float = 0.25  # training: share of foreground RoIs
    foreground_iou: float = 0.5  # IoU with a ground-truth box that makes an RoI foreground
    background_iou: tuple[float, float] = (0.1, 0.5)  # IoU range of background RoIs
    box_loss_weight: float = 1.0  # lambda

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["out_indices"] = list(self.out_indices)
        data["background_iou"] = list(self.background_iou)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FastRCNNConfig":
        data = dict(data)
        data["out_indices"] = tuple(data["out_indices"])
        data["background_iou"] = tuple(data["background_iou"])
        return cls(**data)


def _conv_bn_relu(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """The SSD's block (same layer names, so the SSD's weights load into it)."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class FastRCNN(nn.Module):
    """Backbone (one pass per image) -> RoI pooling -> fc6, fc7 -> class scores and class-specific box offsets."""

    def __init__(self, config: FastRCNNConfig = FastRCNNConfig()):
        super().__init__()
        import timm

        self.config = config
        self.backbone = timm.create_model(config.backbone, pretrained=False, features_only=True,
                                          out_indices=config.out_indices, **dict(config.backbone_kwargs))
        channels = list(self.backbone.feature_info.channels())
        self.extras = nn.ModuleList()
        cin = channels[-1]
        for _ in range(config.extra_blocks):
            self.extras.append(_conv_bn_relu(cin, config.width * 2, stride=2))
            cin = config.width * 2
            channels.append(cin)
        self.lateral = nn.ModuleList(nn.Conv2d(c, config.width, 1) for c in channels)
        self.smooth = nn.ModuleList([_conv_bn_relu(config.width, config.width)])  # the finest level's only
        self.fc6 = nn.Linear(config.width * config.roi_size**2, config.fc_width)
        self.fc7 = nn.Linear(config.fc_width, config.fc_width)
        self.cls_score = nn.Linear(config.fc_width, config.num_classes + 1)  # background = 0
        self.bbox_pred = nn.Linear(config.fc_width, config.num_classes * 4)
        nn.init.normal_(self.cls_score.weight, std=0.01)
        nn.init.zeros_(self.cls_score.bias)
        nn.init.normal_(self.bbox_pred.weight, std=0.001)
        nn.init.zeros_(self.bbox_pred.bias)

    def features(self, images: Tensor) -> Tensor:
        """images (B, 3, H, W) normalised -> the feature map (B, width, H / 8, W / 8): one pass per image."""
        return self.neck(self.backbone(images))

    def neck(self, body_maps: Sequence[Tensor]) -> Tensor:
        """The body's maps (strides 8, 16, 32) -> the feature map RoIs are pooled from: extra blocks, then the
        top-down path (each coarser map upsampled and added to the next finer one), then a 3x3 convolution."""
        feats = list(body_maps)
        for block in self.extras:
            feats.append(block(feats[-1]))
        top = self.lateral[-1](feats[-1])
        for i in range(len(feats) - 2, -1, -1):  # top-down: coarse context added to the finer maps
            top = self.lateral[i](feats[i]) + F.interpolate(top, size=feats[i].shape[-2:], mode="nearest")
        return self.smooth[0](top)

    def pool(self, features: Tensor, rois: Tensor) -> Tensor:
        """RoI pooling: features (B, C, h, w), rois (R, 5) rows (image index, x1, y1, x2, y2) in input pixels ->
        (R, C, 7, 7) (``torchvision.ops.roi_pool``, spatial scale 1 / stride)."""
        from torchvision.ops import roi_pool

        size = self.config.roi_size
        return roi_pool(features, rois, (size, size), spatial_scale=1.0 / self.config.feature_stride)

    def head(self, pooled: Tensor) -> tuple[Tensor, Tensor]:
        """(R, C, 7, 7) -> (class logits (R, K + 1), box offsets (R, K, 4))."""
        x = torch.relu(self.fc7(torch.relu(self.fc6(pooled.flatten(1)))))  # (R, d)
        return self.cls_score(x), self.bbox_pred(x).view(-1, self.config.num_classes, 4)

    def forward(self, images: Tensor, rois: Tensor) -> tuple[Tensor, Tensor]:
        """images (B, 3, H, W) normalised, rois (R, 5) -> (class logits (R, K + 1), box offsets (R, K, 4))."""
        return self.head(self.pool(self.features(images), rois))


# --- the loss (one mini-batch) ----------------------------------------------------------------------------------


def sample_rois(
    config: FastRCNNConfig, proposals: Tensor, gt_boxes: Tensor, gt_labels: Tensor,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """The RoIs of one image for one step: the proposals plus the ground-truth boxes, labelled by IoU, sampled
    to `rois_per_image` with at most `foreground_fraction` foreground.

    Returns (rois (S, 4), classes (S,) with 0 = background and k + 1 = class k, regression targets (S, 4)).
    """
    candidates = torch.cat([proposals.float().reshape(-1, 4), gt_boxes.float().reshape(-1, 4)])
    best, index, labels = label_proposals(candidates, gt_boxes, gt_labels)
    foreground = torch.nonzero(best >= config.foreground_iou).squeeze(1)
    low, high = config.background_iou
    background = torch.nonzero((best >= low) & (best < high)).squeeze(1)
    if len(background) == 0:  # e.g. a nearly empty image: any non-foreground region
        background = torch.nonzero(best < high).squeeze(1)
    wanted_fg = min(len(foreground), round(config.rois_per_image * config.foreground_fraction))
    wanted_bg = min(len(background), config.rois_per_image - wanted_fg)
    foreground = foreground[torch.randperm(len(foreground), generator=generator)[:wanted_fg]]
    background = background[torch.randperm(len(background), generator=generator)[:wanted_bg]]
    chosen = torch.cat([foreground, background])
    rois = candidates[chosen]
    classes = torch.zeros(len(chosen), dtype=torch.int64)
    classes[: len(foreground)] = labels[foreground] + 1
    targets = torch.zeros(len(chosen), 4)
    if len(foreground):
        targets[: len(foreground)] = encode_boxes(rois[: len(foreground)], gt_boxes.float()[index[foreground]])
    return rois, classes, targets


def fast_rcnn_loss(
    model: FastRCNN, images: Tensor | None, targets: Sequence[dict[str, Tensor]],
    generator: torch.Generator | None = None, body_maps: Sequence[Tensor] | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """The multi-task loss of one mini-batch (see the module docstring).

    Args:
        model: in train mode.
        images: (B, 3, H, W) normalised.
        targets: per image ``{"boxes" (G, 4), "labels" (G,) 0-based, "proposals" (N, 4)}`` in pixels of `images`.
        generator: draws the RoI sample.
        body_maps: the (frozen) backbone's maps of `images` when the caller already has them (training with a
            frozen body computes them once per scene); `images` is then not read.

    Returns:
        (loss, {"loss_cls", "loss_box", "foreground", "rois", "accuracy"}).
    """
    config = model.config
    rois, classes, regression = [], [], []
    for i, target in enumerate(targets):
        r, c, t = sample_rois(config, target["proposals"], target["boxes"], target["labels"], generator)
        rois.append(torch.cat([torch.full((len(r), 1), float(i)), r], dim=1))
        classes.append(c)
        regression.append(t)
    device = images.device if body_maps is None else body_maps[0].device
    rois_t, classes_t, regression_t = torch.cat(rois).to(device), torch.cat(classes).to(device), torch.cat(regression).to(device)
    features = model.neck(body_maps) if body_maps is not None else model.features(images)
    logits, offsets = model.head(model.pool(features, rois_t))
    loss_cls = F.cross_entropy(logits, classes_t)
    foreground = torch.nonzero(classes_t > 0).squeeze(1)
    if len(foreground):
        chosen = offsets[foreground, classes_t[foreground] - 1]  # (F, 4): the offsets of the true class
        loss_box = F.smooth_l1_loss(chosen, regression_t[foreground], beta=1.0, reduction="sum") / len(classes_t)
    else:
        loss_box = offsets.sum() * 0.0
    loss = loss_cls + config.box_loss_weight * loss_box
    accuracy = float((logits.argmax(1) == classes_t).float().mean())
    return loss, {"loss_cls": float(loss_cls.detach()), "loss_box": float(loss_box.detach()),
                  "foreground": int(len(foreground)), "rois": int(len(classes_t)), "accuracy": accuracy}


loss = fast_rcnn_loss
"""The per-step loss under the name a shared training engine looks for: ``loss(model, images, targets)``."""


# --- loading ----------------------------------------------------------------------------------------------------


def from_weights(spec: Any, state: dict[str, Tensor], device: Any = "cpu") -> FastRCNN:
    """The Fast R-CNN of a card's `core.weights.hub.WeightsSpec` with its verified `state`, on `device`, eval mode
    (`core.weights.registry.BUILDERS`: ``load_model("fast_rcnn", device)``)."""
    model = FastRCNN(FastRCNNConfig.from_dict(spec.config))
    model.load_state_dict(state)
    return model.to(device).eval()


# --- inference ----------------------------------------------------------------------------------------------------


@torch.inference_mode()
def detect_timed(
    model: FastRCNN,
    image: np.ndarray,
    score_threshold: float = 0.5,
    iou_threshold: float | None = None,
    proposals: np.ndarray | None = None,
    max_proposals: int | None = None,
) -> TimedDetections:
    """Fast R-CNN on one image, stage by stage and timed (arguments as `core.models.rcnn.detect_timed`).

    Stages: proposals (selective search), features (the one backbone pass), classify (RoI pooling, fc layers,
    softmax and offsets of every proposal), nms. ``cnn_forward_passes`` is 1.
    """
    config = model.config
    iou = config.nms_iou if iou_threshold is None else iou_threshold
    check_thresholds(score_threshold, iou)
    device = next(model.parameters()).device
    clock = StageClock()
    prepared, scale = prepare(image)
    limit = config.max_proposals if max_proposals is None else min(int(max_proposals), config.max_proposals)
    if limit < 1:
        raise ValueError(f"max_proposals must be at least 1, got {max_proposals}")
    if proposals is None:
        boxes = proposals_for(prepared, min_side=config.min_side, max_proposals=limit)
    else:
        boxes = select_proposals(proposals, config.min_side, limit)
    clock.lap("proposals")
    features = model.features(normalise(prepared, device)[None])  # (1, C, h, w)
    clock.lap("features")
    boxes_t = torch.from_numpy(boxes)
    rois = torch.cat([torch.zeros(len(boxes_t), 1), boxes_t], dim=1).to(device)
    logits, offsets = model.head(model.pool(features, rois))
    scores = torch.softmax(logits, 1)[:, 1:].cpu()  # (R, K): background dropped
    offsets = offsets.cpu()
    clock.lap("classify")
    per_class = decode_boxes(boxes_t, offsets, prepared.shape[:2])  # (R, K, 4)
    kept_boxes, kept_scores, kept_labels = finish(per_class, scores, score_threshold, iou)
    clock.lap("nms")
    return TimedDetections(kept_boxes / scale, kept_scores, kept_labels, boxes_t / scale, clock.seconds, 1)


def detect(model: FastRCNN, image: np.ndarray, score_threshold: float = 0.5, iou_threshold: float | None = None,
           proposals: np.ndarray | None = None) -> dict[str, Tensor]:
    """`detect_timed` without the timings: ``{"boxes" (K, 4), "scores" (K,), "labels" (K,)}`` in `image`'s pixels."""
    return detect_timed(model, image, score_threshold, iou_threshold, proposals).as_dict()


def from_ssd(config: FastRCNNConfig = FastRCNNConfig()) -> FastRCNN:
    """A Fast R-CNN whose backbone, extra blocks, lateral and finest smoothing layers are the trained SSD's
    (``weights/ssd.*``); the RoI head is new."""
    from core.weights import hub

    model = FastRCNN(config)
    ssd_state = hub.load_state_dict("ssd")
    own = model.state_dict()
    loaded = {k: v for k, v in ssd_state.items() if k in own and own[k].shape == v.shape}
    missing = [k for k in own if k not in loaded and not k.startswith(("fc6", "fc7", "cls_score", "bbox_pred"))]
    if missing:
        raise RuntimeError(f"the SSD weights lack {missing[:5]}")
    model.load_state_dict(loaded, strict=False)
    return model


__all__ = ["FastRCNN", "FastRCNNConfig", "fast_rcnn_loss", "loss", "sample_rois", "from_weights", "detect",
           "detect_timed", "from_ssd"]
