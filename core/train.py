"""``python -m core.train MODEL [--max-steps N] [--out DIR] [--seed S] [--device auto|cpu|cuda[:i]] [recipe flags]``.

Trains any of the lab's models with the one engine, `core.training.engine` (read it for the loop); each model's
settings and step live in its recipe, ``core/training/recipes/<model>.py``. The same command scales out:

    torchrun --standalone --nproc_per_node=K -m core.train MODEL ...     (or: torchrun ... core/train.py MODEL ...)

``python -m core.train MODEL --help`` lists the model's own flags.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script (`torchrun core/train.py ...`): make `core` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.training.engine import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
