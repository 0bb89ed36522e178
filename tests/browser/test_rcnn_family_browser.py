"""The R-CNN family sub-tab of the Detection tab in Chromium: opened at 1366x768 it compares the three models on
the first test scene, and the numbers it shows (proposals, CNN forward passes, detections, test mAP) are those
``/rcnn_family`` returns for the same image; at 390x844 it stays usable.

Run alone with `LAB_TABS=demos.nms,demos.detection pytest tests/browser/test_rcnn_family_browser.py`.
"""

from __future__ import annotations

import os

import pytest
from gradio_client import Client, handle_file
from PIL import Image
from playwright.sync_api import Page, expect

from core.data.scenes import make_scene
from core.models.rcnn_family import card_metrics
from demos.rcnn_family import DEFAULT_SEED, FAMILY, TABLE_HEADERS, TITLES
from tests.browser.ui import assert_no_error, click_and_wait, open_link, open_tab, wait_until_idle

SCREENSHOT = os.environ.get("RCNN_FAMILY_SCREENSHOT", "/tmp/detection_family.png")
COLUMNS = len(TABLE_HEADERS)


def _open_family(page: Page) -> None:
    wait_until_idle(page)
    open_tab(page, "Detection")
    wait_until_idle(page)
    open_tab(page, "R-CNN family")  # (on a phone the sub-tab may sit in Gradio's "More tabs" menu)


def _rows(page: Page) -> list[list[str]]:
    cells = page.locator("#family-table [role=gridcell]")
    expect(cells).to_have_count(COLUMNS * len(FAMILY), timeout=30_000)
    texts = [cell.inner_text().strip() for cell in cells.all()]
    return [texts[i * COLUMNS:(i + 1) * COLUMNS] for i in range(len(FAMILY))]


@pytest.mark.browser
def test_family_subtab_shows_the_numbers_of_the_api(page: Page, app_url: str, tmp_path):
    _open_family(page)
    summary = page.locator("#family-summary")
    expect(summary).to_contain_text(f"seed {DEFAULT_SEED} (test split)", timeout=240_000)
    wait_until_idle(page, 240_000)
    rows = _rows(page)
    for name in FAMILY:
        expect(page.locator(f"#family-picture-{name} img").first).to_be_visible()
        expect(page.locator(f"#family-caption-{name}")).to_contain_text("CNN forward pass")
    # selective search step by step: half of the merges done, the last one boxed and explained
    search = page.locator("#family-search-caption")
    expect(search).to_contain_text("Felzenszwalb regions", timeout=60_000)
    expect(search).to_contain_text("into region")
    page.locator("#family-search-picture").scroll_into_view_if_needed()  # its <img> loads lazily, near the viewport
    expect(page.locator("#family-search-picture img").first).to_be_visible()
    page.screenshot(path=SCREENSHOT, full_page=True)
    assert_no_error(page)

    path = tmp_path / "scene.png"
    Image.fromarray(make_scene(DEFAULT_SEED).image).save(path)
    client = Client(app_url, verbose=False, download_files=str(tmp_path))
    result = client.predict(handle_file(str(path)), api_name="/rcnn_family")
    for row, name in zip(rows, FAMILY):
        item = result[name]
        assert row[0] == TITLES[name]
        assert int(row[1].replace(",", "")) == item["proposals"]
        assert int(row[2].replace(",", "")) == item["cnn_forward_passes"]
        assert int(row[8]) == len(item["detections"])
        metrics = card_metrics(name)  # the card's test-split numbers, as the card has them
        assert row[9] == f"{metrics['test_map_50']:.3f}" and row[10] == f"{metrics['test_map']:.3f}"
        for stage_column in row[3:8]:
            assert float(stage_column) >= 0.0
    assert int(rows[0][2].replace(",", "")) == int(rows[0][1].replace(",", ""))  # R-CNN: one pass per proposal
    assert rows[1][2] == rows[2][2] == "1"

    # fewer proposals: R-CNN runs its CNN fewer times, Fast R-CNN still once
    slider = page.locator("#family-limit input[type=number]")
    slider.fill("100")
    slider.press("Enter")
    click_and_wait(page, "Compare the three", 240_000)
    rows = _rows(page)
    assert rows[0][1] == rows[0][2] == "100" and rows[1][1] == "100" and rows[1][2] == "1"
    assert_no_error(page)


