"""The Transposed-convolution tab in Chromium at 1366x768: the book's example on load, the scrubber, a preset,
the three views, a bad input.

Run alone with `LAB_TABS=demos.transposed_conv pytest tests/browser/test_transposed_conv_browser.py`.
"""

from __future__ import annotations

import os

from playwright.sync_api import Page, expect

from tests.browser.ui import assert_no_error, error_messages, open_tab, wait_until_idle

SCREENSHOT = os.environ.get("TRANSPOSED_CONV_SCREENSHOT", "/tmp/transposed_conv.png")
ERROR_TOAST = ".toast-body.error, [data-testid='toast-body'].error"


def open_subtab(page: Page, name: str) -> None:
    tab = page.get_by_role("tab", name=name)
    tab.first.click()
    expect(tab.first).to_have_attribute("aria-selected", "true", timeout=10_000)


def test_transposed_conv_tab_views_scrubber_preset_and_error(page: Page):
    open_tab(page, "Transposed conv")
    wait_until_idle(page)
    torch_value = page.locator("#tc-torch-value")
    # rendered on load: the book's 2x2 example, checked against PyTorch
    expect(torch_value).to_contain_text("identical", timeout=20_000)
    expect(torch_value).to_contain_text("4 12 9")
    expect(page.locator("#tc-formula")).to_contain_text("3")
    expect(page.locator("#tc-scatter img").first).to_be_visible()
    assert_no_error(page)

    # the scatter-add scrubber: one element fewer
    step_number = page.locator("#tc-step input[type=number]")
    expect(step_number).to_have_value("4")
    page.locator("#tc-step input[type=range]").press("ArrowLeft")
    wait_until_idle(page)
    expect(step_number).to_have_value("3")
    assert_no_error(page)
    page.screenshot(path=SCREENSHOT)

    # the checkerboard preset; every view shows a picture
    page.locator("#tc-preset input").click()
    page.get_by_role("option", name="checkerboard: k=3, s=2").click()
    wait_until_idle(page)
    expect(page.locator("#tc-code")).to_contain_text("stride=2", timeout=10_000)
    expect(torch_value).to_contain_text("identical")
    for name, view in (("zero-insertion", "zero"), ("matrix", "matrix"), ("overlap count", "overlap")):
        open_subtab(page, name)
        expect(page.locator(f"#tc-{view} img").first).to_be_visible(timeout=10_000)
        page.screenshot(path=SCREENSHOT.replace(".png", f"_{view}.png"))
    assert_no_error(page)

    # a bad input: a clear message, and the tab keeps working
    x_box = page.locator("#tc-x textarea")
    x_box.fill("1 2\n3 x")
    page.locator("#tc-run").click()
    wait_until_idle(page)
    expect(page.locator(ERROR_TOAST).first).to_be_visible(timeout=10_000)
    assert any("not a number" in message for message in error_messages(page)), error_messages(page)
    x_box.fill("0 1\n2 3")
    page.locator("#tc-run").click()
    wait_until_idle(page)
    expect(torch_value).to_contain_text("identical", timeout=10_000)
