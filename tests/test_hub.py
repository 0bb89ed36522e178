"""core.weights.hub (and the core.hub command line): cards, fp16 safetensors, sha256 checks, and the real Hub download path against a local fake Hub.

The fake Hub is a small HTTP server answering HEAD and GET on ``/{repo_id}/resolve/{revision}/{filename}`` with
the headers huggingface_hub's ``get_hf_file_metadata`` reads (X-Repo-Commit, ETag / X-Linked-Etag,
Content-Length). Tests use tiny fake state dicts in tmp_path; no real weights are needed.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
import urllib.parse
from pathlib import Path

import pytest
import torch
from huggingface_hub import constants as hf_constants

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
