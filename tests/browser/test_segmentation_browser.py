"""The Segmentation tab in Chromium at 1366x768: the result on load, segmenting another scene and a sample, the
coarse-scores and upsampling sub-tabs, the link to the Transposed-convolution tab, and a clear error.

Run alone with `LAB_TABS=demos.segmentation pytest tests/browser/test_segmentation_browser.py`.
"""

from __future__ import annotations

import os

from playwright.sync_api import Page, expect

from tests.browser.ui import assert_no_error, click_and_wait, error_messages, open_tab, wait_until_idle

SCREENSHOT = os.environ.get("SEGMENTATION_SCREENSHOT", "/tmp/segmentation.png")


def _image_src(page: Page, elem_id: str) -> str:
    selector = f"#{elem_id} img"
    expect(page.locator(selector).first).to_be_visible(timeout=30_000)
    page.wait_for_function(f"() => {{ const i = document.querySelector('{selector}'); return i && i.naturalWidth > 0; }}",
                           timeout=30_000)
    return page.locator(selector).first.get_attribute("src") or ""


def _choose(page: Page, selector: str, option: str) -> None:
    page.locator(f"{selector} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def test_segmentation_tab_result_views_and_link(page: Page):
    wait_until_idle(page)
    open_tab(page, "Segmentation")
    wait_until_idle(page)
    first = _image_src(page, "seg-overlay")
    _image_src(page, "seg-errors")
    expect(page.locator("#seg-iou")).to_contain_text("mIoU", timeout=30_000)
    page.screenshot(path=SCREENSHOT)

    page.locator("#seg-seed input").fill("2000011")
    click_and_wait(page, "Segment")
    page.wait_for_function("before => document.querySelector('#seg-overlay img').getAttribute('src') !== before",
                           arg=first, timeout=30_000)
    expect(page.locator("#seg-iou")).to_contain_text("mIoU")
    assert_no_error(page)

    page.get_by_role("tab", name="coarse scores → upsampled").click()
    _image_src(page, "seg-coarse-map")
    _image_src(page, "seg-final")

    page.get_by_role("tab", name="upsampling explained").click()
    _image_src(page, "seg-kernel")
    page.locator("#seg-scale").get_by_label("8").check()
    wait_until_idle(page)
    expect(page.locator("#seg-kernel-table")).to_contain_text("15")  # 16 columns: 0..15
    assert_no_error(page)

    page.get_by_role("tab", name="learned upsampling").click()
    _image_src(page, "seg-learned-kernels")
    page.locator("#seg-to-tc").click()
    tc_tab = page.get_by_role("tab", name="Transposed conv", exact=True)
    if tc_tab.count():  # the whole app: the button switches to that tab
        expect(tc_tab.first).to_have_attribute("aria-selected", "true", timeout=10_000)
    assert_no_error(page)


def test_segmentation_tab_sample_and_missing_upload(page: Page):
    wait_until_idle(page)
    open_tab(page, "Segmentation")
    wait_until_idle(page)
    _choose(page, "#seg-source", "bundled sample")
    wait_until_idle(page)
    expect(page.locator("#seg-iou")).not_to_contain_text("mIoU", timeout=30_000)  # no ground truth for a photo
    assert_no_error(page)

    _choose(page, "#seg-source", "your upload")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.toast-body.error, [data-testid=\"toast-body\"].error, .error-message')]"
        ".some(e => e.innerText.includes('Upload an image'))",
        timeout=15_000,
    )
    assert any("Upload an image" in message for message in error_messages(page))
