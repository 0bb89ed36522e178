"""Anchor boxes: generation (MultiBoxPrior), labeling against ground truth, and offset encoding.

Follows d2l.ai, "Anchor Boxes" (chapter_computer-vision/anchor.html), written vectorised and batched.

Box formats: every box is a corner box ``(x1, y1, x2, y2)`` normalised to [0, 1] by the image width (x) and
height (y), unless a name says ``_px``. Labels for `multibox_target` are rows ``[class, x1, y1, x2, y2]`` with
``class = PADDING_CLASS`` (-1) marking padding rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from core.ops.boxes import box_corner_to_center, box_center_to_corner, box_iou

__all__ = [
    "UNASSIGNED",
    "BACKGROUND",
    "PADDING_CLASS",
    "DISCARDED_IOU",
    "OffsetNormalization",
    "BOOK_NORMALIZATION",
    "AnchorShape",
    "anchor_pairs",
    "anchor_shapes",
    "num_anchors",
    "multibox_prior",
    "anchors_at_pixel",
    "grid_anchors",
    "assign_anchor_to_bbox",
    "GreedyStep",
    "AssignmentTrace",
    "assign_anchor_to_bbox_steps",
    "offset_boxes",
    "offset_inverse",
    "multibox_target",
]

UNASSIGNED = -1
"""Value in an anchor-to-ground-truth map for an anchor that no ground-truth box was assigned to."""

BACKGROUND = 0
"""Class label `multibox_target` gives unassigned anchors; object classes are shifted to 1, 2, ..."""

PADDING_CLASS = -1
"""Class value of a padding row in a (B, G, 5) label tensor; such rows are ignored."""

DISCARDED_IOU = -1.0
"""What the greedy assignment writes over a used row and column of the IoU matrix (below any real IoU)."""


@dataclass(frozen=True)
class OffsetNormalization:
    """Offset normalisation: ``((c_b - c_a) / w_a - mu_xy) / sigma_xy`` and ``(log(w_b / w_a) - mu_wh) / sigma_wh``.

    The defaults are the book's (mu = 0, sigma_x = sigma_y = 0.1, sigma_w = sigma_h = 0.2).
    """

    mu_xy: float = 0.0  # mean of the center offsets
    mu_wh: float = 0.0  # mean of the log size ratios
    sigma_xy: float = 0.1  # std of the center offsets
    sigma_wh: float = 0.2  # std of the log size ratios


BOOK_NORMALIZATION = OffsetNormalization()


# --- generation ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnchorShape:
    """One (size, ratio) anchor shape on an image of ``image_hw`` pixels.

    With the book's normalisation the normalised width is ``s * sqrt(r) * h / w`` and the height ``s / sqrt(r)``,
    so in pixels ``width_px = s * sqrt(r) * h`` and ``height_px = s / sqrt(r) * h``: both scale with the image
    *height*, ``width_px / height_px = r`` and ``area_px = (s * h) ** 2``.
    """

    size: float  # s, a fraction of the image height
    ratio: float  # r = width / height
    width: float  # normalised by the image width
    height: float  # normalised by the image height
    width_px: float
    height_px: float
    area_px: float


def _check_sizes_ratios(sizes: Sequence[float], ratios: Sequence[float]) -> tuple[list[float], list[float]]:
    sizes, ratios = [float(s) for s in sizes], [float(r) for r in ratios]
    if not sizes or not ratios:
        raise ValueError("Give at least one size and one ratio.")
    if not all(math.isfinite(s) and s > 0 for s in sizes):
        raise ValueError(f"Sizes must be positive numbers, got {sizes}.")
    if not all(math.isfinite(r) and r > 0 for r in ratios):
        raise ValueError(f"Ratios must be positive numbers, got {ratios}.")
    return sizes, ratios


def anchor_pairs(sizes: Sequence[float], ratios: Sequence[float]) -> list[tuple[float, float]]:
    """The n + m - 1 (size, ratio) pairs, in the order `multibox_prior` emits them per pixel.

    ``(s_1, r_1), (s_2, r_1), ..., (s_n, r_1), (s_1, r_2), ..., (s_1, r_m)``.
    """
    sizes, ratios = _check_sizes_ratios(sizes, ratios)
    return [(s, ratios[0]) for s in sizes] + [(sizes[0], r) for r in ratios[1:]]


def anchor_shapes(sizes: Sequence[float], ratios: Sequence[float], image_hw: tuple[int, int]) -> list[AnchorShape]:
    """Normalised and pixel width, height and area of each of the n + m - 1 anchors (see `AnchorShape`)."""
    img_h, img_w = image_hw
    shapes = []
    for s, r in anchor_pairs(sizes, ratios):
        width_px, height_px = s * math.sqrt(r) * img_h, s / math.sqrt(r) * img_h
        shapes.append(
            AnchorShape(
                size=s,
                ratio=r,
                width=width_px / img_w,
                height=height_px / img_h,
                width_px=width_px,
                height_px=height_px,
                area_px=width_px * height_px,
            )
        )
    return shapes


def num_anchors(image_hw: tuple[int, int], num_sizes: int, num_ratios: int, all_pairs: bool = False) -> int:
    """Anchors for a whole image: ``h * w * (n + m - 1)``, or ``h * w * n * m`` with ``all_pairs``."""
    per_pixel = num_sizes * num_ratios if all_pairs else num_sizes + num_ratios - 1
    return image_hw[0] * image_hw[1] * per_pixel


def _half_extents(sizes: list[float], ratios: list[float], in_h: int, in_w: int, device: torch.device) -> Tensor:
    """(k, 4) offsets ``(-w/2, -h/2, w/2, h/2)`` of the k = n + m - 1 anchors around their center."""
    size_t = torch.tensor(sizes, device=device)
    ratio_t = torch.tensor(ratios, device=device)
    # Same float32 operations, in the same order, as the book, so the anchors match it bit for bit.
    w = torch.cat((size_t * torch.sqrt(ratio_t[0]), sizes[0] * torch.sqrt(ratio_t[1:]))) * in_h / in_w  # (k,)
    h = torch.cat((size_t / torch.sqrt(ratio_t[0]), sizes[0] / torch.sqrt(ratio_t[1:])))  # (k,)
    return torch.stack((-w, -h, w, h)).T / 2  # (k, 4)


def _centers(rows: Tensor, cols: Tensor, in_h: int, in_w: int) -> tuple[Tensor, Tensor]:
    """Normalised centers ``(i + 0.5) / h`` and ``(j + 0.5) / w`` of pixel rows and columns (float32)."""
    return (rows + 0.5) * (1.0 / in_h), (cols + 0.5) * (1.0 / in_w)


def multibox_prior(data: Tensor, sizes: Sequence[float], ratios: Sequence[float]) -> Tensor:
    """Anchor boxes centred on every pixel (the book's MultiBoxPrior).

    For sizes ``s_1..s_n`` and ratios ``r_1..r_m`` every pixel gets ``k = n + m - 1`` anchors, the pairs of
    `anchor_pairs`, with normalised width ``s * sqrt(r) * h / w`` and height ``s / sqrt(r)``.

    Args:
        data (Tensor[..., h, w]): only its last two dims (the image or feature-map size) and device are used.
        sizes: anchor sizes, fractions of the image height, each > 0.
        ratios: width / height ratios, each > 0.

    Returns:
        Tensor[1, h * w * k, 4]: normalised ``(x1, y1, x2, y2)`` anchors, ordered pixel by pixel (row-major),
        then by pair; ``.reshape(h, w, k, 4)[i, j]`` are the anchors of pixel (row i, column j).
    """
    sizes, ratios = _check_sizes_ratios(sizes, ratios)
    in_h, in_w = data.shape[-2:]
    device = data.device
    center_y, center_x = _centers(torch.arange(in_h, device=device), torch.arange(in_w, device=device), in_h, in_w)
    half = _half_extents(sizes, ratios, in_h, in_w, device)  # (k, 4)
    k = half.shape[0]
    # x-coordinates depend on the column only, y-coordinates on the row only: build one row of x's and one
    # column of y's (zeros in the other slots) and add them, a broadcast with a contiguous inner block of
    # k * 4 values (4x faster than adding (k, 4) to (h, w, 1, 4)). Adding 0 is exact: same values as the book.
    xs = torch.zeros(in_w, k, 4, device=device)
    xs[..., 0::2] = center_x[:, None, None] + half[:, 0::2]  # (w, k, 2): x1, x2
    ys = torch.zeros(in_h, k, 4, device=device)
    ys[..., 1::2] = center_y[:, None, None] + half[:, 1::2]  # (h, k, 2): y1, y2
    anchors = xs.reshape(1, in_w, k * 4) + ys.reshape(in_h, 1, k * 4)  # (h, w, k * 4)
    return anchors.reshape(1, -1, 4)  # (1, h * w * k, 4)


def anchors_at_pixel(
    image_hw: tuple[int, int], row: int, col: int, sizes: Sequence[float], ratios: Sequence[float]
) -> Tensor:
    """The k anchors of one pixel, equal to ``multibox_prior(...).reshape(h, w, k, 4)[row, col]``.

    Returns:
        Tensor[k, 4]: normalised ``(x1, y1, x2, y2)``; multiply by ``(w, h, w, h)`` for pixels.
    """
    sizes, ratios = _check_sizes_ratios(sizes, ratios)
    in_h, in_w = image_hw
    if not (0 <= row < in_h and 0 <= col < in_w):
        raise ValueError(f"Pixel (row {row}, column {col}) is outside the {in_h}x{in_w} image.")
    cy, cx = _centers(torch.tensor([row]), torch.tensor([col]), in_h, in_w)
    half = _half_extents(sizes, ratios, in_h, in_w, torch.device("cpu"))  # (k, 4)
    return torch.stack((cx, cy, cx, cy), dim=-1) + half  # (k, 4)


def grid_anchors(fmap_hw: tuple[int, int], sizes: Sequence[float], ratios: Sequence[float]) -> Tensor:
    """Anchors centred on a uniform ``fh x fw`` grid over the image (the book's display_anchors).

    Returns:
        Tensor[fh * fw * k, 4]: normalised ``(x1, y1, x2, y2)``; multiply by ``(w, h, w, h)`` of the image.
    """
    fh, fw = fmap_hw
    if fh < 1 or fw < 1:
        raise ValueError(f"The feature map must be at least 1x1, got {fh}x{fw}.")
    return multibox_prior(torch.zeros((1, 1, fh, fw)), sizes, ratios)[0]


# --- labeling -----------------------------------------------------------------------------------------------


def _check_boxes(name: str, boxes: Tensor) -> None:
    if boxes.dim() != 2 or boxes.shape[-1] != 4:
        raise ValueError(f"{name} must have shape (N, 4), got {tuple(boxes.shape)}.")


def assign_anchor_to_bbox(ground_truth: Tensor, anchors: Tensor, iou_threshold: float = 0.5) -> Tensor:
    """Assign the closest ground-truth box to anchors (the book's algorithm).

    1. Greedy: take the largest entry of the (A, G) IoU matrix, assign that anchor to that box, discard its row
       and column; repeat G times (ties: the first in row-major order, as ``torch.argmax``).
    2. Every other anchor gets the box of its largest IoU if that IoU is ``>= iou_threshold``.

    Args:
        ground_truth (Tensor[G, 4]): ``(x1, y1, x2, y2)`` boxes.
        anchors (Tensor[A, 4]): ``(x1, y1, x2, y2)`` boxes.
        iou_threshold: minimum IoU for step 2.

    Returns:
        Tensor[A] (int64): the index of the assigned ground-truth box, or `UNASSIGNED` (-1).
    """
    return assign_anchor_to_bbox_steps(ground_truth, anchors, iou_threshold).anchors_bbox_map


@dataclass
class GreedyStep:
    """One step of the greedy assignment: the maximum taken and the IoU matrix after discarding."""

    anchor: int  # row of the maximum: this anchor is assigned ...
    gt: int  # ... to this ground-truth box (column)
    iou: float  # the maximum itself
    iou_after: Tensor  # (A, G) the matrix with this row and column set to DISCARDED_IOU


@dataclass
class AssignmentTrace:
    """Everything `assign_anchor_to_bbox` computes, for the step-through view."""

    iou: Tensor  # (A, G) IoU of every anchor with every ground-truth box
    threshold_map: Tensor  # (A,) int64, assignments by threshold alone (before the greedy overrides)
    steps: list[GreedyStep]  # the greedy steps, in order
    anchors_bbox_map: Tensor  # (A,) int64, the final assignment, UNASSIGNED = -1


def assign_anchor_to_bbox_steps(ground_truth: Tensor, anchors: Tensor, iou_threshold: float = 0.5) -> AssignmentTrace:
    """`assign_anchor_to_bbox` with every intermediate state recorded (see `AssignmentTrace`).

    The final map is the threshold map overwritten by the greedy steps' (anchor, gt) pairs. At most
    ``min(A, G)`` steps are taken.
    """
    _check_boxes("ground_truth", ground_truth)
    _check_boxes("anchors", anchors)
    num_anchors_, num_gt = anchors.shape[0], ground_truth.shape[0]
    iou = box_iou(anchors, ground_truth)  # (A, G)
    threshold_map = torch.full((num_anchors_,), UNASSIGNED, dtype=torch.long, device=anchors.device)
    if num_gt > 0:
        max_iou, best_gt = iou.max(dim=1)  # (A,), (A,)
        above = max_iou >= iou_threshold
        threshold_map[above] = best_gt[above]
    final = threshold_map.clone()
    steps: list[GreedyStep] = []
    work = iou.clone()
    for _ in range(min(num_anchors_, num_gt)):
        flat = int(torch.argmax(work))  # first maximum in row-major order
        anc, gt = divmod(flat, num_gt)
        value = float(work[anc, gt])
        final[anc] = gt
        work[:, gt] = DISCARDED_IOU
        work[anc, :] = DISCARDED_IOU
        steps.append(GreedyStep(anchor=anc, gt=gt, iou=value, iou_after=work.clone()))
    return AssignmentTrace(iou=iou, threshold_map=threshold_map, steps=steps, anchors_bbox_map=final)


# --- offsets ------------------------------------------------------------------------------------------------


def offset_boxes(
    anchors: Tensor, assigned_bb: Tensor, eps: float = 1e-6, norm: OffsetNormalization = BOOK_NORMALIZATION
) -> Tensor:
    """Encode boxes as offsets from anchors (the regression targets).

    With centers ``(x, y)`` and sizes ``(w, h)``: ``((x_b - x_a) / w_a - mu_xy) / sigma_xy``, likewise for y, and
    ``(log(eps + w_b / w_a) - mu_wh) / sigma_wh``, likewise for h.

    Args:
        anchors (Tensor[..., 4]): ``(x1, y1, x2, y2)``; broadcasts with ``assigned_bb``.
        assigned_bb (Tensor[..., 4]): ``(x1, y1, x2, y2)`` boxes assigned to the anchors.

    Returns:
        Tensor[..., 4]: offsets ``(dx, dy, dw, dh)``.
    """
    c_anc = box_corner_to_center(anchors)
    c_bb = box_corner_to_center(assigned_bb)
    offset_xy = ((c_bb[..., :2] - c_anc[..., :2]) / c_anc[..., 2:] - norm.mu_xy) / norm.sigma_xy
    offset_wh = (torch.log(eps + c_bb[..., 2:] / c_anc[..., 2:]) - norm.mu_wh) / norm.sigma_wh
    return torch.cat((offset_xy, offset_wh), dim=-1)


def offset_inverse(anchors: Tensor, offset_preds: Tensor, norm: OffsetNormalization = BOOK_NORMALIZATION) -> Tensor:
    """Decode offsets back to boxes (the inverse of `offset_boxes`, without its ``eps``).

    Args:
        anchors (Tensor[..., 4]): ``(x1, y1, x2, y2)``; broadcasts with ``offset_preds``.
        offset_preds (Tensor[..., 4]): offsets ``(dx, dy, dw, dh)``.

    Returns:
        Tensor[..., 4]: the predicted boxes in ``(x1, y1, x2, y2)`` format.
    """
    c_anc = box_corner_to_center(anchors)
    xy = (offset_preds[..., :2] * norm.sigma_xy + norm.mu_xy) * c_anc[..., 2:] + c_anc[..., :2]
    wh = torch.exp(offset_preds[..., 2:] * norm.sigma_wh + norm.mu_wh) * c_anc[..., 2:]
    return box_center_to_corner(torch.cat((xy, wh), dim=-1))


def multibox_target(
    anchors: Tensor,
    labels: Tensor,
    iou_threshold: float = 0.5,
    eps: float = 1e-6,
    norm: OffsetNormalization = BOOK_NORMALIZATION,
) -> tuple[Tensor, Tensor, Tensor]:
    """Label anchors with classes and offsets from ground truth, for a whole batch at once.

    Per image this equals the book's function: `assign_anchor_to_bbox` on the image's real boxes, class
    ``c + 1`` for an anchor assigned to a box of class c (`BACKGROUND` = 0 otherwise), `offset_boxes` targets
    masked to assigned anchors. Rows whose class is `PADDING_CLASS` (-1) are ignored.

    Args:
        anchors (Tensor[1, A, 4] or Tensor[A, 4]): normalised ``(x1, y1, x2, y2)`` anchors.
        labels (Tensor[B, G, 5]): rows ``[class, x1, y1, x2, y2]``, normalised; padding rows have class -1.
        iou_threshold, eps, norm: as in `assign_anchor_to_bbox` and `offset_boxes`.

    Returns:
        bbox_offset (Tensor[B, A * 4]): offset targets, 0 for unassigned anchors.
        bbox_mask (Tensor[B, A * 4]): 1.0 where the anchor is assigned, else 0.0 (4 entries per anchor).
        class_labels (Tensor[B, A], int64): class + 1 of the assigned box, or `BACKGROUND` (0).
    """
    anchors = anchors.reshape(-1, 4)  # (A, 4)
    if labels.dim() != 3 or labels.shape[-1] != 5:
        raise ValueError(f"labels must have shape (B, G, 5), got {tuple(labels.shape)}.")
    batch, num_gt = labels.shape[:2]
    num_anc = anchors.shape[0]
    device, dtype = anchors.device, anchors.dtype
    gt_boxes = labels[..., 1:].to(dtype)  # (B, G, 4)
    # (B, G, A), anchors innermost: contiguous rows make the reductions below fast.
    iou = box_iou(gt_boxes, anchors)
    pad_b, pad_g = torch.nonzero(labels[..., 0] == PADDING_CLASS, as_tuple=True)
    iou[pad_b, pad_g] = DISCARDED_IOU  # padding rows take no part

    # Threshold step: each anchor's best box if its IoU is high enough.
    anc_map = torch.full((batch, num_anc), UNASSIGNED, dtype=torch.long, device=device)
    if num_gt > 0:
        b_idx, a_idx = torch.nonzero(iou.amax(dim=1) >= iou_threshold, as_tuple=True)  # (K,), (K,)
        anc_map[b_idx, a_idx] = iou[b_idx, :, a_idx].argmax(dim=1)  # (K, G) -> first best box

    # Greedy step, all images at once (numpy: its row argmax is ~10x faster). Each round takes every image's
    # largest remaining entry, ties broken as the book's argmax over the (A, G) matrix: smallest anchor, then
    # smallest box. Each column's first maximum over anchors is found; then among the columns holding the
    # image's maximum, the one whose anchor is smallest.
    work = iou.cpu().numpy()  # the threshold step no longer needs it: discard in place
    rows = work.reshape(batch * num_gt, num_anc)  # (B * G, A) view
    greedy_map = anc_map.cpu().numpy()
    gt_range = np.arange(num_gt)
    for _ in range(min(num_anc, num_gt)):
        col_arg = rows.argmax(axis=1).reshape(batch, num_gt)  # (B, G) first best anchor of each column
        col_max = np.take_along_axis(work, col_arg[..., None], axis=2)[..., 0]  # (B, G)
        best = col_max.max(axis=1)  # (B,)
        live = np.nonzero(best > DISCARDED_IOU)[0]  # images that still have an unused real box
        if live.size == 0:
            break
        key = np.where(col_max == best[:, None], col_arg * num_gt + gt_range, np.iinfo(np.int64).max)  # (B, G)
        flat = key[live].min(axis=1)  # (L,) row-major index of the first maximum
        anc, gt = flat // num_gt, flat % num_gt
        greedy_map[live, anc] = gt
        work[live, gt, :] = DISCARDED_IOU
        work[live, :, anc] = DISCARDED_IOU
    anc_map = torch.from_numpy(greedy_map).to(device)

    # Targets only for the few assigned anchors; everything else stays 0.
    b_idx, a_idx = torch.nonzero(anc_map >= 0, as_tuple=True)  # (K,), (K,)
    g_idx = anc_map[b_idx, a_idx]  # (K,)
    class_labels = torch.full((batch, num_anc), BACKGROUND, dtype=torch.long, device=device)
    class_labels[b_idx, a_idx] = labels[b_idx, g_idx, 0].long() + 1
    bbox_offset = torch.zeros(batch, num_anc, 4, dtype=dtype, device=device)
    bbox_offset[b_idx, a_idx] = offset_boxes(anchors[a_idx], gt_boxes[b_idx, g_idx], eps=eps, norm=norm)  # (K, 4)
    bbox_mask = torch.zeros(batch, num_anc, 4, dtype=dtype, device=device)
    bbox_mask[b_idx, a_idx] = 1.0
    return bbox_offset.reshape(batch, -1), bbox_mask.reshape(batch, -1), class_labels  # (B, A*4), (B, A*4), (B, A)
