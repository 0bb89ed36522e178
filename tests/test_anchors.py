"""core.ops.anchors against the book's printed values and against plain-loop references written like the book."""

from __future__ import annotations

import math

import pytest
import torch

from core.ops.anchors import (
    BACKGROUND,
    DISCARDED_IOU,
    UNASSIGNED,
    OffsetNormalization,
    anchor_pairs,
    anchor_shapes,
    anchors_at_pixel,
    assign_anchor_to_bbox,
    assign_anchor_to_bbox_steps,
    grid_anchors,
    multibox_prior,
    multibox_target,
    num_anchors,
    offset_boxes,
    offset_inverse,
)
from core.ops.boxes import box_iou

SIZES, RATIOS = [0.75, 0.5, 0.25], [1, 2, 0.5]
# The book's labeling example: the dog (class 0) and the cat (class 1), and five anchors.
GROUND_TRUTH = torch.tensor([[0, 0.1, 0.08, 0.52, 0.92], [1, 0.55, 0.2, 0.9, 0.88]])
ANCHORS = torch.tensor(
    [
        [0, 0.1, 0.2, 0.3],
        [0.15, 0.2, 0.4, 0.4],
        [0.63, 0.05, 0.88, 0.98],
        [0.66, 0.45, 0.8, 0.8],
        [0.57, 0.3, 0.92, 0.9],
    ]
)


# --- references: plain loops, one anchor / one image at a time -----------------------------------------------


def ref_multibox_prior(in_h: int, in_w: int, sizes: list[float], ratios: list[float]) -> torch.Tensor:
    out = []
    for i in range(in_h):
        for j in range(in_w):
            cy, cx = (i + 0.5) / in_h, (j + 0.5) / in_w
            for s, r in [(s, ratios[0]) for s in sizes] + [(sizes[0], r) for r in ratios[1:]]:
                w, h = s * math.sqrt(r) * in_h / in_w, s / math.sqrt(r)
                out.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    return torch.tensor(out, dtype=torch.float64)


