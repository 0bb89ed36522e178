"""Bounding-box helpers: format conversion, area, intersection and IoU.

Formats (torchvision's names):

- corner form ``xyxy``: ``(x1, y1, x2, y2)``, the upper-left and lower-right corners, ``x1 <= x2``, ``y1 <= y2``;
- center form ``cxcywh``: ``(cx, cy, w, h)``, the center, the width and the height.

Every function works on tensors whose last dimension holds the 4 coordinates; pairwise functions take
``(N, 4)`` and ``(M, 4)`` and return ``(N, M)`` (or ``(N, M, 4)``). Coordinates may be pixels or normalised
to [0, 1]; IoU is scale free.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "box_corner_to_center",
    "box_center_to_corner",
    "box_area",
    "box_intersection",
    "box_inter_union",
    "box_iou",
]


def box_corner_to_center(boxes: Tensor) -> Tensor:
    """Convert corner boxes to center boxes.

    Args:
        boxes (Tensor[..., 4]): boxes in ``(x1, y1, x2, y2)`` format.

    Returns:
        Tensor[..., 4]: the same boxes in ``(cx, cy, w, h)`` format.
    """
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1), dim=-1)


def box_center_to_corner(boxes: Tensor) -> Tensor:
    """Convert center boxes to corner boxes.

    Args:
        boxes (Tensor[..., 4]): boxes in ``(cx, cy, w, h)`` format.

    Returns:
        Tensor[..., 4]: the same boxes in ``(x1, y1, x2, y2)`` format.
    """
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack((cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h), dim=-1)


def box_area(boxes: Tensor) -> Tensor:
    """Area of corner boxes.

    Args:
        boxes (Tensor[..., 4]): boxes in ``(x1, y1, x2, y2)`` format.

    Returns:
        Tensor[...]: ``(x2 - x1) * (y2 - y1)``.
    """
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def box_intersection(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Pairwise intersection rectangles (for drawing the overlap).

    Args:
        boxes1 (Tensor[N, 4]): boxes in ``(x1, y1, x2, y2)`` format.
        boxes2 (Tensor[M, 4]): boxes in ``(x1, y1, x2, y2)`` format.

    Returns:
        Tensor[N, M, 4]: the intersection of ``boxes1[i]`` and ``boxes2[j]`` in ``(x1, y1, x2, y2)`` format.
        Disjoint pairs give an empty box (``x2 == x1`` and/or ``y2 == y1``, area 0) placed at the clamped corner.
    """
    lt = torch.maximum(boxes1[:, None, :2], boxes2[None, :, :2])  # (N, M, 2)
    rb = torch.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])  # (N, M, 2)
    rb = torch.maximum(rb, lt)  # empty intersections collapse to zero width/height
    return torch.cat((lt, rb), dim=-1)


def box_inter_union(boxes1: Tensor, boxes2: Tensor) -> tuple[Tensor, Tensor]:
    """Pairwise intersection and union areas.

    Args:
        boxes1 (Tensor[..., N, 4]): boxes in ``(x1, y1, x2, y2)`` format.
        boxes2 (Tensor[..., M, 4]): boxes in ``(x1, y1, x2, y2)`` format; leading dims broadcast with boxes1's.

    Returns:
        tuple[Tensor[..., N, M], Tensor[..., N, M]]: intersection areas and union areas.
    """
    if not boxes1.is_floating_point():
        boxes1 = boxes1.float()
    if not boxes2.is_floating_point():
        boxes2 = boxes2.float()
    # Columns (..., N, 1) against rows (..., 1, M): every pairwise tensor below is a contiguous (..., N, M).
    x1a, y1a, x2a, y2a = (c.unsqueeze(-1) for c in boxes1.unbind(-1))
    # boxes2's coordinates run along the inner dimension: make them contiguous (stride 1, not 4) to vectorise.
    x1b, y1b, x2b, y2b = (c.contiguous().unsqueeze(-2) for c in boxes2.unbind(-1))
    area1 = (x2a - x1a) * (y2a - y1a)  # (..., N, 1)
    area2 = (x2b - x1b) * (y2b - y1b)  # (..., 1, M)
    # In-place ops on two (N, M) buffers: this is ~5x faster than building (N, M, 2) tensors.
    inter = torch.minimum(x2a, x2b)
    tmp = torch.maximum(x1a, x1b)
    inter.sub_(tmp).clamp_(min=0)  # overlap width
    height = torch.minimum(y2a, y2b)
    torch.maximum(y1a, y1b, out=tmp)
    height.sub_(tmp).clamp_(min=0)  # overlap height
    inter.mul_(height)
    union = torch.add(area1, area2, out=height).sub_(inter)
    return inter, union


def box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Pairwise intersection over union (Jaccard index).

    Args:
        boxes1 (Tensor[N, 4]): boxes in ``(x1, y1, x2, y2)`` format (or Tensor[..., N, 4], batched).
        boxes2 (Tensor[M, 4]): boxes in ``(x1, y1, x2, y2)`` format (or Tensor[..., M, 4]; leading dims broadcast).

    Returns:
        Tensor[N, M]: IoU of every pair (Tensor[..., N, M] when batched), in [0, 1]. Pairs of zero-area boxes
        give 0 (torchvision gives NaN): their intersection is 0 and the union is clamped to the smallest positive
        normal number.
    """
    inter, union = box_inter_union(boxes1, boxes2)
    return inter.div_(union.clamp_(min=torch.finfo(union.dtype).tiny))
