"""Selective search (Uijlings, van de Sande, Gevers, Smeulders, IJCV 2013): the region proposals of R-CNN and
Fast R-CNN, as a teaching implementation that records every step.

The algorithm, per *strategy* (a colour space, a Felzenszwalb scale k and a set of similarity measures):
  1. Initial regions: Felzenszwalb & Huttenlocher's graph-based over-segmentation
     (``skimage.segmentation.felzenszwalb`` with scale k, min_size k) of the image in the strategy's colour space.
  2. Every region r gets a colour histogram C_r (25 bins per channel, L1-normalised over all 75 bins), a texture
     histogram T_r (Gaussian derivatives, sigma = 1, in 8 orientations per channel, 10 bins each: 240 bins,
     L1-normalised), its size (pixels) and its bounding box.
  3. Hierarchical grouping: the similarity of two *adjacent* regions is the sum of the chosen measures

        s_colour(a, b)  = sum_k min(C_a[k], C_b[k])                         (histogram intersection)
        s_texture(a, b) = sum_k min(T_a[k], T_b[k])
        s_size(a, b)    = 1 - (size_a + size_b) / size_image                 (merge small regions first)
        s_fill(a, b)    = 1 - (size(BB_ab) - size_a - size_b) / size_image   (BB_ab: box around both)

     Repeatedly the most similar adjacent pair (a, b) is merged into a new region t with
     C_t = (size_a C_a + size_b C_b) / (size_a + size_b) (the histogram of the union's pixels; T likewise),
     size_t = size_a + size_b, box_t = the union of the two boxes, and t's similarities to its neighbours are
     computed, until one region is left. n initial regions give n - 1 merges and 2n - 1 regions.
  4. Proposals: the boxes of all regions of all strategies. As in the paper, region j of a hierarchy (counted
     from the top: the whole image is 1) gets the value j * RND, RND ~ U(0, 1); all strategies' regions are sorted
     by it (ascending), and duplicate boxes are dropped (the best-ranked copy stays).

Ties (equal similarity) go to the pair with the smallest region ids (a < b), so the grouping is deterministic.
Boxes are (x1, y1, x2, y2) in pixel-edge coordinates: a region covering columns 10..19 has x1 = 10, x2 = 20
(the same convention as `core.data.scenes`).

Public API (numpy in, numpy out):
  * `selective_search(image, strategies, ...)` -> `Proposals` (ranked boxes + one `Hierarchy` per strategy).
  * `group_regions(image, strategy)` -> `Hierarchy`: one strategy, with its merges, similarities and boxes;
    `Hierarchy.labels_at(step)` gives the segmentation after `step` merges (the step-by-step view).
  * the pieces, each tested against a plain-loop reference: `to_colour_space`, `initial_regions`,
    `colour_histograms`, `texture_histograms`, `region_boxes`, `adjacent_pairs`, `similarities`.
  * `proposal_recall(proposals, gt_boxes, thresholds)`: the share of ground-truth boxes some proposal covers.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

SIMILARITIES: tuple[str, ...] = ("colour", "texture", "size", "fill")
"""The four measures of the paper, in the order `Hierarchy.components` stores them."""

COLOUR_SPACES: tuple[str, ...] = ("rgb", "hsv", "lab")

COLOUR_BINS = 25
"""Colour histogram bins per channel (75 in all)."""

TEXTURE_ORIENTATIONS = 8
TEXTURE_BINS = 10
"""Texture histogram: bins per orientation per channel (8 x 10 x 3 = 240 in all)."""

TEXTURE_SIGMA = 1.0
"""Standard deviation of the Gaussian whose derivatives give the texture responses."""


@dataclass(frozen=True)
class Strategy:
    """One diversification strategy of the paper: colour space, Felzenszwalb scale, similarity measures."""

    colour_space: str = "hsv"  # "rgb", "hsv" or "lab" (each channel scaled to [0, 1])
    k: float = 100.0  # Felzenszwalb's scale (larger: fewer, larger initial regions)
    similarities: tuple[str, ...] = SIMILARITIES  # a subset of SIMILARITIES, summed with weight 1
    sigma: float = 0.8  # Felzenszwalb's pre-smoothing
    min_size: int | None = None  # Felzenszwalb's smallest region in pixels (None: k, as the paper)

    def __post_init__(self) -> None:
        if self.colour_space not in COLOUR_SPACES:
            raise ValueError(f"colour_space must be one of {COLOUR_SPACES}, got {self.colour_space!r}")
        unknown = [s for s in self.similarities if s not in SIMILARITIES]
        if unknown or not self.similarities:
            raise ValueError(f"similarities must be a non-empty subset of {SIMILARITIES}, got {self.similarities}")
        if not self.k > 0:
            raise ValueError(f"k must be positive, got {self.k}")

    @property
    def name(self) -> str:
        letters = "".join(s[0].upper() for s in SIMILARITIES if s in self.similarities)
        return f"{self.colour_space.upper()} k={self.k:g} {'+'.join(letters)}"

    def to_dict(self) -> dict:
        return {"colour_space": self.colour_space, "k": self.k, "similarities": list(self.similarities),
                "sigma": self.sigma, "min_size": self.min_size}

    @classmethod
    def from_dict(cls, data: dict) -> "Strategy":
        data = dict(data)
        data["similarities"] = tuple(data["similarities"])
        return cls(**data)


SINGLE: tuple[Strategy, ...] = (Strategy("hsv", 100.0),)
"""The paper's "single strategy": HSV, k = 100, all four measures."""

