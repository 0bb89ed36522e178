"""Selective-search proposals of the generated scenes, computed once and cached on disk (loader, like the scene
cache of `core.data.scene_cache`).

Both R-CNN and Fast R-CNN train on the proposals of thousands of scenes; selective search takes about a second per
256x256 scene on one CPU core, so the proposals of each scene seed are written to
``$LAB_PROPOSAL_CACHE/<settings key>/<seed>.npy`` ((N, 4) float32 xyxy pixels, best-ranked first) and read back
afterwards. They are a pure function of the seed and `PROPOSAL_STRATEGIES`, so the cache is always valid; the
settings key changes whenever the strategies do.

``python -m core.data.proposals --split train --count 2500`` fills the cache ahead of training (a second process
can fill another split at the same time: files are written atomically).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from typing import Sequence

import numpy as np

from core.ops.selective_search import FAST, Strategy, selective_search

PROPOSAL_STRATEGIES: tuple[Strategy, ...] = FAST
"""The strategies of the scenes' proposals: the paper's "fast" mode (HSV and Lab, k = 50 and 100, C+T+S+F and
T+S+F); about 1,100 proposals per scene, recall 1.0 at IoU 0.5 on the first test scenes."""

PROPOSAL_SEED = 0
"""Seed of selective search's random ranking."""

CACHE_DIR = os.environ.get("LAB_PROPOSAL_CACHE", "/tmp/lab_proposal_cache")

_VERSION = 1
"""Bump when the algorithm changes in a way the strategies do not show."""


def settings_key(strategies: Sequence[Strategy] = PROPOSAL_STRATEGIES, seed: int = PROPOSAL_SEED) -> str:
    """A short hash naming the cache folder of these settings."""
    text = json.dumps({"v": _VERSION, "seed": seed, "strategies": [s.to_dict() for s in strategies]}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def scene_proposals(seed: int, strategies: Sequence[Strategy] = PROPOSAL_STRATEGIES) -> np.ndarray:
    """(N, 4) float32 selective-search boxes of scene `seed` (`core.data.scenes.make_scene(seed)`), cached."""
    folder = os.path.join(CACHE_DIR, settings_key(strategies))
    path = os.path.join(folder, f"{int(seed)}.npy")
    if os.path.exists(path):
        try:
            boxes = np.load(path)
            if boxes.ndim == 2 and boxes.shape[1] == 4:
                return boxes
        except (OSError, ValueError):
            pass
    from core.data.scenes import make_scene

    boxes = selective_search(make_scene(int(seed)).image, strategies, seed=PROPOSAL_SEED).boxes
    try:
        os.makedirs(folder, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp.npy"
        np.save(tmp, boxes)
        os.replace(tmp, path)
    except OSError:
        pass
    return boxes


def main(argv: Sequence[str] | None = None) -> int:
    from core.data.scenes import split_seeds

    parser = argparse.ArgumentParser(prog="python -m core.data.proposals", description="Fill the proposal cache.")
    parser.add_argument("--split", default="train")
    parser.add_argument("--count", type=int, default=None)
    parser.add_argument("--start", type=int, default=0, help="skip the first START seeds of the split")
    args = parser.parse_args(argv)
    seeds = list(split_seeds(args.split, args.count))[args.start:]
    started = time.time()
    for i, seed in enumerate(seeds):
        scene_proposals(seed)
        if (i + 1) % 50 == 0:
            print(f"{args.split}: {i + 1}/{len(seeds)} scenes, {time.time() - started:.0f} s", flush=True)
    print(f"{args.split}: {len(seeds)} scenes done in {time.time() - started:.0f} s ({CACHE_DIR})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
