"""The NMS tab's endpoints through gradio_client: the book's example, clutter vs torchvision, errors.

Run alone with `LAB_TABS=demos.nms pytest tests/test_demo_nms.py`.
"""

from __future__ import annotations

import json

import gradio as gr
import numpy as np
import pytest
import torch
import torchvision

import demos.nms as nms

BOOK_BOXES = torch.tensor(nms.BOOK_BOXES)


def run(client, candidates, score=0.0, iou=0.5, class_aware=False, step=nms.FINAL_STEP):
    text = candidates if isinstance(candidates, str) else json.dumps(candidates)
    picture, result, steps, caption, slider = client.predict(text, score, iou, class_aware, step, api_name="/nms_run")
    shown = slider["value"] if isinstance(slider, dict) else slider  # the step slider's update
    return picture, result, steps, caption, shown


def book_json() -> str:
    return nms.book_candidates().to_json()


def test_book_example_keeps_the_best_dog_and_the_cat(client):
    picture, result, steps, caption, shown = run(client, book_json())
    assert sorted(result["kept"]) == [0, 3]
    assert result["counts"] == {"candidates": 4, "above_score_threshold": 4, "kept": 2, "suppressed": 2}
    dog_step = next(s for s in result["steps"] if s["baseline"] == 0)
    cat_step = next(s for s in result["steps"] if s["baseline"] == 3)
    assert sorted(dog_step["suppressed"]) == [1, 2] and cat_step["suppressed"] == []
    expected = torchvision.ops.box_iou(BOOK_BOXES[[0]], BOOK_BOXES)[0]
    for index, iou in zip(dog_step["suppressed"], dog_step["ious"]):
        assert iou == pytest.approx(float(expected[index]), abs=1e-5)
    assert result["n_steps"] == 2 and result["step_shown"] == 2
    assert [k["class_name"] for k in sorted(result["kept_boxes"], key=lambda k: k["index"])] == ["dog", "cat"]
    # kept boxes are returned in pixels of the book's 728x561 picture
    box0 = next(k["box"] for k in result["kept_boxes"] if k["index"] == 0)
    assert box0 == pytest.approx([0.1 * 728, 0.08 * 561, 0.52 * 728, 0.92 * 561], abs=1e-3)
    assert "4" in caption and "2" in caption


def test_step_zero_and_one_show_the_process(client):
    _, result0, steps0, caption0, shown0 = run(client, book_json(), step=0)
    assert shown0 == 0 and result0["step_shown"] == 0 and "Step 0" in caption0
    assert len(steps0["data"]) == 2
    _, result1, steps1, caption1, shown1 = run(client, book_json(), step=1)
    assert shown1 == 1 and "Step 1/2" in caption1
    first = result1["steps"][0]
    assert f"#{first['baseline']}" in caption1
    assert steps1["data"][0][0].startswith("▶")


def test_picture_is_an_image(client):
    picture, *_ = run(client, book_json(), step=1)
    from PIL import Image

    image = Image.open(picture)
    assert image.size[0] >= 600 and image.mode == "RGB"


def test_thresholds(client):
    # score threshold 0.85 leaves the two 0.9 boxes
    _, result, *_ = run(client, book_json(), score=0.85)
    assert result["counts"]["above_score_threshold"] == 2 and sorted(result["kept"]) == [0, 3]
    # an IoU threshold above every pairwise IoU keeps everything
    ious = torchvision.ops.box_iou(BOOK_BOXES, BOOK_BOXES).fill_diagonal_(0)
    _, result, *_ = run(client, book_json(), iou=float(ious.max()) + 0.01)
    assert sorted(result["kept"]) == [0, 1, 2, 3]
    # between IoU(0,2) and IoU(0,1): box 1 goes, box 2 stays
    _, result, *_ = run(client, book_json(), iou=float((ious[0, 1] + ious[0, 2]) / 2))
    assert 1 not in result["kept"] and 2 in result["kept"]


def test_class_aware_only_suppresses_the_same_class(client):
    candidates = {"candidates": [[0, 0, 10, 10, 0.9, 0], [1, 1, 11, 11, 0.8, 1], [0, 1, 10, 11, 0.7, 0]]}
    _, agnostic, *_ = run(client, candidates, class_aware=False)
    _, aware, *_ = run(client, candidates, class_aware=True)
    assert agnostic["kept"] == [0]
    assert aware["kept"] == [0, 1]
    assert aware["class_aware"] is True


