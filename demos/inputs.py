"""Checking what a student or an API client typed: numbers, seeds, lists, JSON, choices.

Every function names the control in its message (``"IoU threshold must be between 0 and 1, got 1.5."``) and
raises `gr.Error`, which Gradio shows as a message while the server keeps serving. `user_errors` turns the
`ValueError`s that core raises for bad input into the same kind of message. This is the one place where the tabs'
inputs are checked; a tab's own rules (a matrix, a box table) build on these.
"""

from __future__ import annotations

import contextlib
import json
import math
from typing import Any, Iterator, Sequence

import gradio as gr

from core.data.images import ImageLoadError

MAX_SEED = 2**31 - 1
"""Seeds are whole numbers from 0 to this (what every per-request generator accepts)."""

MAX_JSON_BYTES = 200_000
"""Longest JSON text accepted from a control (a pipeline, a list of candidates)."""


def number(value: Any, name: str, *, low: float | None = None, high: float | None = None, whole: bool = False,
           default: float | None = None) -> float:
    """`value` as a finite number within [low, high] (an int when `whole`); `default` stands for an empty input.

    Raises gr.Error naming `name` for anything else (text, NaN, a bool, out of range, a fraction when `whole`).
    """
    if default is not None and (value is None or (isinstance(value, str) and not value.strip())):
        value = default
    expected = ("a whole number" if whole else "a number") + _range(low, high, whole)
    if isinstance(value, bool):
        raise gr.Error(f"{name} must be {expected}, got {value!r}.")
    try:
        parsed = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise gr.Error(f"{name} must be {expected}, got {_shown(value)}.") from None
    if not math.isfinite(parsed) or (whole and parsed != int(parsed)):
        raise gr.Error(f"{name} must be {expected}, got {_shown(value)}.")
    if (low is not None and parsed < low) or (high is not None and parsed > high):
        raise gr.Error(f"{name} must be {expected}, got {_shown(value)}.")
    return int(parsed) if whole else parsed


def whole(value: Any, name: str, *, low: int | None = None, high: int | None = None,
          default: int | None = None) -> int:
    """`number(..., whole=True)` typed as an int."""
    return int(number(value, name, low=low, high=high, whole=True, default=default))


def seed(value: Any, name: str = "Seed") -> int:
    """A seed: a whole number from 0 to `MAX_SEED`."""
    return whole(value, name, low=0, high=MAX_SEED)


def fraction(value: Any, name: str) -> float:
    """A number from 0 to 1 (a threshold, an opacity)."""
    return number(value, name, low=0.0, high=1.0)


def number_list(text: Any, name: str, *, low: float | None = None, high: float | None = None,
                above_low: bool = True, min_count: int = 1, max_count: int = 64) -> list[float]:
    """'0.75, 0.5 0.25' (commas, semicolons or spaces) as floats. With `above_low` the values must exceed `low`
    (sizes and ratios are positive); otherwise they may equal it."""
    parts = [p for p in str("" if text is None else text).replace(";", ",").replace(" ", ",").split(",") if p.strip()]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise gr.Error(f"{name}: expected numbers separated by commas, got {_shown(text)}.") from None
    if not min_count <= len(values) <= max_count:
        raise gr.Error(f"{name}: expected between {min_count} and {max_count} numbers, got {len(values)}.")
    for value in values:
        if not math.isfinite(value):
            raise gr.Error(f"{name}: {value} is not a finite number.")
        if low is not None and (value <= low if above_low else value < low):
            raise gr.Error(f"{name}: every value must be {'greater than' if above_low else 'at least'} {low:g}, "
                           f"got {value:g}.")
        if high is not None and value > high:
            raise gr.Error(f"{name}: every value must be at most {high:g}, got {value:g}.")
    return values


def choice(value: Any, name: str, choices: Sequence[str]) -> str:
    """One of `choices` (an API client may send anything)."""
    if value not in choices:
        raise gr.Error(f"{name} must be one of {', '.join(map(str, choices))}; got {_shown(value)}.")
    return str(value)


def json_text(text: Any, name: str, *, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """The value of a JSON text, with the line and column of a syntax error in the message."""
    source = "" if text is None else str(text)
    if not source.strip():
        raise gr.Error(f"{name} is empty: paste JSON text.")
    if len(source.encode()) > max_bytes:
        raise gr.Error(f"{name} is too long ({len(source.encode()):,} bytes; at most {max_bytes:,}).")
    try:
        return json.loads(source)
    except json.JSONDecodeError as error:
        raise gr.Error(f"{name} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}.") from None


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn the ValueError / ImageLoadError that core raises for bad input into a readable `gr.Error`."""
    try:
        yield
    except gr.Error:
        raise
    except (ValueError, ImageLoadError) as error:
        raise gr.Error(str(error)) from None


def _range(low: float | None, high: float | None, whole: bool) -> str:
    def shown(bound: float) -> str:
        return str(int(bound)) if whole and float(bound).is_integer() else f"{bound:g}"

    if low is not None and high is not None:
        return f" between {shown(low)} and {shown(high)}"
    if low is not None:
        return f" of at least {shown(low)}"
    if high is not None:
        return f" of at most {shown(high)}"
    return ""


def _shown(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
