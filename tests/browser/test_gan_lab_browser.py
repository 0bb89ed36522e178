"""The GAN lab tab in Chromium at 1366x768: the first picture on load, Step, Play/Pause streaming frames,
WGAN Figure 1, and a clear message for bad custom points.

Run alone with `LAB_TABS=demos.gan_lab pytest tests/browser/test_gan_lab_browser.py`.
"""

from __future__ import annotations

import os
import re

from playwright.sync_api import Browser, Page, expect

from tests.browser.ui import assert_no_error, error_messages, open_link, open_tab, wait_until_idle, wait_until_ready

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
    wait_until_ready(page)  # the page load selects the link's sub-tab (none: the first): click after it
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


def test_a_link_opens_its_settings_and_sub_tab(browser: Browser, app_url: str, client):
    """?tab=gan_lab&... sets the controls and shows the model of those settings before training (the API's
    numbers); part=wgan opens Figure 1 at the link's theta; a control change writes the address bar."""
    from tests.test_demo_gan_lab import controls

    page, context = open_link(browser, f"{app_url}?tab=gan_lab&dataset=moons&loss=wgan-gp&lr_d=0.003&d_steps=2&seed=3")
    try:
        assert page.get_by_role("tab", name="Train live").get_attribute("aria-selected") == "true"
        expect(page.locator("#gan-d-steps input[type=number]")).to_have_value("2")
        expect(page.locator("#gan-lr-d input")).to_have_value("0.003")
        expect(page.locator("#gan-dataset input")).to_have_value("two moons")
        assert page.locator("#gan-loss input[value=wgan-gp]").is_checked()
        text = page.locator("#gan-numbers").inner_text()
        _, _, api_text, numbers, *_ = client.predict(*controls(dataset="moons", loss="wgan-gp", lr_d=0.003,
                                                               d_steps=2, seed=3), api_name="/gan_lab_reset")
        assert numbers["step"] == 0 and "step 0" in text
        covered = f"modes covered {numbers['modes_covered']} / {numbers['n_modes']}"
        percent = re.search(r"\*\*(\d+)%\*\*", api_text).group(1)  # the API's own words, rounded as shown
        assert covered in text and f"{percent}% of generated samples" in text
        expect(page.locator("#gan-status")).to_contain_text("never starts training")
        d_steps = page.locator("#gan-d-steps input[type=number]")
        d_steps.fill("4")
        d_steps.press("Enter")
        page.wait_for_function("() => new URLSearchParams(location.search).get('d_steps') === '4'", timeout=15_000)
        assert_no_error(page)
    finally:
        context.close()

    page, context = open_link(browser, f"{app_url}?tab=gan_lab&part=wgan&theta=-0.3&wgan_steps=60")
    try:
        assert page.get_by_role("tab", name="WGAN Figure 1: EM vs JS").get_attribute("aria-selected") == "true"
        expect(page.locator("#wgan-theta input[type=number]")).to_have_value("-0.3")
        api = client.predict(-0.3, api_name="/wgan_distances")  # the endpoint trains 150 steps: compare exact values
        shown = page.locator("#wgan-numbers").inner_text()
        assert re.search(r'"em"\s*:\s*0\.3\b', shown) and f"{api['js']:.6f}"[:7] in shown
        assert re.search(r'"steps"\s*:\s*60\b', shown)
        expect(page.locator("#wgan-caption")).to_contain_text("EM")
        page.locator("#wgan-seed input").fill("2")
        page.locator("#wgan-seed input").press("Enter")
        page.wait_for_function("() => new URLSearchParams(location.search).get('wgan_seed') === '2'",
                               timeout=15_000)
        assert "part=wgan" in page.evaluate("location.search")
        assert_no_error(page)
    finally:
        context.close()
