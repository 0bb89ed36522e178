"""Faster R-CNN on a small timm backbone with an FPN, trained on the generated scenes, and its insides.

The model is torchvision's `FasterRCNN` (region proposal network + RoI heads) on a timm ``features_only``
backbone (a narrow ``resnet10t``, strides 8/16/32) with torchvision's `FeaturePyramidNetwork` (plus a max-pool
level at stride 64). Anchors are sized for the scenes' objects (18..112 px on a 256 px scene): two sizes per
pyramid level, 16..181 px, three aspect ratios. Images are resized so that the shorter side is 256 (at most 320
on the longer side), never up to torchvision's default 800.

Labels: torchvision reserves class 0 for background, so the model's classes are ``label + 1``; every public
function here takes and returns our 0-based labels (`core.data.scenes.CLASS_NAMES` indices).

Public API (pure: tensors/arrays in and out; the model is passed in):
  * `from_weights(spec, state, device)` — the trained model (``core.weights.registry.load_model("faster_rcnn")``).
  * `build_faster_rcnn(config)` — an untrained model.
  * `detect(model, image, score_threshold, iou_threshold)` — final detections of one (H, W, 3) uint8 image.
  * `detect_timed(model, image, ...)` — the same with the seconds of each stage (features, proposals = RPN,
    classify = RoI heads, nms) and the RPN's RoIs, as `core.models.rcnn.TimedDetections`.
  * `insides(model, image, top_k)` — the pipeline step by step: feature maps and strides, the top-k RPN
    proposals before NMS, the RoIs kept after the RPN's NMS, and the final detections.
  * `roi_pool_vs_align(feature_map, roi, spatial_scale, output_size)` — RoI pooling against RoIAlign on one RoI:
    the projected RoI, the quantisation RoI pooling does, both bin grids and the pooled values.
  * `book_roi_pool_example()` — the book's 4x4 toy (d2l.ai, chapter_computer-vision/rcnn.html).
  * `detect_batch`, `postprocess_detections`: the same, batched (measured by `core.evaluation.evaluators`).

On the real model: the RoI heads pool each RoI with ``roi_align(aligned=False, sampling_ratio=2)`` into 7x7 bins
from one FPN level (``insides(...)["rois"]["level"]``); to show pooling vs align there, pass
``insides(...)["fpn_features"][level]["map"]``, the RoI's ``boxes_resized`` row and ``1 / stride`` to
`roi_pool_vs_align` (feature strides refer to the resized image, not the input's pixels).

Training and evaluation: ``python -m core.train faster_rcnn`` (recipe: core/training/recipes/faster_rcnn.py) /
``python -m core.evaluate faster_rcnn``.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

from core.data.images import IMAGENET_MEAN, IMAGENET_STD
from core.data.scenes import NUM_CLASSES  # noqa: E402

WEIGHTS_NAME = "faster_rcnn"
"""Name of the embedded weights (``weights/faster_rcnn.safetensors`` and its card ``faster_rcnn.json``)."""

LABEL_OFFSET = 1
"""torchvision detection models use label 0 for background: model label = our label + 1."""


DEFAULT_SCORE_THRESHOLD = 0.5
DEFAULT_IOU_THRESHOLD = 0.5


@dataclass(frozen=True)
class FasterRCNNConfig:
    """Everything that defines the architecture (stored in the model card; `build_faster_rcnn` takes it)."""

    backbone: str = "resnet10t"  # timm model name (created with pretrained=False, features_only=True)
    backbone_kwargs: dict = field(default_factory=lambda: {"channels": [32, 64, 128, 256], "stem_width": 24})
    out_indices: tuple[int, ...] = (2, 3, 4)  # timm feature indices: strides 8, 16, 32
    fpn_channels: int = 64  # channels of every pyramid level
    anchor_sizes: tuple[tuple[int, ...], ...] = ((16, 23), (32, 45), (64, 90), (128, 181))  # per level (+pool)
    aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)  # height / width, the same at every level
    min_size: int = 256  # shorter image side after the model's resize
    max_size: int = 320  # longer side at most
    roi_output_size: int = 7  # RoIAlign output (7 x 7 bins)
    roi_sampling_ratio: int = 2  # bilinear samples per bin side
    roi_canonical_scale: int = 112  # an RoI of this side is pooled from the stride-16 level
    representation_size: int = 256  # width of the two fully connected layers of the box head
    rpn_pre_nms_top_n_train: int = 600
    rpn_post_nms_top_n_train: int = 300
    rpn_pre_nms_top_n_test: int = 600
    rpn_post_nms_top_n_test: int = 300
    rpn_nms_thresh: float = 0.7
    box_batch_size_per_image: int = 128  # RoIs sampled per image for the box head's loss
    box_score_thresh: float = 0.01  # the model's own floor; `detect` applies the user's threshold on top
    box_nms_thresh: float = 0.5
    box_detections_per_img: int = 100
    num_classes: int = NUM_CLASSES + 1  # + background

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FasterRCNNConfig":
        data = dict(data)
        for key in ("out_indices", "aspect_ratios"):
            if key in data:
                data[key] = tuple(data[key])
        if "anchor_sizes" in data:
            data["anchor_sizes"] = tuple(tuple(s) for s in data["anchor_sizes"])
        return cls(**data)


class TimmFPNBackbone(nn.Module):
    """timm ``features_only`` body + torchvision FPN; ``forward(x (B, 3, H, W)) -> OrderedDict`` of (B, C, h, w)
    maps named "0", "1", ... (strides of `out_indices`) and "pool" (a max-pool of the last level)."""

    def __init__(self, config: FasterRCNNConfig):
        super().__init__()
        import timm
        from torchvision.ops import FeaturePyramidNetwork
        from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

        self.body = timm.create_model(
            config.backbone, pretrained=False, features_only=True, out_indices=config.out_indices,
            **config.backbone_kwargs,
        )
        self.in_channels = list(self.body.feature_info.channels())
        self.strides = list(self.body.feature_info.reduction())
        self.fpn = FeaturePyramidNetwork(self.in_channels, config.fpn_channels, extra_blocks=LastLevelMaxPool())
        self.out_channels = config.fpn_channels  # read by FasterRCNN

    def body_features(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        """The backbone's own feature maps (before the FPN), named "0", "1", ..."""
        return OrderedDict((str(i), f) for i, f in enumerate(self.body(x)))

    def forward(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        return self.fpn(self.body_features(x))


def build_faster_rcnn(config: FasterRCNNConfig | None = None) -> nn.Module:
    """An untrained Faster R-CNN (train mode) for the scenes' 5 classes + background."""
    from torchvision.models.detection import FasterRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.ops import MultiScaleRoIAlign

    config = config or FasterRCNNConfig()
    backbone = TimmFPNBackbone(config)
    levels = len(config.out_indices) + 1  # + the "pool" level
    if len(config.anchor_sizes) != levels:
        raise ValueError(f"anchor_sizes needs one tuple per pyramid level ({levels}), got {len(config.anchor_sizes)}")
    anchor_generator = AnchorGenerator(config.anchor_sizes, (config.aspect_ratios,) * levels)
    roi_pool = MultiScaleRoIAlign(
        [str(i) for i in range(len(config.out_indices))], config.roi_output_size, config.roi_sampling_ratio,
        canonical_scale=config.roi_canonical_scale,
    )
    box_head = TwoMLPHead(config.fpn_channels * config.roi_output_size**2, config.representation_size)
    model = FasterRCNN(
        backbone,
        num_classes=None,
        min_size=config.min_size,
        max_size=config.max_size,
        image_mean=list(IMAGENET_MEAN),
        image_std=list(IMAGENET_STD),
        rpn_anchor_generator=anchor_generator,
        rpn_pre_nms_top_n_train=config.rpn_pre_nms_top_n_train,
        rpn_post_nms_top_n_train=config.rpn_post_nms_top_n_train,
        rpn_pre_nms_top_n_test=config.rpn_pre_nms_top_n_test,
        rpn_post_nms_top_n_test=config.rpn_post_nms_top_n_test,
        rpn_nms_thresh=config.rpn_nms_thresh,
        box_roi_pool=roi_pool,
        box_head=box_head,
        box_predictor=FastRCNNPredictor(config.representation_size, config.num_classes),
        box_score_thresh=config.box_score_thresh,
        box_nms_thresh=config.box_nms_thresh,
        box_detections_per_img=config.box_detections_per_img,
        box_batch_size_per_image=config.box_batch_size_per_image,
    )
    model.config = config  # type: ignore[attr-defined]
    return model


# --- loading ----------------------------------------------------------------------------------------------


def from_weights(spec: Any, state: dict[str, torch.Tensor], device: Any = "cpu") -> nn.Module:
    """The trained model of `spec` in eval mode on `device` (``core.weights.registry.load_model("faster_rcnn",
    device)`` loads it once per device and shares it)."""
    model = build_faster_rcnn(FasterRCNNConfig.from_dict(spec.config))
    model.load_state_dict(state)
    return model.to(device).eval()


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _image_tensor(image: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """(H, W, 3) uint8 array/tensor (or (3, H, W) float in [0, 1]) -> (3, H, W) float32 in [0, 1] on `device`."""
    if isinstance(image, torch.Tensor) and image.is_floating_point():
        if image.ndim != 3 or image.shape[0] != 3:
            raise ValueError(f"a float image tensor must be (3, H, W), got {tuple(image.shape)}")
        return image.to(device, torch.float32)
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8, got {array.shape} {array.dtype}")
    return torch.from_numpy(np.require(array, requirements=("C", "W"))).to(device).permute(2, 0, 1).float().div_(255.0)  # (3, H, W)


def _to_ours(output: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchvision's detection dict -> CPU tensors with 0-based labels."""
    return {
        "boxes": output["boxes"].detach().cpu().float(),
        "scores": output["scores"].detach().cpu().float(),
        "labels": output["labels"].detach().cpu() - LABEL_OFFSET,
    }


def _check_thresholds(score_threshold: float, iou_threshold: float) -> None:
    if not 0.0 <= float(score_threshold) <= 1.0:
        raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold}")
    if not 0.0 <= float(iou_threshold) <= 1.0:
        raise ValueError(f"iou_threshold must be in [0, 1], got {iou_threshold}")


def postprocess_detections(
    model: nn.Module,
    class_logits: torch.Tensor,
    box_regression: torch.Tensor,
    proposals: Sequence[torch.Tensor],
    image_sizes: Sequence[tuple[int, int]],
    score_threshold: float,
    iou_threshold: float,
) -> list[dict[str, torch.Tensor]]:
    """The RoI heads' last step with explicit thresholds (torchvision's ``RoIHeads.postprocess_detections``
    reads them from the module; here they are arguments, so concurrent requests never share state).

    Args:
        class_logits: (R, K+1) for all images' RoIs concatenated; box_regression: (R, (K+1)*4) deltas.
        proposals: per image (R_i, 4) xyxy RoIs in the resized image; image_sizes: per image (h, w) resized.

    Returns:
        Per image ``{"boxes" (N, 4) xyxy in the resized image, "scores" (N,), "labels" (N,) model labels
        (1-based)}``: background dropped, scores > `score_threshold`, boxes clipped, per-class NMS at
        `iou_threshold`, at most ``detections_per_img``, sorted by score.
    """
    from torchvision.ops import boxes as box_ops

    heads = model.roi_heads
    num_classes = class_logits.shape[-1]
    boxes_per_image = [len(p) for p in proposals]
    pred_boxes = heads.box_coder.decode(box_regression, list(proposals))  # (R, K+1, 4)
    pred_scores = torch.softmax(class_logits, -1)  # (R, K+1)
    results = []
    for boxes, scores, size in zip(pred_boxes.split(boxes_per_image), pred_scores.split(boxes_per_image), image_sizes):
        boxes = box_ops.clip_boxes_to_image(boxes, size)
        labels = torch.arange(num_classes, device=boxes.device).view(1, -1).expand_as(scores)  # (R_i, K+1)
        boxes, scores, labels = boxes[:, 1:].reshape(-1, 4), scores[:, 1:].reshape(-1), labels[:, 1:].reshape(-1)
        keep = torch.where(scores > score_threshold)[0]
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        keep = box_ops.remove_small_boxes(boxes, min_size=1e-2)
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        keep = box_ops.batched_nms(boxes, scores, labels, iou_threshold)[: heads.detections_per_img]
        results.append({"boxes": boxes[keep], "scores": scores[keep], "labels": labels[keep]})
    return results


def _resize_boxes(boxes: torch.Tensor, resized: tuple[int, int], original: tuple[int, int]) -> torch.Tensor:
    """(N, 4) xyxy boxes in the model's resized image -> pixels of the original image."""
    from torchvision.models.detection.transform import resize_boxes

    return resize_boxes(boxes, resized, original)


def _rpn_steps(model: nn.Module, image_list: Any, features: "OrderedDict[str, torch.Tensor]") -> dict[str, Any]:
    """The region proposal network in eval mode, one step at a time (= ``model.rpn(image_list, features)[0]``).

    Returns ``{"anchors": per image (A, 4), "objectness": (B, A) logits, "proposals": (B, A, 4) decoded
    anchors (resized-image pixels, before clipping), "num_anchors_per_level": [A_l], "rois": per image (R_i, 4)
    kept after the per-level top-n and NMS, "roi_scores": per image (R_i,) sigmoid objectness}``.
    """
    from torchvision.models.detection.rpn import concat_box_prediction_layers

    rpn = model.rpn
    maps = list(features.values())
    objectness, deltas = rpn.head(maps)  # per level (B, A_l/hw, h, w), (B, 4 A_l/hw, h, w)
    anchors = rpn.anchor_generator(image_list, maps)  # per image (A, 4)
    num_images = len(anchors)
    num_anchors_per_level = [o[0].numel() for o in objectness]
    objectness, deltas = concat_box_prediction_layers(objectness, deltas)  # (B*A, 1), (B*A, 4)
    proposals = rpn.box_coder.decode(deltas.detach(), anchors).view(num_images, -1, 4)  # (B, A, 4)
    rois, roi_scores = rpn.filter_proposals(proposals, objectness, image_list.image_sizes, num_anchors_per_level)
    return {"anchors": anchors, "objectness": objectness.detach().view(num_images, -1), "proposals": proposals,
            "num_anchors_per_level": num_anchors_per_level, "rois": rois, "roi_scores": roi_scores}


@torch.inference_mode()
def _forward_steps(
    model: nn.Module,
    images: Sequence[np.ndarray | torch.Tensor],
    score_threshold: float,
    iou_threshold: float,
    keep_internals: bool = False,
) -> tuple[list[dict[str, torch.Tensor]], dict[str, Any]]:
    """model(images) in eval mode, one stage at a time: transform -> backbone (body, FPN) -> RPN -> RoI heads
    -> boxes back to the input pixels. Returns (detections with model labels, internals)."""
    if model.training:
        raise ValueError("the model must be in eval mode (model.eval())")
    device = _device(model)
    tensors = [_image_tensor(image, device) for image in images]
    original_sizes = [tuple(t.shape[-2:]) for t in tensors]
    image_list, _ = model.transform(tensors)  # normalised, resized, padded to a multiple of 32
    backbone = model.backbone
    body = backbone.body_features(image_list.tensors) if isinstance(backbone, TimmFPNBackbone) else None
    features = backbone.fpn(body) if body is not None else backbone(image_list.tensors)
    rpn = _rpn_steps(model, image_list, features)
    proposals = rpn["rois"]  # per image (R_i, 4), after the RPN's NMS
    heads = model.roi_heads
    roi_features = heads.box_roi_pool(features, proposals, image_list.image_sizes)  # (R, C, 7, 7)
    class_logits, box_regression = heads.box_predictor(heads.box_head(roi_features))
    detections = postprocess_detections(model, class_logits, box_regression, proposals, image_list.image_sizes,
                                        score_threshold, iou_threshold)
    for det, resized, original in zip(detections, image_list.image_sizes, original_sizes):
        det["boxes"] = _resize_boxes(det["boxes"], resized, original)
    internals: dict[str, Any] = {}
    if keep_internals:
        internals = dict(image_list=image_list, original_sizes=original_sizes, body=body, features=features,
                         rpn=rpn)
    return detections, internals


def detect_batch(
    model: nn.Module,
    images: Sequence[np.ndarray | torch.Tensor],
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    iou_threshold: float = DEFAULT_IOU_THRESHOLD,
) -> list[dict[str, torch.Tensor]]:
    """`detect` for several images at once (one forward pass); returns one dict per image."""
    _check_thresholds(score_threshold, iou_threshold)
    detections, _ = _forward_steps(model, images, score_threshold, iou_threshold)
    return [_to_ours(d) for d in detections]


def detect(
    model: nn.Module,
    image: np.ndarray | torch.Tensor,
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    iou_threshold: float = DEFAULT_IOU_THRESHOLD,
) -> dict[str, torch.Tensor]:
    """Final detections of one image.

    Args:
        model: from `from_weights` (or `build_faster_rcnn(...).eval()`).
        image: (H, W, 3) uint8 RGB (any size; the model resizes internally and maps boxes back).
        score_threshold: keep detections whose class score is above this (in [0, 1]).
        iou_threshold: the per-class NMS IoU threshold of the RoI heads (in [0, 1]).

    Returns:
        ``{"boxes": (N, 4) float32 (x1, y1, x2, y2) pixels of `image`, "scores": (N,) float32 sorted
        descending, "labels": (N,) int64 0-based `CLASS_NAMES` indices}`` on the CPU.
    """
    return detect_batch(model, [image], score_threshold, iou_threshold)[0]


@torch.inference_mode()
def detect_timed(
    model: nn.Module,
    image: np.ndarray | torch.Tensor,
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    iou_threshold: float = DEFAULT_IOU_THRESHOLD,
):
    """`detect` on one image with the seconds of each stage, as R-CNN and Fast R-CNN report them
    (`core.models.rcnn.TimedDetections`): "features" = resize/normalise + backbone (body and FPN), "proposals" =
    the region proposal network (anchors, objectness, NMS), "classify" = the RoI heads (RoIAlign, fc layers,
    class scores and box offsets), "nms" = decoding, thresholds and class-wise NMS. ``proposals`` are the RoIs
    the RPN keeps (pixels of `image`); ``cnn_forward_passes`` is 1.
    """
    from core.models.rcnn import StageClock, TimedDetections

    _check_thresholds(score_threshold, iou_threshold)
    if model.training:
        raise ValueError("the model must be in eval mode (model.eval())")
    clock = StageClock()
    tensor = _image_tensor(image, _device(model))
    original = tuple(tensor.shape[-2:])
    image_list, _ = model.transform([tensor])
    features = model.backbone(image_list.tensors)
    clock.lap("features")
    rpn = _rpn_steps(model, image_list, features)
    rois = rpn["rois"]
    clock.lap("proposals")
    heads = model.roi_heads
    class_logits, box_regression = heads.box_predictor(heads.box_head(heads.box_roi_pool(features, rois,
                                                                                         image_list.image_sizes)))
    clock.lap("classify")
    resized = tuple(image_list.image_sizes[0])
    detection = postprocess_detections(model, class_logits, box_regression, rois, image_list.image_sizes,
                                       score_threshold, iou_threshold)[0]
    detection["boxes"] = _resize_boxes(detection["boxes"], resized, original)
    ours = _to_ours(detection)
    clock.lap("nms")
    seconds = {stage: clock.seconds[stage] for stage in ("proposals", "features", "classify", "nms")}
    return TimedDetections(ours["boxes"], ours["scores"], ours["labels"],
                           _boxes_to_original(rois[0], resized, original), seconds, 1)


DEFAULT_TOP_K = 100
"""Proposals shown by `insides` (the highest-objectness ones, before the RPN's NMS)."""


def _boxes_to_original(boxes: torch.Tensor, resized: tuple[int, int], original: tuple[int, int]) -> torch.Tensor:
    return _resize_boxes(boxes.detach().float(), resized, original).cpu()


def insides(
    model: nn.Module,
    image: np.ndarray | torch.Tensor,
    top_k: int = DEFAULT_TOP_K,
    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
    iou_threshold: float = DEFAULT_IOU_THRESHOLD,
) -> dict[str, Any]:
    """What the model computes on one image, stage by stage (the same computation as ``model([image])``).

    Args:
        model: in eval mode (`from_weights`).
        image: (H, W, 3) uint8 RGB.
        top_k: how many RPN proposals to return (highest objectness over all levels, before NMS).
        score_threshold, iou_threshold: as in `detect`, for the final detections.

    Returns a dict (tensors on the CPU; every box is (x1, y1, x2, y2) in pixels of `image` unless it says
    "resized"):
        ``image_size`` (H, W); ``resized_size`` (h, w): the image as the network sees it (shorter side
        `min_size`), ``input_size`` (h', w'): after padding to a multiple of 32; ``scale`` (sy, sx) = resized /
        original (multiply a box by (sx, sy, sx, sy) to get resized pixels, which the feature strides refer to);
        ``backbone_features``: list of ``{"name", "stride", "channels", "map" (C, h, w)}`` (timm body, before
        the FPN); ``fpn_features``: the same for the pyramid levels "0", "1", "2", "pool" (the RPN reads all,
        the RoI heads all but "pool");
        ``proposals``: ``{"boxes" (k, 4), "boxes_resized" (k, 4), "objectness" (k,) sigmoid, "level" (k,)
        index into fpn_features, "anchors" (k, 4)}`` — the top-k over all ``num_anchors`` anchors, boxes
        clipped to the image;
        ``num_anchors`` and ``num_anchors_per_level``;
        ``rois``: ``{"boxes" (R, 4), "boxes_resized" (R, 4), "objectness" (R,), "level" (R,) the FPN level the
        RoI heads pool each RoI from}`` — what the RPN keeps after its per-level top-n and NMS (IoU
        ``rpn_nms_thresh``), sorted by objectness;
        ``detections``: ``{"boxes" (N, 4), "scores" (N,), "labels" (N,) 0-based}`` exactly as `detect`.
    """
    from torchvision.ops import boxes as box_ops

    _check_thresholds(score_threshold, iou_threshold)
    if int(top_k) < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    detections, inside = _forward_steps(model, [image], score_threshold, iou_threshold, keep_internals=True)
    image_list, rpn = inside["image_list"], inside["rpn"]
    original = inside["original_sizes"][0]
    resized = tuple(image_list.image_sizes[0])
    input_size = tuple(image_list.tensors.shape[-2:])

    def maps(named: "OrderedDict[str, torch.Tensor]") -> list[dict[str, Any]]:
        return [
            {"name": name, "stride": input_size[0] // f.shape[-2], "channels": f.shape[1], "map": f[0].detach().cpu()}
            for name, f in named.items()
        ]

    # the top-k proposals before NMS (over all levels)
    objectness = torch.sigmoid(rpn["objectness"][0])  # (A,)
    k = min(int(top_k), objectness.numel())
    scores, order = objectness.topk(k)
    boxes_resized = box_ops.clip_boxes_to_image(rpn["proposals"][0][order], resized)
    level_starts = torch.tensor([0] + rpn["num_anchors_per_level"]).cumsum(0)[1:]  # (L,) exclusive ends
    levels = torch.bucketize(order.cpu(), level_starts.cpu(), right=True)

    # the RoIs the RPN keeps, and the pyramid level each is pooled from
    rois_resized = rpn["rois"][0]
    pool = model.roi_heads.box_roi_pool
    roi_levels = pool.map_levels([rois_resized]).cpu() if len(rois_resized) else torch.zeros(0, dtype=torch.int64)

    det = _to_ours(detections[0])
    return {
        "image_size": tuple(int(v) for v in original),
        "resized_size": tuple(int(v) for v in resized),
        "input_size": tuple(int(v) for v in input_size),
        "scale": (resized[0] / original[0], resized[1] / original[1]),
        "backbone_features": maps(inside["body"]) if inside["body"] is not None else [],
        "fpn_features": maps(inside["features"]),
        "num_anchors": int(objectness.numel()),
        "num_anchors_per_level": [int(n) for n in rpn["num_anchors_per_level"]],
        "proposals": {
            "boxes": _boxes_to_original(boxes_resized, resized, original),
            "boxes_resized": boxes_resized.detach().cpu(),
            "objectness": scores.detach().cpu(),
            "level": levels,
            "anchors": _boxes_to_original(rpn["anchors"][0][order], resized, original),
        },
        "rois": {
            "boxes": _boxes_to_original(rois_resized, resized, original),
            "boxes_resized": rois_resized.detach().cpu(),
            "objectness": rpn["roi_scores"][0].detach().cpu(),
            "level": roi_levels,
        },
        "detections": det,
    }


# --- RoI pooling vs RoIAlign ------------------------------------------------------------------------------


def _round_half_away(x: float) -> int:
    """C's ``round``: halves away from zero (what torchvision's roi_pool kernel uses; Python rounds to even)."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def _pair(output_size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(output_size, int):
        return int(output_size), int(output_size)
    h, w = output_size
    return int(h), int(w)


def _bilinear(feature: torch.Tensor, y: float, x: float) -> torch.Tensor:
    """(C,) value of (C, H, W) `feature` at (y, x) the way torchvision's RoIAlign samples it (0 outside
    [-1, H] x [-1, W], coordinates below 0 clamped to 0, the last row/column repeated)."""
    height, width = feature.shape[-2:]
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return torch.zeros(feature.shape[0], dtype=feature.dtype)
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= height - 1:
        y_low = y_high = height - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_low = x_high = width - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1.0 - ly, 1.0 - lx
    return (hy * hx * feature[:, y_low, x_low] + hy * lx * feature[:, y_low, x_high]
            + ly * hx * feature[:, y_high, x_low] + ly * lx * feature[:, y_high, x_high])


def roi_pool_vs_align(
    feature_map: torch.Tensor | np.ndarray,
    roi: Sequence[float] | torch.Tensor,
    spatial_scale: float,
    output_size: int | Sequence[int] = 2,
    sampling_ratio: int = -1,
) -> dict[str, Any]:
    """RoI pooling (Fast R-CNN) against RoIAlign (Mask R-CNN) on one RoI of one feature map.

    Args:
        feature_map: (C, H, W) or (1, C, H, W).
        roi: (x1, y1, x2, y2) in image pixels; the feature map covers the image at `spatial_scale`
            (1 / stride: 0.125 for a stride-8 map).
        output_size: bins (h, w) (or one int for square).
        sampling_ratio: RoIAlign's bilinear samples per bin side (<= 0: ceil(RoI size / bins), torchvision's
            adaptive default).

    Returns:
        ``projected``: (x1, y1, x2, y2) the RoI on the feature map, float (roi * spatial_scale);
        ``pool``: ``{"quantised": (x1, y1, x2, y2) ints (C-rounded projected corners; cells x1..x2 inclusive),
        "bins_x": (w, 2) [start, end) columns of each bin, "bins_y": (h, 2) rows, "values": (C, h, w)
        ``torchvision.ops.roi_pool``, "values_from_bins": (C, h, w) the max over those cells computed here}``;
        ``align``: ``{"aligned": {...}, "unaligned": {...}}`` for ``roi_align(aligned=True / False)``, each
        ``{"start": (x, y) the RoI's corner in feature coordinates (-0.5 when aligned: pixel centres),
        "bin_size": (bw, bh) float, "edges_x": (w+1,) and "edges_y": (h+1,) float bin edges, "sampling_ratio":
        int, "samples_x": (w*s,), "samples_y": (h*s,) where the bilinear samples are taken, "values": (C, h, w)
        ``torchvision.ops.roi_align``, "values_from_samples": (C, h, w) the mean of the samples computed here}``.
    """
    from torchvision.ops import roi_align, roi_pool

    x = torch.as_tensor(np.asarray(feature_map) if not isinstance(feature_map, torch.Tensor) else feature_map)
    x = x.detach().cpu().float()
    if x.ndim == 4:
        if x.shape[0] != 1:
            raise ValueError(f"feature_map must be (C, H, W) or (1, C, H, W), got {tuple(x.shape)}")
        x = x[0]
    if x.ndim != 3:
        raise ValueError(f"feature_map must be (C, H, W) or (1, C, H, W), got {tuple(x.shape)}")
    box = torch.as_tensor(roi, dtype=torch.float32).reshape(-1)
    if box.numel() != 4:
        raise ValueError(f"roi must be (x1, y1, x2, y2), got {box.tolist()}")
    x1, y1, x2, y2 = (float(v) for v in box)
    if not (x2 >= x1 and y2 >= y1):
        raise ValueError(f"roi must have x1 <= x2 and y1 <= y2, got {box.tolist()}")
    if not spatial_scale > 0:
        raise ValueError(f"spatial_scale must be positive, got {spatial_scale}")
    out_h, out_w = _pair(output_size)
    if out_h < 1 or out_w < 1:
        raise ValueError(f"output_size must be positive, got {output_size}")
    _, height, width = x.shape
    rois = torch.tensor([[0.0, x1, y1, x2, y2]])  # (1, 5): batch index, then the box

    # RoI pooling: round the projected corners to cells, split into bins of cells, max over each bin
    qx1, qy1, qx2, qy2 = (_round_half_away(v * spatial_scale) for v in (x1, y1, x2, y2))
    roi_w, roi_h = max(qx2 - qx1 + 1, 1), max(qy2 - qy1 + 1, 1)  # in cells, both corners included

    def pool_bins(start: int, size: int, bins: int, limit: int) -> list[tuple[int, int]]:
        step = size / bins
        return [(min(max(math.floor(i * step) + start, 0), limit), min(max(math.ceil((i + 1) * step) + start, 0), limit))
                for i in range(bins)]

    bins_x, bins_y = pool_bins(qx1, roi_w, out_w, width), pool_bins(qy1, roi_h, out_h, height)
    from_bins = torch.zeros(x.shape[0], out_h, out_w)
    for i, (r0, r1) in enumerate(bins_y):
        for j, (c0, c1) in enumerate(bins_x):
            if r1 > r0 and c1 > c0:
                from_bins[:, i, j] = x[:, r0:r1, c0:c1].amax(dim=(1, 2))
    pooled = roi_pool(x[None], rois, (out_h, out_w), spatial_scale)[0]  # (C, h, w)

    def align(aligned: bool) -> dict[str, Any]:
        offset = 0.5 if aligned else 0.0
        sx, sy = x1 * spatial_scale - offset, y1 * spatial_scale - offset
        rw, rh = (x2 - x1) * spatial_scale, (y2 - y1) * spatial_scale
        if not aligned:  # the legacy behaviour: RoIs at least one cell wide
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bw, bh = rw / out_w, rh / out_h
        grid_w = sampling_ratio if sampling_ratio > 0 else math.ceil(rw / out_w)
        grid_h = sampling_ratio if sampling_ratio > 0 else math.ceil(rh / out_h)
        samples_x = [sx + j * bw + (k + 0.5) * bw / grid_w for j in range(out_w) for k in range(grid_w)]
        samples_y = [sy + i * bh + (k + 0.5) * bh / grid_h for i in range(out_h) for k in range(grid_h)]
        count = max(grid_w * grid_h, 1)
        mean = torch.zeros(x.shape[0], out_h, out_w)
        for i in range(out_h):
            for j in range(out_w):
                total = torch.zeros(x.shape[0])
                for ys in samples_y[i * grid_h:(i + 1) * grid_h]:
                    for xs in samples_x[j * grid_w:(j + 1) * grid_w]:
                        total += _bilinear(x, ys, xs)
                mean[:, i, j] = total / count
        values = roi_align(x[None], rois, (out_h, out_w), spatial_scale, sampling_ratio, aligned=aligned)[0]
        return {
            "start": (sx, sy),
            "bin_size": (bw, bh),
            "edges_x": torch.tensor([sx + j * bw for j in range(out_w + 1)]),
            "edges_y": torch.tensor([sy + i * bh for i in range(out_h + 1)]),
            "sampling_ratio": (grid_h, grid_w) if grid_h != grid_w else grid_w,
            "samples_x": torch.tensor(samples_x),
            "samples_y": torch.tensor(samples_y),
            "values": values,
            "values_from_samples": mean,
        }

    return {
        "roi": (x1, y1, x2, y2),
        "feature_size": (height, width),
        "spatial_scale": float(spatial_scale),
        "output_size": (out_h, out_w),
        "projected": (x1 * spatial_scale, y1 * spatial_scale, x2 * spatial_scale, y2 * spatial_scale),
        "pool": {
            "quantised": (qx1, qy1, qx2, qy2),
            "bins_x": torch.tensor(bins_x, dtype=torch.int64).reshape(out_w, 2),
            "bins_y": torch.tensor(bins_y, dtype=torch.int64).reshape(out_h, 2),
            "values": pooled,
            "values_from_bins": from_bins,
        },
        "align": {"aligned": align(True), "unaligned": align(False)},
    }


BOOK_FEATURE_MAP = torch.arange(16.0).reshape(1, 1, 4, 4)
"""The book's toy feature map X (1, 1, 4, 4) = 0..15 (d2l.ai, chapter_computer-vision/rcnn.html)."""

BOOK_ROIS = torch.tensor([[0.0, 0.0, 0.0, 20.0, 20.0], [0.0, 0.0, 10.0, 30.0, 30.0]])
"""The book's two RoIs (batch index, x1, y1, x2, y2) in image pixels; the 4x4 map covers 40x40 pixels."""

BOOK_SPATIAL_SCALE = 0.1
BOOK_OUTPUT_SIZE = (2, 2)
BOOK_ROI_POOL_RESULT = torch.tensor([[[[5.0, 6.0], [9.0, 10.0]]], [[[9.0, 11.0], [13.0, 15.0]]]])
"""``torchvision.ops.roi_pool(X, rois, output_size=(2, 2), spatial_scale=0.1)`` in the book."""


def book_roi_pool_example() -> list[dict[str, Any]]:
    """The book's RoI pooling toy through `roi_pool_vs_align`: one result per RoI of `BOOK_ROIS`."""
    return [
        roi_pool_vs_align(BOOK_FEATURE_MAP, roi[1:], BOOK_SPATIAL_SCALE, BOOK_OUTPUT_SIZE)
        for roi in BOOK_ROIS
    ]
