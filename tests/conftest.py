"""Shared fixtures: the whole app launched once in-process, a gradio_client on it, a browser page.

Every test runs offline (HF_HUB_OFFLINE=1).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OMP_NUM_THREADS", "1")  # as app.py: one intra-op thread per request thread
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session", autouse=True)
def private_temporary_folder(tmp_path_factory: pytest.TempPathFactory):
    """The session's temporary files under pytest's own folder (pytest keeps the last three sessions' only).

    gradio_client downloads every output through a fresh folder in the system's temporary folder and leaves it
    behind, empty; Gradio keeps its cache there too. Without this a full run left hundreds of folders in /tmp.
    """
    import tempfile

    previous = tempfile.tempdir
    tempfile.tempdir = str(tmp_path_factory.mktemp("tmp"))
    yield
    tempfile.tempdir = previous


@pytest.fixture
def one_torch_thread():
    """One intra-op thread, as the lab trains and serves per request (faster on 2 shared cores); restored after.

    Use with `pytestmark = pytest.mark.usefixtures("one_torch_thread")`.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def app_url() -> str:
    """URL of the full app, launched once per test session in this process."""
    import app

    demo, url = app.launch_in_background()
    yield url
    demo.close()


@pytest.fixture(scope="session")
def lecture_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The lab with only the Lecture tab (its class polls in a temporary SQLite store), launched once per session."""
    import app
    import demos.poll as poll
    from core.poll.store import PollStore

    poll_store = PollStore(str(tmp_path_factory.mktemp("lecture_poll") / "lab.sqlite3"))
    poll.use_store(poll_store)
    demo, url = app.launch_in_background(modules=["demos.lecture"])
    yield url
    demo.close()
    poll.use_store(None)
    poll_store.close()


@pytest.fixture(scope="session")
def poll_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """demos/poll.py's standalone page (teacher and student side by side, its stand-in questions) on a free
    127.0.0.1 port, its store in a temporary SQLite file."""
    import socket

    import demos.poll as poll
    from core.poll.store import PollStore

    poll_store = PollStore(str(tmp_path_factory.mktemp("poll") / "lab.sqlite3"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    blocks = poll.demo()
    poll.use_store(poll_store)
    _, url, _ = blocks.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                              show_error=False)
    yield url.rstrip("/") + "/"
    blocks.close()
    poll.use_store(None)
    poll_store.close()


@pytest.fixture(scope="session")
def client(app_url: str, tmp_path_factory: pytest.TempPathFactory):
    """A gradio_client.Client on the in-process app; it downloads output files under pytest's temporary folder."""
    from gradio_client import Client

    return Client(app_url, verbose=False, download_files=str(tmp_path_factory.mktemp("client_downloads")))


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium through Playwright. In CI (CI=true) a missing browser fails, never skips."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run must install Debian's chromium")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """A throwaway PostgreSQL server for the session (`tests.postgres_server`): the URL of its `postgres` database.
    In CI (CI=true) missing server binaries fail, never skip."""
    from tests.postgres_server import postgres_bin, throwaway_postgres

    if postgres_bin() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL's server binaries are missing: .ci/run must install Debian's postgresql")
        pytest.skip("PostgreSQL server not installed (apt-get install -y postgresql)")
    with throwaway_postgres() as url:
        yield url


@pytest.fixture()
def page(browser, app_url: str):
    """A fresh 1366x768 page on the app, loaded; errors shown by Gradio are collected in `page.lab_errors`."""
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.goto(app_url, wait_until="domcontentloaded")
    page.wait_for_selector(".gradio-container", timeout=60_000)
    page.wait_for_selector("button[role=tab]", timeout=60_000)
    yield page
    context.close()