FAST: tuple[Strategy, ...] = tuple(
    Strategy(space, k, sims)
    for space in ("hsv", "lab")
    for k in (50.0, 100.0)
    for sims in (SIMILARITIES, ("texture", "size", "fill"))
)
"""The paper's "Selective Search Fast": HSV and Lab, k = 50 and 100, C+T+S+F and T+S+F (8 strategies)."""


# --- the pieces ---------------------------------------------------------------------------------------------


def _check_image(image: np.ndarray) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8, got {array.shape} {array.dtype}")
    if min(array.shape[:2]) < 2:
        raise ValueError(f"image must be at least 2x2 pixels, got {array.shape[1]}x{array.shape[0]}")
    return array


def to_colour_space(image: np.ndarray, colour_space: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W, 3) float64 in `colour_space`, every channel in [0, 1].

    HSV: scikit-image's (all channels already in [0, 1]); Lab: L / 100, (a + 128) / 255, (b + 128) / 255.
    """
    from skimage import color

    rgb = _check_image(image)
    if colour_space == "rgb":
        return rgb.astype(np.float64) / 255.0
    if colour_space == "hsv":
        return color.rgb2hsv(rgb)
    if colour_space == "lab":
        lab = color.rgb2lab(rgb)
        out = np.empty_like(lab)
        out[..., 0] = lab[..., 0] / 100.0
        out[..., 1:] = (lab[..., 1:] + 128.0) / 255.0
        return np.clip(out, 0.0, 1.0)
    raise ValueError(f"colour_space must be one of {COLOUR_SPACES}, got {colour_space!r}")


def initial_regions(image_cs: np.ndarray, k: float, sigma: float = 0.8, min_size: int | None = None) -> np.ndarray:
    """Felzenszwalb's over-segmentation of a (H, W, 3) [0, 1] image: (H, W) int64 labels 0..n-1."""
    from skimage.segmentation import felzenszwalb

    labels = felzenszwalb(image_cs, scale=float(k), sigma=float(sigma),
                          min_size=int(k if min_size is None else min_size), channel_axis=-1)
    _, labels = np.unique(labels, return_inverse=True)  # consecutive 0..n-1
    return labels.reshape(image_cs.shape[:2]).astype(np.int64)


def _bin(values: np.ndarray, bins: int) -> np.ndarray:
    """Values in [0, 1] -> bin indices 0..bins-1 (1.0 goes to the last bin)."""
    return np.minimum((values * bins).astype(np.int64), bins - 1)


def _histograms(bin_index: np.ndarray, labels: np.ndarray, n: int, bins: int) -> np.ndarray:
    """bin_index (H, W, F) ints in [0, bins) -> (n, F * bins) per-region counts, L1-normalised per region."""
    features = bin_index.shape[2]
    flat = labels.reshape(-1, 1) * (features * bins) + np.arange(features) * bins + bin_index.reshape(-1, features)
    counts = np.bincount(flat.ravel(), minlength=n * features * bins).reshape(n, features * bins).astype(np.float64)
    return counts / np.maximum(counts.sum(1, keepdims=True), 1e-12)


def colour_histograms(image_cs: np.ndarray, labels: np.ndarray, n: int | None = None) -> np.ndarray:
    """(n, 75) colour histograms of the regions: 25 bins per channel over [0, 1], L1-normalised per region."""
    n = int(labels.max()) + 1 if n is None else n
    return _histograms(_bin(image_cs, COLOUR_BINS), labels, n, COLOUR_BINS)


