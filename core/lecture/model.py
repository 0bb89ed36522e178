"""The lecture's value types: a step, one variant of its question, a link into the lab, a grade.

Steps are numbered from 1 for people (``?tab=lecture&step=3``); `Step.id` is a stable slug for code.
A variant is a non-negative integer: variant 0 asks about the book's own numbers, every other variant draws new
ones with ``numpy.random.default_rng(variant)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import quote

from core.lecture.figures import Figure

__all__ = ["LinkValue", "LabLink", "Question", "Step", "Grade", "MAX_VARIANT", "check_variant"]

LinkValue = str | int | float | bool

MAX_VARIANT = 2**31 - 1
"""Variants are integers in [0, MAX_VARIANT] (numpy's default_rng accepts any of them)."""


def check_variant(variant: object) -> int:
    """The variant as an int, or a ValueError that says what a variant is."""
    if isinstance(variant, bool):
        raise ValueError(f"The variant must be a whole number between 0 and {MAX_VARIANT}, got {variant!r}.")
    try:
        number = float(variant)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"The variant must be a whole number between 0 and {MAX_VARIANT}, got {variant!r}.") from None
    if not (number.is_integer() and 0 <= number <= MAX_VARIANT):
        raise ValueError(f"The variant must be a whole number between 0 and {MAX_VARIANT}, got {variant!r}.")
    return int(number)


_MATH = re.compile(r"\$[^$]+\$")
_THOUSANDS_IN_MATH = re.compile(r"(\d),(?=\d{3}(?!\d))")


def math_thousands(text: str) -> str:
    """Thousands separators inside $...$ written ``{,}``, which KaTeX sets without the space it puts after a
    comma: ``$10,000$`` -> ``$10{,}000$``. Text outside formulas is unchanged."""
    return _MATH.sub(lambda m: _THOUSANDS_IN_MATH.sub(r"\1{,}", m.group(0)), text)


def _link_text(value: LinkValue) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


@dataclass(frozen=True)
class LabLink:
    """A tab of the lab in a given state: ``LabLink("nms", {"source": "book", "iou": 0.5}).query()`` is
    ``"?tab=nms&source=book&iou=0.5"``. Booleans are written 1/0, floats with 6 significant digits; values are
    URL-encoded (spaces as %20, line breaks as %0A: ``"0 1\n2 3"`` is ``0%201%0A2%203``)."""

    tab: str
    params: Mapping[str, LinkValue] = field(default_factory=dict)

    def query(self) -> str:
        parts = [("tab", self.tab), *((key, _link_text(value)) for key, value in self.params.items())]
        return "?" + "&".join(f"{quote(key, safe='')}={quote(text, safe=',.-_')}" for key, text in parts)


@dataclass(frozen=True)
class Question:
    """One step's question for one variant, with everything the reveal needs.

    ``kind == "number"``: `answer` is a float, a prediction within `tolerance` (absolute) of it is correct.
    ``kind == "choice"``: `answer` is one of `options` (2 to 5 strings, shuffled per variant).
    `figure` shows the setup and never the answer; `reveal_figure` (optional) belongs to the reveal.
    `params` are the numbers drawn for this variant (plain JSON values).
    """

    kind: Literal["number", "choice"]
    text: str  # Markdown, may hold $...$ LaTeX
    answer: float | str
    explanation: str  # Markdown, uses this variant's numbers
    link: LabLink
    options: tuple[str, ...] = ()
    tolerance: float = 0.0
    unit: str = ""
    figure: Figure | None = None
    reveal_figure: Figure | None = None
    params: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", math_thousands(self.text))
        object.__setattr__(self, "explanation", math_thousands(self.explanation))


@dataclass(frozen=True)
class Step:
    """One step of the lecture: what it teaches (same for every variant) and how it asks (per variant)."""

    id: str  # stable slug, e.g. "anchor-count"
    topics: tuple[int, ...]  # numbers of the outline's topics it covers (1..21)
    title: str
    idea: str  # two to four sentences, Markdown
    formula: str | None  # LaTeX for display math (no $$), or None
    source: tuple[str, str]  # (label, URL) of the book section or paper
    ask: Callable[[int], Question]  # variant -> question


@dataclass(frozen=True)
class Grade:
    """How a prediction compares with the answer.

    For numbers `error` is ``prediction - answer`` and `relative_error` ``|error| / |answer|`` (None when the
    answer is 0); for choices both are None.
    """

    correct: bool
    prediction: float | str
    answer: float | str
    answer_text: str  # the answer as the page shows it
    message: str  # one sentence for the student
    error: float | None = None
    relative_error: float | None = None
