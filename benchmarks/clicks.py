"""Click-to-picture: how long a student waits, per action, next to Gradio's own floor (issue 19).

    python -m benchmarks.clicks [--repeats 7] [--only nms,dataset]

Drives the whole app in headless Chromium (Debian's /usr/bin/chromium through Playwright) and prints, per action:
the median time from the click until the new picture is decoded in the page (`benchmarks.browser_timing`), the
server's own time for the events the click set off (Gradio's profiler: the handlers' `fn_call`, and the total
with pre/postprocessing, i.e. with encoding and caching the pictures), and the same click on a trivial Gradio app
(one button returning one 800x400 picture) measured in the same run. Targets: at most 1.5x the trivial app for the
math and data tabs, 2x for the model tabs.

The actions are one table (`ACTIONS`) of roles, labels and element ids, so that a tab's refactor only changes a
row. An action whose tab or control is missing is reported as such, not as a failure of the others.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import browser_timing as bt  # noqa: E402  (sets GRADIO_PROFILING before gradio loads)

MATH_TARGET = 1.5
MODEL_TARGET = 2.0


@dataclass(frozen=True)
class Action:
    """One student action. `tab`: the tab's button text; `part`: a sub-tab to open first (its button text);
    `picture`: CSS selector of the element whose <img> must change; `click(page, i)`: the timed click (the i-th);
    `prepare(page, i)`: untimed, before the click (vary an input so that the picture changes)."""

    name: str
    kind: str  # "math" (target MATH_TARGET) or "model" (MODEL_TARGET)
    tab: str
    picture: str
    click: Callable[[Any, int], None]
    prepare: Callable[[Any, int], None] | None = None
    part: str | None = None


def button(name: str) -> Callable[[Any, int], None]:
    return lambda page, i: _visible(page.get_by_role("button", name=name, exact=True)).click()


def alternate(*names: str) -> Callable[[Any, int], None]:
    return lambda page, i: _visible(page.get_by_role("button", name=names[i % len(names)], exact=True)).click()


def click_picture(selector: str, points: tuple[tuple[float, float], ...]) -> Callable[[Any, int], None]:
    """Click inside the picture at fractions (x, y) of its size, a different point each time."""

    def click(page: Any, i: int) -> None:
        image = _visible(page.locator(f"{selector} img"))
        box = image.bounding_box()
        fx, fy = points[i % len(points)]
        page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])

    return click


def fill(selector: str, values: tuple[str, ...]) -> Callable[[Any, int], None]:
    """Type a value into a text/number input (no Enter: nothing runs until the click)."""

    def prepare(page: Any, i: int) -> None:
        box = _visible(page.locator(f"{selector} input, {selector} textarea"))
        box.fill(values[i % len(values)])

    return prepare


def _visible(locator: Any) -> Any:
    for index in range(locator.count()):
        if locator.nth(index).is_visible():
            return locator.nth(index)
    return locator.first


SEEDS = tuple(str(s) for s in (11, 12, 13, 14, 15, 16, 17, 18, 19, 20))

ACTIONS: list[Action] = [
    Action("augmentation: Next seed", "math", "Augmentation", "#augmentation-gallery", button("Next seed")),
    Action("dataset: next ▶", "math", "Dataset", "#dataset-boxes-grid", button("next ▶")),
    Action("anchors: click the picture", "math", "Anchors & IoU", "#anchors-pixel-image",
           click_picture("#anchors-pixel-image", ((0.3, 0.4), (0.6, 0.55), (0.45, 0.3))), part="Anchors"),
    Action("nms: step ◀ / ▶", "math", "NMS", "#nms-picture", alternate("◀ step", "step ▶")),
    Action("transposed conv: Compute", "math", "Transposed conv", "#tc-scatter", button("Compute"),
           prepare=fill("#tc-x", ("1 2\n3 4", "2 0\n1 3", "3 1\n0 2"))),
    Action("detection: Detect", "model", "Detection", "#detection-picture", button("Detect"),
           prepare=fill("#detection-seed", tuple(str(2_000_000 + int(s)) for s in SEEDS))),
    Action("segmentation: Segment", "model", "Segmentation", "#seg-overlay", button("Segment"),
           prepare=fill("#seg-seed", tuple(str(2_000_000 + int(s)) for s in SEEDS))),
    Action("generative: Sample", "model", "Generative", "#gen-grid", button("Sample"),
           prepare=fill("#gen-seed", SEEDS)),
]
"""What is timed. Tab buttons are matched by the start of their text (`Anchors & IoU`, `Generative models`)."""


def open_tab(page: Any, title: str) -> None:
    tab = page.get_by_role("tab").filter(has_text=title).first
    if tab.count() == 0 or not tab.is_visible():
        more = page.get_by_role("button", name="More tabs")  # the overflow menu on narrow windows
        if more.count():
            more.first.click()
    tab.click()
    bt.wait_until_idle(page, timeout_ms=180_000, settle_ms=400)


def run_action(page: Any, action: Action, repeats: int, warmup: int = 2) -> list[bt.Sample]:
    open_tab(page, action.tab)
    if action.part:
        page.get_by_role("tab", name=action.part, exact=True).first.click()
        bt.wait_until_idle(page)
    samples = []
    for i in range(warmup + repeats):
        if action.prepare:
            action.prepare(page, i)
            bt.wait_until_idle(page, settle_ms=100)
        sample = bt.time_click(page, action.picture, lambda: action.click(page, i))
        if i >= warmup:
            samples.append(sample)
    return samples


def row(name: str, summary: dict[str, float], floor: float | None, target: float | None) -> str:
    ratio = summary["click_ms"] / floor if floor else float("nan")
    verdict = "" if target is None else ("ok" if ratio <= target else f"> {target:g}x")
    return (f"{name:<32} {summary['click_ms']:7.0f} {summary['fn_call_ms']:7.0f} {summary['total_ms']:7.0f} "
            f"{summary['queue_wait_ms']:6.0f} {summary['events']:4.0f} {summary['images']:4.0f} "
            f"{summary['image_kb']:7.0f} {ratio:6.2f}x {verdict}")


HEADER = (f"{'action':<32} {'click':>7} {'handler':>7} {'server':>7} {'queue':>6} {'ev':>4} {'pics':>4} "
          f"{'KiB':>7} {'ratio':>7}\n{'':<32} {'ms':>7} {'ms':>7} {'ms':>7} {'ms':>6}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7, help="timed clicks per action (after 2 warm-up clicks)")
    parser.add_argument("--only", default="", help="comma-separated words: run the actions whose name has one")
    args = parser.parse_args(argv)
    if not 1 <= args.repeats <= 50:
        parser.error("--repeats: 1..50")
    only = [w.strip().lower() for w in args.only.split(",") if w.strip()]
    actions = [a for a in ACTIONS if not only or any(w in a.name.lower() for w in only)]

    from playwright.sync_api import sync_playwright

    import app

    load_start = os.getloadavg()
    began = time.perf_counter()
    trivial_url = bt.launch(bt.trivial_app())  # (also makes Gradio's start-up check patient)
    lab, lab_url = app.launch_in_background()
    print(f"lab at {lab_url}, trivial app at {trivial_url} (started in {time.perf_counter() - began:.0f} s)",
          flush=True)
    results: dict[str, dict[str, float]] = {}
    trivial: list[bt.Sample] = []
    failures: dict[str, str] = {}
    try:
        with sync_playwright() as playwright:
            browser = bt.launch_browser(playwright)
            trivial_page = bt.open_page(browser, trivial_url)
            lab_page = bt.open_page(browser, lab_url)
            bt.time_trivial(trivial_page, 2)  # warm-up
            for action in actions:
                # the trivial app before every action: both see the same background load
                trivial += bt.time_trivial(trivial_page, max(2, args.repeats // 2))
                try:
                    samples = run_action(lab_page, action, args.repeats)
                except Exception as error:  # noqa: BLE001 - a missing tab or control: report, go on
                    failures[action.name] = f"{type(error).__name__}: {str(error).splitlines()[0][:150]}"
                    print(f"  {action.name}: FAILED {failures[action.name]}", flush=True)
                    lab_page.close()
                    lab_page = bt.open_page(browser, lab_url)
                    continue
                results[action.name] = bt.summarise(samples)
                print(f"  {action.name}: {results[action.name]['click_ms']:.0f} ms", flush=True)
            trivial += bt.time_trivial(trivial_page, max(2, args.repeats // 2))
            browser.close()
    finally:
        lab.close()
    floor = bt.summarise(trivial)
    print(f"\nclick-to-picture medians over {args.repeats} clicks per action (handler = the handlers' own time, "
          f"server = Gradio's total with pre/postprocessing; load average {load_start[0]:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end, {os.cpu_count()} CPUs)\n")
    print(HEADER)
    print(row("trivial app (1 picture 800x400)", floor, None, None))
    met = True
    for action in actions:
        if action.name in results:
            target = MATH_TARGET if action.kind == "math" else MODEL_TARGET
            print(row(action.name, results[action.name], floor["click_ms"], target))
            met &= results[action.name]["click_ms"] <= target * floor["click_ms"]
        else:
            print(f"{action.name:<32} not measured: {failures.get(action.name, '?')}")
            met = False
    print(f"\ntargets: math/data tabs <= {MATH_TARGET}x the trivial app, model tabs <= {MODEL_TARGET}x "
          f"-> {'met' if met else 'NOT MET'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
