"""R-CNN (Girshick, Donahue, Darrell, Malik, CVPR 2014) on the generated scenes, and what the R-CNN family shares.

d2l.ai, "Region-based CNNs (R-CNNs)" (chapter_computer-vision/rcnn.html), section R-CNN, as the paper did it:

  1. region proposals: selective search (`core.ops.selective_search`, the paper's "fast" mode) on the image,
     scaled so that its shorter side is 256 px (the scenes' size); about 1,100 proposals per scene;
  2. each proposal is dilated so that the warped crop has `context_padding` pixels of image context around it
     (the paper: 16 of 227), then warped (anisotropically scaled, bilinear) to `warp_size` x `warp_size`;
     pixels outside the image are the mean colour (zero after normalisation);
  3. a truncated pre-trained CNN computes the features of every warped region, one CNN forward pass per region
     (batched here, but every region is its own input): the SSD's resnet10t body (trained with the SSD on the
     scenes: the lab's own pre-trained backbone) -> "pool5" (its last feature map, flattened) -> fc6 -> fc7;
     the CNN is fine-tuned on warped proposals (softmax over 5 classes + background) as in the paper;
  4. one linear SVM per class on the fc7 features (trained with hard-negative mining) scores every region; a
     per-class Platt sigmoid turns the SVM margin into a score in [0, 1];
  5. a class-specific ridge regressor on the pool5 features refines each box (the paper's targets
     t = ((x_g - x_p) / w_p, (y_g - y_p) / h_p, log(w_g / w_p), log(h_g / h_p)), here divided by the book's
     sigma = (0.1, 0.1, 0.2, 0.2) as everywhere in the lab);
  6. class-wise greedy NMS (``torchvision.ops.batched_nms``).

Shared with `core.models.fast_rcnn` (and the family view): `prepare` (the 256-px input), `proposals_for`
(selective search on it), `TimedDetections` (detections + seconds per stage + counts), `finish` (class-wise
NMS), `label_proposals` (IoU labelling for training).

Public API (pure: arrays/tensors in and out; models are passed in):
  * `from_weights(spec, state, device)` — the model from its card and weights (`core.weights.registry`:
    ``load_model("rcnn", device)`` is the embedded trained model, eval mode, shared).
  * `detect(model, image, score_threshold, iou_threshold)` -> ``{"boxes", "scores", "labels"}``.
  * `detect_timed(model, image, ...)` -> `TimedDetections`: the same plus the seconds of the stages
    proposals / features / classify / nms, the number of proposals and of CNN forward passes (one per region).
  * `warp_regions(image, boxes, size, padding)`: the warped crops, for pictures and tests.

Training and evaluation: ``python -m core.train rcnn`` (recipe `core.training.recipes.rcnn`, stages in
`core.training.rcnn`) / ``python -m core.evaluate rcnn`` (`core.evaluation.evaluators`).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import cv2
import numpy as np
import torch
from torch import Tensor, nn

from core.data.images import IMAGENET_MEAN, IMAGENET_STD
from core.data.scenes import NUM_CLASSES, REFERENCE_SIDE
from core.ops.anchors import BOOK_NORMALIZATION, offset_boxes, offset_inverse

NAME = "rcnn"
"""Weights name (``weights/rcnn.safetensors`` + ``weights/rcnn.json``) and `core.train` key."""

INPUT_SIDE = REFERENCE_SIDE
"""`prepare` scales images so that their shorter side has this many pixels (the training scenes' side)."""

MAX_INPUT_SIDE = 640
"""...and their longer side at most this many."""

STAGES: tuple[str, ...] = ("proposals", "features", "classify", "nms")
"""The stages every model of the family is timed by (`TimedDetections.seconds`)."""

MAX_LOG_RATIO = math.log(1000.0 / 16)
"""Predicted log size offsets are clamped to this (as torchvision's box coder) so exp never overflows."""


# --- shared by the family -------------------------------------------------------------------------------------


def prepare(image: np.ndarray, side: int = INPUT_SIDE, max_side: int = MAX_INPUT_SIDE) -> tuple[np.ndarray, float]:
    """(H, W, 3) uint8 -> (the image scaled so its shorter side is `side`, longer at most `max_side`, the scale).

    Pixels of the prepared image = pixels of the input * scale. A 256x256 scene is returned as it is (scale 1).
    """
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8, got {array.shape} {array.dtype}")
    height, width = array.shape[:2]
    if min(height, width) < 8:
        raise ValueError(f"image is too small ({width}x{height}); at least 8x8 pixels")
    scale = min(side / min(height, width), max_side / max(height, width))
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    if (new_h, new_w) == (height, width):
        return np.ascontiguousarray(array), 1.0
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(np.ascontiguousarray(array), (new_w, new_h), interpolation=interpolation)
    return resized, new_w / width


def normalise(image: np.ndarray, device: torch.device | str = "cpu") -> Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float32, ImageNet-normalised (the lab's backbones' input)."""
    tensor = torch.from_numpy(np.require(image, requirements=("C", "W"))).to(device).permute(2, 0, 1).float() / 255.0
    mean = torch.tensor(IMAGENET_MEAN, device=tensor.device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=tensor.device).view(3, 1, 1)
    return (tensor - mean) / std


def proposals_for(prepared: np.ndarray, strategies: Sequence[Any] | None = None, min_side: float = 0.0,
                  max_proposals: int | None = None) -> np.ndarray:
    """Selective search on a prepared image: (N, 4) float32 boxes in its pixels, best-ranked first."""
    from core.data.proposals import PROPOSAL_SEED, PROPOSAL_STRATEGIES
    from core.ops.selective_search import selective_search

    found = selective_search(prepared, strategies or PROPOSAL_STRATEGIES, seed=PROPOSAL_SEED).boxes
    return select_proposals(found, min_side, max_proposals)


def select_proposals(boxes: np.ndarray, min_side: float = 0.0, max_proposals: int | None = None) -> np.ndarray:
    """The proposals a model uses: those at least `min_side` wide and high, the `max_proposals` best-ranked."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    if min_side > 0:
        boxes = boxes[((boxes[:, 2] - boxes[:, 0]) >= min_side) & ((boxes[:, 3] - boxes[:, 1]) >= min_side)]
    return boxes[:max_proposals] if max_proposals else boxes


@dataclass
class TimedDetections:
    """One image through one model of the family.

    Attributes:
        boxes: (K, 4) float32 (x1, y1, x2, y2) in pixels of the caller's image; scores: (K,) in [0, 1], sorted
            descending; labels: (K,) int64 0-based `CLASS_NAMES` indices.
        proposals: (N, 4) the regions the classifier saw (pixels of the caller's image), in the model's order.
        seconds: wall time of each of `STAGES`: "proposals" (region proposals), "features" (the CNN), "classify"
            (scores and box offsets of every region), "nms" (decoding, thresholds and class-wise NMS).
        cnn_forward_passes: how many inputs the CNN ran on (R-CNN: one per proposal; Fast/Faster R-CNN: 1).
    """

    boxes: Tensor
    scores: Tensor
    labels: Tensor
    proposals: Tensor
    seconds: dict[str, float]
    cnn_forward_passes: int

    @property
    def num_proposals(self) -> int:
        return int(len(self.proposals))

    @property
    def total_seconds(self) -> float:
        return float(sum(self.seconds.values()))

    def as_dict(self) -> dict[str, Tensor]:
        return {"boxes": self.boxes, "scores": self.scores, "labels": self.labels}


class StageClock:
    """Measures consecutive stages: ``clock.lap("features")`` stores the seconds since the previous lap."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + (now - self._last)
        self._last = now


def check_thresholds(score_threshold: float, iou_threshold: float) -> None:
    if not 0.0 <= float(score_threshold) <= 1.0:
        raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold}")
    if not 0.0 <= float(iou_threshold) <= 1.0:
        raise ValueError(f"iou_threshold must be in [0, 1], got {iou_threshold}")


def decode_boxes(proposals: Tensor, offsets: Tensor, size_hw: tuple[int, int]) -> Tensor:
    """Class-specific offsets (R, C, 4) (book-normalised) applied to proposals (R, 4) -> boxes (R, C, 4), clipped."""
    offsets = offsets.clone()
    offsets[..., 2:] = offsets[..., 2:].clamp(max=MAX_LOG_RATIO / BOOK_NORMALIZATION.sigma_wh)
    boxes = offset_inverse(proposals[:, None, :], offsets)
    height, width = size_hw
    boxes[..., 0::2] = boxes[..., 0::2].clamp(0, width)
    boxes[..., 1::2] = boxes[..., 1::2].clamp(0, height)
    return boxes


def encode_boxes(proposals: Tensor, targets: Tensor) -> Tensor:
    """The regression targets (R, 4): book-normalised offsets from each proposal to its ground-truth box."""
    return offset_boxes(proposals, targets)


def finish(boxes: Tensor, scores: Tensor, score_threshold: float, iou_threshold: float,
           max_detections: int = 100) -> tuple[Tensor, Tensor, Tensor]:
    """Per-class boxes (R, C, 4) and scores (R, C) -> the kept (K, 4) boxes, (K,) scores, (K,) labels:
    scores above the threshold, class-wise NMS (``torchvision.ops.batched_nms``), the best `max_detections`."""
    from torchvision.ops import batched_nms, remove_small_boxes

    num_classes = scores.shape[1]
    labels = torch.arange(num_classes).view(1, -1).expand_as(scores)
    boxes, scores, labels = boxes.reshape(-1, 4), scores.reshape(-1), labels.reshape(-1)
    keep = torch.nonzero(scores > score_threshold).squeeze(1)
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    keep = remove_small_boxes(boxes, 1e-2)
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    keep = batched_nms(boxes, scores, labels, iou_threshold)[:max_detections]
    return boxes[keep], scores[keep], labels[keep]


def label_proposals(proposals: Tensor, gt_boxes: Tensor, gt_labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """For each proposal (R, 4): its best IoU (R,) with any ground-truth box, that box's index (R,) and label (R,)
    (IoU 0, index -1 and label -1 when the image has no objects)."""
    from torchvision.ops import box_iou

    if len(gt_boxes) == 0:
        count = len(proposals)
        return torch.zeros(count), torch.full((count,), -1, dtype=torch.int64), torch.full((count,), -1, dtype=torch.int64)
    iou = box_iou(proposals.float(), gt_boxes.float())  # (R, G)
    best, index = iou.max(1)
    return best, index, gt_labels[index]


# --- the model ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RCNNConfig:
    """Architecture and inference settings (stored in the model card; `RCNN(config)` rebuilds the model)."""

    backbone: str = "resnet10t"  # the SSD's body (timm, features_only, its last stage)
    backbone_kwargs: dict = field(default_factory=lambda: {"channels": [32, 64, 128, 192], "stem_width": 8})
    out_index: int = 4  # timm feature index: stride 32
    warp_size: int = 64  # every region is warped to warp_size x warp_size pixels
    context_padding: int = 5  # pixels of context around the region in the warped crop (paper: 16 of 227)
    fc_width: int = 256  # fc6 and fc7
    num_classes: int = NUM_CLASSES
    min_side: float = 8.0  # proposals narrower or lower than this (pixels of the 256-px image) are skipped
    max_proposals: int = 2000  # at most this many (best-ranked) proposals per image
    nms_iou: float = 0.3  # class-wise NMS of the final detections (the paper's 0.3; chosen on val)
    batch_regions: int = 256  # regions per CNN batch at inference (memory, not results)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RCNNConfig":
        return cls(**dict(data))


class RCNN(nn.Module):
    """The CNN that reads one warped region (pool5 -> fc6 -> fc7), the fine-tuning softmax, and the per-class
    linear SVMs, Platt sigmoids and box regressors (buffers, fitted by `core.training.rcnn`)."""

    def __init__(self, config: RCNNConfig = RCNNConfig()):
        super().__init__()
        import timm

        self.config = config
        self.body = timm.create_model(config.backbone, pretrained=False, features_only=True,
                                      out_indices=(config.out_index,), **dict(config.backbone_kwargs))
        channels = self.body.feature_info.channels()[-1]
        reduction = self.body.feature_info.reduction()[-1]
        cells = math.ceil(config.warp_size / reduction)
        self.pool5_dim = channels * cells * cells
        self.fc6 = nn.Linear(self.pool5_dim, config.fc_width)
        self.fc7 = nn.Linear(config.fc_width, config.fc_width)
        self.classifier = nn.Linear(config.fc_width, config.num_classes + 1)  # fine-tuning only (0 = background)
        c = config.num_classes
        self.register_buffer("svm_weight", torch.zeros(c, config.fc_width))  # (C, D) on scaled fc7 features
        self.register_buffer("svm_bias", torch.zeros(c))
        self.register_buffer("feature_scale", torch.ones(()))  # fc7 * scale: mean feature norm 20 (the paper)
        self.register_buffer("platt", torch.tensor([[1.0, 0.0]] * c))  # (C, 2): score = sigmoid(a * margin + b)
        self.register_buffer("regressor_weight", torch.zeros(c, 4, self.pool5_dim))  # (C, 4, P) on pool5
        self.register_buffer("regressor_bias", torch.zeros(c, 4))

    def features(self, crops: Tensor) -> tuple[Tensor, Tensor]:
        """crops (R, 3, S, S) normalised -> (pool5 (R, P), fc7 (R, D)): one CNN forward pass per region."""
        pool5 = self.body(crops)[-1].flatten(1)  # (R, C * h * w)
        fc7 = torch.relu(self.fc7(torch.relu(self.fc6(pool5))))
        return pool5, fc7

    def forward(self, crops: Tensor) -> Tensor:
        """Fine-tuning: crops (R, 3, S, S) -> class logits (R, C + 1), background first."""
        return self.classifier(self.features(crops)[1])

    def svm_margins(self, fc7: Tensor) -> Tensor:
        """(R, D) fc7 features -> (R, C) SVM margins w_c . (s x) + b_c."""
        return (fc7 * self.feature_scale) @ self.svm_weight.T + self.svm_bias

    def class_scores(self, fc7: Tensor) -> Tensor:
        """(R, C) scores in [0, 1]: the per-class Platt sigmoid of the SVM margins."""
        margins = self.svm_margins(fc7)
        return torch.sigmoid(self.platt[:, 0] * margins + self.platt[:, 1])

    def box_offsets(self, pool5: Tensor) -> Tensor:
        """(R, P) pool5 features -> (R, C, 4) class-specific offsets (book-normalised)."""
        return torch.einsum("rp,ckp->rck", pool5, self.regressor_weight) + self.regressor_bias


def warp_regions(image: Tensor, boxes: Tensor, size: int, padding: int) -> Tensor:
    """R-CNN's input: every region dilated by `padding` pixels of context (at the warped size) and warped.

    Args:
        image: (3, H, W) normalised image (pixels outside it read as 0 = the mean colour).
        boxes: (R, 4) xyxy pixels of `image`.
        size: the warped side S; padding: context pixels p around the region in the S x S crop.

    Returns:
        (R, 3, S, S): bilinear samples (``torchvision.ops.roi_align``, aligned, 2x2 samples per output pixel) of the
        dilated box, whose inner (S - 2p) x (S - 2p) pixels show the region itself.
    """
    from torchvision.ops import roi_align

    boxes = boxes.float().reshape(-1, 4)
    if len(boxes) == 0:
        return image.new_zeros((0, 3, size, size))
    factor = size / (size - 2.0 * padding)
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    half_w = (boxes[:, 2] - boxes[:, 0]).clamp(min=1.0) * factor / 2
    half_h = (boxes[:, 3] - boxes[:, 1]).clamp(min=1.0) * factor / 2
    dilated = torch.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], dim=1)
    rois = torch.cat([torch.zeros(len(boxes), 1, device=boxes.device), dilated.to(image.device)], dim=1)
    return roi_align(image[None], rois, (size, size), spatial_scale=1.0, sampling_ratio=2, aligned=True)


# --- loading ----------------------------------------------------------------------------------------------------


def from_weights(spec: Any, state: dict[str, Tensor], device: Any = "cpu") -> RCNN:
    """The R-CNN of a card's `core.weights.hub.WeightsSpec` with its verified `state`, on `device`, eval mode
    (`core.weights.registry.BUILDERS`: ``load_model("rcnn", device)``)."""
    model = RCNN(RCNNConfig.from_dict(spec.config))
    model.load_state_dict(state)
    return model.to(device).eval()


# --- inference ----------------------------------------------------------------------------------------------------


@torch.inference_mode()
def region_features(model: RCNN, prepared: np.ndarray, boxes: np.ndarray | Tensor) -> tuple[Tensor, Tensor]:
    """pool5 (R, P) and fc7 (R, D) of the regions `boxes` (R, 4) of a prepared image (CNN batches of
    ``config.batch_regions``)."""
    device = next(model.parameters()).device
    image = normalise(prepared, device)
    boxes = torch.as_tensor(np.asarray(boxes, np.float32)).reshape(-1, 4).to(device)
    config = model.config
    pool5_parts, fc7_parts = [], []
    for start in range(0, len(boxes), config.batch_regions):
        crops = warp_regions(image, boxes[start:start + config.batch_regions], config.warp_size, config.context_padding)
        pool5, fc7 = model.features(crops)
        pool5_parts.append(pool5)
        fc7_parts.append(fc7)
    if not pool5_parts:
        return torch.zeros(0, model.pool5_dim, device=device), torch.zeros(0, config.fc_width, device=device)
    return torch.cat(pool5_parts), torch.cat(fc7_parts)


@torch.inference_mode()
def detect_timed(
    model: RCNN,
    image: np.ndarray,
    score_threshold: float = 0.5,
    iou_threshold: float | None = None,
    proposals: np.ndarray | None = None,
    max_proposals: int | None = None,
) -> TimedDetections:
    """R-CNN on one image, stage by stage and timed.

    Args:
        model: ``core.weights.registry.load_model("rcnn")`` (eval mode).
        image: (H, W, 3) uint8 RGB, any size (selective search and the CNN see it scaled by `prepare`).
        score_threshold: keep detections whose score is above this (in [0, 1]).
        iou_threshold: class-wise NMS IoU (None: the model's ``config.nms_iou``).
        proposals: (N, 4) selective-search boxes of the *prepared* image to use instead of computing them
            (evaluation reads them from the proposal cache); the proposals stage then costs nothing.
        max_proposals: use only the best-ranked ones (None: ``config.max_proposals``) — how the features stage
            grows with the number of regions.

    Returns:
        `TimedDetections` (boxes in pixels of `image`; ``cnn_forward_passes`` = the number of regions).
    """
    config = model.config
    iou = config.nms_iou if iou_threshold is None else iou_threshold
    check_thresholds(score_threshold, iou)
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
    pool5, fc7 = region_features(model, prepared, boxes)
    clock.lap("features")
    scores = model.class_scores(fc7).cpu()  # (R, C)
    offsets = model.box_offsets(pool5).cpu()  # (R, C, 4)
    clock.lap("classify")
    boxes_t = torch.from_numpy(boxes)
    per_class = decode_boxes(boxes_t, offsets, prepared.shape[:2])  # (R, C, 4)
    kept_boxes, kept_scores, kept_labels = finish(per_class, scores, score_threshold, iou)
    clock.lap("nms")
    return TimedDetections(kept_boxes / scale, kept_scores, kept_labels, boxes_t / scale, clock.seconds, len(boxes))


def detect(model: RCNN, image: np.ndarray, score_threshold: float = 0.5, iou_threshold: float | None = None,
           proposals: np.ndarray | None = None) -> dict[str, Tensor]:
    """`detect_timed` without the timings: ``{"boxes" (K, 4), "scores" (K,), "labels" (K,)}`` in `image`'s pixels."""
    return detect_timed(model, image, score_threshold, iou_threshold, proposals).as_dict()
