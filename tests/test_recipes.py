"""Every model's recipe trains under ``torchrun --standalone --nproc_per_node=2`` on the CPU (gloo), a few steps on
tiny data, and writes weights that the registry loads and a card that says how they were made.

One torchrun launch trains all ten in turn (`main` below, run as ``python -m tests.test_recipes OUT``): each
model goes through the command line (`core.training.engine.main`) in the same two processes. Also single-process
checks of the recipes' own pieces: the augmentation drawn for a global batch does not depend on the number of
processes, and ProGAN's schedule.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import ROOT
from tests.test_registry import EXPECTED_TYPES

TINY: dict[str, list[str]] = {
    "ssd": ["--quick", "--train-scenes", "8", "--val-scenes", "2", "--batch-size", "4"],
    "faster_rcnn": ["--quick", "--train-scenes", "8", "--val-scenes", "2", "--batch-size", "4"],
    "fcn": ["--quick", "--val-scenes", "2"],
    "dcgan": ["--quick"],
    "cgan": ["--quick"],
    "progan": ["--quick"],
    "cyclegan": ["--quick"],
    "finetune_source": ["--quick"],
    "rcnn": ["--quick", "--train-scenes", "4", "--svm-scenes", "2", "--val-scenes", "2"],
    "fast_rcnn": ["--quick", "--train-scenes", "4", "--val-scenes", "2", "--batch-size", "2"],
}
"""Flags after ``--max-steps 2 --out DIR``: the recipe's smoke settings, with even less data for the scene models."""

STEPS = 2


def main(out: Path) -> None:
    """Under torchrun: train every model of `TINY` for `STEPS` steps into ``out/<model>``; the outcome of each
    (exit status or error) goes to ``out/<model>.status`` (process 0)."""
    from core.training import engine

    torch.distributed.init_process_group("gloo", timeout=datetime.timedelta(minutes=5))  # one group for all ten runs
    rank = torch.distributed.get_rank()
    for model, flags in TINY.items():
        started = time.time()
        try:
            status = str(engine.main([model, "--max-steps", str(STEPS), "--out", str(out / model), *flags]))
        except Exception as error:  # noqa: BLE001 - reported per model by the test
            status = f"{type(error).__name__}: {error}"
        if rank == 0:
            (out / f"{model}.status").write_text(json.dumps({"status": status, "seconds": time.time() - started}))
        torch.distributed.barrier()
    torch.distributed.destroy_process_group()


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("recipes")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "LAB_SCENE_CACHE": str(out / "scene_cache")}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "tests.test_recipes", str(out)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    (out / "log.txt").write_text(done.stdout + done.stderr)
    assert done.returncode == 0, done.stderr[-4000:]
    return out


@pytest.mark.parametrize("model", sorted(TINY))
def test_each_model_trains_with_two_processes(trained, model):
    from core.weights import hub, registry

    status = json.loads((trained / f"{model}.status").read_text())
    assert status["status"] == "0", status
    out = trained / model
    card = hub.load_card(model, out)["card"]
    assert card["world_size"] == 2 and card["steps"] == STEPS and card["max_steps"] == STEPS
    assert card["device"] == f"cpu ({os.cpu_count()} cores, 1 thread per process)"
    assert card["wall_time_s"] > 0 and card["quick"] is True and card["seed"] == 0
    assert card["command"].startswith(f"torchrun --nproc_per_node=2 -m core.train {model} --max-steps 2")
    assert card["history"][-1]["step"] == STEPS and "metrics" in card and "data_seeds" in card
    assert hub.available(out) == [model]
    loaded = registry.build_model(model, out)  # the saved spec rebuilds the saved weights
    assert type(loaded).__name__ == EXPECTED_TYPES[model]


# --- single-process pieces ----------------------------------------------------------------------------------


def process(rank: int, world: int):
    """Process `rank` of `world` (its `shard` needs no process group)."""
    from core.training.engine import Run

    return Run(rank=rank, world_size=world, local_rank=rank, device=torch.device("cpu"), seed=0, out=Path("."))


def test_ssd_windows_of_a_global_batch_are_split_not_redrawn():
    from core.data.scene_cache import scene_arrays
    from core.training.recipes.ssd import draw_windows, window_batch

    scenes = scene_arrays(range(4), fields=("images", "instances"), cache_dir=None)
    windows = draw_windows(np.random.default_rng(0), 4, 256, 256, 192, (1.0, 1.35))
    whole, whole_targets = window_batch(scenes, np.arange(4), windows, 192)
    for rank in (0, 1):
        mine = process(rank, 2).shard(range(4))
        part, part_targets = window_batch(scenes, np.arange(4)[mine], [windows[i] for i in mine], 192)
        assert torch.equal(part, whole[rank::2])
        assert all(torch.equal(a["boxes"], b["boxes"]) for a, b in zip(part_targets, whole_targets[rank::2]))


def test_fcn_augmentation_of_a_global_batch_is_split_not_redrawn():
    from core.data.scene_cache import scene_arrays
    from core.training.recipes.fcn import apply_augmentation, draw_augmentation

    scenes = scene_arrays(range(4), fields=("images", "masks"), cache_dir=None)
    aug = draw_augmentation(np.random.default_rng(0), 4, 256, 160)
    x, y = apply_augmentation(scenes.images, scenes.masks, np.arange(4), 160, aug)
    assert x.shape == (4, 3, 160, 160) and y.shape == (4, 160, 160)
    for rank in (0, 1):
        mine = process(rank, 2).shard(np.arange(4))
        xs, ys = apply_augmentation(scenes.images, scenes.masks, np.arange(4)[mine], 160, aug.select(mine))
        assert torch.equal(xs, x[rank::2]) and torch.equal(ys, y[rank::2])
    i = 0  # the first crop's mask is the scene's mask in the drawn window, mirrored when flipped
    top, left, flip = int(aug.tops[i]), int(aug.lefts[i]), bool(aug.flips[i])
    expected = scenes.masks[i, top : top + 160, left : left + 160][:, :: -1 if flip else 1]
    assert np.array_equal(y[i].numpy(), expected)


def test_progan_schedule_and_snapshots():
    from core.training.recipes.progan import ProGANRecipe, ProGANSettings

    recipe = ProGANRecipe(ProGANSettings(iterations=4, batch_size=2), process(0, 1))
    recipe.build()
    assert recipe.total_steps == 28  # 4x4 stable, then fade + stable at 8, 16 and 32 pixels
    assert recipe.schedule(0) == (0, "stable", 1.0, False) and recipe.schedule(3) == (0, "stable", 1.0, True)
    assert recipe.schedule(4) == (1, "fade", 0.25, False) and recipe.schedule(7) == (1, "fade", 1.0, False)
    assert recipe.schedule(11) == (1, "stable", 1.0, True) and recipe.schedule(27) == (3, "stable", 1.0, True)
    state = recipe.state_dict()  # no step yet: every stage holds the initial generator
    assert {k.split(".")[0] for k in state} == {"stage0", "stage1", "stage2", "stage3"}


if __name__ == "__main__":
    main(Path(sys.argv[1]))
