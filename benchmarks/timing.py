"""How every benchmark here times a call: wall-clock and this process's CPU time, interleaved, after a warm-up.

On a shared machine (other jobs on the same 2 cores) wall time includes waiting for a core; CPU time
(`time.process_time`, all threads of this process) is what the work itself costs.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable


def timed(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 3) -> dict[str, list[float]]:
    """Seconds per call of each function: `repeats` rounds, the functions interleaved within each round.

    Returns wall-clock times under ``name`` and CPU times of the same calls under ``name + "_cpu"``.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {key: [] for name in fns for key in (name, name + "_cpu")}
    for _ in range(repeats):
        for name, fn in fns.items():
            cpu, wall = time.process_time(), time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - wall)
            times[name + "_cpu"].append(time.process_time() - cpu)
    return times


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> tuple[float, float]:
    """(median wall seconds, median CPU seconds) of `fn()` over `repeats` calls after `warmup` calls."""
    times = timed({"fn": fn}, repeats, warmup)
    return statistics.median(times["fn"]), statistics.median(times["fn_cpu"])
