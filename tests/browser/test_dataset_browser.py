"""The Detection dataset tab in Chromium at 1366x768: the grid on load, paging, an uploaded background,
one scene as the API returns it, and a bad split index.

Run alone with `LAB_TABS=demos.dataset pytest tests/browser/test_dataset_browser.py`.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image
from playwright.sync_api import Page, expect

from tests.browser.ui import assert_no_error, click_and_wait, error_messages, open_link, open_tab, wait_until_idle

SCREENSHOT = os.environ.get("DATASET_SCREENSHOT", "/tmp/dataset.png")


def _grid_src(page: Page) -> str:
    image = page.locator("#dataset-boxes-grid img").first
    expect(image).to_be_visible(timeout=30_000)
    page.wait_for_function(
        "() => { const i = document.querySelector('#dataset-boxes-grid img'); return i && i.naturalWidth > 0; }",
        timeout=30_000,
    )
    return image.get_attribute("src") or ""


def _wait_for_new_grid(page: Page, before: str) -> None:
    page.wait_for_function(
        "before => { const i = document.querySelector('#dataset-boxes-grid img');"
        " return i && i.getAttribute('src') !== before && i.naturalWidth > 0; }",
        arg=before,
        timeout=30_000,
    )


def test_dataset_tab_grid_paging_upload_and_single_scene(page: Page, tmp_path):
    wait_until_idle(page)  # the page-load event's progress overlay must be gone before clicking the tab
    open_tab(page, "Dataset")
    wait_until_idle(page)
    first = _grid_src(page)
    assert first
    page.get_by_role("tab", name="masks", exact=True).click()
    expect(page.locator("#dataset-masks-grid img").first).to_be_visible(timeout=10_000)
    page.get_by_role("tab", name="boxes", exact=True).click()
    assert "disc" in page.locator(".tabitem:visible").first.inner_text()  # the legend
    page.screenshot(path=SCREENSHOT)

    click_and_wait(page, "next ▶")
    expect(page.locator("#dataset-seed input")).to_have_value("8")
    _wait_for_new_grid(page, first)
    assert_no_error(page)

    photo = tmp_path / "background.png"
    Image.fromarray(np.full((200, 320, 3), (30, 160, 60), np.uint8)).save(photo)
    before = _grid_src(page)
    page.locator("#dataset-upload input[type=file]").set_input_files(str(photo))
    wait_until_idle(page)
    _wait_for_new_grid(page, before)
    assert_no_error(page)

    click_and_wait(page, "Make scene")
    expect(page.locator("#dataset-single-json")).to_contain_text("class_name", timeout=30_000)
    expect(page.locator("#dataset-single-preview img").first).to_be_visible()
    assert_no_error(page)


def test_dataset_tab_bad_split_index_shows_a_clear_message(page: Page):
    wait_until_idle(page)
    open_tab(page, "Dataset")
    wait_until_idle(page)
    split = page.locator("#dataset-split input")
    split.click()
    page.get_by_role("option", name="test", exact=True).click()
    wait_until_idle(page)
    seed = page.locator("#dataset-seed input")
    seed.fill("499")
    click_and_wait(page, "Generate")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.toast-body.error, [data-testid=\"toast-body\"].error, .error-message')]"
        ".some(e => e.innerText.includes('past its end'))",
        timeout=15_000,
    )
    assert any("past its end" in message for message in error_messages(page))


def test_a_link_opens_its_view_and_sub_tab_and_the_address_follows(browser, app_url: str):
    from core.data.scenes import SPLITS
    from demos import dataset as tab

    view = tab.DatasetView(split="test", seed=3, count=4, scene_seed=7)
    page, context = open_link(browser, f"{app_url}{view.link()}&part=masks")
    try:
        expect(page.get_by_role("tab", name="masks", exact=True)).to_have_attribute("aria-selected", "true")
        expect(page.locator("#dataset-seed input")).to_have_value("3")
        expect(page.locator("#dataset-split input")).to_have_value("test")
        expect(page.locator("#dataset-masks-grid img").first).to_be_visible(timeout=30_000)
        page.get_by_text("numbers (dataset_grid endpoint)").click()
        stats = page.locator("#dataset-stats")
        expect(stats).to_contain_text(str(SPLITS["test"][3]), timeout=15_000)
        shown = tab.show(view)  # what /dataset_grid and /make_scene return for these settings
        for seed in shown[3]["seeds"]:
            expect(stats).to_contain_text(str(seed))
        expect(page.locator("#dataset-single-json")).to_contain_text(shown[5][0]["class_name"], timeout=15_000)
        assert_no_error(page)

        click_and_wait(page, "next ▶")
        page.wait_for_function("() => new URLSearchParams(location.search).get('seed') === '7'", timeout=15_000)
        expect(page.locator("#dataset-seed input")).to_have_value("7")
        assert "part=masks" in page.evaluate("location.search")
    finally:
        context.close()
