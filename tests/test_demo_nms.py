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
from tests.lecture_links import lecture_links_into

BOOK_BOXES = torch.tensor(nms.BOOK_BOXES)


def run(client, candidates, score=0.0, iou=0.5, class_aware=False, step=nms.FINAL_STEP):
    text = candidates if isinstance(candidates, str) else json.dumps(candidates)
    picture, result, steps, caption, slider = client.predict(text, score, iou, class_aware, step, api_name="/nms_run")
    shown = slider["value"] if isinstance(slider, dict) else slider  # the step slider's update
    return picture, result, steps, caption, shown


def book_json() -> str:
    return nms.to_json(nms.book_candidates())


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
    active = torch.nonzero(candidates.scores >= score_threshold).squeeze(1)
    boxes = candidates.boxes[active].float()
    scores = candidates.scores[active].float()
    labels = candidates.labels[active]
    if class_aware:
        expected = torchvision.ops.batched_nms(boxes, scores, labels, iou_threshold)
    else:
        expected = torchvision.ops.nms(boxes, scores, iou_threshold)
    assert sorted(result["kept"]) == sorted(active[expected].tolist())
    # every suppressed IoU really is above the threshold, and every kept score is in decreasing order
    for step in result["steps"]:
        assert all(iou > iou_threshold for iou in step["ious"])
    kept_scores = [float(candidates.scores[i]) for i in result["kept"]]
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


def test_candidates_sent_by_another_tab_open_a_custom_view():
    """What the Detection tab sends: candidates from arrays (pixels of the picture), a custom view carrying them
    when short, and `receive` drawing them on the sent picture with the sender's NMS settings."""
    image = np.zeros((100, 200, 3), dtype=np.uint8)
    candidates = nms.candidates_from_arrays(torch.tensor([[10.0, 10, 50, 60], [12, 12, 48, 58]]),
                                            torch.tensor([0.9, 0.6]), torch.tensor([1, 1]),
                                            class_names=["bg", "square"], image_size=(200, 100))
    assert candidates.image_size == (200, 100) and not candidates.normalized
    assert candidates.class_names == ("bg", "square") and candidates.labels.tolist() == [1, 1]
    view = nms.sent_view(candidates, iou_threshold=0.45, class_aware=True, has_picture=True)
    assert (view.source, view.iou, view.class_aware, view.background) == ("custom", 0.45, True, "upload")
    assert nms.parse_candidates(view.candidates).boxes.tolist() == candidates.boxes.tolist()  # short: in the link
    picture, result, steps, caption, step, frames, text, table, upload = nms.receive(
        view, {"candidates": nms.to_json(candidates), "picture": image})
    assert upload is image and table[0][-1] == "square" and "your image" in caption
    assert result["kept"] == [0] and result["steps"][0]["suppressed"] == [1]  # IoU 0.78 > 0.45
    many = nms.candidates_from_arrays(np.tile([[10.0, 10, 50, 60]], (60, 1)), np.full(60, 0.5))
    assert nms.link_text(many) == ""  # too long for a link: the caption says so
    assert "too long for a link" in nms.receive(nms.sent_view(many, iou_threshold=0.5, class_aware=False,
                                                              has_picture=False), {"candidates": nms.to_json(many)})[3]
    with pytest.raises(gr.Error):
        nms.candidates_from_arrays([[10, 10, 5, 60]], [0.9])


def test_table_edits_round_trip():
    candidates = nms.book_candidates()
    table = nms.table_rows(candidates)
    table[1][5] = 0.95  # edit a score
    table.append(["", 0.6, 0.1, 0.9, 0.5, 0.4, "cat"])  # a new row (no "#" yet)
    edited = nms.candidates_from_table(table, nms.to_json(candidates))
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
    legend = nms._legend(picture.shape[1], tuple((candidates.class_name(k), nms.class_color(k)) for k in classes))
    assert np.array_equal(picture[-legend.height:], np.asarray(legend))  # the strip under the picture
    scale = (picture.shape[0] - legend.height) / candidates.image_size[1]
    kept_classes = set()
    for i in trace.kept:
        x1, y1, x2, y2 = (candidates.boxes[i] * scale).round().int().tolist()
        colour = nms.class_color(int(candidates.labels[i]))
        left_edge = picture[y1 + 8 : y2 - 8, x1 + 1]  # the outline's 4 px band, clear of the corner labels
        assert (left_edge == colour).all(axis=-1).mean() > 0.5, (i, colour)
        kept_classes.add(int(candidates.labels[i]))
    assert len(kept_classes) >= 2  # class A and B boxes are both kept: the case a student misread
    legend = np.asarray(legend)
    for k in classes:
        assert _colour_pixels(legend, nms.class_color(k)).sum() >= 200  # the class's swatch
    styles_only = np.asarray(nms._legend(picture.shape[1], ()))
    assert _colour_pixels(styles_only, nms.STATUS_INK).sum() > 100
    for colour in nms.CLASS_RGB:  # the style samples carry no class colour: "kept" is not "blue"
        assert not _colour_pixels(styles_only, colour).any(), colour


