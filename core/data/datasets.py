"""Torch datasets over the generated scenes (`core.data.scenes`), with optional Albumentations augmentation.

A dataset is a list of seeds: item i is ``make_scene(seeds[i])``, generated on the fly (a few milliseconds, so
nothing is cached and any number of DataLoader workers can share it).

  * `SceneDetection` -> ``(image, target)``: image (3, H, W) float32 in [0, 1]; target
    ``{"boxes": (N, 4) float32 (x1, y1, x2, y2) pixels, "labels": (N,) int64, "image_id": int}``
    (torchvision detection style; labels are `core.data.scenes.CLASS_NAMES` indices, plus `label_offset`).
  * `SceneSegmentation` -> ``(image, mask)``: mask (H, W) int64, 0 = background, k + 1 = class k.
  * `detection_collate` batches detection items; `to_book_labels` turns targets into the book's
    (B, G, 5) ``[class, x1, y1, x2, y2]`` normalised label tensor (padding rows are -1).

Augmentation (``augment=True`` or your own ``albumentations.Compose``) transforms the image, the class mask
and the object map together, and the boxes through Albumentations' bbox target (``min_visibility`` drops
objects mostly cropped away). The surviving boxes are then recomputed as the tight extent of each object's
remaining pixels, so the boxes-bound-the-mask rule of `core.data.scenes` still holds after rotation or scaling.
The augmentation of item i in epoch e is seeded by (augment_seed, e, seed_i): reproducible, and different
every epoch (call `set_epoch`).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from core.data.scenes import DEFAULT_CONFIG, NUM_CLASSES, SceneConfig, Scene, make_scene, split_seeds
from core.ops.anchors import PADDING_CLASS

MIN_VISIBILITY = 0.4
"""Augmentation drops a box when less than this share of its area stays in the image."""

def default_augmentation(min_visibility: float = MIN_VISIBILITY):
    """The training augmentation: flip, mild scale/shift/rotate, colour jitter, a little noise or blur.

    Returns an ``albumentations.Compose`` expecting ``image``, ``mask``, ``instances`` (a second mask),
    ``bboxes`` (pascal_voc = x1, y1, x2, y2 pixels), ``labels`` and ``instance_ids``.
    """
    import albumentations as A

    return A.Compose(
        [
            A.HorizontalFlip(p=0.5),
            A.Affine(scale=(0.8, 1.2), translate_percent=(-0.08, 0.08), rotate=(-15, 15), p=0.5),
            A.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.05, p=0.7),
            A.OneOf([A.GaussNoise(std_range=(0.02, 0.06)), A.GaussianBlur(blur_limit=(3, 5))], p=0.3),
        ],
        bbox_params=A.BboxParams(
            format="pascal_voc", label_fields=["labels", "instance_ids"], min_visibility=min_visibility, clip=True
        ),
        additional_targets={"instances": "mask"},
    )


class _SceneDataset(Dataset):
    def __init__(
        self,
        seeds: str | Sequence[int] = "train",
        *,
        count: int | None = None,
        size: tuple[int, int] | None = None,
        augment: bool | Any = False,
        augment_seed: int = 0,
        config: SceneConfig = DEFAULT_CONFIG,
    ):
        """
        Args:
            seeds: a split name of `core.data.scenes.SPLITS` ("train", "val", "test") or explicit seeds.
            count: use only the first `count` seeds.
            size: (H, W) of the scenes (default 256 x 256).
            augment: False, True (`default_augmentation()`), or an ``albumentations.Compose`` with the same targets.
            augment_seed: seeds the augmentation together with the epoch and the scene seed.
        """
        if isinstance(seeds, str):
            self.seeds: Sequence[int] = split_seeds(seeds, count)
        else:
            self.seeds = list(seeds)[:count] if count is not None else list(seeds)
        self.size = size
        self.config = config
        self.transform = default_augmentation() if augment is True else (augment or None)
        self.augment_seed = int(augment_seed)
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.seeds)

    def set_epoch(self, epoch: int) -> None:
        """A new epoch draws new augmentations (deterministically)."""
        self.epoch = int(epoch)

    def scene(self, index: int) -> Scene:
        """The raw `Scene` of item `index` (no augmentation)."""
        return make_scene(int(self.seeds[index]), size=self.size, config=self.config)

    def _augmented(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
        """image (H, W, 3) uint8, boxes (N, 4) float32, labels (N,) int64, class mask (H, W) uint8, seed."""
        scene = self.scene(index)
        seed = int(self.seeds[index])
        if self.transform is None:
            return scene.image, scene.boxes, scene.labels, scene.mask, seed
        state = np.random.SeedSequence([self.augment_seed, self.epoch, seed]).generate_state(1)[0]
        self.transform.set_random_seed(int(state))
        out = self.transform(
            image=scene.image,
            mask=scene.mask,
            instances=scene.instance_mask,
            bboxes=scene.boxes,
            labels=scene.labels,
            instance_ids=np.arange(1, len(scene.labels) + 1),
        )
        instances = np.asarray(out["instances"])
        boxes, labels = [], []
        for label, instance_id in zip(out["labels"], out["instance_ids"]):
            rows, cols = np.nonzero(instances == instance_id)
            if len(rows) == 0:
                continue
            boxes.append((cols.min(), rows.min(), cols.max() + 1, rows.max() + 1))
            labels.append(int(label))
        return (
            np.asarray(out["image"]),
            np.asarray(boxes, np.float32).reshape(-1, 4),
            np.asarray(labels, np.int64),
            np.asarray(out["mask"], np.uint8),
            seed,
        )


def image_to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float32 in [0, 1]."""
    chw = np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)  # (3, H, W); numpy: no thread pool
    chw *= 1.0 / 255.0
    return torch.from_numpy(chw)


