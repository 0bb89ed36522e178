"""The pieces of Fast R-CNN's training (`core.models.fast_rcnn`), run by its recipe
`core.training.recipes.fast_rcnn` (``python -m core.train fast_rcnn``); the evaluation is
`core.evaluation.evaluators` (``python -m core.evaluate fast_rcnn``).

Recipe (the paper's, scaled to 2 CPU cores): the backbone starts from the SSD's trained weights (``weights/ssd.*``,
the lab's own pre-trained network). Its resnet body stays frozen and its maps of every scene (and of its mirror
image) are computed once (`BodyMaps`); the layers above it (extra blocks, top-down path, every BatchNorm keeping the
SSD's statistics) are fine-tuned with the new RoI head. Mini-batches of a few scenes x 64 sampled RoIs
(25 % foreground) from their cached selective-search proposals (`core.data.proposals`) plus the ground-truth
boxes; horizontal flips (the paper's only augmentation); AdamW with warm-up and a cosine schedule over max(step
share, wall-time share); the best epoch on the val scenes is kept, then the NMS IoU is chosen on them.
The per-step loss is `core.models.fast_rcnn.loss(model, images, targets)`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from core.models.fast_rcnn import FastRCNN, FastRCNNConfig
from core.models.rcnn import normalise, select_proposals
from core.training.rcnn import Scenes

# (scene counts, epochs, batch size, learning rate and time budget: `core.training.recipes.fast_rcnn.FastRCNNSettings`)
BACKBONE_LR_FACTOR = 0.1
WEIGHT_DECAY = 1e-4
WARMUP_STEPS = 50
FINAL_LR_FRACTION = 0.02
GRAD_CLIP_NORM = 10.0
FROZEN_PREFIXES: tuple[str, ...] = ("backbone.",)
"""Parameters kept at the SSD's values: the whole resnet body. The paper fine-tuned all but VGG's first layers; here
the body's forward pass is computed once per scene (`BodyMaps`), which makes training ~10x cheaper on 2 CPU cores,
and the layers above it (extra blocks, top-down path) are fine-tuned with the head."""

NMS_CHOICES: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6)
"""Class-wise NMS IoU thresholds tried on the val scenes after training (the best mAP@0.5 + mAP is kept)."""


def scene_target(scenes: Scenes, seed: int, config: FastRCNNConfig, flip: bool
                 ) -> tuple[np.ndarray, dict[str, torch.Tensor]]:
    """Scene `seed`'s image (flipped when asked) and its target {"boxes", "labels", "proposals"}."""
    from core.data.proposals import scene_proposals

    scene = scenes[seed]
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


def freeze(model: FastRCNN) -> None:
    for name, parameter in model.named_parameters():
        if name.startswith(FROZEN_PREFIXES):
            parameter.requires_grad_(False)


def batchnorm_eval(model: FastRCNN) -> None:
    """Every BatchNorm keeps the SSD's running statistics (a few images per step are too few to estimate them)."""
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eval()
