"""core.weights.hub (and the core.hub command line): cards, fp16 safetensors, sha256 checks, and the real Hub download path against a local fake Hub.

The fake Hub is a small HTTP server answering HEAD and GET on ``/{repo_id}/resolve/{revision}/{filename}`` with
the headers huggingface_hub's ``get_hf_file_metadata`` reads (X-Repo-Commit, ETag / X-Linked-Etag,
Content-Length). Tests use tiny fake state dicts in tmp_path; no real weights are needed.
"""

from __future__ import annotations

import hashlib
import http.server
import inspect
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path

import pytest
import torch
from huggingface_hub import HfApi as RealHfApi
from huggingface_hub import constants as hf_constants
from huggingface_hub.errors import LocalTokenNotFoundError

from core.weights import hub
from core import hub as hub_cli

COMMIT = "0123456789abcdef0123456789abcdef01234567"
REPO = "d2l-cv-lab/test-weights"

SPEC_FIELDS = dict(
    architecture="tiny",
    config={"width": 4},
    class_names=("disc", "ring"),
    mean=(0.5, 0.5, 0.5),
    std=(0.25, 0.25, 0.25),
    input_size=(3, 32, 32),
    repo_id=REPO,
    revision=COMMIT,
)
CARD = dict(data_seeds=[0, 100], epochs=2, wall_time_s=1.5, device="cpu", metrics={"map_50": 0.5})


def tiny_state_dict() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {
        "conv.weight": torch.randn(4, 3, 3, 3, generator=generator),
        "conv.bias": torch.randn(4, generator=generator),
        "bn.num_batches_tracked": torch.tensor(7),
    }


@pytest.fixture()
def weights_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setattr(hub, "WEIGHTS_DIR", folder)
    return folder


