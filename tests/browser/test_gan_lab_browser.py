"""The GAN lab tab in Chromium at 1366x768: the first picture on load, Step, Play/Pause streaming frames,
WGAN Figure 1, and a clear message for bad custom points.

Run alone with `LAB_TABS=demos.gan_lab pytest tests/browser/test_gan_lab_browser.py`.
"""

from __future__ import annotations

import os
import re

from playwright.sync_api import Page, expect

from tests.browser.ui import assert_no_error, error_messages, open_tab, wait_until_idle

SCREENSHOT = os.environ.get("GAN_LAB_SCREENSHOT", "/tmp/gan_lab.png")
ERROR_TOAST = ".toast-body.error, [data-testid='toast-body'].error"


def plane_src(page: Page) -> str:
    return page.locator("#gan-plane img").first.get_attribute("src") or ""


def shown_step(page: Page) -> int:
    match = re.search(r"step (\d+)", page.locator("#gan-numbers").inner_text())
    return int(match.group(1)) if match else -1


def test_gan_lab_steps_plays_pauses_and_explains_bad_points(page: Page):
    open_tab(page, "GAN lab")
    wait_until_idle(page)
    # on load: a fresh model's picture and numbers
    expect(page.locator("#gan-plane img").first).to_be_visible(timeout=20_000)
    expect(page.locator("#gan-numbers")).to_contain_text("modes covered", timeout=20_000)
    assert shown_step(page) == 0
    first = plane_src(page)

    page.locator("#gan-step").click()
    wait_until_idle(page)
    expect(page.locator("#gan-numbers")).to_contain_text("step 1", timeout=10_000)
    stepped = plane_src(page)
    assert stepped and stepped != first

    # Play streams frames (the timer ticks about 5 times a second); Pause stops them
    page.locator("#gan-play").click()
    page.wait_for_function("() => /step ([2-9]\\d|\\d{3,})/.test(document.querySelector('#gan-numbers').innerText)",
                           timeout=20_000)
    expect(page.locator("#gan-status")).to_contain_text("playing", timeout=10_000)
    expect(page.locator("#gan-numbers")).to_contain_text("this run:", timeout=10_000)
    seen = {plane_src(page)}
    for _ in range(6):
        page.wait_for_timeout(400)
        seen.add(plane_src(page))
    assert len(seen) >= 3, "the picture should refresh several times while playing"
    page.locator("#gan-pause").click()
    # "paused." from Pause, or "Paused: press Play to continue." from a tick that was already queued
    expect(page.locator("#gan-status")).to_contain_text(re.compile("paused", re.IGNORECASE), timeout=10_000)
    page.wait_for_timeout(800)  # a tick already in flight may still land
    paused_at = shown_step(page)
    page.wait_for_timeout(1200)
    assert shown_step(page) == paused_at > 1
    assert_no_error(page)
    page.screenshot(path=SCREENSHOT)

    # bad custom points: a clear message naming the line
    page.get_by_text("Your own points").first.click()
    box = page.locator("#gan-points textarea")
    box.fill("0, 0\n1, oops\n2, 2")
    page.locator("#gan-use-points").click()
    wait_until_idle(page)
    # with the ring still selected the points are kept for later; choosing the custom set applies them
    page.locator("#gan-dataset input").click()
    page.get_by_role("option", name="your own points").click()
    wait_until_idle(page)
    expect(page.locator(ERROR_TOAST).first).to_be_visible(timeout=10_000)
    assert any("Line 2" in message for message in error_messages(page)), error_messages(page)


def test_wgan_figure_one(page: Page):
    open_tab(page, "GAN lab")
    page.get_by_role("tab", name="WGAN Figure 1").first.click()
    wait_until_idle(page)
    numbers = page.locator("#wgan-numbers")
    expect(numbers).to_contain_text("em_estimate_gp", timeout=30_000)
    expect(numbers).to_contain_text("0.693147")
    expect(page.locator("#wgan-plot img").first).to_be_visible(timeout=20_000)
    slider = page.locator("#wgan-theta input[type=number]")
    slider.fill("0")
    slider.press("Enter")
    wait_until_idle(page)
    expect(numbers).to_contain_text(re.compile(r'"js":\s*0(?![.\d])'), timeout=30_000)
    expect(numbers).to_contain_text(re.compile(r'"theta":\s*0(?![.\d])'))
    assert_no_error(page)
    page.screenshot(path=SCREENSHOT.replace(".png", "_wgan.png"))