@pytest.mark.parametrize("seed", [0, 7])
@pytest.mark.parametrize("class_aware", [False, True])
def test_clutter_matches_torchvision(client, seed, class_aware):
    text, table, *_ = client.predict(seed, 6, 5, 3, api_name="/nms_clutter")
    candidates = nms.parse_candidates(text)
    assert len(table["data"]) == len(candidates.scores) == 6 * 5 + 3
    score_threshold, iou_threshold = 0.2, 0.45
    _, result, *_ = run(client, text, score=score_threshold, iou=iou_threshold, class_aware=class_aware)
    active = np.flatnonzero(candidates.scores >= score_threshold)
    boxes = torch.tensor(candidates.boxes[active], dtype=torch.float32)
    scores = torch.tensor(candidates.scores[active], dtype=torch.float32)
    labels = torch.tensor(candidates.labels[active])
    if class_aware:
        expected = torchvision.ops.batched_nms(boxes, scores, labels, iou_threshold)
    else:
        expected = torchvision.ops.nms(boxes, scores, iou_threshold)
    assert sorted(result["kept"]) == sorted(active[expected.numpy()].tolist())
    # every suppressed IoU really is above the threshold, and every kept score is in decreasing order
    for step in result["steps"]:
        assert all(iou > iou_threshold for iou in step["ious"])
    kept_scores = [candidates.scores[i] for i in result["kept"]]
    assert kept_scores == sorted(kept_scores, reverse=True)


def test_clutter_is_reproducible_by_seed(client):
    first = client.predict(3, 4, 3, 2, api_name="/nms_clutter")[0]
    again = client.predict(3, 4, 3, 2, api_name="/nms_clutter")[0]
    other = client.predict(4, 4, 3, 2, api_name="/nms_clutter")[0]
    assert first == again and first != other


@pytest.mark.parametrize(
    "payload",
    [
        {"boxes": [[0, 0, 10, 10], [1, 1, 11, 11]], "scores": [0.9, 0.8], "labels": [0, 0]},
        [{"box": [0, 0, 10, 10], "score": 0.9, "label": "car"}, {"box": [1, 1, 11, 11], "score": 0.8, "label": "car"}],
        [[0, 0, 10, 10, 0.9], [1, 1, 11, 11, 0.8]],
    ],
)
def test_other_candidate_formats(client, payload):
    _, result, *_ = run(client, payload)
    assert result["kept"] == [0] and result["counts"]["candidates"] == 2


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "not valid JSON"),
        ("[]", "no candidate boxes"),
        ('[[10, 0, 0, 10, 0.5, 0]]', "x1 <= x2"),
        ('[[0, 0, 10, 10, 1.5, 0]]', "scores must lie in [0, 1]"),
        ('[[0, 0, 10, "a", 0.5, 0]]', "expected a number"),
        ('[[0, 0, 10, 10]]', "expected [x1, y1, x2, y2, score, class]"),
        (json.dumps([[0, 0, 1, 1, 0.5, 0]] * (nms.MAX_CANDIDATES + 1)), "Too many candidates"),
        ('{"boxes": [[0, 0, 1, 1]], "scores": [0.5, 0.6]}', "same length"),
    ],
)
def test_bad_candidates_give_clear_errors(client, text, message):
    with pytest.raises(Exception) as error:
        run(client, text)
    assert message in str(error.value)
    # the server still answers
    _, result, *_ = run(client, book_json())
    assert sorted(result["kept"]) == [0, 3]


def test_load_candidates_gives_updates_for_the_tab(app_url):
    assert nms.CANDIDATES_BOX is not None and len(nms.LOAD_TARGETS) == 6
    image = np.zeros((100, 200, 3), dtype=np.uint8)
    updates = nms.load_candidates(torch.tensor([[10.0, 10, 50, 60], [12, 12, 48, 58]]), torch.tensor([0.9, 0.6]),
                                  torch.tensor([1, 1]), class_names=["bg", "square"], image=image)
    candidates = nms.parse_candidates(updates[nms.CANDIDATES_BOX])
    assert candidates.image_size == (200, 100) and not candidates.normalized
    assert candidates.class_names == ["bg", "square"] and candidates.labels.tolist() == [1, 1]
    assert updates[nms.BACKGROUND_CHOICE] == nms.UPLOADED and updates[nms.BACKGROUND_UPLOAD] is image
    assert updates[nms.CANDIDATES_TABLE][0][-1] == "square"
    assert nms.IOU_THRESHOLD not in updates and nms.CLASS_AWARE not in updates  # the student's settings stay
    with_settings = nms.load_candidates([[10, 10, 50, 60]], [0.9], iou_threshold=0.45, class_aware=True)
    assert with_settings[nms.IOU_THRESHOLD] == 0.45 and with_settings[nms.CLASS_AWARE] is True
    with pytest.raises(gr.Error):
        nms.load_candidates([[10, 10, 5, 60]], [0.9])


