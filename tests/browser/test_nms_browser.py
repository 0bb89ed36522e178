"""The NMS tab in Chromium at 1366x768: the book's example on load, stepping, clutter, a bad JSON.

Run alone with `LAB_TABS=demos.nms pytest tests/browser/test_nms_browser.py`.
"""

from __future__ import annotations

import os


from playwright.sync_api import Page, expect

from tests.browser.ui import assert_no_error, edit_cell, error_messages, open_tab, wait_until_idle

SCREENSHOT = os.environ.get("NMS_SCREENSHOT", "/tmp/nms.png")
ERROR_TOAST = ".toast-body.error, [data-testid='toast-body'].error"


def test_nms_tab_steps_through_the_book_example_and_clutter(page: Page):
    open_tab(page, "NMS")
    wait_until_idle(page)
    caption = page.locator("#nms-caption")
    # rendered on load: the book's example, finished
    expect(caption).to_contain_text("2 kept after NMS", timeout=20_000)
    expect(caption).to_contain_text("Step 2/2")
    expect(page.locator("#nms-picture img").first).to_be_visible()
    assert_no_error(page)

    # the step slider (keyboard on the range input) and the step buttons walk through the greedy process
    page.locator("#nms-step input[type=range]").press("ArrowLeft")
    wait_until_idle(page)
    expect(caption).to_contain_text("Step 1/2", timeout=10_000)
    expect(caption).to_contain_text("suppresses #1 (IoU 0.74)")
    page.locator("#nms-previous").click()
    wait_until_idle(page)
    expect(caption).to_contain_text("Step 0", timeout=10_000)
    expect(page.locator("#nms-step input[type=number]")).to_have_value("0")
    page.locator("#nms-next").click()
    wait_until_idle(page)
    expect(caption).to_contain_text("Step 1/2", timeout=10_000)
    assert_no_error(page)
    page.screenshot(path=SCREENSHOT)

    # random clutter, class-aware
    page.locator("#nms-clutter").click()
    wait_until_idle(page)
    expect(caption).to_contain_text("23 candidates", timeout=10_000)
    page.locator("#nms-class-aware input").check()
    wait_until_idle(page)
    expect(caption).to_contain_text("Mode: class-aware", timeout=10_000)
    assert_no_error(page)
    page.screenshot(path=SCREENSHOT.replace(".png", "_clutter.png"))

    # a bad JSON: a clear message, and the tab still works afterwards
    page.get_by_text("Candidates as JSON").first.click()
    box = page.locator("#nms-json textarea")
    box.fill("{oops")
    page.locator("#nms-apply-json").click()
    wait_until_idle(page)
    expect(page.locator(ERROR_TOAST).first).to_be_visible(timeout=10_000)
    assert any("not valid JSON" in message for message in error_messages(page)), error_messages(page)
    for close in page.locator(".toast-close").all():  # dismiss it before the next checks
        close.click()
    expect(page.locator(ERROR_TOAST)).to_have_count(0, timeout=10_000)
    page.locator("#nms-book").click()
    wait_until_idle(page)
    expect(caption).to_contain_text("4", timeout=10_000)
    expect(caption).to_contain_text("2 kept after NMS")

    # edit the table: box #1 scored 0.95 becomes the dog baseline and suppresses #0 instead
    cell = page.locator("#nms-table [data-testid='cell-1-5']")
    expect(cell).to_contain_text("0.8")
    edit_cell(cell, "0.95")
    wait_until_idle(page)
    expect(page.locator("#nms-steps")).to_contain_text("#0 (0.74)", timeout=10_000)
    expect(caption).to_contain_text("2 kept after NMS")
    assert_no_error(page)


def test_a_link_opens_its_view_and_the_address_follows_the_controls(page: Page, app_url: str, client):
    """A fresh page at a non-default view shows its controls and the API's numbers; a control change is written
    into the address bar."""
    from tests.browser.ui import wait_until_ready

    page.goto(f"{app_url}?tab=nms&source=clutter&seed=3&iou=0.4&class_aware=1&step=2", wait_until="domcontentloaded")
    wait_until_ready(page)
    caption = page.locator("#nms-caption")
    expect(caption).to_contain_text("Step 2/", timeout=30_000)
    expect(page.locator("#nms-seed input")).to_have_value("3")
    expect(page.locator("#nms-iou input[type=number]")).to_have_value("0.4")
    expect(page.locator("#nms-class-aware input")).to_be_checked()
    text = client.predict(3, 5, 4, 3, api_name="/nms_clutter")[0]
    _, result, *_ = client.predict(text, 0.0, 0.4, True, 2, api_name="/nms_run")
    expect(caption).to_contain_text(f"{result['counts']['kept']} kept after NMS")
    expect(caption).to_contain_text(f"{result['counts']['candidates']} candidates")
    step = page.locator("#nms-step input[type=number]")
    step.fill("1")
    step.press("Enter")
    page.wait_for_function("() => new URLSearchParams(location.search).get('step') === '1'", timeout=15_000)
    expect(caption).to_contain_text("Step 1/", timeout=10_000)
    assert "source=clutter" in page.evaluate("location.search")
    assert_no_error(page)
