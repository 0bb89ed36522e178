"""Selective search (`core.ops.selective_search`) against references written here with plain loops: the
histograms, the texture responses, the four similarity measures, the region boxes and adjacency, and the whole
hierarchical grouping against a naive O(n^2) re-implementation that recomputes every region from its pixels at
every step. Then the proposals themselves: every box is a region's box, and their recall on held-out scenes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou as tv_box_iou

import core.ops.selective_search as ss
from core.data.scenes import make_scene, split_seeds


def _small_image(seed: int = 2000003, size: int = 40, top: int = 60, left: int = 70) -> np.ndarray:
    """A crop of a held-out scene: real colours and edges, few enough regions for the naive reference."""
    return np.ascontiguousarray(make_scene(seed).image[top:top + size, left:left + size])


def _random_labels(shape: tuple[int, int], n: int, rng: np.random.Generator) -> np.ndarray:
    labels = rng.integers(0, n, size=shape)
    labels.flat[:n] = np.arange(n)  # every label occurs
    return labels


# --- the pieces ---------------------------------------------------------------------------------------------


def test_colour_histograms_equal_a_pixel_loop():
    rng = np.random.default_rng(0)
    image = rng.random((9, 7, 3))
    image[0, 0] = 1.0  # the top edge goes into the last bin
    labels = _random_labels((9, 7), 4, rng)
    counts = np.zeros((4, 75))
    for y in range(9):
        for x in range(7):
            for c in range(3):
                b = min(int(math.floor(image[y, x, c] * 25)), 24)
                counts[labels[y, x], c * 25 + b] += 1
    expected = counts / counts.sum(1, keepdims=True)
    np.testing.assert_allclose(ss.colour_histograms(image, labels), expected, atol=1e-12)
    assert np.allclose(ss.colour_histograms(image, labels).sum(1), 1.0)


def _reflect(i: int, n: int) -> int:
    """scipy.ndimage's 'reflect' boundary: d c b a | a b c d | d c b a."""
    while i < 0 or i >= n:
        i = -i - 1 if i < 0 else 2 * n - i - 1
    return i


def _gaussian_derivative_loop(channel: np.ndarray, axis: int, sigma: float = 1.0) -> np.ndarray:
    """The first Gaussian derivative along `axis` (0 = rows, 1 = columns): smoothing by a normalised Gaussian
    across, its derivative -x / sigma^2 g(x) along, radius 4 sigma, written as explicit sums."""
    radius = int(4 * sigma + 0.5)
    offsets = range(-radius, radius + 1)
    g = np.array([math.exp(-0.5 * (k / sigma) ** 2) for k in offsets])
    g /= g.sum()
    dg = np.array([-k / sigma**2 * g[i] for i, k in enumerate(offsets)])
    height, width = channel.shape
    out = np.zeros_like(channel)
    for y in range(height):
        for x in range(width):
            total = 0.0
            for i, ky in enumerate(offsets):
                for j, kx in enumerate(offsets):
                    wy = dg[i] if axis == 0 else g[i]
                    wx = dg[j] if axis == 1 else g[j]
                    total += wy * wx * channel[_reflect(y - ky, height), _reflect(x - kx, width)]
            out[y, x] = total
    return out


def test_texture_bins_equal_gaussian_derivatives_computed_by_loops():
    rng = np.random.default_rng(1)
    image = rng.random((11, 13, 3))
    bins = ss.texture_bins(image)
    assert bins.shape == (11, 13, 24) and bins.min() >= 0 and bins.max() <= 9
    for c in range(3):
        dx = _gaussian_derivative_loop(image[..., c], axis=1)
        dy = _gaussian_derivative_loop(image[..., c], axis=0)
        for o in range(8):
            theta = o * math.pi / 4
            response = np.maximum(math.cos(theta) * dx + math.sin(theta) * dy, 0.0)
            expected = np.minimum(np.floor(response / response.max() * 10), 9).astype(int)
            got = bins[..., c * 8 + o]
            # a value exactly on a bin edge may land either side after different float rounding
            assert (got != expected).mean() < 0.01, (c, o)
            assert np.abs(got - expected).max() <= 1


