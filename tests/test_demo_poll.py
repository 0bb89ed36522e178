"""The class poll's endpoints through gradio_client on demos/poll.py's page launched in-process, its QR code read
back by OpenCV's decoder, and its reveal chart."""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

import demos.poll as poll
from core.poll.rules import PollQuestion, summarise

ENDPOINTS = {"/poll_open", "/poll_answer", "/poll_results", "/poll_close", "/poll_question"}




@pytest.fixture(scope="module")
def api(poll_url, tmp_path_factory) -> Client:
    return Client(poll_url, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))


def test_the_poll_endpoints_are_named(api):
    assert ENDPOINTS <= set(api.view_api(print_info=False, return_format="dict")["named_endpoints"])


def test_a_poll_through_the_api(api, poll_url):
    opened = api.predict(0, api_name="/poll_open")
    assert set(opened) == {"room", "teacher_key", "link"}
    assert opened["link"] == f"{poll_url}?poll={opened['room']}"
    assert opened["teacher_key"] not in opened["link"]
    room, key = opened["room"], opened["teacher_key"]
    assert api.predict(room, "student-one", "12.0", api_name="/poll_answer") == {"ok": True, "answer": "12"}
    assert api.predict(room, "student-two", 5, api_name="/poll_answer") == {"ok": True, "answer": "5"}
    assert api.predict(room.lower(), "student-one", "5", api_name="/poll_answer")["ok"] is True  # replaces 12
    assert api.predict(room, "student-three", "7", api_name="/poll_answer")["ok"] is True
    results = api.predict(room, key, api_name="/poll_results")
    assert results == {"room": room, "step": 0, "kind": "number", "answers": 3, "counts": {"5": 2, "7": 1},
                       "closed": False, "values": [5.0, 5.0, 7.0]}
    seen = api.predict(room, "student-three", api_name="/poll_question")
    assert seen["own_answer"] == "7" and seen["closed"] is False
    assert "results" not in seen and "correct" not in seen and "'5'" not in str(seen)  # nobody else's answers
    final = api.predict(room, key, api_name="/poll_close")
    assert final["closed"] is True and final["counts"] == {"5": 2, "7": 1} and final["correct"] == "5"
    with pytest.raises(AppError, match="The teacher has closed this poll"):
        api.predict(room, "student-one", "7", api_name="/poll_answer")
    revealed = api.predict(room, "student-three", api_name="/poll_question")
    assert revealed["correct"] == "5" and revealed["results"]["counts"] == {"5": 2, "7": 1}
    assert "n + m - 1" in revealed["explanation"]


def test_a_choice_poll_counts_every_option(api):
    opened = api.predict(1, api_name="/poll_open")
    api.predict(opened["room"], "student-one", "9x9", api_name="/poll_answer")
    api.predict(opened["room"], "student-two", "7X7", api_name="/poll_answer")
    results = api.predict(opened["room"], opened["teacher_key"], api_name="/poll_results")
    assert results["counts"] == {"7x7": 1, "8x8": 0, "9x9": 1} and "values" not in results


@pytest.mark.parametrize("arguments, message", [
    (("AAAAAA", "student-one", "5"), "There is no poll AAAAAA"),
    (("A0O1", "student-one", "5"), "is not a room code"),
    ((None, "student-one", ""), "Please enter an answer"),
    ((None, "student-one", "x" * 65), "at most 64 characters"),
    ((None, "student-one", "many"), "Please answer with a number"),
    ((None, "me", "5"), "anonymous student id"),
])
def test_bad_answers_get_a_clear_message(api, arguments, message):
    opened = api.predict(0, api_name="/poll_open")
    room, student, answer = arguments
    with pytest.raises(AppError, match=message):
        api.predict(room or opened["room"], student, answer, api_name="/poll_answer")
    assert api.predict(opened["room"], opened["teacher_key"], api_name="/poll_results")["answers"] == 0


def test_results_and_close_need_the_teacher_key(api):
    opened = api.predict(0, api_name="/poll_open")
    other = api.predict(0, api_name="/poll_open")
    for key in ("", "guess", other["teacher_key"]):
        with pytest.raises(AppError, match="Only the teacher who opened this poll"):
            api.predict(opened["room"], key, api_name="/poll_results")
        with pytest.raises(AppError, match="Only the teacher who opened this poll"):
            api.predict(opened["room"], key, api_name="/poll_close")
    assert api.predict(opened["room"], opened["teacher_key"], api_name="/poll_results")["closed"] is False


