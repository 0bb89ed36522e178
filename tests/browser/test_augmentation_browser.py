"""The Augmentation tab in Chromium at 1366x768: the grid on load, a builder step, Augment, a bad input.

Run alone with `LAB_TABS=demos.augmentation pytest tests/browser/test_augmentation_browser.py`.
"""

from __future__ import annotations

import os

from playwright.sync_api import Browser, Page, expect

from tests.browser.ui import (
    ERROR_SELECTOR, assert_no_error, click_and_wait, error_messages, open_link, open_tab, wait_until_idle,
)

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


def test_a_link_opens_its_view_and_the_address_follows_the_controls(browser: Browser, app_url: str):
    from demos import augmentation as tab

    view = tab.AugmentationView(preset="vflip", n=4, seed=3)
    expected_status = tab.show(view)[5]  # what /augmentation_run says for these settings
    page, context = open_link(browser, f"{app_url}{view.link()}")
    try:
        expect(page.locator("#augmentation-preset input")).to_have_value("Book: vertical flip")
        expect(page.locator("#augmentation-seed input")).to_have_value("3")
        expect(page.locator("#augmentation-gallery img")).to_have_count(4, timeout=30_000)
        expect(page.locator("#augmentation-steps")).to_contain_text("VerticalFlip")
        status = page.locator("#augmentation-status")
        expect(status).to_contain_text("4 samples of", timeout=30_000)
        assert status.inner_text().split("·")[0].strip() == expected_status.replace("**", "").split("·")[0].strip()
        assert_no_error(page)

        click_and_wait(page, "Next seed")
        page.wait_for_function("() => new URLSearchParams(location.search).get('seed') === '4'", timeout=15_000)
        expect(status).to_contain_text("from seed 4", timeout=30_000)
        click_and_wait(page, "Add step")  # the builder changed the pipeline: the preset says custom
        page.wait_for_function("() => new URLSearchParams(location.search).get('preset') === 'custom'",
                               timeout=15_000)
        expect(page.locator("#augmentation-preset input")).to_have_value("custom (built or imported below)")
    finally:
        context.close()


def test_the_pipeline_goes_to_augmentations_effect(page: Page):
    """The hand-off (issue 16): the pipeline built here opens in the Fine-tuning tab's "Augmentation's effect" part as
    its custom augmentation, ready to train (nothing trains before the student presses Train)."""
    import json

    from core.data import augment as aug

    open_tab(page, "Augmentation")  # the default preset: the pipeline sent is its JSON export
    wait_until_idle(page)
    page.get_by_role("tab", name="JSON", exact=True).click()
    page.locator("#augmentation-to-effect").click()
    wait_until_idle(page)
    expect(page.get_by_role("tab", name="Fine-tuning", exact=True)).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("tab", name="Augmentation's effect", exact=True)).to_have_attribute(
        "aria-selected", "true", timeout=20_000)
    # the code box shows the top of the document (CodeMirror draws only what is in view): the pipeline's first step
    exported = json.loads(aug.to_json(aug.preset(aug.DEFAULT_PRESET)))
    first_step = exported["transform"]["transforms"][0]["__class_fullname__"]
    received = page.locator("#generalization-pipeline .cm-content")
    expect(received).to_contain_text(f'"__class_fullname__": "{first_step}"', timeout=20_000)
    expect(page.locator("#generalization-augmentation input")).to_have_value("custom JSON")
    expect(page.locator("#generalization-status")).not_to_contain_text("Training")
    assert_no_error(page)
