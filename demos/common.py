"""UI helpers shared by every tab: the upload loader, the book link, JSON-friendly numbers.

This is the only place where core's user-facing errors become `gr.Error`.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import json
import math
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TypeVar

import gradio as gr
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from core.threads import torch_threads
from core.data.images import SAMPLE_IMAGES, ImageLoadError, load_image, sample_image

D2L = "https://d2l.ai/chapter_computer-vision/"
D2L_GAN = "https://d2l.ai/chapter_generative-adversarial-networks/"

T = TypeVar("T")


def book_link(page: str, label: str, chapter: str = D2L) -> str:
    """Markdown link to a section of Dive into Deep Learning, e.g. `book_link("anchor.html", "14.4 Anchor Boxes")`."""
    return f"[Book: d2l.ai — {label}]({chapter}{page})"


def header(title: str, formula_markdown: str, link: str) -> None:
    """The short explanation every tab starts with: what it shows, the formula, the book link."""
    gr.Markdown(f"### {title}\n{formula_markdown}\n\n{link}", latex_delimiters=LATEX)


LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]

TABLE_CHARACTER_PX = 8.5
"""Width of one character in a `gr.Dataframe` cell: the theme's 14 px monospace font (IBM Plex Mono, or the
browser's monospace fallback; both 8.4 px)."""
TABLE_PADDING_PX = 18
"""A cell's padding (8 px left and right) and 2 px for rounding."""
TABLE_LOCK_CHARACTERS = 3
"""Room, in characters, for the lock Gradio draws in the header of a static column of an editable table."""


def column_widths(*characters: float) -> list[str]:
    """`gr.Dataframe(column_widths=...)` in pixels: each column holds that many characters on a line.

    Gradio 6 sizes a table's columns once, from whatever it first measures (often the default rows, or a table in
    a hidden tab, squeezed into its box) and then cuts longer values to "37…", or with `wrap=True` breaks them one
    character per line. Fixed widths avoid both. Give a column room for its longest value and its header (a
    wrapped column: for its longest word); a table wider than its box then scrolls sideways inside the box, which
    only happens on a phone when the widths of a tab add up to its box at 1366x768.
    """
    return [f"{round(count * TABLE_CHARACTER_PX + TABLE_PADDING_PX)}px" for count in characters]


def read_image(upload: Any, *, max_side: int | None = 1024, sample: str | None = None) -> np.ndarray:
    """The one entry point for uploaded images in every tab.

    `upload` is whatever a `gr.Image(type="filepath")` or `gr.File` gives (a path, a dict with
    a `path`, a PIL image or an array). When it is empty and `sample` names a bundled image,
    that sample is used. Loader problems become a clear `gr.Error`; notices become `gr.Info`.
    Returns (H, W, 3) uint8 RGB.
    """
    array, notices = read_image_quietly(upload, max_side=max_side, sample=sample)
    for notice in notices:
        gr.Info(notice)
    return array


def read_image_quietly(upload: Any, *, max_side: int | None = 1024, sample: str | None = None
                       ) -> tuple[np.ndarray, list[str]]:
    """`read_image` that returns its notices ("Downscaled from ...") instead of showing them: for a tab that
    reads one upload in several requests and shows the notices once, when the picture arrives.
    Returns ((H, W, 3) uint8 RGB, notices)."""
    if isinstance(upload, dict):
        upload = upload.get("path") or upload.get("name")
    try:
        if upload is None or (isinstance(upload, str) and upload == ""):
            if sample is None:
                raise gr.Error("Please upload an image or choose a sample.")
            loaded_array = sample_image(sample)
            notices: list[str] = []
            if max_side is not None and max(loaded_array.shape[:2]) > max_side:
                loaded = load_image(loaded_array, max_side=max_side)
                loaded_array, notices = loaded.array, loaded.notices
        else:
            loaded = load_image(upload, max_side=max_side)
            loaded_array, notices = loaded.array, loaded.notices
    except ImageLoadError as error:
        raise gr.Error(str(error)) from None
    return loaded_array, list(notices)


