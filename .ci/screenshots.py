"""Capture a 1366-wide screenshot of every tab from the running app, for the README.

    python .ci/screenshots.py            # writes docs/screenshots/<tab id>.png

Uses Debian's Chromium (/usr/bin/chromium) through Playwright, like the browser tests.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import app  # noqa: E402
from tests.browser.ui import open_tab, wait_until_idle  # noqa: E402
from tests.conftest import CHROMIUM, CHROMIUM_FLAGS  # noqa: E402


def main() -> None:
    from playwright.sync_api import sync_playwright

    out = ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    demo, url = app.launch_in_background()
    import importlib

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector("button[role=tab]", timeout=120_000)
        for module_name in app.tab_modules():
            title = importlib.import_module(module_name).TITLE
            open_tab(page, title)
            wait_until_idle(page, 120_000)
            page.wait_for_timeout(1500)
            path = out / f"{app.tab_id(module_name)}.png"
            page.screenshot(path=str(path), full_page=False)
            print("wrote", path.relative_to(ROOT))
        browser.close()
    demo.close()


if __name__ == "__main__":
    main()
