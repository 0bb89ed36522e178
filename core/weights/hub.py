"""Trained weights: the model cards in ``weights/``, and all Hugging Face Hub access (like timm's ``_hub.py``).

Every set of weights is described once, by a `WeightsSpec` stored in ``weights/<name>.json`` together with
its model card (how it was trained and how well it does). The JSON file is always committed; the
``.safetensors`` file is committed too when it is small (it must be: at most 10 MiB, fp16), and can also live
on the Hub at a pinned revision.

Where weights come from (`resolve_weights`), in this order:
  1. ``weights/<filename>`` — the embedded copy. When it exists it is the answer (or, if its sha256 does not
     match the card, a `WeightsError`): nothing is looked up elsewhere and the network is never touched.
  2. The local Hugging Face cache (``hf_hub_download(..., local_files_only=True)``), at the pinned revision.
  3. ``hf_hub_download(repo_id, filename, revision)`` — only when downloads are allowed and the Hub is not
     offline (``HF_HUB_OFFLINE=1`` always wins).
Whatever the source, the file's sha256 must equal the card's; a mismatch is a `WeightsError` that says which
file, which source and what to do. Only safetensors files are ever loaded (never pickles).

Every function that reads or writes cards takes ``weights_dir`` (None = `WEIGHTS_DIR`, ``weights/``): a
training run can write elsewhere (``python -m core.train MODEL --out DIR``) and an evaluation can read from there.
The app, the tabs and the registry (`core.weights.registry`) always use ``weights/``.

Nothing here runs at import time: the app starts without touching the disk or the network.

Command line (`core.hub`): ``python -m core.hub list`` | ``verify`` | ``upload REPO_ID``.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Mapping, Sequence, TextIO

import torch

REPO_ROOT: Path = Path(__file__).resolve().parents[2]
"""The lab's checkout: what `deploy_space` uploads from."""

WEIGHTS_DIR: Path = REPO_ROOT / "weights"
"""Embedded weights and model cards (``<name>.json`` + ``<name>.safetensors``)."""

MAX_WEIGHTS_BYTES = 10 * 2**20
"""Largest safetensors file `save_weights` writes (10 MiB): embedded weights stay small."""

DEFAULT_REPO_ID = "d2l-cv-lab/weights"
"""Hub repository the weights are uploaded to unless a card names another."""

DEFAULT_REVISION = "main"
"""Revision written into new cards; `upload_weights` replaces it with the uploaded commit's sha (a pin)."""

CARD_REQUIRED_FIELDS: tuple[str, ...] = ("data_seeds", "epochs", "wall_time_s", "device", "metrics")
"""What every model card passed to `save_weights` must say (see weights/README.md)."""

SAFETENSORS_SUFFIX = ".safetensors"


class DeployError(RuntimeError):
    """The lab cannot be deployed to a Space; the message says what to do."""


class WeightsError(RuntimeError):
    """Weights cannot be found, verified or written; the message says what to do."""