class FakeHub:
    """Serves `files` ({filename: bytes}) as the Hub's resolve endpoint does for an LFS file."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.requests: list[tuple[str, str]] = []
        hub_server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self, send_body: bool) -> None:
                hub_server.requests.append((self.command, self.path))
                parts = urllib.parse.unquote(urllib.parse.urlparse(self.path).path).strip("/").split("/")
                # /{org}/{repo}/resolve/{revision}/{filename}
                if len(parts) != 5 or parts[2] != "resolve" or f"{parts[0]}/{parts[1]}" != REPO:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "RepoNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                revision, filename = parts[3], parts[4]
                body = hub_server.files.get(filename)
                if revision not in (COMMIT, "main") or body is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("X-Repo-Commit", COMMIT)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                sha = hashlib.sha256(body).hexdigest()
                self.send_response(200)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{sha}"')
                self.send_header("X-Linked-Etag", f'"{sha}"')  # LFS files: the sha256 of the content
                self.send_header("X-Linked-Size", str(len(body)))
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if send_body:
                    self.wfile.write(body)

            def do_HEAD(self):  # noqa: N802 (http.server naming)
                self._answer(send_body=False)

            def do_GET(self):  # noqa: N802
                self._answer(send_body=True)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeHub":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def hf_env(tmp_path, monkeypatch):
    """HF_HOME / the hub cache in tmp_path, online, no token; returns a function pointing HF_ENDPOINT at a server."""
    home = tmp_path / "hf_home"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(hf_constants, "HF_HOME", str(home))
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(home / "hub"))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(home / "token"))

    def point_at(url: str) -> None:
        monkeypatch.setenv("HF_ENDPOINT", url)
        monkeypatch.setattr(hf_constants, "ENDPOINT", url)
        monkeypatch.setattr(hf_constants, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}")

    def go_offline() -> None:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)

    return point_at, go_offline, home / "hub"


def _saved_then_moved_away(weights_dir: Path) -> tuple[hub.WeightsSpec, bytes]:
    """Save a tiny model, then take its safetensors out of weights/ (as in a checkout without embedded files)."""
    spec = hub.save_weights("tiny", tiny_state_dict(), spec_fields=SPEC_FIELDS, card=CARD)
    path = weights_dir / spec.filename
    data = path.read_bytes()
    path.unlink()
    return spec, data


# --- saving, cards, loading -----------------------------------------------------------------------------


def test_save_writes_fp16_safetensors_and_a_full_card(weights_dir):
    spec = hub.save_weights("tiny", tiny_state_dict(), spec_fields=SPEC_FIELDS, card=CARD)
    path = weights_dir / "tiny.safetensors"
    assert spec.filename == "tiny.safetensors" and spec.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    from safetensors.torch import load_file

    raw = load_file(str(path))
    assert raw["conv.weight"].dtype == torch.float16 and raw["bn.num_batches_tracked"].dtype == torch.int64
    card = json.loads((weights_dir / "tiny.json").read_text())
    assert card["sha256"] == spec.sha256 and card["class_names"] == ["disc", "ring"]
    for key in ("data_seeds", "epochs", "wall_time_s", "device", "metrics", "saved_at", "size_bytes"):
        assert key in card["card"]
    assert hub.load_spec("tiny") == spec
    assert spec.input_size == (3, 32, 32) and spec.revision == COMMIT

    state = hub.load_state_dict("tiny")
    assert state["conv.weight"].dtype == torch.float32
    torch.testing.assert_close(state["conv.weight"], tiny_state_dict()["conv.weight"], atol=2e-3, rtol=1e-3)
    assert int(state["bn.num_batches_tracked"]) == 7
    assert hub.available() == ["tiny"]


def test_the_default_folder_is_the_repositorys_weights_and_another_folder_can_be_named(tmp_path):
    root = Path(__file__).resolve().parents[1]
    assert hub.WEIGHTS_DIR == root / "weights" and "ssd" in hub.available()
    out = tmp_path / "run"  # created by save_weights
    spec = hub.save_weights("tiny", tiny_state_dict(), spec_fields=SPEC_FIELDS, card=CARD, weights_dir=out)
    assert sorted(p.name for p in out.iterdir()) == ["tiny.json", "tiny.safetensors"]
    assert hub.load_spec("tiny", out) == spec and hub.available(out) == ["tiny"]
    assert "tiny" not in hub.available()  # weights/ untouched
    hub.update_card("tiny", weights_dir=out, metrics={"extra": 1.0})
    assert hub.load_card("tiny", out)["card"]["metrics"] == {"map_50": 0.5, "extra": 1.0}
    state = hub.load_state_dict("tiny", weights_dir=out)
    assert int(state["bn.num_batches_tracked"]) == 7
    with pytest.raises(hub.WeightsError, match="No model card tiny.json"):
        hub.load_spec("tiny")


def test_fp32_option_keeps_exact_values(weights_dir):
    hub.save_weights("exact", tiny_state_dict(), spec_fields=SPEC_FIELDS, card=CARD, fp16=False)
    torch.testing.assert_close(hub.load_state_dict("exact")["conv.bias"], tiny_state_dict()["conv.bias"], rtol=0, atol=0)


def test_too_large_weights_are_refused_and_nothing_is_written(weights_dir):
    big = {"w": torch.zeros(6 * 2**20)}  # 12 MiB in fp16
    with pytest.raises(hub.WeightsError, match="MiB"):
        hub.save_weights("big", big, spec_fields=SPEC_FIELDS, card=CARD)
    assert list(weights_dir.iterdir()) == []


def test_fp16_overflow_and_missing_fields_are_refused(weights_dir):
    with pytest.raises(hub.WeightsError, match="overflows float16"):
        hub.save_weights("huge", {"w": torch.tensor([1e6])}, spec_fields=SPEC_FIELDS, card=CARD)
    with pytest.raises(ValueError, match="metrics"):
        hub.save_weights("x", tiny_state_dict(), spec_fields=SPEC_FIELDS, card={"epochs": 1})
    with pytest.raises(ValueError, match="architecture"):
        hub.save_weights("x", tiny_state_dict(), spec_fields={"config": {}}, card=CARD)
    with pytest.raises(ValueError, match="sha256"):
        hub.save_weights("x", tiny_state_dict(), spec_fields={**SPEC_FIELDS, "sha256": "0"}, card=CARD)
    with pytest.raises(ValueError, match="letters"):
        hub.save_weights("../x", tiny_state_dict(), spec_fields=SPEC_FIELDS, card=CARD)


def test_update_card_merges_metrics_and_protects_the_spec(weights_dir):
    hub.save_weights("tiny", tiny_state_dict(), spec_fields=SPEC_FIELDS, card=CARD)
    card = hub.update_card("tiny", metrics={"map": 0.3, "per_class": torch.tensor([0.25, 0.5])}, note="evaluated")
    assert card["metrics"] == {"map_50": 0.5, "map": 0.3, "per_class": [0.25, 0.5]}
    assert hub.load_card("tiny")["card"]["note"] == "evaluated"
    with pytest.raises(ValueError, match="spec"):
        hub.update_card("tiny", sha256="0" * 64)


def test_unknown_card_says_how_to_make_it(weights_dir):
    with pytest.raises(hub.WeightsError, match="python -m core.train nosuch"):
        hub.load_spec("nosuch")


def test_embedded_sha_mismatch_is_a_clear_error(weights_dir):
    hub.save_weights("tiny", tiny_state_dict(), spec_fields=SPEC_FIELDS, card=CARD)
    path = weights_dir / "tiny.safetensors"
    path.write_bytes(path.read_bytes()[:-1] + b" ")
    with pytest.raises(hub.WeightsError, match="does not match its model card"):
        hub.load_state_dict("tiny")


def test_only_safetensors_are_loaded(weights_dir):
    spec = hub.save_weights("tiny", tiny_state_dict(), spec_fields=SPEC_FIELDS, card=CARD)
    pickled = hub.WeightsSpec.from_dict({**spec.to_dict(), "filename": "tiny.pth"})
    with pytest.raises(hub.WeightsError, match="only safetensors"):
        hub.resolve_weights(pickled)


# --- the Hub path ---------------------------------------------------------------------------------------


def test_download_from_the_hub_then_load_offline_from_the_cache(weights_dir, hf_env):
    point_at, go_offline, cache = hf_env
    spec, data = _saved_then_moved_away(weights_dir)
    with FakeHub({spec.filename: data}) as fake:
        point_at(fake.url)
        path = hub.resolve_weights(spec)
        assert ("GET", f"/{REPO}/resolve/{COMMIT}/{spec.filename}") in fake.requests
    assert path.read_bytes() == data and str(cache) in str(path)
    assert f"snapshots/{COMMIT}" in path.as_posix()

    # the server is gone and the Hub is offline: the cached, verified copy is still found
    go_offline()
    assert hub.resolve_weights(spec) == path
    torch.testing.assert_close(hub.load_state_dict(spec)["conv.bias"], tiny_state_dict()["conv.bias"], atol=2e-3, rtol=1e-3)


def test_hub_sha_mismatch_is_a_clear_error(weights_dir, hf_env):
    point_at, _, _ = hf_env
    spec, data = _saved_then_moved_away(weights_dir)
    tampered = data[:-1] + b" "
    with FakeHub({spec.filename: tampered}) as fake:
        point_at(fake.url)
        with pytest.raises(hub.WeightsError, match=r"from the Hub .* does not match its model card"):
            hub.resolve_weights(spec)
        assert any(method == "GET" for method, _ in fake.requests)
    # the bad file is now in the cache: it is refused from there too
    with pytest.raises(hub.WeightsError, match="Hugging Face cache"):
        hub.resolve_weights(spec)


def test_offline_never_touches_the_network(weights_dir, hf_env):
    point_at, go_offline, _ = hf_env
    spec, data = _saved_then_moved_away(weights_dir)
    with FakeHub({spec.filename: data}) as fake:
        point_at(fake.url)
        go_offline()
        with pytest.raises(hub.WeightsError, match="HF_HUB_OFFLINE"):
            hub.resolve_weights(spec, allow_download=True)
        assert fake.requests == []


def test_downloads_can_be_forbidden_and_embedded_weights_never_download(weights_dir, hf_env):
    point_at, _, _ = hf_env
    spec, data = _saved_then_moved_away(weights_dir)
    with FakeHub({spec.filename: data}) as fake:
        point_at(fake.url)
        with pytest.raises(hub.WeightsError, match="not allowed"):
            hub.resolve_weights(spec, allow_download=False)
        (weights_dir / spec.filename).write_bytes(data)
        assert hub.resolve_weights(spec, allow_download=True) == weights_dir / spec.filename
        assert fake.requests == []


def test_missing_file_on_the_hub_is_a_weights_error(weights_dir, hf_env):
    point_at, _, _ = hf_env
    spec, _ = _saved_then_moved_away(weights_dir)
    with FakeHub({}) as fake:
        point_at(fake.url)
        with pytest.raises(hub.WeightsError, match="could not download"):
            hub.resolve_weights(spec)


def test_upload_pins_cards_to_the_new_commit(weights_dir, hf_env, monkeypatch):
    """upload_weights with a stand-in HfApi (no network): the right files go up, the cards get pinned."""
    hub.save_weights("tiny", tiny_state_dict(), spec_fields={**SPEC_FIELDS, "revision": "main"}, card=CARD)
    calls = {}

    class FakeApi:
        def __init__(self, token=None):
            calls["token"] = token

        def create_repo(self, repo_id, repo_type, exist_ok):
            calls["repo"] = repo_id

        def upload_folder(self, repo_id, folder_path, allow_patterns, commit_message):
            calls["patterns"] = allow_patterns
            calls["folder"] = folder_path
            return type("CommitInfo", (), {"oid": "f" * 40})()

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    assert hub_cli.main(["upload", "someone/lab-weights", "--token", "t0k"]) == 0
    assert calls["repo"] == "someone/lab-weights" and calls["token"] == "t0k"
    assert set(calls["patterns"]) == {"tiny.safetensors", "tiny.json", "README.md"}
    spec = hub.load_spec("tiny")
    assert (spec.repo_id, spec.revision) == ("someone/lab-weights", "f" * 40)


def test_cli_verify_flags_a_bad_file(weights_dir, capsys):
    hub.save_weights("tiny", tiny_state_dict(), spec_fields=SPEC_FIELDS, card=CARD)
    assert hub_cli.main(["verify"]) == 0
    (weights_dir / "tiny.safetensors").write_bytes(b"broken")
    assert hub_cli.main(["verify"]) == 1
    assert "does not match" in capsys.readouterr().out


# --- deploying the lab as a Space -----------------------------------------------------------------------

SPACE = "someone/cv-lab"
SPACE_URL = "https://huggingface.co/spaces/someone/cv-lab"
README_WITH_FRONT_MATTER = "---\ntitle: lab\nsdk: gradio\napp_file: app.py\n---\n\n# lab\n"

# What a Space of the fake checkout below must hold, written out by hand (plus the generated .gitattributes).
EXPECTED_SPACE_FILES = {
    "app.py",
    "requirements.txt",
    "README.md",
    "core/__init__.py",
    "core/generative/model.py",
    "demos/__init__.py",
    "demos/tab.py",
    "demos/new_tab.py",  # not committed yet, not ignored: deployed
    "weights/README.md",
    "weights/tiny.json",
    "weights/tiny.safetensors",
    "docs/screenshots/tab.png",
}
LFS_LINES = [f"{p} filter=lfs diff=lfs merge=lfs -text" for p in ("*.safetensors", "*.png", "*.jpg", "*.webp")]


def _write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


@pytest.fixture()
def lab_checkout(tmp_path, monkeypatch) -> Path:
    """A small git checkout shaped like the lab's, with everything a deploy must leave out; it is REPO_ROOT."""
    root = tmp_path / "lab"
    monkeypatch.setattr(hub, "WEIGHTS_DIR", root / "weights")
    monkeypatch.setattr(hub, "REPO_ROOT", root)
    hub.save_weights("tiny", tiny_state_dict(), spec_fields=SPEC_FIELDS, card=CARD)
    files = {
        "app.py": "import demos\n",
        "requirements.txt": "torch\n",
        "README.md": README_WITH_FRONT_MATTER,
        "core/__init__.py": "",
        "core/generative/model.py": "X = 1\n",
        "demos/__init__.py": "",
        "demos/tab.py": "TITLE = 'tab'\n",
        "weights/README.md": "# weights\n",
        "docs/screenshots/tab.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8,
        "docs/notes.md": "not part of the app\n",
        "tests/test_x.py": "def test(): pass\n",
        ".ci/run": "#!/bin/sh\n",
        "benchmarks/b.py": "",
        "pytest.ini": "[pytest]\n",
        ".gitignore": "__pycache__/\n*.log\n",
        "core/gone.py": "deleted from the work tree, still in git's index\n",
    }
    for path, data in files.items():
        _write(root / path, data)
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "lab"], check=True)
    (root / "core/gone.py").unlink()
    _write(root / "demos/new_tab.py", "TITLE = 'new'\n")  # untracked
    _write(root / "core/__pycache__/x.cpython-311.pyc", b"\0bytecode")  # ignored, and bytecode
    _write(root / "weights/train.log", "ignored\n")
    _write(root / "weights/.tiny.safetensors.tmp", b"half-written")  # untracked, hidden
    return root


