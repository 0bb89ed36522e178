"""Every view is a link, in Chromium: the address bar follows the controls, a link opened in a fresh browser shows
the same pictures and numbers, bad links give a notice (never an error page), Copy link, projector mode.

`LINKS` holds, per tab, a link to a view that differs from the defaults and a control change to make there;
every tab the app routes must have an entry (a new tab without one fails `test_every_routed_tab_is_covered`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable
from urllib.parse import parse_qsl

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.ui import assert_no_error, open_link, wait_until_ready
from tests.conftest import CHROMIUM_FLAGS  # noqa: F401  (the browser fixture uses them)


def _set_number(elem_id: str, value: str) -> Callable[[Page], None]:
    """Type into a Number (or a Slider's number box) and press Enter."""
    def act(page: Page) -> None:
        box = page.locator(f"#{elem_id} input[type=number]").first
        box.fill(value)
        box.press("Enter")
    return act


@dataclass(frozen=True)
class LinkCase:
    query: str  # a non-default view of the tab (without tab=)
    change: Callable[[Page], None]  # a control change made on that view
    changed_key: str  # the key the change must write into the address bar
    changed_value: str


LINKS: dict[str, LinkCase] = {
    "transposed_conv": LinkCase("stride=2&padding=1&step=4&part=matrix", _set_number("tc-step", "2"), "step", "2"),
    "segmentation": LinkCase("opacity=0.8&part=coarse", _set_number("seg-seed", "2000011"), "seed", "2000011"),
    "augmentation": LinkCase("preset=vflip&n=4&seed=3", _set_number("augmentation-seed", "5"), "seed", "5"),
    "dataset": LinkCase("split=test&seed=3&count=4&part=masks", _set_number("dataset-seed", "5"), "seed", "5"),
    "anchors": LinkCase("image=book&sizes=0.5,0.25&x=300&y=200&part=anchors", _set_number("anchors-center-x", "100"),
                        "x", "100"),
    "gan_lab": LinkCase("theta=-0.3&wgan_steps=60&part=wgan", _set_number("wgan-seed", "2"), "wgan_seed", "2"),
    "generative": LinkCase("pg_seed=9&stage=2&alpha=0.25&part=progan", _set_number("gen-progan-seed", "11"),
                           "pg_seed", "11"),
    "nms": LinkCase("source=clutter&seed=3&iou=0.4&class_aware=1&step=2", _set_number("nms-step", "1"), "step", "1"),
    "detection": LinkCase("seed=2000007&score=0.5&part=ssd", _set_number("detection-seed", "2000003"), "seed",
                          "2000003"),
    "finetune": LinkCase("augmentation=none&aug_seed=2&part=generalization", _set_number("generalization-seed", "3"),
                         "aug_seed", "3"),
}


def _search(page: Page) -> dict[str, str]:
    return dict(parse_qsl(page.evaluate("location.search").lstrip("?"), keep_blank_values=True))


def _shown(page: Page, tab: str) -> dict[str, list[str]]:
    """What the student sees in the selected tab: the pictures (their cache addresses name their bytes' hash), the
    JSON and table texts, and the values of the number inputs."""
    panel = page.locator("[role=tabpanel]:visible").first
    page.wait_for_function("() => [...document.querySelectorAll('[role=tabpanel] img')]"
                           ".filter(i => i.offsetParent !== null).every(i => i.complete && i.naturalWidth > 0)")
    return {
        "images": sorted(panel.locator("img:visible").evaluate_all("els => els.map(e => e.getAttribute('src'))")),
        "numbers": panel.locator("input[type=number]").evaluate_all("els => els.map(e => e.value)"),
        "texts": panel.locator(".json-holder, table").evaluate_all("els => els.map(e => e.innerText)"),
    }


def _routed_tabs(page: Page) -> list[str]:
    return page.evaluate("() => [...document.querySelectorAll('[id$=\"-copy-link\"]')]"
                         ".map(e => e.id.replace(/-copy-link$/, ''))")


def test_every_routed_tab_is_covered(page: Page):
    assert set(_routed_tabs(page)) <= set(LINKS) | {"lecture"}, "give every routed tab a LinkCase"


@pytest.mark.parametrize("tab", sorted(LINKS))
def test_a_link_opens_the_same_view_in_a_fresh_browser_and_follows_the_controls(browser: Browser, app_url: str,
                                                                                 tab: str):
    case = LINKS[tab]
    page, context = open_link(browser, f"{app_url}?tab={tab}&{case.query}")
    try:
        expected = dict(parse_qsl(case.query))
        assert _search(page) == {"tab": tab, **expected}
        selected = page.locator("button[role=tab][aria-selected=true]").all_inner_texts()
        assert len(selected) >= 1 + ("part" in expected)
        assert_no_error(page)
        first = _shown(page, tab)
        assert first["images"], "the view shows pictures"

        again, other = open_link(browser, f"{app_url}?tab={tab}&{case.query}")
        try:
            assert _shown(again, tab) == first
        finally:
            other.close()

        case.change(page)
        page.wait_for_function(f"() => new URLSearchParams(location.search).get({case.changed_key!r}) === "
                               f"{case.changed_value!r}", timeout=15_000)
        assert _search(page)["tab"] == tab
    finally:
        context.close()


def test_a_bad_link_opens_the_lab_with_a_notice_naming_what_was_wrong(browser: Browser, app_url: str):
    page, context = open_link(browser, f"{app_url}?tab=nosuch")
    try:
        expect(page.locator("#lab-notice")).to_contain_text("nosuch")
        assert_no_error(page)
    finally:
        context.close()
    page, context = open_link(browser, f"{app_url}?tab=transposed_conv&stride=9&bogus=1")
    try:
        notice = page.locator("#lab-notice")
        expect(notice).to_contain_text("stride")
        expect(notice).to_contain_text("bogus")
        expect(page.locator("#tc-formula")).to_contain_text("rows")
        assert page.get_by_role("tab", name="Transposed conv", exact=True).get_attribute("aria-selected") == "true"
    finally:
        context.close()


def test_copy_link_puts_the_address_on_the_clipboard(browser: Browser, app_url: str):
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    try:
        page.goto(f"{app_url}?tab=transposed_conv&stride=3", wait_until="domcontentloaded")
        wait_until_ready(page)
        page.locator("#transposed_conv-copy-link").click()
        expect(page.locator("#transposed_conv-link-status")).to_contain_text("Link copied")
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied == page.evaluate("location.href") and "stride=3" in copied
    finally:
        context.close()


def test_projector_mode_from_the_link_and_the_toggle(browser: Browser, app_url: str):
    page, context = open_link(browser, f"{app_url}?tab=transposed_conv&projector=1")
    try:
        page.wait_for_function("() => document.body.classList.contains('lab-projector')", timeout=15_000)
        size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.prose p')).fontSize)")
        assert size >= 20
        page.locator("#lab-projector input").uncheck()
        page.wait_for_function("() => !document.body.classList.contains('lab-projector')")
        assert "projector" not in _search(page)
    finally:
        context.close()


def test_the_page_scripts_found_what_they_patch(page: Page):
    """demos.page.STATUS_PRUNE_JS patches a class of Gradio's page script, found by its methods: a Gradio that
    renamed it would bring back the 6-second clicks of docs/performance.md silently. This fails instead."""
    wait_until_ready(page)
    page.wait_for_function("() => window.labStatusPruned === true", timeout=30_000)
