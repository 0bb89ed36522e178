"""core.lecture: every step's answer against an independent computation (torchvision, scipy, the book's printed
values, plain loops written here), for variants 0..20; the path's shape; texts; grading.

The references below never call core.lecture's or core.ops' own functions for the quantity under test.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.ops as tv

from core.lecture import (
    STEPS, TOPICS, LabLink, PredictionError, check_variant, format_number, get_step, grade, lecture_step, question,
)
from core.lecture.figures import Text
from core.lecture.links import TAB_IDS

VARIANTS = range(21)


def number(step_id: str) -> int:
    return [s.id for s in STEPS].index(step_id) + 1


def ask(step_id: str, variant: int):
    return question(step_id, variant)


# --- the path -------------------------------------------------------------------------------------------------


def test_at_least_20_steps_covering_all_21_topics_in_order():
    assert len(STEPS) >= 20
    topics = [t for s in STEPS for t in s.topics]
    assert topics == sorted(topics), "steps must follow the outline's order"
    assert set(topics) == set(range(1, 22)) == set(TOPICS)


def test_ids_are_unique_slugs_and_numbers_round_trip():
    ids = [s.id for s in STEPS]
    assert len(set(ids)) == len(ids)
    for n, step_id in enumerate(ids, start=1):
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", step_id)
        assert get_step(n).id == step_id and get_step(step_id).id == step_id and lecture_step(n, 0)["id"] == step_id


def test_every_idea_has_two_to_four_sentences():
    for step in STEPS:
        text = re.sub(r"\$[^$]*\$", "X", step.idea)  # formulas hold dots too
        sentences = [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", text.strip()) if s]
        assert 2 <= len(sentences) <= 4, (step.id, len(sentences))


def test_numeric_answers_change_with_the_variant():
    changing = []
    for step in STEPS:
        asked = [step.ask(v) for v in VARIANTS]
        if asked[0].kind == "number" and len({round(float(q.answer), 9) for q in asked}) > 1:
            changing.append(step.id)
    assert len(changing) >= 8, changing


def test_choices_have_two_to_five_distinct_options_with_the_answer_among_them():
    positions = []
    for step in STEPS:
        for variant in VARIANTS:
            q = step.ask(variant)
            if q.kind != "choice":
                assert q.options == () and isinstance(q.answer, float) and q.tolerance >= 0
                continue
            assert 2 <= len(q.options) <= 5 and len(set(q.options)) == len(q.options)
            assert q.answer in q.options
            assert all(len(o) <= 64 for o in q.options), "the class poll stores answers of at most 64 characters"
            positions.append((step.id, q.options.index(q.answer)))
    # shuffled per variant and per step: the answer is not always in the same place
    assert len({p for _, p in positions}) >= 3


def _texts(step, q) -> list[str]:
    texts = [step.title, step.idea, step.formula or "", q.text, q.explanation, *q.options, q.link.query(),
             step.source[0], step.source[1], q.unit]
    for figure in (q.figure, q.reveal_figure):
        if figure is not None:
            texts.append(figure.description)
            texts += [s.text for s in figure.shapes if isinstance(s, Text)]
    return texts


def test_no_control_characters_and_balanced_latex():
    for step in STEPS:
        if step.formula:
            assert "$" not in step.formula
            assert step.formula.count("{") == step.formula.count("}")
        for variant in (0, 1, 2, 3, 11):
            q = step.ask(variant)
            for text in _texts(step, q):
                bad = [c for c in text if unicodedata.category(c) == "Cc"]
                assert not bad, (step.id, text[:80], bad)
            for text in (step.idea, q.text, q.explanation):
                assert text.count("$") % 2 == 0, (step.id, text)


def test_figures_never_show_a_numeric_answer():
    for step in STEPS:
        if step.id == "roi-pool":  # the answer is one of the feature map's values by nature
            continue
        for variant in VARIANTS:
            q = step.ask(variant)
            if q.kind != "number" or q.figure is None:
                continue
            shown = format_number(float(q.answer))
            if "." in shown or len(shown) >= 3:
                for text in [s.text for s in q.figure.shapes if isinstance(s, Text)] + [q.figure.description]:
                    assert shown not in text, (step.id, variant, shown, text)


def test_links_name_a_tab_and_render_a_query():
    for step in STEPS:
        for variant in (0, 5):
            link = step.ask(variant).link
            assert link.tab in TAB_IDS and link.tab != "lecture"
            query = link.query()
            assert query.startswith(f"?tab={link.tab}")
            assert all(isinstance(v, (str, int, float, bool)) for v in link.params.values())
            assert " " not in query and "\n" not in query


def test_lab_link_query_encoding():
    link = LabLink("transposed_conv", {"X": "0 1\n2 3", "stride": 2, "iou": 0.1 + 0.2, "aware": True})
    assert link.query() == "?tab=transposed_conv&X=0%201%0A2%203&stride=2&iou=0.3&aware=1"


def test_lecture_step_is_plain_json_with_the_documented_keys():
    for n in range(1, len(STEPS) + 1):
        data = lecture_step(n, 3)
        json.dumps(data)
        for key in ("step", "steps", "topic", "question", "kind", "options", "answer", "explanation", "link"):
            assert key in data
        assert data["step"] == n and data["steps"] == len(STEPS) and data["kind"] in ("number", "choice")
        assert data["link"].startswith("?tab=") and data["topic"] in TOPICS
        assert (data["options"] == []) == (data["kind"] == "number")


def test_same_variant_same_question_other_variant_other_numbers():
    assert lecture_step(6, 7) == lecture_step(6, 7)
    assert lecture_step(6, 7)["question"] != lecture_step(6, 8)["question"]


@pytest.mark.parametrize("bad", [-1, 2**31, 1.5, "x", None, True])
def test_bad_variants_are_refused_with_a_message(bad):
    with pytest.raises(ValueError, match="variant must be a whole number"):
        check_variant(bad)


@pytest.mark.parametrize("bad", [0, 27, -3, "nope", 2.5])
def test_bad_steps_are_refused_with_a_message(bad):
    with pytest.raises(ValueError, match="step"):
        lecture_step(bad, 0)


# --- every answer against an independent computation ----------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_box_center_against_torchvision_box_convert(variant):
    q = ask("box-center", variant)
    center = tv.box_convert(torch.tensor([q.params["box"]], dtype=torch.float64), "xyxy", "cxcywh")[0]
    index = ["cx", "cy", "w", "h"].index(q.params["coordinate"])
    assert q.answer == pytest.approx(float(center[index]))
    if variant == 0:  # the book's dog box, (60, 45, 378, 516)
        assert q.answer == 280.5


def _pairs_by_enumeration(sizes, ratios):
    return [(s, r) for i, s in enumerate(sizes) for j, r in enumerate(ratios) if i == 0 or j == 0]


@pytest.mark.parametrize("variant", VARIANTS)
def test_anchor_count_by_enumeration(variant):
    q = ask("anchor-count", variant)
    height, width = q.params["image_hw"]
    count = 0
    for _ in range(height):
        count += width * len(_pairs_by_enumeration(q.params["sizes"], q.params["ratios"]))
    assert q.answer == count
    if variant == 0:
        assert q.answer == 2042040  # the book: Y.shape == (1, 2042040, 4)


def test_lab_image_sizes_match_the_bundled_samples():
    from core.data.images import sample_image
    from core.lecture.steps_detection import LAB_IMAGE_HW

    for name, hw in LAB_IMAGE_HW.items():
        if name != "book":
            assert sample_image(name).shape[:2] == hw, name


@pytest.mark.parametrize("variant", VARIANTS)
def test_anchor_width_against_the_pixel_formula(variant):
    q = ask("anchor-width", variant)
    height = q.params["image_hw"][0]
    assert q.answer == pytest.approx(height * q.params["size"] * math.sqrt(q.params["ratio"]), abs=1e-3)
    if variant == 0:
        assert q.answer == pytest.approx(420.75)
        # the book prints boxes[250, 250, 0, :] = [0.06, 0.07, 0.63, 0.82] (two decimals) on the 728-wide image
        assert q.answer == pytest.approx((0.63 - 0.06) * 728, abs=0.01 * 728)


@pytest.mark.parametrize("variant", VARIANTS)
def test_iou_against_torchvision(variant):
    q = ask("iou", variant)
    expected = tv.box_iou(torch.tensor([q.params["box_a"]]), torch.tensor([q.params["box_b"]]))[0, 0]
    assert q.answer == pytest.approx(float(expected), abs=1e-6)
    if variant == 0:
        assert q.answer == pytest.approx(10_000 / 58_000)


def _greedy_labels(gt_rows, anchors, threshold=0.5):
    """The book's assignment, written as plain loops over a torchvision IoU matrix: class labels 0/1/2."""
    iou = tv.box_iou(torch.tensor(anchors, dtype=torch.float64),
                     torch.tensor([r[1:] for r in gt_rows], dtype=torch.float64)).tolist()
    amap = [-1] * len(anchors)
    for a, row in enumerate(iou):
        best = max(range(len(row)), key=lambda g: (row[g], -g))
        if row[best] >= threshold:
            amap[a] = best
    work = [row[:] for row in iou]
    for _ in range(min(len(anchors), len(gt_rows))):
        value, a, g = max((work[a][g], -a, -g) for a in range(len(anchors)) for g in range(len(gt_rows)))
        a, g = -a, -g
        amap[a] = g
        for k in range(len(gt_rows)):
            work[a][k] = -1.0
        for k in range(len(anchors)):
            work[k][g] = -1.0
    return [0 if m < 0 else int(gt_rows[m][0]) + 1 for m in amap], amap