def _as_the_real_api_takes_them(method: str, *args, **kwargs) -> dict:
    """The arguments of a call as the real HfApi method binds them (TypeError where it would refuse the call)."""
    bound = inspect.signature(getattr(RealHfApi, method)).bind(*args, **kwargs)
    bound.apply_defaults()
    return bound.arguments


class FakeSpaceHub:
    """A stand-in for `huggingface_hub.HfApi` (as in the upload test) holding one Space's files in memory.

    `api` is the class to put in HfApi's place; `files` is the Space after the commits it received. Every call is
    bound to the real HfApi method's signature, so a call the real API would refuse fails here too.
    """

    def __init__(self, tmp_path: Path, files: dict[str, bytes] | None = None, refuse: Exception | None = None):
        self.files = dict(files or {})
        self.created: list[dict] = []
        self.commits: list[dict] = []
        self.tokens: list[str | None] = []
        fake = self

        class Api:
            def __init__(self, *args, **kwargs):
                fake.tokens.append(_as_the_real_api_takes_them("__init__", self, *args, **kwargs)["token"])

            def create_repo(self, *args, **kwargs):
                call = _as_the_real_api_takes_them("create_repo", self, *args, **kwargs)
                if refuse is not None:
                    raise refuse
                fake.created.append({k: call[k] for k in ("repo_id", "repo_type", "space_sdk", "private", "exist_ok")})
                return f"https://huggingface.co/spaces/{call['repo_id']}"

            def list_repo_files(self, *args, **kwargs):
                assert _as_the_real_api_takes_them("list_repo_files", self, *args, **kwargs)["repo_type"] == "space"
                return sorted(fake.files)

            def hf_hub_download(self, *args, **kwargs):
                call = _as_the_real_api_takes_them("hf_hub_download", self, *args, **kwargs)
                assert call["repo_type"] == "space"
                path = tmp_path / "downloaded" / call["filename"]
                _write(path, fake.files[call["filename"]])
                return str(path)

            def create_commit(self, *args, **kwargs):
                from huggingface_hub import CommitOperationAdd, CommitOperationDelete

                call = _as_the_real_api_takes_them("create_commit", self, *args, **kwargs)
                added, deleted = [], []
                for operation in call["operations"]:
                    if isinstance(operation, CommitOperationAdd):
                        with operation.as_file() as f:
                            fake.files[operation.path_in_repo] = f.read()
                        added.append(operation.path_in_repo)
                    elif isinstance(operation, CommitOperationDelete):
                        del fake.files[operation.path_in_repo]
                        deleted.append(operation.path_in_repo)
                fake.commits.append(dict(repo_id=call["repo_id"], repo_type=call["repo_type"],
                                         message=call["commit_message"], added=added, deleted=deleted))
                return type("CommitInfo", (), {"oid": "e" * 40})()

        self.api = Api


