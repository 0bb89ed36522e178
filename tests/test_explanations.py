"""Every explanation the app shows is clean text: no control characters (a Python escape such as "\\b" or "\\f" in
a non-raw string turns `\\big` into a backspace and `\\frac` into a form feed, and KaTeX then shows a red error),
and the formula delimiters pair up. Walks the components of the built Blocks of every tab.

That every formula renders in KaTeX is checked in the browser (tests/browser/test_layout_browser.py).
"""

from __future__ import annotations

import re

import gradio as gr
import pytest

CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
"""Control characters other than the newline."""

TEXT_ATTRIBUTES = ("value", "label", "info", "placeholder")


@pytest.fixture(scope="module")
def blocks(monkeypatch_module) -> gr.Blocks:
    import app

    monkeypatch_module.delenv("LAB_TABS", raising=False)
    return app.build_app()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def _texts(blocks: gr.Blocks) -> list[tuple[str, str]]:
    """(where, text) for every text a student reads: Markdown, labels, info lines, placeholders, headers, choices."""
    texts = []
    for block in blocks.blocks.values():
        kind = type(block).__name__
        for attribute in TEXT_ATTRIBUTES:
            value = getattr(block, attribute, None)
            if isinstance(value, str):
                texts.append((f"{kind}.{attribute} ({block.elem_id or block.label or ''})", value))
        for choice in getattr(block, "choices", None) or []:
            label = choice[0] if isinstance(choice, (tuple, list)) else choice
            if isinstance(label, str):
                texts.append((f"{kind}.choices ({block.label})", label))
        if isinstance(block, gr.Dataframe):
            for header in (block.value or {}).get("headers", []) if isinstance(block.value, dict) else []:
                texts.append((f"Dataframe.headers ({block.label})", str(header)))
    return texts


def test_the_walk_reaches_every_tab(blocks):
    from demos import TAB_MODULES

    markdown = [text for where, text in _texts(blocks) if where.startswith("Markdown.value")]
    assert len(markdown) >= 3 * len(TAB_MODULES)  # at least a header and two more explanations per tab
    assert any("\\frac" in text for text in markdown)  # the formulas are in the walk


def test_no_explanation_holds_a_control_character(blocks):
    dirty = [(where, repr(CONTROL.search(text).group(0)), text[:80]) for where, text in _texts(blocks)
             if CONTROL.search(text)]
    assert not dirty, f"control characters (a non-raw string with \\b, \\f, \\t?): {dirty}"


def test_formula_delimiters_pair_up(blocks):
    """An odd number of `$` leaves KaTeX a formula without its end (the rest of the text rendered as math)."""
    unpaired = []
    for block in blocks.blocks.values():
        if not isinstance(block, gr.Markdown) or not isinstance(block.value, str) or not block.latex_delimiters:
            continue
        text = re.sub(r"`[^`]*`", "", block.value.replace(r"\$", ""))  # code spans and escaped dollars show as text
        displays = text.count("$$")
        inline = text.replace("$$", "").count("$")
        if displays % 2 or inline % 2:
            unpaired.append((block.elem_id, text[:100]))
    assert not unpaired, unpaired


def test_the_ssd_offsets_are_latex_commands():
    """The formula that rendered as a red KaTeX error: `\\Big` and `\\frac`, not a backspace and a form feed."""
    from demos.detection import SSD_EXPLANATION

    assert "\\Big(" in SSD_EXPLANATION and "\\frac{x_b-x_a}{0.1\\,w_a}" in SSD_EXPLANATION
    assert not CONTROL.search(SSD_EXPLANATION)
