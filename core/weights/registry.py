"""The one place models load by name: ``load_model(name, device)`` for every embedded model, tab and benchmark.

Each model module builds itself from its card's `WeightsSpec`, a verified state dict and a device,
``from_weights(spec, state, device)``, listed in `BUILDERS`. `load_model` resolves the weights through
`core.weights.hub` (``weights/`` first; sha256 checked), builds the model once per (name, device), moves it
there, and hands every caller the same object: models are loaded lazily, once, thread-safely, and shared.
Treat what it returns as read-only (inference only).

What each name gives (`BUILDERS` lists the builder):

| name              | returns                                                                   |
|-------------------|---------------------------------------------------------------------------|
| ``ssd``           | `core.models.ssd.SSD` (eval; warmed up on a blank scene)                  |
| ``faster_rcnn``   | torchvision ``FasterRCNN`` from `core.models.faster_rcnn` (eval)          |
| ``fcn``           | `core.models.fcn.FCN` (eval)                                              |
| ``dcgan``         | `core.models.dcgan.Generator` (eval)                                      |
| ``cgan``          | `core.models.cgan.ConditionalGenerator` (eval)                            |
| ``cyclegan``      | `core.models.cyclegan.CycleGAN`: both generators (eval)                   |
| ``progan``        | `core.models.progan.GrownGenerators`: the generator after every stage     |
| ``finetune_source`` | `core.models.finetune.SourceWeights`: state dict, mean, std (CPU)   |
| ``rcnn``          | `core.models.rcnn.RCNN`: CNN, SVMs, box regressors, Platt sigmoids (eval) |
| ``fast_rcnn``     | `core.models.fast_rcnn.FastRCNN` (eval)                                   |

`build_model(name, weights_dir)` builds a fresh, uncached copy from another folder (an evaluation of weights a
training run wrote elsewhere). `load_spec` is `core.weights.hub.load_spec` (the card's spec).
"""

from __future__ import annotations

import importlib
import os
import threading
from typing import Any, Callable

import torch

from core.weights import hub
from core.weights.hub import load_spec  # noqa: F401  (re-exported: the spec beside the model)

BUILDERS: dict[str, str] = {
    "ssd": "core.models.ssd:from_weights",
    "faster_rcnn": "core.models.faster_rcnn:from_weights",
    "fcn": "core.models.fcn:from_weights",
    "dcgan": "core.models.dcgan:from_weights",
    "cgan": "core.models.cgan:from_weights",
    "cyclegan": "core.models.cyclegan:from_weights",
    "progan": "core.models.progan:from_weights",
    "finetune_source": "core.models.finetune:from_weights",
    "rcnn": "core.models.rcnn:from_weights",
    "fast_rcnn": "core.models.fast_rcnn:from_weights",
}
"""Weights name -> "module:function" building the model from ``(spec, state_dict, device)``."""

_CACHE: dict[tuple[str, str], Any] = {}
_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_LOCKS_LOCK = threading.Lock()


def builder(name: str) -> Callable[[hub.WeightsSpec, dict[str, torch.Tensor], torch.device], Any]:
    """The ``from_weights`` function registered for `name`."""
    if name not in BUILDERS:
        raise KeyError(f"no model named {name!r} (known: {', '.join(sorted(BUILDERS))})")
    module, _, function = BUILDERS[name].partition(":")
    return getattr(importlib.import_module(module), function)


def build_model(name: str, weights_dir: str | os.PathLike | None = None,
                device: str | torch.device = "cpu") -> Any:
    """A fresh (uncached) model `name` from the card and weights in `weights_dir` (default ``weights/``)."""
    spec = hub.load_spec(name, weights_dir)
    return builder(name)(spec, hub.load_state_dict(spec, weights_dir=weights_dir), torch.device(device))


def load_model(name: str, device: str | torch.device = "cpu") -> Any:
    """The embedded model `name` on `device`, built on first use and shared afterwards (see the table above).

    Raises:
        KeyError: no such model; `core.weights.hub.WeightsError`: its weights are missing or corrupt.
    """
    builder(name)  # unknown names fail here, before any lock
    key = (name, str(torch.device(device)))
    with _LOCKS_LOCK:
        lock = _LOCKS.setdefault(key, threading.Lock())
    with lock:  # one build per (name, device); other models load in parallel
        if key not in _CACHE:
            _CACHE[key] = build_model(name, None, device)
        return _CACHE[key]


def loaded() -> list[tuple[str, str]]:
    """The (name, device) pairs built so far."""
    return sorted(_CACHE)