def texture_bins(image_cs: np.ndarray) -> np.ndarray:
    """(H, W, 24) texture bin index per pixel: for each channel (outer) and orientation theta = o * 45 degrees
    (inner), the Gaussian-derivative response max(0, cos(theta) d/dx + sin(theta) d/dy) (sigma = 1), binned in
    10 bins over [0, its maximum over the image]."""
    from scipy.ndimage import gaussian_filter

    angles = np.arange(TEXTURE_ORIENTATIONS) * (2 * np.pi / TEXTURE_ORIENTATIONS)
    out = np.empty(image_cs.shape[:2] + (image_cs.shape[2] * TEXTURE_ORIENTATIONS,), np.int64)
    for c in range(image_cs.shape[2]):
        channel = image_cs[..., c]
        dx = gaussian_filter(channel, TEXTURE_SIGMA, order=(0, 1))  # derivative along columns (x)
        dy = gaussian_filter(channel, TEXTURE_SIGMA, order=(1, 0))  # along rows (y, downwards)
        for o, theta in enumerate(angles):
            response = np.maximum(np.cos(theta) * dx + np.sin(theta) * dy, 0.0)
            top = response.max()
            scaled = response / top if top > 0 else response
            out[..., c * TEXTURE_ORIENTATIONS + o] = _bin(scaled, TEXTURE_BINS)
    return out


def texture_histograms(image_cs: np.ndarray, labels: np.ndarray, n: int | None = None) -> np.ndarray:
    """(n, 240) texture histograms of the regions (see `texture_bins`), L1-normalised per region."""
    n = int(labels.max()) + 1 if n is None else n
    return _histograms(texture_bins(image_cs), labels, n, TEXTURE_BINS)


