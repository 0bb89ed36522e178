"""The Anchors & IoU tab's endpoints through gradio_client: numbers against the book and torchvision, bad inputs.

Run alone with `LAB_TABS=demos.anchors pytest tests/test_demo_anchors.py`.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torchvision
from gradio_client import handle_file
from PIL import Image

import demos.anchors as tab
from core.ops.anchors import multibox_prior
from tests.lecture_links import lecture_links_into

BOOK_SIZES, BOOK_RATIOS = "0.75, 0.5, 0.25", "1, 2, 0.5"
BOOK_OFFSETS = [0, 0, 0, 0, 1.40, 10.0, 2.59, 7.18, -1.20, 0.269, 1.68, -1.57,
                0, 0, 0, 0, -0.571, -1.0, 4.17e-06, 0.626]
"""The book's bbox_offset for the 5-anchor example (d2l.ai 14.4.3, printed to 3 significant digits)."""


def table(rows, headers):
    return {"headers": headers, "data": rows, "metadata": None}


def label(client, gt=tab.BOOK_GROUND_TRUTH, anchors=tab.BOOK_ANCHORS, threshold=0.5, step=3,
          sample=tab.DEFAULT_SAMPLE):
    return client.predict(table(gt, tab.GT_HEADERS), table(anchors, tab.ANCHOR_HEADERS), threshold, step, None,
                          sample, api_name="/anchors_label")


def expect_error(client, fragment, *args, api_name):
    with pytest.raises(Exception) as error:
        client.predict(*args, api_name=api_name)
    assert fragment in str(error.value), str(error.value)


def still_serving(client):
    _, _, result = client.predict("0, 0, 10, 10", "5, 0, 15, 10", api_name="/anchors_iou")
    assert result["iou"] == pytest.approx(50 / 150)


# --- Boxes ----------------------------------------------------------------------------------------------


def test_boxes_convert_corner_to_center_and_back(client):
    picture, center, result = client.predict(None, tab.DEFAULT_SAMPLE, table(tab.DEFAULT_BOXES, tab.BOX_HEADERS_CORNER),
                                             api_name="/boxes_convert")
    assert Image.open(picture).size == (451, 300)
    assert result["center"][0] == [171.5, 115.5, 77.0, 63.0]  # left eye: (133+210)/2, (84+147)/2, 210-133, 147-84
    assert [row[0] for row in center["data"]] == ["left eye", "right eye", "nose"]
    assert center["data"][2][1:] == [264.0, 244.0, 60.0, 44.0]
    expected = torchvision.ops.box_convert(torch.tensor([r[1:] for r in tab.DEFAULT_BOXES]), "xyxy", "cxcywh")
    assert np.allclose(result["center"], expected.numpy())

    _, corner, back = client.predict(None, tab.DEFAULT_SAMPLE, center, api_name="/boxes_convert_center")
    assert back["corner"] == [row[1:] for row in tab.DEFAULT_BOXES]
    assert [row[1:] for row in corner["data"]] == [row[1:] for row in tab.DEFAULT_BOXES]


def test_boxes_incomplete_rows_are_kept_blank_and_bad_cells_are_refused(client):
    rows = [["a", 10, 20, 30, 60], ["half typed", 5, None, None, None]]
    _, center, result = client.predict(None, tab.DEFAULT_SAMPLE, table(rows, tab.BOX_HEADERS_CORNER),
                                       api_name="/boxes_convert")
    assert result["center"] == [[20.0, 40.0, 20.0, 40.0], None]
    assert center["data"][1][0] == "half typed"
    expect_error(client, "x1 ≤ x2", None, tab.DEFAULT_SAMPLE, table([["b", 50, 0, 10, 10]], tab.BOX_HEADERS_CORNER),
                 api_name="/boxes_convert")
    expect_error(client, "cx must be a number", None, tab.DEFAULT_SAMPLE, table([["b", "cat", 0, 10, 10]],
                                                                         tab.BOX_HEADERS_CENTER),
                 api_name="/boxes_convert_center")
    still_serving(client)


# --- Anchors at a pixel ---------------------------------------------------------------------------------