class NoNetworkApi:
    def __init__(self, *args, **kwargs):
        raise AssertionError("HfApi was constructed: the network would be used")


@pytest.fixture()
def hub_online(hf_env, monkeypatch):
    """Online, no token, the public endpoint (URLs are compared literally)."""
    monkeypatch.setattr(hf_constants, "ENDPOINT", "https://huggingface.co")
    return hf_env


def test_deploy_space_commits_exactly_the_app_files(lab_checkout, hub_online, monkeypatch, tmp_path, capsys):
    import huggingface_hub

    fake = FakeSpaceHub(tmp_path)
    monkeypatch.setattr(huggingface_hub, "HfApi", fake.api)
    assert hub_cli.main(["deploy-space", SPACE, "--token", "hf_w"]) == 0

    assert fake.tokens == ["hf_w"]
    assert fake.created == [dict(repo_id=SPACE, repo_type="space", space_sdk="gradio", private=False, exist_ok=True)]
    assert len(fake.commits) == 1 and fake.commits[0]["repo_type"] == "space" and fake.commits[0]["deleted"] == []
    assert set(fake.files) == EXPECTED_SPACE_FILES | {".gitattributes"}
    for path in EXPECTED_SPACE_FILES:  # the bytes of the checkout, weights included
        assert fake.files[path] == (lab_checkout / path).read_bytes(), path
    assert fake.files[".gitattributes"].decode().splitlines() == LFS_LINES
    out = capsys.readouterr().out
    assert out.rstrip().endswith(SPACE_URL)
    assert f"{(lab_checkout / 'weights/tiny.safetensors').stat().st_size} B  large file" in out