@pytest.mark.parametrize("variant", VARIANTS)
def test_anchor_label_against_a_plain_greedy_loop(variant):
    q = ask("anchor-label", variant)
    labels, _ = _greedy_labels(q.params["ground_truth"], q.params["anchors"])
    assert q.answer == ("background", "dog", "cat")[labels[q.params["anchor"]]]
    if variant == 0:
        assert labels == [0, 1, 2, 0, 2]  # the book's [[0, 1, 2, 0, 2]]
        assert q.answer == "dog"


def _offsets(anchor, box):
    ax, ay = (anchor[0] + anchor[2]) / 2, (anchor[1] + anchor[3]) / 2
    aw, ah = anchor[2] - anchor[0], anchor[3] - anchor[1]
    bx, by, bw, bh = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, box[2] - box[0], box[3] - box[1]
    return [(bx - ax) / aw / 0.1, (by - ay) / ah / 0.1, math.log(bw / aw) / 0.2, math.log(bh / ah) / 0.2]


@pytest.mark.parametrize("variant", VARIANTS)
def test_anchor_offset_against_the_formula(variant):
    q = ask("anchor-offset", variant)
    expected = _offsets(q.params["anchor"], q.params["box"])["xywh".index(q.params["component"])]
    assert q.answer == pytest.approx(expected, abs=1e-4)
    # the anchor asked about is one the labeling assigned to that box
    setup = ask("anchor-label", variant).params
    labels, amap = _greedy_labels(setup["ground_truth"], setup["anchors"])
    k = [list(a) for a in setup["anchors"]].index(list(q.params["anchor"]))
    assert labels[k] > 0 and list(setup["ground_truth"][amap[k]][1:]) == list(q.params["box"])
    if variant == 0:
        # the book's labels[0] for anchor 1: 1.40e+00, 1.00e+01, 2.59e+00, 7.18e+00
        assert q.answer == pytest.approx(1.40, abs=0.005)
        assert _offsets(q.params["anchor"], q.params["box"]) == pytest.approx([1.40, 10.0, 2.59, 7.18], abs=0.005)