def test_table_edits_round_trip():
    candidates = nms.book_candidates()
    table = candidates.table()
    table[1][5] = 0.95  # edit a score
    table.append(["", 0.6, 0.1, 0.9, 0.5, 0.4, "cat"])  # a new row (no "#" yet)
    edited = nms.candidates_from_table(table, candidates.to_json())
    assert edited.scores.tolist() == [0.9, 0.95, 0.7, 0.9, 0.4]
    assert edited.labels.tolist() == [0, 0, 0, 1, 1] and edited.normalized and edited.image_size == (728, 561)


# --- the picture never contradicts its legend (issue 14) ------------------------------------------------


def _colour_pixels(picture: np.ndarray, colour) -> np.ndarray:
    return np.all(picture == np.array(colour, dtype=np.uint8), axis=-1)


def test_kept_boxes_are_thick_outlines_in_their_class_colour_as_the_legend_says():
    """Random clutter, finished: every kept box, whatever its class, is a thick solid outline in its class's colour
    and labelled "kept"; the legend draws the line styles in neutral grey and gives each class its colour."""
    candidates = nms.clutter_candidates(0)
    trace = nms.run_nms(candidates, 0.0, 0.5, False)
    picture, _ = nms.render(candidates, trace, len(trace.steps))
    classes = sorted(set(candidates.labels.tolist()))
    legend = nms._legend(picture.shape[1], tuple((candidates.class_name(k), nms.PALETTE[k]) for k in classes))
    assert np.array_equal(picture[-legend.height:], np.asarray(legend))  # the strip under the picture
    scale = (picture.shape[0] - legend.height) / candidates.image_size[1]
    kept_classes = set()
    for i in trace.kept:
        x1, y1, x2, y2 = (candidates.boxes[i] * scale).round().astype(int)
        colour = nms.PALETTE[int(candidates.labels[i])]
        left_edge = picture[y1 + 8 : y2 - 8, x1 + 1]  # the outline's 4 px band, clear of the corner labels
        assert (left_edge == colour).all(axis=-1).mean() > 0.5, (i, colour)
        kept_classes.add(int(candidates.labels[i]))
    assert len(kept_classes) >= 2  # class A and B boxes are both kept: the case a student misread
    legend = np.asarray(legend)
    for k in classes:
        assert _colour_pixels(legend, nms.PALETTE[k]).sum() >= 200  # the class's swatch
    styles_only = np.asarray(nms._legend(picture.shape[1], ()))
    assert _colour_pixels(styles_only, nms.STATUS_INK).sum() > 100
    for colour in nms.PALETTE:  # the style samples carry no class colour: "kept" is not "blue"
        assert not _colour_pixels(styles_only, colour).any(), colour


def test_no_class_is_drawn_in_red_or_grey():
    """Red reads as "suppressed", and suppressed boxes are dashed grey: no class has either colour."""
    for red, green, blue in nms.PALETTE:
        assert not (red > 150 and green < 110 and blue < 110), (red, green, blue)
        assert max(red, green, blue) - min(red, green, blue) > 60, (red, green, blue)


def test_kept_labels_say_kept(monkeypatch):
    """The book's example, finished: the two kept boxes are labelled "kept" (the last one "baseline"), the
    suppressed ones carry no such word."""
    written: list[str] = []
    original = nms.LabelPlacer.add
    monkeypatch.setattr(nms.LabelPlacer, "add", lambda self, box, text, *args, **kwargs: (
        written.append(text), original(self, box, text, *args, **kwargs))[1])
    candidates = nms.book_candidates()
    trace = nms.run_nms(candidates, 0.0, 0.5, False)
    nms.render(candidates, trace, len(trace.steps))
    assert sorted(written) == ["baseline #3 cat 0.90", "kept #0 dog 0.90"]