def test_classes_take_the_labs_class_colours_and_never_the_suppressed_grey():
    """Classes are coloured as everywhere in the lab (`demos.drawing.CLASS_COLORS`, Okabe-Ito); suppressed boxes
    are dashed grey and labelled with their IoU, so no class is grey or black."""
    from demos.drawing import CLASS_COLORS, hex_to_rgb

    assert [nms.class_color(k) for k in range(len(CLASS_COLORS))] == [hex_to_rgb(c) for c in CLASS_COLORS]
    for red, green, blue in nms.CLASS_RGB:
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


# --- the view is a link (issue 15) -------------------------------------------------------------------------


def test_the_views_defaults_are_the_controls_initial_values():
    with gr.Blocks():
        ui = nms.build()
    assert [control.value for control in ui.controls] == list(nms.NmsView().values())
    assert ui.view is nms.NmsView and len(ui.uploads) == 1 and ui.receive is nms.receive


def test_a_view_round_trips_through_its_link():
    from urllib.parse import parse_qsl

    view = nms.NmsView(source="clutter", seed=7, objects=6, score=0.2, iou=0.45, class_aware=True,
                       background="coffee", step=3)
    query = dict(parse_qsl(view.link().split("?", 1)[1]))
    assert query["tab"] == "nms" and query["source"] == "clutter" and query["iou"] == "0.45"
    assert nms.NmsView.from_query(query) == (view, [])
    custom = nms.NmsView(source="custom", candidates=nms.link_text(nms.book_candidates()))
    assert nms.NmsView.from_query(dict(parse_qsl(custom.link().split("?", 1)[1]))) == (custom, [])


def test_show_equals_the_endpoints_numbers(client):
    view = nms.NmsView(source="clutter", seed=7, objects=6, per_object=5, classes=3, score=0.2, iou=0.45,
                       class_aware=True, step=4)
    picture, result, steps, caption, step, frames, text, table = nms.show(view)
    expected_text, expected_table, _ = client.predict(7, 6, 5, 3, api_name="/nms_clutter")
    assert text == expected_text and [list(row) for row in table] == expected_table["data"]
    _, expected, expected_steps, expected_caption, shown = run(client, text, score=0.2, iou=0.45, class_aware=True,
                                                               step=4)
    assert result == expected and shown == 4 and step["value"] == 4
    assert caption == nms.caption_block(expected_caption)
    unmarked = [[str(row[0]).removeprefix("▶ "), *map(str, row[1:])] for row in expected_steps["data"]]
    assert [list(map(str, row)) for row in steps] == unmarked  # the tab's table: the caption says which is shown
    # every step's frame for the browser: its caption is the endpoint's for that step
    assert len(frames["pictures"]) == len(frames["captions"]) == result["n_steps"] + 1
    assert frames["pictures"][4].startswith("data:image/jpeg;base64,")
    assert frames["captions"][4] == nms.caption_html(expected_caption)


def test_custom_candidates_too_long_for_a_link_say_so():
    picture, result, steps, caption, *_ = nms.show(nms.NmsView(source="custom", candidates=""))
    assert "did not travel with its link" in caption and result["counts"]["candidates"] == 4  # the book's


def test_every_lecture_link_into_the_tab_opens_its_answer():
    """The lecture's NMS step: the link parses without notices, and the view's last step keeps as many boxes as
    the question's answer."""
    links = lecture_links_into(nms.NmsView)
    for link in links:
        assert link.part is None
        _, result, *_ = nms.show(link.view)
        assert result["step_shown"] == result["n_steps"] == link.view.step
        assert result["counts"]["kept"] == link.step["answer"], (link.number, link.variant)
    assert len(links) >= 6


def test_step_frames_are_the_pictures_of_each_step():
    """The precomputed frames decode to the pictures `render` draws for each step (up to JPEG's small error), and a
    trace longer than MAX_FRAMES has none (the server draws each step)."""
    import base64
    import io

    from PIL import Image

    candidates = nms.book_candidates()
    frames = nms.step_frames(candidates, 0.0, 0.5, False)
    trace = nms.run_nms(candidates, 0.0, 0.5, False)
    assert len(frames["pictures"]) == len(trace.steps) + 1 == 3
    for step, url in enumerate(frames["pictures"]):
        decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))
        expected, _ = nms.render(candidates, trace, step)
        assert decoded.shape == expected.shape
        assert np.abs(decoded.astype(int) - expected.astype(int)).mean() < 3
    assert "Step 1/2" in frames["captions"][1] and "<strong>#0</strong>" in frames["captions"][1]
    far = nms.candidates_from_arrays([[10.0 * i, 0, 10.0 * i + 5, 5] for i in range(nms.MAX_FRAMES + 1)],
                                     [0.5] * (nms.MAX_FRAMES + 1))
    assert nms.step_frames(far, 0.0, 0.5, False) == {"pictures": [], "captions": []}
