"""Assemble every tab of the computer-vision lab into one Gradio app and launch it."""

from __future__ import annotations

import os

# Before torch/albumentations load: idle OpenMP threads sleep instead of spinning on the shared cores,
# and albumentations never checks PyPI for a newer version (no network in class, no 2 s stall).
# OMP_NUM_THREADS is each thread's default, so it also covers Gradio's worker threads (torch.set_num_threads
# only changes the calling thread's setting).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", os.environ.get("LAB_TORCH_THREADS", "1"))  # core.threads' variable
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import ctypes
import importlib
import inspect
import socket
import sys
from typing import Sequence

import gradio as gr
import torch

from core.threads import request_threads

from demos import TAB_MODULES
from demos import router
from demos import page
from demos.common import atomic_image_cache, guard_numeric_inputs
from demos.view import script as view_script

CSS = """
.gradio-container {max-width: 1366px !important}
.formula {font-size: 1.05em}
/* projector mode (?projector=1): larger type and pictures for a room, the controls' fine print folded away */
body.lab-projector .gradio-container {font-size: 20px !important}
body.lab-projector .gradio-container .prose, body.lab-projector .gradio-container .prose p,
body.lab-projector .gradio-container .prose li {font-size: 20px !important; line-height: 1.5 !important}
body.lab-projector .gradio-container label span, body.lab-projector .gradio-container button {font-size: 18px !important}
body.lab-projector .gradio-container .prose h3 {font-size: 28px !important}
body.lab-projector .lab-link-bar {display: none !important}
.lab-link-status, .lab-link-note {font-size: 0.9em; margin-left: 0.75em}
/* WCAG AA contrast (issue 19) for what the theme's colours do not reach: code and JSON token colours (Gradio's
   light highlighting uses pale Nord colours, 2.0-4.0:1 on white) take the text colour; JSON keys and values stay
   apart by weight. */
.cm-editor .cm-content span {color: var(--body-text-color) !important}
.json-node .key {color: var(--body-text-color) !important; font-weight: 600}
.json-node .value {color: var(--body-text-color) !important}
/* the selected (sub-)tab's name: indigo 700 (Gradio: the accent, indigo 500, 4.46:1 on white) */
button[role="tab"][aria-selected="true"] {color: var(--primary-700) !important}
/* compact tab names: the eleven tabs take one or two rows (the Tabs wrap, see build_app), never a menu */
.tab-container button[role="tab"] {padding: 0 8px !important; font-size: 14px !important; min-width: 0 !important;
  flex: none !important; width: auto !important}
/* Markdown tables (the RoI pooling values ...) keep each number on one line; a table wider than its box (a phone)
   scrolls inside the box instead of squeezing its columns to one character */
.prose table {display: block; width: max-content; max-width: 100%; overflow-x: auto; border: none}
.prose table td, .prose table th {overflow-wrap: normal; word-break: normal}
/* a display formula wider than a phone scrolls inside its own line instead of running past the page's edge */
.katex-display {overflow-x: auto; overflow-y: hidden; padding: 2px 0}
/* an accordion's arrow stays a small arrow beside a long title (stretched to the title's height and turned, it
   stuck out of the box) */
.label-wrap > .icon {flex: none; align-self: center; line-height: 1}
/* a component's label never runs under its icon buttons (download, fullscreen, copy) on a narrow box */
.block:has(.icon-button-wrapper.top-panel button) label[data-testid="block-label"] {max-width: calc(100% - 6.5rem)}
/* galleries on a phone: two pictures a row (four at 100 px minimum ran past the screen's edge) */
@media (max-width: 640px) {.grid-container {--grid-cols: 2 !important}
  #gen-cycle-gallery .grid-container {--grid-cols: 1 !important}}  /* CycleGAN's three captioned steps */
/* an upload box's prompt (icon, "Drop Image Here") starts under the box's label, which floats over its top */
.block:has(> label[data-testid="block-label"].float) [data-testid="upload-text"] {margin-top: 1.6rem}
/* NMS: the step buttons keep their own height beside the slider */
#nms-step-row {align-items: center}
"""

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
    `LAB_TORCH_THREADS=2` suits a teacher alone on the machine (`core.threads`)."""
    torch.set_num_threads(request_threads())


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


def build_app(modules: Sequence[str] | None = None) -> gr.Blocks:
    """One `gr.Blocks` with a tab per module (default `tab_modules()`), wired by `demos.router`."""
    modules = list(modules) if modules is not None else tab_modules()
    atomic_image_cache()
    with gr.Blocks(title="Computer-vision lab", delete_cache=(3600, 3600)) as demo:
        with gr.Row(elem_classes=["lab-title"]):
            gr.Markdown(
                "# Computer-vision lab\nInteractive companion to *Dive into Deep Learning*'s computer-vision and GAN "
                "chapters: every picture is computed live, every number is returned by a named API endpoint."
            )
            projector = gr.Checkbox(False, label="Projector mode (large type for a room)", scale=0, min_width=200,
                                    elem_id="lab-projector")
        notice = gr.Markdown(visible=False, elem_id="lab-notice")
        built: dict[str, tuple[gr.Tab, router.TabUI]] = {}
        # wrap: with eleven tabs, "menu" would hide the last ones behind a "..." button a student may never open
        with gr.Tabs(overflow_behavior="wrap") as tabs:
            for module_name in modules:
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
        router.connect(demo, tabs, notice, built, projector)
    guard_numeric_inputs(demo)
    demo.queue(default_concurrency_limit=4, max_size=64)
    demo._queue.sleep_when_free = QUEUE_POLL_S  # Gradio's private poll interval: see QUEUE_POLL_S
    return demo


def launch_options(modules: Sequence[str] | None = None) -> dict:
    """Settings shared by `main` and the in-process test server, for the app of `modules` (default: all listed).

    show_error=False: only our own `gr.Error` messages reach the browser, never a traceback.
    max_threads: see `MAX_THREADS`.
    css: the app's, then each tab module's own `CSS`.
    head: the script that keeps the address bar in step with the view (`demos.view.script`).
    """
    modules = list(modules) if modules is not None else tab_modules()
    css = CSS + "".join(getattr(importlib.import_module(m), "CSS", "") for m in modules)
    # page.STATUS_PRUNE_JS: Gradio's page re-sent every component's status on each click (issue 19);
    # page.A11Y_JS and page.theme(): what axe-core found in Gradio's components and theme (docs/accessibility.md)
    head = view_script([tab_id(m) for m in modules], os.environ.get("SPACE_ID")) + page.STATUS_PRUNE_JS + page.A11Y_JS
    return dict(max_file_size=MAX_FILE_SIZE, max_threads=MAX_THREADS, css=css, theme=page.theme(),
                show_error=False, head=head)


def launch_in_background(port: int | None = None, modules: Sequence[str] | None = None) -> tuple[gr.Blocks, str]:
    """Build the app (of `modules`, default all) and serve it on 127.0.0.1 from this process without blocking:
    (app, URL ending in "/").

    For the tests, the screenshots and the benchmarks; `port` None takes a free one. Stop it with the returned
    Blocks' `close()`.
    """
    if port is None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
    configure_torch()
    configure_scheduling()
    demo = build_app(modules)
    # _frontend=False skips only Gradio's start-up probe of its own page (5 HEAD requests of 3 s each), which a
    # saturated shared machine fails ("localhost is not accessible"); the callers wait for the page themselves.
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                            _frontend=False, **launch_options(modules))
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
