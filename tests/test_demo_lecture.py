"""The Lecture tab: its endpoints through gradio_client, what the page holds before and after Reveal, the link state.

The tab is served alone (the `lecture_url` fixture), so these tests do not depend on the other tabs.
"""

from __future__ import annotations

import json
import urllib.request

import gradio as gr
import pytest
from gradio_client import Client

from core.lecture import STEPS, format_number, lecture_step, question
from demos import lecture

IOU_STEP = [s.id for s in STEPS].index("iou") + 1
IOU_ANSWER = format_number(10_000 / 58_000)  # "0.17241"




@pytest.fixture(scope="module")
def lecture_client(lecture_url, tmp_path_factory):
    return Client(lecture_url, verbose=False, download_files=str(tmp_path_factory.mktemp("lecture_downloads")))


def test_lecture_endpoint_returns_the_step_as_json(lecture_client):
    for step, variant in ((1, 0), (IOU_STEP, 0), (IOU_STEP, 4), (len(STEPS), 9)):
        result = lecture_client.predict(step, variant, api_name="/lecture")
        expected = json.loads(json.dumps(lecture_step(step, variant)))
        assert result["step"] == step and result["steps"] == len(STEPS) and result["variant"] == variant
        for key in ("topic", "question", "kind", "options", "explanation", "link"):
            assert result[key] == expected[key], key
        if expected["kind"] == "number":
            assert result["answer"] == pytest.approx(expected["answer"], abs=1e-6)
        else:
            assert result["answer"] == expected["answer"] in result["options"]
    result = lecture_client.predict(IOU_STEP, 0, api_name="/lecture")
    assert result["answer"] == pytest.approx(0.172414) and result["link"].startswith("?tab=anchors&part=iou")


def test_lecture_endpoint_errors_are_clear(lecture_client):
    with pytest.raises(Exception, match="step must be a number from 1 to 26"):
        lecture_client.predict(0, 0, api_name="/lecture")
    with pytest.raises(Exception, match="variant must be a whole number"):
        lecture_client.predict(1, -5, api_name="/lecture")
    # the server keeps serving
    assert lecture_client.predict(2, 0, api_name="/lecture")["step"] == 2


def test_grade_endpoint(lecture_client):
    result = lecture_client.predict(IOU_STEP, 0, "0.5", api_name="/lecture_grade")
    assert result["correct"] is False and result["answer_text"] == IOU_ANSWER
    assert result["error"] == pytest.approx(0.5 - 0.172414, abs=1e-6) and "too high" in result["message"]
    assert lecture_client.predict(IOU_STEP, 0, "0.17", api_name="/lecture_grade")["correct"] is True
    with pytest.raises(Exception, match="is not a number"):
        lecture_client.predict(IOU_STEP, 0, "about a fifth", api_name="/lecture_grade")


def test_the_page_config_holds_no_answer(lecture_url):
    with urllib.request.urlopen(lecture_url + "config", timeout=30) as response:
        config = response.read().decode()
    first = lecture_step(1, 0)
    assert first["question"].split("**")[0] in config  # the first step's question is there ...
    assert first["explanation"][:40] not in config  # ... its explanation is not
    for step in range(1, len(STEPS) + 1):  # nor any explanation of the book's variant
        assert lecture_step(step, 0)["explanation"][:40] not in config


def _strings(values) -> str:
    parts = []
    for value in values:
        if isinstance(value, gr.components.Component):
            parts.append(json.dumps({"value": getattr(value, "value", None),
                                     "choices": getattr(value, "choices", None)}, default=str))
        else:
            parts.append(str(value))
    return "\n".join(parts)


def test_step_view_hides_the_answer_and_reveal_shows_it():
    before = _strings(lecture.step_view(IOU_STEP, 0))
    data = lecture_step(IOU_STEP, 0)
    assert IOU_ANSWER not in before and data["explanation"][:40] not in before and "?tab=" not in before
    assert "(40, 40, 240, 200)" in before and "<svg" in before
    text, figure, link = lecture.reveal(IOU_STEP, 0, "0.18", None)
    assert f"**Answer: {IOU_ANSWER}**" in text and data["explanation"] in text and "off by" in text
    assert "✓ Right" in text and 'href="?tab=anchors&amp;part=iou' in link and 'target="_blank"' in link
    wrong, _, _ = lecture.reveal(IOU_STEP, 0, "0.9", None)
    assert "✗ Not quite" in wrong and "too high" in wrong


def test_reveal_needs_a_readable_prediction():
    with pytest.raises(gr.Error, match="Enter your prediction first"):
        lecture.reveal(IOU_STEP, 0, "", None)
    with pytest.raises(gr.Error, match="decimals with a dot"):
        lecture.reveal(IOU_STEP, 0, "0,2", None)
    label = [s.id for s in STEPS].index("anchor-label") + 1
    with pytest.raises(gr.Error, match="Choose one of the options"):
        lecture.reveal(label, 0, "", None)
    text, _, _ = lecture.reveal(label, 0, "", "dog")
    assert "✓ Right" in text and "**Answer: dog**" in text


def test_choice_steps_offer_their_options_and_hide_the_number_box():
    label = [s.id for s in STEPS].index("anchor-label") + 1
    view = lecture.step_view(label, 0)
    number_box, radio = view[3], view[4]
    assert number_box.visible is False and radio.visible is True
    assert sorted(c[0] if isinstance(c, tuple) else c for c in radio.choices) == ["background", "cat", "dog"]


def test_navigation_and_variants_stay_in_range():
    assert lecture.move(1, -1) == 1 and lecture.move(len(STEPS), 1) == len(STEPS) and lecture.move(5, 1) == 6
    assert lecture.next_variant(0) == 1 and lecture.next_variant(2**31 - 1) == 0
    with pytest.raises(gr.Error, match="variant"):
        lecture.next_variant("x")


def test_link_state_round_trip_and_bad_parameters():
    view = lecture.LectureView(step=7, variant=12)
    assert view.link() == "?tab=lecture&step=7&variant=12"
    restored, notices = lecture.LectureView.from_query({"tab": "lecture", "step": "7", "variant": "12",
                                                        "projector": "1"})
    assert restored == view and notices == []
    bad, notices = lecture.LectureView.from_query({"step": "99", "variant": "-1"})
    assert bad == lecture.LectureView() and len(notices) == 2
    assert "`step=" in notices[0] and f"between 1 and {len(STEPS)}" in notices[0] and "`variant=" in notices[1]
    assert lecture.show(view)[0] == lecture.step_view(7, 12)[0]


def test_figures_render_as_accessible_svg():
    svg = lecture.render_svg(question(IOU_STEP, 0).figure)
    assert svg.startswith('<div class="lecture-figure"><svg') and 'role="img"' in svg and "<title>" in svg
    assert "stroke-dasharray" in svg  # box B is dashed: colour is not the only difference
    assert lecture.render_svg(None) == ""
