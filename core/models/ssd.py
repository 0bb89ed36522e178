"""SSD: a multiscale single-shot detector on a timm ``features_only`` backbone.

Follows d2l.ai, "Multiscale Object Detection" and "Single Shot Multibox Detection"
(chapter_computer-vision/multiscale-object-detection.html, ssd.html), on a real backbone:

  image (B, 3, H, W)
    -> timm backbone (``features_only``, random init: nothing is downloaded), feature maps at strides 8, 16, 32
    -> two extra down-sampling blocks (strides 64, 128): five scales, 32x32 ... 2x2 on a 256x256 scene
    -> a light top-down pathway (FPN-style: 1x1 lateral convs, upsample and add, one 3x3 conv) so that the
       fine scales, which find the small objects, also see context
    -> per scale, a 3x3 class predictor (k * (C + 1) channels) and a 3x3 box predictor (k * 4), as the book's
       ``cls_predictor`` / ``bbox_predictor``
  anchors: `core.ops.anchors.multibox_prior` on every scale's feature map, k = n + m - 1 = 4 per cell
  (two sizes, ratios 1, 2, 1/2), sizes in pixels chosen for objects of 18..112 px on 256 px scenes.

Training targets come from `core.ops.anchors.multibox_target`. The loss is the book's (class cross-entropy +
L1 offsets) with one documented change: hard-negative mining (the SSD paper's): only the background anchors
with the largest class loss, three per positive anchor, enter the class loss, and both terms are divided by the
number of positive anchors. Without it 5,000+ easy background anchors per image drown the few positives.

Decoding: `core.ops.anchors.offset_inverse`, per-class scores (softmax), the top candidates above a score threshold,
then class-aware NMS (``torchvision.ops.batched_nms``, the fast path; `core.ops.nms.batched_nms` gives the same
indices, see the tests). Boxes leave the model as (x1, y1, x2, y2) pixel coordinates of the input image.

Arbitrary input sizes: `prepare` scales the image so that its shorter side is 256 px (the scenes' reference
side: `core.data.scenes.make_scene` scales objects with the shorter side too), pads it to a multiple of 32, and the
anchors are made for the padded size; `SSD.detect` maps the boxes back to the caller's pixels.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from core.data.images import IMAGENET_MEAN, IMAGENET_STD
from core.ops.anchors import BACKGROUND, multibox_prior, multibox_target, offset_inverse
from core.ops.nms import Candidates
from core.data.scenes import CLASS_NAMES, REFERENCE_SIDE

NAME = "ssd"
"""Weights name (``weights/ssd.safetensors`` + ``weights/ssd.json``) and `core.train` key."""


INPUT_SIDE = REFERENCE_SIDE
"""`prepare` scales images so that their shorter side has this many pixels (the training scenes' side)."""

MAX_INPUT_SIDE = 640
"""...and their longer side at most this many (very elongated images get a shorter short side)."""

SIZE_DIVISOR = 32
"""Inputs are padded (bottom, right) to a multiple of this."""

NEG_POS_RATIO = 3
"""Hard-negative mining: background anchors kept in the class loss per positive anchor."""

WARMUP_RUNS = 3
"""`from_weights` runs this many forward passes on a blank scene: oneDNN builds its kernels for a new input size
during the first calls (seconds on a busy CPU), so that the first user request does not pay for it."""


@dataclass(frozen=True)
class SSDConfig:
    """Architecture of the detector (stored in the model card; `build_ssd(**config)` rebuilds it)."""

    backbone: str = "resnet10t"  # a timm model name, created with pretrained=False, features_only=True
    backbone_kwargs: dict = field(
        default_factory=lambda: {"channels": [32, 64, 128, 192], "stem_width": 8}
    )  # narrow: a CPU-sized resnet10t (fast dense 3x3 convolutions rather than depthwise ones)
    out_indices: tuple[int, ...] = (2, 3, 4)  # backbone feature maps used: strides 8, 16, 32
    extra_blocks: int = 2  # extra stride-2 blocks after the backbone: strides 64, 128
    width: int = 64  # channels of every scale after the top-down pathway
    sizes_px: tuple[tuple[float, ...], ...] = (  # anchor sizes (pixels of the model input), finest scale first
        (16.0, 23.0),
        (32.0, 45.0),
        (64.0, 90.0),
        (128.0, 181.0),
        (210.0, 256.0),
    )
    ratios: tuple[float, ...] = (1.0, 2.0, 0.5)  # width / height
    num_classes: int = len(CLASS_NAMES)  # object classes (background excluded)

    @property
    def anchors_per_cell(self) -> int:
        return len(self.sizes_px[0]) + len(self.ratios) - 1

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["sizes_px"] = [list(s) for s in self.sizes_px]
        data["out_indices"] = list(self.out_indices)
        data["ratios"] = list(self.ratios)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SSDConfig":
        data = dict(data)
        data["sizes_px"] = tuple(tuple(float(v) for v in s) for s in data["sizes_px"])
        data["out_indices"] = tuple(data["out_indices"])
        data["ratios"] = tuple(float(r) for r in data["ratios"])
        return cls(**data)


def _conv_bn_relu(cin: int, cout: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


@dataclass
class SSDOutput:
    """Raw predictions of one forward pass (all scales concatenated, finest first).

    Attributes:
        cls_logits (Tensor[B, A, C + 1]): class scores, background first (index `BACKGROUND` = 0).
        offsets (Tensor[B, A, 4]): offsets ``(dx, dy, dw, dh)`` from the anchors (book normalisation).
        anchors (Tensor[A, 4]): normalised ``(x1, y1, x2, y2)`` anchors of the input size.
        level_sizes (list[tuple[int, int]]): (h, w) of each scale's feature map.
        level_counts (list[int]): anchors per scale (``h * w * k``).
    """

    cls_logits: Tensor
    offsets: Tensor
    anchors: Tensor
    level_sizes: list[tuple[int, int]]
    level_counts: list[int]


class SSD(nn.Module):
    """The multiscale single-shot detector (see the module docstring)."""

    def __init__(self, config: SSDConfig = SSDConfig()):
        super().__init__()
        import timm

        self.config = config
        self.backbone = timm.create_model(
            config.backbone,
            pretrained=False,
            features_only=True,
            out_indices=config.out_indices,
            **dict(config.backbone_kwargs),
        )
        channels = list(self.backbone.feature_info.channels())
        self.extras = nn.ModuleList()
        cin = channels[-1]
        for _ in range(config.extra_blocks):
            self.extras.append(_conv_bn_relu(cin, config.width * 2, stride=2))
            cin = config.width * 2
            channels.append(cin)
        if len(channels) != len(config.sizes_px):
            raise ValueError(f"{len(channels)} scales but {len(config.sizes_px)} anchor size groups")
        self.lateral = nn.ModuleList(nn.Conv2d(c, config.width, 1) for c in channels)
        self.smooth = nn.ModuleList(_conv_bn_relu(config.width, config.width) for _ in channels)
        k, c1 = config.anchors_per_cell, config.num_classes + 1
        self.cls_heads = nn.ModuleList(nn.Conv2d(config.width, k * c1, 3, padding=1) for _ in channels)
        self.box_heads = nn.ModuleList(nn.Conv2d(config.width, k * 4, 3, padding=1) for _ in channels)
        for head in self.cls_heads:  # start with ~1 % foreground probability (stable early training)
            nn.init.normal_(head.weight, std=0.01)
            bias = head.bias.detach().view(k, c1)
            bias.zero_()
            bias[:, BACKGROUND] = math.log(0.99 * config.num_classes / 0.01)
        for head in self.box_heads:
            nn.init.normal_(head.weight, std=0.01)
            nn.init.zeros_(head.bias)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self._anchor_cache: dict[tuple, tuple[Tensor, list[int]]] = {}

    @property
    def num_levels(self) -> int:
        return len(self.config.sizes_px)

    def features(self, x: Tensor) -> list[Tensor]:
        """The per-scale feature maps after the top-down pathway, finest first: [(B, width, h_l, w_l)]."""
        x = (x - self.mean) / self.std
        feats = list(self.backbone(x))
        for block in self.extras:
            feats.append(block(feats[-1]))
        lat = [conv(f) for conv, f in zip(self.lateral, feats)]
        for i in range(len(lat) - 2, -1, -1):  # top-down: coarse context added to finer scales
            lat[i] = lat[i] + F.interpolate(lat[i + 1], size=lat[i].shape[-2:], mode="nearest")
        return [smooth(f) for smooth, f in zip(self.smooth, lat)]

    def anchors(self, image_hw: tuple[int, int], level_sizes: Sequence[tuple[int, int]], device: torch.device) -> tuple[Tensor, list[int]]:
        """Normalised anchors (A, 4) for an input of `image_hw` pixels and the anchors per scale (cached).

        Each scale's anchors are `multibox_prior` on its feature map with sizes ``sizes_px / H``: the anchor
        sizes are pixels of the model input (`prepare` brings every image to the training scenes' scale), and
        multibox_prior's sizes are fractions of the image height.
        """
        key = (tuple(image_hw), tuple(map(tuple, level_sizes)), str(device))
        if key not in self._anchor_cache:
            height, _ = image_hw
            parts = []
            for (fh, fw), sizes_px in zip(level_sizes, self.config.sizes_px):
                sizes = [s / height for s in sizes_px]
                parts.append(multibox_prior(torch.zeros(1, 1, fh, fw, device=device), sizes, self.config.ratios)[0])
            self._anchor_cache[key] = (torch.cat(parts), [p.shape[0] for p in parts])
        return self._anchor_cache[key]

    def forward(self, x: Tensor) -> SSDOutput:
        """x (B, 3, H, W) float in [0, 1] -> `SSDOutput` (logits and offsets for every anchor of every scale)."""
        feats = self.features(x)
        c1 = self.config.num_classes + 1
        cls_parts, box_parts = [], []
        for feat, cls_head, box_head in zip(feats, self.cls_heads, self.box_heads):
            b = feat.shape[0]
            # (B, k*(C+1), h, w) -> (B, h, w, k*(C+1)) -> (B, h*w*k, C+1): anchor order of multibox_prior
            cls_parts.append(cls_head(feat).permute(0, 2, 3, 1).reshape(b, -1, c1))
            box_parts.append(box_head(feat).permute(0, 2, 3, 1).reshape(b, -1, 4))
        level_sizes = [tuple(f.shape[-2:]) for f in feats]
        anchors, counts = self.anchors(tuple(x.shape[-2:]), level_sizes, x.device)
        return SSDOutput(torch.cat(cls_parts, 1), torch.cat(box_parts, 1), anchors, level_sizes, counts)


def build_ssd(**config: Any) -> SSD:
    """An `SSD` from a config dict (the model card's ``config``)."""
    return SSD(SSDConfig.from_dict(config) if config else SSDConfig())


# --- loss ---------------------------------------------------------------------------------------------------


def ssd_loss(out: SSDOutput, labels: Tensor, neg_pos_ratio: int = NEG_POS_RATIO) -> tuple[Tensor, dict[str, float]]:
    """Class cross-entropy with hard-negative mining + L1 offset loss, both per positive anchor.

    Args:
        out: the model's `SSDOutput` for a batch.
        labels (Tensor[B, G, 5]): the book's labels, rows ``[class, x1, y1, x2, y2]`` normalised, padding -1.
        neg_pos_ratio: background anchors kept in the class loss per positive anchor (the hardest ones).

    Returns:
        (loss, {"cls": ..., "box": ..., "positives": ...}).
    """
    bbox_offset, bbox_mask, class_labels = multibox_target(out.anchors.detach(), labels.to(out.anchors.device))
    batch, num_anchors, c1 = out.cls_logits.shape
    ce = F.cross_entropy(out.cls_logits.reshape(-1, c1), class_labels.reshape(-1), reduction="none").view(batch, num_anchors)
    positive = class_labels != BACKGROUND  # (B, A)
    num_pos = positive.sum(dim=1)  # (B,)
    # hard negatives: rank the background anchors by their loss, keep the top neg_pos_ratio * positives
    neg_loss = ce.detach().masked_fill(positive, -1.0)
    rank = neg_loss.argsort(dim=1, descending=True).argsort(dim=1)  # (B, A) rank of each anchor's loss
    negative = rank < (neg_pos_ratio * num_pos.clamp(min=1))[:, None]
    negative &= ~positive
    total_pos = num_pos.sum().clamp(min=1).float()
    cls_loss = (ce * (positive | negative)).sum() / total_pos
    box_loss = (F.l1_loss(out.offsets.reshape(batch, -1), bbox_offset, reduction="none") * bbox_mask).sum() / total_pos
    loss = cls_loss + box_loss
    return loss, {"cls": float(cls_loss.detach()), "box": float(box_loss.detach()), "positives": float(total_pos)}


# --- decoding -----------------------------------------------------------------------------------------------


def candidates(
    out: SSDOutput,
    image_hw: tuple[int, int],
    score_threshold: float = 0.01,
    top_k: int = 400,
) -> list[Candidates]:
    """Per image: the `top_k` best (anchor, class) pairs with probability above `score_threshold`, decoded.

    Boxes are `offset_inverse(anchors, offsets)` scaled to pixels of the model input (``image_hw`` = (H, W)).
    """
    height, width = image_hw
    probs = out.cls_logits.float().softmax(dim=-1)[..., 1:]  # (B, A, C): background dropped
    batch, num_anchors, num_classes = probs.shape
    level_of_anchor = torch.repeat_interleave(
        torch.arange(len(out.level_counts), device=probs.device), torch.tensor(out.level_counts, device=probs.device)
    )  # (A,)
    scale = torch.tensor([width, height, width, height], dtype=torch.float32, device=probs.device)
    result = []
    for b in range(batch):
        flat = probs[b].reshape(-1)  # (A * C,) anchor-major
        keep = torch.nonzero(flat > score_threshold).squeeze(1)
        if keep.numel() > top_k:
            keep = keep[flat[keep].topk(top_k).indices]
        anchor_idx = torch.div(keep, num_classes, rounding_mode="floor")
        labels = keep % num_classes
        boxes = offset_inverse(out.anchors[anchor_idx], out.offsets[b, anchor_idx].float()) * scale  # (N, 4)
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
        result.append(Candidates(boxes, flat[keep], labels, class_names=tuple(CLASS_NAMES), image_size=(width, height),
                                 anchor_index=anchor_idx, level=level_of_anchor[anchor_idx]))
    return result


def postprocess(cands: Candidates, iou_threshold: float = 0.5, max_detections: int = 100) -> Candidates:
    """Class-aware NMS (``torchvision.ops.batched_nms``) and the `max_detections` best; sorted by score."""
    from torchvision.ops import batched_nms

    keep = batched_nms(cands.boxes, cands.scores, cands.labels, iou_threshold)[:max_detections]
    return cands.select(keep)


# --- images in, boxes out ------------------------------------------------------------------------------------


def prepare(image: np.ndarray, side: int = INPUT_SIDE, max_side: int = MAX_INPUT_SIDE) -> tuple[Tensor, float]:
    """(H, W, 3) uint8 -> ((1, 3, H', W') float in [0, 1], scale): shorter side `side` (longer at most
    `max_side`), zero-padded bottom/right to a multiple of `SIZE_DIVISOR`. Input pixels = model pixels / scale."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
    height, width = image.shape[:2]
    scale = min(side / min(height, width), max_side / max(height, width))
    x = torch.from_numpy(np.require(image, requirements=("C", "W"))).permute(2, 0, 1)[None].float() / 255.0  # (1, 3, H, W)
    new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
    if (new_h, new_w) != (height, width):
        x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=scale < 1)
    pad_h = (-new_h) % SIZE_DIVISOR
    pad_w = (-new_w) % SIZE_DIVISOR
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h))
    return x, new_w / width if width else scale


@dataclass
class Detection:
    """What `detect` returns for one image; boxes in pixels of the caller's image.

    Attributes:
        boxes (Tensor[K, 4]), scores (Tensor[K]), labels (Tensor[K]), level (Tensor[K]): the kept detections.
        kept_index (Tensor[K]): their rows in `raw`.
        raw (Candidates): every candidate above the score threshold before NMS (pixels of the caller's image).
        input_hw: (H, W) of the padded model input; scale: model pixels per image pixel.
        level_sizes: feature-map (h, w) of each scale.
    """

    boxes: Tensor
    scores: Tensor
    labels: Tensor
    level: Tensor
    kept_index: Tensor  # (K,) rows of `raw` that NMS kept
    raw: Candidates
    input_hw: tuple[int, int]
    scale: float
    level_sizes: list[tuple[int, int]]
    anchors: Tensor  # (A, 4) normalised anchors of the padded input
    level_counts: list[int]


@torch.inference_mode()
def detect(
    model: SSD,
    image: np.ndarray,
    score_threshold: float = 0.3,
    iou_threshold: float = 0.5,
    top_k: int = 400,
    max_detections: int = 100,
) -> Detection:
    """Run the detector on one (H, W, 3) uint8 image; boxes come back in the image's pixel coordinates."""
    device = next(model.parameters()).device
    x, scale = prepare(image)
    x = x.to(device)
    out = model(x)
    input_hw = tuple(x.shape[-2:])
    raw = candidates(out, input_hw, score_threshold, top_k)[0]
    from torchvision.ops import batched_nms

    kept_index = batched_nms(raw.boxes, raw.scores, raw.labels, iou_threshold)[:max_detections]
    kept = raw.select(kept_index)
    height, width = image.shape[:2]
    bound = torch.tensor([width, height, width, height], dtype=torch.float32, device=raw.boxes.device)

    def to_image(boxes: Tensor) -> Tensor:
        return torch.minimum(boxes / scale, bound).cpu()

    raw_image = Candidates(to_image(raw.boxes), raw.scores.cpu(), raw.labels.cpu(), class_names=raw.class_names,
                           image_size=(width, height), anchor_index=raw.anchor_index.cpu(), level=raw.level.cpu())
    return Detection(
        boxes=to_image(kept.boxes),
        scores=kept.scores.cpu(),
        labels=kept.labels.cpu(),
        level=kept.level.cpu(),
        kept_index=kept_index.cpu(),
        raw=raw_image,
        input_hw=input_hw,
        scale=scale,
        level_sizes=out.level_sizes,
        anchors=out.anchors.cpu(),
        level_counts=out.level_counts,
    )


def from_weights(spec: Any, state: dict[str, Tensor], device: Any = "cpu") -> SSD:
    """The trained detector of `spec` (``core.weights.registry.load_model("ssd", device)``), in eval mode on
    `device`, warmed up by `WARMUP_RUNS` detections on a blank scene."""
    model = build_ssd(**spec.config)
    model.load_state_dict(state)
    model = model.to(device).eval()
    blank = np.zeros((INPUT_SIDE, INPUT_SIDE, 3), np.uint8)
    for _ in range(WARMUP_RUNS):
        detect(model, blank)
    return model


# --- batches (evaluation) -----------------------------------------------------------------------------------


@torch.inference_mode()
def predict_batch(model: SSD, images: Tensor, score_threshold: float = 0.01, iou_threshold: float = 0.5) -> list[dict[str, Tensor]]:
    """images (B, 3, H, W) in [0, 1] (H, W multiples of 32) -> per image {"boxes" pixel xyxy, "scores", "labels"}."""
    out = model(images)
    preds = []
    for cands in candidates(out, tuple(images.shape[-2:]), score_threshold):
        kept = postprocess(cands, iou_threshold)
        preds.append({"boxes": kept.boxes.cpu(), "scores": kept.scores.cpu(), "labels": kept.labels.cpu()})
    return preds