def image_upload(**image_kwargs: Any) -> gr.Image:
    """The upload component every tab uses: a `gr.Image(type="filepath")` whose file reaches `read_image` undecoded.

    A stock gr.Image opens every upload with PIL in its preprocess, so a broken or non-image file would fail there
    with a generic error before our loader could give its clear message. Only this instance's preprocess changes
    (the browser renders a plain Image); data-URL payloads (pasted from the clipboard) keep gradio's decoding.
    """
    image = gr.Image(type="filepath", **image_kwargs)
    original = image.preprocess

    def preprocess(payload: Any) -> Any:
        if payload is not None and payload.path is not None and not (payload.url or "").startswith("data:"):
            return str(payload.path)
        return original(payload)

    image.preprocess = preprocess  # type: ignore[method-assign]
    return image


def atomic_image_cache() -> None:
    """Make Gradio write output pictures into its cache atomically (idempotent; `app.build_app` calls it).

    Gradio names a picture's cache file by the hash of its bytes and rewrites that file in place on every request
    (`processing_utils.save_pil_to_cache`). When a class gets the same picture (every tab's default view is the
    same for everyone), one request truncates the file while another student's browser is downloading it: with
    30 clients asking for one picture, a third of the downloads broke off ("peer closed connection"). Here a
    picture already in the cache is only touched (same hash, same bytes; `delete_cache` ages files by their time),
    and a new one is written beside it and renamed into place, which readers never see half-done.
    """
    from gradio import processing_utils

    if getattr(processing_utils.save_pil_to_cache, "atomic", False):
        return

    def save_pil_to_cache(img: Any, cache_dir: str, name: str = "image", format: str = "webp") -> str:
        data = encode_picture(img, format)
        folder = Path(cache_dir) / processing_utils.hash_bytes(data)
        folder.mkdir(exist_ok=True, parents=True)
        path = (folder / f"{name}.{format}").resolve()
        if path.exists():
            os.utime(path)
            return str(path)
        handle, partial = tempfile.mkstemp(dir=folder, prefix=f".{name}-", suffix=".part")
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.chmod(partial, 0o644)
        os.replace(partial, path)
        return str(path)

    save_pil_to_cache.atomic = True  # type: ignore[attr-defined]
    save_pil_to_cache.original = processing_utils.save_pil_to_cache  # type: ignore[attr-defined]  (benchmarks)
    processing_utils.save_pil_to_cache = save_pil_to_cache


PNG_COMPRESS_LEVEL = 1
"""zlib level of the PNGs sent to the browser. Gradio leaves Pillow's default (6): an 800x400 photo took 714 ms
to encode at 6 and 139 ms at 1 for 10% more bytes, a drawing 86 ms and 57 ms (`python -m benchmarks.click_factors
--parts 3`; docs/performance.md). On a local network the bytes cost far less than the encoder's time."""


def encode_picture(img: Any, format: str) -> bytes:
    """A PIL image as the bytes Gradio would send (its `encode_pil_to_bytes`), PNGs at `PNG_COMPRESS_LEVEL`."""
    from gradio import processing_utils

    if format.lower() != "png":
        return processing_utils.encode_pil_to_bytes(img, format)
    with io.BytesIO() as output:
        img.save(output, "png", pnginfo=processing_utils.get_pil_metadata(img), compress_level=PNG_COMPRESS_LEVEL)
        return output.getvalue()


def guard_numeric_inputs(blocks: gr.Blocks) -> int:
    """Give every Slider and Number a clear message for values Gradio cannot convert; returns how many.

    Gradio converts these inputs before any handler runs, and an API call sending null to a Slider or NaN to a
    whole-number Number fails inside that conversion with a bare "Error". Each numeric component's preprocess is
    wrapped to turn such a failure into a `gr.Error` naming the input; Gradio's own range messages pass unchanged.
    """
    guarded = 0
    for block in blocks.blocks.values():
        if not isinstance(block, (gr.Slider, gr.Number)):
            continue
        original = block.preprocess
        name = block.label or f"{type(block).__name__.lower()} input"
        bounds = ""
        if block.minimum is not None and block.maximum is not None:
            bounds = f" between {block.minimum:g} and {block.maximum:g}"
        whole = " whole" if getattr(block, "precision", None) == 0 or getattr(block, "step", None) == 1 else ""

        def preprocess(payload: Any, _original: Callable = original,
                       _message: str = f"{name} must be a{whole} number{bounds}") -> Any:
            try:
                return _original(payload)
            except gr.Error:
                raise
            except (TypeError, ValueError, OverflowError):
                raise gr.Error(f"{_message}, got {payload!r:.40}.") from None

        block.preprocess = preprocess  # type: ignore[method-assign]
        guarded += 1
    return guarded


