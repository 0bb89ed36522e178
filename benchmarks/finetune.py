"""Fine-tuning's speed targets, moved out of the tests (issue 19): the tab's default comparison and the quick
pretraining, timed end to end.

    python -m benchmarks.finetune

Targets (from the tests that asserted them before): the default comparison (fine-tuned vs scratch, 15 epochs,
through the `/finetune` endpoint) within 60 s on 2 cores; `python -m core.train finetune_source --quick` within
30 s. Wall and CPU seconds are printed with the load average: on a shared machine wall time includes waiting
for a core.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

COMPARISON_TARGET_S = 60.0
QUICK_PRETRAINING_TARGET_S = 30.0


def time_comparison() -> tuple[float, float]:
    """(wall, CPU) seconds of the tab's default comparison through gradio_client, on the app in this process."""
    os.environ.setdefault("LAB_TABS", "demos.finetune")
    from gradio import networking
    from gradio_client import Client

    import app

    networking.url_ok = lambda url: True  # a saturated machine answers Gradio's start-up probe late
    demo, url = app.launch_in_background()
    try:
        client = Client(url, verbose=False, download_files=tempfile.mkdtemp(prefix="bench_ft_"))
        cpu, wall = time.process_time(), time.perf_counter()
        client.predict(api_name="/finetune")
        return time.perf_counter() - wall, time.process_time() - cpu
    finally:
        demo.close()


def time_quick_pretraining() -> tuple[float, float]:
    """`python -m core.train finetune_source --quick` into a temporary folder, in this process."""
    import torch

    from core import train

    threads = torch.get_num_threads()
    out = tempfile.mkdtemp(prefix="bench_ft_weights_")
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        status = train.main(["finetune_source", "--quick", "--out", out])
        if status != 0:
            raise RuntimeError(f"core.train exited with {status}")
        return time.perf_counter() - wall, time.process_time() - cpu
    finally:
        torch.set_num_threads(threads)


def main() -> int:
    load = os.getloadavg()
    rows = [("default comparison (/finetune)", *time_comparison(), COMPARISON_TARGET_S),
            ("quick pretraining (core.train --quick)", *time_quick_pretraining(), QUICK_PRETRAINING_TARGET_S)]
    print(f"load average {load[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end ({os.cpu_count()} CPUs)")
    ok = True
    for name, wall, cpu, target in rows:
        verdict = "ok" if wall <= target else "OVER"
        ok &= wall <= target
        print(f"  {name:<40} {wall:6.1f} s wall  {cpu:6.1f} s CPU   target {target:.0f} s: {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
