"""Helpers the step modules share: per-step random generators, shuffled options, number formatting, sources."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from core.lecture.grading import format_number

D2L_CV = "https://d2l.ai/chapter_computer-vision/"
D2L_GAN = "https://d2l.ai/chapter_generative-adversarial-networks/"


def rng(variant: int, salt: str) -> np.random.Generator:
    """``numpy.random.default_rng`` seeded by the variant and a name (a step id, or a setup shared by steps), so
    that two steps asking about the same setup draw the same numbers and unrelated steps draw different ones."""
    return np.random.default_rng([variant, zlib.crc32(salt.encode())])


def shuffled(variant: int, salt: str, answer: str, distractors: Sequence[str]) -> tuple[tuple[str, ...], str]:
    """The answer and the distractors in an order drawn from the variant; returns (options, answer)."""
    options = [answer, *distractors]
    order = rng(variant, salt + "/options").permutation(len(options))
    return tuple(options[i] for i in order), answer


def fmt(value: float) -> str:
    """A number as the lecture writes it (see `format_number`)."""
    return format_number(value)


def fmt_list(values: Sequence[float], sep: str = ", ") -> str:
    return sep.join(fmt(v) for v in values)


def fmt_box(box: Sequence[float]) -> str:
    return "(" + fmt_list(box) + ")"


def fmt_matrix(rows: Sequence[Sequence[float]]) -> str:
    return "[" + ", ".join("[" + fmt_list(row) + "]" for row in rows) + "]"