@functools.lru_cache(maxsize=64)
def pil_font(size: float) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled scalable font at `size` pixels (at least 8): the pictures look the same on every machine."""
    return ImageFont.load_default(size=max(8, int(size)))


@functools.lru_cache(maxsize=16)
def math_font(size: float) -> ImageFont.FreeTypeFont | None:
    """KaTeX's math italic at `size` pixels, for a math letter drawn in a picture (an axis called θ): the face the
    page's formulas use, from the fonts Gradio installs. None when it is not there (Pillow's default font has no
    Greek letters: then write the letter's name)."""
    import glob

    import gradio

    pattern = os.path.join(os.path.dirname(gradio.__file__), "templates", "frontend", "**", "KaTeX_Math-Italic*.ttf")
    for path in sorted(glob.glob(pattern, recursive=True)):
        try:
            return ImageFont.truetype(path, max(8, int(size)))
        except OSError:
            continue
    return None


@functools.lru_cache(maxsize=4096)
def text_mask(text: str, size: int) -> Image.Image:
    """`text` rendered as an 'L' mask cropped to its ink: paste it in any colour (cached: labels repeat)."""
    face = pil_font(size)
    left, top, right, bottom = face.getbbox(text)
    mask = Image.new("L", (max(1, right - left), max(1, bottom - top)), 0)
    ImageDraw.Draw(mask).text((-left, -top), text, fill=255, font=face)
    return mask


class LabelPlacer:
    """Writes box labels on a picture without covering each other or running past its edges: tries a few spots
    around each box (above it, inside its corners, below it), the first free one wins; every spot is moved inside
    `bounds`."""

    def __init__(self, image: Image.Image, bounds: tuple[int, int]):
        """`image` is drawn on in place; `bounds` (W, H) is the part of it labels stay inside."""
        self.image, self.draw, self.bounds = image, ImageDraw.Draw(image), bounds
        self.placed = np.zeros((0, 4))  # (P, 4) rectangles already used

    def add(self, box: Sequence[float], text: str, fill: tuple, size: int, *, text_color: tuple = (255, 255, 255),
            required: bool = True) -> None:
        """Label `box` (x1, y1, x2, y2 pixels) with `text` in `size`-pixel letters on a `fill` chip. A label that is
        not `required` is left out when every spot is taken."""
        mask = text_mask(text, size)
        w, h = mask.width + 8, mask.height + 8
        x1, y1, x2, y2 = box
        spots = np.array([(x1, y1 - h), (x1 + 3, y1 + 3), (x1 + 3, y2 - h - 3), (x2 - w - 3, y1 + 3),
                          (x2 - w - 3, y2 - h - 3), (x1, y2 + 1), (x2 - w, y1 - h), (x2 - w, y2 + 1)])  # (S, 2)
        spots[:, 0] = np.clip(spots[:, 0], 0, max(0, self.bounds[0] - w))
        spots[:, 1] = np.clip(spots[:, 1], 0, max(0, self.bounds[1] - h))
        rects = np.concatenate([spots, spots + [w, h]], axis=1)  # (S, 4)
        p = self.placed
        clash = ((rects[:, None, 0] < p[None, :, 2]) & (p[None, :, 0] < rects[:, None, 2]) &
                 (rects[:, None, 1] < p[None, :, 3]) & (p[None, :, 1] < rects[:, None, 3])).any(axis=1)  # (S,)
        free = np.flatnonzero(~clash)
        if len(free) == 0 and not required:
            return
        rect = rects[free[0] if len(free) else 0]
        self.placed = np.concatenate([self.placed, rect[None]])
        x, y = int(rect[0]), int(rect[1])
        self.draw.rectangle([x, y, x + w, y + h], fill=fill)
        self.image.paste(text_color, (x + 4, y + 4), mask)


