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
import hashlib
import json
import os
import platform
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

WEIGHTS_DIR: Path = Path(__file__).resolve().parents[2] / "weights"
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
