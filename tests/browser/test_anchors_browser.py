"""The Anchors & IoU tab in Chromium at 1366x768: click a center, step through the labeling, a bad input.

Run alone with `LAB_TABS=demos.anchors pytest tests/browser/test_anchors_browser.py`.
"""

from __future__ import annotations

import os
import re

from playwright.sync_api import Browser, Page, expect

import demos.anchors as tab
from tests.browser.ui import (
    assert_no_error, edit_cell, error_messages, open_link, open_tab, wait_until_idle,
)

SCREENSHOT = os.environ.get("ANCHORS_SCREENSHOT", "/tmp/anchors.png")


def open_subtab(page: Page, name: str) -> None:
    tab = page.get_by_role("tab", name=name, exact=True)
    tab.first.click()
    expect(tab.first).to_have_attribute("aria-selected", "true", timeout=10_000)


def displayed_rect(img) -> tuple[float, float, float, float]:
    """Where the picture is drawn inside its <img> box (object-fit letterboxes it): left, top, width, height."""
    return tuple(img.evaluate(
        """e => {
            const fit = getComputedStyle(e).objectFit;
            let scale = Math.min(e.clientWidth / e.naturalWidth, e.clientHeight / e.naturalHeight);
            if (fit === "scale-down") scale = Math.min(scale, 1);
            if (fit === "none") scale = 1;
            const w = e.naturalWidth * scale, h = e.naturalHeight * scale;
            return [(e.clientWidth - w) / 2, (e.clientHeight - h) / 2, w, h];
        }"""
    ))


def test_anchors_tab_click_center_and_step_through_labeling(page: Page):
    open_tab(page, "Anchors & IoU")
    wait_until_idle(page)

    # Boxes: editing x1 of the first corner box updates the center form live (cx = (100 + 210) / 2, w = 110).
    cell = page.locator("#anchors-corner [role=gridcell]").filter(has_text=re.compile(r"^\s*133\s*$")).first
    edit_cell(cell, "100")
    wait_until_idle(page)
    center_cells = page.locator("#anchors-center [role=gridcell]")
    expect(center_cells.nth(1)).to_have_text("155", timeout=10_000)
    expect(center_cells.nth(3)).to_have_text("110")
    assert_no_error(page)

    # Anchors: a click on the picture moves the center to the clicked pixel (chelsea is 451 x 300).
    open_subtab(page, "Anchors")
    x_input = page.locator("#anchors-center-x input")
    y_input = page.locator("#anchors-center-y input")
    expect(x_input).to_have_value("225")
    picture = page.locator("#anchors-pixel-image img").first
    expect(picture).to_be_visible()
    picture.evaluate("e => e.complete && e.naturalWidth > 0 ? true : new Promise(r => e.addEventListener('load', r))")
    left, top, shown_w, shown_h = displayed_rect(picture)
    assert shown_w > 200
    picture.click(position={"x": left + shown_w * 0.25, "y": top + shown_h * 0.75})
    wait_until_idle(page)
    expect(x_input).not_to_have_value("225", timeout=10_000)
    x, y = int(x_input.input_value()), int(y_input.input_value())
    assert abs(x - 451 * 0.25) <= 3 and abs(y - 300 * 0.75) <= 3, (x, y)
    assert_no_error(page)

    # IoU: a click on the grid moves box B's center there; the numbers follow.
    open_subtab(page, "IoU")
    before = page.locator("#anchors-iou-numbers").inner_text()
    grid = page.locator("#anchors-iou-image img").first
    expect(grid).to_be_visible(timeout=10_000)
    grid.evaluate("e => e.complete && e.naturalWidth > 0 ? true : new Promise(r => e.addEventListener('load', r))")
    left, top, shown_w, shown_h = displayed_rect(grid)
    grid.click(position={"x": left + shown_w * 0.75, "y": top + shown_h * 0.5})
    wait_until_idle(page)
    expect(page.locator("#anchors-box-b input")).not_to_have_value("140, 100, 340, 280", timeout=10_000)
    expect(page.locator("#anchors-iou-numbers")).not_to_have_text(before, timeout=10_000)
    assert_no_error(page)

    # Labeling: the step slider walks through the greedy assignment.
    open_subtab(page, "Labeling")
    step_text = page.locator("#anchors-step-text")
    expect(step_text).to_contain_text("Step 3 of 3", timeout=10_000)
    step_number = page.locator("#anchors-step input[type=number]")
    step_number.fill("1")
    step_number.press("Enter")
    wait_until_idle(page)
    expect(step_text).to_contain_text("Step 1 of 3", timeout=10_000)
    expect(step_text).to_contain_text("0.75")
    assert_no_error(page)
    page.screenshot(path=SCREENSHOT)

    # A bad input: a clear message, and the tab keeps working.
    open_subtab(page, "Anchors")
    sizes = page.locator("#anchors-sizes textarea, #anchors-sizes input").first
    sizes.fill("big, small")
    sizes.press("Enter")
    wait_until_idle(page)
    expect(page.locator(".toast-body.error, [data-testid='toast-body'].error").first).to_be_visible(timeout=10_000)
    assert any("Sizes" in message for message in error_messages(page)), error_messages(page)


def test_a_link_opens_the_iou_view_and_the_address_follows_the_controls(browser: Browser, app_url: str):
    page, context = open_link(browser, f"{app_url}?tab=anchors&box_a=0,0,100,100&box_b=50,0,150,100&image=coffee"
                                       "&part=iou")
    try:
        expect(page.get_by_role("tab", name="IoU", exact=True)).to_have_attribute("aria-selected", "true")
        expect(page.locator("#anchors-box-a input, #anchors-box-a textarea").first).to_have_value("0,0,100,100")
        expect(page.locator("#anchors-box-b input, #anchors-box-b textarea").first).to_have_value("50,0,150,100")
        _, numbers, result = tab.iou_view("0,0,100,100", "50,0,150,100")  # what /anchors_iou returns
        assert abs(result["iou"] - 1 / 3) < 1e-6
        expect(page.locator("#anchors-iou-numbers")).to_contain_text(f"{result['iou']:.4f}", timeout=20_000)
        expect(page.locator("#anchors-iou-numbers")).to_contain_text(f"{result['union']:.0f}")
        assert "coffee" in page.locator("#anchors-image input").input_value()
        assert_no_error(page)

        box_b = page.locator("#anchors-box-b input, #anchors-box-b textarea").first
        box_b.fill("0,0,100,100")
        box_b.press("Enter")
        page.wait_for_function("() => new URLSearchParams(location.search).get('box_b') === '0,0,100,100'",
                               timeout=15_000)
        expect(page.locator("#anchors-iou-numbers")).to_contain_text("1.0000", timeout=20_000)
        search = page.evaluate("location.search")
        assert "part=iou" in search and "image=coffee" in search and "tab=anchors" in search
    finally:
        context.close()
