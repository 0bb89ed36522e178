"""core.models.faster_rcnn: the book's RoI pooling toy, RoI pooling / RoIAlign against torchvision, the step-by-step
pipeline against model(images), and the embedded trained model on held-out scenes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou, roi_align, roi_pool

from core.models import faster_rcnn as frcnn
from core.weights import hub
from core.weights.registry import load_model
from core.evaluation.evaluators import UNSEEN_PHOTOS, unseen_photo
from core.data.scenes import CLASS_NAMES, make_scene, split_seeds

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def trained():
    return load_model("faster_rcnn")


@pytest.fixture(scope="module")
def untrained():
    torch.manual_seed(0)
    return frcnn.build_faster_rcnn().eval()


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1).float() / 255.0  # (3, H, W)


# --- RoI pooling vs RoIAlign -------------------------------------------------------------------------------


def test_book_roi_pool_toy():
    """d2l.ai chapter_computer-vision/rcnn.html: X = arange(16) as 4x4, two RoIs, scale 0.1, 2x2 output."""
    expected = torch.tensor([[[[5.0, 6.0], [9.0, 10.0]]], [[[9.0, 11.0], [13.0, 15.0]]]])
    X = torch.arange(16.0).reshape(1, 1, 4, 4)
    rois = torch.tensor([[0, 0, 0, 20, 20], [0, 0, 10, 30, 30]], dtype=torch.float32)
    assert torch.equal(roi_pool(X, rois, output_size=(2, 2), spatial_scale=0.1), expected)
    results = frcnn.book_roi_pool_example()
    assert torch.equal(torch.stack([r["pool"]["values"] for r in results]), expected)
    assert torch.equal(torch.stack([r["pool"]["values_from_bins"] for r in results]), expected)
    # the second RoI (x 0..30, y 10..30) lands on cells x 0..3, y 1..3: bins of 2 columns and 1.5 rows
    second = results[1]
    assert second["projected"] == pytest.approx((0.0, 1.0, 3.0, 3.0))
    assert second["pool"]["quantised"] == (0, 1, 3, 3)
    assert second["pool"]["bins_x"].tolist() == [[0, 2], [2, 4]]
    assert second["pool"]["bins_y"].tolist() == [[1, 3], [2, 4]]
    # RoIAlign does not round: the first RoI's aligned bins start half a cell up-left, 1 cell wide
    aligned = results[0]["align"]["aligned"]
    assert aligned["edges_x"].tolist() == pytest.approx([-0.5, 0.5, 1.5])
    assert aligned["values"].flatten().tolist() == pytest.approx([0.0, 1.0, 4.0, 5.0])


@pytest.mark.parametrize("case", range(6))
def test_roi_pool_and_align_match_torchvision(case):
    """The bins / samples computed here reproduce torchvision's roi_pool and roi_align (both alignments)."""
    g = torch.Generator().manual_seed(case)
    x = torch.randn(3, 9, 11, generator=g)
    corners = torch.rand(4, generator=g) * torch.tensor([100.0, 80.0, 100.0, 80.0]) - 8  # some outside the map
    roi = (min(corners[0], corners[2]), min(corners[1], corners[3]), max(corners[0], corners[2]), max(corners[1], corners[3]))
    output_size = [(2, 2), (3, 2), (7, 7), (1, 4), (2, 3), (4, 4)][case]
    sampling_ratio = [-1, 2, -1, 1, 3, 0][case]
    result = frcnn.roi_pool_vs_align(x[None] if case % 2 else x, roi, 0.125, output_size, sampling_ratio)
    rois = torch.tensor([[0.0, *[float(v) for v in roi]]])
    assert torch.equal(result["pool"]["values"], roi_pool(x[None], rois, output_size, 0.125)[0])
    assert torch.allclose(result["pool"]["values_from_bins"], result["pool"]["values"])
    for name, aligned in (("aligned", True), ("unaligned", False)):
        part = result["align"][name]
        reference = roi_align(x[None], rois, output_size, 0.125, sampling_ratio, aligned=aligned)[0]
        assert torch.equal(part["values"], reference)
        assert torch.allclose(part["values_from_samples"], reference, atol=1e-5)
        assert len(part["edges_x"]) == output_size[1] + 1 and len(part["edges_y"]) == output_size[0] + 1
    assert result["projected"] == pytest.approx(tuple(float(v) * 0.125 for v in roi))


