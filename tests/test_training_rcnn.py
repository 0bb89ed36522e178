"""core.training.rcnn's validation search: each setting is chosen by val mAP@0.5 + mAP, the first on a tie."""

from __future__ import annotations

from core.training.rcnn import _choose


def test_choose_keeps_the_best_sum_and_the_first_of_a_tie_and_logs_every_try():
    metrics = {0.1: {"map_50": 0.80, "map": 0.50},   # 1.30
               1.0: {"map_50": 0.90, "map": 0.45},   # 1.35
               10.0: {"map_50": 0.85, "map": 0.50},  # 1.35: a tie with 1.0, which came first
               100.0: {"map_50": None, "map": None}}  # nothing found: counts as 0
    applied, lines, search = [], [], []

    def try_option(C):
        applied.append(C)
        return metrics[C], f"weights for C={C}"

    chosen, kept, found = _choose(list(metrics), try_option, lambda C: {"C": C, "nms": 0.3}, search, lines.append)
    assert (chosen, kept, found) == (1.0, "weights for C=1.0", metrics[1.0])
    assert applied == [0.1, 1.0, 10.0, 100.0]
    assert search == [{"C": C, "nms": 0.3, "val_map_50": m["map_50"], "val_map": m["map"]} for C, m in metrics.items()]
    assert len(lines) == 4 and lines[0].startswith("search {'C': 0.1")
