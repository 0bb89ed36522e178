"""``python -m core.evaluate MODEL [--count N] [--device D] [--weights DIR]``: measure a trained model on held-out
data, print the numbers as JSON, and record them in its model card.

How each model is measured lives in `core.evaluation.evaluators` (`EVALUATIONS`). Only a run over the WHOLE
held-out set (no ``--count``) writes the card: its headline metrics, and the same measurement on the model's
small fixed subset (``card["subset"]``: its definition, count and metrics), which ``tests/test_evaluate.py``
re-measures to 1e-3. A ``--count N`` run (the first N items) prints and never writes.

The subset is measured on one intra-op thread (as the tests do), the full set on ``--threads`` (default: the
threads the model's training recipe uses: 1 for the small GANs and the fine-tuning source, 2 for the others).
``--weights DIR`` measures (and, after a full run, annotates) the card in DIR instead of ``weights/``, e.g. the
output of ``python -m core.train MODEL --out DIR``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Sequence


from core.threads import torch_threads

PROG = "python -m core.evaluate"


def measure_subset(name: str, model: Any) -> dict[str, Any]:
    """`name`'s metrics on its fixed subset (one thread), the numbers ``card["subset"]["metrics"]`` holds."""
    from core.evaluation.evaluators import EVALUATIONS

    evaluation = EVALUATIONS[name]
    with torch_threads(1):
        metrics = evaluation.measure(model, evaluation.subset_count)
    return {k: v for k, v in metrics.items() if k not in evaluation.card_entries}


def build_parser() -> argparse.ArgumentParser:
    from core.evaluation.evaluators import EVALUATIONS

    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("model", choices=sorted(EVALUATIONS), metavar="MODEL",
                        help=f"one of: {', '.join(sorted(EVALUATIONS))}")
    parser.add_argument("--count", type=int, default=None,
                        help="only the first COUNT held-out items (printed, never written to the card)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N, auto")
    parser.add_argument("--threads", type=int, default=None,
                        help="intra-op threads for the full set (default: the model's training recipe's)")
    parser.add_argument("--weights", type=Path, default=None, help="the folder of the card and weights (default weights/)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from core.evaluation.evaluators import EVALUATIONS
    from core.evaluation.metrics import jsonable
    from core.training.engine import recipe_class, resolve_device
    from core.weights import hub, registry

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    evaluation = EVALUATIONS[args.model]
    threads_full = args.threads or recipe_class(args.model).threads
    try:
        if args.count is not None and args.count < 1:
            raise ValueError("--count must be at least 1")
        device = resolve_device(args.device)
        model = (registry.build_model(args.model, args.weights, device) if args.weights is not None
                 else registry.load_model(args.model, device))
    except (ValueError, hub.WeightsError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    started = time.time()
    try:
        with torch_threads(threads_full):
            metrics = evaluation.measure(model, args.count)
    except ValueError as error:  # e.g. a count larger than the held-out set
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    entries = {k: metrics.pop(k) for k in evaluation.card_entries if k in metrics}
    printed: dict[str, Any] = {"model": args.model, "count": args.count, "unit": evaluation.unit, "metrics": metrics}
    if args.count is None:
        subset = {"count": evaluation.subset_count, "unit": evaluation.unit, "definition": evaluation.subset,
                  "metrics": measure_subset(args.model, model)}
        record = {"device": str(device), "threads": threads_full, "wall_time_s": round(time.time() - started, 1),
                  "command": " ".join([PROG, *map(shlex.quote, argv)])}
        hub.update_card(args.model, weights_dir=args.weights, metrics=metrics, subset=subset, evaluation=record,
                        **entries)
        printed["subset"] = subset
        printed["written"] = str(hub.card_path(args.model, args.weights))
    print(json.dumps(jsonable(printed), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
