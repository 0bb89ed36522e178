"""The R-CNN family through gradio_client: ``/detect`` with R-CNN and Fast R-CNN on held-out scenes, and
``/rcnn_family`` (keys, types, the CNN forward passes each model counts, its detections equal ``/detect``'s).

Run alone with `LAB_TABS=demos.nms,demos.detection pytest tests/test_demo_rcnn_family.py`.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gradio_client import handle_file
from PIL import Image

import demos.detection as detection
from core.data.scenes import CLASS_NAMES, make_scene, split_seeds

STAGES = {"proposals", "features", "classify", "nms"}


def _scene_file(tmp_path, seed: int, size=None):
    scene = make_scene(seed) if size is None else make_scene(seed, size=size)
    path = tmp_path / f"scene_{seed}.png"
    Image.fromarray(scene.image).save(path)
    return scene, handle_file(str(path))


def _recall(detections: list[dict], scene) -> float:
    boxes = torch.tensor([d["box"] for d in detections], dtype=torch.float32).reshape(-1, 4)
    labels = torch.tensor([d["label"] for d in detections], dtype=torch.int64)
    scores = torch.tensor([d["score"] for d in detections], dtype=torch.float32)
    _, found = detection.match_detections(boxes, scores, labels, scene.boxes, scene.labels, 0.5)
    return sum(found) / len(found)


@pytest.mark.parametrize("model", ["rcnn", "fast_rcnn"])
def test_detect_accepts_rcnn_and_fast_rcnn_and_finds_the_objects(client, tmp_path, model):
    found = total = 0
    for seed in split_seeds("test", 2):
        scene, file = _scene_file(tmp_path, seed, size=(320, 320))
        picture, detections = client.predict(file, model, 0.4, 0.5, api_name="/detect")
        assert Image.open(picture).size == (320, 320)
        for item in detections:
            assert set(item) == {"box", "score", "label", "class_name"}
            assert item["class_name"] == CLASS_NAMES[item["label"]]
            x1, y1, x2, y2 = item["box"]
            assert 0 <= x1 < x2 <= 320 and 0 <= y1 < y2 <= 320
            assert 0.4 < item["score"] <= 1.0
        found += _recall(detections, scene) * len(scene.labels)
        total += len(scene.labels)
    assert found / total >= 0.8


def test_rcnn_family_returns_the_three_models_with_counts_and_stage_seconds(client, tmp_path):
    scene, file = _scene_file(tmp_path, split_seeds("test")[0])
    result = client.predict(file, api_name="/rcnn_family")
    assert set(result) == {"rcnn", "fast_rcnn", "faster_rcnn"}
    for name, item in result.items():
        assert set(item) == {"proposals", "cnn_forward_passes", "seconds", "total_seconds", "detections"}, name
        assert isinstance(item["proposals"], int) and isinstance(item["cnn_forward_passes"], int)
        assert set(item["seconds"]) == STAGES
        assert all(isinstance(v, float) and v >= 0 for v in item["seconds"].values())
        assert item["total_seconds"] == pytest.approx(sum(item["seconds"].values()), abs=1e-3)
        for record in item["detections"]:
            assert set(record) == {"box", "score", "label", "class_name"}
        assert _recall(item["detections"], scene) >= 0.6, name
    # R-CNN runs its CNN on every proposal; Fast R-CNN once on the image, over the same proposals
    assert result["rcnn"]["cnn_forward_passes"] == result["rcnn"]["proposals"] > 300
    assert result["fast_rcnn"]["cnn_forward_passes"] == 1
    assert result["fast_rcnn"]["proposals"] == result["rcnn"]["proposals"]
    assert result["faster_rcnn"]["cnn_forward_passes"] == 1 and result["faster_rcnn"]["proposals"] <= 300
    # the detections are /detect's (score threshold 0.5, each model's own NMS setting for R-CNN and Fast R-CNN;
    # Faster R-CNN's default 0.5)
    _, faster = client.predict(file, "faster_rcnn", 0.5, 0.5, api_name="/detect")
    assert result["faster_rcnn"]["detections"] == faster


def test_rcnn_family_refuses_a_missing_image(client):
    with pytest.raises(Exception, match="Please give an image"):
        client.predict(None, api_name="/rcnn_family")


def test_rcnn_family_works_on_a_photo_of_another_shape(client, tmp_path):
    """A wide photo: every model maps its boxes back to the photo's pixels."""
    photo = np.asarray(Image.fromarray(make_scene(11, size=(200, 420)).image))
    path = tmp_path / "wide.png"
    Image.fromarray(photo).save(path)
    result = client.predict(handle_file(str(path)), api_name="/rcnn_family")
    for item in result.values():
        for record in item["detections"]:
            x1, y1, x2, y2 = record["box"]
            assert 0 <= x1 < x2 <= 420 and 0 <= y1 < y2 <= 200



def test_the_family_settings_are_fields_of_the_detection_view_and_travel_in_its_link():
    from urllib.parse import parse_qsl

    view = detection.DetectionView(family_seed=2000003, family_limit=200, family_shown=20, family_score=0.6,
                                   family_merges=30)
    query = dict(parse_qsl(view.link().split("?", 1)[1]))
    assert {k: v for k, v in query.items() if k.startswith("family_")} == {
        "family_seed": "2000003", "family_limit": "200", "family_shown": "20", "family_score": "0.6",
        "family_merges": "30"}  # the defaults (input: the generated scene) stay out of the link
    assert detection.DetectionView.from_query(query) == (view, [])
    restored, notices = detection.DetectionView.from_query({"family_limit": "5", "family_input": "camera"})
    assert (restored.family_limit, restored.family_input) == (2000, "scene")  # bad values: defaults, named
    assert any("family_limit" in text for text in notices) and any("family_input" in text for text in notices)
    # an upload does not travel: a link asking for it compares on the generated scene, and says so
    restored, notices = detection.DetectionView.from_query({"family_input": "upload", "family_seed": "2000002"})
    assert (restored.family_input, restored.family_seed) == ("scene", 2000002)
    assert len(notices) == 1 and "does not travel" in notices[0]
