"""The Transposed-convolution tab: one input and kernel, three synchronised views of the same output.

(1) scatter-add: every input element times the kernel, placed at stride steps in the output, summed;
(2) zero-insertion: insert s-1 zeros between input elements, pad by k-1-p, convolve with the flipped kernel;
(3) the matrix view: the convolution is a matrix W, the transposed convolution multiplies by W^T.
Plus the output-size formula with the numbers, the overlap-count heatmap (checkerboards) and the one line
of PyTorch that gives the same numbers.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar, Sequence

import gradio as gr
import numpy as np
import torch
from PIL import Image, ImageDraw

from demos.common import LATEX, book_link, header, pil_font, to_jsonable, user_errors
from demos.router import TabUI
from demos.view import View, ViewValueError, param

TITLE = "Transposed conv"

MAX_INPUT_SIDE = 8
MAX_KERNEL_SIDE = 5
MAX_STRIDE = 4
MAX_PADDING = 4
MAX_ABS_VALUE = 1e6
DRAW_WIDTH = 1180
"""Pictures are at most this wide (readable at 1366x768)."""
MAX_CELL = 54
MIN_NUMBER_CELL = 19
"""Cells smaller than this are drawn as colours only, without their numbers."""

PRESETS: dict[str, dict[str, Any]] = {
    "book: 2×2 example": dict(X="0 1\n2 3", K="0 1\n2 3", stride=1, padding=0, output_padding=0),
    "book: padding 1": dict(X="0 1\n2 3", K="0 1\n2 3", stride=1, padding=1, output_padding=0),
    "book: stride 2": dict(X="0 1\n2 3", K="0 1\n2 3", stride=2, padding=0, output_padding=0),
    "checkerboard: k=3, s=2": dict(
        X="\n".join(["1 1 1 1"] * 4), K="\n".join(["1 1 1"] * 3), stride=2, padding=0, output_padding=0),
    "no checkerboard: k=4, s=2": dict(
        X="\n".join(["1 1 1 1"] * 4), K="\n".join(["1 1 1 1"] * 4), stride=2, padding=1, output_padding=0),
    "output padding: s=2, op=1": dict(
        X="1 2 3\n4 5 6\n7 8 9", K="1 1 1\n1 1 1\n1 1 1", stride=2, padding=1, output_padding=1),
}
DEFAULT_PRESET = "book: 2×2 example"

# --- parsing and validation ------------------------------------------------------------------


def parse_matrix(text: Any, name: str, max_side: int) -> np.ndarray:
    """A small matrix from text: rows on lines, numbers separated by spaces or commas, or JSON [[...], ...].

    Returns (rows, cols) float64. Raises ValueError with a message naming the bad cell.
    """
    if isinstance(text, (list, tuple)):
        rows = [list(r) if isinstance(r, (list, tuple)) else [r] for r in text]
    else:
        source = "" if text is None else str(text).strip()
        if not source:
            raise ValueError(f"{name} is empty: type rows of numbers, one row per line (e.g. '0 1' and '2 3').")
        if source.startswith("["):
            try:
                decoded = json.loads(source)
            except json.JSONDecodeError as error:
                raise ValueError(f"{name}: not valid JSON ({error.msg}); write e.g. [[0, 1], [2, 3]].") from None
            if not isinstance(decoded, list) or not decoded:
                raise ValueError(f"{name}: expected a list of rows, e.g. [[0, 1], [2, 3]].")
            if not isinstance(decoded[0], list):
                decoded = [decoded]
            rows = decoded
        else:
            lines = [line for line in source.replace(";", "\n").splitlines() if line.strip()]
            rows = [line.replace(",", " ").split() for line in lines]
    if not rows or not all(isinstance(r, list) for r in rows):
        raise ValueError(f"{name}: expected rows of numbers.")
    widths = {len(r) for r in rows}
    if 0 in widths:
        raise ValueError(f"{name}: a row is empty.")
    if len(widths) > 1:
        lengths = ", ".join(str(len(r)) for r in rows)
        raise ValueError(f"{name}: all rows must have the same number of entries (got rows of lengths {lengths}).")
    if len(rows) > max_side or len(rows[0]) > max_side:
        raise ValueError(f"{name} is {len(rows)}×{len(rows[0])}: at most {max_side}×{max_side} here.")
    values = np.empty((len(rows), len(rows[0])), dtype=np.float64)
    for i, row in enumerate(rows):
        for j, cell in enumerate(row):
            try:
                if isinstance(cell, bool):
                    raise ValueError
                value = float(cell)
            except (TypeError, ValueError):
                raise ValueError(f"{name}, row {i + 1}, column {j + 1}: {cell!r} is not a number.") from None
            if not math.isfinite(value) or abs(value) > MAX_ABS_VALUE:
                raise ValueError(f"{name}, row {i + 1}, column {j + 1}: {cell!r} must be a finite number "
                                 f"of magnitude at most {MAX_ABS_VALUE:g}.")
            values[i, j] = value
    return values


def _integer(value: Any, name: str, low: int, high: int) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer, got {value!r}.") from None
    if not math.isfinite(number) or number != int(number):
        raise ValueError(f"{name} must be an integer, got {value!r}.")
    if not low <= number <= high:
        raise ValueError(f"{name} must be between {low} and {high}, got {int(number)}.")
    return int(number)


@dataclass
class Problem:
    """A validated transposed convolution: X (h, w), K (kh, kw); stride, padding and output padding are the same
    along both axes."""

    X: np.ndarray
    K: np.ndarray
    stride: int
    padding: int
    output_padding: int

    @property
    def full_shape(self) -> tuple[int, int]:
        """Output shape before the padding crop: ((h-1)s + kh, (w-1)s + kw)."""
        (h, w), (kh, kw) = self.X.shape, self.K.shape
        return (h - 1) * self.stride + kh, (w - 1) * self.stride + kw


def make_problem(X: Any, K: Any, stride: Any = 1, padding: Any = 0, output_padding: Any = 0) -> Problem:
    """Validate the user's inputs (ValueError with a clear message on anything wrong)."""
    x = parse_matrix(X, "Input X", MAX_INPUT_SIDE)
    k = parse_matrix(K, "Kernel K", MAX_KERNEL_SIDE)
    s = _integer(stride, "Stride", 1, MAX_STRIDE)
    p = _integer(padding, "Padding", 0, MAX_PADDING)
    op = _integer(output_padding, "Output padding", 0, MAX_STRIDE - 1)
    if op >= s:
        raise ValueError(f"Output padding must be smaller than the stride (got output padding {op}, stride {s}): "
                         "it only picks among the output sizes a stride-s convolution maps to the same input size.")
    problem = Problem(x, k, s, p, op)
    height, width = output_shape(problem)
    if height < 1 or width < 1:
        raise ValueError(f"Padding {p} is too large: the output would be {height}×{width}. "
                         f"Padding crops p rows/columns from each side of the {problem.full_shape[0]}×"
                         f"{problem.full_shape[1]} scatter-add result.")
    return problem


