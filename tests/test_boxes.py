"""core.ops.boxes: the book's values, torchvision.ops, and properties (hypothesis)."""

from __future__ import annotations

import torch
import torchvision
from hypothesis import given, settings
from hypothesis import strategies as st

from core.ops.boxes import (
    box_area,
    box_center_to_corner,
    box_corner_to_center,
    box_intersection,
    box_iou,
)

# The book's dog and cat boxes (pixels, 561x728 catdog image).
DOG = [60.0, 45.0, 378.0, 516.0]
CAT = [400.0, 112.0, 655.0, 493.0]


def test_book_round_trip_and_center_values() -> None:
    boxes = torch.tensor([DOG, CAT])
    center = box_corner_to_center(boxes)
    torch.testing.assert_close(center[0], torch.tensor([219.0, 280.5, 318.0, 471.0]))
    torch.testing.assert_close(center[1], torch.tensor([527.5, 302.5, 255.0, 381.0]))
    assert torch.equal(box_center_to_corner(center), boxes)


def test_conversions_match_torchvision_box_convert() -> None:
    g = torch.Generator().manual_seed(0)
    boxes = _random_boxes(50, g)
    torch.testing.assert_close(box_corner_to_center(boxes), torchvision.ops.box_convert(boxes, "xyxy", "cxcywh"))
    center = box_corner_to_center(boxes)
    torch.testing.assert_close(box_center_to_corner(center), torchvision.ops.box_convert(center, "cxcywh", "xyxy"))


def test_conversions_keep_leading_dims() -> None:
    boxes = torch.rand(2, 3, 5, 4)
    assert box_corner_to_center(boxes).shape == (2, 3, 5, 4)
    assert box_center_to_corner(boxes).shape == (2, 3, 5, 4)
    assert box_area(boxes).shape == (2, 3, 5)


def test_iou_hand_computed() -> None:
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    b = torch.tensor([[1.0, 1.0, 3.0, 3.0], [2.0, 2.0, 3.0, 3.0], [0.0, 0.0, 2.0, 1.0], [5.0, 5.0, 6.0, 6.0]])
    # overlap 1, union 4 + 4 - 1 = 7; touching corner: 0; contained half: 2 / 4; disjoint: 0
    torch.testing.assert_close(box_iou(a, b), torch.tensor([[1 / 7, 0.0, 0.5, 0.0]]))


def test_iou_matches_torchvision() -> None:
    g = torch.Generator().manual_seed(1)
    a, b = _random_boxes(40, g), _random_boxes(30, g)
    torch.testing.assert_close(box_iou(a, b), torchvision.ops.box_iou(a, b))
    torch.testing.assert_close(box_iou(a.double(), b.double()), torchvision.ops.box_iou(a.double(), b.double()))


def test_iou_zero_area_is_zero_not_nan() -> None:
    point = torch.tensor([[1.0, 1.0, 1.0, 1.0]])
    line = torch.tensor([[0.0, 1.0, 3.0, 1.0]])
    box = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    assert torch.isnan(torchvision.ops.box_iou(point, point)).all()  # the library's behaviour we fix
    for x, y in [(point, point), (point, line), (line, line), (point, box), (box, line)]:
        iou = box_iou(x, y)
        assert torch.isfinite(iou).all()
        assert iou.item() == 0.0


def test_iou_integer_boxes() -> None:
    a = torch.tensor([[0, 0, 2, 2]])
    b = torch.tensor([[1, 1, 3, 3]])
    torch.testing.assert_close(box_iou(a, b), torch.tensor([[1 / 7]]))


def test_iou_empty_inputs() -> None:
    assert box_iou(torch.zeros(0, 4), torch.rand(3, 4)).shape == (0, 3)
    assert box_iou(torch.rand(3, 4), torch.zeros(0, 4)).shape == (3, 0)


def test_intersection_boxes() -> None:
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    b = torch.tensor([[1.0, 1.0, 3.0, 3.0], [5.0, 0.0, 6.0, 1.0]])
    inter = box_intersection(a, b)
    assert inter.shape == (1, 2, 4)
    torch.testing.assert_close(inter[0, 0], torch.tensor([1.0, 1.0, 2.0, 2.0]))
    assert box_area(inter[0, 1]).item() == 0.0  # disjoint: an empty box
    g = torch.Generator().manual_seed(2)
    x, y = _random_boxes(20, g), _random_boxes(10, g)
    iou = box_area(box_intersection(x, y)) / (box_area(x)[:, None] + box_area(y) - box_area(box_intersection(x, y)))
    torch.testing.assert_close(iou, box_iou(x, y))


# --- properties -------------------------------------------------------------------------------------------

coord = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False, width=32)
extent = st.floats(min_value=0.0, max_value=1e3, allow_nan=False, allow_infinity=False, width=32)
box_lists = st.lists(st.tuples(coord, coord, extent, extent), min_size=1, max_size=8)


def _to_corner(raw: list[tuple[float, float, float, float]]) -> torch.Tensor:
    xywh = torch.tensor(raw, dtype=torch.float64)
    return torch.cat((xywh[:, :2], xywh[:, :2] + xywh[:, 2:]), dim=1)


@settings(max_examples=60, deadline=None)
@given(box_lists)
def test_property_round_trip(raw: list[tuple[float, float, float, float]]) -> None:
    boxes = _to_corner(raw)
    torch.testing.assert_close(box_center_to_corner(box_corner_to_center(boxes)), boxes, rtol=0, atol=1e-9)
    center = box_corner_to_center(boxes)
    torch.testing.assert_close(box_corner_to_center(box_center_to_corner(center)), center, rtol=0, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(box_lists, box_lists)
def test_property_iou_symmetric_in_range(raw1: list, raw2: list) -> None:
    a, b = _to_corner(raw1), _to_corner(raw2)
    iou = box_iou(a, b)
    assert torch.isfinite(iou).all()
    assert (iou >= 0).all() and (iou <= 1 + 1e-12).all()
    torch.testing.assert_close(iou, box_iou(b, a).T)


@settings(max_examples=60, deadline=None)
@given(box_lists)
def test_property_iou_with_itself_is_one(raw: list) -> None:
    boxes = _to_corner(raw)
    diag = box_iou(boxes, boxes).diagonal()
    positive = box_area(boxes) > 0
    torch.testing.assert_close(diag[positive], torch.ones_like(diag[positive]))
    assert (diag[~positive] == 0).all()


def _random_boxes(n: int, g: torch.Generator) -> torch.Tensor:
    xy = torch.rand(n, 2, generator=g) * 100
    wh = torch.rand(n, 2, generator=g) * 50 + 0.5
    return torch.cat((xy, xy + wh), dim=1)


def test_iou_batched_leading_dims() -> None:
    g = torch.Generator().manual_seed(3)
    anchors = _random_boxes(7, g)
    gts = torch.stack([_random_boxes(3, g), _random_boxes(3, g)])  # (B=2, G=3, 4)
    batched = box_iou(anchors, gts)  # (2, 7, 3)
    assert batched.shape == (2, 7, 3)
    for b in range(2):
        torch.testing.assert_close(batched[b], torchvision.ops.box_iou(anchors, gts[b]))
