"""One training engine for every model: one loop, one argument parser, one device choice, one way to scale out.

    python -m core.train MODEL [--max-steps N] [--out DIR] [--seed S] [--device auto|cpu|cuda[:i]] [recipe flags]
    torchrun --standalone --nproc_per_node=K -m core.train MODEL ...

A model's *recipe* (`Recipe`, one file per model in `core.training.recipes`) says what is particular to it: its
settings (a dataclass whose fields become the flags after MODEL: ``--lr``, ``--batch-size``, ...), how to build
its networks and optimisers, its data, one optimisation `step`, what to measure during training, and what to
save. Everything else happens here, the same way for every model:

  1. Processes. Under ``torchrun`` (``WORLD_SIZE`` > 1) every process joins one process group: gloo on the CPU,
     NCCL on the GPU (process i uses ``cuda:LOCAL_RANK``). Each process takes `EngineConfig.threads` intra-op
     threads (by default the recipe's, at most cores / processes: 1 each for 2 processes on 2 cores).
  2. Build. The same seed on every process, so every process builds the same initial networks (and
     `DistributedDataParallel` broadcasts process 0's parameters anyway); ``Run.wrap`` puts the trained networks
     in `DistributedDataParallel`, which averages the gradients of the processes after each backward pass.
  3. Data. A recipe draws each *global* batch (its order, its augmentation parameters, its latents) identically
     on every process and keeps its own share, ``Run.shard(batch)`` = every K-th sample from position
     ``rank``. K processes thus compute the gradient of the same global batch as one process does, each on its
     own samples; the number of steps and the schedule do not depend on K. (BatchNorm statistics are per
     process: a K-process run equals a 1-process run exactly only for networks without batch statistics.)
  4. The loop: ``for step in range(total_steps)``: `Recipe.should_stop` (decided from `Run.elapsed_s`, the
     same on every process) → the process's batch → `Recipe.step` (forward, backward, optimiser steps) → the
     step's losses, averaged over processes when printed. Every ``eval_every`` steps and at the end, process 0
     runs `Recipe.evaluate` on the plain networks while the others wait; the recipe's `Recipe.score` chooses
     which evaluation's weights are kept (None: the last).
  5. Process 0 writes ``<out>/<model>.safetensors`` and the model card ``<out>/<model>.json`` through
     `core.weights.hub.save_weights`; the card records ``world_size``, device, threads, steps, wall time, the
     settings and the evaluation history, beside what the recipe adds (data seeds, metrics, ...).

``--max-steps N`` stops after N steps of the recipe's full schedule (a short run is a prefix of the full one),
and ``--quick`` applies the recipe's smoke-test settings (`Recipe.quick`); explicit flags win over both. Such a
partial run must name ``--out``: it never replaces the embedded weights by accident.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import importlib
import math
import os
import random
import shlex
import sys
import time
import types
import typing
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from core.weights import hub

PROG = "python -m core.train"


# --- the configuration of a run -----------------------------------------------------------------------------


@dataclass
class EngineConfig:
    """What every training run is told, whatever the model (the flags before the recipe's own)."""

    max_steps: int | None = None  # stop after this many optimiser steps (None = the recipe's whole schedule)
    out: Path | None = None  # folder for <model>.safetensors + <model>.json (None = weights/; required with --quick/--max-steps)
    seed: int = 0  # the same on every process: identical initial networks and global batches
    device: str = "auto"  # auto (cuda when present), cpu, cuda, cuda:N; under torchrun cuda = cuda:LOCAL_RANK
    threads: int | None = None  # intra-op threads per process (None = the recipe's, at most cores / processes)
    quick: bool = False  # the recipe's smoke-test settings (tiny data, a few steps); explicit flags still win
    log_every: int = 50  # print the step losses (mean over the last steps and the processes) this often


class UnknownModelError(ValueError):
    """A model name no recipe is registered under; the message lists the known ones."""


# --- what a recipe gets: the processes, the device, the clock ----------------------------------------------


@dataclass
class Run:
    """This process's place in the run, and the few collective operations a recipe needs."""

    rank: int  # this process's index, 0..world_size-1 (process 0 evaluates and writes)
    world_size: int  # number of processes (torchrun's --nproc_per_node x nodes); 1 without torchrun
    local_rank: int  # index on this machine (its GPU)
    device: torch.device
    seed: int
    out: Path  # where the weights and the card go
    quick: bool = False
    elapsed_s: float = 0.0  # seconds since training began by process 0's clock (set before every step)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def wrap(self, module: nn.Module, **ddp_options: Any) -> nn.Module:
        """`module` in `DistributedDataParallel` when distributed (gradients averaged over processes after each
        backward pass), else `module` itself. Train through the wrapper; evaluate and save the plain module."""
        if not self.distributed:
            return module
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=device_ids, **ddp_options)

    def shard(self, batch: Any) -> Any:
        """This process's share of a global batch: items ``rank, rank + K, rank + 2K, ...`` (K = world size).

        Works on tensors, arrays, lists and ranges (first dimension). Raises ValueError when the global batch
        has fewer items than processes (a process would get none).
        """
        if not self.distributed:
            return batch
        if len(batch) < self.world_size:
            raise ValueError(f"a global batch of {len(batch)} cannot be shared by {self.world_size} processes: "
                             "use a batch size of at least the number of processes")
        return batch[self.rank :: self.world_size]

    def barrier(self) -> None:
        if self.distributed:
            torch.distributed.barrier()

    @contextlib.contextmanager
    def main_first(self) -> Iterator[None]:
        """Process 0 runs the block first (e.g. fills a cache), the others after it (and then read the cache)."""
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()

    def from_main(self, value: Any) -> Any:
        """Process 0's `value` on every process (a picklable object; every process must call this)."""
        if not self.distributed:
            return value
        box = [value]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def clock(self, started: float) -> float:
        """Seconds since `started` by process 0's clock, on every process (decisions on time agree)."""
        elapsed = time.time() - started
        if not self.distributed:
            return elapsed
        tensor = torch.tensor([elapsed], dtype=torch.float64, device=self._collective_device())
        torch.distributed.broadcast(tensor, src=0)
        return float(tensor.item())

    def _collective_device(self) -> torch.device:
        return self.device if torch.distributed.get_backend() == "nccl" else torch.device("cpu")

    def mean(self, values: Mapping[str, float]) -> dict[str, float]:
        """The mean of each value over the processes (every process must call this with the same keys)."""
        if not self.distributed or not values:
            return dict(values)
        keys = sorted(values)
        tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=self._collective_device())
        torch.distributed.all_reduce(tensor)
        return {k: float(v) / self.world_size for k, v in zip(keys, tensor.tolist())}

    def describe_device(self, threads: int) -> str:
        """E.g. "NVIDIA H200" or "cpu (2 cores, 1 thread per process)"."""
        if self.device.type == "cuda":
            return torch.cuda.get_device_name(self.device)
        return f"cpu ({os.cpu_count()} cores, {threads} thread{'s' if threads > 1 else ''} per process)"