@pytest.mark.parametrize("variant", VARIANTS)
def test_nms_survivors_against_torchvision(variant):
    q = ask("nms", variant)
    keep = tv.nms(torch.tensor(q.params["boxes"]), torch.tensor(q.params["scores"]), q.params["iou"])
    assert q.answer == len(keep)
    if variant == 0:
        assert q.answer == 2 and sorted(keep.tolist()) == [0, 3]  # the book keeps dog 0.9 and cat 0.9
        assert q.link.query() == "?tab=nms&source=book&iou=0.5&step=2"


@pytest.mark.parametrize("variant", VARIANTS)
def test_multiscale_count_by_enumeration(variant):
    q = ask("multiscale", variant)
    ratios = q.params["ratios"]
    count = 0
    for (fh, fw), sizes in q.params["maps"]:
        for _row in range(fh):
            for _col in range(fw):
                count += len(_pairs_by_enumeration(sizes, ratios))
    assert q.answer == count
    if variant == 0:
        assert q.answer == 4 * 4 * 3 + 2 * 2 * 3 + 1 * 1 * 3 == 63


def _tiny_ssd_sides(side: int) -> list[int]:
    """Feature-map sides of the book's TinySSD, by running its down-sampling on a zero image."""
    x = torch.zeros(1, 1, side, side)
    sides = []
    x = torch.nn.Sequential(*[torch.nn.MaxPool2d(2)] * 3)(x)  # base network: three down-sample blocks
    sides.append(x.shape[-1])
    for _ in range(3):
        x = torch.nn.MaxPool2d(2)(x)
        sides.append(x.shape[-1])
    sides.append(torch.nn.AdaptiveMaxPool2d((1, 1))(x).shape[-1])
    return sides