def readable_on(color: Any) -> tuple[int, int, int]:
    """Black or white, whichever reads better on `color` (an RGB tuple or '#rrggbb')."""
    if isinstance(color, str):
        color = tuple(int(color.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4))
    red, green, blue = color[:3]
    return (0, 0, 0) if 0.299 * red + 0.587 * green + 0.114 * blue > 150 else (255, 255, 255)


def sample_names() -> list[str]:
    return list(SAMPLE_IMAGES)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn ValueError/ImageLoadError raised by core into a readable `gr.Error`."""
    try:
        yield
    except gr.Error:
        raise
    except (ValueError, ImageLoadError) as error:
        raise gr.Error(str(error)) from None


def parse_number_list(text: str, *, name: str, low: float | None = None, high: float | None = None,
                      min_count: int = 1, max_count: int = 64) -> list[float]:
    """Parse '0.75, 0.5 0.25' into floats with a clear message on bad input."""
    parts = [p for p in str(text).replace(";", ",").replace(" ", ",").split(",") if p.strip()]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise gr.Error(f"{name}: expected numbers separated by commas, got {text!r}.") from None
    if not (min_count <= len(values) <= max_count):
        raise gr.Error(f"{name}: expected between {min_count} and {max_count} numbers, got {len(values)}.")
    for value in values:
        if not math.isfinite(value):
            raise gr.Error(f"{name}: {value} is not a finite number.")
        if low is not None and value <= low:
            raise gr.Error(f"{name}: every value must be greater than {low}, got {value}.")
        if high is not None and value > high:
            raise gr.Error(f"{name}: every value must be at most {high}, got {value}.")
    return values


def parse_seed(seed: Any) -> int:
    """Seeds are non-negative integers below 2**31."""
    try:
        value = int(float(seed))
    except (TypeError, ValueError):
        raise gr.Error(f"Seed must be an integer, got {seed!r}.") from None
    if not 0 <= value < 2**31:
        raise gr.Error("Seed must be between 0 and 2147483647.")
    return value


def to_jsonable(value: Any, digits: int = 6) -> Any:
    """Tensors/arrays/np scalars -> plain lists and floats rounded to `digits` (JSON outputs)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist(), digits)
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, digits) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, digits) for k, v in value.items()}
    if isinstance(value, (np.floating, float)):
        return round(float(value), digits) if math.isfinite(float(value)) else None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.bool_,)):
        return bool(value)
    return value


def dumps(value: Any) -> str:
    return json.dumps(to_jsonable(value))


class LazyResource:
    """A value built once, on first use, safely under concurrent requests (models, datasets)."""

    def __init__(self, factory: Callable[[], T]):
        self._factory = factory
        self._value: Any = None
        self._built = False
        self._lock = threading.Lock()

    def get(self) -> Any:
        if not self._built:
            with self._lock:
                if not self._built:
                    self._value = self._factory()
                    self._built = True
        return self._value


# --- where model code runs ------------------------------------------------------------------------------


def single_threaded(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorator: `fn` runs under `torch_threads(1)`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        with torch_threads(1):
            return fn(*args, **kwargs)

    return wrapper


def on_gpu(fn: Callable[..., T] | None = None, *, duration: int = 30) -> Any:
    """Decorator for the handlers that run a network: `spaces.GPU` where the `spaces` package is installed.

    On a Hugging Face ZeroGPU Space (`spaces` preinstalled, `SPACES_ZERO_GPU` set) a GPU is attached for each
    call of at most `duration` seconds, and the lazily loaded models land on it (`torch.cuda.is_available()` is
    true there). Elsewhere, `spaces.GPU` returns the function itself, and without `spaces` so does this: the
    lab needs nothing of it on the free CPU tier, locally or in class. Use `@on_gpu` or `@on_gpu(duration=120)`.
    """
    if fn is None:
        return functools.partial(on_gpu, duration=duration)
    if importlib.util.find_spec("spaces") is None:
        return fn
    import spaces

    return spaces.GPU(fn, duration=duration)
