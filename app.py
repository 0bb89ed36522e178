"""Assemble every tab of the computer-vision lab into one Gradio app and launch it."""

from __future__ import annotations

import os

# Before torch/albumentations load: idle OpenMP threads sleep instead of spinning on the shared cores,
# and albumentations never checks PyPI for a newer version (no network in class, no 2 s stall).
# OMP_NUM_THREADS is each thread's default, so it also covers Gradio's worker threads (torch.set_num_threads
# only changes the calling thread's setting).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", os.environ.get("LAB_TORCH_THREADS", "1"))
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import ctypes
import importlib
import inspect
import socket
import sys

import gradio as gr
import torch

from demos import TAB_MODULES
from demos import router
from demos.common import atomic_image_cache, guard_numeric_inputs
from demos.view import script as view_script

CSS = """
.gradio-container {max-width: 1366px !important}
.formula {font-size: 1.05em}
/* WCAG AA contrast (issue 19) for what the theme's colours do not reach: code and JSON token colours (Gradio's
   light highlighting uses pale Nord colours, 2.0-4.0:1 on white) take the text colour; JSON keys and values stay
   apart by weight. */
.cm-editor .cm-content span {color: var(--body-text-color) !important}
.json-node .key {color: var(--body-text-color) !important; font-weight: 600}
.json-node .value {color: var(--body-text-color) !important}
/* the selected (sub-)tab's name: indigo 700 (Gradio: the accent, indigo 500, 4.46:1 on white) */
button[role="tab"][aria-selected="true"] {color: var(--primary-700) !important}
/* all ten tabs fit one row at 1366 px: no "More tabs" menu on a projector */
.tab-container button[role="tab"] {padding: 0 8px !important; font-size: 14px !important; min-width: 0 !important;
  flex: none !important; width: auto !important}
"""

STATUS_PRUNE_JS = r"""
<script>
/* Issue 19: a click's status updates cost the browser time in proportion to every component that ever took part
   in an event. Gradio 6.31's page keeps a loading status per component (`LoadingStatus.current`) and, on each
   status message of any event (pending, queued, started, completed), pushes every entry to its component
   (`update_loading_stati_state`), which clones each component's props. The lab's page load alone touches almost
   every component, so each click re-pushed hundreds of finished statuses: 2.7 s instead of 0.4 s for the same NMS
   step in a page of one tab (docs/performance.md). Here, before each status message is applied, the entries of
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


MAX_FILE_SIZE = "20mb"
"""Uploads above this are refused by Gradio before they reach a tab."""

MAX_THREADS = 8
"""Handlers running at once, across all events (Gradio's default is 40). Two cores gain nothing from more: extra
requests wait in the queue instead of each holding its working memory (images, activations) at the same time.
(4 was tried for issue 19: with fewer workers the queue stayed full longer and Gradio's scheduler polled it
longer, see `QUEUE_POLL_S`: 114 of 120 requests failed instead of 20.)"""

QUEUE_POLL_S = 0.01
"""How often Gradio's queue looks for an event to start while it cannot start one (Gradio 6.31 on Linux: every
1 ms, `Queue.sleep_when_free`). Under a class every worker is busy, and the 1 ms poll, with its scan of every
event's queue, ran 1000 times a second on the event loop that also answers the HTTP requests: gradio_client's
queue joins waited past their 5 s timeout (issue 19, `python -m benchmarks.load --mix scene-detect`). Every 10 ms
costs an event at most 10 ms before it starts."""


def configure_torch() -> None:
    """One intra-op thread per request by default: a class shares 2 cores, and parallelism comes from serving
    several requests at once (the queue's concurrency), not from each small op waiting on a thread pool.
    `LAB_TORCH_THREADS=2` suits a teacher alone on the machine."""
    torch.set_num_threads(int(os.environ.get("LAB_TORCH_THREADS", "1")))


MALLOC_ARENAS = 2
"""glibc malloc arenas for the whole server (see `configure_memory`)."""


def configure_memory() -> bool:
    """Cap glibc's malloc arenas at `MALLOC_ARENAS` (as `MALLOC_ARENA_MAX=2` would, which glibc only reads before
    Python starts). Without a cap glibc gives each busy worker thread an arena of its own, and what one thread frees
    is not reused by the others: a class of 40 grew the server's memory by 37-40% instead of 17%
    (`python -m benchmarks.load`). Returns whether the cap was set (False off glibc, or when the variable is set)."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False  # glibc has already read the teacher's own setting
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False  # macOS, Windows, musl: other allocators, nothing to cap
    m_arena_max = -8  # from glibc's malloc.h
    return bool(libc.mallopt(m_arena_max, MALLOC_ARENAS))