def region_boxes(labels: np.ndarray, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Bounding boxes (n, 4) float64 (x1, y1, x2, y2 pixel edges) and sizes (n,) int64 of the regions."""
    from scipy.ndimage import find_objects

    n = int(labels.max()) + 1 if n is None else n
    boxes = np.zeros((n, 4), np.float64)
    for i, found in enumerate(find_objects(labels + 1, max_label=n)):
        if found is not None:
            rows, cols = found
            boxes[i] = (cols.start, rows.start, cols.stop, rows.stop)
    sizes = np.bincount(labels.ravel(), minlength=n).astype(np.int64)
    return boxes, sizes


def adjacent_pairs(labels: np.ndarray) -> np.ndarray:
    """(P, 2) int64 pairs (a < b) of regions that touch (4-neighbourhood), sorted, each once."""
    n = int(labels.max()) + 1
    a = np.concatenate([labels[:, :-1].ravel(), labels[:-1, :].ravel()])
    b = np.concatenate([labels[:, 1:].ravel(), labels[1:, :].ravel()])
    differ = a != b
    lo, hi = np.minimum(a[differ], b[differ]), np.maximum(a[differ], b[differ])
    codes = np.unique(lo * n + hi)
    return np.stack([codes // n, codes % n], axis=1)


def similarities(
    a: np.ndarray, b: np.ndarray, colour: np.ndarray, texture: np.ndarray, sizes: np.ndarray, boxes: np.ndarray,
    image_size: float,
) -> np.ndarray:
    """The four measures for region pairs (a[i], b[i]): (P, 4) columns colour, texture, size, fill.

    Args:
        a, b: (P,) region indices into the per-region arrays.
        colour: (R, 75) and texture: (R, 240) L1-normalised histograms; sizes: (R,) pixels; boxes: (R, 4) xyxy.
        image_size: pixels of the image (H * W).
    """
    a, b = np.asarray(a), np.asarray(b)
    s_colour = np.minimum(colour[a], colour[b]).sum(1)
    s_texture = np.minimum(texture[a], texture[b]).sum(1)
    joint = sizes[a] + sizes[b]
    s_size = 1.0 - joint / image_size
    x1 = np.minimum(boxes[a, 0], boxes[b, 0])
    y1 = np.minimum(boxes[a, 1], boxes[b, 1])
    x2 = np.maximum(boxes[a, 2], boxes[b, 2])
    y2 = np.maximum(boxes[a, 3], boxes[b, 3])
    s_fill = 1.0 - ((x2 - x1) * (y2 - y1) - joint) / image_size
    return np.stack([s_colour, s_texture, s_size, s_fill], axis=1)


def _similarities_to(
    t: int, others: list[int], colour: np.ndarray, texture: np.ndarray, sizes: np.ndarray, boxes: np.ndarray,
    image_size: float,
) -> np.ndarray:
    """`similarities` of region t with each of `others` (the same numbers, fewer array copies): (k, 4)."""
    out = np.empty((len(others), 4))
    out[:, 0] = np.minimum(colour[others], colour[t]).sum(1)
    out[:, 1] = np.minimum(texture[others], texture[t]).sum(1)
    joint = sizes[others] + sizes[t]
    out[:, 2] = 1.0 - joint / image_size
    box = boxes[others]
    x1 = np.minimum(box[:, 0], boxes[t, 0])
    y1 = np.minimum(box[:, 1], boxes[t, 1])
    x2 = np.maximum(box[:, 2], boxes[t, 2])
    y2 = np.maximum(box[:, 3], boxes[t, 3])
    out[:, 3] = 1.0 - ((x2 - x1) * (y2 - y1) - joint) / image_size
    return out


# --- grouping -----------------------------------------------------------------------------------------------


@dataclass
class Hierarchy:
    """The hierarchical grouping of one strategy on one image.

    Attributes:
        strategy: how it was made.
        labels: (H, W) int64 initial regions 0..n-1 (Felzenszwalb).
        boxes: (2n-1, 4) float64 boxes of every region: the n initial ones, then one per merge in merge order.
        sizes: (2n-1,) int64 pixels of every region.
        merges: (n-1, 3) int64 rows (a, b, t): step s merged regions a < b into the new region t = n + s.
        similarity: (n-1,) float64 the (summed) similarity of each merged pair.
        components: (n-1, 4) float64 its four measures (colour, texture, size, fill), whether used or not.
    """

    strategy: Strategy
    labels: np.ndarray
    boxes: np.ndarray
    sizes: np.ndarray
    merges: np.ndarray
    similarity: np.ndarray
    components: np.ndarray

    @property
    def num_initial(self) -> int:
        return int(self.labels.max()) + 1

    @property
    def num_regions(self) -> int:
        return len(self.boxes)

    def parents(self) -> np.ndarray:
        """(2n-1,) the region each region was merged into (-1 for the last one)."""
        parent = np.full(self.num_regions, -1, np.int64)
        parent[self.merges[:, 0]] = self.merges[:, 2]
        parent[self.merges[:, 1]] = self.merges[:, 2]
        return parent

    def labels_at(self, step: int) -> np.ndarray:
        """(H, W) region ids after the first `step` merges (0: the initial regions; n-1: one region)."""
        n = self.num_initial
        if not 0 <= step <= n - 1:
            raise ValueError(f"step must be in [0, {n - 1}], got {step}")
        current = np.arange(n)  # initial region -> the region that holds it now
        for a, b, t in self.merges[:step]:
            current[(current == a) | (current == b)] = t
        return current[self.labels]

    def region_mask(self, region: int) -> np.ndarray:
        """(H, W) bool pixels of `region` (an initial or merged one)."""
        if not 0 <= region < self.num_regions:
            raise ValueError(f"region must be in [0, {self.num_regions - 1}], got {region}")
        members = np.zeros(self.num_regions, bool)
        members[region] = True
        for a, b, t in self.merges[::-1].tolist():  # newest first: a region's parts come after it
            if members[t]:
                members[a] = members[b] = True
        return members[: self.num_initial][self.labels]


def group_regions(image: np.ndarray, strategy: Strategy = Strategy()) -> Hierarchy:
    """Selective search's hierarchical grouping of one image with one strategy (see the module docstring).

    Args:
        image: (H, W, 3) uint8 RGB.
        strategy: colour space, Felzenszwalb scale and similarity measures.
    """
    image_cs = to_colour_space(image, strategy.colour_space)
    labels = initial_regions(image_cs, strategy.k, strategy.sigma, strategy.min_size)
    return _group(labels, _region_features(image_cs, labels, texture_bins(image_cs)), strategy)


@dataclass
class _Features:
    """The initial regions' descriptors (shared by strategies with the same colour space and segmentation)."""

    colour: np.ndarray  # (n, 75)
    texture: np.ndarray  # (n, 240)
    boxes: np.ndarray  # (n, 4)
    sizes: np.ndarray  # (n,)
    pairs: np.ndarray  # (P, 2) adjacent a < b


def _region_features(image_cs: np.ndarray, labels: np.ndarray, texture_bin_index: np.ndarray) -> _Features:
    n = int(labels.max()) + 1
    boxes, sizes = region_boxes(labels, n)
    return _Features(colour_histograms(image_cs, labels, n),
                     _histograms(texture_bin_index, labels, n, TEXTURE_BINS), boxes, sizes, adjacent_pairs(labels))


def _group(labels: np.ndarray, features: _Features, strategy: Strategy) -> Hierarchy:
    n = int(labels.max()) + 1
    total = 2 * n - 1
    image_size = float(labels.size)
    colour = np.zeros((total, features.colour.shape[1]))
    texture = np.zeros((total, features.texture.shape[1]))
    boxes = np.zeros((total, 4))
    sizes = np.zeros(total, np.int64)
    colour[:n], texture[:n], boxes[:n], sizes[:n] = features.colour, features.texture, features.boxes, features.sizes
    weights = np.array([float(s in strategy.similarities) for s in SIMILARITIES])  # (4,)

    pairs = features.pairs
    neighbours: list[set[int]] = [set() for _ in range(total)]
    for a, b in pairs.tolist():
        neighbours[a].add(b)
        neighbours[b].add(a)
    measured = similarities(pairs[:, 0], pairs[:, 1], colour, texture, sizes, boxes, image_size)  # (P, 4)
    known = dict(zip(map(tuple, pairs.tolist()), measured))  # (a, b) -> its four measures
    heap = [(-s, a, b) for s, (a, b) in zip((measured @ weights).tolist(), pairs.tolist())]
    heapq.heapify(heap)
    alive = np.zeros(total, bool)
    alive[:n] = True

    merges = np.zeros((n - 1, 3), np.int64)
    merged_similarity = np.zeros(n - 1)
    components = np.zeros((n - 1, 4))
    for step in range(n - 1):
        while heap:
            negative, a, b = heapq.heappop(heap)
            if alive[a] and alive[b]:
                break
        else:  # only when the region graph is not connected (never for a 4-connected image grid)
            raise RuntimeError("no adjacent regions left to merge")
        t = n + step
        size_a, size_b = sizes[a], sizes[b]
        sizes[t] = size_a + size_b
        colour[t] = (size_a * colour[a] + size_b * colour[b]) / sizes[t]
        texture[t] = (size_a * texture[a] + size_b * texture[b]) / sizes[t]
        boxes[t] = (min(boxes[a, 0], boxes[b, 0]), min(boxes[a, 1], boxes[b, 1]),
                    max(boxes[a, 2], boxes[b, 2]), max(boxes[a, 3], boxes[b, 3]))
        merges[step] = (a, b, t)
        merged_similarity[step] = -negative
        components[step] = known.pop((a, b))
        alive[a] = alive[b] = False
        alive[t] = True
        around = (neighbours[a] | neighbours[b]) - {a, b}
        for m in around:
            neighbours[m].discard(a)
            neighbours[m].discard(b)
            neighbours[m].add(t)
        neighbours[t] = around
        neighbours[a] = neighbours[b] = set()
        if around:
            others = sorted(around)
            new = _similarities_to(t, others, colour, texture, sizes, boxes, image_size)
            for s, m, measures in zip((new @ weights).tolist(), others, new):
                heapq.heappush(heap, (-s, m, t))  # m < t: t is the newest region
                known[(m, t)] = measures
    return Hierarchy(strategy, labels, boxes, sizes, merges, merged_similarity, components)


# --- proposals ----------------------------------------------------------------------------------------------


@dataclass
class Proposals:
    """Selective search's output for one image.

    Attributes:
        boxes: (N, 4) float32 (x1, y1, x2, y2) pixel edges, best-ranked first, no duplicates.
        source: (N, 2) int64 (hierarchy index, region id) each box came from (its best-ranked copy).
        hierarchies: one `Hierarchy` per strategy.
        seconds: wall time of the stages {"segmentation", "grouping", "ranking"}.
    """

    boxes: np.ndarray
    source: np.ndarray
    hierarchies: list[Hierarchy] = field(repr=False)
    seconds: dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.boxes)


