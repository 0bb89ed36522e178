"""Non-maximum suppression (NMS) and the book's multibox_detection.

Follows d2l.ai, "Anchor Boxes", section "Predicting Bounding Boxes with Non-Maximum Suppression"
(chapter_computer-vision/anchor.html). `nms` returns exactly what ``torchvision.ops.nms`` returns (same order,
same tie-breaking, same float arithmetic); `nms_steps` records the greedy process for the step-through view.

Boxes are corner boxes ``(x1, y1, x2, y2)`` (pixels or normalised, it does not matter).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import Tensor

from core.ops.anchors import offset_inverse

__all__ = ["REMOVED", "Candidates", "nms", "batched_nms", "NmsStep", "nms_steps", "multibox_detection"]

REMOVED = -1
"""Class id `multibox_detection` gives to background predictions and to boxes removed by NMS."""


@dataclass(eq=False)
class Candidates:
    """Scored, labelled boxes on one picture before NMS: what a detector proposes and NMS prunes.

    One type for every producer (the SSD's decoded anchors; the NMS tab's book example, clutter and pasted JSON)
    and every consumer (the SSD's class-aware NMS, the Detection tab's hand-off, the NMS tab's stepper).

    Attributes:
        boxes (Tensor[N, 4], float): ``(x1, y1, x2, y2)`` in pixels of `image_size`, or fractions of it when
            `normalized`.
        scores (Tensor[N], float): in [0, 1].
        labels (Tensor[N], int64): 0-based class indices (into `class_names` when it is given).
        class_names (tuple[str, ...]): names of the classes; may be empty.
        image_size ((W, H) | None): the picture the boxes belong to, when known.
        normalized (bool): boxes are fractions of `image_size`.
        anchor_index (Tensor[N], int64 | None): the anchor each came from (anchor-based detectors only).
        level (Tensor[N], int64 | None): the feature-map scale each came from (0 = finest; anchor detectors only).
    """

    boxes: Tensor
    scores: Tensor
    labels: Tensor
    class_names: tuple[str, ...] = ()
    image_size: tuple[int, int] | None = None
    normalized: bool = False
    anchor_index: Tensor | None = field(default=None, repr=False)
    level: Tensor | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def select(self, index: Tensor) -> "Candidates":
        """The candidates at `index` (a LongTensor of rows or a boolean mask), picture and names kept."""
        return replace(
            self, boxes=self.boxes[index], scores=self.scores[index], labels=self.labels[index],
            anchor_index=None if self.anchor_index is None else self.anchor_index[index],
            level=None if self.level is None else self.level[index],
        )

    def class_name(self, label: int) -> str:
        """The name of class `label`, or the number itself when `class_names` does not cover it."""
        return self.class_names[label] if 0 <= label < len(self.class_names) else str(label)

    def pixel_boxes(self) -> Tensor:
        """(N, 4) boxes in pixels of `image_size` (the boxes themselves when not `normalized`)."""
        if not self.normalized:
            return self.boxes
        if self.image_size is None:
            raise ValueError("normalised candidates need an image_size to be put in pixels")
        width, height = self.image_size
        return self.boxes * self.boxes.new_tensor([width, height, width, height])



_MATRIX_TAIL = 256
"""When this few candidates remain, `nms` finishes with one IoU matrix and a cheap loop over its rows."""

_COORDINATE_TRICK_MAX_NUMEL = 4000
"""`batched_nms` switches from the coordinate trick to per-class NMS above this many box coordinates
(torchvision's CPU threshold, so that the result, tie order included, is torchvision's)."""


def _check(boxes: Tensor, scores: Tensor) -> None:
    if boxes.dim() != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4), got {tuple(boxes.shape)}.")
    if scores.dim() != 1 or scores.shape[0] != boxes.shape[0]:
        raise ValueError(f"scores must have shape ({boxes.shape[0]},), got {tuple(scores.shape)}.")


def _threshold_for(dtype: np.dtype, iou_threshold: float) -> np.floating:
    """A threshold t in the boxes' float type with ``iou > t  <=>  iou > iou_threshold`` (compared in double).

    torchvision compares the float32 IoU with the threshold as a double; comparing in float32 with the
    threshold rounded to nearest could differ when they are within one ulp.
    """
    if dtype == np.float64:
        return np.float64(iou_threshold)
    t = np.float32(iou_threshold)
    if float(t) > iou_threshold:  # rounded up: step down to the largest float32 below the threshold
        t = np.nextafter(t, np.float32(-np.inf))
    return t


def _sorted_columns(boxes: Tensor, scores: Tensor) -> tuple[Tensor, list[np.ndarray]]:
    """Score order (stable, like torchvision: equal scores keep index order) and x1, y1, x2, y2, area in that order."""
    order = torch.sort(scores.detach().cpu(), dim=0, descending=True, stable=True)[1]  # (N,)
    b = boxes.detach().cpu()
    if b.dtype not in (torch.float32, torch.float64):
        b = b.float()
    b = b.index_select(0, order).numpy()  # (N, 4), sorted
    x1, y1, x2, y2 = (np.ascontiguousarray(b[:, k]) for k in range(4))
    area = (x2 - x1) * (y2 - y1)  # same arithmetic as torchvision's kernel
    return order, [x1, y1, x2, y2, area]


def _iou_one_to_many(i: int, rest: np.ndarray, cols: list[np.ndarray]) -> np.ndarray:
    """IoU of sorted box i with sorted boxes ``rest``, operation for operation as torchvision's CPU kernel."""
    x1, y1, x2, y2, area = cols
    w = np.minimum(x2[i], x2[rest])
    w -= np.maximum(x1[i], x1[rest])
    np.maximum(w, 0, out=w)
    h = np.minimum(y2[i], y2[rest])
    h -= np.maximum(y1[i], y1[rest])
    np.maximum(h, 0, out=h)
    w *= h  # intersection
    union = area[i] + area[rest]
    union -= w
    w /= union
    return w


def _iou_matrix(idx: np.ndarray, cols: list[np.ndarray]) -> np.ndarray:
    """(R, R) IoU among sorted boxes ``idx``, with the same arithmetic (it is symmetric, bit for bit)."""
    x1, y1, x2, y2, area = (c[idx] for c in cols)
    w = np.minimum(x2[:, None], x2)
    w -= np.maximum(x1[:, None], x1)
    np.maximum(w, 0, out=w)
    h = np.minimum(y2[:, None], y2)
    h -= np.maximum(y1[:, None], y1)
    np.maximum(h, 0, out=h)
    w *= h
    union = area[:, None] + area
    union -= w
    w /= union
    return w


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Greedy non-maximum suppression, identical to ``torchvision.ops.nms``.

    Repeatedly keep the highest-scoring remaining box and remove every remaining box whose IoU with it is
    ``> iou_threshold``.

    Args:
        boxes (Tensor[N, 4]): boxes in ``(x1, y1, x2, y2)`` format.
        scores (Tensor[N]): their scores.
        iou_threshold: boxes overlapping a kept box with IoU above this are discarded.

    Returns:
        Tensor[K] (int64): indices of the kept boxes, sorted by decreasing score.
    """
    _check(boxes, scores)
    num = boxes.shape[0]
    if num == 0:
        return torch.empty((0,), dtype=torch.long, device=boxes.device)
    order, cols = _sorted_columns(boxes, scores)
    threshold = _threshold_for(cols[0].dtype, iou_threshold)
    alive = np.arange(num)  # positions in score order still candidates
    keep: list[int] = []
    with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 for zero-area pairs: NaN, never > threshold
        # Phase 1: one vectorised row per kept box, dropping what it suppresses (fast when clusters are big).
        while alive.size > _MATRIX_TAIL:
            i, rest = alive[0], alive[1:]
            keep.append(int(i))
            alive = rest[~(_iou_one_to_many(i, rest, cols) > threshold)]
        # Phase 2: few candidates left: one IoU matrix, then a loop over boolean rows.
        if alive.size:
            over = _iou_matrix(alive, cols) > threshold  # (R, R)
            suppressed = np.zeros(alive.size, dtype=bool)
            for j in range(alive.size):
                if not suppressed[j]:
                    keep.append(int(alive[j]))
                    suppressed |= over[j]
    return order[torch.tensor(keep, dtype=torch.long)].to(boxes.device)


def batched_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> Tensor:
    """Class-aware NMS: boxes only suppress boxes of the same category. Equal to ``torchvision.ops.batched_nms``.

    The teaching idea (used for small inputs): shift each category's boxes by ``idx * (max_coordinate + 1)``
    so boxes of different categories never overlap, then run one `nms`.

    Args:
        boxes (Tensor[N, 4]): boxes in ``(x1, y1, x2, y2)`` format.
        scores (Tensor[N]): their scores.
        idxs (Tensor[N]): category index of each box.
        iou_threshold: as in `nms`.

    Returns:
        Tensor[K] (int64): indices of the kept boxes, sorted by decreasing score.
    """
    _check(boxes, scores)
    if idxs.shape != scores.shape:
        raise ValueError(f"idxs must have shape {tuple(scores.shape)}, got {tuple(idxs.shape)}.")
    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.long, device=boxes.device)
    if boxes.numel() <= _COORDINATE_TRICK_MAX_NUMEL:
        shift = idxs.to(boxes) * (boxes.max() + torch.tensor(1).to(boxes))  # (N,)
        return nms(boxes + shift[:, None], scores, iou_threshold)
    keep_mask = torch.zeros_like(scores, dtype=torch.bool)
    for category in torch.unique(idxs):
        members = torch.where(idxs == category)[0]
        keep_mask[members[nms(boxes[members], scores[members], iou_threshold)]] = True
    kept = torch.where(keep_mask)[0]
    return kept[scores[kept].sort(descending=True)[1]]


@dataclass
class NmsStep:
    """One step of greedy NMS: a box is kept and becomes the baseline; it suppresses some of the rest."""

    baseline: int  # index (into the input) of the box kept at this step
    score: float  # its score
    suppressed: list[int]  # indices of the boxes it removes now, in decreasing score order
    ious: list[float]  # their IoU with the baseline (each > the threshold)


def nms_steps(boxes: Tensor, scores: Tensor, iou_threshold: float, idxs: Tensor | None = None) -> list[NmsStep]:
    """The greedy process of `nms`, step by step (for teaching; loops in Python, meant for small N).

    ``[s.baseline for s in steps]`` is ``nms(boxes, scores, iou_threshold)``. With ``idxs`` (Tensor[N] category
    indices) a baseline only suppresses boxes of its own category (class-aware NMS, the kept set of
    `batched_nms`, here in one score-ordered pass).

    Args:
        boxes (Tensor[N, 4]): boxes in ``(x1, y1, x2, y2)`` format.
        scores (Tensor[N]): their scores.
        iou_threshold: as in `nms`.
        idxs (Tensor[N], optional): categories for class-aware NMS; None means class-agnostic.

    Returns:
        list[NmsStep]: one step per kept box, in decreasing score order.
    """
    _check(boxes, scores)
    if idxs is not None and idxs.shape != scores.shape:
        raise ValueError(f"idxs must have shape {tuple(scores.shape)}, got {tuple(idxs.shape)}.")
    num = boxes.shape[0]
    if num == 0:
        return []
    order, cols = _sorted_columns(boxes, scores)
    order_list = order.tolist()
    categories = None if idxs is None else idxs.detach().cpu().index_select(0, order).numpy()
    threshold = _threshold_for(cols[0].dtype, iou_threshold)
    sorted_scores = scores.detach().cpu().index_select(0, order).tolist()
    alive = np.arange(num)
    steps: list[NmsStep] = []
    with np.errstate(invalid="ignore", divide="ignore"):
        while alive.size:
            i, rest = alive[0], alive[1:]
            iou = _iou_one_to_many(i, rest, cols)
            gone = iou > threshold
            if categories is not None:
                gone &= categories[rest] == categories[i]
            steps.append(
                NmsStep(
                    baseline=order_list[i],
                    score=float(sorted_scores[i]),
                    suppressed=[order_list[j] for j in rest[gone]],
                    ious=[float(v) for v in iou[gone]],
                )
            )
            alive = rest[~gone]
    return steps


def multibox_detection(
    cls_probs: Tensor,
    offset_preds: Tensor,
    anchors: Tensor,
    nms_threshold: float = 0.5,
    pos_threshold: float = 0.009999999,
) -> Tensor:
    """Predicted boxes from anchors, class probabilities and offsets, after class-agnostic NMS (the book's).

    Per anchor: the class is the most probable non-background class, the confidence its probability; the box
    is `offset_inverse` of the anchor. NMS keeps boxes over all classes together. Rows are the kept boxes
    (decreasing confidence), then the removed ones (anchor order) with class `REMOVED`. A confidence
    below ``pos_threshold`` also gives `REMOVED`, with the confidence replaced by ``1 - confidence``.

    Args:
        cls_probs (Tensor[B, C + 1, A]): class probabilities, background first.
        offset_preds (Tensor[B, A * 4]): predicted offsets ``(dx, dy, dw, dh)`` per anchor.
        anchors (Tensor[1, A, 4] or Tensor[A, 4]): ``(x1, y1, x2, y2)`` anchors.
        nms_threshold: IoU threshold of the NMS.
        pos_threshold: minimum confidence of a non-background prediction.

    Returns:
        Tensor[B, A, 6]: rows ``[class, confidence, x1, y1, x2, y2]``, class `REMOVED` (-1) for background
        and suppressed boxes.
    """
    if cls_probs.dim() != 3:
        raise ValueError(f"cls_probs must have shape (B, C + 1, A), got {tuple(cls_probs.shape)}.")
    batch, _, num_anc = cls_probs.shape
    anchors = anchors.reshape(-1, 4)  # (A, 4)
    if anchors.shape[0] != num_anc or offset_preds.shape != (batch, num_anc * 4):
        raise ValueError(
            f"Expected anchors (1, {num_anc}, 4) and offset_preds ({batch}, {num_anc * 4}), "
            f"got {tuple(anchors.shape)} and {tuple(offset_preds.shape)}."
        )
    conf, class_id = cls_probs[:, 1:, :].max(dim=1)  # (B, A), (B, A)
    boxes = offset_inverse(anchors, offset_preds.reshape(batch, num_anc, 4))  # (B, A, 4)
    out = []
    for b in range(batch):
        keep = nms(boxes[b], conf[b], nms_threshold)  # (K,)
        removed = torch.ones(num_anc, dtype=torch.bool, device=keep.device)
        removed[keep] = False
        row_order = torch.cat((keep, torch.where(removed)[0]))  # (A,): kept by score, then removed by index
        cls_b = torch.where(removed, REMOVED, class_id[b])[row_order]
        conf_b = conf[b][row_order]
        low = conf_b < pos_threshold
        cls_b = torch.where(low, REMOVED, cls_b)
        conf_b = torch.where(low, 1 - conf_b, conf_b)
        out.append(torch.cat((cls_b[:, None].to(conf_b.dtype), conf_b[:, None], boxes[b][row_order]), dim=1))
    return torch.stack(out)  # (B, A, 6)
