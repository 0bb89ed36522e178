"""The page as a whole, beyond Gradio's defaults: scripts for the page's <head> and the theme (issue 19).

`app.launch_options` puts `STATUS_PRUNE_JS` and `A11Y_JS` in the head and uses `theme()`. Measurements:
docs/performance.md (python -m benchmarks.click_factors) and docs/accessibility.md (tests/browser/a11y.py).
"""

from __future__ import annotations

import gradio as gr

STATUS_PRUNE_JS = r"""
<script>
/* Issue 19: a click's status updates cost the browser time in proportion to every component that ever took part
   in an event. Gradio 6.31's page keeps a loading status per component (`LoadingStatus.current`) and, on each
   status message of any event (pending, queued, started, completed), pushes every entry to its component
   (`update_loading_stati_state`), which clones each component's props. The lab's page load alone touches almost
   every component, so each click re-pushed hundreds of finished statuses: 6.4 s instead of 0.37 s for the same NMS
   step (docs/performance.md). Here, before each status message is applied, the entries of
   *other* events that have already completed are dropped: their components keep the last status they were shown
   (complete), and the next event that touches them adds them back. Gradio's own class is found by its methods in
   the chunk the page loaded; if it is not there (another Gradio version), nothing changes. */
(() => {
  const find = async () => {
    for (let attempt = 0; attempt < 1200; attempt++) {
      const chunk = performance.getEntriesByType("resource").find((e) => /\/statustracker-[^/]*\.js$/.test(e.name));
      if (chunk) {
        const module = await import(chunk.name);  // the same URL: the same module instance as the page's
        return Object.values(module).find((value) => typeof value === "function" && value.prototype &&
          ["update", "resolve_args", "remap_ids"].every((name) => typeof value.prototype[name] === "function"));
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    return undefined;
  };
  find().then((LoadingStatus) => {
    if (!LoadingStatus || LoadingStatus.prototype.__labPruned) return;
    const update = LoadingStatus.prototype.update;
    LoadingStatus.prototype.update = function (status) {
      for (const [id, entry] of Object.entries(this.current)) {
        const finished = entry.status === undefined || entry.status === null || entry.status === "complete";
        if (finished && entry.fn_index !== status.fn_index && !entry.used_cache) delete this.current[id];
      }
      return update.call(this, status);
    };
    LoadingStatus.prototype.__labPruned = true;
    window.labStatusPruned = true;
  }).catch(() => {});
})();
</script>
"""
"""Put in the page's <head> by `launch_options` (see the comment inside)."""

A11Y_JS = r"""
<script>
/* Issue 19: what axe-core (WCAG 2 A/AA) finds in Gradio 6.31's own components, fixed for every tab at once
   (tests/browser/test_accessibility_browser.py). Run after each render, at most every 400 ms:
   - an output picture is a <button> around an <img> without text: it gets the picture's label as its name
     ("Picture: <label>", or "Picture" when the tab gave none), so a screen reader says what it is;
   - a Dataframe's static-column wrapper carries aria-label without a role: it gets role="group";
   - a scrollable box with nothing focusable inside (a long Markdown, read-only code) gets tabindex="0", so
     that keyboard users can scroll it. */
(() => {
  const nameOf = (button) => {
    const block = button.closest(".block");
    const label = block && block.querySelector("[data-testid='block-label']");
    const text = label ? label.textContent.trim() : "";
    const alt = (button.querySelector("img") || {}).alt || "";
    return "Picture" + (text || alt ? ": " + (text || alt) : "");
  };
  const focusable = "a[href], button, input, select, textarea, [tabindex]:not([tabindex='-1']), [contenteditable='true']";
  const scrolls = (el) => {
    const style = getComputedStyle(el);
    return /(auto|scroll)/.test(style.overflowY + style.overflowX) &&
      (el.scrollHeight > el.clientHeight + 1 || el.scrollWidth > el.clientWidth + 1);
  };
  const fix = () => {
    document.querySelectorAll(".image-container > button:not([aria-label])").forEach((button) => {
      if (!button.textContent.trim()) button.setAttribute("aria-label", nameOf(button));
    });
    document.querySelectorAll("div.wrapper[aria-label]:not([role])").forEach((el) => el.setAttribute("role", "group"));
    document.querySelectorAll(".gradio-container .block, .gradio-container .cm-scroller, .gradio-container .prose")
      .forEach((el) => {
        if (el.getAttribute("tabindex") === "0" || el.offsetParent === null || !scrolls(el)) return;
        // CodeMirror's scroller says tabindex="-1" even around an editable text (axe: not reachable)
        if (el.classList.contains("cm-scroller") || !el.querySelector(focusable)) el.setAttribute("tabindex", "0");
      });
  };
  let timer = null;
  const soon = () => { if (timer === null) timer = setTimeout(() => { timer = null; fix(); }, 400); };
  const start = () => { new MutationObserver(soon).observe(document.body, {childList: true, subtree: true}); soon(); };
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
})();
</script>
"""
"""Put in the page's <head> by `launch_options` (see the comment inside)."""


def theme() -> gr.themes.Base:
    """Gradio's Soft theme with text colours that pass WCAG AA (4.5:1; axe-core, issue 19): its labels and primary
    buttons use indigo 500 (3.6:1 on the labels' pale indigo, 4.5:1 under white text), and its secondary text
    grey 400 (2.5:1 on white). Here they are indigo 700 and 600, and grey 600."""
    return gr.themes.Soft().set(
        block_label_text_color="*primary_700", block_title_text_color="*primary_700",
        body_text_color_subdued="*neutral_600", block_info_text_color="*neutral_600",
        button_primary_background_fill="*primary_600", button_primary_background_fill_hover="*primary_700",
        button_primary_text_color="white", checkbox_label_background_fill_selected="*primary_600",
    )
