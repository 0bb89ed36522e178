"""The Lecture tab in Chromium at 1366x768: predict, then reveal (the answer is absent from the DOM before), the
previous/next buttons and keys, a choice step, a clear error for an empty prediction, projector mode.

The tab is served alone (the `lecture_url` fixture in tests/conftest.py).
"""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import Page, expect

from core.lecture import STEPS, format_number, lecture_step
from tests.browser.ui import error_messages

pytestmark = pytest.mark.browser

SCREENSHOT = os.environ.get("LECTURE_SCREENSHOT", "/tmp/lecture.png")
IOU = [s.id for s in STEPS].index("iou") + 1
LABEL = [s.id for s in STEPS].index("anchor-label") + 1
GAN = [s.id for s in STEPS].index("gan-objective") + 1
IOU_ANSWER = format_number(10_000 / 58_000)  # "0.17241"




@pytest.fixture()
def lecture_page(browser, lecture_url):
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    yield page
    context.close()


def open_step(page: Page, url: str, step: int, variant: int = 0, extra: str = "") -> None:
    page.goto(f"{url}?tab=lecture&step={step}&variant={variant}{extra}", wait_until="domcontentloaded")
    expect_step(page, step, timeout=60_000)


def expect_step(page: Page, step: int, timeout: int = 30_000) -> None:
    expect(page.locator("#lecture-idea")).to_contain_text(f"Step {step} of {len(STEPS)}", timeout=timeout)


def font_px(page: Page, selector: str) -> float:
    return float(page.evaluate(f"() => getComputedStyle(document.querySelector({selector!r})).fontSize")[:-2])


def wait_font_at_least(page: Page, selector: str, px: float) -> None:
    """Wait (5 s at most) until `selector`'s computed font size is at least `px`: Gradio's labels animate their
    size, so a read right after projector mode switches on can catch one halfway (19.6 px in CI)."""
    page.wait_for_function(
        f"() => parseFloat(getComputedStyle(document.querySelector({selector!r})).fontSize) >= {px}", timeout=5_000)


def test_predict_then_reveal_then_move(lecture_page: Page, lecture_url: str):
    page = lecture_page
    explanation = lecture_step(IOU, 0)["explanation"]
    phrase = "The union counts the shared area once"
    assert phrase in explanation

    open_step(page, lecture_url, IOU)
    content = page.content()
    assert IOU_ANSWER not in content and phrase not in content and "?tab=anchors" not in content

    # a numeric prediction: the answer, how far off it was, the explanation and the link appear only now
    page.locator("#lecture-number textarea, #lecture-number input").first.fill("0.3")
    page.locator("#lecture-reveal-button").click()
    reveal = page.locator("#lecture-reveal")
    expect(reveal).to_contain_text(f"Answer: {IOU_ANSWER}", timeout=30_000)
    expect(reveal).to_contain_text("0.3 is 0.13 too high (74% off)")
    content = page.content()
    assert IOU_ANSWER in content and phrase in content
    link = page.locator("#lecture-link a")
    expect(link).to_have_attribute("href", re.compile(r"^\?tab=anchors&part=iou&box_a=40,40,240,200"))
    page.screenshot(path=SCREENSHOT)

    # → moves on, the address bar follows, and the new step starts unrevealed
    page.locator("#lecture-next").click()
    expect_step(page, IOU + 1)
    page.wait_for_function(f"() => location.search === '?tab=lecture&step={IOU + 1}&variant=0'", timeout=10_000)
    assert page.locator("#lecture-reveal").inner_text().strip() == ""

    # keys: ← outside text fields goes back, with the reveal cleared; PageDown goes forward
    page.locator("#lecture-idea").click()
    page.keyboard.press("ArrowLeft")
    expect_step(page, IOU)
    assert IOU_ANSWER not in page.content() and phrase not in page.content()
    page.keyboard.press("PageDown")
    expect_step(page, IOU + 1)

    # the buttons are reachable from the keyboard
    page.locator("#lecture-prev").focus()
    page.keyboard.press("Enter")
    expect_step(page, IOU)


def test_choice_step_and_an_empty_prediction(lecture_page: Page, lecture_url: str):
    page = lecture_page
    open_step(page, lecture_url, LABEL)
    assert "greedy pass makes sure" not in page.content()
    page.locator("#lecture-reveal-button").click()
    expect(page.locator(".toast-body.error, [data-testid='toast-body'].error").first).to_be_visible(timeout=15_000)
    assert any("Choose one of the options" in m for m in error_messages(page)), error_messages(page)
    assert "greedy pass makes sure" not in page.content()

    page.locator("#lecture-choice").get_by_label("dog", exact=True).check()
    page.locator("#lecture-reveal-button").click()
    reveal = page.locator("#lecture-reveal")
    expect(reveal).to_contain_text("✓ Right", timeout=30_000)
    expect(reveal).to_contain_text("Answer: dog")
    expect(reveal).to_contain_text("greedy pass makes sure")


def test_projector_mode_enlarges_the_text_and_folds_the_settings(lecture_page: Page, lecture_url: str):
    page = lecture_page
    open_step(page, lecture_url, GAN)
    assert font_px(page, "#lecture-idea p") < 20
    expect(page.locator("#lecture-secondary")).to_be_visible()

    page.locator("#lab-projector input").check()
    page.wait_for_function("() => document.body.classList.contains('lab-projector')", timeout=10_000)
    wait_font_at_least(page, "#lecture-idea p", 20)
    wait_font_at_least(page, "#lecture-question p", 24)
    wait_font_at_least(page, "#lecture-choice label", 20)
    expect(page.locator("#lecture-secondary")).to_be_hidden()
    page.wait_for_function("() => location.search.includes('projector=1')", timeout=10_000)
    # the reveal is as readable as the question
    page.locator("#lecture-choice").get_by_label("log D(G(z))", exact=True).check()
    page.locator("#lecture-reveal-button").click()
    expect(page.locator("#lecture-reveal")).to_contain_text("Answer: log D(G(z))", timeout=30_000)
    assert font_px(page, "#lecture-reveal p") >= 24
    page.screenshot(path=SCREENSHOT.replace(".png", "_projector.png"))

    page.locator("#lab-projector input").uncheck()
    page.wait_for_function("() => !document.body.classList.contains('lab-projector')", timeout=10_000)
    assert font_px(page, "#lecture-idea p") < 20

    # a link with projector=1 opens in projector mode
    open_step(page, lecture_url, IOU, extra="&projector=1")
    page.wait_for_function("() => document.body.classList.contains('lab-projector')", timeout=30_000)
    assert font_px(page, "#lecture-idea p") >= 20
    expect(page.locator("#lab-projector input")).to_be_checked()
