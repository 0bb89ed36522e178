"""core.models.ssd: anchors per scale, the loss, decoding (fast NMS == core.ops.nms), input scaling, the trained model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

from core.ops import nms as core_nms
from core.ops.anchors import BACKGROUND, multibox_prior, multibox_target
from core.data.datasets import to_book_labels
from core.data.scenes import CLASS_NAMES, make_scene, split_seeds
from core.models.ssd import (NEG_POS_RATIO, SIZE_DIVISOR, SSD, SSDConfig, build_ssd, candidates, detect, postprocess,
                             prepare, ssd_loss)


@pytest.fixture(scope="module")
def untrained() -> SSD:
    torch.manual_seed(0)
    return SSD().eval()


@pytest.fixture(scope="module")
def trained() -> SSD:
    from core.weights.registry import load_model

    return load_model("ssd")


def test_anchors_are_multibox_prior_at_every_scale(untrained):
    config = untrained.config
    with torch.inference_mode():
        out = untrained(torch.rand(1, 3, 256, 256))
    assert out.level_sizes == [(32, 32), (16, 16), (8, 8), (4, 4), (2, 2)]
    k = config.anchors_per_cell
    assert k == len(config.sizes_px[0]) + len(config.ratios) - 1 == 4
    assert out.level_counts == [h * w * k for h, w in out.level_sizes]
    assert out.anchors.shape == (sum(out.level_counts), 4)
    assert out.cls_logits.shape == (1, sum(out.level_counts), len(CLASS_NAMES) + 1)
    assert out.offsets.shape == (1, sum(out.level_counts), 4)
    start = 0
    for (h, w), count, sizes_px in zip(out.level_sizes, out.level_counts, config.sizes_px):
        expected = multibox_prior(torch.zeros(1, 1, h, w), [s / 256 for s in sizes_px], config.ratios)[0]
        assert torch.equal(out.anchors[start : start + count], expected)
        start += count
    # the square anchor of a coarse scale measures its size in pixels
    first_coarse = out.anchors[sum(out.level_counts[:2])] * 256
    assert float(first_coarse[2] - first_coarse[0]) == pytest.approx(config.sizes_px[2][0], abs=1e-3)


def test_anchor_sizes_cover_the_scene_objects():
    sizes = [s for group in SSDConfig().sizes_px for s in group]
    assert min(sizes) <= 18 and max(sizes) >= 112 * 1.4  # objects 18..112 px, rotated up to ~sqrt(2) larger


def test_config_round_trip():
    config = SSDConfig()
    again = SSDConfig.from_dict(config.to_dict())
    assert again == config
    model = build_ssd(**config.to_dict())
    assert sum(p.numel() for p in model.parameters()) < 5_000_000  # fp16 well under 10 MiB


def test_loss_uses_hard_negative_mining_and_learns():
    torch.manual_seed(0)
    model = SSD().train()
    scene = make_scene(5)
    images = torch.from_numpy(scene.image).permute(2, 0, 1)[None].float() / 255
    labels = to_book_labels([{"boxes": torch.from_numpy(scene.boxes), "labels": torch.from_numpy(scene.labels)}], (256, 256))
    out = model(images)
    loss, parts = ssd_loss(out, labels)
    _, _, class_labels = multibox_target(out.anchors, labels)
    positives = int((class_labels != BACKGROUND).sum())
    assert parts["positives"] == positives >= len(scene.labels)  # every object gets at least one anchor
    assert torch.isfinite(loss)
    # hard-negative mining: with all negatives the class loss would be much larger (thousands of them)
    ce = torch.nn.functional.cross_entropy(out.cls_logits[0], class_labels[0], reduction="none")
    kept_negatives = ce[class_labels[0] == BACKGROUND].topk(NEG_POS_RATIO * positives).values.sum()
    expected_cls = (ce[class_labels[0] != BACKGROUND].sum() + kept_negatives) / positives
    assert parts["cls"] == pytest.approx(float(expected_cls.detach()), rel=1e-4)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    first = float(loss.detach())
    for _ in range(6):
        loss, _ = ssd_loss(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert float(loss.detach()) < 0.8 * first


def test_fast_nms_equals_core_nms_on_the_same_candidates(trained):
    scene = make_scene(split_seeds("test")[3])
    x, _ = prepare(scene.image)
    with torch.inference_mode():
        out = trained(x)
    cands = candidates(out, tuple(x.shape[-2:]), score_threshold=0.01, top_k=400)[0]
    assert len(cands.scores) > 20  # enough overlapping candidates to make NMS work
    for threshold in (0.3, 0.5, 0.7):
        fast = torchvision.ops.batched_nms(cands.boxes, cands.scores, cands.labels, threshold)
        teaching = core_nms.batched_nms(cands.boxes, cands.scores, cands.labels, threshold)
        assert torch.equal(fast, teaching)
        assert torch.equal(postprocess(cands, threshold, max_detections=10_000).scores, cands.scores[teaching])


def test_prepare_scales_the_shorter_side_and_pads():
    image = np.zeros((300, 500, 3), np.uint8)
    x, scale = prepare(image)
    assert scale == pytest.approx(256 / 300, rel=1e-3)
    assert x.shape[-2] % SIZE_DIVISOR == 0 and x.shape[-1] % SIZE_DIVISOR == 0
    assert x.shape[-2] == 256 and x.shape[-1] == 448  # 427 padded up to a multiple of 32
    with pytest.raises(ValueError):
        prepare(np.zeros((10, 10), np.uint8))


def test_detections_come_back_in_the_callers_pixels(trained):
    scene = make_scene(split_seeds("test")[0])
    small = detect(trained, scene.image, 0.5, 0.5)
    big_image = np.repeat(np.repeat(scene.image, 2, axis=0), 2, axis=1)  # (512, 512, 3)
    big = detect(trained, big_image, 0.5, 0.5)
    assert len(small.scores) > 0 and len(big.scores) == len(small.scores)
    iou = torchvision.ops.box_iou(big.boxes / 2, small.boxes).diagonal()
    assert bool((iou > 0.9).all())
    assert torch.equal(big.labels, small.labels)
    assert torch.equal(big.raw.boxes[big.kept_index], big.boxes)


def test_training_windows_boxes_bound_the_objects():
    from core.data.scene_cache import scene_arrays
    from core.training.recipes.ssd import draw_windows, window_batch

    scenes = [make_scene(s) for s in range(4)]
    cache = scene_arrays(range(4), fields=("images", "instances"), cache_dir=None)

    def augmented_batch(cache, indices, rng, crop, zoom):
        return window_batch(cache, indices, draw_windows(rng, len(indices), 256, 256, crop, zoom), crop)

    # no zoom, full-size window: only the flip changes things, so boxes are the scene's (possibly mirrored)
    images, targets = augmented_batch(cache, np.arange(4), np.random.default_rng(0), crop=256, zoom=(1.0, 1.0))
    assert images.shape == (4, 3, 256, 256) and images.dtype == torch.float32
    for scene, image, target in zip(scenes, images, targets):
        mirrored = torch.equal((image * 255).round().to(torch.uint8), torch.from_numpy(scene.image[:, ::-1].copy()).permute(2, 0, 1))
        expected = torch.from_numpy(scene.boxes.copy())
        if mirrored:
            expected[:, [0, 2]] = 256 - expected[:, [2, 0]]
        assert torch.equal(target["boxes"], expected)
        assert torch.equal(target["labels"], torch.from_numpy(scene.labels))
    # cropped and zoomed windows: boxes stay inside the window
    images, targets = augmented_batch(cache, np.arange(4), np.random.default_rng(1), crop=192, zoom=(1.2, 1.3))
    assert images.shape == (4, 3, 192, 192)
    for target in targets:
        boxes = target["boxes"]
        assert bool(((boxes >= 0) & (boxes <= 192)).all())
        assert bool((boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all())