@pytest.mark.parametrize("variant", VARIANTS)
def test_ssd_anchor_count_against_pooling_layers(variant):
    q = ask("ssd", variant)
    sides = _tiny_ssd_sides(q.params["side"])
    assert sides == q.params["feature_sides"]
    assert q.answer == sum(f * f for f in sides) * (q.params["sizes"] + q.params["ratios"] - 1)
    if variant == 0:
        assert q.answer == 5444  # the book: output anchors torch.Size([1, 5444, 4])


@pytest.mark.parametrize("variant", VARIANTS)
def test_roi_pool_against_torchvision(variant):
    q = ask("roi-pool", variant)
    feature = torch.tensor(q.params["feature_map"])[None, None]
    rois = torch.tensor([[0.0, *q.params["roi"]]])
    pooled = tv.roi_pool(feature, rois, output_size=(2, 2), spatial_scale=0.1)[0, 0]
    i, j = q.params["bin"]
    assert q.answer == float(pooled[i, j])
    if variant == 0:
        assert pooled.tolist() == [[9.0, 11.0], [13.0, 15.0]]  # the book's second RoI
        assert q.answer == 11


def _scatter_add(X, K, stride):
    h, w, kh, kw = len(X), len(X[0]), len(K), len(K[0])
    out = [[0.0] * ((w - 1) * stride + kw) for _ in range((h - 1) * stride + kh)]
    for i in range(h):
        for j in range(w):
            for a in range(kh):
                for b in range(kw):
                    out[i * stride + a][j * stride + b] += X[i][j] * K[a][b]
    return out


@pytest.mark.parametrize("variant", VARIANTS)
def test_trans_conv_entry_against_pytorch_and_a_loop(variant):
    q = ask("trans-conv", variant)
    X, K, s = q.params["X"], q.params["K"], q.params["stride"]
    r, c = q.params["cell"]
    torch_out = F.conv_transpose2d(torch.tensor(X)[None, None], torch.tensor(K)[None, None], stride=s)[0, 0]
    assert q.answer == float(torch_out[r, c]) == _scatter_add(X, K, s)[r][c]
    if variant == 0:
        assert _scatter_add(X, K, s) == [[0, 0, 1], [0, 4, 6], [4, 12, 9]]  # the book's output
        assert q.answer == 4


@pytest.mark.parametrize("variant", VARIANTS)
def test_trans_conv_size_against_pytorch(variant):
    q = ask("trans-conv-size", variant)
    p = q.params
    out = F.conv_transpose2d(torch.zeros(1, 1, p["n"], p["n"]), torch.zeros(1, 1, p["k"], p["k"]), stride=p["s"],
                             padding=p["p"], output_padding=p["op"])
    assert q.answer == out.shape[-1]
    if variant == 0:
        assert q.answer == 4  # the book's stride-2 example: a 4 x 4 output


@pytest.mark.parametrize("variant", VARIANTS)
def test_fcn_output_against_a_conv_transpose_layer(variant):
    q = ask("fcn", variant)
    p = q.params
    layer = torch.nn.ConvTranspose2d(1, 1, kernel_size=p["kernel"], stride=p["stride"], padding=p["padding"])
    out = layer(torch.zeros(1, 1, *p["feature_hw"]))
    assert q.answer == out.shape[-2 if p["dimension"] == "rows" else -1]
    if variant == 0:
        assert tuple(out.shape[-2:]) == (320, 480) and q.answer == 480  # the book's 320 x 480 images


@pytest.mark.parametrize("variant", VARIANTS)
def test_gan_gradient_ratio_against_the_sigmoid_derivatives(variant):
    q = ask("gan-gradient", variant)
    d = q.params["d_fake"]
    # d/da log(1 - sigmoid(a)) = -sigmoid(a); d/da log sigmoid(a) = 1 - sigmoid(a)
    assert q.answer == pytest.approx((1 - d) / d, rel=1e-9)
    if variant == 0:
        assert q.answer == pytest.approx(99)


@pytest.mark.parametrize("variant", VARIANTS)
def test_progan_fade_in_by_hand(variant):
    q = ask("progan", variant)
    alpha, block = q.params["alpha"], q.params["block"]
    mean = (block[0][0] + block[0][1] + block[1][0] + block[1][1]) / 4
    assert q.answer == pytest.approx(alpha * block[0][0] + (1 - alpha) * mean, abs=1e-9)
    if variant == 0:
        assert q.answer == pytest.approx(0.475)