def test_region_boxes_sizes_and_adjacency_equal_pixel_loops():
    rng = np.random.default_rng(2)
    labels = _random_labels((8, 9), 5, rng)
    boxes, sizes = ss.region_boxes(labels)
    pairs = set()
    for r in range(5):
        ys, xs = [], []
        for y in range(8):
            for x in range(9):
                if labels[y, x] == r:
                    ys.append(y)
                    xs.append(x)
                    for dy, dx in ((0, 1), (1, 0)):
                        if y + dy < 8 and x + dx < 9 and labels[y + dy, x + dx] != r:
                            other = labels[y + dy, x + dx]
                            pairs.add((min(r, other), max(r, other)))
        assert sizes[r] == len(xs)
        assert boxes[r].tolist() == [min(xs), min(ys), max(xs) + 1, max(ys) + 1]  # pixel edges
    assert [tuple(p) for p in ss.adjacent_pairs(labels).tolist()] == sorted(pairs)


def test_similarity_measures_equal_their_definitions():
    rng = np.random.default_rng(3)
    colour = rng.random((4, 75))
    colour /= colour.sum(1, keepdims=True)
    texture = rng.random((4, 240))
    texture /= texture.sum(1, keepdims=True)
    sizes = np.array([10, 30, 7, 60])
    boxes = np.array([[0, 0, 5, 4], [2, 1, 10, 8], [8, 8, 9, 15], [0, 0, 12, 12]], float)
    image_size = 400.0
    got = ss.similarities(np.array([0, 1, 2]), np.array([1, 2, 3]), colour, texture, sizes, boxes, image_size)
    for row, (a, b) in enumerate([(0, 1), (1, 2), (2, 3)]):
        s_colour = sum(min(colour[a, k], colour[b, k]) for k in range(75))
        s_texture = sum(min(texture[a, k], texture[b, k]) for k in range(240))
        s_size = 1 - (sizes[a] + sizes[b]) / image_size
        bb_w = max(boxes[a, 2], boxes[b, 2]) - min(boxes[a, 0], boxes[b, 0])
        bb_h = max(boxes[a, 3], boxes[b, 3]) - min(boxes[a, 1], boxes[b, 1])
        s_fill = 1 - (bb_w * bb_h - sizes[a] - sizes[b]) / image_size
        np.testing.assert_allclose(got[row], [s_colour, s_texture, s_size, s_fill], atol=1e-12)
    # identical histograms intersect to 1; disjoint ones to 0
    one_hot = np.eye(75)[[3, 3, 5]]
    s = ss.similarities(np.array([0, 0]), np.array([1, 2]), one_hot, np.eye(240)[[0, 0, 0]], sizes, boxes, image_size)
    assert s[:, 0].tolist() == [1.0, 0.0]


# --- the grouping against a naive reference ------------------------------------------------------------------