# --- the math, from core -----------------------------------------------------------------------


def output_shape(problem: Problem) -> tuple[int, int]:
    """(H_out, W_out) = (n - 1) s - 2p + k + output_padding per dimension (core.ops.transposed_conv.output_size)."""
    from core.ops.transposed_conv import output_size

    s, p, op = problem.stride, problem.padding, problem.output_padding
    return tuple(int(output_size(n, k, s, p, op)) for n, k in zip(problem.X.shape, problem.K.shape))


KIND_ELEMENT, KIND_INSERTED, KIND_PADDING = 0, 1, 2
"""Cells of the zero-insertion view: an element of X, an inserted zero, a padding zero."""


@dataclass
class Views:
    """Everything the tab draws, as numpy arrays (float64)."""

    output: np.ndarray  # (H, W) by scatter-add (core.ops.transposed_conv.trans_conv)
    contributions: np.ndarray  # (h*w, Hf, Wf): X[i, j] * K placed at (i*s, j*s) in the output before the crop
    zero_inserted: np.ndarray  # (H + kh - 1, W + kw - 1): zeros inserted, padded by k-1-p (cropped if negative)
    zero_kinds: np.ndarray  # same shape: KIND_ELEMENT / KIND_INSERTED / KIND_PADDING
    element_at: np.ndarray  # same shape: i*w + j where X[i, j] sits, -1 elsewhere
    zero_output: np.ndarray  # (H, W): conv2d(zero_inserted, flipped K)
    W: np.ndarray  # (h*w, H*W): the stride-s convolution (H, W) -> (h, w) as a matrix
    matrix_output: np.ndarray  # (H, W): (W^T vec X) reshaped
    overlap: np.ndarray  # (H, W): how many input elements reach each output element
    torch_output: np.ndarray  # (H, W): torch.nn.functional.conv_transpose2d


