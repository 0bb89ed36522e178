"""Playwright helpers shared by the per-tab browser tests."""

from __future__ import annotations

from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

ERROR_SELECTOR = ".toast-body.error, [data-testid='toast-body'].error, .error-message"


def open_tab(page: Page, title: str) -> None:
    """Click the tab (or sub-tab) whose label is `title` and wait until it is shown.

    On a narrow screen Gradio moves the tabs that do not fit into a "More tabs" menu (buttons without the tab
    role): then the menu holding `title` is opened and its entry clicked.
    """
    tab = page.get_by_role("tab", name=title, exact=True)
    visible = [candidate for candidate in tab.all() if candidate.is_visible()]
    if not visible:
        menu = page.locator(".overflow-menu").filter(
            has=page.locator(".overflow-dropdown button").get_by_text(title, exact=True))
        menu.locator("button[aria-label='More tabs']").first.click()
        menu.locator(".overflow-dropdown button").get_by_text(title, exact=True).first.click()
        tab = page.get_by_role("tab", name=title, exact=True)
        visible = [candidate for candidate in tab.all() if candidate.is_visible()] or [tab.first]
    visible[0].click()
    expect(visible[0]).to_have_attribute("aria-selected", "true", timeout=10_000)
    wait_until_drawn(page)


def wait_until_drawn(page: Page, timeout_ms: int = 180_000) -> None:
    """Wait until the router has drawn the first pictures of the tab the address bar names (a tab's pictures are
    computed when it is first opened; `demos.view` lists the drawn tabs in <body data-lab-drawn>)."""
    page.wait_for_function("""() => {
        const tab = new URLSearchParams(location.search).get("tab");
        return !tab || !window.labView || (document.body.dataset.labDrawn || "").split(" ").includes(tab);
    }""", timeout=timeout_ms)


def wait_until_idle(page: Page, timeout_ms: int = 60_000) -> None:
    """Wait until no Gradio component shows a pending/generating state."""
    page.wait_for_timeout(300)
    page.wait_for_function(
        "() => document.querySelectorAll('.pending, .generating, .eta-bar').length === 0",
        timeout=timeout_ms,
    )


def wait_until_ready(page: Page, timeout_ms: int = 90_000) -> None:
    """Wait until the page load has restored the address's view (demos.view marks the body) and nothing is pending."""
    page.wait_for_function("() => document.body.dataset.labView === 'ready'", timeout=timeout_ms)
    wait_until_idle(page, timeout_ms)


def open_link(browser: Browser, url: str) -> tuple[Page, BrowserContext]:
    """`url` in a fresh context at 1366x768 (nothing shared with other tests), once the page load has restored the
    view its address names. The caller closes the context."""
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.goto(url, wait_until="domcontentloaded")
    wait_until_ready(page)
    return page, context


def click_and_wait(page: Page, button_text: str, timeout_ms: int = 60_000) -> None:
    page.get_by_role("button", name=button_text).first.click()
    wait_until_idle(page, timeout_ms)


def error_messages(page: Page) -> list[str]:
    """Texts of the error toasts Gradio shows (empty when everything went well)."""
    return [e.inner_text() for e in page.locator(ERROR_SELECTOR).all() if e.is_visible()]


def assert_no_error(page: Page) -> None:
    errors = error_messages(page)
    assert not errors, f"the page shows errors: {errors}"


def edit_cell(cell: Locator, text: str) -> None:
    """Replace the text of a Gradio Dataframe cell and commit it (the table's `input` event fires).

    Double-click opens the cell's editor; typing must wait until the editor has the focus, and `fill` replaces
    its text (Ctrl+A then typing races the editor's own selection and sometimes appends instead).
    """
    cell.dblclick()
    # the focused editor, found on the page: a locator filtered by the cell's old text no longer matches it
    editor = cell.page.locator("textarea[aria-label='Edit cell']:focus")
    expect(editor).to_have_count(1, timeout=10_000)
    editor.fill(text)
    editor.press("Enter")
