"""The Fine-tuning tab's "Augmentation's effect" sub-tab in Chromium: the defaults run live, the answer is revealed
after the run, and the numbers shown equal the API's for the same seed; a bad custom pipeline gets a clear message;
the sub-tab is usable on a 390x844 phone screen.

Run alone with `LAB_TABS=demos.finetune pytest tests/browser/test_generalization_browser.py` (two trainings in the
page and the same two through the API: about a minute on an idle machine).
"""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import Page, expect

from tests.browser.ui import assert_no_error, error_messages, open_tab, wait_until_idle

pytestmark = pytest.mark.browser

SCREENSHOT = os.environ.get("GENERALIZATION_SCREENSHOT", "/tmp/generalization.png")
SEED = 0


def _open(page: Page) -> None:
    open_tab(page, "Fine-tuning")
    open_tab(page, "Augmentation's effect")
    wait_until_idle(page)


def _table(page: Page) -> dict[str, list[str]]:
    """The final-numbers table as {run: [cells...]}."""
    rows = page.locator("#generalization-table tbody tr")
    table = {}
    for i in range(rows.count()):
        cells = [c.inner_text().strip() for c in rows.nth(i).locator("td").all()]
        if cells:
            table[cells[0]] = cells[1:]
    return table


def test_the_defaults_run_live_and_show_the_api_numbers(page: Page, client):
    _open(page)
    expect(page.locator("#generalization-preview img")).to_be_visible(timeout=20_000)  # the default pipeline's draws
    expect(page.locator("#generalization-plot svg").first).to_be_visible()
    reveal = page.locator("#generalization-reveal")
    expect(reveal).not_to_contain_text("The answer")

    page.locator("#generalization-predict-acc").get_by_label("with", exact=True).check()
    page.locator("#generalization-predict-gap").get_by_label("without", exact=True).check()
    page.locator("#generalization-run").click()
    status = page.locator("#generalization-status")
    expect(status).to_contain_text("Training…", timeout=30_000)
    expect(reveal).not_to_contain_text("The answer")  # nothing is revealed while the runs train
    expect(status).to_contain_text("Done.", timeout=240_000)
    wait_until_idle(page)
    expect(reveal).to_contain_text("The answer")
    expect(reveal).to_contain_text("Higher held-out accuracy: with augmentation")
    assert_no_error(page)
    page.screenshot(path=SCREENSHOT, full_page=True)

    table = _table(page)
    for name, augmentation in (("without augmentation", "none"), ("with augmentation", "default")):
        api = client.predict("scratch", augmentation, SEED, api_name="/generalization")
        shown = table[name]
        assert float(shown[0]) == round(100 * api["final_train_accuracy"], 1), (name, shown, api)
        assert float(shown[1]) == round(100 * api["final_test_accuracy"], 1), (name, shown, api)
        assert float(shown[3]) == round(100 * max(api["test_accuracy"]), 1), (name, shown, api)
        assert int(shown[4]) == len(api["test_accuracy"])
    assert float(table["with − without"][1]) >= 5.0  # the claim, as the page shows it


def test_a_bad_custom_pipeline_gets_a_clear_message(page: Page):
    _open(page)
    page.locator("#generalization-custom").get_by_text("Custom pipeline").click()
    editor = page.locator("#generalization-pipeline .cm-content")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.type('{"__class_fullname__": "Sparkle"}')
    page.locator("#generalization-use").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.toast-body')].some(e => e.innerText.includes('Sparkle'))",
        timeout=20_000)
    assert any("Unknown transform 'Sparkle'" in message for message in error_messages(page)), error_messages(page)


def test_usable_on_a_phone(browser, app_url):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        page.goto(app_url, wait_until="domcontentloaded")
        page.wait_for_selector("button[role=tab]", timeout=60_000)
        _open(page)
        run = page.locator("#generalization-run")
        run.scroll_into_view_if_needed()
        expect(run).to_be_visible()
        box = run.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        plot = page.locator("#generalization-plot svg").first
        plot.scroll_into_view_if_needed()
        plot_box = plot.bounding_box()
        assert plot_box is not None and plot_box["width"] <= 390 and plot_box["width"] > 300
        assert page.evaluate("document.documentElement.scrollWidth") <= 392  # no sideways scrolling
    finally:
        context.close()