def _naive_grouping(image: np.ndarray, strategy: ss.Strategy) -> tuple[list[tuple[int, int]], list[float], list[list[float]]]:
    """Selective search's greedy grouping done the slow way: at every step, every pair of current regions that
    touch (checked on the pixels) is scored from scratch, each region's histograms counted from its own pixels,
    its box from its pixel extent; the best pair (ties: smallest ids) is merged. Returns the merged id pairs,
    similarities and boxes of the new regions, with ids numbered as in the paper (new region n + step)."""
    image_cs = ss.to_colour_space(image, strategy.colour_space)
    labels = ss.initial_regions(image_cs, strategy.k, strategy.sigma, strategy.min_size)
    tbins = ss.texture_bins(image_cs)
    cbins = np.minimum((image_cs * 25).astype(int), 24)
    height, width = labels.shape
    n = int(labels.max()) + 1
    members = {r: {r} for r in range(n)}  # region id -> initial regions

    def pixels(region):
        return np.isin(labels, list(members[region]))

    def describe(mask):
        size = int(mask.sum())
        colour = np.zeros(75)
        texture = np.zeros(240)
        ys, xs = np.nonzero(mask)
        for y, x in zip(ys, xs):
            for c in range(3):
                colour[c * 25 + cbins[y, x, c]] += 1
            for f in range(24):
                texture[f * 10 + tbins[y, x, f]] += 1
        # L1-normalised: each histogram sums to 1 over all its bins
        return colour / colour.sum(), texture / texture.sum(), size, (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)

    def touching(mask_a, mask_b):
        right = (mask_a[:, :-1] & mask_b[:, 1:]) | (mask_b[:, :-1] & mask_a[:, 1:])
        down = (mask_a[:-1, :] & mask_b[1:, :]) | (mask_b[:-1, :] & mask_a[1:, :])
        return bool(right.any() or down.any())

    merged, sims, new_boxes = [], [], []
    for step in range(n - 1):
        alive = sorted(members)
        masks = {r: pixels(r) for r in alive}
        info = {r: describe(masks[r]) for r in alive}
        best = None
        for i, a in enumerate(alive):
            for b in alive[i + 1:]:
                if not touching(masks[a], masks[b]):
                    continue
                ca, ta, sa, ba = info[a]
                cb, tb, sb, bb = info[b]
                measures = {
                    "colour": sum(min(x, y) for x, y in zip(ca, cb)),
                    "texture": sum(min(x, y) for x, y in zip(ta, tb)),
                    "size": 1 - (sa + sb) / labels.size,
                    "fill": 1 - ((max(ba[2], bb[2]) - min(ba[0], bb[0])) * (max(ba[3], bb[3]) - min(ba[1], bb[1]))
                                 - sa - sb) / labels.size,
                }
                s = sum(measures[m] for m in strategy.similarities)
                if best is None or s > best[0] + 1e-12:
                    best = (s, a, b)
        s, a, b = best
        t = n + step
        members[t] = members.pop(a) | members.pop(b)
        merged.append((a, b))
        sims.append(s)
        new_boxes.append(list(describe(pixels(t))[3]))
    return merged, sims, new_boxes


@pytest.mark.parametrize("strategy", [ss.Strategy("hsv", 30.0), ss.Strategy("lab", 20.0, ("texture", "size", "fill"))],
                         ids=lambda s: s.name)
def test_grouping_merges_the_most_similar_adjacent_pair_like_a_naive_reference(strategy):
    image = _small_image()
    hierarchy = ss.group_regions(image, strategy)
    n = hierarchy.num_initial
    assert 8 <= n <= 40  # enough regions to matter, few enough for the naive loops
    merged, sims, boxes = _naive_grouping(image, strategy)
    assert [tuple(m) for m in hierarchy.merges[:, :2].tolist()] == merged
    assert hierarchy.merges[:, 2].tolist() == list(range(n, 2 * n - 1))
    np.testing.assert_allclose(hierarchy.similarity, sims, atol=1e-9)
    np.testing.assert_array_equal(hierarchy.boxes[n:], boxes)
    # the similarity of each merge is the sum of the strategy's measures
    used = [ss.SIMILARITIES.index(s) for s in strategy.similarities]
    np.testing.assert_allclose(hierarchy.components[:, used].sum(1), hierarchy.similarity, atol=1e-12)


