"""Click-to-picture timing in a real browser, shared by `benchmarks.clicks` and `benchmarks.click_factors`.

A click is timed inside the page with `performance.now()`: from the click's `pointerdown` (captured on the window,
before Gradio sees it) until every <img> under the watched element has a new `src` and `img.decode()` has
resolved, i.e. the new picture can be painted. Playwright's own overhead (actionability checks, the round trip
to its driver) is outside the measured interval.

The server's side comes from Gradio's own profiler (`GRADIO_PROFILING=1`, read when gradio is imported): for each
queued event it records the queue wait, preprocess, the handler call (`fn_call_ms`), postprocess (which encodes
and caches the output pictures) and the total. `server_profile` sums them over the events that one click set off.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("GRADIO_PROFILING", "1")  # before gradio is imported anywhere (read at import)
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"]

ARM_JS = """
(selector) => {
  window.__labClick = {t0: null, t1: null, error: null, images: 0, bytes: 0};
  const state = window.__labClick;
  const root = document.querySelector(selector);
  if (!root) { state.error = 'no element ' + selector; return; }
  const before = new Set([...root.querySelectorAll('img')].map(img => img.src));
  const started = (event) => { if (state.t0 === null) state.t0 = event.timeStamp || performance.now(); };
  window.addEventListener('pointerdown', started, {capture: true, once: true});
  window.addEventListener('click', started, {capture: true, once: true});
  let done = false;
  const check = async () => {
    if (done || state.t0 === null) return;
    const images = [...root.querySelectorAll('img')];
    if (!images.length || !images.some(img => img.src && !before.has(img.src))) return;
    done = true;
    observer.disconnect();
    try { await Promise.all(images.map(img => img.decode())); } catch (e) { /* a replaced <img>: the next one */ }
    state.t1 = performance.now();
    state.images = images.length;
    state.bytes = performance.getEntriesByType('resource')
      .filter(entry => images.some(img => img.src === entry.name))
      .reduce((sum, entry) => sum + (entry.encodedBodySize || 0), 0);
  };
  const observer = new MutationObserver(check);
  observer.observe(root, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
}
"""


@dataclass
class Sample:
    """One timed click: browser milliseconds and the server's profile of the events it set off."""

    click_ms: float
    images: int = 0
    image_bytes: int = 0
    server: dict[str, float] = field(default_factory=dict)


def arm(page: Any, selector: str) -> None:
    page.evaluate(ARM_JS, selector)


def wait_for_picture(page: Any, timeout_ms: float = 60_000) -> tuple[float, int, int]:
    """(click-to-picture ms, pictures under the element, their encoded bytes) once the armed click's picture shows."""
    page.wait_for_function("() => window.__labClick && (window.__labClick.t1 !== null || window.__labClick.error)",
                           timeout=timeout_ms)
    state = page.evaluate("() => window.__labClick")
    if state["error"]:
        raise RuntimeError(state["error"])
    return state["t1"] - state["t0"], state["images"], state["bytes"]


def wait_until_idle(page: Any, timeout_ms: float = 60_000, settle_ms: int = 250) -> None:
    """No Gradio status tracker is pending (the events a click chains with `.then` have finished)."""
    page.wait_for_timeout(settle_ms)
    page.wait_for_function("() => document.querySelectorAll('.pending, .generating, .eta-bar').length === 0",
                           timeout=timeout_ms)


def patient_startup() -> None:
    """Gradio's launch gives up (asking for share=True) when its own page does not answer a HEAD in 3 s, which
    happens on a saturated shared machine; the benchmarks wait for the page themselves (`open_page`)."""
    from gradio import networking

    networking.url_ok = lambda url: True


def profiler():
    from gradio import profiling

    if not profiling.PROFILING_ENABLED:
        raise RuntimeError("gradio was imported before GRADIO_PROFILING=1 was set: import this module first")
    return profiling.collector


PHASES = ("queue_wait_ms", "preprocess_ms", "fn_call_ms", "postprocess_ms",
          "postprocess_save_img_array_to_cache_ms", "total_ms")


def server_profile(traces: list[dict]) -> dict[str, float]:
    """Sum of each phase over the events of one click, and how many events there were."""
    summed = {phase: sum(t.get(phase, 0.0) for t in traces) for phase in PHASES}
    summed["events"] = len(traces)
    return summed


def time_click(page: Any, selector: str, click: Callable[[], None], settle_ms: int = 250) -> Sample:
    """Arm the page, `click()`, wait for the new picture under `selector` and for the chained events to end."""
    collector = profiler()
    collector.clear()
    arm(page, selector)
    click()
    elapsed, images, size = wait_for_picture(page)
    wait_until_idle(page, settle_ms=settle_ms)
    return Sample(elapsed, images, size, server_profile(collector.get_all()))


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarise(samples: list[Sample]) -> dict[str, float]:
    """Medians of the browser time and of every server phase."""
    out = {"click_ms": median([s.click_ms for s in samples]), "images": median([s.images for s in samples]),
           "image_kb": median([s.image_bytes for s in samples]) / 1024}
    for phase in (*PHASES, "events"):
        out[phase] = median([s.server.get(phase, 0.0) for s in samples])
    return out


def launch_browser(playwright: Any):
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)