# --- the recipe interface -----------------------------------------------------------------------------------


@dataclass
class TrainResult:
    """What the loop did, handed to `Recipe.card`."""

    steps: int  # optimiser steps run
    history: list[dict[str, Any]]  # one entry per evaluation: step, epoch, elapsed_s, mean losses, metrics
    kept: dict[str, Any] | None  # the history entry whose weights are saved (None: no evaluation)
    metrics: dict[str, Any]  # what `Recipe.evaluate` returned at that evaluation
    wall_time_s: float
    stopped_by: str  # "schedule", "max_steps" or "recipe" (`Recipe.should_stop`: e.g. a time budget)


class Recipe:
    """How one model trains; subclass it in ``core/training/recipes/<model>.py`` and list it in `RECIPES`.

    Class attributes: `name` (the weights' name), `Settings` (a dataclass, one command-line flag per field;
    every default commented), `quick` (field overrides for ``--quick``), `threads` (intra-op threads it wants
    on the CPU), `weights_fp16` (store the weights as fp16).

    The engine calls, in order: `build` once (after seeding; identical on every process), then per step
    `should_stop`, the next item of `batches` and `step`; `evaluate` (process 0 only) every `eval_every` steps
    and at the end; then `state_dict`, `spec_fields` and `card` (process 0) to write the weights.
    """

    name: ClassVar[str]
    Settings: ClassVar[type]
    quick: ClassVar[dict[str, Any]] = {}
    threads: ClassVar[int] = 1
    weights_fp16: ClassVar[bool] = True

    total_steps: int = 0  # length of the whole schedule (set by `build`)
    steps_per_epoch: float | None = None  # for the card's epoch count (None: the recipe reports its own)
    eval_every: int | None = None  # steps between evaluations (None: only at the end)

    def __init__(self, settings: Any, run: Run):
        self.settings = settings
        self.run = run

    def build(self) -> None:
        """Networks (trained through ``self.run.wrap``), optimisers, schedules, data; sets `total_steps`."""
        raise NotImplementedError

    def batches(self) -> Iterator[Any]:
        """This process's batch for each step, in order (``self.run.shard`` of each global batch)."""
        raise NotImplementedError

    def step(self, batch: Any, step: int) -> dict[str, float]:
        """One optimisation step on `batch` (forward, backward, optimiser and schedule steps); returns losses."""
        raise NotImplementedError

    def should_stop(self, step: int) -> bool:
        """Checked before each step; must answer the same on every process (use ``self.run.elapsed_s``)."""
        return False

    def evaluate(self) -> dict[str, Any]:
        """Measurements during training, on process 0 only: use the plain networks, never the DDP wrappers."""
        return {}

    def score(self, metrics: Mapping[str, Any]) -> float | None:
        """Higher is better: the weights of the best-scoring evaluation are saved. None: save the last ones."""
        return None

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The tensors the weights file holds."""
        raise NotImplementedError

    def spec_fields(self) -> dict[str, Any]:
        """`core.weights.hub.WeightsSpec` fields: architecture, config, class_names, mean, std, input_size."""
        raise NotImplementedError

    def card(self, result: TrainResult) -> dict[str, Any]:
        """Model-card entries: at least ``data_seeds`` and ``metrics``; may set ``epochs``."""
        raise NotImplementedError


def recipe_class(model: str) -> type[Recipe]:
    """The recipe registered under `model` in `core.training.recipes.RECIPES`, or ``module:Class`` of any recipe."""
    from core.training.recipes import RECIPES

    target = RECIPES.get(model) or (model if ":" in model else None)
    if target is None:
        raise UnknownModelError(f"unknown model {model!r} (known: {', '.join(sorted(RECIPES))})")
    module_name, _, class_name = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise UnknownModelError(f"the recipe of {model!r} ({target}) cannot be loaded: {error}") from error
    if not (isinstance(cls, type) and issubclass(cls, Recipe)):
        raise UnknownModelError(f"{target} is not a core.training.engine.Recipe")
    return cls


# --- devices, processes, seeds ------------------------------------------------------------------------------


def resolve_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """"auto" -> cuda:LOCAL_RANK when CUDA is present, else cpu; "cuda" -> cuda:LOCAL_RANK; "cuda:N" as given."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)") from None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("--device cuda was asked for, but CUDA is not available here (use --device auto or cpu)")
        if device.index is None:
            device = torch.device("cuda", local_rank)
    return device


