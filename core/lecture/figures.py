"""Small vector figures for the lecture, as plain data: rectangles, lines and texts in figure units.

Core computes where things go (with the lab's box, anchor and convolution functions); the UI draws them (SVG,
`demos.lecture`). The y axis points down, as in images. A shape's `role` names its meaning, not its colour: the
renderer gives each role a colour *and* a line style, and every role that carries meaning also has a text label,
so colour never carries meaning alone.

Roles: "frame" (image outline), "a" ... "e" (first, second, ... box: solid, dashed, dotted, dash-dot, long dash),
"muted" (grey, dashed: removed or not asked), "cell" (a matrix cell), "highlight" (a marked cell or region,
filled), "unknown" (the cell asked about), "text".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "Rect",
    "Line",
    "Text",
    "Figure",
    "BOX_ROLES",
    "box_role",
    "matrix",
    "labelled_box",
    "fit",
]

BOX_ROLES = ("a", "b", "c", "d", "e")


def box_role(index: int) -> str:
    """The role of the index-th box (cycles through `BOX_ROLES`)."""
    return BOX_ROLES[index % len(BOX_ROLES)]


@dataclass(frozen=True)
class Rect:
    x1: float
    y1: float
    x2: float
    y2: float
    role: str = "a"
    fill: bool = False  # filled (translucent) instead of outlined


@dataclass(frozen=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    role: str = "frame"


@dataclass(frozen=True)
class Text:
    x: float
    y: float  # baseline
    text: str
    size: float = 1.0  # relative to the figure's base font size
    anchor: str = "middle"  # "start", "middle" or "end"
    role: str = "text"


Shape = Rect | Line | Text


@dataclass(frozen=True)
class Figure:
    """A picture of `width` x `height` figure units; `description` is its text alternative (no answers in it)."""

    width: float
    height: float
    shapes: tuple[Shape, ...]
    description: str
    font: float = 0.0  # base font size in figure units; 0 = max(width, height) / 30
    left: float = 0.0  # figure coordinates of the top-left corner (the view box starts here)
    top: float = 0.0

    @property
    def font_size(self) -> float:
        return self.font or max(self.width, self.height) / 30


def labelled_box(box: Sequence[float], label: str, role: str, font: float, below: bool = False) -> list[Shape]:
    """A rectangle (x1, y1, x2, y2) with its label just above its top-left corner (or inside, below the top)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    y_text = y1 + 1.1 * font if below or y1 < 1.2 * font else y1 - 0.3 * font
    return [Rect(x1, y1, x2, y2, role), Text(x1 + 0.2 * font, y_text, label, 0.9, "start", role)]


def _cell_text(value: float | str) -> str:
    if isinstance(value, str):
        return value
    return f"{value:g}"


def matrix(values: Sequence[Sequence[float | str]], x: float, y: float, cell: float, title: str = "",
           highlight: Iterable[tuple[int, int]] = (), unknown: Iterable[tuple[int, int]] = ()) -> list[Shape]:
    """A grid of numbers with its top-left corner at (x, y): cells `highlight` are filled, cells `unknown` are
    drawn with a "?" instead of their value (the value is never put into the figure). A title goes above it."""
    marked, hidden = set(highlight), set(unknown)
    shapes: list[Shape] = []
    if title:
        shapes.append(Text(x, y - 0.35 * cell, title, 0.9, "start"))
    for i, row in enumerate(values):
        for j, value in enumerate(row):
            left, top = x + j * cell, y + i * cell
            role = "unknown" if (i, j) in hidden else "highlight" if (i, j) in marked else "cell"
            shapes.append(Rect(left, top, left + cell, top + cell, role, fill=role != "cell"))
            shapes.append(Text(left + cell / 2, top + 0.62 * cell, "?" if (i, j) in hidden else _cell_text(value)))
    return shapes


def fit(shapes: Sequence[Shape], description: str, font: float, margin: float | None = None) -> Figure:
    """A figure just large enough for `shapes` (texts counted at about 0.6 font widths per character)."""
    margin = font if margin is None else margin
    xs: list[float] = []
    ys: list[float] = []
    for shape in shapes:
        if isinstance(shape, Text):
            half = 0.6 * font * shape.size * len(shape.text)
            start = {"start": shape.x, "middle": shape.x - half / 2, "end": shape.x - half}[shape.anchor]
            xs += [start, start + half]
            ys += [shape.y - font * shape.size, shape.y + 0.3 * font * shape.size]
        else:
            xs += [shape.x1, shape.x2]
            ys += [shape.y1, shape.y2]
    left, top = min(xs) - margin, min(ys) - margin
    return Figure(max(xs) + margin - left, max(ys) + margin - top, tuple(shapes), description, font, left, top)