def open_page(browser: Any, url: str, width: int = 1366, height: int = 768):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector(".gradio-container", timeout=120_000)
    wait_until_idle(page, timeout_ms=180_000, settle_ms=500)
    return page


# --- the trivial Gradio app: Gradio's own floor -------------------------------------------------------------


def trivial_picture(index: int, width: int = 800, height: int = 400):
    """A photo-like 800x400 RGB picture that differs per click (scikit-image's astronaut, shifted)."""
    import numpy as np

    base = _astronaut()
    shift = (index * 37) % base.shape[1]
    picture = np.roll(base, shift, axis=1)
    if (height, width) != picture.shape[:2]:
        picture = np.resize(picture, (height, width, 3))  # a larger picture for the size variant
    return np.ascontiguousarray(picture)


_ASTRONAUT: Any = None


def _astronaut():
    global _ASTRONAUT
    if _ASTRONAUT is None:
        import numpy as np
        from PIL import Image
        from skimage import data

        _ASTRONAUT = np.asarray(Image.fromarray(data.astronaut()).resize((800, 400)))
    return _ASTRONAUT


def trivial_app(outputs: int = 1, fmt: str = "webp", show_progress: str = "full", queue: bool = True,
                gallery: bool = False, width: int = 800, height: int = 400):
    """One button returning `outputs` pictures (or a gallery of them): Gradio's own cost of a click."""
    import gradio as gr

    counter = {"n": 0}

    def make():
        counter["n"] += 1
        pictures = [trivial_picture(counter["n"] + k, width, height) for k in range(outputs)]
        if gallery:
            return pictures
        return pictures if outputs > 1 else pictures[0]

    with gr.Blocks(title="trivial") as demo:
        button = gr.Button("Make picture", elem_id="trivial-run")
        if gallery:
            targets = gr.Gallery(format=fmt, columns=4, elem_id="trivial-out")
        else:
            with gr.Column(elem_id="trivial-out"):
                targets = [gr.Image(type="numpy", format=fmt, interactive=False, height=220) for _ in range(outputs)]
        button.click(make, None, targets, show_progress=show_progress, queue=queue, api_name="make")
    return demo


def launch(demo: Any, **options: Any) -> str:
    import socket

    patient_startup()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                            **options)
    return url.rstrip("/") + "/"


def time_trivial(page: Any, repeats: int) -> list[Sample]:
    button = page.locator("#trivial-run")
    samples = []
    for _ in range(repeats):
        samples.append(time_click(page, "#trivial-out", button.click, settle_ms=50))
    return samples