@dataclass(frozen=True)
class WeightsSpec:
    """One set of weights: where its file is and what the model needs to use it."""

    name: str  # "fcn", "ssd", "dcgan", ... also the file stem
    architecture: str  # a model-builder key, also shown in the UI
    config: dict  # keyword arguments of the model builder (backbone name, widths, ...)
    class_names: tuple[str, ...]  # () when not a classifier/detector
    mean: tuple[float, ...]  # input normalisation
    std: tuple[float, ...]
    input_size: tuple[int, ...]  # (C, H, W)
    filename: str  # "fcn.safetensors"
    sha256: str  # of the safetensors file
    repo_id: str  # Hub repo, e.g. "d2l-cv-lab/weights"
    revision: str  # pinned revision (commit sha or tag)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "WeightsSpec":
        """Build from a card's JSON object (extra keys are ignored; lists become tuples)."""
        names = [f.name for f in fields(cls)]
        missing = [n for n in names if n not in data]
        if missing:
            raise WeightsError(f"model card {data.get('name', '?')!r} lacks the field(s) {missing}")
        values = {n: data[n] for n in names}
        for key in ("class_names", "mean", "std", "input_size"):
            values[key] = tuple(values[key])
        values["config"] = dict(values["config"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("class_names", "mean", "std", "input_size"):
            data[key] = list(data[key])
        return data


SPEC_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(WeightsSpec))


# --- cards ------------------------------------------------------------------------------------------------


def weights_folder(weights_dir: str | os.PathLike | None = None) -> Path:
    """`weights_dir` as a Path; None = `WEIGHTS_DIR` (read at call time, so tests can point it elsewhere)."""
    return Path(weights_dir) if weights_dir is not None else WEIGHTS_DIR


def card_path(name: str, weights_dir: str | os.PathLike | None = None) -> Path:
    """``<weights_dir>/<name>.json`` (default ``weights/<name>.json``)."""
    _check_name(name)
    return weights_folder(weights_dir) / f"{name}.json"


def available(weights_dir: str | os.PathLike | None = None) -> list[str]:
    """Names of every model card in the folder (default ``weights/``)."""
    folder = weights_folder(weights_dir)
    return sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []


def load_card(name: str, weights_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """The whole JSON of ``weights/<name>.json``: the spec fields plus ``"card"`` (training facts, metrics)."""
    path = card_path(name, weights_dir)
    if not path.is_file():
        known = ", ".join(available(weights_dir)) or "none yet"
        raise WeightsError(
            f"No model card {path.name} in {path.parent}: train it with `python -m core.train {name}` "
            f"(cards present: {known})."
        )
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise WeightsError(f"{path} is not valid JSON ({error}).") from None


def load_spec(name: str, weights_dir: str | os.PathLike | None = None) -> WeightsSpec:
    """The `WeightsSpec` stored in ``weights/<name>.json``."""
    return WeightsSpec.from_dict(load_card(name, weights_dir))


def update_card(name: str, *, weights_dir: str | os.PathLike | None = None, **card_fields: Any) -> dict[str, Any]:
    """Add or replace entries of the model card (not the spec), e.g. ``update_card("fcn", metrics={...})``.

    A dict value is merged into an existing dict entry (evaluation metrics join the training ones).
    Returns the updated card.
    """
    protected = sorted(set(card_fields) & set(SPEC_FIELDS))
    if protected:
        raise ValueError(f"update_card changes the model card only; {protected} are spec fields (use save_weights)")
    data = load_card(name, weights_dir)
    card = data.setdefault("card", {})
    for key, value in card_fields.items():
        if isinstance(value, Mapping) and isinstance(card.get(key), Mapping):
            card[key] = {**card[key], **_jsonable(value)}
        else:
            card[key] = _jsonable(value)
    card["updated_at"] = _now()
    _write_json(card_path(name, weights_dir), data)
    return card


# --- resolving and loading ----------------------------------------------------------------------------------


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` is set (in the environment now, or as read by huggingface_hub at import)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}:
        return True
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _verify(path: Path, spec: WeightsSpec, source: str) -> Path:
    """`path` when its sha256 equals the card's, else a `WeightsError` naming the file and its source."""
    actual = sha256_file(path)
    if actual != spec.sha256:
        raise WeightsError(
            f"{spec.filename} from {source} ({path}) does not match its model card weights/{spec.name}.json: "
            f"sha256 {actual[:12]}... instead of {spec.sha256[:12]}.... The file is corrupt or belongs to another "
            f"training run: retrain with `python -m core.train {spec.name}`, or delete the file to fetch it again."
        )
    return path


def resolve_weights(
    spec: WeightsSpec,
    *,
    allow_download: bool | None = None,
    cache_dir: str | os.PathLike | None = None,
    weights_dir: str | os.PathLike | None = None,
) -> Path:
    """The local path of `spec`'s verified safetensors file (see the module docstring for the order).

    Args:
        spec: what to find.
        allow_download: None = download when the Hub is not offline; False = never; True = when not offline.
        cache_dir: Hugging Face cache folder (default: huggingface_hub's, from HF_HOME / HF_HUB_CACHE).
        weights_dir: the embedded weights' folder (default ``weights/``).

    Raises:
        WeightsError: not found anywhere allowed, not safetensors, or a sha256 mismatch.
    """
    if not spec.filename.endswith(SAFETENSORS_SUFFIX):
        raise WeightsError(f"{spec.name}: only safetensors weights are loaded, not {spec.filename!r}.")
    embedded = weights_folder(weights_dir) / spec.filename
    if embedded.is_file():
        return _verify(embedded, spec, "weights/")

    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    cache = os.fspath(cache_dir) if cache_dir is not None else None
    try:
        cached = hf_hub_download(
            spec.repo_id, spec.filename, revision=spec.revision, cache_dir=cache, local_files_only=True
        )
        return _verify(Path(cached), spec, "the Hugging Face cache")
    except LocalEntryNotFoundError:
        pass

    where = f"{spec.repo_id}@{spec.revision}/{spec.filename}"
    if hub_offline():
        raise WeightsError(
            f"{spec.name}: weights/{spec.filename} is missing and {where} is not in the Hugging Face cache; "
            f"HF_HUB_OFFLINE=1 forbids downloading it. Train it (`python -m core.train {spec.name}`) or go online."
        )
    if allow_download is False:
        raise WeightsError(
            f"{spec.name}: weights/{spec.filename} is missing and {where} is not in the Hugging Face cache "
            f"(downloads are not allowed here). Train it with `python -m core.train {spec.name}`."
        )
    try:
        downloaded = hf_hub_download(spec.repo_id, spec.filename, revision=spec.revision, cache_dir=cache)
    except Exception as error:  # network, 404, auth: one clear message
        raise WeightsError(f"{spec.name}: could not download {where} ({type(error).__name__}: {error}).") from error
    return _verify(Path(downloaded), spec, f"the Hub ({where})")


def load_state_dict(
    name_or_spec: str | WeightsSpec,
    *,
    allow_download: bool | None = None,
    weights_dir: str | os.PathLike | None = None,
) -> dict[str, torch.Tensor]:
    """The verified state dict, floating tensors upcast to float32 (weights are stored as fp16)."""
    from safetensors.torch import load_file

    spec = load_spec(name_or_spec, weights_dir) if isinstance(name_or_spec, str) else name_or_spec
    path = resolve_weights(spec, allow_download=allow_download, weights_dir=weights_dir)
    try:
        state = load_file(os.fspath(path), device="cpu")
    except Exception as error:
        raise WeightsError(f"{spec.name}: {path} is not a readable safetensors file ({error}).") from error
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


# --- saving ------------------------------------------------------------------------------------------------


def save_weights(
    name: str,
    state_dict: Mapping[str, torch.Tensor],
    *,
    spec_fields: Mapping[str, Any],
    card: Mapping[str, Any],
    fp16: bool = True,
    weights_dir: str | os.PathLike | None = None,
) -> WeightsSpec:
    """Write ``weights/<name>.safetensors`` (fp16 by default, at most 10 MiB) and its model card ``<name>.json``.

    Args:
        name: the weights' name and file stem (letters, digits, ``_``, ``-``).
        state_dict: the model's tensors (floating ones are stored as fp16 when `fp16`).
        spec_fields: `WeightsSpec` fields ``architecture``, ``config``, ``class_names``, ``mean``, ``std``,
            ``input_size``; optionally ``repo_id`` and ``revision``.
        card: the model card: at least ``data_seeds``, ``epochs``, ``wall_time_s``, ``device``, ``metrics``
            (`core.training.engine` writes them), plus anything else worth recording.
        weights_dir: the folder to write into (default ``weights/``; created when missing).

    Returns:
        The new spec (with the file's sha256).

    Raises:
        WeightsError: the file would exceed 10 MiB, or fp16 would overflow; nothing is written then.
        ValueError: missing spec or card fields.
    """
    from safetensors.torch import save as safetensors_bytes

    _check_name(name)
    required = {"architecture", "config", "class_names", "mean", "std", "input_size"}
    missing = sorted(required - set(spec_fields))
    derived = {"name", "filename", "sha256"}  # set by save_weights itself
    unknown = sorted((set(spec_fields) - set(SPEC_FIELDS)) | (set(spec_fields) & derived))
    if missing:
        raise ValueError(f"save_weights({name!r}): spec_fields lacks {missing}")
    if unknown:
        raise ValueError(f"save_weights({name!r}): spec_fields may not set {unknown}")
    card_missing = [k for k in CARD_REQUIRED_FIELDS if k not in card]
    if card_missing:
        raise ValueError(f"save_weights({name!r}): the model card lacks {card_missing}")

    tensors: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        tensor = value.detach().to("cpu")
        if fp16 and tensor.is_floating_point():
            converted = tensor.to(torch.float16)
            if bool(torch.isfinite(tensor).all()) and not bool(torch.isfinite(converted).all()):
                raise WeightsError(f"{name}: tensor {key!r} overflows float16 (max |x| = {tensor.abs().max():.3g}).")
            tensor = converted
        tensors[key] = tensor.contiguous().clone()  # clone: safetensors refuses shared storage
    blob = safetensors_bytes(tensors, metadata={"name": name, "format": "pt"})
    if len(blob) > MAX_WEIGHTS_BYTES:
        raise WeightsError(
            f"{name}: the weights take {len(blob) / 2**20:.2f} MiB, over the {MAX_WEIGHTS_BYTES / 2**20:.0f} MiB "
            f"limit for embedded weights; use a smaller model (fewer channels, a smaller backbone)."
        )
    sha = hashlib.sha256(blob).hexdigest()
    filename = f"{name}{SAFETENSORS_SUFFIX}"
    spec = WeightsSpec.from_dict(
        {
            "repo_id": DEFAULT_REPO_ID,
            "revision": DEFAULT_REVISION,
            **_jsonable(dict(spec_fields)),
            "name": name,
            "filename": filename,
            "sha256": sha,
        }
    )
    card_data = {
        **_jsonable(dict(card)),
        "saved_at": _now(),
        "size_bytes": len(blob),
        "dtype": "float16" if fp16 else "as trained",
        "parameters": int(sum(t.numel() for t in tensors.values() if t.is_floating_point())),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    folder = weights_folder(weights_dir)
    folder.mkdir(parents=True, exist_ok=True)
    _write_bytes(folder / filename, blob)
    _write_json(card_path(name, folder), {**spec.to_dict(), "card": card_data})
    return spec


# --- the Hub ----------------------------------------------------------------------------------------------


def upload_weights(repo_id: str, token: str | None = None, *, names: Sequence[str] | None = None) -> str:
    """Upload ``weights/`` (safetensors, cards, README) to the Hub repo and pin every card to the new commit.

    Afterwards each uploaded card's ``repo_id`` and ``revision`` name that commit: commit the updated cards to
    git so that a checkout without the safetensors files downloads exactly these bytes.
    Returns the commit sha. Needs a token with write access (argument, ``HF_TOKEN`` or ``hf auth login``).
    """
    from huggingface_hub import HfApi

    if hub_offline():
        raise WeightsError("HF_HUB_OFFLINE=1: unset it to upload.")
    names = list(names) if names is not None else available()
    if not names:
        raise WeightsError(f"Nothing to upload: no model cards in {WEIGHTS_DIR}.")
    specs = [load_spec(n) for n in names]
    for spec in specs:
        local = WEIGHTS_DIR / spec.filename
        if not local.is_file():
            raise WeightsError(f"{spec.name}: weights/{spec.filename} is missing; only embedded weights are uploaded.")
        _verify(local, spec, "weights/")
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="model", exist_ok=True)
    patterns = [s.filename for s in specs] + [f"{s.name}.json" for s in specs] + ["README.md"]
    info = api.upload_folder(
        repo_id=repo_id,
        folder_path=os.fspath(WEIGHTS_DIR),
        allow_patterns=patterns,
        commit_message=f"weights: {', '.join(names)}",
    )
    commit = info.oid
    for spec in specs:
        data = load_card(spec.name)
        data["repo_id"], data["revision"] = repo_id, commit
        _write_json(card_path(spec.name), data)
    return commit


# --- deploying the lab as a Hugging Face Space -----------------------------------------------------------


SPACE_INCLUDE: tuple[str, ...] = (
    "app.py",
    "requirements.txt",
    "README.md",
    "core/*",
    "demos/*",
    "weights/*",
    "docs/screenshots/*",
)
"""What a Space needs, as `fnmatch` patterns on paths relative to the checkout (``*`` also crosses ``/``): the app,
its packages, the embedded weights with their cards, and README.md, whose front matter configures the Space (its
screenshots come along so that the Space's README shows them). Everything else stays home: tests/, .ci/,
benchmarks/, pytest.ini, .gitignore."""

SPACE_EXCLUDE: tuple[str, ...] = ("*/__pycache__/*", "*.pyc", "*.log", ".*", "*/.*")
"""Never deployed, even inside an included folder: bytecode, logs, hidden files (``.git``, editors' files, the
half-written ``.<name>.tmp`` files of `save_weights`)."""

LARGE_FILE_PATTERNS: tuple[str, ...] = ("*.safetensors", "*.png", "*.jpg", "*.webp")
"""Binary files the Hub must keep in its large-file storage; `deploy_space` adds them to the Space's .gitattributes
so that a later `git push` to the Space stores them there too (with git-lfs installed)."""

LFS_ATTRIBUTES = "filter=lfs diff=lfs merge=lfs -text"
"""The attributes the Hub (and `git lfs track`) writes for a large-file pattern."""


@dataclass(frozen=True)
class SpaceFile:
    """One file of the deployed Space."""

    path: str  # relative to the checkout, with "/" separators; also its path in the Space
    size: int  # bytes

    @property
    def large(self) -> bool:
        """Whether the Hub keeps it in large-file storage (Xet/LFS) rather than as a plain git file."""
        return any(fnmatch.fnmatchcase(self.path, p) for p in LARGE_FILE_PATTERNS)


def space_files(root: str | os.PathLike | None = None) -> list[SpaceFile]:
    """The files that make the lab's Space, sorted by path.

    In a git checkout the candidates are the files git knows: tracked ones plus untracked ones that .gitignore does
    not ignore (``git ls-files --cached --others --exclude-standard``), so weights just trained are deployed before
    they are committed. Elsewhere (an unpacked archive) they are every file under `root`. Either way only the
    candidates matching `SPACE_INCLUDE` and none of `SPACE_EXCLUDE` are kept.

    Args:
        root: the checkout (default: `REPO_ROOT`).
    """
    root = Path(root) if root is not None else REPO_ROOT
    candidates = _git_files(root)
    if candidates is None:
        candidates = [
            Path(folder, name).relative_to(root).as_posix()
            for folder, subfolders, names in os.walk(root)
            for name in names
            if ".git" not in Path(folder).relative_to(root).parts
        ]
    chosen = []
    for path in sorted(set(candidates)):
        full = root / path
        if not full.is_file():  # deleted but still in git's index, or a submodule
            continue
        if any(fnmatch.fnmatchcase(path, p) for p in SPACE_INCLUDE) and not any(
            fnmatch.fnmatchcase(path, p) for p in SPACE_EXCLUDE
        ):
            chosen.append(SpaceFile(path, full.stat().st_size))
    return chosen


def _git_files(root: Path) -> list[str] | None:
    """``git ls-files`` of `root` when it is the top of a git work tree, else None."""
    try:
        top = subprocess.run(
            ["git", "-C", os.fspath(root), "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True
        ).stdout.strip()
        if Path(top).resolve() != root.resolve():
            return None  # root is a plain folder inside some other repository
        listing = subprocess.run(
            ["git", "-C", os.fspath(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):  # no git, or not a checkout
        return None
    return [p for p in listing.decode("utf-8", "surrogateescape").split("\0") if p]


def space_url(repo_id: str) -> str:
    """The Space's page on the Hub, e.g. ``https://huggingface.co/spaces/OWNER/NAME``."""
    from huggingface_hub import constants

    return f"{constants.ENDPOINT.rstrip('/')}/spaces/{repo_id}"


def space_gitattributes(existing: str = "") -> str:
    """The Space's .gitattributes: `existing` (the one the Hub wrote) plus a large-file line for every pattern of
    `LARGE_FILE_PATTERNS` it does not yet list."""
    listed = {line.split()[0] for line in existing.splitlines() if line.strip() and not line.startswith("#")}
    missing = [f"{p} {LFS_ATTRIBUTES}" for p in LARGE_FILE_PATTERNS if p not in listed]
    if not missing:
        return existing
    head = existing if not existing or existing.endswith("\n") else existing + "\n"
    return head + "\n".join(missing) + "\n"


def _check_space_id(repo_id: str) -> None:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    owner, _, name = repo_id.partition("/")
    problem = None if owner and name else "it is not OWNER/NAME"
    if problem is None:
        try:
            validate_repo_id(repo_id)
        except HFValidationError as error:
            problem = str(error)
    if problem:
        raise DeployError(
            f"{repo_id!r} is not a Space id ({problem}): give OWNER/NAME, your Hub user or organisation and a name "
            f"of letters, digits, '-', '_' or '.', e.g. `python -m core.hub deploy-space my-name/cv-lab`."
        )


def _check_space_files(root: Path, files: Sequence[SpaceFile]) -> None:
    """The Space would not start (or would show wrong weights) without these: refuse before touching the Hub."""
    paths = {f.path for f in files}
    lacking = [p for p in ("app.py", "requirements.txt", "README.md") if p not in paths]
    if lacking:
        raise DeployError(f"{root} lacks {lacking}: run deploy-space from the lab's checkout.")
    readme = (root / "README.md").read_text(encoding="utf-8")
    if not readme.startswith("---") or "sdk: gradio" not in readme.split("---")[1]:
        raise DeployError("README.md must start with the Space's front matter (---, sdk: gradio, ..., ---).")
    for file in files:
        if file.path.startswith("weights/") and file.path.endswith(SAFETENSORS_SUFFIX):
            card = root / (file.path[: -len(SAFETENSORS_SUFFIX)] + ".json")
            expected = json.loads(card.read_text()).get("sha256") if card.is_file() else None
            if expected != sha256_file(root / file.path):
                raise DeployError(
                    f"{file.path} does not match its model card {card.name} (or has none): the Space would refuse "
                    f"to load it. Check with `python -m core.hub verify`, retrain or restore it, then deploy."
                )


def deploy_space(
    repo_id: str,
    *,
    token: str | None = None,
    private: bool = False,
    dry_run: bool = False,
    root: str | os.PathLike | None = None,
    out: TextIO | None = None,
) -> str:
    """Deploy the lab as the Gradio Space `repo_id` (``OWNER/NAME``) in one commit; returns the Space's URL.

    Creates the Space if it does not exist (Gradio SDK, free CPU hardware; `private` only matters then), then
    commits every file of `space_files` with `HfApi.create_commit`, which puts the binaries in the Hub's large-file
    storage, together with a .gitattributes that lists them as large files (`space_gitattributes`). Files the Space
    holds under the lab's own folders (`SPACE_INCLUDE`) that the checkout no longer has are deleted in the same
    commit; anything else in the Space is left alone. The checkout is not changed.

    Args:
        repo_id: ``OWNER/NAME``, the Hub user or organisation and the Space's name.
        token: a write token (default: ``HF_TOKEN`` or the one saved by ``hf auth login``).
        private: create a new Space as private.
        dry_run: only print the files and sizes that would go up; no network.
        root: the checkout to deploy (default: `REPO_ROOT`).
        out: where the file list and progress are printed (default: sys.stdout).

    Raises:
        DeployError: a bad id, a missing or mismatched file, ``HF_HUB_OFFLINE=1`` (except with `dry_run`), or the
            Hub refused (no token, no write access, network).
    """
    out = out if out is not None else sys.stdout
    root = Path(root) if root is not None else REPO_ROOT
    _check_space_id(repo_id)
    if not dry_run and hub_offline():
        raise DeployError(
            "HF_HUB_OFFLINE=1 forbids the network, and deploying needs the Hub: unset it "
            f"(`HF_HUB_OFFLINE=0 python -m core.hub deploy-space {repo_id}`), or add --dry-run to see the file list."
        )
    files = space_files(root)
    _check_space_files(root, files)
    url = space_url(repo_id)
    for file in files:
        storage = "large file (Xet/LFS)" if file.large else "git"
        print(f"{file.path:44s} {_human_size(file.size):>10s}  {storage}", file=out)
    total = sum(f.size for f in files)
    large = sum(f.size for f in files if f.large)
    print(f"{len(files)} files, {_human_size(total)} ({_human_size(large)} as large files) -> {url}", file=out)
    if dry_run:
        print("dry run: nothing was sent.", file=out)
        return url

    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
        present = api.list_repo_files(repo_id, repo_type="space")
        existing = ""
        if ".gitattributes" in present:
            existing = Path(api.hf_hub_download(repo_id, ".gitattributes", repo_type="space")).read_text()
        paths = {f.path for f in files}
        operations: list[Any] = [CommitOperationAdd(f.path, os.fspath(root / f.path)) for f in files]
        operations.append(CommitOperationAdd(".gitattributes", space_gitattributes(existing).encode()))
        operations += [
            CommitOperationDelete(p)
            for p in present
            if p not in paths and any(fnmatch.fnmatchcase(p, g) for g in SPACE_INCLUDE)
        ]
        info = api.create_commit(
            repo_id,
            operations,
            repo_type="space",
            commit_message=f"Deploy the computer-vision lab ({len(files)} files)",
            commit_description=_git_head_line(root),
        )
    except (TypeError, AttributeError, NameError, LookupError):
        raise  # a bug in this function, not the Hub's answer
    except Exception as error:  # auth, permissions, network (httpx or requests): one message that says what to check
        raise DeployError(
            f"The Hub refused the deploy to {url} ({type(error).__name__}: {error}). Check the network and the "
            f"token: it must have write access to {repo_id.split('/')[0]} (`hf auth login`, HF_TOKEN or --token)."
        ) from error
    print(f"committed {getattr(info, 'oid', '?')}; the Space builds, then starts: {url}", file=out)
    return url


def _human_size(size: int) -> str:
    """``"812 B"``, ``"12.3 KiB"``, ``"4.41 MiB"``."""
    if size < 1024:
        return f"{size} B"
    if size < 2**20:
        return f"{size / 1024:.1f} KiB"
    return f"{size / 2**20:.2f} MiB"


def _git_head_line(root: Path) -> str:
    """``From git commit <sha>.`` when `root` is a git checkout, else ""."""
    try:
        sha = subprocess.run(
            ["git", "-C", os.fspath(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return f"From git commit {sha}."


# --- helpers ----------------------------------------------------------------------------------------------


def _check_name(name: str) -> None:
    if not name or not all(c.isalnum() or c in "_-" for c in name):
        raise ValueError(f"weights names use letters, digits, '_' and '-' only, got {name!r}")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()


def _jsonable(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().tolist()
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, range)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _write_bytes(path: Path, data: bytes) -> None:
    """Atomic write: a crash never leaves a half-written file beside a card."""
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, prefix=f".{path.name}.") as f:
        f.write(data)
        tmp = Path(f.name)
    os.replace(tmp, path)


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    _write_bytes(path, (json.dumps(data, indent=2, sort_keys=False) + "\n").encode())