def test_a_step_without_a_question_is_refused(api):
    with pytest.raises(AppError, match=r"Step 99 \(variant 0\) has no question to poll"):
        api.predict(99, api_name="/poll_open")


def test_the_join_link_follows_lab_public_url(monkeypatch):
    monkeypatch.setenv("LAB_PUBLIC_URL", "http://192.168.1.20:7860/")
    assert poll.join_link(None, "ACD346") == "http://192.168.1.20:7860/?poll=ACD346"


def test_the_qr_code_reads_back_as_the_link():
    link = "http://192.168.1.20:7860/?poll=ACD346"
    picture = np.asarray(poll.qr_picture(link))
    decoded, _, _ = cv2.QRCodeDetector().detectAndDecode(picture[:, :, ::-1].copy())
    assert decoded == link
    assert picture.shape[0] == picture.shape[1] >= 250  # large enough for a phone across a room


NUMBER_QUESTION = PollQuestion("number", answer="5")


def test_number_bars_one_per_value_with_the_right_answer_marked():
    results = summarise("ACD346", 0, NUMBER_QUESTION, {"9": 1, "5": 2, "6": 1}, closed=True)
    assert poll.chart_bars(results) == [("5", 2, True), ("6", 1, False), ("9", 1, False)]
    results = summarise("ACD346", 0, NUMBER_QUESTION, {"6": 3}, closed=True)
    assert poll.chart_bars(results) == [("5", 0, True), ("6", 3, False)]  # nobody right: its bar is still there


def test_spread_out_numbers_fall_into_ranges():
    counts = {str(value): 1 for value in range(0, 130, 10)}  # 0, 10, ..., 120: 13 values, 12 bins of width 10
    results = summarise("ACD346", 0, NUMBER_QUESTION, counts, closed=True)
    bars = poll.chart_bars(results)
    assert len(bars) == 12
    assert bars[0] == ("0 – 10", 1, True)  # 5 lies in [0, 10)
    assert bars[-1] == ("110 – 120", 2, False)  # the last range holds its right edge
    assert sum(count for _, count, _ in bars) == 13


def test_the_chart_marks_the_right_answer_without_colour_alone():
    question = PollQuestion("choice", options=("7x7", "8x8", "9x9"), answer="7x7")
    results = summarise("ACD346", 1, question, {"7x7": 4, "9x9": 4}, closed=True)
    picture = np.asarray(poll.draw_results(results))
    assert picture.shape == (540, 960, 3)
    # the bars' middle row: 3 slots of 293 px from x=40; the right bar (first) is striped, the third is solid
    row = picture[300]
    right_bar, other_bar = row[150:230], row[736:816]
    assert (right_bar == 255).all(axis=1).any() and (right_bar != 255).any()  # white stripes over the colour
    assert len({tuple(pixel) for pixel in other_bar}) == 1  # one solid colour
    assert "right answer" in poll.results_text(results).lower()
    assert "Right answer: **7x7** (4 of 8)" in poll.results_text(results)


@pytest.mark.parametrize("api_name, arguments, message", [
    ("/poll_open", [None], "has no question to poll"),
    ("/poll_open", ["zero"], "has no question to poll"),
    ("/poll_open", [-1], "has no question to poll"),
    ("/poll_answer", [None, None, None], "is not a room code"),
    ("/poll_answer", ["x" * 100_000, "student-one", "5"], "is not a room code"),
    ("/poll_answer", [["ACD346"], "student-one", "5"], "is not a room code"),
    ("/poll_answer", ["ACD346", None, "5"], "anonymous student id"),
    ("/poll_results", [None, None], "is not a room code"),
    ("/poll_close", ["ACD346", {"key": 1}], "There is no poll ACD346"),
    ("/poll_question", [None, ""], "is not a room code"),
    ("/poll_question", ["ACD346", "x" * 10_000], "There is no poll ACD346"),
])
def test_hostile_inputs_get_a_clear_message(api, api_name, arguments, message):
    """Never a crash (which gradio_client reports as a generic 'upstream Gradio app has raised an exception')."""
    with pytest.raises(AppError, match=re.escape(message)):
        api.predict(*arguments, api_name=api_name)