def selective_search(
    image: np.ndarray,
    strategies: Sequence[Strategy] = FAST,
    *,
    seed: int = 0,
    min_side: float = 0.0,
    max_proposals: int | None = None,
) -> Proposals:
    """Region proposals of one image (see the module docstring).

    Args:
        image: (H, W, 3) uint8 RGB.
        strategies: the diversification strategies (`SINGLE`, `FAST` or your own).
        seed: seeds the random ranking (region j of a hierarchy gets j * RND).
        min_side: drop boxes whose width or height is below this (pixels).
        max_proposals: keep only the best-ranked ones (None: all).

    Returns:
        `Proposals`: ranked, deduplicated boxes and one `Hierarchy` per strategy.
    """
    image = _check_image(image)
    if not strategies:
        raise ValueError("give at least one strategy")
    seconds = {"segmentation": 0.0, "grouping": 0.0, "ranking": 0.0}
    hierarchies = []
    converted: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # colour space -> (image, texture bins)
    segmented: dict[tuple, tuple[np.ndarray, _Features]] = {}  # segmentation -> (labels, region features)
    for strategy in strategies:
        started = time.perf_counter()
        if strategy.colour_space not in converted:
            image_cs = to_colour_space(image, strategy.colour_space)
            converted[strategy.colour_space] = (image_cs, texture_bins(image_cs))
        image_cs, tbins = converted[strategy.colour_space]
        key = (strategy.colour_space, strategy.k, strategy.sigma, strategy.min_size)
        if key not in segmented:  # strategies that differ only in their similarities share a segmentation
            labels = initial_regions(image_cs, strategy.k, strategy.sigma, strategy.min_size)
            segmented[key] = (labels, _region_features(image_cs, labels, tbins))
        seconds["segmentation"] += time.perf_counter() - started
        started = time.perf_counter()
        hierarchies.append(_group(*segmented[key], strategy))
        seconds["grouping"] += time.perf_counter() - started

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    boxes, values, source = [], [], []
    for h, hierarchy in enumerate(hierarchies):
        count = hierarchy.num_regions
        position = count - np.arange(count)  # the last region (whole image) is 1, the first initial one is 2n-1
        values.append(position * rng.random(count))
        boxes.append(hierarchy.boxes)
        source.append(np.stack([np.full(count, h), np.arange(count)], axis=1))
    boxes_all, values_all, source_all = np.concatenate(boxes), np.concatenate(values), np.concatenate(source)
    order = np.argsort(values_all, kind="stable")
    boxes_all, source_all = boxes_all[order], source_all[order]
    _, first = np.unique(boxes_all, axis=0, return_index=True)  # first occurrence = best-ranked copy
    keep = np.sort(first)
    boxes_all, source_all = boxes_all[keep], source_all[keep]
    if min_side > 0:
        wide = ((boxes_all[:, 2] - boxes_all[:, 0]) >= min_side) & ((boxes_all[:, 3] - boxes_all[:, 1]) >= min_side)
        boxes_all, source_all = boxes_all[wide], source_all[wide]
    if max_proposals is not None:
        boxes_all, source_all = boxes_all[:max_proposals], source_all[:max_proposals]
    seconds["ranking"] = time.perf_counter() - started
    return Proposals(boxes_all.astype(np.float32), source_all.astype(np.int64), hierarchies, seconds)


