"""``python -m core.evaluate <model>``: measure a trained model on a held-out split and record it in its card.

Models register by one line in `EVALUATORS` ("name": "module:function"). The function receives the same
namespace as a trainer (see `core.train`) plus ``split`` (default "test") and ``count`` (None = the whole
split), returns a dict of metrics, and records them with ``core.hub.update_card(name, metrics=...)``.
This command prints the returned dict as JSON.
"""

from __future__ import annotations

import json
import sys
from typing import Sequence

from core.train import build_parser, run_cli

EVALUATORS: dict[str, str] = {
    "finetune_source": "core.models.finetune:evaluate",  # issue 9
    "dcgan": "core.models.dcgan:evaluate",  # issue 8
    "cgan": "core.models.cgan:evaluate",  # issue 8
    "cyclegan": "core.models.cyclegan:evaluate",  # issue 8
    "progan": "core.models.progan:evaluate",  # issue 8
    "faster_rcnn": "core.models.faster_rcnn:evaluate",  # issue 5
    "ssd": "core.models.ssd:evaluate",  # issue 5
    "fcn": "core.models.fcn:evaluate",  # issue 6
    "rcnn": "core.training.rcnn:evaluate",  # issue 16
    "fast_rcnn": "core.training.fast_rcnn:evaluate",  # issue 16
}
"""Model name -> "module:function" that evaluates it. Each model's issue adds one line."""

PROG = "python -m core.evaluate"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(PROG, EVALUATORS, "evaluator")
    parser.add_argument("--split", default="test", help="scene split to measure on (train, val, test)")
    parser.add_argument("--count", type=int, default=None, help="only the first COUNT scenes of the split")
    status, metrics = run_cli(argv, EVALUATORS, kind="evaluator", prog=PROG, parser=parser)
    if status == 0:
        from core.evaluation.metrics import jsonable

        print(json.dumps(jsonable(metrics), indent=2))
    return status


if __name__ == "__main__":
    sys.exit(main())
