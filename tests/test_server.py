"""Server settings chosen in app.py (issue 10): bounded queue, per-event concurrency, upload size limit, no
tracebacks for clients, one torch thread per request, no file access outside Gradio's cache."""

from __future__ import annotations

import json
import os
import urllib.parse
from pathlib import Path

import gradio as gr
import httpx
import pytest
import torch
from gradio_client import Client

import app

ROOT = Path(__file__).resolve().parents[1]
MAX_CONCURRENCY = 8
"""No event may run more copies at once than this on a 2-vCPU machine."""


@pytest.fixture(scope="module")
def built() -> gr.Blocks:
    """A second copy of the app, built the way `app.main` builds it (not launched)."""
    return app.build_app()


def test_launch_options_are_the_documented_ones():
    options = app.launch_options()
    assert options["show_error"] is False  # only our gr.Error messages reach a client
    assert options["max_file_size"] == app.MAX_FILE_SIZE
    assert options["max_threads"] == app.MAX_THREADS <= MAX_CONCURRENCY  # handlers running at once, all events
    assert "allowed_paths" not in options and "blocked_paths" not in options
    assert not options.get("share")


def test_queue_is_bounded_and_every_queued_event_has_a_concurrency_limit(built):
    queue = built._queue
    assert queue.max_size is not None and 1 <= queue.max_size <= 256
    assert queue.default_concurrency_limit is not None and 1 <= queue.default_concurrency_limit <= MAX_CONCURRENCY
    unqueued_public = []
    for fn in built.fns.values():
        if not fn.queue:
            if fn.api_visibility != "private":
                unqueued_public.append(fn.api_name)
            continue
        limit = queue.default_concurrency_limit if fn.concurrency_limit == "default" else fn.concurrency_limit
        assert limit is not None and 1 <= limit <= MAX_CONCURRENCY, (fn.api_name, limit)
    # queue=False skips the queue's limits: only for tiny private UI callbacks, and for the class poll's endpoints,
    # a few milliseconds of database work each, whose burst of a class answering at once the queue's 64 places
    # would refuse (demos.poll.QUICK)
    from demos import poll

    assert not set(unqueued_public) - set(poll.UNQUEUED_API), unqueued_public


def test_generated_files_are_deleted_and_no_extra_paths_are_served(built):
    frequency, age = built.delete_cache
    assert 0 < frequency <= 24 * 3600 and 0 < age <= 24 * 3600
    assert not built.allowed_paths


def test_torch_uses_the_configured_thread_count():
    app.configure_torch()  # conftest's server did the same
    assert torch.get_num_threads() == int(os.environ.get("LAB_TORCH_THREADS", "1"))


def test_an_upload_over_max_file_size_is_refused(app_url):
    limit = gr.utils._parse_file_size(app.MAX_FILE_SIZE)
    body = b"\xff\xd8" + bytes(limit + 1024)
    response = httpx.post(f"{app_url}gradio_api/upload", files={"files": ("big.jpg", body, "image/jpeg")}, timeout=60)
    assert response.status_code == 413, response.status_code
    assert "maximum allowed size" in response.text
    small = httpx.post(f"{app_url}gradio_api/upload", files={"files": ("ok.txt", b"fine", "text/plain")}, timeout=30)
    assert small.status_code == 200


def test_a_crash_shows_no_traceback(client, app_url):
    """A payload Gradio's own validation rejects (a table whose data is not rows) is an exception that is not our
    gr.Error: the client gets a generic message, with no traceback, path or source line."""
    if "demos.anchors" not in app.tab_modules():
        pytest.skip("demos.anchors is not built in this run (LAB_TABS)")
    table = {"headers": ["label", "x1", "y1", "x2", "y2"], "data": "not rows", "metadata": None}
    with pytest.raises(Exception) as error:
        client.predict(None, "chelsea", table, api_name="/boxes_convert")
    assert "Traceback" not in str(error.value) and ".py" not in str(error.value)
    # the raw stream says exactly as little
    response = httpx.post(f"{app_url}gradio_api/call/boxes_convert", json={"data": [None, "chelsea", table]})
    event_id = response.json()["event_id"]
    stream = httpx.get(f"{app_url}gradio_api/call/boxes_convert/{event_id}", timeout=60).text
    assert "event: error" in stream
    payload = json.loads(stream.split("event: error", 1)[1].split("data:", 1)[1].strip().splitlines()[0])
    assert payload.get("error") is None, payload
    assert "Traceback" not in stream and "site-packages" not in stream and "/work" not in stream


def test_a_full_queue_says_busy(built):
    """The queue's answer when full (the browser shows 'This application is currently busy. Please try again.')."""
    _, url, _ = built.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True, **app.launch_options())
    max_size = built._queue.max_size
    try:
        built._queue.max_size = 0  # full from the start
        client = Client(url, verbose=False, download_files=False)
        fn = next(fn for fn in built.fns.values() if fn.queue and fn.api_visibility == "public")
        with pytest.raises(Exception, match="(?i)queue is full"):
            client.predict(*[None] * len(fn.inputs), api_name=f"/{fn.api_name}")
        # the HTTP answer under the client's message
        response = httpx.post(f"{url}gradio_api/queue/join", json={
            "data": [None] * len(fn.inputs), "fn_index": fn._id, "session_hash": "probe", "event_data": None})
        assert response.status_code == 503 and "Queue is full" in response.text
    finally:
        built._queue.max_size = max_size  # the module's other tests read the settings of the same app
        built.close()


