"""The Lecture tab's links into one tab, read as the lab reads an address (shared by the tabs' tests)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence
from urllib.parse import parse_qsl

from core.lecture import lecture_step, num_steps

VARIANTS = range(6)
"""The variants a class may be shown (`core.lecture` draws six per step)."""


@dataclass(frozen=True)
class LectureLink:
    """One lecture step's link (`step`: what `lecture_step` returns) and what the tab's view read from it."""

    number: int
    variant: int
    step: dict[str, Any]
    view: Any
    part: str | None


def lecture_links_into(view_class: Any, variants: Sequence[int] = VARIANTS) -> list[LectureLink]:
    """Every step and variant whose link opens `view_class`'s tab, its address parsed by the view as a fresh page
    would (`from_query`, `part_from_query`). Asserts that the link gives no notice, for the view or its sub-tab."""
    links = []
    for number in range(1, num_steps() + 1):
        for variant in variants:
            step = lecture_step(number, variant)
            if step["link_tab"] != view_class.TAB:
                continue
            query = dict(parse_qsl(step["link"].lstrip("?")))
            view, notices = view_class.from_query(query)
            part, part_notices = view_class.part_from_query(query)
            assert notices == [] and part_notices == [], (number, variant, notices, part_notices)
            links.append(LectureLink(number, variant, step, view, part))
    return links
