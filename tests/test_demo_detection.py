"""The Detection tab's endpoints through gradio_client: /detect on held-out scenes, the view with ground truth,
SSD insides, sending candidates to the NMS tab, the book's RoI pooling toy, and clear errors.

Run alone with `LAB_TABS=demos.nms,demos.detection pytest tests/test_demo_detection.py`.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torchvision
from gradio_client import handle_file
from PIL import Image

import demos.detection as detection
from core.data.scenes import CLASS_NAMES, make_scene, split_seeds
from tests.lecture_links import lecture_links_into

BOOK_ROI_POOL = [[[[5.0, 6.0], [9.0, 10.0]]], [[[9.0, 11.0], [13.0, 15.0]]]]
"""d2l.ai rcnn.html: roi_pool(X = arange(16).reshape(1, 1, 4, 4), rois, output_size=(2, 2), spatial_scale=0.1)."""


def _scene_file(tmp_path, seed: int, size=(320, 320)):
    scene = make_scene(seed, size=size)
    path = tmp_path / f"scene_{seed}.png"
    Image.fromarray(scene.image).save(path)
    return scene, handle_file(str(path))


def _recall(detections: list[dict], scene, iou_threshold: float = 0.5) -> float:
    boxes = torch.tensor([d["box"] for d in detections], dtype=torch.float32).reshape(-1, 4)
    labels = torch.tensor([d["label"] for d in detections], dtype=torch.int64)
    scores = torch.tensor([d["score"] for d in detections], dtype=torch.float32)
    _, found = detection.match_detections(boxes, scores, labels, scene.boxes, scene.labels, iou_threshold)
    return sum(found) / len(found)


@pytest.mark.parametrize("model", detection.available_models())
def test_detect_finds_the_objects_of_held_out_scenes(client, tmp_path, model):
    found = total = 0
    for seed in split_seeds("test", 3):
        scene, file = _scene_file(tmp_path, seed)
        picture, detections = client.predict(file, model, 0.4, 0.5, api_name="/detect")
        assert Image.open(picture).size == (320, 320)  # the annotated image, at the input size
        for item in detections:
            assert set(item) == {"box", "score", "label", "class_name"}
            assert item["class_name"] == CLASS_NAMES[item["label"]]
            x1, y1, x2, y2 = item["box"]
            assert 0 <= x1 < x2 <= 320 and 0 <= y1 < y2 <= 320  # pixels of the 320x320 input
            assert 0.4 < item["score"] <= 1.0
        recall = _recall(detections, scene)
        found += recall * len(scene.labels)
        total += len(scene.labels)
    assert found / total >= 0.8


def test_detect_refuses_an_unknown_model_and_bad_thresholds(client, tmp_path):
    _, file = _scene_file(tmp_path, 1)
    with pytest.raises(Exception, match="Unknown model 'yolo'"):
        client.predict(file, "yolo", 0.4, 0.5, api_name="/detect")
    with pytest.raises(Exception, match="between 0 and 1"):
        client.predict(file, "ssd", 1.5, 0.5, api_name="/detect")


def test_faster_rcnn_is_offered_only_with_its_weights(client, tmp_path):
    _, file = _scene_file(tmp_path, 2)
    if "faster_rcnn" in detection.available_models():
        _, detections = client.predict(file, "faster_rcnn", 0.4, 0.5, api_name="/detect")
        assert detections
    else:
        with pytest.raises(Exception, match="not in weights/ yet"):
            client.predict(file, "faster_rcnn", 0.4, 0.5, api_name="/detect")


def test_view_colours_matches_and_reports_precision_recall(client):
    seed = split_seeds("test")[0]
    picture, table, summary, numbers = client.predict(
        detection.GENERATED, seed, detection.DEFAULT_SAMPLE, None, "ssd", 0.4, 0.5, api_name="/detection_view")
    counts = numbers["vs_ground_truth"]
    scene = make_scene(seed)
    assert counts["ground_truth"] == len(scene.labels)
    assert counts["true_positives"] + counts["misses"] == len(scene.labels)
    assert counts["true_positives"] + counts["false_positives"] == len(numbers["detections"])
    assert counts["recall"] >= 0.8
    assert "precision" in summary and "recall" in summary and " ms" in summary
    statuses = [row[-1] for row in table["data"]]
    assert statuses.count("TP") == counts["true_positives"] and statuses.count("FP") == counts["false_positives"]
    assert all(1 <= d["ssd_scale"] <= 5 for d in numbers["detections"])


def test_objects_pasted_onto_a_photo_are_found(client):
    recalls = []
    for seed in (11, 12):
        _, _, summary, numbers = client.predict(
            detection.PASTED, seed, "astronaut", None, "ssd", 0.4, 0.5, api_name="/detection_view")
        recalls.append(numbers["vs_ground_truth"]["recall"])
        assert "pasted onto sample 'astronaut'" in summary
    assert np.mean(recalls) >= 0.6


def test_photo_as_it_is_says_what_the_models_know(client):
    _, _, summary, numbers = client.predict(
        detection.PHOTO, 0, "coffee", None, "ssd", 0.9, 0.5, api_name="/detection_view")
    assert "vs_ground_truth" not in numbers
    assert "pasted onto a photo" in summary  # the offer to paste objects


def test_ssd_insides_per_scale_and_send_to_nms(client):
    seed = split_seeds("test")[1]
    client.predict(detection.GENERATED, seed, detection.DEFAULT_SAMPLE, None, "ssd", 0.3, 0.5,
                   api_name="/detection_view")  # fills the session's input state
    by_scale, table, anchors, anchors_note, raw, raw_note, numbers = client.predict(
        0.3, 0.5, "4", api_name="/detection_ssd_insides")
    scales = numbers["scales"]
    assert [s["feature_map"] for s in scales] == [[32, 32], [16, 16], [8, 8], [4, 4], [2, 2]]
    assert sum(s["anchors"] for s in scales) == sum(h * w * 4 for h, w in [(32, 32), (16, 16), (8, 8), (4, 4), (2, 2)])
    assert sum(s["detections"] for s in scales) == numbers["detections"] > 0
    assert numbers["raw_candidates"] >= numbers["detections"]
    assert "Scale 4: 4×4 feature map" in anchors_note and "all anchors drawn" in anchors_note
    # the hand-off to the NMS tab: the SSD's raw candidates on this scene and its own NMS settings
    scene = make_scene(seed)
    inp = detection.Input(scene.image, scene.boxes, scene.labels, "scene")
    view, extras = detection.send_view(inp, 0.3, 0.5)
    payload = json.loads(extras["candidates"])  # the NMS tab's candidates box
    assert payload["class_names"] == list(CLASS_NAMES)
    assert len(payload["candidates"]) == min(numbers["raw_candidates"], detection.MAX_SENT_CANDIDATES)
    assert payload["image_size"] == [256, 256] and extras["picture"] is inp.image
    assert (view.source, view.iou, view.class_aware, view.background) == ("custom", 0.5, True, "upload")
    assert numbers["raw_candidates"] <= detection.MAX_SENT_CANDIDATES  # all of them were sent
    # with the SSD's own settings, the NMS tab's last step keeps exactly the SSD's detections
    _, result, *_ = client.predict(extras["candidates"], 0.0, view.iou, view.class_aware, 300, api_name="/nms_run")
    assert len(result["kept"]) == numbers["detections"]
    import demos.nms as nms

    received = nms.receive(view, extras)
    assert received[1]["kept"] == result["kept"] and received[-1] is inp.image


def test_the_books_roi_pooling_toy(client):
    _, _, text, numbers = client.predict(api_name="/detection_roi_toy")
    assert numbers["roi_pool"] == BOOK_ROI_POOL
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    rois = torch.tensor([[0, 0, 0, 20, 20], [0, 0, 10, 30, 30]], dtype=torch.float32)
    aligned = torchvision.ops.roi_align(x, rois, (2, 2), spatial_scale=0.1, sampling_ratio=-1, aligned=True)
    assert np.allclose(numbers["roi_align"], aligned.numpy())
    assert numbers["quantised"] == [[0, 0, 2, 2], [0, 1, 3, 3]]  # RoI pooling rounds 0.1 * (x1, y1, x2, y2)
    assert "roi_pool" in text and "roi_align" in text


def test_bad_seed_is_a_clear_error(client):
    with pytest.raises(Exception, match="Seed must be a whole number between"):
        client.predict(detection.GENERATED, 2**31, detection.DEFAULT_SAMPLE, None, "ssd", 0.4, 0.5,
                       api_name="/detection_view")


# --- what the pictures show (issue 14) -------------------------------------------------------------------


def test_box_labels_read_on_a_projector_and_stay_inside_the_picture():
    """A label is about 17 px high when the result picture is shown 380 px high, and a box at the picture's edge
    keeps its whole label inside the picture (torchvision's labels were 12 px and ran past the edge)."""
    from demos.drawing import CLASS_COLORS, text_mask

    assert detection.label_size(560, 560) * 380 / 560 >= 16
    image = np.zeros((280, 280, 3), np.uint8)  # shown at 560 x 560
    text = "triangle 0.95 (TP)"
    drawn = detection.draw(image, [[250, 120, 279, 150]], [text], [CLASS_COLORS[2]])  # at the right edge
    assert drawn.shape == (560, 560, 3)
    chip = np.all(drawn == np.array([0x00, 0x9E, 0x73], np.uint8), axis=-1)  # the class colour, the label's background
    rows, columns = np.nonzero(chip)
    size = detection.label_size(560, 560)
    assert columns.max() <= 559 and columns.max() - columns.min() + 1 >= text_mask(text, size).width + 8
    assert rows.max() - rows.min() + 1 >= text_mask(text, size).height + 8


def test_faster_rcnn_insides_draw_the_top_k_and_say_how_many_in_all(monkeypatch):
    scene = make_scene(split_seeds("test")[0])
    inp = detection.Input(scene.image, scene.boxes, scene.labels, "scene")
    info, caption, numbers = detection.frcnn_insides(inp, 0.4, 0.5)
    assert detection.DEFAULT_TOP_K == 20 and numbers["rois_shown"] == 20 and numbers["proposals_shown"] == 20
    assert numbers["rois_kept"] > 100  # hundreds: why only the top-k are drawn
    assert f"**{numbers['rois_kept']} RoIs**" in caption and "the top 20 by objectness drawn" in caption
    drawn: list[int] = []
    original = detection.draw
    monkeypatch.setattr(detection, "draw", lambda image, boxes, *args, **kwargs: (
        drawn.append(len(boxes)), original(image, boxes, *args, **kwargs))[1])
    detection.frcnn_layers_picture(info, [detection.LAYER_ROIS], 20)
    detection.frcnn_layers_picture(info, [detection.LAYER_PROPOSALS, detection.LAYER_ROIS], 5)
    assert drawn == [20, 10]


# --- the view is a link (issue 15) -------------------------------------------------------------------------


def test_the_views_defaults_are_the_controls_initial_values():
    import gradio as gr

    with gr.Blocks():
        ui = detection.build()
    assert [control.value for control in ui.controls] == list(detection.DetectionView().values())
    assert ui.parts is not None and [h.target for h in ui.handoffs] == ["nms"]


def test_a_view_round_trips_through_its_link():
    from urllib.parse import parse_qsl

    view = detection.DetectionView(source="pasted", seed=12, sample="astronaut", score=0.5, iou=0.3, scale="4",
                                   top_k=40, proposals=False, roi=2, roi_size=6, channel="3")
    query = dict(parse_qsl(view.link().split("?", 1)[1]))
    assert query["tab"] == "detection" and query["source"] == "pasted" and query["proposals"] == "0"
    assert detection.DetectionView.from_query(query) == (view, [])
    assert detection.DetectionView.part_from_query({"part": "roi"}) == ("roi", [])


def test_show_equals_the_endpoints_numbers(client):
    view = detection.DetectionView(seed=split_seeds("test")[3], score=0.5, iou=0.4, scale="2")
    shown = detection.show(view)
    picture, table, summary, numbers = client.predict(view.source, view.seed, view.sample, None, view.model,
                                                      view.score, view.iou, api_name="/detection_view")
    assert [d for d in shown[3]["detections"]] == numbers["detections"]
    assert shown[3]["vs_ground_truth"] == numbers["vs_ground_truth"]
    assert [list(row) for row in shown[1]] == table["data"]
    ssd = client.predict(view.score, view.iou, view.scale, api_name="/detection_ssd_insides")
    assert shown[5 + 6] == ssd[6]  # the SSD insides' numbers
    assert "Scale 2" in shown[5 + 3]


def test_every_lecture_link_into_the_tab_parses_and_opens_its_sub_tab():
    links = lecture_links_into(detection.DetectionView)
    for link in links:
        assert link.part in detection.PARTS and link.view.model == link.step["link_params"]["model"]
    assert {link.part for link in links} == {"ssd", "frcnn", "roi"}
