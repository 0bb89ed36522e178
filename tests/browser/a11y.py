"""axe-core in the page: the accessibility findings of what a tab shows (issue 19).

axe-core's script comes from the `axe-playwright-python` package (requirements.txt), which bundles it; it is
injected into the page and run there with the WCAG 2 A and AA rules. No browser or file is downloaded.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
"""The rule sets run: WCAG 2.0 and 2.1, levels A and AA."""


@lru_cache(maxsize=1)
def axe_source() -> str:
    """axe.min.js as bundled by axe-playwright-python."""
    import axe_playwright_python

    return (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text(encoding="utf-8")


def axe_results(page: Any, context: str | dict | None = None, tags: Iterable[str] = WCAG_TAGS) -> dict:
    """axe's raw results (`violations`, `incomplete`, ...) for `context` (a CSS selector, axe's include/exclude
    object, or None for the whole page)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=axe_source())
    options = {"runOnly": {"type": "tag", "values": list(tags)}, "resultTypes": ["violations"]}
    return page.evaluate("([context, options]) => axe.run(context || document, options)", [context, options])


def axe_violations(page: Any, impacts: Iterable[str] = ("serious", "critical"), context: str | dict | None = None
                   ) -> list[dict]:
    """The violations of at least one of `impacts`, one entry per rule and element:
    ``{"rule", "impact", "help", "target", "html", "summary"}`` (target: axe's CSS selector of the element)."""
    wanted = set(impacts)
    found = []
    for violation in axe_results(page, context)["violations"]:
        for node in violation["nodes"]:
            impact = node.get("impact") or violation.get("impact")
            if impact in wanted:
                found.append({"rule": violation["id"], "impact": impact, "help": violation["help"],
                              "target": " ".join(str(t) for t in node["target"]), "html": node["html"][:200],
                              "summary": (node.get("failureSummary") or "")[:300]})
    return found


def describe(violations: list[dict]) -> str:
    """One line per finding, for assertion messages."""
    return "\n".join(f"[{v['impact']}] {v['rule']}: {v['target']} {v['html'][:120]}" for v in violations)


def top_level_tabs(page: Any) -> list[str]:
    """The names of the lab's tabs (the page's first tab list), in order."""
    tablist = page.get_by_role("tablist").first
    return [name.strip() for name in tablist.get_by_role("tab").all_inner_texts()]


def select_tab(page: Any, name: str) -> None:
    """Click the visible tab called `name` (a tab or a sub-tab) and wait until it is selected and quiet."""
    candidates = page.get_by_role("tab", name=name, exact=True)
    tab = next((candidates.nth(i) for i in range(candidates.count()) if candidates.nth(i).is_visible()),
               candidates.first)
    tab.click()
    handle = tab.element_handle()
    page.wait_for_function("(el) => el.getAttribute('aria-selected') === 'true'", arg=handle, timeout=30_000)
    wait_until_quiet(page)


def sub_tabs(page: Any) -> list[str]:
    """The names of the sub-tabs shown inside the selected tab (every visible tab list after the first)."""
    names: list[str] = []
    for tablist in page.get_by_role("tablist").all()[1:]:
        if tablist.is_visible():
            names += [n.strip() for n in tablist.get_by_role("tab").all_inner_texts() if n.strip() not in names]
    return names


def wait_until_quiet(page: Any, timeout_ms: int = 120_000) -> None:
    """No Gradio event is running (its pictures are in place)."""
    page.wait_for_timeout(300)
    page.wait_for_function("() => document.querySelectorAll('.pending, .generating, .eta-bar').length === 0",
                           timeout=timeout_ms)
