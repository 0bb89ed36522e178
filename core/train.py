"""``python -m core.train <model>``: train one of the lab's models on this machine and embed its weights.

Models register here by one line in `TRAINERS` ("name": "module:function"). The function receives the parsed
command line (`argparse.Namespace`: ``model``, ``epochs`` (None = the model's default), ``seed``, ``device``
(a resolved `torch.device`), ``quick`` (a tiny smoke-test run), ``extra`` (unparsed model-specific flags))
and writes its weights with `core.hub.save_weights`, using `run_card` for the model card.

Common flags: ``--epochs N --seed S --device auto|cpu|cuda[:i] --quick``. The seeds of Python, NumPy and
torch are fixed before the trainer runs; ``auto`` picks CUDA when present.
"""

from __future__ import annotations

import argparse
import importlib
import os
import random
import sys
import time
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar

import numpy as np
import torch

T = TypeVar("T")

TRAINERS: dict[str, str] = {
    "finetune_source": "core.models.finetune:train",  # issue 9
    "dcgan": "core.models.dcgan:train",  # issue 8
    "cgan": "core.models.cgan:train",  # issue 8
    "cyclegan": "core.models.cyclegan:train",  # issue 8
    "progan": "core.models.progan:train",  # issue 8
    "faster_rcnn": "core.models.faster_rcnn:train",  # issue 5
    "ssd": "core.models.ssd:train",  # issue 5
    "fcn": "core.models.fcn:train",  # issue 6
    "rcnn": "core.training.rcnn:train",  # issue 16
    "fast_rcnn": "core.training.fast_rcnn:train",  # issue 16
}
"""Model name -> "module:function" that trains it. Each model's issue adds one line."""


class UnknownModelError(ValueError):
    """A model name that no table knows; the message lists the known ones."""


def lookup(name: str, table: Mapping[str, str], kind: str = "trainer") -> Callable[[argparse.Namespace], Any]:
    """Import the function registered under `name` in `table` ("module:function")."""
    if name not in table:
        known = ", ".join(sorted(table)) or "none registered yet"
        raise UnknownModelError(f"unknown model {name!r}: no {kind} is registered under that name (known: {known})")
    target = table[name]
    module_name, _, function_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, function_name)
    except (ImportError, AttributeError) as error:
        raise UnknownModelError(f"the {kind} of {name!r} ({target}) cannot be loaded: {error}") from error


def resolve_device(name: str = "auto") -> torch.device:
    """"auto" -> cuda when available, else cpu; an explicit device must exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but CUDA is not available here (use --device auto or cpu)")
    return device


def seed_everything(seed: int) -> None:
    """Fix Python's, NumPy's and torch's global seeds (command-line training only; never in a request path)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def progress(iterable: Iterable[T], **kwargs: Any) -> Iterable[T]:
    """A tqdm progress bar (to stderr; ``LAB_NO_PROGRESS=1`` hides it)."""
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=bool(os.environ.get("LAB_NO_PROGRESS")), dynamic_ncols=True, **kwargs)


def run_card(
    args: argparse.Namespace,
    *,
    started: float,
    data_seeds: Any,
    metrics: Mapping[str, Any],
    epochs: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The model card entries every trainer records (pass to `core.hub.save_weights(card=...)`).

    Args:
        args: the parsed command line.
        started: ``time.time()`` when training began (wall time is measured to now).
        data_seeds: what data was used, e.g. ``{"train": [0, 4000], "val": [1000000, 1000500]}``.
        metrics: validation numbers measured at the end of training.
        epochs: the epochs actually run (default ``args.epochs``).
        extra: anything else worth recording (learning rate, batch size, ...).
    """
    device = torch.device(args.device) if not isinstance(args.device, torch.device) else args.device
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({os.cpu_count()} cores)"
    return {
        "data_seeds": data_seeds,
        "epochs": epochs if epochs is not None else args.epochs,
        "seed": args.seed,
        "quick": bool(args.quick),
        "wall_time_s": round(time.time() - started, 1),
        "device": device_name,
        "metrics": dict(metrics),
        "command": "python -m core.train " + " ".join(getattr(args, "argv", [args.model])),
        **extra,
    }


def build_parser(prog: str, table: Mapping[str, str], kind: str) -> argparse.ArgumentParser:
    known = ", ".join(sorted(table)) or "none registered yet"
    parser = argparse.ArgumentParser(prog=prog, description=f"Run a model's {kind} by name (known: {known}).")
    parser.add_argument("model", help=f"model name (known: {known})")
    parser.add_argument("--epochs", type=int, default=None, help="epochs (default: the model's own)")
    parser.add_argument("--seed", type=int, default=0, help="seed of Python, NumPy and torch")
    parser.add_argument("--device", default="auto", help="auto (cuda when present), cpu, cuda, cuda:N")
    parser.add_argument("--quick", action="store_true", help="a tiny run for smoke tests")
    return parser


def run_cli(
    argv: Sequence[str] | None, table: Mapping[str, str], *, kind: str, prog: str, parser: argparse.ArgumentParser | None = None
) -> tuple[int, Any]:
    """Parse, look the model up, fix the seeds, call it. Returns (exit status, the function's result)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = parser or build_parser(prog, table, kind)
    args, extra = parser.parse_known_args(argv)
    args.extra = extra
    args.argv = argv
    try:
        function = lookup(args.model, table, kind)
        args.device = resolve_device(args.device)
    except (UnknownModelError, ValueError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2, None
    if args.epochs is not None and args.epochs < 1:
        print(f"{prog}: error: --epochs must be at least 1", file=sys.stderr)
        return 2, None
    seed_everything(args.seed)
    print(f"{kind} {args.model}: device={args.device} seed={args.seed} epochs={args.epochs or 'default'}"
          + (" (quick)" if args.quick else ""), file=sys.stderr)
    return 0, function(args)


def main(argv: Sequence[str] | None = None) -> int:
    status, _ = run_cli(argv, TRAINERS, kind="trainer", prog="python -m core.train")
    return status


if __name__ == "__main__":
    sys.exit(main())
