"""Where a click's time goes: each factor measured alone, in the same browser and run (issue 19).

    python -m benchmarks.click_factors [--repeats 9] [--parts 123]

Part 1 varies one thing at a time on the trivial app (one button, 800x400 pictures; `browser_timing.trivial_app`):
picture format, number of output pictures, a gallery, show_progress, queue=False, a `.then` chain (two events per
click), and Gradio's own picture cache instead of `demos.common.atomic_image_cache`. The variants are interleaved
click by click, so that they share the machine's background load.

Part 2 times the same lab action (NMS step ◀/▶) in a page holding only the NMS tab and in the
whole lab after every tab has been opened once: the cost of the page's size.

Part 3 times the encoders alone on pictures like the lab's (PNG at Pillow's default level 6 and at level 1, WebP,
JPEG): the server's share of a picture.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import browser_timing as bt  # noqa: E402  (sets GRADIO_PROFILING before gradio loads)


def variants() -> dict[str, dict[str, Any]]:
    """name -> trivial_app keyword arguments (plus `chain` / `gradio_cache` handled here)."""
    return {
        "1 picture, webp (Gradio's default)": {},
        "1 picture, png": {"fmt": "png"},
        "1 picture, jpeg": {"fmt": "jpeg"},
        "8 pictures (8 outputs), png": {"outputs": 8, "fmt": "png"},
        "8 pictures (8 outputs), jpeg": {"outputs": 8, "fmt": "jpeg"},
        "gallery of 8, jpeg": {"outputs": 8, "gallery": True, "fmt": "jpeg"},
        "1 picture 1600x800, webp": {"width": 1600, "height": 800},
        "show_progress='hidden'": {"show_progress": "hidden"},
        "show_progress='minimal'": {"show_progress": "minimal"},
        "queue=False": {"queue": False},
        "two events (.then chain)": {"chain": True},
        "Gradio's own picture cache": {"gradio_cache": True},
    }


def chained_app(**kwargs: Any):
    """The trivial app whose button first runs a tiny event, then `.then` the picture (as 'Next seed' does)."""
    import gradio as gr

    counter = {"n": 0}

    def make():
        counter["n"] += 1
        return bt.trivial_picture(counter["n"])

    with gr.Blocks(title="chained") as demo:
        button = gr.Button("Make picture", elem_id="trivial-run")
        number = gr.Number(0, visible=False)
        with gr.Column(elem_id="trivial-out"):
            image = gr.Image(type="numpy", interactive=False, height=220)
        button.click(lambda n: n + 1, number, number).then(make, None, image)
    return demo


def part1(browser: Any, repeats: int) -> dict[str, dict[str, float]]:
    from gradio import processing_utils

    import demos.common as common

    common.atomic_image_cache()
    atomic = processing_utils.save_pil_to_cache
    original = getattr(atomic, "original", None)
    pages: dict[str, Any] = {}
    servers = []
    for name, options in variants().items():
        options = dict(options)
        chain = options.pop("chain", False)
        options.pop("gradio_cache", None)
        demo = chained_app() if chain else bt.trivial_app(**options)
        servers.append(demo)
        pages[name] = bt.open_page(browser, bt.launch(demo))
    samples: dict[str, list[bt.Sample]] = {name: [] for name in pages}
    try:
        for round_index in range(repeats + 2):
            for name, page in pages.items():
                gradio_cache = variants()[name].get("gradio_cache", False)
                if gradio_cache and original is not None:
                    processing_utils.save_pil_to_cache = original
                try:
                    sample = bt.time_click(page, "#trivial-out", page.locator("#trivial-run").click, settle_ms=50)
                finally:
                    processing_utils.save_pil_to_cache = atomic
                if round_index >= 2:
                    samples[name].append(sample)
    finally:
        for demo in servers:
            demo.close()
    return {name: bt.summarise(values) for name, values in samples.items()}


def part2(browser: Any, repeats: int) -> dict[str, dict[str, float]]:
    import app
    from benchmarks import clicks
    from demos import page as page_head

    nms = next(a for a in clicks.ACTIONS if a.name.startswith("nms"))
    results = {}
    prune = page_head.STATUS_PRUNE_JS
    for label, tabs, patched in (("NMS + transposed conv tabs only, Gradio's page as is", "demos.nms,demos.transposed_conv", False),
                                 ("whole lab, every tab opened, Gradio's page as is", "", False),
                                 ("whole lab, every tab opened, demos.page.STATUS_PRUNE_JS", "", True)):
        os.environ["LAB_TABS"] = tabs
        page_head.STATUS_PRUNE_JS = prune if patched else ""
        bt.patient_startup()
        try:
            lab, url = app.launch_in_background()
        finally:
            page_head.STATUS_PRUNE_JS = prune
        try:
            page = bt.open_page(browser, url)
            if "," not in tabs:
                for title in ("Augmentation", "Anchors", "Transposed", "Dataset", "Detection", "Segmentation",
                              "GAN lab", "Generative", "Fine-tuning"):
                    try:
                        clicks.open_tab(page, title)
                    except Exception as error:  # noqa: BLE001 - a renamed tab: the page is large anyway
                        print(f"  (could not open {title}: {type(error).__name__})")
            nodes = page.evaluate("() => document.getElementsByTagName('*').length")
            applied = page.evaluate("() => window.labStatusPruned === true")
            assert applied == patched, f"STATUS_PRUNE_JS applied: {applied}, expected {patched}"
            results[f"{label} ({nodes} DOM nodes)"] = bt.summarise(clicks.run_action(page, nms, repeats))
            page.context.close()
        finally:
            lab.close()
            os.environ.pop("LAB_TABS", None)
    return results


def part3(repeats: int) -> list[str]:
    import numpy as np
    from PIL import Image, ImageDraw

    photo = Image.fromarray(bt.trivial_picture(0))
    drawing = Image.new("RGB", (800, 560), "white")  # like the NMS/anchors pictures: flat colours, lines, text
    draw = ImageDraw.Draw(drawing)
    rng = np.random.default_rng(0)
    for _ in range(40):
        x, y = rng.integers(0, 700), rng.integers(0, 460)
        draw.rectangle([x, y, x + rng.integers(20, 100), y + rng.integers(20, 100)],
                       outline=tuple(int(c) for c in rng.integers(0, 255, 3)), width=3)
        draw.text((x + 3, y + 3), f"{rng.random():.2f}", fill="black")
    encoders: dict[str, Callable[[Image.Image], bytes]] = {
        "png (Gradio: level 6)": lambda im: _encode(im, "png"),
        "png compress_level=1": lambda im: _encode(im, "png", compress_level=1),
        "webp (Gradio's default)": lambda im: _encode(im, "webp"),
        "jpeg (quality 75)": lambda im: _encode(im, "jpeg"),
    }
    lines = []
    for picture_name, picture in (("photo 800x400", photo), ("drawing 800x560", drawing)):
        for name, encode in encoders.items():
            times = []
            for _ in range(repeats):
                began = time.perf_counter()
                data = encode(picture)
                times.append(time.perf_counter() - began)
            lines.append(f"  {picture_name:<16} {name:<26} {1000 * bt.median(times):6.1f} ms  {len(data) / 1024:6.0f} KiB")
    return lines


def _encode(image: Any, fmt: str, **params: Any) -> bytes:
    with io.BytesIO() as out:
        image.save(out, fmt, **params)
        return out.getvalue()


def print_table(title: str, results: dict[str, dict[str, float]], reference: str | None = None) -> None:
    print(f"\n{title}")
    print(f"  {'variant':<52} {'click':>7} {'server':>7} {'post':>6} {'ev':>3} {'KiB':>6} {'vs first':>8}")
    first = next(iter(results.values()))["click_ms"]
    for name, summary in results.items():
        print(f"  {name:<52} {summary['click_ms']:7.0f} {summary['total_ms']:7.0f} {summary['postprocess_ms']:6.0f} "
              f"{summary['events']:3.0f} {summary['image_kb']:6.0f} {summary['click_ms'] / first:7.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--parts", default="123", help="which parts to run (default: all three)")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    load = os.getloadavg()
    with sync_playwright() as playwright:
        browser = bt.launch_browser(playwright)
        first = part1(browser, args.repeats) if "1" in args.parts else None
        second = part2(browser, args.repeats) if "2" in args.parts else None
        browser.close()
    print(f"medians over {args.repeats} clicks; load average {load[0]:.1f} at the start, {os.getloadavg()[0]:.1f} "
          f"at the end ({os.cpu_count()} CPUs). click = click to decoded picture in the page; server = Gradio's "
          f"total for the click's events; post = postprocess (encoding + caching the pictures)")
    if first:
        print_table("Part 1: the trivial app, one factor at a time", first)
    if second:
        print_table("Part 2: the same lab action in a small and in a large page", second)
    if "3" in args.parts:
        print("\nPart 3: encoding one picture (median of 15)")
        print("\n".join(part3(15)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