class SceneDetection(_SceneDataset):
    """Detection items ``(image (3, H, W) float32 in [0, 1], {"boxes", "labels", "image_id"})``."""

    def __init__(self, seeds: str | Sequence[int] = "train", *, label_offset: int = 0, **kwargs: Any):
        """`label_offset`: added to every label (1 for torchvision models that reserve 0 for background)."""
        super().__init__(seeds, **kwargs)
        self.label_offset = int(label_offset)

    num_classes = NUM_CLASSES

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        image, boxes, labels, _, seed = self._augmented(index)
        target = {
            "boxes": torch.from_numpy(boxes),
            "labels": torch.from_numpy(labels) + self.label_offset,
            "image_id": seed,
        }
        return image_to_tensor(image), target


class SceneSegmentation(_SceneDataset):
    """Segmentation items ``(image (3, H, W) float32 in [0, 1], mask (H, W) int64)``; mask 0 = background."""

    num_classes = NUM_CLASSES + 1  # including background

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, _, _, mask, _ = self._augmented(index)
        return image_to_tensor(image), torch.from_numpy(mask.astype(np.int64))


def detection_collate(batch: Sequence[tuple[torch.Tensor, dict]]) -> tuple[torch.Tensor | list[torch.Tensor], list[dict]]:
    """Batch detection items: images stacked to (B, 3, H, W) when they share a size (else a list), targets a list."""
    images = [item[0] for item in batch]
    targets = [item[1] for item in batch]
    if all(image.shape == images[0].shape for image in images):
        return torch.stack(images), targets
    return images, targets


def to_book_labels(targets: Sequence[dict], image_size: tuple[int, int], max_objects: int | None = None) -> torch.Tensor:
    """Targets -> the book's label tensor (B, G, 5): rows [class, x1, y1, x2, y2] with boxes divided by (W, H, W, H).

    Rows beyond an image's objects are `PADDING_CLASS` (-1) in every column. G is `max_objects` or the largest count.
    """
    height, width = image_size
    counts = [len(t["labels"]) for t in targets]
    g = max(counts + [1]) if max_objects is None else int(max_objects)
    labels = torch.full((len(targets), g, 5), float(PADDING_CLASS))
    scale = torch.tensor([width, height, width, height], dtype=torch.float32)
    for i, target in enumerate(targets):
        n = min(len(target["labels"]), g)
        labels[i, :n, 0] = target["labels"][:n].float()
        labels[i, :n, 1:] = target["boxes"][:n].float() / scale
    return labels
