"""core.weights.registry: one function loads every embedded model by name, once per device, thread-safely."""

from __future__ import annotations

import shutil
import threading
import time

import pytest
import torch

from core.weights import hub, registry

EXPECTED_TYPES = {
    "ssd": "SSD",
    "faster_rcnn": "FasterRCNN",
    "fcn": "FCN",
    "dcgan": "Generator",
    "cgan": "ConditionalGenerator",
    "cyclegan": "CycleGAN",
    "progan": "GrownGenerators",
    "finetune_source": "SourceWeights",
    "rcnn": "RCNN",
    "fast_rcnn": "FastRCNN",
}


def test_every_embedded_model_is_registered_and_loads_as_documented():
    assert set(registry.BUILDERS) == set(hub.available()) == set(EXPECTED_TYPES)
    for name, kind in EXPECTED_TYPES.items():
        model = registry.load_model(name)
        assert type(model).__name__ == kind, name
        assert registry.load_model(name, torch.device("cpu")) is model  # one cache: "cpu" == torch.device("cpu")
        modules = [model] if isinstance(model, torch.nn.Module) else [
            m for m in (getattr(model, "a_to_b", None), getattr(model, "b_to_a", None)) if m is not None
        ] + list(getattr(model, "snapshots", []))
        assert all(not m.training for m in modules), name  # eval mode
    source = registry.load_model("finetune_source")
    state, mean, std = source  # unpacks as the tab uses it
    assert state["fc.weight"].shape[0] == 35 and 0 < std < 1 and mean == pytest.approx(hub.load_spec("finetune_source").mean[0])


def test_unknown_names_are_clear():
    with pytest.raises(KeyError, match="no model named 'yolo' .*known: cgan, cyclegan"):
        registry.load_model("yolo")


def counting_builder(spec, state, device):
    """A stand-in builder: slow, and counts its calls."""
    counting_builder.calls += 1
    time.sleep(0.2)
    return object()


counting_builder.calls = 0


def test_a_model_is_built_once_under_concurrent_requests(monkeypatch):
    monkeypatch.setitem(registry.BUILDERS, "dcgan", "tests.test_registry:counting_builder")
    monkeypatch.setattr(registry, "_CACHE", {})
    counting_builder.calls = 0
    results = []
    threads = [threading.Thread(target=lambda: results.append(registry.load_model("dcgan"))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counting_builder.calls == 1 and len(results) == 8 and all(r is results[0] for r in results)
    assert registry.loaded() == [("dcgan", "cpu")]


def test_build_model_reads_another_folder_and_is_not_cached(tmp_path):
    for suffix in (".json", ".safetensors"):
        shutil.copy(hub.WEIGHTS_DIR / f"dcgan{suffix}", tmp_path / f"dcgan{suffix}")
    fresh = registry.build_model("dcgan", tmp_path)
    shared = registry.load_model("dcgan")
    assert fresh is not shared and fresh is not registry.build_model("dcgan", tmp_path)
    for a, b in zip(fresh.state_dict().values(), shared.state_dict().values()):
        assert torch.equal(a, b)
    (tmp_path / "dcgan.safetensors").write_bytes(b"not the weights")
    with pytest.raises(hub.WeightsError, match="does not match"):
        registry.build_model("dcgan", tmp_path)
