"""The Lecture tab alone, served in-process for its endpoint and browser tests (independent of the full app)."""

from __future__ import annotations

import socket

import gradio as gr


def launch() -> tuple[gr.Blocks, str]:
    """`demos.lecture.standalone()` on a free port of 127.0.0.1, with the lecture's CSS: (app, URL ending in "/")."""
    from demos import lecture

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    demo = lecture.standalone()
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                            css=lecture.CSS, show_error=False)
    return demo, url.rstrip("/") + "/"