def test_anchor_at_pixel_matches_the_book_on_a_561x728_upload(client, tmp_path):
    path = tmp_path / "catdog_sized.png"
    Image.new("RGB", (728, 561), (120, 160, 200)).save(path)
    picture, legend, count, result = client.predict(handle_file(str(path)), tab.DEFAULT_SAMPLE, BOOK_SIZES,
                                                    BOOK_RATIOS, 250, 250, api_name="/anchors_at_pixel")
    assert Image.open(picture).size == (728, 561)
    first = result["anchors"][0]
    # the book: boxes[250, 250, 0, :] == [0.06, 0.07, 0.63, 0.82]
    assert [round(v, 2) for v in first["box_normalized"]] == [0.06, 0.07, 0.63, 0.82]
    reference = multibox_prior(torch.zeros(1, 3, 561, 728), [0.75, 0.5, 0.25], [1, 2, 0.5]).reshape(561, 728, 5, 4)
    assert np.allclose([a["box_normalized"] for a in result["anchors"]], reference[250, 250].numpy(), atol=1e-5)
    # true pixel sizes: width = h s sqrt(r), height = h s / sqrt(r), with h = 561
    assert [(a["size"], a["ratio"]) for a in result["anchors"]] == [(0.75, 1), (0.5, 1), (0.25, 1), (0.75, 2),
                                                                     (0.75, 0.5)]
    ratio2 = result["anchors"][3]
    assert ratio2["width_px"] == pytest.approx(561 * 0.75 * math.sqrt(2), abs=1e-3)
    assert ratio2["height_px"] == pytest.approx(561 * 0.75 / math.sqrt(2), abs=1e-3)
    assert ratio2["width_px"] / ratio2["height_px"] == pytest.approx(2.0)
    assert first["area_px"] == pytest.approx((0.75 * 561) ** 2, abs=1e-2)
    assert first["box_px"][2] - first["box_px"][0] == pytest.approx(420.75, abs=1e-3)
    assert result["count"] == {"per_pixel": 5, "whole_image": 561 * 728 * 5, "all_pairs": 561 * 728 * 9}
    assert len(legend["data"]) == 5 and "= 595.0" in legend["data"][3][3]
    assert "2{,}042{,}040" in count


def test_anchor_on_the_book_canvas_and_a_small_upload(client, tmp_path):
    _, _, _, result = client.predict(None, tab.BOOK_CANVAS, BOOK_SIZES, BOOK_RATIOS, 250, 250,
                                     api_name="/anchors_at_pixel")
    assert result["image_hw"] == [561, 728]
    assert [round(v, 2) for v in result["anchors"][0]["box_normalized"]] == [0.06, 0.07, 0.63, 0.82]
    _, _, _, corner = client.predict(None, tab.DEFAULT_SAMPLE, "0.5", "1", 0, 0, api_name="/anchors_at_pixel")
    assert corner["center"] == [0, 0] and corner["count"]["per_pixel"] == 1
    assert corner["anchors"][0]["width_px"] == pytest.approx(150.0)  # chelsea is 300 px high


@pytest.mark.parametrize(
    "sizes, ratios, x, y, fragment",
    [
        ("a, b", BOOK_RATIOS, 10, 10, "Sizes"),
        ("0.5, 1.5", BOOK_RATIOS, 10, 10, "at most 1"),
        (BOOK_SIZES, "1, 0", 10, 10, "Ratios"),
        (BOOK_SIZES, BOOK_RATIOS, 451, 10, "outside"),
        (BOOK_SIZES, BOOK_RATIOS, 10, -1, "outside"),
    ],
)
def test_anchor_bad_inputs_give_clear_errors(client, sizes, ratios, x, y, fragment):
    expect_error(client, fragment, None, tab.DEFAULT_SAMPLE, sizes, ratios, x, y, api_name="/anchors_at_pixel")
    still_serving(client)