README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_settings_are_the_values_the_readme_states(built):
    """The README's table 'Settings for a class of 40', value by value (issue 19): a change to one of them must
    change the README too."""
    from core.data.images import MAX_PIXELS

    options = app.launch_options()
    assert gr.utils._parse_file_size(options["max_file_size"]) == 20 * 2**20 and "| `max_file_size` | 20 MB |" in README
    assert MAX_PIXELS == 40_000_000 and "| image cap | 40 megapixels |" in README
    queue = built._queue
    assert queue.max_size == 64 and "at most 64 waiting" in README
    assert queue.default_concurrency_limit == 4 and "4 copies of each event at once" in README
    finetune = [fn for fn in built.fns.values() if fn.api_name == "finetune"]
    if finetune:  # the tab is built unless LAB_TABS leaves it out
        assert finetune[0].concurrency_limit == 2 and "(2 fine-tuning runs)" in README
    assert options["max_threads"] == app.MAX_THREADS == 8 and "| `max_threads` | 8 handlers at once" in README
    assert queue.sleep_when_free == app.QUEUE_POLL_S == 0.01 and "| queue poll | every 10 ms" in README
    assert app.MALLOC_ARENAS == 2 and "| malloc arenas | 2 " in README
    assert built.delete_cache == (3600, 3600) and "files older than an hour, checked hourly" in README
    assert options["show_error"] is False and "| `show_error` | False |" in README
    assert "| torch threads | 1 per request" in README and os.environ.get("LAB_TORCH_THREADS", "1") == "1"


def test_the_event_loop_gets_the_interpreter_lock_promptly():
    """`configure_scheduling` (issue 19): 1 ms instead of Python's 5 ms, restored after the check."""
    import sys

    previous = sys.getswitchinterval()
    try:
        app.configure_scheduling()
        assert sys.getswitchinterval() == pytest.approx(app.GIL_SWITCH_INTERVAL_S) == pytest.approx(0.001)
    finally:
        sys.setswitchinterval(previous)


PROBES = [
    str(ROOT / "app.py"),
    "/proc/self/environ",
    "..%2fapp.py",
    "%2e%2e%2fapp.py",
    "%252e%252e%252fapp.py",
    "..\\app.py",
    "....//app.py",
    "/tmp/../etc/passwd",
    "~/.bashrc",
    ".git/config",
]
"""Beyond tests/test_app.py's probes: absolute paths of the app's own files, double encoding, backslashes."""


@pytest.mark.parametrize("target", PROBES)
def test_file_route_probes(app_url, target):
    """Every probe ends refused, with redirects followed to where they lead (a 307 to a route that then served
    the file would be a leak): the final answer is 403/404/405 and its body holds none of the files' text."""
    for prefix in ("gradio_api/file=", "file=", "gradio_api/file/"):
        url = app_url + prefix + (target if "%" in target else urllib.parse.quote(target, safe="/"))
        response = httpx.get(url, timeout=30, follow_redirects=True)
        assert response.status_code in (403, 404, 405), (url, response.status_code, response.url)
        assert len(response.history) <= 3, [str(r.url) for r in response.history]
        for answer in (*response.history, response):
            body = answer.content
            assert b"def build_app" not in body and b"root:x:0:0" not in body and b"[core]" not in body
            assert b"HF_HUB_OFFLINE" not in body


def test_malloc_arenas_are_capped_on_glibc(monkeypatch):
    """glibc (this machine, the Space's image): the cap is set, unless the teacher set MALLOC_ARENA_MAX."""
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert app.configure_memory() is True
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert app.configure_memory() is False


def test_a_class_fetching_the_same_picture_at_once_gets_it_whole(app_url, tmp_path):
    """Everyone's first view is the same picture: its cache file must never be half-written while downloaded
    (Gradio's own cache rewrote it in place; see demos.common.atomic_image_cache)."""
    import threading

    from demos.nms import book_candidates, to_json

    book = to_json(book_candidates())  # the NMS tab's default: the book's dog and cat
    failures: list[str] = []
    sizes: set[int] = set()

    def student(index: int) -> None:
        client = Client(app_url, verbose=False, download_files=str(tmp_path / f"student{index}"))
        for _ in range(4):
            try:
                picture, *_ = client.predict(book, 0.0, 0.5, False, 300, api_name="/nms_run")
                sizes.add(Path(picture).stat().st_size)
            except Exception as error:  # noqa: BLE001 - every failure counts, whatever its type
                failures.append(f"{type(error).__name__}: {error}"[:120])

    students = [threading.Thread(target=student, args=(i,)) for i in range(16)]
    for thread in students:
        thread.start()
    for thread in students:
        thread.join(timeout=120)
    assert not failures, failures[:3]
    assert len(sizes) == 1  # the same picture, whole, for everyone
