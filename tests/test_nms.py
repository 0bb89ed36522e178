"""core.ops.nms against torchvision.ops (nms, batched_nms) and the book's multibox_detection example."""

from __future__ import annotations

import pytest
import torch
import torchvision

from core.ops.anchors import offset_inverse
from core.ops.boxes import box_iou
from core.ops.nms import REMOVED, batched_nms, multibox_detection, nms, nms_steps

# The book's example: three boxes on the dog, one on the cat (normalised), and their class probabilities.
BOOK_ANCHORS = torch.tensor(
    [[0.1, 0.08, 0.52, 0.92], [0.08, 0.2, 0.56, 0.95], [0.15, 0.3, 0.62, 0.91], [0.55, 0.2, 0.9, 0.88]]
)
BOOK_CLS_PROBS = torch.tensor([[0.0] * 4, [0.9, 0.8, 0.7, 0.1], [0.1, 0.2, 0.3, 0.9]])  # background, dog, cat


def clustered_boxes(
    n: int, g: torch.Generator, clusters: int = 8, img: float = 100.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Detector-like candidates: jittered boxes around a few objects, random scores."""
    cxy = torch.rand(clusters, 2, generator=g) * img
    cwh = torch.rand(clusters, 2, generator=g) * img * 0.3 + 2
    k = torch.randint(0, clusters, (n,), generator=g)
    xy = cxy[k] + torch.randn(n, 2, generator=g) * cwh[k] * 0.15
    wh = cwh[k] * torch.exp(torch.randn(n, 2, generator=g) * 0.2)
    return torch.cat((xy - wh / 2, xy + wh / 2), dim=1), torch.rand(n, generator=g)


def ref_nms_loop(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> list[int]:
    """The textbook loop, on Python floats (for a clear-cut reference away from ties and edge IoUs)."""
    order = sorted(range(len(scores)), key=lambda i: -float(scores[i]))
    iou = box_iou(boxes.double(), boxes.double())
    keep, removed = [], set()
    for i in order:
        if i in removed:
            continue
        keep.append(i)
        removed.update(j for j in order if j not in removed and iou[i, j] > threshold)
    return keep


def test_book_example() -> None:
    scores = BOOK_CLS_PROBS[1:].max(dim=0).values  # [0.9, 0.8, 0.7, 0.9]
    keep = nms(BOOK_ANCHORS, scores, 0.5)
    assert keep.tolist() == [0, 3]
    steps = nms_steps(BOOK_ANCHORS, scores, 0.5)
    assert [s.baseline for s in steps] == [0, 3]
    assert steps[0].suppressed == [1, 2]
    torch.testing.assert_close(torch.tensor(steps[0].ious), box_iou(BOOK_ANCHORS[:1], BOOK_ANCHORS[1:3])[0])
    assert steps[1].suppressed == [] and steps[1].score == pytest.approx(0.9)


@pytest.mark.parametrize("n", [0, 1, 2, 7, 60, 300, 1500])
@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.7, 1.0])
def test_equals_torchvision_random(n: int, threshold: float) -> None:
    g = torch.Generator().manual_seed(n * 7 + int(threshold * 10))
    boxes, scores = clustered_boxes(n, g, clusters=max(1, n // 40))
    assert torch.equal(nms(boxes, scores, threshold), torchvision.ops.nms(boxes, scores, threshold))


def test_equals_torchvision_ties_duplicates_degenerate() -> None:
    g = torch.Generator().manual_seed(3)
    for trial in range(20):
        n = [5, 40, 400][trial % 3]
        boxes, _ = clustered_boxes(n, g, clusters=3)
        boxes = boxes.round()  # integer coordinates: many identical IoUs
        boxes[::5] = boxes[1::5][: boxes[::5].shape[0]] if n > 5 else boxes[::5]  # exact duplicate boxes
        boxes[::7, 2] = boxes[::7, 0]  # zero-width boxes (IoU 0/0 with each other)
        scores = torch.randint(0, 4, (n,), generator=g).float() / 4  # heavy ties
        for threshold in (0.0, 0.25, 0.5, 1.0, 0.3333333333):
            expected = torchvision.ops.nms(boxes, scores, threshold)
            assert torch.equal(nms(boxes, scores, threshold), expected), (trial, threshold)
            assert [s.baseline for s in nms_steps(boxes, scores, threshold)] == expected.tolist()


def test_threshold_compared_in_double_like_torchvision() -> None:
    # IoU of these two boxes is exactly 0.3f in float32, which is > 0.3 (double) but == float32(0.3).
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 3.0]])
    scores = torch.tensor([1.0, 0.5])
    iou = box_iou(boxes, boxes)[0, 1]
    assert iou.item() == torch.tensor(0.3).item()
    assert torch.equal(nms(boxes, scores, 0.3), torchvision.ops.nms(boxes, scores, 0.3))
    assert nms(boxes, scores, 0.3).tolist() == [0]


def test_float64_and_reference_loop() -> None:
    g = torch.Generator().manual_seed(4)
    boxes, scores = clustered_boxes(200, g)
    boxes = boxes.double()
    scores = scores.double()
    assert torch.equal(nms(boxes, scores, 0.45), torchvision.ops.nms(boxes, scores, 0.45))
    assert nms(boxes, scores, 0.45).tolist() == ref_nms_loop(boxes, scores, 0.45)


def test_steps_partition_and_ious() -> None:
    g = torch.Generator().manual_seed(5)
    boxes, scores = clustered_boxes(80, g, clusters=4)
    steps = nms_steps(boxes, scores, 0.5)
    assert [s.baseline for s in steps] == nms(boxes, scores, 0.5).tolist()
    seen = [s.baseline for s in steps] + [j for s in steps for j in s.suppressed]
    assert sorted(seen) == list(range(80))  # every box is kept or suppressed exactly once
    iou = box_iou(boxes, boxes)
    for s in steps:
        for j, v in zip(s.suppressed, s.ious):
            assert v > 0.5 and v == pytest.approx(iou[s.baseline, j].item(), abs=1e-6)
            assert scores[j] <= scores[s.baseline]


def test_batched_nms_equals_torchvision() -> None:
    g = torch.Generator().manual_seed(6)
    for n in (0, 10, 200, 999, 1001, 3000):  # both sides of torchvision's coordinate-trick switch (1000 boxes)
        boxes, scores = clustered_boxes(n, g, clusters=max(1, n // 50))
        idxs = torch.randint(0, 5, (n,), generator=g)
        expected = torchvision.ops.batched_nms(boxes, scores, idxs, 0.5)
        assert torch.equal(batched_nms(boxes, scores, idxs, 0.5), expected), n
        if 0 < n <= 200:
            aware = nms_steps(boxes, scores, 0.5, idxs=idxs)
            assert [s.baseline for s in aware] == expected.tolist()
            for s in aware:
                assert all(idxs[j] == idxs[s.baseline] for j in s.suppressed)


def test_bad_shapes() -> None:
    with pytest.raises(ValueError, match="boxes"):
        nms(torch.zeros(3, 5), torch.zeros(3), 0.5)
    with pytest.raises(ValueError, match="scores"):
        nms(torch.zeros(3, 4), torch.zeros(4), 0.5)


def test_multibox_detection_book_example() -> None:
    out = multibox_detection(BOOK_CLS_PROBS.unsqueeze(0), torch.zeros(1, 16), BOOK_ANCHORS.unsqueeze(0), 0.5)
    assert out.shape == (1, 4, 6)
    expected = torch.tensor(
        [
            [0, 0.9, 0.1, 0.08, 0.52, 0.92],
            [1, 0.9, 0.55, 0.2, 0.9, 0.88],
            [-1, 0.8, 0.08, 0.2, 0.56, 0.95],
            [-1, 0.7, 0.15, 0.3, 0.62, 0.91],
        ]
    )
    torch.testing.assert_close(out[0], expected)
    assert REMOVED == -1


def ref_multibox_detection(cls_probs, offset_preds, anchors, nms_threshold=0.5, pos_threshold=0.009999999):
    """The book's algorithm, one anchor at a time."""
    out = []
    for cls_prob, offset in zip(cls_probs, offset_preds):
        conf, class_id = cls_prob[1:].max(dim=0)
        boxes = offset_inverse(anchors, offset.reshape(-1, 4))
        keep = ref_nms_loop(boxes, conf, nms_threshold)
        rows = []
        for a in keep + [a for a in range(len(conf)) if a not in keep]:
            c, p = (int(class_id[a]) if a in keep else -1), float(conf[a])
            if p < pos_threshold:
                c, p = -1, 1 - p
            rows.append([c, p] + boxes[a].tolist())
        out.append(rows)
    return torch.tensor(out)


def test_multibox_detection_random_batch_matches_reference() -> None:
    g = torch.Generator().manual_seed(7)
    num_anc, num_cls, batch = 60, 3, 3
    anchors, _ = clustered_boxes(num_anc, g, clusters=5, img=1.0)
    cls_probs = torch.softmax(torch.randn(batch, num_cls + 1, num_anc, generator=g) * 3, dim=1)
    offsets = torch.randn(batch, num_anc * 4, generator=g) * 0.5
    got = multibox_detection(cls_probs, offsets, anchors[None], nms_threshold=0.4, pos_threshold=0.3)
    torch.testing.assert_close(got, ref_multibox_detection(cls_probs, offsets, anchors, 0.4, 0.3))


def test_candidates_select_and_pixel_boxes_keep_the_picture():
    from core.ops.nms import Candidates

    candidates = Candidates(
        boxes=torch.tensor([[0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 1.0, 1.0], [0.25, 0.5, 0.75, 1.0]], dtype=torch.float64),
        scores=torch.tensor([0.9, 0.3, 0.6], dtype=torch.float64), labels=torch.tensor([1, 0, 2]),
        class_names=("dog", "cat"), image_size=(200, 100), normalized=True,
        anchor_index=torch.tensor([7, 8, 9]), level=torch.tensor([0, 1, 1]))
    # fractions of a 200 x 100 picture, by hand: x * 200, y * 100
    assert candidates.pixel_boxes().tolist() == [[20.0, 20.0, 100.0, 60.0], [0.0, 0.0, 200.0, 100.0],
                                                 [50.0, 50.0, 150.0, 100.0]]
    chosen = candidates.select(torch.tensor([2, 0]))
    assert len(chosen) == 2 and chosen.scores.tolist() == [0.6, 0.9] and chosen.labels.tolist() == [2, 1]
    assert chosen.anchor_index.tolist() == [9, 7] and chosen.level.tolist() == [1, 0]
    assert (chosen.image_size, chosen.class_names, chosen.normalized) == ((200, 100), ("dog", "cat"), True)
    assert [chosen.class_name(k) for k in chosen.labels.tolist()] == ["2", "cat"]  # no name for class 2: its number
    masked = candidates.select(candidates.scores > 0.5)
    assert masked.scores.tolist() == [0.9, 0.6] and masked.anchor_index.tolist() == [7, 9]
    plain = Candidates(candidates.boxes, candidates.scores, candidates.labels)
    assert plain.select(torch.tensor([1])).level is None
    with pytest.raises(ValueError, match="image_size"):
        Candidates(candidates.boxes, candidates.scores, candidates.labels, normalized=True).pixel_boxes()