def ref_assign(gt: torch.Tensor, anchors: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    iou = box_iou(anchors, gt).tolist()
    num_a, num_g = len(iou), len(gt)
    amap = [-1] * num_a
    for a in range(num_a if num_g else 0):
        best = max(range(num_g), key=lambda g: (iou[a][g], -g))  # first maximum
        if iou[a][best] >= threshold:
            amap[a] = best
    for _ in range(min(num_a, num_g)):
        best_val, best_a, best_g = -math.inf, -1, -1
        for a in range(num_a):
            for g in range(num_g):
                if iou[a][g] > best_val:
                    best_val, best_a, best_g = iou[a][g], a, g
        amap[best_a] = best_g
        for g in range(num_g):
            iou[best_a][g] = -1.0
        for a in range(num_a):
            iou[a][best_g] = -1.0
    return torch.tensor(amap)


def ref_offsets(anchor: list[float], box: list[float]) -> list[float]:
    ax, ay = (anchor[0] + anchor[2]) / 2, (anchor[1] + anchor[3]) / 2
    aw, ah = anchor[2] - anchor[0], anchor[3] - anchor[1]
    bx, by = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    bw, bh = box[2] - box[0], box[3] - box[1]
    return [10 * (bx - ax) / aw, 10 * (by - ay) / ah, 5 * math.log(1e-6 + bw / aw), 5 * math.log(1e-6 + bh / ah)]


def ref_multibox_target(anchors: torch.Tensor, labels: torch.Tensor):
    offsets, masks, classes = [], [], []
    for label in labels:
        label = label[label[:, 0] != -1]
        amap = ref_assign(label[:, 1:], anchors).tolist()
        off, mask, cls = [], [], []
        for a, g in enumerate(amap):
            if g < 0:
                off += [0.0] * 4
                mask += [0.0] * 4
                cls.append(0)
            else:
                off += ref_offsets(anchors[a].tolist(), label[g, 1:].tolist())
                mask += [1.0] * 4
                cls.append(int(label[g, 0]) + 1)
        offsets.append(off)
        masks.append(mask)
        classes.append(cls)
    return torch.tensor(offsets), torch.tensor(masks), torch.tensor(classes)


# --- generation ------------------------------------------------------------------------------------------------


def test_multibox_prior_book_example() -> None:
    data = torch.rand(1, 3, 561, 728)
    anchors = multibox_prior(data, SIZES, RATIOS)
    assert anchors.shape == (1, 561 * 728 * 5, 4)
    assert anchors.dtype == torch.float32
    boxes = anchors.reshape(561, 728, 5, 4)  # (h, w, n + m - 1, 4)
    torch.testing.assert_close(boxes[250, 250, 0], torch.tensor([0.06, 0.07, 0.63, 0.82]), atol=0.005, rtol=0)
    # The book's printed value for this anchor, with 4 decimals.
    torch.testing.assert_close(boxes[250, 250, 0], torch.tensor([0.0551, 0.0715, 0.6331, 0.8215]), atol=5e-5, rtol=0)


def test_multibox_prior_matches_plain_loop() -> None:
    for in_h, in_w, sizes, ratios in [(5, 7, SIZES, RATIOS), (3, 2, [0.3], [1.0]), (4, 4, [0.2, 0.6], [0.5, 3.0])]:
        got = multibox_prior(torch.zeros(in_h, in_w), sizes, ratios)
        assert got.shape == (1, in_h * in_w * (len(sizes) + len(ratios) - 1), 4)
        torch.testing.assert_close(got[0].double(), ref_multibox_prior(in_h, in_w, sizes, ratios), atol=1e-6, rtol=0)


def test_anchors_at_pixel_equals_full_grid() -> None:
    full = multibox_prior(torch.zeros(561, 728), SIZES, RATIOS).reshape(561, 728, 5, 4)
    for row, col in [(250, 250), (0, 0), (560, 727), (13, 600)]:
        assert torch.equal(anchors_at_pixel((561, 728), row, col, SIZES, RATIOS), full[row, col])
    with pytest.raises(ValueError, match="outside"):
        anchors_at_pixel((561, 728), 561, 0, SIZES, RATIOS)


def test_anchor_shapes_pixels() -> None:
    shapes = anchor_shapes(SIZES, RATIOS, (561, 728))
    assert [(a.size, a.ratio) for a in shapes] == anchor_pairs(SIZES, RATIOS) == [
        (0.75, 1.0), (0.5, 1.0), (0.25, 1.0), (0.75, 2.0), (0.75, 0.5)
    ]
    first = shapes[0]
    assert first.width_px == pytest.approx(0.75 * 561) and first.height_px == pytest.approx(0.75 * 561)
    wide = shapes[3]
    assert wide.width_px == pytest.approx(0.75 * math.sqrt(2) * 561)
    assert wide.height_px == pytest.approx(0.75 / math.sqrt(2) * 561)
    assert wide.width_px / wide.height_px == pytest.approx(2.0)
    assert wide.area_px == pytest.approx((0.75 * 561) ** 2)
    # Agrees with the generated anchors scaled to pixels.
    px = anchors_at_pixel((561, 728), 250, 250, SIZES, RATIOS) * torch.tensor([728, 561, 728, 561])
    for shape, box in zip(shapes, px):
        assert (box[2] - box[0]).item() == pytest.approx(shape.width_px, rel=1e-5)
        assert (box[3] - box[1]).item() == pytest.approx(shape.height_px, rel=1e-5)


def test_num_anchors_and_grid() -> None:
    assert num_anchors((561, 728), 3, 3) == 561 * 728 * 5
    assert num_anchors((561, 728), 3, 3, all_pairs=True) == 561 * 728 * 9
    grid = grid_anchors((2, 2), [0.4], [1, 2, 0.5])  # the book's display_anchors(fmap_w=2, fmap_h=2, s=[0.4])
    assert grid.shape == (2 * 2 * 3, 4)
    centers = (grid[:, :2] + grid[:, 2:]) / 2
    assert sorted({round(v, 4) for v in centers[:, 0].tolist()}) == [0.25, 0.75]
    torch.testing.assert_close(grid[0], torch.tensor([0.25 - 0.2, 0.25 - 0.2, 0.25 + 0.2, 0.25 + 0.2]))
    with pytest.raises(ValueError):
        grid_anchors((0, 3), [0.4], [1])


@pytest.mark.parametrize("sizes,ratios", [([], [1]), ([0.5], []), ([0.5, -1], [1]), ([0.5], [0])])
def test_bad_sizes_ratios(sizes: list, ratios: list) -> None:
    with pytest.raises(ValueError):
        multibox_prior(torch.zeros(4, 4), sizes, ratios)


# --- labeling ------------------------------------------------------------------------------------------------


def test_assign_book_example_and_steps() -> None:
    trace = assign_anchor_to_bbox_steps(GROUND_TRUTH[:, 1:], ANCHORS)
    assert trace.anchors_bbox_map.tolist() == [UNASSIGNED, 0, 1, UNASSIGNED, 1]
    assert trace.threshold_map.tolist() == [-1, -1, 1, -1, 1]
    # The greedy: first the cat with anchor 4 (IoU 0.75), then the dog with anchor 1 (IoU 0.14).
    assert [(s.anchor, s.gt) for s in trace.steps] == [(4, 1), (1, 0)]
    assert trace.steps[0].iou == pytest.approx(0.7459, abs=1e-4)
    assert trace.steps[1].iou == pytest.approx(0.1417, abs=1e-4)
    after = trace.steps[0].iou_after
    assert (after[4] == DISCARDED_IOU).all() and (after[:, 1] == DISCARDED_IOU).all()
    assert (trace.steps[-1].iou_after == DISCARDED_IOU).all()
    assert torch.equal(assign_anchor_to_bbox(GROUND_TRUTH[:, 1:], ANCHORS), trace.anchors_bbox_map)


def test_assign_matches_reference_random() -> None:
    g = torch.Generator().manual_seed(0)
    for trial in range(30):
        num_a, num_g = int(torch.randint(1, 40, (1,), generator=g)), int(torch.randint(1, 8, (1,), generator=g))
        anchors, gt = _random_boxes(num_a, g), _random_boxes(num_g, g)
        threshold = [0.5, 0.3, 0.0][trial % 3]
        assert torch.equal(assign_anchor_to_bbox(gt, anchors, threshold), ref_assign(gt, anchors, threshold))


def test_assign_empty_ground_truth() -> None:
    trace = assign_anchor_to_bbox_steps(torch.zeros(0, 4), ANCHORS)
    assert trace.anchors_bbox_map.tolist() == [UNASSIGNED] * 5 and trace.steps == []


def test_multibox_target_book_example() -> None:
    bbox_offset, bbox_mask, class_labels = multibox_target(ANCHORS.unsqueeze(0), GROUND_TRUTH.unsqueeze(0))
    assert class_labels.tolist() == [[0, 1, 2, 0, 2]]
    assert class_labels.dtype == torch.int64
    assert bbox_mask.tolist() == [[0.0] * 4 + [1.0] * 8 + [0.0] * 4 + [1.0] * 4]
    # The book's printed offsets.
    book = torch.tensor(
        [[0, 0, 0, 0, 1.40, 10.0, 2.59, 7.18, -1.20, 0.269, 1.68, -1.57, 0, 0, 0, 0, -0.571, -1.00, 4.17e-06, 0.626]]
    )
    torch.testing.assert_close(bbox_offset, book, atol=0.006, rtol=0.01)
    ref_offset, ref_mask, ref_cls = ref_multibox_target(ANCHORS, GROUND_TRUTH.unsqueeze(0))
    torch.testing.assert_close(bbox_offset, ref_offset, atol=1e-4, rtol=1e-4)


def test_multibox_target_batched_with_padding_matches_reference() -> None:
    g = torch.Generator().manual_seed(1)
    anchors = multibox_prior(torch.zeros(6, 6), [0.2, 0.4], [1, 2, 0.5])  # (1, 144, 4)
    batch, num_g = 5, 4
    boxes = _random_boxes(batch * num_g, g, scale=1.0).reshape(batch, num_g, 4)
    classes = torch.randint(0, 3, (batch, num_g, 1), generator=g).float()
    labels = torch.cat((classes, boxes), dim=-1)
    labels[1, 2:, :] = -1  # padding rows, as in the book's banana dataset
    labels[3, :, :] = -1  # an image with no objects
    labels[4, 0, 0] = -1  # padding first, real boxes after it
    offset, mask, cls = multibox_target(anchors, labels)
    assert offset.shape == mask.shape == (batch, 144 * 4) and cls.shape == (batch, 144)
    ref_offset, ref_mask, ref_cls = ref_multibox_target(anchors[0], labels)
    assert torch.equal(cls, ref_cls)
    assert torch.equal(mask, ref_mask)
    torch.testing.assert_close(offset, ref_offset, atol=1e-4, rtol=1e-4)
    assert (cls[3] == BACKGROUND).all() and (mask[3] == 0).all()


def test_offsets_round_trip_and_normalization() -> None:
    g = torch.Generator().manual_seed(2)
    anchors, boxes = _random_boxes(20, g), _random_boxes(20, g)
    offsets = offset_boxes(anchors, boxes, eps=0.0)
    torch.testing.assert_close(offset_inverse(anchors, offsets), boxes, atol=1e-5, rtol=1e-5)
    custom = OffsetNormalization(mu_xy=0.1, mu_wh=-0.2, sigma_xy=1.0, sigma_wh=1.0)
    raw = offset_boxes(anchors, boxes, eps=0.0, norm=OffsetNormalization(sigma_xy=1.0, sigma_wh=1.0))
    torch.testing.assert_close(offsets[:, :2], raw[:, :2] / 0.1)
    torch.testing.assert_close(offsets[:, 2:], raw[:, 2:] / 0.2)
    shifted = offset_boxes(anchors, boxes, eps=0.0, norm=custom)
    torch.testing.assert_close(shifted, raw - torch.tensor([0.1, 0.1, -0.2, -0.2]))
    torch.testing.assert_close(offset_inverse(anchors, shifted, norm=custom), boxes, atol=1e-5, rtol=1e-5)
    # Zero offsets decode to the anchors themselves; broadcasting over a batch.
    torch.testing.assert_close(offset_inverse(anchors[None], torch.zeros(3, 20, 4)), anchors.expand(3, 20, 4))


def _random_boxes(n: int, g: torch.Generator, scale: float = 1.0) -> torch.Tensor:
    xy = torch.rand(n, 2, generator=g) * 0.7 * scale
    wh = (torch.rand(n, 2, generator=g) * 0.3 + 0.02) * scale
    return torch.cat((xy, xy + wh), dim=1)


def test_multibox_target_ties_match_single_image_assignment() -> None:
    # Regular anchors and boxes on the same grid: many exactly equal IoUs; duplicated boxes tie everywhere.
    anchors = multibox_prior(torch.zeros(8, 8), [0.25], [1.0])  # (1, 64, 4)
    boxes = torch.tensor(
        [[0.25, 0.25, 0.5, 0.5], [0.25, 0.25, 0.5, 0.5], [0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 0.75, 0.875]]
    )
    labels = torch.cat((torch.tensor([[0.0], [1.0], [2.0], [1.0]]), boxes), dim=1)
    batch = torch.stack((labels, labels.flip(0), labels[[2, 0, 3, 1]]))  # (3, 4, 5)
    for threshold in (0.5, 0.2):
        _, _, cls = multibox_target(anchors, batch, iou_threshold=threshold)
        for b in range(3):
            amap = assign_anchor_to_bbox(batch[b, :, 1:], anchors[0], threshold)
            assert torch.equal(amap, ref_assign(batch[b, :, 1:], anchors[0], threshold))
            expected = torch.where(amap >= 0, batch[b, amap.clamp(min=0), 0].long() + 1, BACKGROUND)
            assert torch.equal(cls[b], expected), (threshold, b)
