"""The Augmentation tab in Chromium at 1366x768: the grid on load, a builder step, Augment, a bad input.

Run alone with `LAB_TABS=demos.augmentation pytest tests/browser/test_augmentation_browser.py`.
"""

from __future__ import annotations

import os

from playwright.sync_api import Page, expect

from tests.browser.ui import ERROR_SELECTOR, assert_no_error, click_and_wait, error_messages, open_tab, wait_until_idle

SCREENSHOT = os.environ.get("AUGMENTATION_SCREENSHOT", "/tmp/augmentation.png")


def test_augmentation_tab_grid_builder_and_bad_boxes(page: Page):
    open_tab(page, "Augmentation")
    wait_until_idle(page)
    gallery = page.locator("#augmentation-gallery")
    expect(gallery.locator("img")).to_have_count(8, timeout=20_000)  # the book's grid, shown on load
    status = page.locator("#augmentation-status")
    expect(status).to_contain_text("8 samples of 200×200")

    # builder: add the selected transform (Rotate) as a fourth step; the grid is recomputed
    click_and_wait(page, "Add step")
    expect(page.locator("#augmentation-steps")).to_contain_text("Rotate", timeout=20_000)
    expect(page.locator("#augmentation-table")).to_contain_text("angle_deg", timeout=20_000)  # Rotate starts at p=1
    assert_no_error(page)

    # the main action with another seed
    page.locator("#augmentation-run").click()
    wait_until_idle(page)
    expect(gallery.locator("img")).to_have_count(8)
    assert_no_error(page)
    page.screenshot(path=SCREENSHOT, full_page=False)

    # a bad input: a box with three numbers gives a clear message
    boxes = page.locator("#augmentation-boxes textarea")
    boxes.fill("10, 20, 30")
    page.locator("#augmentation-run").click()
    page.wait_for_function(
        "sel => [...document.querySelectorAll(sel)].some(e => e.offsetParent !== null)", arg=ERROR_SELECTOR,
        timeout=20_000,
    )
    messages = " ".join(error_messages(page))
    assert "expected 'x1, y1, x2, y2, name'" in messages, messages