def compute(problem: Problem) -> Views:
    """Run every form of the transposed convolution from core, and PyTorch's, on one problem."""
    import core.ops.transposed_conv as tc

    X = torch.as_tensor(problem.X)  # (h, w) float64
    K = torch.as_tensor(problem.K)  # (kh, kw)
    h, w = X.shape
    s, p, op = problem.stride, problem.padding, problem.output_padding
    output = tc.trans_conv(X, K, s, p, op)
    height, width = output.shape
    # padding=0 keeps the whole canvas; the tab outlines the crop window [p, p + H) itself
    placed = tc.scatter_contributions(X, K, s, 0, op)  # (h, w, Hf, Wf)
    contributions = placed.reshape(h * w, *placed.shape[2:])  # (h*w, Hf, Wf), row-major over X
    zero_inserted = tc.zero_insertion_input(X, tuple(K.shape), s, p, op)
    # where each element of X lands: zero-insert the element numbers 1..h*w the same way
    numbers = torch.arange(1, h * w + 1, dtype=torch.float64).reshape(h, w)
    element_at = tc.zero_insertion_input(numbers, tuple(K.shape), s, p, op).round().long() - 1  # -1 = not X
    kinds = torch.full(zero_inserted.shape, KIND_PADDING, dtype=torch.long)
    rows, cols = kinds.shape
    top, left = max(K.shape[0] - 1 - p, 0), max(K.shape[1] - 1 - p, 0)  # the k-1-p border (none when negative)
    bottom, right = max(K.shape[0] - 1 - p + op, 0), max(K.shape[1] - 1 - p + op, 0)
    kinds[top: rows - bottom, left: cols - right] = KIND_INSERTED
    kinds[element_at >= 0] = KIND_ELEMENT
    W = tc.conv_matrix(K, (height, width), s, p)  # (h*w, H*W)
    matrix_output = (W.T @ X.reshape(-1)).reshape(height, width)  # (H*W,) -> (H, W)
    torch_output = torch.nn.functional.conv_transpose2d(X[None, None], K[None, None], stride=s, padding=p,
                                                        output_padding=op)[0, 0]
    arrays = dict(
        output=output, contributions=contributions, zero_inserted=zero_inserted, zero_kinds=kinds,
        element_at=element_at, zero_output=tc.trans_conv_zero_insertion(X, K, s, p, op), W=W,
        matrix_output=matrix_output, overlap=tc.overlap_count((h, w), tuple(K.shape), s, p, op),
        torch_output=torch_output,
    )
    return Views(**{k: v.detach().cpu().numpy() for k, v in arrays.items()})


# --- drawing matrices --------------------------------------------------------------------------------

@lru_cache(maxsize=4096)
def _number_mask(text: str, size: int, max_width: int) -> Image.Image:
    """The text as an 'L' mask, shrunk until it fits `max_width` (cached: the same numbers repeat a lot)."""
    font = pil_font(size)
    while font.getlength(text) > max_width and size > 8:
        size -= 1
        font = pil_font(size)
    left, top, right, bottom = font.getbbox(text)
    mask = Image.new("L", (max(1, right - left), max(1, bottom - top)), 0)
    ImageDraw.Draw(mask).text((-left, -top), text, fill=255, font=font)
    return mask


def _fmt(value: float) -> str:
    if abs(value) < 5e-10:
        return "0"
    if abs(value - round(value)) < 1e-6 and abs(value) < 1e5:
        return str(int(round(value)))
    if abs(value) >= 1e4:
        return f"{value:.2g}"
    return f"{value:.2f}".rstrip("0").rstrip(".")


KIND_FILL = {1: (232, 232, 232), 2: (214, 224, 236)}
"""Cell fills in the zero-insertion view: 1 = inserted zero (grey), 2 = padding (blue-grey)."""


@dataclass
class Grid:
    """A matrix to draw with its numbers. `kinds` marks inserted zeros/padding; `highlight` cells get a thick
    frame; `window` (r0, c0, r1, c1) outlines a sub-rectangle (the crop); `scale` normalises the colours."""

    values: np.ndarray
    title: str
    highlight: Sequence[tuple[int, int]] = ()
    highlight_color: tuple[int, int, int] = (255, 170, 0)
    window: tuple[int, int, int, int] | None = None
    kinds: np.ndarray | None = None
    scale: float | None = None
    sequential: bool = False
    fade: np.ndarray | None = None  # cells drawn faded (outside the crop)
    name: str | None = None  # other grids can `align` their left edge to this one's
    align: str | None = None


@dataclass
class Text:
    text: str


