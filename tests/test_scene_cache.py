"""core.data.scene_cache: the cached arrays equal `make_scene`, chunks are reused, and nothing stale is served."""

from __future__ import annotations

import numpy as np
import pytest

from core.data import scene_cache
from core.data.scenes import make_scene


@pytest.fixture()
def small_chunks(monkeypatch):
    monkeypatch.setattr(scene_cache, "CHUNK", 4)


def assert_equals_make_scene(arrays: scene_cache.SceneArrays, seeds: range) -> None:
    assert len(arrays) == len(seeds) and arrays.seeds == seeds
    for i, seed in enumerate(seeds):
        scene = make_scene(seed)
        rows = arrays.objects(i)
        assert np.array_equal(arrays.images[i], scene.image)
        assert np.array_equal(arrays.masks[i], scene.mask)
        assert np.array_equal(arrays.instances[i], scene.instance_mask)
        assert np.array_equal(arrays.boxes[rows], scene.boxes) and arrays.boxes.dtype == np.float32
        assert np.array_equal(arrays.labels[rows], scene.labels) and arrays.labels.dtype == np.int64
        assert np.array_equal(arrays.visible[rows], scene.visible_fraction)
        again = arrays.scene(i)
        assert again.seed == seed and np.array_equal(again.instance_mask, scene.instance_mask)
        assert np.array_equal(again.boxes, scene.boxes)


def test_arrays_across_chunk_boundaries_equal_make_scene_then_come_from_disk(tmp_path, small_chunks, monkeypatch):
    seeds = range(2, 11)  # chunks [0, 4) from seed 2, [4, 8), [8, 12) up to seed 10
    assert_equals_make_scene(scene_cache.scene_arrays(seeds, cache_dir=tmp_path), seeds)
    folder = tmp_path / scene_cache.code_fingerprint()
    assert sorted(p.name for p in folder.iterdir()) == ["scenes_0_4.npz", "scenes_4_4.npz", "scenes_8_3.npz"]

    def no_generation(seed, *args, **kwargs):
        raise AssertionError(f"scene {seed} generated again")

    monkeypatch.setattr(scene_cache, "make_scene", no_generation)
    assert_equals_make_scene(scene_cache.scene_arrays(seeds, cache_dir=tmp_path), seeds)
    shorter = scene_cache.scene_arrays(range(5, 7), cache_dir=tmp_path)  # a prefix of a stored chunk
    assert np.array_equal(shorter.boxes, np.concatenate([make_scene(5).boxes, make_scene(6).boxes]))
    with pytest.raises(AssertionError, match="scene 8 "):  # chunk 8 holds seeds 8..10: its prefix to 11 is made anew
        scene_cache.scene_arrays(range(8, 12), cache_dir=tmp_path)


def test_a_larger_chunk_file_replaces_the_need_for_a_smaller_one(tmp_path, small_chunks):
    scene_cache.scene_arrays(range(0, 2), cache_dir=tmp_path)
    scene_cache.scene_arrays(range(0, 3), cache_dir=tmp_path)
    folder = tmp_path / scene_cache.code_fingerprint()
    assert sorted(p.name for p in folder.iterdir()) == ["scenes_0_2.npz", "scenes_0_3.npz"]
    assert scene_cache._chunk_file(folder, 0, 2).name == "scenes_0_2.npz"  # the smallest that holds enough
    assert scene_cache._chunk_file(folder, 0, 3).name == "scenes_0_3.npz"
    assert scene_cache._chunk_file(folder, 0, 4) is None


def test_no_cache_folder_and_only_the_requested_pixels(tmp_path):
    arrays = scene_cache.scene_arrays(range(7, 9), fields=("images",), cache_dir=None)
    assert arrays.masks is None and arrays.instances is None and arrays.images.shape == (2, 256, 256, 3)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="needs images, masks and instances"):
        arrays.scene(0)
    with pytest.raises(ValueError, match="unknown fields"):
        scene_cache.scene_arrays(range(2), fields=("depth",), cache_dir=None)
    with pytest.raises(ValueError, match="consecutive"):
        scene_cache.scene_arrays(range(0, 4, 2), cache_dir=None)


def test_the_cache_folder_follows_the_scene_code():
    fingerprint = scene_cache.code_fingerprint()
    assert len(fingerprint) == 12 and all(c in "0123456789abcdef" for c in fingerprint)
