"""The Lecture tab alone, served in-process for its endpoint and browser tests (independent of the other tabs)."""

from __future__ import annotations

import gradio as gr


def launch() -> tuple[gr.Blocks, str]:
    """The lab with only `demos.lecture`, on a free port of 127.0.0.1: (app, URL ending in "/")."""
    import app

    return app.launch_in_background(modules=["demos.lecture"])
