"""The Generative models tab in Chromium at 1366x768: defaults on load, sampling, every sub-tab, a bad seed.

Run alone with `LAB_TABS=demos.generative pytest tests/browser/test_generative_browser.py`.
"""

from __future__ import annotations

import os

from playwright.sync_api import Page, expect

from tests.browser.ui import assert_no_error, error_messages, open_link, open_tab, wait_until_idle

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


def test_a_link_opens_its_sub_tab_with_the_apis_numbers_and_next_seed_is_one_click(browser, app_url, client):
    """?tab=generative&part=cgan&... selects CGAN with the link's digit and seed and shows what /gan_sample
    gives for them; in the latent explorer "Next seed" adds 1 in the browser and the address follows."""
    page, context = open_link(browser, f"{app_url}?tab=generative&part=cgan&digit=8&cgan_seed=3&cgan_n=4")
    try:
        assert page.get_by_role("tab", name="CGAN", exact=True).get_attribute("aria-selected") == "true"
        assert page.locator("#gen-digit input[value='8']").is_checked()
        expect(page.locator("#gen-cgan-seed input")).to_have_value("3")
        _, data = client.predict("cgan", 3, 4, 8, api_name="/gan_sample")
        reads = " ".join(str(d) for d in data["read_as"])
        expect(page.locator("#gen-cgan-note")).to_contain_text(f"reads them as: {reads}")
        expect(page.locator("#gen-cgan-note")).to_contain_text(f"{data['share_read_as_label']:.0%} read as the "
                                                               "requested 8")
        expect(page.locator("#gen-cgan-grid img")).to_have_count(4)

        open_subtab(page, "Latent explorer (DCGAN)")
        assert "part" not in page.evaluate("location.search")  # the first sub-tab is the link's default
        joins: list[str] = []
        page.on("request", lambda request: joins.append(request.url) if "/queue/join" in request.url else None)
        page.locator("#gen-next-seed").click()
        expect(page.locator("#gen-seed input")).to_have_value("8", timeout=30_000)
        page.wait_for_function("() => new URLSearchParams(location.search).get('seed') === '8'", timeout=15_000)
        wait_until_idle(page)
        assert len(joins) == 1, joins  # one event: the new seed was computed in the browser
        _, data = client.predict(8, 16, 1.0, api_name="/generative_latent_grid")
        reads = " ".join(str(d) for d in data["read_as"])
        expect(page.locator("#gen-read-note")).to_contain_text(f"reads them as: {reads}")
        assert_no_error(page)
    finally:
        context.close()
