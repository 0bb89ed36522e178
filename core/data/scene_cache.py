"""One cache of generated scenes: the arrays of consecutive seeds that training loops and evaluations index.

`core.data.scenes.make_scene(seed)` is a pure function of its seed (and of that module's code), at 50-150 ms a
scene on this CPU; a training run over 6,000 scenes would spend minutes generating them again. `scene_arrays`
generates each scene once and keeps it on disk:

  * ``<cache_dir>/<code fingerprint>/scenes_<first>_<n>.npz`` holds the first ``n`` seeds of the chunk of
    `CHUNK` seeds that starts at ``first`` (a multiple of `CHUNK`). The fingerprint is the sha256 of
    ``core/data/scenes.py``: editing the scene generator starts a fresh cache instead of serving stale scenes.
  * A request reuses a chunk file that holds at least the seeds it needs; otherwise that chunk's prefix is
    generated and written (atomically: a crashed or concurrent writer never leaves a half file).

Delete the folder freely; it is regenerated from the seeds. ``LAB_SCENE_CACHE`` chooses it.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from core.data import scenes as scenes_module
from core.data.scenes import Scene, make_scene

SCENE_CACHE_DIR = Path(os.environ.get("LAB_SCENE_CACHE", "/tmp/lab_scene_cache"))
"""Where chunks of generated scenes are kept (``LAB_SCENE_CACHE`` overrides it)."""

CHUNK = 250
"""Seeds per cache file (a chunk starts at a multiple of this)."""

PIXEL_FIELDS: tuple[str, ...] = ("images", "masks", "instances")
"""The per-pixel arrays a request may ask for (the per-object ones always come: they are small)."""


@dataclass
class SceneArrays:
    """Scenes of consecutive seeds as arrays; the objects of scene i are rows ``offsets[i]:offsets[i + 1]``.

    Attributes:
        seeds (range): the seeds, in order.
        images (ndarray[N, H, W, 3] uint8 | None): RGB images (None when not requested).
        masks (ndarray[N, H, W] uint8 | None): class maps, 0 = background, k + 1 = class k.
        instances (ndarray[N, H, W] uint8 | None): object maps, i + 1 = object i of the scene.
        boxes (ndarray[M, 4] float32): (x1, y1, x2, y2) pixels of every object of every scene.
        labels (ndarray[M] int64): class indices (0-based).
        visible (ndarray[M] float32): visible share of each object's area.
        offsets (ndarray[N + 1] int64): where each scene's objects start in `boxes` / `labels` / `visible`.
    """

    seeds: range
    images: np.ndarray | None
    masks: np.ndarray | None
    instances: np.ndarray | None
    boxes: np.ndarray
    labels: np.ndarray
    visible: np.ndarray
    offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.seeds)

    def objects(self, index: int) -> slice:
        """The rows of scene `index` in `boxes`, `labels` and `visible`."""
        return slice(int(self.offsets[index]), int(self.offsets[index + 1]))

    def scene(self, index: int) -> Scene:
        """Scene `index` as `make_scene` returned it (needs all three pixel arrays)."""
        if self.images is None or self.masks is None or self.instances is None:
            raise ValueError("scene() needs images, masks and instances: request all PIXEL_FIELDS")
        rows = self.objects(index)
        return Scene(
            image=self.images[index], boxes=self.boxes[rows], labels=self.labels[rows], mask=self.masks[index],
            instance_mask=self.instances[index], visible_fraction=self.visible[rows], seed=int(self.seeds[index]),
        )


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """The first 12 hex digits of the sha256 of ``core/data/scenes.py`` (the cache's folder name)."""
    return hashlib.sha256(Path(scenes_module.__file__).read_bytes()).hexdigest()[:12]


def _generate(seeds: range) -> dict[str, np.ndarray]:
    """Every field of `make_scene(seed)` for each seed, stacked (the layout of a chunk file)."""
    made = [make_scene(int(seed)) for seed in seeds]
    counts = [len(s.labels) for s in made]
    return {
        "images": np.stack([s.image for s in made]),
        "masks": np.stack([s.mask for s in made]),
        "instances": np.stack([s.instance_mask for s in made]),
        "boxes": np.concatenate([s.boxes for s in made]).astype(np.float32).reshape(-1, 4),
        "labels": np.concatenate([s.labels for s in made]).astype(np.int64),
        "visible": np.concatenate([s.visible_fraction for s in made]).astype(np.float32),
        "offsets": np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
    }


def _chunk_file(folder: Path, first: int, needed: int) -> Path | None:
    """An existing file of the chunk starting at `first` holding at least its first `needed` seeds."""
    best = None
    for path in folder.glob(f"scenes_{first}_*.npz"):
        try:
            held = int(path.stem.rsplit("_", 1)[1])
        except ValueError:
            continue
        if held >= needed and (best is None or held < best[0]):
            best = (held, path)
    return best[1] if best else None


def _write(path: Path, data: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.stem}.", suffix=".npz", delete=False) as f:
        np.savez(f, **data)
        tmp = Path(f.name)
    os.replace(tmp, path)


def _slice(data: dict[str, np.ndarray], start: int, stop: int, fields: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Scenes start..stop (positions in a chunk) of a chunk's arrays, objects re-based to start at row 0."""
    first, last = int(data["offsets"][start]), int(data["offsets"][stop])
    part = {key: data[key][start:stop] for key in fields}
    part.update(boxes=data["boxes"][first:last], labels=data["labels"][first:last],
                visible=data["visible"][first:last], offsets=data["offsets"][start : stop + 1] - first)
    return part


def scene_arrays(
    seeds: range,
    *,
    fields: tuple[str, ...] = PIXEL_FIELDS,
    cache_dir: str | os.PathLike | None = SCENE_CACHE_DIR,
    log: bool = False,
) -> SceneArrays:
    """The scenes of the consecutive `seeds` as `SceneArrays`, from the cache (generated and saved when missing).

    Args:
        seeds: a range with step 1, e.g. ``core.data.scenes.split_seeds("train", 4000)``.
        fields: which of `PIXEL_FIELDS` to load (the others are None; 6,000 scenes take 1.2 GB of images).
        cache_dir: the cache's folder; None = generate everything and keep nothing.
        log: print one line per generated chunk to stderr.
    """
    if seeds.step != 1 or len(seeds) == 0:
        raise ValueError(f"scene_arrays wants consecutive seeds (a non-empty range with step 1), got {seeds}")
    unknown = sorted(set(fields) - set(PIXEL_FIELDS))
    if unknown:
        raise ValueError(f"unknown fields {unknown}; choose from {PIXEL_FIELDS}")
    folder = Path(cache_dir) / code_fingerprint() if cache_dir is not None else None
    parts: list[dict[str, np.ndarray]] = []
    started = time.time()
    position = seeds.start
    while position < seeds.stop:
        first = position - position % CHUNK
        stop = min(seeds.stop, first + CHUNK)
        if folder is None:
            data = _generate(range(position, stop))
            parts.append(_slice(data, 0, stop - position, fields))
        else:
            needed = stop - first
            path = _chunk_file(folder, first, needed)
            if path is not None:
                with np.load(path) as stored:
                    data = {key: stored[key] for key in (*fields, "boxes", "labels", "visible", "offsets")}
            else:
                data = _generate(range(first, stop))
                _write(folder / f"scenes_{first}_{needed}.npz", data)
                if log:
                    print(f"scenes {first}..{stop - 1} generated ({time.time() - started:.0f} s)",
                          file=sys.stderr, flush=True)
            parts.append(_slice(data, position - first, stop - first, fields))
        position = stop
    return _concatenate(seeds, parts, fields)


def _concatenate(seeds: range, parts: list[dict[str, np.ndarray]], fields: tuple[str, ...]) -> SceneArrays:
    offsets = [np.zeros(1, np.int64)]
    base = 0
    for part in parts:
        offsets.append(part["offsets"][1:] + base)
        base += int(part["offsets"][-1])

    def joined(key: str) -> np.ndarray:
        return np.concatenate([p[key] for p in parts]) if len(parts) > 1 else parts[0][key]

    return SceneArrays(
        seeds=seeds,
        images=joined("images") if "images" in fields else None,
        masks=joined("masks") if "masks" in fields else None,
        instances=joined("instances") if "instances" in fields else None,
        boxes=joined("boxes").reshape(-1, 4),
        labels=joined("labels"),
        visible=joined("visible"),
        offsets=np.concatenate(offsets),
    )
