"""core.threads: the one thread setting and the per-block thread count."""

from __future__ import annotations

import pytest
import torch

from core import threads


def test_request_threads_reads_the_variable(monkeypatch):
    monkeypatch.delenv(threads.THREADS_VARIABLE, raising=False)
    assert threads.request_threads() == 1
    monkeypatch.setenv(threads.THREADS_VARIABLE, "2")
    assert threads.request_threads() == 2
    for bad in ("0", "-1", "two", "1.5"):
        monkeypatch.setenv(threads.THREADS_VARIABLE, bad)
        with pytest.raises(ValueError, match="LAB_TORCH_THREADS must be a positive whole number"):
            threads.request_threads()


def test_torch_threads_sets_and_restores_the_count():
    before = torch.get_num_threads()
    target = 1 if before != 1 else 2
    with threads.torch_threads(target):
        assert torch.get_num_threads() == target
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError):
        with threads.torch_threads(target):
            raise RuntimeError("the count comes back even after an error")
    assert torch.get_num_threads() == before