def test_every_region_box_is_the_box_of_its_pixels_and_the_union_of_its_parts():
    image = _small_image(2000005, size=64, top=40, left=40)
    hierarchy = ss.group_regions(image, ss.Strategy("hsv", 50.0))
    n = hierarchy.num_initial
    for region in range(hierarchy.num_regions):
        ys, xs = np.nonzero(hierarchy.region_mask(region))
        assert hierarchy.boxes[region].tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        assert hierarchy.sizes[region] == len(xs)
    for a, b, t in hierarchy.merges.tolist():
        union = [min(hierarchy.boxes[a, 0], hierarchy.boxes[b, 0]), min(hierarchy.boxes[a, 1], hierarchy.boxes[b, 1]),
                 max(hierarchy.boxes[a, 2], hierarchy.boxes[b, 2]), max(hierarchy.boxes[a, 3], hierarchy.boxes[b, 3])]
        assert hierarchy.boxes[t].tolist() == union
    assert hierarchy.boxes[-1].tolist() == [0, 0, 64, 64]  # the last region is the whole image
    assert len(np.unique(hierarchy.labels_at(0))) == n
    assert len(np.unique(hierarchy.labels_at(n // 2))) == n - n // 2
    assert np.unique(hierarchy.labels_at(n - 1)).tolist() == [2 * n - 2]
    np.testing.assert_array_equal(hierarchy.parents()[hierarchy.merges[:, 0]], hierarchy.merges[:, 2])


def test_proposals_are_the_deduplicated_region_boxes_of_all_strategies():
    image = make_scene(2000001).image
    proposals = ss.selective_search(image, ss.FAST, seed=0)
    every_box = np.concatenate([h.boxes for h in proposals.hierarchies])
    assert len(proposals.hierarchies) == 8
    assert {tuple(b) for b in proposals.boxes.tolist()} == {tuple(b) for b in every_box.tolist()}
    assert len(proposals) == len(np.unique(every_box, axis=0))  # no duplicates
    for box, (h, region) in zip(proposals.boxes[:50], proposals.source[:50]):
        assert proposals.hierarchies[h].boxes[region].tolist() == box.tolist()
    assert 300 <= len(proposals) <= 2000  # "a few hundred to two thousand" per scene
    again = ss.selective_search(image, ss.FAST, seed=0)
    np.testing.assert_array_equal(proposals.boxes, again.boxes)  # deterministic
    assert not np.array_equal(ss.selective_search(image, ss.FAST, seed=1).boxes[:50], proposals.boxes[:50])
    limited = ss.selective_search(image, ss.FAST, seed=0, min_side=12, max_proposals=100)
    assert len(limited) == 100
    assert ((limited.boxes[:, 2:] - limited.boxes[:, :2]) >= 12).all()


def test_box_iou_and_recall_equal_torchvision_and_hand_counts():
    a = np.array([[0, 0, 10, 10], [5, 5, 15, 15]], np.float32)
    b = np.array([[0, 0, 10, 10], [0, 0, 5, 5], [20, 20, 30, 30]], np.float32)
    np.testing.assert_allclose(ss.box_iou(a, b), tv_box_iou(torch.from_numpy(a), torch.from_numpy(b)).numpy(), atol=1e-7)
    # two images: objects covered at IoU 1, 0.25 and 0 -> recall@0.5 = 1/3
    recall = ss.proposal_recall([a, np.zeros((0, 4))], [np.array([[0, 0, 10, 10], [0, 0, 20, 20]]), np.array([[1, 1, 2, 2]])])
    assert recall == {"recall_50": 1 / 3, "recall_70": 1 / 3, "mabo": (1 + 0.25 + 0) / 3, "objects": 3}


def test_selective_search_finds_the_objects_of_held_out_scenes():
    """A floor, not the measurement: the full test-split recall is in the model cards (weights/rcnn.json)."""
    seeds = split_seeds("test", 6)
    scenes = [make_scene(s) for s in seeds]
    found = [ss.selective_search(s.image, ss.FAST).boxes for s in scenes]
    recall = ss.proposal_recall(found, [s.boxes for s in scenes])
    assert recall["recall_50"] >= 0.95 and recall["recall_70"] >= 0.85


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="uint8"):
        ss.selective_search(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ValueError, match="colour_space"):
        ss.Strategy("cmyk")
    with pytest.raises(ValueError, match="similarities"):
        ss.Strategy("hsv", 100.0, ("shape",))
    with pytest.raises(ValueError, match="strategy"):
        ss.selective_search(np.zeros((10, 10, 3), np.uint8), [])
