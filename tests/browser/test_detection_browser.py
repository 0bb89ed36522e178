"""The Detection tab in Chromium at 1366x768: the default scene detected on load, a new seed, the SSD insides,
raw candidates sent to the NMS tab, the RoI pooling toy, and a bad seed.

Run alone with `LAB_TABS=demos.nms,demos.detection pytest tests/browser/test_detection_browser.py`.
"""

from __future__ import annotations

import os
import re

from playwright.sync_api import Page, expect

from demos.detection import available_models
from tests.browser.ui import assert_no_error, click_and_wait, error_messages, open_tab, wait_until_idle

SCREENSHOT = os.environ.get("DETECTION_SCREENSHOT", "/tmp/detection.png")


def test_detection_tab_detects_shows_insides_and_sends_to_nms(page: Page):
    wait_until_idle(page)
    open_tab(page, "Detection")
    wait_until_idle(page)
    summary = page.locator("#detection-summary")
    # rendered on load: the first held-out test scene with precision and recall
    expect(summary).to_contain_text("seed 2000000 (test split)", timeout=60_000)
    expect(summary).to_contain_text("recall")
    expect(page.locator("#detection-picture img").first).to_be_visible()
    page.screenshot(path=SCREENSHOT)
    assert_no_error(page)

    page.locator("#detection-seed input").fill("2000007")
    click_and_wait(page, "Detect")
    expect(summary).to_contain_text("seed 2000007", timeout=30_000)
    assert_no_error(page)

    page.get_by_role("tab", name="SSD insides").click()  # computes the insides of the scene detected now
    wait_until_idle(page)
    expect(page.locator("#detection-scales")).to_contain_text("32×32", timeout=30_000)
    expect(page.locator("#detection-raw-note")).to_contain_text("raw candidates")
    raw = int(re.search(r"(\d+) raw candidates", page.locator("#detection-raw-note").inner_text()).group(1))
    assert raw > 0
    click_and_wait(page, "Send raw candidates to the NMS tab ▶")
    # the NMS tab is selected and steps through the SSD's candidates
    expect(page.get_by_role("tab", name="NMS", exact=True)).to_have_attribute("aria-selected", "true", timeout=20_000)
    expect(page.locator("#nms-caption")).to_contain_text("kept after NMS", timeout=30_000)
    expect(page.locator("#nms-caption")).to_contain_text(f"{min(raw, 300)} candidates")
    # the SSD's own NMS settings came along: class-aware, the Detection tab's IoU threshold
    expect(page.locator("#nms-caption")).to_contain_text("Mode: class-aware")
    expect(page.locator("#nms-class-aware input")).to_be_checked()
    expect(page.locator("#nms-table")).to_contain_text(re.compile("disc|ring|triangle|star|horse"))
    page.screenshot(path=SCREENSHOT.replace(".png", "_nms.png"))
    assert_no_error(page)

    open_tab(page, "Detection")
    page.get_by_role("tab", name="Faster R-CNN insides").click()
    caption = page.locator("#detection-frcnn-caption")
    if "faster_rcnn" in available_models():
        expect(caption).to_contain_text("RoIs", timeout=30_000)
        page.locator("#detection-layer-0 input").uncheck()  # hide a layer
        wait_until_idle(page)
        expect(page.locator("#detection-layers-picture img").first).to_be_visible()
    else:
        expect(caption).to_contain_text("not trained yet", timeout=30_000)
    page.screenshot(path=SCREENSHOT.replace(".png", "_frcnn.png"))
    assert_no_error(page)

    page.get_by_role("tab", name="RoI pooling vs RoIAlign").click()
    expect(page.locator("#detection-roi-toy")).to_contain_text("roi_pool", timeout=20_000)
    expect(page.locator("#detection-roi-toy")).to_contain_text("15")
    if "faster_rcnn" in available_models():
        expect(page.locator("#detection-roi-text")).to_contain_text("RoIAlign keeps the exact edges", timeout=30_000)
    page.screenshot(path=SCREENSHOT.replace(".png", "_roi.png"), full_page=True)
    assert_no_error(page)


def test_detection_tab_bad_seed_shows_a_clear_message(page: Page):
    wait_until_idle(page)
    open_tab(page, "Detection")
    wait_until_idle(page)
    page.locator("#detection-seed input").fill("99999999999")
    page.get_by_role("button", name="Detect", exact=True).click()
    page.wait_for_function(
        "() => document.querySelectorAll('.toast-body.error, [data-testid=\"toast-body\"].error').length > 0",
        timeout=30_000,
    )
    assert any("Seed must be a whole number between" in message for message in error_messages(page))


def test_a_link_opens_its_view_and_sub_tab_and_the_address_follows(page: Page, app_url: str, client):
    """A fresh page at ?tab=detection&seed=...&score=...&part=ssd: the controls, the SSD insides sub-tab and the
    API's numbers; a control change is written into the address bar."""
    from tests.browser.ui import wait_until_ready

    page.goto(f"{app_url}?tab=detection&seed=2000007&score=0.5&scale=4&part=ssd", wait_until="domcontentloaded")
    wait_until_ready(page)
    expect(page.locator("#detection-summary")).to_contain_text("seed 2000007", timeout=60_000)
    expect(page.locator("#detection-seed input")).to_have_value("2000007")
    expect(page.locator("#detection-score input[type=number]")).to_have_value("0.5")
    expect(page.get_by_role("tab", name="SSD insides")).to_have_attribute("aria-selected", "true")
    _, _, _, numbers = client.predict("scene", 2000007, "coffee", None, "ssd", 0.5, 0.5, api_name="/detection_view")
    counts = numbers["vs_ground_truth"]
    expect(page.locator("#detection-summary")).to_contain_text(
        f"true positives (solid, 'TP') {counts['true_positives']}")
    expect(page.locator("#detection-raw-note")).to_contain_text(f"keeps {len(numbers['detections'])}")
    expect(page.locator("#detection-anchors img").first).to_be_visible()
    box = page.locator("#detection-seed input")
    box.fill("2000003")
    box.press("Enter")
    page.wait_for_function("() => new URLSearchParams(location.search).get('seed') === '2000003'", timeout=15_000)
    assert "part=ssd" in page.evaluate("location.search")
    expect(page.locator("#detection-summary")).to_contain_text("seed 2000003", timeout=60_000)
    assert_no_error(page)