def _earth_mover_by_assignment(theta: float, n: int = 200) -> float:
    """EM between the two segments from n evenly spaced points each, by an optimal assignment (scipy)."""
    from scipy.optimize import linear_sum_assignment

    z = (np.arange(n) + 0.5) / n
    cost = np.sqrt(theta ** 2 + (z[:, None] - z[None, :]) ** 2)
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


@pytest.mark.parametrize("variant", VARIANTS)
def test_wgan_em_fall_against_an_optimal_assignment(variant):
    q = ask("wgan-em", variant)
    before, after = q.params["theta_before"], q.params["theta_after"]
    assert q.answer == pytest.approx(_earth_mover_by_assignment(before) - _earth_mover_by_assignment(after), abs=1e-6)
    if variant == 0:
        assert q.answer == pytest.approx(0.5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_wgan_js_against_scipy(variant):
    from scipy.spatial.distance import jensenshannon

    q = ask("wgan-js", variant)
    theta = q.params["theta_after"]
    edges = np.linspace(-2.5, 2.5, 501)  # bins of width 0.01 along x: the segments fall in different bins
    p0 = np.histogram([0.0], bins=edges)[0].astype(float)
    p_theta = np.histogram([theta], bins=edges)[0].astype(float)
    assert q.answer == pytest.approx(jensenshannon(p0, p_theta) ** 2, abs=1e-9)
    assert q.answer == pytest.approx(math.log(2))


# --- grading --------------------------------------------------------------------------------------------------


def test_grading_numbers():
    iou = number("iou")
    exact = grade(iou, 0, str(10_000 / 58_000))
    assert exact.correct and exact.error == pytest.approx(0) and "right" in exact.message.lower()
    close = grade(iou, 0, "0.18")
    assert close.correct and close.error == pytest.approx(0.18 - 10_000 / 58_000)
    far = grade(iou, 0, " 0.5 ")
    assert not far.correct and far.error == pytest.approx(0.5 - 0.172414, abs=1e-6)
    assert far.relative_error == pytest.approx((0.5 - 0.172414) / 0.172414, rel=1e-4)
    assert "too high" in far.message and "0.17241" in far.message and "190%" in far.message
    low = grade(number("nms"), 0, 1)
    assert not low.correct and low.error == -1 and "too low" in low.message and "50% off" in low.message
    assert grade(number("anchor-count"), 0, "2,042,040").correct
    assert grade(number("anchor-count"), 0, "2 042 040").correct
    assert grade(number("wgan-em"), 0, "−0.5").error == pytest.approx(-1.0)  # a typographic minus


def test_grading_a_zero_answer_has_no_relative_error():
    from core.lecture.grading import grade_question
    from core.lecture.model import Question

    q = Question(kind="number", text="?", answer=0.0, explanation="", link=LabLink("nms"), tolerance=0.1)
    result = grade_question(q, "0.3")
    assert result.relative_error is None and not result.correct and "(" not in result.message


@pytest.mark.parametrize("prediction, message", [
    ("", "Enter your prediction first"),
    ("   ", "Enter your prediction first"),
    (None, "Enter your prediction first"),
    ("abc", "is not a number"),
    ("0,5", "decimals with a dot"),
    ("nan", "finite"),
    ("inf", "finite"),
    ("1" * 65, "at most 64 characters"),
    (True, "not true/false"),
])
def test_grading_refuses_unreadable_numbers(prediction, message):
    with pytest.raises(PredictionError, match=message):
        grade(number("iou"), 0, prediction)


def test_grading_choices():
    step = number("anchor-label")
    q = question(step, 0)
    right = grade(step, 0, "dog")
    assert right.correct and right.error is None and right.message.startswith("Right")
    wrong = grade(step, 0, "background")
    assert not wrong.correct and "the answer is “dog”" in wrong.message
    with pytest.raises(PredictionError, match="not one of the options"):
        grade(step, 0, "horse")
    with pytest.raises(PredictionError, match="Choose one of the options"):
        grade(step, 0, "")
    assert set(q.options) == {"background", "dog", "cat"}


def test_thousands_inside_formulas_are_set_for_katex():
    from core.lecture.model import math_thousands

    assert math_thousands("2,042,040 anchors: $408,408 \\cdot 5 = 2,042,040$") == (
        "2,042,040 anchors: $408{,}408 \\cdot 5 = 2{,}042{,}040$")
    explanation = question("anchor-count", 0).explanation
    assert "2{,}042{,}040$" in explanation and not re.search(r"\$[^$]*\d,\d{3}[^$]*\$", explanation)