def test_space_files_without_git_follow_the_same_patterns(lab_checkout):
    from_git = {f.path for f in hub.space_files(lab_checkout)}
    assert from_git == EXPECTED_SPACE_FILES
    shutil.rmtree(lab_checkout / ".git")  # an unpacked archive: every file is a candidate
    from_walk = {f.path for f in hub.space_files(lab_checkout)}
    assert from_walk == EXPECTED_SPACE_FILES
    sizes = {f.path: f.size for f in hub.space_files(lab_checkout)}
    assert sizes["app.py"] == len("import demos\n")
    large = {f.path for f in hub.space_files(lab_checkout) if f.large}
    assert large == {"weights/tiny.safetensors", "docs/screenshots/tab.png"}


def test_private_space_and_a_redeploy_keep_the_hubs_attributes_and_drop_stale_lab_files(
    lab_checkout, hub_online, monkeypatch, tmp_path
):
    import huggingface_hub

    hub_default = "*.bin filter=lfs diff=lfs merge=lfs -text\n*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
    space = {".gitattributes": hub_default.encode(), "core/old.py": b"", "weights/old.safetensors": b"\0",
             "notes.md": b"the teacher's own file"}
    fake = FakeSpaceHub(tmp_path, files=space)
    monkeypatch.setattr(huggingface_hub, "HfApi", fake.api)
    assert hub.deploy_space(SPACE, private=True, out=io.StringIO()) == SPACE_URL

    assert fake.created[0]["private"] is True and fake.tokens == [None]
    assert sorted(fake.commits[0]["deleted"]) == ["core/old.py", "weights/old.safetensors"]
    assert "notes.md" in fake.files
    assert fake.files[".gitattributes"].decode().splitlines() == [
        "*.bin filter=lfs diff=lfs merge=lfs -text",
        "*.safetensors filter=lfs diff=lfs merge=lfs -text",
        *LFS_LINES[1:],
    ]


