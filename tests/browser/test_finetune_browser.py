"""The Fine-tuning tab in Chromium at 1366x768: the diagram and the precomputed run on load, a small live run whose
curves update epoch by epoch, freezing in the diagram, Stop, and a bad learning rate.

Run alone with `LAB_TABS=demos.finetune pytest tests/browser/test_finetune_browser.py`.
"""

from __future__ import annotations

import os
import time

from playwright.sync_api import Page, expect

from tests.browser.ui import assert_no_error, error_messages, open_link, open_tab, wait_until_idle

SCREENSHOT = os.environ.get("FINETUNE_SCREENSHOT", "/tmp/finetune.png")


def _set_number(page: Page, elem_id: str, value: str) -> None:
    """Type into a slider's or number's number box and commit it."""
    box = page.locator(f"#{elem_id} input[type=number]").first
    box.fill(value)
    box.press("Enter")
    box.blur()


def _status(page: Page) -> str:
    return page.locator("#finetune-status").inner_text()


def test_finetune_tab_trains_live_and_streams_curves(page: Page):
    open_tab(page, "Fine-tuning")
    wait_until_idle(page)
    status = page.locator("#finetune-status")
    diagram = page.locator("#finetune-diagram svg").first
    expect(diagram).to_be_visible(timeout=20_000)
    expect(page.locator("#finetune-diagram")).to_contain_text("not copied")
    expect(status).to_contain_text("Precomputed with the default settings", timeout=20_000)
    expect(page.locator("#finetune-grid img").first).to_be_visible()
    assert page.locator("#finetune-accuracy canvas, #finetune-accuracy svg").count() > 0

    # a small live run: the status (and the curves with it) change epoch by epoch, then Done
    _set_number(page, "finetune-examples", "3")
    _set_number(page, "finetune-epochs", "6")
    page.locator("#finetune-train").click()
    seen: set[str] = set()
    deadline = time.time() + 60
    while time.time() < deadline:
        text = _status(page)
        for epoch in range(1, 7):
            if f"Epoch {epoch}/6" in text:
                seen.add(f"{epoch}" + (" done" if "Done." in text else ""))
        if "Done." in text and "Epoch 6/6" in text:
            break
        page.wait_for_timeout(50)
    wait_until_idle(page)
    assert "6 done" in seen, f"the run did not finish: {seen}"
    assert len({s.split()[0] for s in seen}) >= 3, f"curves did not stream epoch by epoch: {seen}"
    expect(status).not_to_contain_text("Precomputed")
    expect(page.locator("#finetune-json")).to_contain_text('"epochs_done": 6')
    assert_no_error(page)
    page.screenshot(path=SCREENSHOT, full_page=True)

    # freezing the copied layers is drawn in the diagram
    page.locator("#finetune-freeze input[type=checkbox]").check()
    expect(page.locator("#finetune-diagram")).to_contain_text("frozen: the copied layers keep", timeout=10_000)
    page.locator("#finetune-freeze input[type=checkbox]").uncheck()

    # Stop ends a long run after the current epoch
    _set_number(page, "finetune-examples", "50")
    _set_number(page, "finetune-epochs", "40")
    page.locator("#finetune-train").click()
    expect(status).to_contain_text("/40", timeout=30_000)
    page.locator("#finetune-stop").click()
    page.wait_for_timeout(1500)
    stopped_at = _status(page)
    page.wait_for_timeout(2500)
    assert _status(page) == stopped_at, "training went on after Stop"
    assert "Done." not in stopped_at and "Epoch 40/40" not in stopped_at
    assert_no_error(page)


def test_finetune_bad_learning_rate_shows_a_clear_message(page: Page):
    open_tab(page, "Fine-tuning")
    wait_until_idle(page)
    box = page.locator("#finetune-lr input").first
    box.fill("-1")
    box.blur()
    page.locator("#finetune-train").click()
    page.wait_for_function(
        "() => [...document.querySelectorAll('.toast-body')].some(e => e.innerText.includes('learning rate'))",
        timeout=20_000)
    assert any("learning rate must be in (0, 0.1]" in message for message in error_messages(page)), error_messages(page)


def test_a_link_opens_both_parts_settings_without_training(browser, app_url):
    """?tab=finetune&...&part=generalization selects "Augmentation's effect" with the link's settings, and the
    Transfer part shows the link's settings in its diagram; nothing trains; a control change writes the address."""
    page, context = open_link(browser, f"{app_url}?tab=finetune&epochs=3&freeze=1&augmentation=none&aug_seed=2"
                                       "&part=generalization")
    try:
        tab = page.get_by_role("tab", name="Augmentation's effect", exact=True)
        assert tab.get_attribute("aria-selected") == "true"
        expect(page.locator("#generalization-augmentation input")).to_have_value("none")
        expect(page.locator("#generalization-seed input")).to_have_value("2")
        expect(page.locator("#generalization-notes")).to_contain_text("No augmentation")
        expect(page.locator("#generalization-status")).to_contain_text("training starts only when you press")
        box = page.locator("#generalization-seed input")
        box.fill("5")
        box.press("Enter")
        page.wait_for_function("() => new URLSearchParams(location.search).get('aug_seed') === '5'", timeout=15_000)

        open_tab(page, "Transfer")
        assert "part" not in page.evaluate("location.search")
        expect(page.locator("#finetune-freeze input[type=checkbox]")).to_be_checked()
        expect(page.locator("#finetune-epochs input[type=number]")).to_have_value("3")
        expect(page.locator("#finetune-diagram")).to_contain_text("frozen: the copied layers keep")
        expect(page.locator("#finetune-diagram")).to_contain_text("for 3 epochs")
        expect(page.locator("#finetune-status")).to_contain_text("training starts only when you press")
        assert_no_error(page)
    finally:
        context.close()
