"""A class poll end to end in Chromium: a teacher page and three students, each in its own browser context (its own
localStorage, so its own anonymous id), on demos/poll.py's page.

Run alone with `pytest tests/browser/test_poll_browser.py`.
"""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import Page, expect

import demos.poll as poll
from tests.browser.ui import assert_no_error

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
SCREENSHOT = os.environ.get("POLL_SCREENSHOT", "/tmp/poll.png")




def open_page(browser, url: str, viewport: dict) -> Page:
    page = browser.new_context(viewport=viewport).new_page()
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector(".gradio-container", timeout=60_000)
    return page


def answer(page: Page, value: str) -> None:
    page.locator("#poll-number input").fill(value)
    page.locator("#poll-send").click()
    expect(page.locator("#poll-status")).to_contain_text(f"Answer saved: {value}", timeout=20_000)
    expect(page.locator("#poll-status")).to_contain_text("you can change it until the teacher closes the poll")


def test_a_teacher_and_three_students_run_a_poll(browser, poll_url):
    teacher = open_page(browser, poll_url, {"width": 1366, "height": 768})
    teacher.locator("#poll-open").click()
    room_box = teacher.locator("#poll-room [role=status]")
    expect(room_box).to_have_text(re.compile(r"^[A-Z0-9]{6}$"), timeout=20_000)
    room = room_box.inner_text().strip()
    expect(teacher.locator("#poll-link")).to_contain_text(f"?poll={room}")
    expect(teacher.locator("#poll-qr img")).to_be_visible()
    expect(teacher.locator("#poll-count")).to_contain_text("0 answers so far")
    assert_no_error(teacher)
    teacher.screenshot(path=SCREENSHOT.replace(".png", "_open.png"))

    students = [open_page(browser, f"{poll_url}?poll={room}", PHONE) for _ in range(3)]
    for student in students:
        expect(student.locator("#poll-question")).to_contain_text(f"Room {room}.", timeout=20_000)
        expect(student.locator("#poll-question")).to_contain_text("How many boxes per pixel?")
    answer(students[0], "5")
    answer(students[1], "9")
    answer(students[2], "5")
    answer(students[1], "7")  # a change of mind replaces the answer
    students[1].screenshot(path=SCREENSHOT.replace(".png", "_student.png"))
    # each browser keeps its anonymous id in its own localStorage (gr.BrowserState encrypts it, so the stored text
    # changes at every write); three browsers are three students: the count below is 3
    assert all(student.evaluate("() => localStorage.getItem('lab-poll-student')") for student in students)

    expect(teacher.locator("#poll-count")).to_contain_text("3 answers so far", timeout=15_000)  # the live count

    # the projector's page reloads: its poll is found again from the key kept in this browser
    teacher.reload(wait_until="domcontentloaded")
    expect(teacher.locator("#poll-room [role=status]")).to_have_text(room, timeout=30_000)
    expect(teacher.locator("#poll-count")).to_contain_text("3 answers so far", timeout=15_000)
    assert room not in (teacher.evaluate("() => location.href"))  # the key and room never went into the URL

    teacher.locator("#poll-close").click()
    reveal = teacher.locator("#poll-reveal")
    expect(reveal).to_contain_text("Right answer: 5 (2 of 3)", timeout=20_000)
    expect(reveal).to_contain_text("5: 2; 7: 1")
    expect(reveal).to_contain_text("n + m - 1")  # then the step's explanation
    expect(teacher.locator("#poll-chart img")).to_be_visible()
    expect(teacher.locator("#poll-close")).to_be_disabled()
    assert_no_error(teacher)
    teacher.screenshot(path=SCREENSHOT, full_page=True)

    # a student sending after the close sees the reveal, not an error
    students[1].locator("#poll-number input").fill("5")
    students[1].locator("#poll-send").click()
    expect(students[1].locator("#poll-status")).to_contain_text("The teacher has closed this poll", timeout=20_000)
    expect(students[1].locator("#poll-status")).to_contain_text("Right answer: 5 (you answered 7)")
    # a student reloading after the close is the same student (the id from localStorage): "you answered 5"
    students[0].reload(wait_until="domcontentloaded")
    expect(students[0].locator("#poll-status")).to_contain_text("Right answer: 5 (you answered 5)", timeout=30_000)
    for page in [teacher, *students]:
        page.context.close()


def test_a_student_types_the_code_and_gets_clear_messages(browser, poll_url):
    opened = poll.store().open_poll(1, poll.DEMO_QUESTIONS[1])
    student = open_page(browser, poll_url, PHONE)
    student.locator("#poll-room-code input, #poll-room-code textarea").first.fill("nope")
    student.locator("#poll-join").click()
    expect(student.locator("#poll-status")).to_contain_text("⚠ 'nope' is not a room code", timeout=20_000)
    code = student.locator("#poll-room-code input, #poll-room-code textarea").first
    code.fill(opened.room.lower())
    code.press("Enter")
    expect(student.locator("#poll-question")).to_contain_text(f"Room {opened.room}.", timeout=20_000)
    student.locator("#poll-send").click()  # nothing chosen yet
    expect(student.locator("#poll-status")).to_contain_text("⚠ Please choose one of the answers", timeout=20_000)
    student.locator("#poll-choice").get_by_label("8x8").check()
    student.locator("#poll-send").click()
    expect(student.locator("#poll-status")).to_contain_text("Answer saved: 8x8", timeout=20_000)
    assert poll.store().results(opened.room, opened.teacher_key).counts == {"7x7": 0, "8x8": 1, "9x9": 0}
    student.context.close()
