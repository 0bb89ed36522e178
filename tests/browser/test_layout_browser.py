"""Every tab, as a teacher projects it (1366x768) and as a student's phone shows it (390x844): no clipped table,
no cut or squeezed text, no word broken over lines, no icon over a caption, no page scrolling sideways, and no
formula KaTeX could not render. The rules, and why a table may scroll inside its own box on a phone only, are in
tests/browser/layout.py.

Each test opens one tab at one size, checks its default view, then every sub-tab, then the views a defect was
first seen after (NMS: random clutter; Anchors & IoU: an uploaded photo).

Run alone with `pytest tests/browser/test_layout_browser.py` (or `-k nms` for one tab).
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from demos import TAB_MODULES
from tests.browser.layout import DESKTOP, PHONE, katex_errors, layout_problems
from tests.browser.ui import open_tab, wait_until_idle

SUBTABS: dict[str, list[str]] = {
    "demos.lecture": [],
    "demos.augmentation": ["YAML", "Python", "Drawn parameters (JSON)"],
    "demos.anchors": ["Anchors", "Multiscale", "IoU", "Labeling", "Boxes"],
    "demos.nms": [],
    "demos.transposed_conv": ["② zero-insertion + convolution", "③ matrix  Wᵀ", "overlap count (checkerboard)"],
    "demos.dataset": ["masks"],
    "demos.detection": ["SSD insides", "Faster R-CNN insides", "RoI pooling vs RoIAlign", "R-CNN family"],
    "demos.segmentation": ["coarse scores → upsampled", "upsampling explained", "learned upsampling"],
    "demos.gan_lab": ["WGAN Figure 1: EM vs JS"],
    "demos.generative": ["Interpolation", "CGAN", "CycleGAN", "ProGAN"],
    "demos.finetune": ["Augmentation's effect"],
}
"""The sub-tabs of each tab (the first is open by default and checked as the tab's default view); every listed tab
module has an entry (a test checks it)."""


def _nms_clutter(page: Page, tmp_path) -> str:
    page.locator("#nms-clutter").click()
    wait_until_idle(page)
    expect(page.locator("#nms-caption")).to_contain_text("candidates", timeout=30_000)
    return "random clutter"


def _anchors_upload(page: Page, tmp_path) -> str:
    photo = tmp_path / "photo.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (1000, 1400, 3), dtype=np.uint8)).save(photo)  # downscaled to 800 px
    open_tab(page, "Boxes")
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Upload your own image").click()
    chooser.value.set_files(str(photo))
    wait_until_idle(page)
    # the cat's boxes and name leave with the cat; the downscale notice comes once
    expect(page.locator("#anchors-corner")).not_to_contain_text("left eye", timeout=30_000)
    expect(page.locator(".anchors-source input").first).to_have_value("your upload")
    page.wait_for_timeout(1500)  # time for a second notice to arrive
    expect(page.locator(".toast-body").filter(has_text="Downscaled from 1400x1000")).to_have_count(1)
    return "an uploaded photo"


ACTIONS = {"demos.nms": _nms_clutter, "demos.anchors": _anchors_upload}
"""Views where a defect appeared only after an action: the action, returning what it shows."""


@pytest.fixture(params=[DESKTOP, PHONE], ids=["1366x768", "390x844"])
def sized_page(request, browser, app_url: str):
    context = browser.new_context(viewport=request.param)
    page = context.new_page()
    page.goto(app_url, wait_until="domcontentloaded")
    page.wait_for_selector("button[role=tab]", timeout=60_000)
    wait_until_idle(page, 120_000)
    yield page, request.param is PHONE
    context.close()


def _check(page: Page, phone: bool, where: str, found: dict[str, list[str]]) -> None:
    wait_until_idle(page, 120_000)
    page.wait_for_timeout(300)  # Gradio sizes tables and galleries after the data arrives
    problems = [p for p in layout_problems(page, phone=phone) if not p.startswith("KaTeX")]
    if problems:
        found[where] = problems


@pytest.mark.browser
@pytest.mark.parametrize("module_name", TAB_MODULES)
def test_every_view_of_the_tab_is_readable(sized_page, module_name: str, tmp_path):
    page, phone = sized_page
    title = importlib.import_module(module_name).TITLE
    found: dict[str, list[str]] = {}
    open_tab(page, title)
    _check(page, phone, "default view", found)
    for subtab in SUBTABS[module_name]:
        open_tab(page, subtab)
        _check(page, phone, subtab, found)
    if module_name in ACTIONS:
        _check(page, phone, ACTIONS[module_name](page, tmp_path), found)
    report = "\n".join(f"{where}:\n  " + "\n  ".join(problems) for where, problems in found.items())
    assert not found, f"{title} at {'390x844' if phone else '1366x768'}:\n{report}"


@pytest.mark.browser
def test_every_formula_renders(page: Page):
    """KaTeX renders every formula of every tab and sub-tab: no `.katex-error` (a formula it could not parse is
    shown as red source text), and formulas were rendered at all."""
    rendered = 0
    for module_name in TAB_MODULES:
        open_tab(page, importlib.import_module(module_name).TITLE)
        wait_until_idle(page, 120_000)
        for subtab in SUBTABS[module_name]:
            open_tab(page, subtab)
            wait_until_idle(page, 120_000)
        assert not katex_errors(page), f"{module_name}: {katex_errors(page)}"
        rendered = max(rendered, page.locator(".katex").count())
    assert rendered > 50


def test_every_tab_module_has_its_sub_tabs_listed():
    assert set(SUBTABS) == set(TAB_MODULES)
