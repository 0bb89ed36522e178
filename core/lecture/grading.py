"""Reading a prediction and saying how far it was from the answer."""

from __future__ import annotations

import math
import re

from core.lecture.model import Grade, Question

__all__ = ["PredictionError", "MAX_PREDICTION_CHARS", "format_number", "parse_number", "grade_question"]

MAX_PREDICTION_CHARS = 64
"""Longer predictions are refused (the class poll stores answers of at most this many characters)."""

_THOUSANDS = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")


class PredictionError(ValueError):
    """A prediction that cannot be graded (empty, not a number, not one of the options); the message says why."""


def format_number(value: float) -> str:
    """How the lecture writes a number: whole numbers exactly (with thousands separators from 10,000), others
    with 5 significant digits (420.75, 0.17241, 0.69315)."""
    value = float(value)
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) < 1e15:
        return f"{int(value):,}" if abs(value) >= 10_000 else str(int(value))
    if abs(value) >= 10_000:
        return f"{value:,.1f}"
    return f"{value:.5g}"


def parse_number(prediction: object) -> float:
    """A numeric prediction from what a student typed: ``"0.25"``, ``" -3 "``, ``"2,042,040"``, ``"1e3"``.

    Raises:
        PredictionError: empty, too long, not a number (a decimal comma gets its own hint), or not finite.
    """
    if isinstance(prediction, bool):
        raise PredictionError("Type a number as your prediction, not true/false.")
    if isinstance(prediction, (int, float)):
        value = float(prediction)
    else:
        text = "" if prediction is None else str(prediction)
        if len(text) > MAX_PREDICTION_CHARS:
            raise PredictionError(f"A prediction has at most {MAX_PREDICTION_CHARS} characters.")
        cleaned = re.sub(r"[\s_\u00a0\u2009\u202f]", "", text).replace("\u2212", "-")
        if not cleaned:
            raise PredictionError("Enter your prediction first: a number, such as 12 or 0.25.")
        if "," in cleaned:
            if not _THOUSANDS.fullmatch(cleaned):
                raise PredictionError(f"{text.strip()!r} is not a number here: write decimals with a dot (0.5) and "
                                      "use commas only between thousands (2,042,040).")
            cleaned = cleaned.replace(",", "")
        try:
            value = float(cleaned)
        except ValueError:
            raise PredictionError(f"{text.strip()!r} is not a number: type digits, such as 12 or 0.25.") from None
    if not math.isfinite(value):
        raise PredictionError(f"The prediction must be a finite number, got {prediction!r}.")
    return value


def _choice(prediction: object, options: tuple[str, ...]) -> str:
    text = "" if prediction is None else str(prediction).strip()
    if not text:
        raise PredictionError("Choose one of the options first.")
    if text not in options:
        listed = "; ".join(options)
        raise PredictionError(f"{text[:MAX_PREDICTION_CHARS]!r} is not one of the options: {listed}.")
    return text


def _difference(value: float) -> str:
    """A difference to two significant digits (0.0075862 -> 0.0076), whole numbers exactly."""
    return format_number(value if float(value).is_integer() else float(f"{value:.2g}"))


def _percent(relative: float) -> str:
    return f"{relative:.1%}" if relative < 0.1 else f"{relative:.0%}"


def grade_question(question: Question, prediction: object) -> Grade:
    """Compare a prediction with the question's answer.

    Numbers: correct when ``|prediction - answer| <= tolerance`` (plus a rounding allowance of 1e-9 times the
    answer's size). Choices: correct when the prediction is the answer.

    Raises:
        PredictionError: the prediction cannot be read (see `parse_number`) or is not among the options.
    """
    if question.kind == "choice":
        chosen = _choice(prediction, question.options)
        answer = str(question.answer)
        if chosen == answer:
            message = f"Right: “{answer}”."
        else:
            message = f"Not this time: you chose “{chosen}”; the answer is “{answer}”."
        return Grade(correct=chosen == answer, prediction=chosen, answer=answer, answer_text=answer, message=message)

    value = parse_number(prediction)
    answer = float(question.answer)
    error = value - answer
    relative = abs(error) / abs(answer) if answer != 0 else None
    correct = abs(error) <= question.tolerance + 1e-9 * max(1.0, abs(answer))
    unit = f" {question.unit}" if question.unit else ""
    answer_text = format_number(answer) + unit
    off = f"off by {_difference(abs(error))}{unit}" + (f", {_percent(relative)}" if relative is not None else "")
    if error == 0:
        message = f"Exactly right: {answer_text}."
    elif correct:
        message = (f"Right: {format_number(value)} is within ±{format_number(question.tolerance)} of "
                   f"{answer_text} ({off}).")
    else:
        direction = "too high" if error > 0 else "too low"
        share = f" ({_percent(relative)} off)" if relative is not None else ""
        message = (f"Not quite: {format_number(value)} is {_difference(abs(error))}{unit} {direction}{share}; "
                   f"the answer is {answer_text}.")
    return Grade(correct=correct, prediction=value, answer=answer, answer_text=answer_text, message=message,
                 error=error, relative_error=relative)
