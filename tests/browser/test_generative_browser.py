"""The Generative models tab in Chromium at 1366x768: defaults on load, sampling, every sub-tab, a bad seed.

Run alone with `LAB_TABS=demos.generative pytest tests/browser/test_generative_browser.py`.
"""

from __future__ import annotations

import os

from playwright.sync_api import Page, expect

from tests.browser.ui import assert_no_error, error_messages, open_tab, wait_until_idle

SCREENSHOT = os.environ.get("GENERATIVE_SCREENSHOT", "/tmp/generative.png")
ERROR_TOAST = ".toast-body.error, [data-testid='toast-body'].error"


def open_subtab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).first.click()
    wait_until_idle(page)


def test_generative_tab_samples_and_every_subtab_renders(page: Page):
    open_tab(page, "Generative models")
    wait_until_idle(page)
    # rendered on load: the DCGAN grid, what the judge reads, the edit trio
    expect(page.locator("#gen-grid img").first).to_be_visible(timeout=30_000)
    expect(page.locator("#gen-read-note")).to_contain_text("reads them as", timeout=30_000)
    expect(page.locator("#gen-nearest-note")).to_contain_text("nearest real digit", timeout=30_000)
    assert_no_error(page)
    page.screenshot(path=SCREENSHOT)

    # the main action: a new seed, sampled
    page.locator("#gen-seed input").fill("123")
    page.locator("#gen-sample").click()
    wait_until_idle(page)
    expect(page.locator("#gen-read-note")).to_contain_text("reads them as")
    assert_no_error(page)

    open_subtab(page, "Interpolation")
    expect(page.locator("#gen-norm-note")).to_contain_text("|z| along the path", timeout=30_000)
    page.locator("#gen-interpolate").click()
    wait_until_idle(page)
    open_subtab(page, "CGAN")
    expect(page.locator("#gen-cgan-note")).to_contain_text("read as the requested 3", timeout=30_000)
    expect(page.locator("#gen-cgan-grid img").first).to_be_visible()
    open_subtab(page, "CycleGAN")
    expect(page.locator("#gen-cycle-note")).to_contain_text("Cycle loss", timeout=30_000)
    page.locator("#gen-translate").click()
    wait_until_idle(page)
    expect(page.locator("#gen-cycle-gallery img")).to_have_count(3)
    page.screenshot(path=SCREENSHOT.replace(".png", "_cyclegan.png"))
    open_subtab(page, "ProGAN")
    expect(page.locator("#gen-progan-stages img")).to_have_count(4, timeout=30_000)
    page.screenshot(path=SCREENSHOT.replace(".png", "_progan.png"))
    assert_no_error(page)

    # a bad seed: a clear message, and the tab keeps working
    open_subtab(page, "Latent explorer (DCGAN)")
    page.locator("#gen-seed input").fill("-5")
    page.locator("#gen-sample").click()
    wait_until_idle(page)
    expect(page.locator(ERROR_TOAST).first).to_be_visible(timeout=10_000)
    assert any("minimum" in m or "Seed" in m for m in error_messages(page)), error_messages(page)