def box_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """(A, B) IoU of xyxy boxes (numpy; `torchvision.ops.box_iou` computes the same)."""
    a = np.asarray(boxes_a, np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, np.float64).reshape(-1, 4)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    w = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    h = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = w * h
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def best_overlap(proposals: np.ndarray, gt_boxes: np.ndarray) -> np.ndarray:
    """(G,) for each ground-truth box the largest IoU any proposal reaches (0 when there are none)."""
    gt = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
    if len(gt) == 0:
        return np.zeros(0)
    if len(proposals) == 0:
        return np.zeros(len(gt))
    return box_iou(gt, proposals).max(1)


def proposal_recall(
    proposals: Sequence[np.ndarray], gt_boxes: Sequence[np.ndarray], thresholds: Sequence[float] = (0.5, 0.7),
) -> dict[str, float]:
    """Share of ground-truth boxes (over all images) that some proposal of their image overlaps by IoU >= t.

    Returns ``{"recall_50": ..., "recall_70": ..., "mabo": mean best overlap, "objects": G}`` (keys for 0.5 / 0.7;
    other thresholds as ``recall_<100 t>``).
    """
    best = np.concatenate([best_overlap(p, g) for p, g in zip(proposals, gt_boxes)] or [np.zeros(0)])
    result = {f"recall_{round(100 * t)}": float((best >= t).mean()) if len(best) else 0.0 for t in thresholds}
    result["mabo"] = float(best.mean()) if len(best) else 0.0
    result["objects"] = int(len(best))
    return result
