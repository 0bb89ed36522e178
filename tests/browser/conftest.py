"""Every test under tests/browser/ runs the app in headless Chromium: each gets the `browser` marker here, so that
`pytest -m "not browser"` leaves them all out, including tests added later without the mark."""

from __future__ import annotations

from pathlib import Path

import pytest

BROWSER_TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if BROWSER_TESTS in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.browser)