def seed_everything(seed: int) -> None:
    """Fix Python's, NumPy's and torch's global seeds (command-line training only; never in a request path)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def processes_from_environment() -> tuple[int, int, int, int]:
    """(rank, world size, local rank, processes on this machine) from torchrun's variables (0, 1, 0, 1 without)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    return rank, world, local_rank, local_world


# --- command-line flags from dataclasses --------------------------------------------------------------------


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _scalar_type(annotation: Any) -> tuple[Any, bool]:
    """(int/float/str/bool/Path, optional) of ``T`` or ``T | None``."""
    optional = False
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        annotation = args[0]
    return annotation, optional


def add_dataclass_flags(parser: argparse._ActionsContainer, cls: type, *, skip: Sequence[str] = ()) -> None:
    """One flag per field of the dataclass `cls` (``batch_size`` -> ``--batch-size``), default None (= unset).

    Supported field types: int, float, str, bool (``--x`` / ``--no-x``), Path, ``T | None`` and tuples of
    numbers (``--zoom 1.0 1.35``).
    """
    hints = _field_types(cls)
    for f in fields(cls):
        if f.name in skip:
            continue
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        kind, optional = _scalar_type(hints[f.name])
        help_text = f"(default: {default})"
        if kind is bool:
            parser.add_argument(_flag(f.name), action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif typing.get_origin(kind) is tuple:
            item = typing.get_args(kind)[0]
            count = len(typing.get_args(kind)) if Ellipsis not in typing.get_args(kind) else "+"
            parser.add_argument(_flag(f.name), type=item, nargs=count, default=None, metavar=item.__name__.upper(),
                                help=help_text)
        else:
            parser.add_argument(_flag(f.name), type=kind, default=None, metavar=kind.__name__.upper(),
                                help=help_text + (" (none: omit)" if optional else ""))


def dataclass_from_flags(cls: type, args: argparse.Namespace, base: Mapping[str, Any] | None = None) -> Any:
    """An instance of `cls`: its defaults, then `base`, then every flag that was given."""
    values = dict(base or {})
    for f in fields(cls):
        value = getattr(args, f.name, None)
        if value is not None:
            values[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**values)


def build_parser(recipe: type[Recipe] | None = None) -> argparse.ArgumentParser:
    """The one parser: MODEL, the `EngineConfig` flags, then (when `recipe` is known) its settings' flags."""
    from core.training.recipes import RECIPES

    known = ", ".join(sorted(RECIPES))
    parser = argparse.ArgumentParser(
        prog=PROG, description="Train a model with the lab's one training engine (also under torchrun).",
        epilog="`python -m core.train MODEL --help` lists that model's own settings.",
    )
    parser.add_argument("model", help=f"one of: {known}")
    add_dataclass_flags(parser.add_argument_group("every model"), EngineConfig)
    if recipe is not None:
        group = parser.add_argument_group(
            f"{recipe.name} settings (core/training/recipes; --quick sets {recipe.quick or 'nothing'})")
        add_dataclass_flags(group, recipe.Settings)
    return parser


# --- the loop -----------------------------------------------------------------------------------------------


class _Means:
    """Running sums of the step losses; `take` gives their means since the last take, averaged over processes."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.count = 0

    def add(self, losses: Mapping[str, float]) -> None:
        for k, v in losses.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v)
        self.count += 1

    def take(self, run: Run) -> dict[str, float]:
        means = run.mean({k: v / max(self.count, 1) for k, v in self.sums.items()})
        self.sums, self.count = {}, 0
        return means


def _copy_state(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


def _log(run: Run, message: str) -> None:
    if run.is_main:
        print(message, file=sys.stderr, flush=True)


def train(model: str, config: EngineConfig, settings: Any | None = None, *, argv: Sequence[str] = ()) -> TrainResult:
    """Train `model` (a `RECIPES` name or ``module:Class``) and write its weights and card (process 0).

    `settings` is the recipe's Settings instance (None: its defaults, or its quick preset with ``config.quick``).
    Runs as one process, or as one of torchrun's processes (see the module docstring).
    """
    recipe_cls = recipe_class(model)
    if settings is None:
        settings = recipe_cls.Settings(**(recipe_cls.quick if config.quick else {}))
    rank, world, local_rank, local_world = processes_from_environment()
    device = resolve_device(config.device, local_rank)
    threads = config.threads or min(recipe_cls.threads, max(1, (os.cpu_count() or 1) // local_world))
    torch.set_num_threads(threads)
    joined = world > 1 and not torch.distributed.is_initialized()  # (a caller may have joined a group already)
    if joined:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        torch.distributed.init_process_group(
            "nccl" if device.type == "cuda" else "gloo", timeout=datetime.timedelta(minutes=60),
            device_id=device if device.type == "cuda" else None,
        )
    out = Path(config.out) if config.out is not None else hub.WEIGHTS_DIR
    run = Run(rank=rank, world_size=world, local_rank=local_rank, device=device, seed=config.seed, out=out,
              quick=config.quick)
    try:
        return _train(recipe_cls, settings, run, config, threads, argv)
    finally:
        if joined:
            torch.distributed.destroy_process_group()


def _train(recipe_cls: type[Recipe], settings: Any, run: Run, config: EngineConfig, threads: int,
           argv: Sequence[str]) -> TrainResult:
    _log(run, f"{recipe_cls.name}: {run.world_size} process(es), device {run.device}, {threads} thread(s) each, "
              f"seed {run.seed}; {settings}")
    started = time.time()
    seed_everything(run.seed)
    recipe = recipe_cls(settings, run)
    recipe.build()
    total = recipe.total_steps if config.max_steps is None else min(recipe.total_steps, config.max_steps)
    history: list[dict[str, Any]] = []
    kept: dict[str, Any] | None = None  # the history entry whose weights are kept
    kept_metrics: dict[str, Any] = {}
    kept_state: dict[str, torch.Tensor] | None = None
    best_score = -math.inf
    to_log, to_record = _Means(), _Means()
    stopped_by = "schedule" if total == recipe.total_steps else "max_steps"

    def evaluate(step: int) -> None:
        """Process 0 evaluates while the others wait; every process learns the metrics."""
        nonlocal kept, kept_metrics, kept_state, best_score
        run.elapsed_s = run.clock(started)
        losses = to_record.take(run)
        metrics = run.from_main(recipe.evaluate() if run.is_main else None)
        entry = {"step": step, "elapsed_s": round(run.elapsed_s, 1), **{k: round(v, 5) for k, v in losses.items()},
                 **metrics}
        if recipe.steps_per_epoch:
            epoch = step / recipe.steps_per_epoch
            entry["epoch"] = int(epoch) if epoch == int(epoch) else round(epoch, 2)
        history.append(entry)
        _log(run, f"{recipe_cls.name}: evaluation at step {step}: {_short(entry)}")
        score = recipe.score(metrics)
        if score is None or score > best_score:
            best_score = -math.inf if score is None else score
            kept, kept_metrics = entry, metrics
            kept_state = _copy_state(recipe.state_dict()) if run.is_main else None

    batches = recipe.batches()
    step = last_evaluation = 0
    while step < total:
        run.elapsed_s = run.clock(started)
        if recipe.should_stop(step):
            stopped_by = "recipe"
            _log(run, f"{recipe_cls.name}: the recipe stops before step {step + 1} ({run.elapsed_s:.0f} s)")
            break
        losses = recipe.step(next(batches), step)
        step += 1
        to_log.add(losses)
        to_record.add(losses)
        if step % config.log_every == 0 or step == total:
            means = to_log.take(run)
            _log(run, f"{recipe_cls.name}: step {step}/{total} " + " ".join(f"{k} {v:.4f}" for k, v in means.items())
                 + f" ({time.time() - started:.0f} s)")
        if recipe.eval_every and step % recipe.eval_every == 0:
            evaluate(step)
            last_evaluation = step
    if last_evaluation != step or not history:
        evaluate(step)
    result = TrainResult(steps=step, history=history, kept=kept, metrics=kept_metrics,
                         wall_time_s=round(time.time() - started, 1), stopped_by=stopped_by)
    if run.is_main:
        card = {  # the engine's entries; the recipe's follow and may refine some (a resumed run's totals)
            "epochs": round(step / recipe.steps_per_epoch, 2) if recipe.steps_per_epoch else None,
            "steps": step,
            "stopped_by": stopped_by,
            "world_size": run.world_size,
            "device": run.describe_device(threads),
            "threads": threads,
            "wall_time_s": result.wall_time_s,
            "seed": run.seed,
            "quick": run.quick,
            "max_steps": config.max_steps,
            "settings": _plain(asdict(settings)),
            "history": history,
            "command": _command(argv),
            **({"load_average_1min": round(os.getloadavg()[0], 1)} if hasattr(os, "getloadavg") else {}),
        }
        card.update(recipe.card(result))
        spec = hub.save_weights(recipe_cls.name, kept_state if kept_state is not None else recipe.state_dict(),
                                spec_fields=recipe.spec_fields(), card=card, fp16=recipe_cls.weights_fp16,
                                weights_dir=run.out)
        _log(run, f"{recipe_cls.name}: wrote {run.out / spec.filename} and {recipe_cls.name}.json "
                  f"({step} steps, {result.wall_time_s:.0f} s, {run.world_size} process(es))")
    run.barrier()
    return result


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _short(entry: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in entry.items()
                     if isinstance(v, (int, float, str)))


def _command(argv: Sequence[str]) -> str:
    _, world, _, _ = processes_from_environment()
    launcher = f"torchrun --nproc_per_node={world} -m core.train" if world > 1 else PROG
    return " ".join([launcher, *map(shlex.quote, argv)])


# --- the command line ---------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m core.train MODEL ...``; returns the exit status (2 for bad arguments)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    head = argparse.ArgumentParser(add_help=False)
    head.add_argument("model", nargs="?")
    known, _ = head.parse_known_args(argv)
    recipe_cls = None
    if known.model and not known.model.startswith("-"):
        try:
            recipe_cls = recipe_class(known.model)
        except UnknownModelError as error:
            print(f"{PROG}: error: {error}", file=sys.stderr)
            return 2
    parser = build_parser(recipe_cls)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    config = dataclass_from_flags(EngineConfig, args)
    if recipe_cls is None:
        parser.print_usage(sys.stderr)
        return 2
    partial = config.quick or config.max_steps is not None
    problem = None
    if config.out is None and partial:
        problem = ("a --quick or --max-steps run would replace the embedded weights: name a folder with --out "
                   "(--out weights to replace them on purpose)")
    elif config.max_steps is not None and config.max_steps < 1:
        problem = "--max-steps must be at least 1"
    elif config.threads is not None and config.threads < 1:
        problem = "--threads must be at least 1"
    if problem is None:
        try:
            resolve_device(config.device)
            settings = dataclass_from_flags(recipe_cls.Settings, args, recipe_cls.quick if config.quick else None)
        except (TypeError, ValueError) as error:
            problem = str(error)
    if problem is not None:
        print(f"{PROG}: error: {problem}", file=sys.stderr)
        return 2
    train(known.model, config, settings, argv=argv)
    return 0
