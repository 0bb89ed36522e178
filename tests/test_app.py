"""The assembled app: every listed tab present, no stray file access, offline start."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request

import pytest

import app
from demos import TAB_MODULES


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_every_listed_tab_is_built(monkeypatch):
    monkeypatch.delenv("LAB_TABS", raising=False)
    assert app.tab_modules() == list(TAB_MODULES)
    monkeypatch.setenv("LAB_TABS", "demos.nms,demos.nope")
    with pytest.raises(ValueError, match="demos.nope"):
        app.tab_modules()


def test_app_page_is_served(app_url):
    status, body = _get(app_url)
    assert status == 200 and b"<html" in body.lower()


SECRET_NAMES = ["app.py", ".env", "/etc/passwd", "../app.py", "../../etc/passwd", "requirements.txt"]


@pytest.mark.parametrize("name", SECRET_NAMES)
@pytest.mark.parametrize("encode", [False, True])
def test_file_route_refuses_files_outside_the_cache(app_url, name, encode):
    target = urllib.parse.quote(name, safe="") if encode else name
    for prefix in ("gradio_api/file=", "file="):
        status, body = _get(app_url + prefix + target)
        assert status in (403, 404), (prefix + target, status)
        assert b"root:x:0:0" not in body and b"def build_app" not in body and b"torch==" not in body


def test_space_front_matter_matches_the_pinned_gradio():
    """README's front matter is the Space's configuration: same Gradio as requirements.txt and as tested here."""
    import re
    from pathlib import Path

    import gradio

    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text(encoding="utf-8")
    front = readme.split("---")[1]
    fields = dict(re.findall(r"^(\w+):\s*\"?([^\"\n]+)\"?\s*$", front, flags=re.M))
    assert fields["sdk"] == "gradio" and fields["app_file"] == "app.py"
    assert (root / fields["app_file"]).is_file()
    pinned = re.search(r"^gradio==([\d.]+)\s*$", (root / "requirements.txt").read_text(), flags=re.M)
    assert pinned, "requirements.txt must pin gradio exactly (the Space runs sdk_version)"
    assert fields["sdk_version"] == pinned.group(1) == gradio.__version__
    assert fields["python_version"].startswith("3.")


def test_a_hand_off_to_a_tab_left_out_of_the_app_is_hidden():
    """LAB_TABS may build Segmentation without the Transposed conv tab: its hand-off button leads nowhere, so the
    app builds and hides it; with both tabs it shows."""
    alone = app.build_app(["demos.segmentation"])
    button = next(block for block in alone.blocks.values() if getattr(block, "elem_id", None) == "seg-to-tc")
    assert button.visible is False
    both = app.build_app(["demos.segmentation", "demos.transposed_conv"])
    button = next(block for block in both.blocks.values() if getattr(block, "elem_id", None) == "seg-to-tc")
    assert button.visible is True