def test_dry_run_lists_the_files_without_any_network(lab_checkout, monkeypatch, capsys):
    import socket

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", NoNetworkApi)

    def no_connection(*args):
        raise AssertionError("a connection was opened")

    monkeypatch.setattr(socket.socket, "connect", no_connection)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # a dry run works offline
    assert hub_cli.main(["deploy-space", SPACE, "--dry-run"]) == 0
    out = capsys.readouterr().out
    listed = {line.split()[0] for line in out.splitlines() if line.startswith(("app", "core", "demos", "weights",
                                                                              "docs", "README", "requirements"))}
    assert listed == EXPECTED_SPACE_FILES
    assert "12 files" in out and "dry run: nothing was sent" in out
    assert "tests/" not in out and "benchmarks" not in out and ".ci" not in out


def test_offline_refuses_to_deploy_with_a_clear_message(lab_checkout, monkeypatch, capsys):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", NoNetworkApi)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(hub.DeployError, match=r"HF_HUB_OFFLINE=1 .*unset it"):
        hub.deploy_space(SPACE, out=io.StringIO())
    assert hub_cli.main(["deploy-space", SPACE]) == 1
    assert "HF_HUB_OFFLINE=1" in capsys.readouterr().err


@pytest.mark.parametrize("bad_id", ["cv-lab", "someone/", "/cv-lab", "a/b/c", "someone/cv lab", "someone/cv--lab"])
def test_a_bad_space_id_is_a_clear_message(bad_id, lab_checkout, hub_online, monkeypatch, capsys):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", NoNetworkApi)
    with pytest.raises(hub.DeployError, match="is not a Space id .*OWNER/NAME"):
        hub.deploy_space(bad_id, out=io.StringIO())
    assert hub_cli.main(["deploy-space", bad_id]) == 1
    assert f"{bad_id!r} is not a Space id" in capsys.readouterr().err