def test_roi_pool_vs_align_rejects_bad_input():
    with pytest.raises(ValueError, match="feature_map"):
        frcnn.roi_pool_vs_align(torch.zeros(4, 4), (0, 0, 1, 1), 1.0)
    with pytest.raises(ValueError, match="x1 <= x2"):
        frcnn.roi_pool_vs_align(torch.zeros(1, 4, 4), (3, 0, 1, 1), 1.0)
    with pytest.raises(ValueError, match="spatial_scale"):
        frcnn.roi_pool_vs_align(torch.zeros(1, 4, 4), (0, 0, 1, 1), 0.0)


# --- the model, step by step -------------------------------------------------------------------------------


def test_step_by_step_equals_model_untrained(untrained):
    """detect_batch runs transform -> backbone -> RPN -> RoI heads by hand; it equals model(images)."""
    scenes = [make_scene(s) for s in (5, 6)]
    heads = untrained.roi_heads
    with torch.no_grad():
        reference = untrained([_tensor(s.image) for s in scenes])
    ours = frcnn.detect_batch(untrained, [s.image for s in scenes], heads.score_thresh, heads.nms_thresh)
    for ref, got in zip(reference, ours):
        assert len(ref["boxes"]) > 10  # an untrained model scores every class ~1/6: plenty to compare
        assert torch.equal(ref["boxes"], got["boxes"])
        assert torch.equal(ref["scores"], got["scores"])
        assert torch.equal(ref["labels"] - 1, got["labels"])