def render_rows(rows: Sequence[Sequence[Grid | Text]], width: int = DRAW_WIDTH, max_cell: int = MAX_CELL,
                max_height: int = 1100) -> np.ndarray:
    """Lay out rows of matrices and operator texts; one cell size for the whole picture. Returns (H, W, 3) uint8."""
    gap, title_h, text_pad = 14, 30, 10
    op_font = pil_font(26)

    def text_width(item: Text) -> float:
        return op_font.getlength(item.text) + 2 * text_pad

    cell = max_cell
    for row in rows:
        cols = sum(item.values.shape[1] for item in row if isinstance(item, Grid))
        fixed = sum(text_width(item) for item in row if isinstance(item, Text)) + gap * (len(row) + 1)
        if cols:
            cell = min(cell, (width - fixed) / cols)
    total_rows = sum(max((item.values.shape[0] for item in row if isinstance(item, Grid)), default=1) for row in rows)
    cell = min(cell, (max_height - len(rows) * (title_h + 2 * gap)) / max(total_rows, 1))
    cell = max(int(cell), 1)
    # widths: a grid at least as wide as its title
    title_font = pil_font(17)

    def grid_width(item: Grid) -> float:
        return max(item.values.shape[1] * cell, title_font.getlength(item.title) + 4)

    row_heights = [max((item.values.shape[0] * cell for item in row if isinstance(item, Grid)), default=30) + title_h
                   for row in rows]
    row_widths = [sum(grid_width(i) if isinstance(i, Grid) else text_width(i) for i in row) + gap * (len(row) + 1)
                  for row in rows]
    image = Image.new("RGB", (int(max(row_widths)), int(sum(row_heights) + gap * (len(rows) + 1))), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    number_font_size = int(cell * 0.4)
    y = gap
    anchors: dict[str, float] = {}
    for row, row_h in zip(rows, row_heights):
        x = gap
        for item in row:
            if isinstance(item, Grid) and item.align in anchors:
                x = max(x, anchors[item.align])
            if isinstance(item, Text):
                w = text_width(item)
                bbox = draw.textbbox((0, 0), item.text, font=op_font)
                draw.text((x + text_pad - bbox[0], y + title_h + (row_h - title_h) / 2 - (bbox[1] + bbox[3]) / 2),
                          item.text, fill=(40, 40, 40), font=op_font)
                x += w + gap
                continue
            if item.name:
                anchors[item.name] = x
            _draw_grid(image, draw, item, int(x), int(y), cell, title_h, title_font, number_font_size)
            x += grid_width(item) + gap
        y += row_h + gap
    return np.asarray(image)


def _cell_colors(grid: Grid) -> np.ndarray:
    """(rows, cols, 3) uint8 fill colours: white -> blue for positive, white -> red for negative values
    (white -> orange for `sequential` counts); inserted zeros and padding grey; faded cells pale."""
    values = grid.values.astype(np.float64)
    scale = grid.scale if grid.scale is not None else (float(np.abs(values).max()) if values.size else 1.0)
    t = np.clip(values / scale, -1.0, 1.0) if scale > 0 else np.zeros_like(values)
    pos, neg = np.clip(t, 0, 1)[..., None], np.clip(-t, 0, 1)[..., None]  # (rows, cols, 1)
    white = np.array([255.0, 255.0, 255.0])
    if grid.sequential:
        colors = white - pos * np.array([0.0, 150.0, 215.0])
    else:
        colors = white - pos * np.array([180.0, 120.0, 0.0]) - neg * np.array([0.0, 150.0, 150.0])
    if grid.kinds is not None:
        for kind, fill in KIND_FILL.items():
            colors[grid.kinds == kind] = fill
    if grid.fade is not None:
        colors[grid.fade] = colors[grid.fade] * 0.35 + 255 * 0.65
    return colors.round().astype(np.uint8)


def _draw_grid(image: Image.Image, draw: ImageDraw.ImageDraw, grid: Grid, x0: int, y0: int, cell: int,
               title_h: int, title_font: Any, number_font_size: int) -> None:
    values = grid.values
    rows, cols = values.shape
    draw.text((x0, y0 + 4), grid.title, fill=(20, 20, 20), font=title_font)
    top = y0 + title_h
    cells = np.repeat(np.repeat(_cell_colors(grid), cell, axis=0), cell, axis=1)  # (rows*cell, cols*cell, 3)
    if cell >= 6:  # grid lines
        cells[::cell, :] = 160
        cells[:, ::cell] = 160
    image.paste(Image.fromarray(cells), (x0, top))
    if cell >= 6:
        draw.rectangle([x0, top, x0 + cols * cell, top + rows * cell], outline=(160, 160, 160))
    if cell >= MIN_NUMBER_CELL:
        muted = np.zeros(values.shape, dtype=bool)
        if grid.kinds is not None:
            muted |= grid.kinds != KIND_ELEMENT
        if grid.fade is not None:
            muted |= grid.fade
        for r in range(rows):
            for c in range(cols):
                mask = _number_mask(_fmt(float(values[r, c])), number_font_size, cell - 4)
                corner = (x0 + c * cell + (cell - mask.width) // 2 + 1, top + r * cell + (cell - mask.height) // 2 + 1)
                image.paste((150, 150, 150) if muted[r, c] else (10, 10, 10), corner, mask)
    for r, c in grid.highlight:
        if 0 <= r < rows and 0 <= c < cols:
            draw.rectangle([x0 + c * cell, top + r * cell, x0 + (c + 1) * cell, top + (r + 1) * cell],
                           outline=grid.highlight_color, width=max(2, cell // 12))
    if grid.window is not None:
        r0, c0, r1, c1 = grid.window
        draw.rectangle([x0 + c0 * cell - 1, top + r0 * cell - 1, x0 + c1 * cell + 1, top + r1 * cell + 1],
                       outline=(220, 30, 30), width=max(2, cell // 14))


# --- the three views -------------------------------------------------------------------------------


def _element(problem: Problem, step: int) -> tuple[int, int] | None:
    """The input element added at scrubber `step` (1-based); None at step 0."""
    if step <= 0:
        return None
    h, w = problem.X.shape
    return divmod(min(step, h * w) - 1, w)


def scatter_view(problem: Problem, views: Views, step: int) -> np.ndarray:
    """X, the current element times K placed in the uncropped output, the partial sum, and the cropped output."""
    h, w = problem.X.shape
    kh, kw = problem.K.shape
    s, p = problem.stride, problem.padding
    full_h, full_w = views.contributions.shape[1:]
    step = min(max(step, 0), h * w)
    element = _element(problem, step)
    partial = views.contributions[:step].sum(axis=0) if step else np.zeros((full_h, full_w))
    scale = float(np.abs(views.contributions.sum(axis=0)).max()) or 1.0
    H, W = views.output.shape
    window = (p, p, p + H, p + W) if (p or problem.output_padding) else None
    fade = None
    if window is not None:
        fade = np.ones((full_h, full_w), dtype=bool)
        fade[p:p + H, p:p + W] = False
    top: list[Grid | Text] = [Grid(problem.X, "input X", highlight=[element] if element else [])]
    if element is not None:
        i, j = element
        placed = views.contributions[step - 1]
        cells = [(i * s + a, j * s + b) for a in range(kh) for b in range(kw)]
        top += [Text(f"X[{i},{j}] * K ="),
                Grid(placed, f"X[{i},{j}] = {_fmt(problem.X[i, j])} times K at ({i * s}, {j * s})",
                     highlight=cells, scale=scale, window=window, fade=fade)]
    else:
        top += [Text("kernel"), Grid(problem.K, "K")]
    top += [Text("sum:"), Grid(partial, f"partial sum after {step}/{h * w} elements", scale=scale, window=window,
                              fade=fade, highlight=cells if element else [], highlight_color=(255, 170, 0))]
    if step == h * w:
        crop = views.output
        title = f"output Y ({H}x{W})" + (" = red window" if window else "")
        top += [Text("="), Grid(crop, title, scale=scale)]
    return render_rows([top])


def zero_insertion_view(problem: Problem, views: Views, step: int) -> np.ndarray:
    """X -> zeros inserted and padded -> convolved with the flipped kernel -> Y."""
    s, p, op = problem.stride, problem.padding, problem.output_padding
    kh, kw = problem.K.shape
    element = _element(problem, step)
    highlight = []
    if element is not None:
        i, j = element
        where = np.argwhere(views.element_at == i * problem.X.shape[1] + j)  # (1, 2), or (0, 2) if cropped away
        highlight = [tuple(int(v) for v in cell) for cell in where]
    flipped = problem.K[::-1, ::-1]
    pad = kh - 1 - p
    row: list[Grid | Text] = [
        Grid(problem.X, "input X", highlight=[element] if element else []),
        Text("->"),
        Grid(views.zero_inserted,
             f"{s - 1} zero(s) between, pad k-1-p = {pad}" + (f" (+{op} bottom/right)" if op else ""),
             kinds=views.zero_kinds, highlight=highlight),
        Text("conv"),
        Grid(flipped, "K flipped"),
        Text("="),
        Grid(views.zero_output, f"output Y {views.output.shape[0]}x{views.output.shape[1]}"),
    ]
    return render_rows([row])


def matrix_view(problem: Problem, views: Views, step: int) -> np.ndarray:
    """vec(Y) = W^T vec(X), drawn as vec(Y)^T = vec(X)^T W: the rows of W weighted by X's elements, summed.

    W (h*w, H*W) is the stride-s convolution with K from (H, W) down to (h, w); its row i*w+j is the kernel
    placed for input element (i, j), i.e. the scatter-add contribution of X[i, j] / X[i, j].
    """
    h, w = problem.X.shape
    H, W_ = views.output.shape
    element = _element(problem, step)
    row = element[0] * w + element[1] if element is not None else None
    x_vec = problem.X.reshape(-1, 1)  # (h*w, 1)
    y_row = views.matrix_output.reshape(1, -1)  # (1, H*W)
    layout = [
        [Grid(x_vec, "vec X", highlight=[(row, 0)] if row is not None else []),
         Text("x"),
         Grid(views.W, f"W ({h * w}x{H * W_}): the convolution {H}x{W_} -> {h}x{w} (same K, s={problem.stride}, "
                       f"p={problem.padding}); row i*{w}+j = K placed for X[i,j]",
              highlight=[(row, c) for c in range(views.W.shape[1])] if row is not None else [], name="W")],
        [Grid(y_row, f"vec(Y)^T = vec(X)^T W = sum of W's rows weighted by X  (= W^T vec X, {H * W_} numbers)",
              align="W")],
        [Text("reshape ->"), Grid(views.matrix_output, f"Y ({H}x{W_})")],
    ]
    return render_rows(layout, max_height=900)


def overlap_view(problem: Problem, views: Views) -> np.ndarray:
    counts = views.overlap
    return render_rows([[Grid(counts, "how many input elements reach each output element", sequential=True,
                              scale=float(counts.max()) or 1.0)]], width=760)


# --- texts -------------------------------------------------------------------------------------------


def formula_markdown(problem: Problem, shape: tuple[int, int]) -> str:
    (h, w), (kh, kw) = problem.X.shape, problem.K.shape
    s, p, op = problem.stride, problem.padding, problem.output_padding
    return (
        "**Output size** (per dimension)\n\n"
        r"$$n_\text{out} = (n-1)\,s - 2p + k + \text{output\_padding}$$" + "\n\n"
        f"$$\\text{{rows}} = ({h}-1)\\cdot{s} - 2\\cdot{p} + {kh} + {op} = {shape[0]}$$\n\n"
        f"$$\\text{{columns}} = ({w}-1)\\cdot{s} - 2\\cdot{p} + {kw} + {op} = {shape[1]}$$"
    )


def overlap_note(problem: Problem, views: Views) -> str:
    kh, kw = problem.K.shape
    s = problem.stride
    even = kh % s == 0 and kw % s == 0
    counts = views.overlap
    inner = counts[problem.K.shape[0] - 1: counts.shape[0] - problem.K.shape[0] + 1,
                   problem.K.shape[1] - 1: counts.shape[1] - problem.K.shape[1] + 1]
    interior = inner if inner.size else counts
    spread = f"{int(interior.min())}–{int(interior.max())}"
    if even:
        return (f"Kernel {kh}×{kw} is divisible by stride {s}: away from the border every output element receives "
                f"the same number of contributions (interior counts {spread}), no checkerboard.")
    return (f"Kernel {kh}×{kw} is **not divisible** by stride {s}: neighbouring output elements receive different "
            f"numbers of contributions (interior counts {spread}) → the **checkerboard** pattern of "
            "[Odena et al., Distill 2016](https://distill.pub/2016/deconv-checkerboard/).")


def _tensor_literal(values: np.ndarray) -> str:
    """[[0., 1.5], [2., 3.]]: exact, and written as floats so that torch.tensor makes a float tensor."""
    def number(v: float) -> str:
        text = np.format_float_positional(v, trim="-")
        return text + "." if text.lstrip("-").isdigit() else text
    return "[" + ", ".join("[" + ", ".join(number(float(v)) for v in row) + "]" for row in values) + "]"


def torch_code(problem: Problem) -> str:
    X = _tensor_literal(problem.X)
    K = _tensor_literal(problem.K)
    extra = f", output_padding={problem.output_padding}" if problem.output_padding else ""
    return (
        "import torch\n"
        f"X = torch.tensor({X})\n"
        f"K = torch.tensor({K})\n"
        f"Y = torch.nn.functional.conv_transpose2d(X[None, None], K[None, None], stride={problem.stride}, "
        f"padding={problem.padding}{extra})[0, 0]"
    )


def _matrix_text(values: np.ndarray) -> str:
    cells = [[_fmt(float(v)) for v in row] for row in values]
    width = max(len(c) for row in cells for c in row)
    return "\n".join(" ".join(c.rjust(width) for c in row) for row in cells)


# --- endpoints ---------------------------------------------------------------------------------------


def transposed_conv_result(X: Any, K: Any, stride: Any = 1, padding: Any = 0, output_padding: Any = 0) -> dict:
    """The numbers: output, its size and formula, the overlap counts, W, and the PyTorch check."""
    problem = make_problem(X, K, stride, padding, output_padding)
    views = compute(problem)
    return _result(problem, views)


def _json_matrix(values: np.ndarray) -> list[list[float]]:
    return np.round(values.astype(np.float64), 6).tolist()


def _result(problem: Problem, views: Views) -> dict:
    matches = bool(np.allclose(views.output, views.torch_output, rtol=1e-6, atol=1e-6))
    views_agree = all(np.allclose(views.output, other, rtol=1e-9, atol=1e-9)
                      for other in (views.zero_output, views.matrix_output, views.contributions.sum(axis=0)[
                          problem.padding: problem.padding + views.output.shape[0],
                          problem.padding: problem.padding + views.output.shape[1]]))
    (h, w), (kh, kw) = problem.X.shape, problem.K.shape
    return to_jsonable({
        "output": _json_matrix(views.output),
        "output_size": list(views.output.shape),
        "output_size_formula": f"({h}-1)*{problem.stride} - 2*{problem.padding} + {kh} + {problem.output_padding}"
                               f" = {views.output.shape[0]}; ({w}-1)*{problem.stride} - 2*{problem.padding} + {kw}"
                               f" + {problem.output_padding} = {views.output.shape[1]}",
        "pytorch_output": _json_matrix(views.torch_output),
        "matches_pytorch": matches,
        "views_agree": views_agree,  # scatter-add, zero-insertion and W^T vec(X) give the same numbers
        "max_abs_difference": float(np.abs(views.output - views.torch_output).max()),
        "overlap_count": views.overlap.astype(int).tolist(),
        "checkerboard": bool(kh % problem.stride or kw % problem.stride),
        "conv_matrix_shape": list(views.W.shape),
        "zero_inserted_input": _json_matrix(views.zero_inserted),
        "stride": problem.stride,
        "padding": problem.padding,
        "output_padding": problem.output_padding,
        "pytorch_code": torch_code(problem).splitlines()[-1],
    })


def transposed_conv(X: str, K: str, stride: int = 1, padding: int = 0, output_padding: int = 0) -> dict:
    """The `transposed_conv` endpoint: JSON numbers only."""
    with user_errors():
        return transposed_conv_result(X, K, stride, padding, output_padding)


def transposed_conv_views(X: str, K: str, stride: float, padding: float, output_padding: float, step: float):
    """The tab's main action: formula, the three views at scrubber `step`, overlap, PyTorch line and value, JSON."""
    with user_errors():
        problem = make_problem(X, K, stride, padding, output_padding)
        views = compute(problem)
        h, w = problem.X.shape
        step_value = int(min(max(float(step if step is not None else h * w), 0), h * w))
        result = _result(problem, views)
    status = "identical to our scatter-add result" if result["matches_pytorch"] else "DIFFERENT from our result"
    return (
        formula_markdown(problem, views.output.shape),
        gr.update(maximum=h * w, value=step_value),
        scatter_view(problem, views, step_value),
        zero_insertion_view(problem, views, step_value),
        matrix_view(problem, views, step_value),
        overlap_view(problem, views),
        overlap_note(problem, views),
        torch_code(problem),
        f"**PyTorch says** ({status}):\n```\n{_matrix_text(views.torch_output)}\n```",
        result,
    )


def _preset(name: str):
    preset = PRESETS.get(name)
    if preset is None:
        raise gr.Error(f"Unknown preset {name!r}.")
    return preset["X"], preset["K"], preset["stride"], preset["padding"], preset["output_padding"]


EXPLANATION = r"""
A **transposed convolution** maps each input element to a $k_h\times k_w$ patch:
$Y[is{+}a,\, js{+}b] \mathrel{+}= X[i,j]\,K[a,b]$, then crops $p$ rows/columns from each border.
It equals an ordinary convolution of the zero-inserted, padded input with the 180°-flipped kernel, and,
writing the stride-$s$ convolution $Y\mapsto X$ as a matrix $W$, it is
$\operatorname{vec}(Y) = W^\top \operatorname{vec}(X)$ — hence the name. Edit X and K (one row per line).
"""


@dataclass(frozen=True)
class TransposedConvView(View):
    """The tab's state: the problem, the scatter-add step shown, and the sub-tab (``part``)."""

    PARTS: ClassVar[tuple[str, ...]] = ("scatter", "zero", "matrix", "overlap")

    X: str = param(PRESETS[DEFAULT_PRESET]["X"], label="input X", max_length=300)
    K: str = param(PRESETS[DEFAULT_PRESET]["K"], label="kernel K", max_length=200)
    stride: int = param(1, low=1, high=MAX_STRIDE, label="stride s")
    padding: int = param(0, low=0, high=MAX_PADDING, label="padding p")
    output_padding: int = param(0, low=0, high=MAX_STRIDE - 1, label="output padding")
    step: int = param(MAX_INPUT_SIDE ** 2, low=0, high=MAX_INPUT_SIDE ** 2, label="scatter-add step")

    def validate(self) -> None:
        try:
            make_problem(self.X, self.K, self.stride, self.padding, self.output_padding)
        except ValueError as error:
            raise ViewValueError(str(error).rstrip(".")) from None


def show(view: TransposedConvView) -> tuple:
    """The whole tab for one view (see `transposed_conv_views`)."""
    return transposed_conv_views(view.X, view.K, view.stride, view.padding, view.output_padding, view.step)


def _image(elem_id: str, height: int) -> gr.Image:
    return gr.Image(type="numpy", format="png", show_label=False, interactive=False, height=height,
                    buttons=["download", "fullscreen"], elem_id=elem_id)


def build() -> TabUI:
    header("Transposed convolution: scatter-add, zero-insertion, matrix", EXPLANATION,
           book_link("transposed-conv.html", "14.10 Transposed Convolution"))
    default = TransposedConvView()
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=300):
            preset = gr.Dropdown(list(PRESETS), value=DEFAULT_PRESET, label="preset", elem_id="tc-preset")
            with gr.Row():
                x_box = gr.Textbox(value=default.X, lines=4, max_lines=8,
                                   label=f"input X (≤ {MAX_INPUT_SIDE}×{MAX_INPUT_SIDE})",
                                   min_width=120, elem_id="tc-x")
                k_box = gr.Textbox(value=default.K, lines=4, max_lines=5,
                                   label=f"kernel K (≤ {MAX_KERNEL_SIDE}×{MAX_KERNEL_SIDE})",
                                   min_width=120, elem_id="tc-k")
            stride = gr.Slider(1, MAX_STRIDE, value=default.stride, step=1, label="stride s")
            padding = gr.Slider(0, MAX_PADDING, value=default.padding, step=1, label="padding p")
            output_padding = gr.Slider(0, MAX_STRIDE - 1, value=default.output_padding, step=1,
                                       label="output padding (< s)")
            run = gr.Button("Compute", variant="primary", size="sm", elem_id="tc-run")
            formula = gr.Markdown(latex_delimiters=LATEX, elem_id="tc-formula")
        with gr.Column(scale=8, min_width=600):
            step = gr.Slider(0, MAX_INPUT_SIDE ** 2, value=default.step, step=1,
                             label="scatter-add step: input elements added so far (all three views highlight it)",
                             elem_id="tc-step")
            with gr.Tabs() as parts:
                with gr.Tab("① scatter-add", id="scatter"):
                    scatter = _image("tc-scatter", 330)
                with gr.Tab("② zero-insertion + convolution", id="zero"):
                    zero = _image("tc-zero", 330)
                with gr.Tab("③ matrix  Wᵀ", id="matrix"):
                    matrix = _image("tc-matrix", 420)
                with gr.Tab("overlap count (checkerboard)", id="overlap"):
                    with gr.Row():
                        overlap = _image("tc-overlap", 330)
                        overlap_md = gr.Markdown()
            with gr.Row(equal_height=False):
                code = gr.Code(language="python", label="the same in one line of PyTorch", interactive=False,
                               scale=3, elem_id="tc-code", wrap_lines=True, lines=4)
                torch_value = gr.Markdown(elem_id="tc-torch-value")
            with gr.Accordion("all the numbers (JSON, as the transposed_conv endpoint returns them)", open=False):
                result = gr.JSON(show_label=False, max_height=400)

    problem_inputs = [x_box, k_box, stride, padding, output_padding]
    outputs = [formula, step, scatter, zero, matrix, overlap, overlap_md, code, torch_value, result]
    full = lambda *args: transposed_conv_views(*args, MAX_INPUT_SIDE ** 2)  # noqa: E731 - show the finished sum
    step.input(transposed_conv_views, inputs=[*problem_inputs, step], outputs=outputs,
               api_name="transposed_conv_step_ui", api_visibility="private", trigger_mode="always_last",
               show_progress="hidden")
    # The public endpoint reads its step from a hidden number (the slider's maximum changes per session).
    api_step = gr.Number(value=MAX_INPUT_SIDE ** 2, precision=0, visible=False)
    api_button = gr.Button(visible=False)
    api_button.click(transposed_conv_views, inputs=[*problem_inputs, api_step], outputs=outputs,
                     api_name="transposed_conv_views")
    gr.on([run.click, x_box.submit, k_box.submit, stride.release, padding.release, output_padding.release],
          full, inputs=problem_inputs, outputs=outputs, api_name="transposed_conv_ui", api_visibility="private",
          show_progress="minimal")
    preset.input(_preset, inputs=preset, outputs=problem_inputs, api_name="transposed_conv_preset_ui",
                 api_visibility="private").then(
        full, inputs=problem_inputs, outputs=outputs, api_name="transposed_conv_ui", api_visibility="private",
        show_progress="minimal")
    gr.api(transposed_conv, api_name="transposed_conv")
    return TabUI(TransposedConvView, [*problem_inputs, step], outputs, show, parts=parts)