@pytest.mark.parametrize(
    "refusal",
    [
        LocalTokenNotFoundError("Token is required (`token=True`), but no token found."),
        ConnectionRefusedError(111, "Connection refused"),
    ],
)
def test_the_hub_refusing_says_to_check_the_token(refusal, lab_checkout, hub_online, monkeypatch, tmp_path, capsys):
    import huggingface_hub

    fake = FakeSpaceHub(tmp_path, refuse=refusal)
    monkeypatch.setattr(huggingface_hub, "HfApi", fake.api)
    with pytest.raises(hub.DeployError, match=r"refused .*write access to someone .*hf auth login"):
        hub.deploy_space(SPACE, out=io.StringIO())
    assert fake.commits == []
    assert hub_cli.main(["deploy-space", SPACE]) == 1
    assert str(refusal) in capsys.readouterr().err


def test_weights_that_do_not_match_their_card_are_not_deployed(lab_checkout, hub_online, monkeypatch, tmp_path):
    import huggingface_hub

    fake = FakeSpaceHub(tmp_path)
    monkeypatch.setattr(huggingface_hub, "HfApi", fake.api)
    path = lab_checkout / "weights/tiny.safetensors"
    path.write_bytes(path.read_bytes()[:-1] + b" ")
    with pytest.raises(hub.DeployError, match="tiny.safetensors does not match its model card"):
        hub.deploy_space(SPACE, out=io.StringIO())
    assert fake.tokens == [] and fake.files == {}


def test_the_real_checkout_deploys_its_app_and_weights_and_nothing_else():
    files = {f.path: f.size for f in hub.space_files()}
    root = hub.REPO_ROOT
    for card in (root / "weights").glob("*.json"):
        weights = card.with_suffix(".safetensors")
        assert f"weights/{card.name}" in files
        if weights.is_file():
            assert files[f"weights/{weights.name}"] == weights.stat().st_size
    for required in ("app.py", "requirements.txt", "README.md", "core/hub.py", "demos/common.py"):
        assert required in files
    assert not [p for p in files if p.startswith(("tests/", ".ci/", "benchmarks/", ".git")) or "__pycache__" in p]
    assert "pytest.ini" not in files and ".gitignore" not in files


def test_a_space_made_of_exactly_the_deployed_files_builds_and_loads_its_weights(tmp_path):
    """Copy only `space_files()` into an empty folder and start the app there, offline, as the Space would."""
    space = tmp_path / "space"
    for file in hub.space_files():
        _write(space / file.path, (hub.REPO_ROOT / file.path).read_bytes())
    script = (
        "import os, sys\n"
        "import app\n"
        "from core.weights import hub\n"
        "demo = app.build_app()\n"
        "names = hub.available()\n"
        "for name in names: hub.load_state_dict(name, allow_download=False)\n"
        "print('built', len(demo.fns), 'endpoints;', len(names), 'weights from', hub.WEIGHTS_DIR, flush=True)\n"
        "os._exit(0)\n"  # skip interpreter teardown (torch's threads can abort it after the work is done)
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LAB_TABS")}
    env.update(HF_HUB_OFFLINE="1", NO_ALBUMENTATIONS_UPDATE="1", HF_HOME=str(tmp_path / "hf_home"))
    done = subprocess.run([sys.executable, "-c", script], cwd=space, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    loaded, folder = re.search(r"; (\d+) weights from (.+)$", done.stdout.strip()).groups()
    assert Path(folder) == space / "weights"  # the copy's own weights, not the checkout's
    assert int(loaded) == len(list((hub.REPO_ROOT / "weights").glob("*.json"))) > 0