@pytest.mark.browser
def test_family_subtab_is_usable_on_a_phone(browser, app_url: str):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        page.goto(app_url, wait_until="domcontentloaded")
        page.wait_for_selector("button[role=tab]", timeout=60_000)
        _open_family(page)
        expect(page.locator("#family-summary")).to_contain_text("CNN", timeout=240_000)
        wait_until_idle(page, 240_000)
        run = page.get_by_role("button", name="Compare the three")
        run.scroll_into_view_if_needed()
        expect(run).to_be_visible()
        picture = page.locator("#family-picture-rcnn img").first
        picture.scroll_into_view_if_needed()
        box = picture.bounding_box()
        assert box is not None and box["width"] <= 390  # the pictures stack, each fits the screen
        page.screenshot(path=SCREENSHOT.replace(".png", "_phone.png"), full_page=False)
        assert_no_error(page)
    finally:
        context.close()


@pytest.mark.browser
def test_a_link_carries_the_family_settings_and_shows_their_comparison(browser, app_url: str, tmp_path):
    """A link to the sub-tab with its own settings: in a fresh browser the controls hold them and the comparison
    ran with them (R-CNN classified only the link's 200 proposals, on the link's scene); a change is written back."""
    seed = DEFAULT_SEED + 3
    query = (f"tab=detection&part=family&family_seed={seed}&family_limit=200&family_shown=20&family_score=0.6"
             "&family_merges=30")
    page, context = open_link(browser, f"{app_url}?{query}")
    try:
        expect(page.locator("#family-summary")).to_contain_text(f"seed {seed} (test split)", timeout=240_000)
        wait_until_idle(page, 240_000)
        expect(page.locator("#detection-family-tab")).to_be_visible()
        assert page.locator("#family-seed input").input_value() == str(seed)
        assert page.locator("#family-limit input[type=number]").input_value() == "200"
        assert page.locator("#family-shown input[type=number]").input_value() == "20"
        assert page.locator("#family-score input[type=number]").input_value() == "0.6"
        assert page.locator("#family-search-progress input[type=number]").input_value() == "30"
        rows = _rows(page)
        assert rows[0][1] == rows[0][2] == "200" and rows[1][1] == "200" and rows[1][2] == "1"
        for name in FAMILY:  # 20 proposals drawn per picture, as the link says
            expect(page.locator(f"#family-caption-{name}")).to_contain_text("best-ranked 20 drawn")
        expect(page.locator("#family-search-caption")).to_contain_text("Felzenszwalb regions", timeout=60_000)
        assert_no_error(page)
        box = page.locator("#family-score input[type=number]")
        box.fill("0.7")
        box.press("Enter")
        page.wait_for_function("() => new URLSearchParams(location.search).get('family_score') === '0.7'",
                               timeout=30_000)
        search = page.evaluate("location.search")
        assert "part=family" in search and f"family_seed={seed}" in search and "family_limit=200" in search
        # an upload becomes the input at once, and the tab says that a link cannot carry it
        path = tmp_path / "photo.png"
        Image.fromarray(make_scene(DEFAULT_SEED + 5).image).save(path)
        page.locator("#family-upload input[type=file]").set_input_files(str(path))
        expect(page.locator("#family-summary")).to_contain_text("your image", timeout=240_000)
        expect(page.locator("#family-source input[value=upload]")).to_be_checked()
        expect(page.locator("#detection-link-note")).to_contain_text("uploaded image is not part of the link")
        page.wait_for_function("() => new URLSearchParams(location.search).get('family_input') === 'upload'",
                               timeout=30_000)
        assert_no_error(page)
    finally:
        context.close()