def test_non_image_upload_is_refused_clearly(client, tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("not an image")
    expect_error(client, "not an image", handle_file(str(path)), tab.DEFAULT_SAMPLE, BOOK_SIZES, BOOK_RATIOS, 1, 1,
                 api_name="/anchors_at_pixel")
    still_serving(client)


# --- Multiscale -------------------------------------------------------------------------------------------


def test_grid_anchors_like_display_anchors(client):
    picture, result = client.predict(None, tab.BOOK_CANVAS, 4, 4, "0.15", BOOK_RATIOS, api_name="/anchors_grid")
    assert Image.open(picture).size == (728, 561)
    assert result["total"] == 4 * 4 * 3 and result["anchors_per_cell"] == 3
    assert result["centers_px"][0] == [91.0, 70.125]  # (0.5 / 4 * 728, 0.5 / 4 * 561)
    assert result["boxes_normalized"][0] == pytest.approx([0.05, 0.05, 0.2, 0.2], abs=1e-4)
    reference = multibox_prior(torch.zeros(1, 1, 4, 4), [0.15], [1, 2, 0.5])[0]
    assert np.allclose(result["boxes_normalized"], reference.numpy(), atol=1e-4)
    _, one = client.predict(None, tab.BOOK_CANVAS, 1, 1, "0.8", BOOK_RATIOS, api_name="/anchors_grid")
    assert one["total"] == 3 and one["boxes_normalized"][0] == pytest.approx([0.1, 0.1, 0.9, 0.9], abs=1e-4)
    expect_error(client, "minimum value 1", None, tab.BOOK_CANVAS, 0, 4, "0.15", BOOK_RATIOS, api_name="/anchors_grid")
    still_serving(client)


# --- IoU -------------------------------------------------------------------------------------------------


def test_iou_of_hand_computed_boxes(client):
    picture, numbers, result = client.predict("40, 40, 240, 200", "140, 100, 340, 280", api_name="/anchors_iou")
    # A: 200 x 160 = 32000, B: 200 x 180 = 36000, A ∩ B: [140, 100, 240, 200] = 100 x 100
    assert result["area_a"] == 32000 and result["area_b"] == 36000
    assert result["intersection"] == 10000 and result["union"] == 58000
    assert result["iou"] == pytest.approx(10000 / 58000, abs=1e-6)
    assert result["intersection_box"] == [140, 100, 240, 200]
    expected = torchvision.ops.box_iou(torch.tensor([[40.0, 40, 240, 200]]), torch.tensor([[140.0, 100, 340, 280]]))
    assert result["iou"] == pytest.approx(float(expected), abs=1e-6)
    assert "0.1724" in numbers
    assert Image.open(picture).size == (400, 300)


def test_iou_edge_cases(client):
    _, _, disjoint = client.predict("0, 0, 10, 10", "20, 20, 30, 30", api_name="/anchors_iou")
    assert disjoint["iou"] == 0 and disjoint["intersection_box"] is None
    _, _, same = client.predict("5, 5, 25, 45", "5, 5, 25, 45", api_name="/anchors_iou")
    assert same["iou"] == pytest.approx(1.0)
    _, _, empty = client.predict("5, 5, 5, 5", "5, 5, 5, 5", api_name="/anchors_iou")
    assert empty["iou"] == 0  # zero-area boxes: 0, not NaN
    picture, _, big = client.predict("0, 0, 900, 700", "100, 100, 200, 200", api_name="/anchors_iou")
    assert Image.open(picture).size == (920, 720) and big["iou"] == pytest.approx(10000 / 630000)


@pytest.mark.parametrize(
    "box_a, fragment",
    [("1, 2, 3", "Box A"), ("10, 0, 5, 5", "x1 ≤ x2"), ("0, 0, 5000, 5", "between 0 and"), ("x", "Box A")],
)
def test_iou_bad_boxes(client, box_a, fragment):
    expect_error(client, fragment, box_a, "0, 0, 10, 10", api_name="/anchors_iou")
    still_serving(client)


# --- Labeling ---------------------------------------------------------------------------------------------


def test_labeling_reproduces_the_book(client):
    picture, heatmap, text, offsets, result = label(client)
    assert result["class_labels"] == [[0, 1, 2, 0, 2]]
    assert result["offsets"]["bbox_mask"] == [[0.0] * 4 + [1.0] * 8 + [0.0] * 4 + [1.0] * 4]
    assert np.allclose(result["offsets"]["bbox_offset"][0], BOOK_OFFSETS, rtol=1e-2, atol=1e-3)
    # raw offsets are the normalised ones times sigma (0.1 for x, y; 0.2 for w, h)
    raw, normalized = result["offsets"]["raw"], result["offsets"]["normalized"]
    assert raw[0] is None and raw[3] is None
    assert np.allclose(np.array(raw[1]), np.array(normalized[1]) * [0.1, 0.1, 0.2, 0.2], atol=1e-5)
    assert [(s["anchor"], s["gt"]) for s in result["steps"]] == [(4, 1), (1, 0)]
    assert result["steps"][0]["iou"] == pytest.approx(0.7459, abs=1e-4)
    assert result["anchors_bbox_map"] == [-1, 0, 1, -1, 1]
    assert result["threshold_map"] == [-1, -1, 1, -1, 1]
    assert result["num_steps"] == 3 and result["step"] == 3
    gt = torch.tensor(tab.BOOK_GROUND_TRUTH)[:, 1:]
    expected = torchvision.ops.box_iou(torch.tensor(tab.BOOK_ANCHORS), gt)
    assert np.allclose(result["iou"], expected.numpy(), atol=1e-6)
    assert [row[1] for row in offsets["data"]] == ["0 (background)", "1 (dog)", "2 (cat)", "0 (background)", "2 (cat)"]
    assert "threshold" in text
    assert Image.open(heatmap).size[0] > 200 and Image.open(picture).size == (451, 300)


def test_labeling_steps_and_threshold(client):
    _, _, text0, _, step0 = label(client, step=0)
    assert step0["assignment_at_step"] == [-1] * 5 and "Step 0" in text0
    _, _, text1, _, step1 = label(client, step=1)
    assert step1["assignment_at_step"] == [-1, -1, -1, -1, 1]
    assert "0.75" in text1 and "anchor 4" in text1 and "row 4" in text1 and "column 1" in text1
    _, _, _, _, step2 = label(client, step=2)
    assert step2["assignment_at_step"] == [-1, 0, -1, -1, 1]
    _, _, _, _, strict = label(client, threshold=0.6)
    assert strict["class_labels"] == [[0, 1, 0, 0, 2]]  # anchor 2's IoU with the cat is 0.57 < 0.6
    _, _, _, _, loose = label(client, threshold=0.2)
    assert loose["class_labels"] == [[0, 1, 2, 2, 2]]  # anchor 3 (IoU 0.21 with the cat) joins


def test_labeling_bad_inputs(client):
    expect_error(client, "between 0 and 3", table(tab.BOOK_GROUND_TRUTH, tab.GT_HEADERS),
                 table(tab.BOOK_ANCHORS, tab.ANCHOR_HEADERS), 0.5, 7, None, tab.DEFAULT_SAMPLE,
                 api_name="/anchors_label")
    bad_anchor = [[0.5, 0.1, 0.2, 0.3]]
    expect_error(client, "x1 < x2", table(tab.BOOK_GROUND_TRUTH, tab.GT_HEADERS),
                 table(bad_anchor, tab.ANCHOR_HEADERS), 0.5, 0, None, tab.DEFAULT_SAMPLE, api_name="/anchors_label")
    bad_class = [[1.5, 0.1, 0.1, 0.2, 0.2]]
    expect_error(client, "whole number", table(bad_class, tab.GT_HEADERS), table(tab.BOOK_ANCHORS, tab.ANCHOR_HEADERS),
                 0.5, 0, None, tab.DEFAULT_SAMPLE, api_name="/anchors_label")
    expect_error(client, "maximum value 1", table(tab.BOOK_GROUND_TRUTH, tab.GT_HEADERS),
                 table(tab.BOOK_ANCHORS, tab.ANCHOR_HEADERS), 1.5, 0, None, tab.DEFAULT_SAMPLE,
                 api_name="/anchors_label")
    still_serving(client)


# --- the picture and its boxes belong together (issue 14) -------------------------------------------------

SETTINGS = (BOOK_SIZES, BOOK_RATIOS, 4, 4, "0.15", BOOK_RATIOS, tab.BOOK_GROUND_TRUTH, tab.BOOK_ANCHORS, 0.5, 3)
"""The controls `_on_upload` / `_on_sample` redraw with: sizes, ratios, fh, fw, grid sizes and ratios, the
labeling example, its threshold and step."""


@pytest.fixture
def info_messages(monkeypatch):
    shown: list[str] = []
    monkeypatch.setattr(tab.gr, "Info", lambda message, *args, **kwargs: shown.append(message))
    return shown


def _photo(tmp_path, width=1400, height=1000):
    path = tmp_path / f"photo_{width}x{height}.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)).save(path)
    return str(path)


def test_an_upload_replaces_the_cats_boxes_and_the_picker_says_so(tmp_path, info_messages):
    picker, info, corner, center, picture, boxes_json, *_ = tab._on_upload(_photo(tmp_path), *SETTINGS)
    assert picker.value == tab.UPLOADED and tab.UPLOADED in [c[1] for c in picker.choices]
    assert not any("eye" in str(row[0]) or "nose" in str(row[0]) for row in corner + center)
    assert boxes_json["corner"] == [] and boxes_json["labels"] == []
    assert picture.shape == (571, 800, 3)  # the photo itself (1400 x 1000 downscaled to 800 px), nothing drawn
    assert "your upload" in info and "800×571" in info


def test_the_downscale_notice_is_shown_once(tmp_path, info_messages):
    path = _photo(tmp_path, 1600, 1200)
    tab._on_upload(path, *SETTINGS)
    assert info_messages == ["Downscaled from 1600x1200 to 800x600 (max side 800)."]
    # every other view reads the same upload without repeating it
    tab.anchors_at_pixel(path, tab.UPLOADED, BOOK_SIZES, BOOK_RATIOS, 10, 10)
    tab.anchors_grid(path, tab.UPLOADED, 2, 2, "0.4", BOOK_RATIOS)
    tab.boxes_from_corner(path, tab.UPLOADED, [["a box", 1, 2, 30, 40]])
    tab._on_sample(tab.UPLOADED, path, *SETTINGS)
    assert len(info_messages) == 1


def test_choosing_a_sample_drops_the_upload_and_brings_its_own_boxes(tmp_path, info_messages):
    picker, upload, info, corner, *_ = tab._on_sample("coffee", _photo(tmp_path), *SETTINGS)
    assert upload is None and picker.value == "coffee"
    assert tab.UPLOADED not in [c[1] for c in picker.choices]
    assert corner == tab.BLANK_BOXES  # the cat's eyes are not on the coffee cup
    picker, upload, info, corner, *_ = tab._on_sample(tab.DEFAULT_SAMPLE, None, *SETTINGS)
    assert corner == tab.DEFAULT_BOXES and [row[0] for row in corner] == ["left eye", "right eye", "nose"]
    with pytest.raises(tab.gr.Error, match="upload it again"):
        tab._on_sample(tab.UPLOADED, None, *SETTINGS)  # "your upload" without one


def test_the_cat_has_the_same_boxes_here_and_in_the_augmentation_tab():
    from core.data import augment
    from core.data.images import CAT_PARTS

    cat = augment.scene(augment.DEFAULT_SCENE)
    assert [row[0] for row in tab.DEFAULT_BOXES] == cat.names == list(CAT_PARTS)
    assert np.array_equal(np.array([row[1:] for row in tab.DEFAULT_BOXES]), cat.boxes)
    assert tab.SAMPLE_TOKENS[tab.DEFAULT_SAMPLE] == "chelsea (cat)" and np.array_equal(tab.source_image(None, tab.DEFAULT_SAMPLE),
                                                                    cat.image)


# --- every view is a link (issue 15) ---------------------------------------------------------------------


def test_the_views_defaults_are_the_controls_first_values():
    with tab.gr.Blocks():
        ui = tab.build()
    assert tab.AnchorsView.from_values(*[control.value for control in ui.controls]) == tab.AnchorsView()
    assert tab.AnchorsView().link() == "?tab=anchors"
    assert (tab.AnchorsView.x, tab.AnchorsView.y) == tab.image_center(None, tab.DEFAULT_SAMPLE) == (225, 150)


NON_DEFAULT = tab.AnchorsView(image="book", boxes="dog:60,45,378,516", sizes="0.5,0.25", ratios="1,2", x=300, y=200,
                              fh=2, fw=3, grid_sizes="0.4", grid_ratios="1", box_a="0,0,100,100",
                              box_b="50,0,150,100", gt="0:0.1,0.1,0.5,0.5", anchors="0,0,0.4,0.4;0.5,0.5,0.9,0.9",
                              threshold=0.3, step=1)


def test_a_link_round_trips_and_names_only_what_differs():
    link = NON_DEFAULT.link()
    assert link.startswith("?tab=anchors&image=book&boxes=dog%3A60%2C45%2C378%2C516&sizes=")
    from urllib.parse import parse_qsl
    query = dict(parse_qsl(link[1:]))
    assert tab.AnchorsView.from_query(query) == (NON_DEFAULT, [])
    view, notices = tab.AnchorsView.from_query({"image": "upload"})
    assert view == tab.AnchorsView() and "does not travel" in notices[0]
    view, notices = tab.AnchorsView.from_query({"image": "book", "x": "780"})  # the canvas is 728 wide
    assert view == tab.AnchorsView() and "outside the 728×561 image" in notices[0]
    view, notices = tab.AnchorsView.from_query({"boxes": "a:1,2,3"})
    assert view == tab.AnchorsView() and "Boxes, box 1" in notices[0]


def test_a_link_without_boxes_shows_the_pictures_own_boxes():
    cat = tab.show(tab.AnchorsView())
    assert [row[0] for row in cat[1]] == ["left eye", "right eye", "nose"]
    canvas = tab.show(tab.AnchorsView(image="book"))
    assert canvas[1] == tab.BLANK_BOXES and canvas[4]["corner"] == []


def test_show_equals_the_endpoints_for_the_same_settings(client):
    view = NON_DEFAULT
    shown = tab.show(view)
    info, corner, center, _, boxes_json, _, legend, _, anchors_json, _, grid_json, _, _, iou_json = shown[:14]
    gt, anchor_boxes, step, _, _, step_text, offsets, label_json = shown[14:]
    assert "728×561" in info and corner == [["dog", 60.0, 45.0, 378.0, 516.0]]
    _, _, expected = client.predict(None, "book", table(corner, tab.BOX_HEADERS_CORNER), api_name="/boxes_convert")
    assert boxes_json == expected and expected["center"] == [[219.0, 280.5, 318.0, 471.0]]
    *_, expected = client.predict(None, "book", "0.5,0.25", "1,2", 300, 200, api_name="/anchors_at_pixel")
    assert anchors_json == expected and len(expected["anchors"]) == 3
    _, expected = client.predict(None, "book", 2, 3, "0.4", "1", api_name="/anchors_grid")
    assert grid_json == expected and expected["total"] == 6
    *_, expected = client.predict("0,0,100,100", "50,0,150,100", api_name="/anchors_iou")
    assert iou_json == expected and expected["iou"] == pytest.approx(1 / 3)
    expected = label(client, gt=[[0, 0.1, 0.1, 0.5, 0.5]], anchors=[[0, 0, 0.4, 0.4], [0.5, 0.5, 0.9, 0.9]],
                     threshold=0.3, step=1, sample="book")[-1]
    assert label_json == expected and label_json["step"] == 1 and label_json["num_steps"] == 2
    assert step.maximum == 2 and step.value == 1 and "Step 1 of 2" in step_text
    # a step beyond the last shows the last
    assert tab.show(view.replace(step=5))[16].value == 2


def test_every_lecture_link_into_the_tab_opens_without_a_notice_and_shows_the_answer():
    links = lecture_links_into(tab.AnchorsView)
    for link in links:
        params, part = link.step["link_params"], link.part
        assert part == params["part"]
        shown = tab.show(link.view)
        answer = link.step["answer"]
        if part == "boxes":  # the question asks for one number of the box's center form
            assert any(math.isclose(float(answer), v, abs_tol=0.01) for v in shown[4]["center"][0])
        elif part == "iou" and isinstance(answer, (int, float)):
            assert shown[13]["iou"] == pytest.approx(float(answer), abs=link.step["tolerance"] or 0.01)
        elif part == "labeling":
            assert shown[-1]["step"] == shown[-1]["num_steps"] == int(params["step"])
        elif part == "anchors":
            assert shown[8]["center"] == [int(params["x"]), int(params["y"])]
        elif part == "multiscale":
            assert shown[10]["fmap_hw"] == [int(params["fh"]), int(params["fw"])]
    assert len(links) == 7 * 6  # steps 3-8 and 10
