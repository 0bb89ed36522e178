"""A class poll inside the Lecture tab, in Chromium: the teacher opens a poll on the step the projector shows, three
phones join by the link, see that step (with its variant's numbers) without the lecture's own Reveal, answer and
change their minds; the projector counts them live, then closes and reveals the spread and the answer.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from core.lecture import STEPS, lecture_step
from tests.browser.ui import assert_no_error, wait_until_ready

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
IOU = [s.id for s in STEPS].index("iou") + 1
VARIANT = 4




def open_page(browser: Browser, url: str, viewport: dict) -> Page:
    page = browser.new_context(viewport=viewport).new_page()
    page.goto(url, wait_until="domcontentloaded")
    wait_until_ready(page)
    return page


def test_a_class_predicts_in_a_poll_then_sees_the_spread(browser: Browser, lecture_url: str):
    step = lecture_step(IOU, VARIANT)
    teacher = open_page(browser, f"{lecture_url}?tab=lecture&step={IOU}&variant={VARIANT}", {"width": 1366, "height": 768})
    teacher.locator("#lecture-poll").get_by_text("Class poll").click()
    teacher.locator("#poll-open").click()
    room_box = teacher.locator("#poll-room [role=status]")
    expect(room_box).to_have_text(re.compile(r"^[A-Z0-9]{6}$"), timeout=20_000)
    room = room_box.inner_text().strip()
    expect(teacher.locator("#poll-link")).to_contain_text(f"?poll={room}")
    assert "teacher_key" not in teacher.locator("#poll-link").inner_text()

    students = [open_page(browser, f"{lecture_url}?poll={room}", PHONE) for _ in range(3)]
    for student in students:
        expect(student.locator("#poll-question")).to_contain_text(f"Room {room}.", timeout=20_000)
        expect(student.locator("#lecture-idea")).to_contain_text(f"Step {IOU} of {len(STEPS)}")
        expect(student.locator("#lecture-idea")).to_contain_text(step["title"])
        expect(student.locator("#poll-question")).to_contain_text(step["question"].split("?")[0][:40])
        expect(student.locator("#lecture-reveal-button")).to_be_hidden()  # the answer comes with the teacher's
        assert step["answer_text"] not in student.content()  # nowhere in the page before the teacher closes
        assert student.evaluate("document.scrollingElement.scrollWidth") <= PHONE["width"]

    for student, value in zip(students, ["0.1", "0.3", "0.1"]):
        student.locator("#poll-number input").fill(value)
        student.locator("#poll-send").click()
        expect(student.locator("#poll-status")).to_contain_text(f"Answer saved: {value}", timeout=20_000)
    students[2].locator("#poll-number input").fill("0.2")  # a change of mind replaces the answer
    students[2].locator("#poll-send").click()
    expect(students[2].locator("#poll-status")).to_contain_text("Answer saved: 0.2", timeout=20_000)

    expect(teacher.locator("#poll-count")).to_contain_text("3 answers so far", timeout=20_000)
    teacher.locator("#poll-close").click()
    expect(teacher.locator("#poll-chart img")).to_be_visible(timeout=20_000)
    reveal = teacher.locator("#poll-reveal")
    expect(reveal).to_contain_text("3 answers")
    expect(reveal).to_contain_text(step["answer_text"])
    assert_no_error(teacher)

    students[0].reload(wait_until="domcontentloaded")
    wait_until_ready(students[0])
    expect(students[0].locator("#poll-status")).to_contain_text("The teacher has closed this poll", timeout=20_000)