def test_insides_equal_model_and_rpn(trained):
    scene = make_scene(split_seeds("test")[0])
    model = trained
    inside = frcnn.insides(model, scene.image, top_k=40, score_threshold=0.05, iou_threshold=0.5)
    with torch.no_grad():
        images, _ = model.transform([_tensor(scene.image)])
        features = model.backbone(images.tensors)
        rois, _ = model.rpn(images, features)
        reference = model([_tensor(scene.image)])[0]
    # the RoIs kept by the RPN and the final detections are the model's own
    assert torch.equal(inside["rois"]["boxes_resized"], rois[0])
    keep = reference["scores"] > 0.05  # model.roi_heads.score_thresh is 0.01
    assert torch.allclose(inside["detections"]["boxes"], reference["boxes"][keep])
    assert torch.equal(inside["detections"]["labels"], reference["labels"][keep] - 1)
    # feature maps: the timm body at strides 8, 16, 32, the FPN at 8, 16, 32, 64 with equal channels
    assert [f["stride"] for f in inside["backbone_features"]] == [8, 16, 32]
    assert [f["stride"] for f in inside["fpn_features"]] == [8, 16, 32, 64]
    for f, name in zip(inside["fpn_features"], ("0", "1", "2", "pool")):
        assert f["name"] == name and torch.equal(f["map"], features[name][0])
        assert f["map"].shape == (model.backbone.out_channels, 256 // f["stride"], 256 // f["stride"])
    # top-k proposals: sorted objectness, levels consistent with the anchor counts
    proposals = inside["proposals"]
    assert len(proposals["boxes"]) == 40
    assert torch.all(proposals["objectness"][:-1] >= proposals["objectness"][1:])
    assert inside["num_anchors"] == sum(inside["num_anchors_per_level"]) == 8160  # 6 anchors x (32²+16²+8²+4²)
    assert proposals["level"].min() >= 0 and proposals["level"].max() < 4
    assert torch.all(inside["rois"]["objectness"][:-1] >= inside["rois"]["objectness"][1:])
    # the best proposal overlaps a real object
    assert box_iou(proposals["boxes"][:5], torch.from_numpy(scene.boxes)).max() > 0.5


def test_insides_maps_boxes_back_to_the_input_size(trained):
    """A 320x400 image is resized to 256x320 inside; every box comes back in the input's pixels."""
    scene = make_scene(split_seeds("test")[1], size=(320, 400))
    inside = frcnn.insides(trained, scene.image, top_k=10)
    assert inside["image_size"] == (320, 400) and inside["resized_size"] == (256, 320)
    assert inside["scale"] == pytest.approx((0.8, 0.8))
    assert torch.allclose(inside["rois"]["boxes"] * 0.8, inside["rois"]["boxes_resized"], atol=1e-3)
    detections = frcnn.detect(trained, scene.image)
    assert torch.allclose(detections["boxes"], inside["detections"]["boxes"])


# --- the trained model -------------------------------------------------------------------------------------


def test_detect_validates_input(trained):
    with pytest.raises(ValueError, match="uint8"):
        frcnn.detect(trained, np.zeros((32, 32, 3), np.float32))
    with pytest.raises(ValueError, match="score_threshold"):
        frcnn.detect(trained, np.zeros((32, 32, 3), np.uint8), score_threshold=1.5)
    with pytest.raises(ValueError, match="iou_threshold"):
        frcnn.detect(trained, np.zeros((32, 32, 3), np.uint8), iou_threshold=-0.1)


def test_loaded_once_and_card_complete(trained):
    assert load_model("faster_rcnn", "cpu") is trained and not trained.training
    spec = hub.load_spec(frcnn.WEIGHTS_NAME)
    card = hub.load_card(frcnn.WEIGHTS_NAME)["card"]
    assert (hub.WEIGHTS_DIR / spec.filename).stat().st_size <= 10 * 2**20
    assert tuple(spec.class_names) == CLASS_NAMES
    for key in ("data_seeds", "epochs", "wall_time_s", "device", "metrics"):
        assert key in card


def test_detect_on_objects_pasted_onto_an_unseen_photo(trained):
    """Objects pasted onto photos that were never training backgrounds, at the photos' own sizes."""
    found = total = 0
    for i, seed in enumerate(split_seeds("test", 4)):
        photo = unseen_photo(UNSEEN_PHOTOS[i % 2])  # 500x741 motorcycle, 872x1000 Hubble field
        scene = make_scene(seed, background=photo)
        assert scene.image.shape[:2] == photo.shape[:2]
        result = frcnn.detect(trained, scene.image)
        iou = box_iou(torch.from_numpy(scene.boxes), result["boxes"])  # (G, N)
        same_class = torch.from_numpy(scene.labels)[:, None] == result["labels"][None, :]
        found += int(((iou >= 0.5) & same_class).any(dim=1).sum())
        total += len(scene.boxes)
    assert total > 10
    assert found / total >= 0.8, f"recall {found}/{total}"


def test_map_on_held_out_test_scenes(trained):
    """Issue 19: mean average precision, not only recall: a detector that adds many confident false positives
    keeps its recall but loses AP. torchmetrics' COCO mAP (pycocotools backend) on 10 held-out test scenes, with
    the low score threshold an AP curve needs; the card's full evaluation reports mAP@0.5 >= 0.9, mAP >= 0.6."""
    from torchmetrics.detection import MeanAveragePrecision

    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend="pycocotools")
    for seed in split_seeds("test", 10):
        scene = make_scene(seed)
        result = frcnn.detect(trained, scene.image, score_threshold=0.05, iou_threshold=0.5)
        metric.update([{"boxes": result["boxes"], "scores": result["scores"], "labels": result["labels"]}],
                      [{"boxes": torch.from_numpy(scene.boxes).float(), "labels": torch.from_numpy(scene.labels)}])
    scores = metric.compute()
    assert float(scores["map_50"]) >= 0.85, scores
    assert float(scores["map"]) >= 0.55, scores