GIL_SWITCH_INTERVAL_S = 0.001
"""How long a busy Python thread keeps the interpreter lock before one that waits may take it (Python: 5 ms).
See `configure_scheduling`."""


def configure_scheduling() -> None:
    """Let the server's event loop answer promptly while handlers compute (issue 19).

    Every HTTP request (the queue join, uploads, picture downloads, the SSE streams) is served by one asyncio thread
    that needs the interpreter lock between the handler threads' work. With 8 handlers busy, a class of 40 made
    the loop wait seconds for its turn: gradio_client's joins gave up after its 5 s timeout (34 and 38 of 120
    requests, `python -m benchmarks.load --mix scene-detect`). A shorter switch interval hands the lock over
    sooner; the handlers' numpy/torch work runs without the lock and is not slowed."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)


def tab_modules() -> list[str]:
    """The tab modules to show, in order. `LAB_TABS=demos.nms,demos.anchors` restricts them (development)."""
    only = [m.strip() for m in os.environ.get("LAB_TABS", "").split(",") if m.strip()]
    unknown = sorted(set(only) - set(TAB_MODULES))
    if unknown:
        raise ValueError(f"LAB_TABS names unknown tab modules {unknown}; known: {list(TAB_MODULES)}")
    return [m for m in TAB_MODULES if not only or m in only]


def tab_id(module_name: str) -> str:
    """The id of a module's tab: `demos.nms` -> `"nms"` (its `View.TAB` and the links' ``tab=``)."""
    return module_name.split(".")[-1]


def build_app() -> gr.Blocks:
    """One `gr.Blocks` with a tab per module listed in `demos.TAB_MODULES`, wired by `demos.router`."""
    atomic_image_cache()
    with gr.Blocks(title="Computer-vision lab", delete_cache=(3600, 3600)) as demo:
        gr.Markdown(
            "# Computer-vision lab\nInteractive companion to *Dive into Deep Learning*'s computer-vision and GAN "
            "chapters: every picture is computed live, every number is returned by a named API endpoint."
        )
        notice = gr.Markdown(visible=False, elem_id="lab-notice")
        built: dict[str, tuple[gr.Tab, router.TabUI]] = {}
        with gr.Tabs() as tabs:
            for module_name in tab_modules():
                module = importlib.import_module(module_name)
                with gr.Tab(module.TITLE, id=tab_id(module_name)) as tab:
                    router.link_bar(tab_id(module_name))
                    # A tab that sends data to another one (detection -> NMS) takes the `gr.Tabs` to switch to it.
                    if "tabs" in inspect.signature(module.build).parameters:
                        ui = module.build(tabs=tabs)
                    else:
                        ui = module.build()
                if isinstance(ui, router.TabUI):
                    built[tab_id(module_name)] = (tab, ui)
        router.connect(demo, tabs, notice, built)
    guard_numeric_inputs(demo)
    demo.queue(default_concurrency_limit=4, max_size=64)
    demo._queue.sleep_when_free = QUEUE_POLL_S  # Gradio's private poll interval: see QUEUE_POLL_S
    return demo


def launch_options() -> dict:
    """Settings shared by `main` and the in-process test server.

    show_error=False: only our own `gr.Error` messages reach the browser, never a traceback.
    max_threads: see `MAX_THREADS`.
    """
    head = view_script([tab_id(m) for m in tab_modules()], os.environ.get("SPACE_ID")) + STATUS_PRUNE_JS + A11Y_JS
    return dict(max_file_size=MAX_FILE_SIZE, max_threads=MAX_THREADS, css=CSS, theme=theme(),
                show_error=False, head=head)


def launch_in_background(port: int | None = None) -> tuple[gr.Blocks, str]:
    """Build the app and serve it on 127.0.0.1 from this process without blocking: (app, URL ending in "/").

    For the tests, the screenshots and the benchmarks; `port` None takes a free one. Stop it with the returned
    Blocks' `close()`.
    """
    if port is None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
    configure_torch()
    configure_scheduling()
    demo = build_app()
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                            **launch_options())
    return demo, url.rstrip("/") + "/"


def main() -> None:
    configure_memory()
    configure_torch()
    configure_scheduling()
    demo = build_app()
    demo.launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        **launch_options(),
    )


if __name__ == "__main__":
    main()
