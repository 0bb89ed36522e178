"""How many CPU threads torch uses: one setting for the app, the evaluations and the tests.

The lab serves a class on a few shared cores: parallelism comes from serving several requests at once, and each
request's tensor work runs on `request_threads()` intra-op threads (1 unless ``LAB_TORCH_THREADS`` says otherwise;
2 suits a teacher alone on a 2-core machine). Training picks its own count per process (`core.training.engine`).
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

import torch

THREADS_VARIABLE = "LAB_TORCH_THREADS"
"""The environment variable that sets `request_threads()`."""


def request_threads() -> int:
    """Intra-op threads per request: ``LAB_TORCH_THREADS`` (a positive whole number), else 1."""
    text = os.environ.get(THREADS_VARIABLE, "1").strip()
    try:
        count = int(text)
    except ValueError:
        raise ValueError(f"{THREADS_VARIABLE} must be a positive whole number, got {text!r}") from None
    if count < 1:
        raise ValueError(f"{THREADS_VARIABLE} must be a positive whole number, got {count}")
    return count


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block on `count` intra-op threads, then restore the previous count.

    PyTorch's OpenMP thread count belongs to the calling thread, so this only affects the request (or evaluation)
    that uses it. Tiny models want one thread: a second one costs more than it gains, and on a busy 2-core server
    threads waiting for each other can cost 100x, while one thread per request lets two requests share the cores.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
