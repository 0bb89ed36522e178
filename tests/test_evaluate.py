"""Numbers that cannot drift: every real evaluator re-measures its model's fixed subset and must find the numbers
its card records (to 1e-3), so changed weights, or code that changes a number, fail here. And
``python -m core.evaluate`` writes a card only after the whole held-out set.
"""

from __future__ import annotations

import json
import math
import shutil
from typing import Any

import pytest

from core import evaluate
from core.evaluation.evaluators import EVALUATIONS
from core.weights import hub, registry

TOLERANCE = 1e-3
"""Numbers agree to 1e-3: absolute below 1, relative above (a Fréchet distance of 30 may move by 0.03 between CPUs)."""


def assert_same_numbers(measured: Any, recorded: Any, where: str = "") -> None:
    """Equal structure; numbers within `TOLERANCE`; everything else equal."""
    if isinstance(recorded, dict):
        assert isinstance(measured, dict) and set(measured) == set(recorded), f"{where}: keys differ"
        for key in recorded:
            assert_same_numbers(measured[key], recorded[key], f"{where}.{key}")
    elif isinstance(recorded, list):
        assert isinstance(measured, (list, tuple)) and len(measured) == len(recorded), f"{where}: lengths differ"
        for i, (m, r) in enumerate(zip(measured, recorded)):
            assert_same_numbers(m, r, f"{where}[{i}]")
    elif isinstance(recorded, (int, float)) and not isinstance(recorded, bool):
        assert isinstance(measured, (int, float)) and math.isfinite(measured), f"{where}: {measured!r}"
        assert math.isclose(measured, recorded, rel_tol=TOLERANCE, abs_tol=TOLERANCE), \
            f"{where}: measured {measured}, the card says {recorded}"
    else:
        assert measured == recorded, f"{where}: measured {measured!r}, the card says {recorded!r}"


def test_every_embedded_model_has_an_evaluation():
    assert set(EVALUATIONS) == set(registry.BUILDERS) == set(hub.available())


@pytest.mark.parametrize("name", sorted(EVALUATIONS))
def test_the_subset_gives_the_numbers_of_the_card(name):
    subset = hub.load_card(name)["card"]["subset"]
    evaluation = EVALUATIONS[name]
    assert (subset["count"], subset["unit"], subset["definition"]) == (
        evaluation.subset_count, evaluation.unit, evaluation.subset)
    measured = json.loads(json.dumps(evaluate.measure_subset(name, registry.load_model(name))))  # as stored
    assert_same_numbers(measured, subset["metrics"], name)


def test_the_comparison_catches_a_changed_number():
    recorded = {"map": 0.5, "per_class": {"disc": 0.25, "ring": None}, "scenes": 20, "fd": 30.0}
    assert_same_numbers({"map": 0.5009, "per_class": {"disc": 0.25, "ring": None}, "scenes": 20, "fd": 30.02}, recorded)
    for changed in ({"map": 0.502, "per_class": {"disc": 0.25, "ring": None}, "scenes": 20, "fd": 30.0},
                    {"map": 0.5, "per_class": {"disc": 0.25, "ring": None}, "scenes": 20, "fd": 30.04},
                    {"map": 0.5, "per_class": {"disc": 0.25, "ring": 0.1}, "scenes": 20, "fd": 30.0},
                    {"map": 0.5, "per_class": {"disc": 0.25}, "scenes": 20, "fd": 30.0}):
        with pytest.raises(AssertionError):
            assert_same_numbers(changed, recorded)


@pytest.fixture()
def dcgan_copy(tmp_path):
    for suffix in (".json", ".safetensors"):
        shutil.copy(hub.WEIGHTS_DIR / f"dcgan{suffix}", tmp_path / f"dcgan{suffix}")
    return tmp_path


def test_a_partial_run_prints_and_never_writes(dcgan_copy, capsys):
    before = (dcgan_copy / "dcgan.json").read_bytes()
    assert evaluate.main(["dcgan", "--count", "100", "--weights", str(dcgan_copy)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["count"] == 100 and printed["unit"] == "samples" and "written" not in printed
    assert 0 < printed["metrics"]["frechet_distance_8x8"] and (dcgan_copy / "dcgan.json").read_bytes() == before


def test_a_full_run_writes_the_metrics_and_the_subset(dcgan_copy, capsys):
    data = json.loads((dcgan_copy / "dcgan.json").read_text())
    data["card"].pop("subset", None)
    data["card"]["metrics"]["frechet_distance_8x8"] = 1.0  # a stale number, to be replaced
    (dcgan_copy / "dcgan.json").write_text(json.dumps(data))
    assert evaluate.main(["dcgan", "--weights", str(dcgan_copy)]) == 0
    printed = json.loads(capsys.readouterr().out)
    card = hub.load_card("dcgan", dcgan_copy)["card"]
    assert card["metrics"]["frechet_distance_8x8"] == pytest.approx(printed["metrics"]["frechet_distance_8x8"])
    assert card["metrics"]["frechet_distance_8x8"] > 1.0
    assert card["subset"]["count"] == 200 and card["subset"]["metrics"] == printed["subset"]["metrics"]
    assert card["evaluation"]["command"] == f"python -m core.evaluate dcgan --weights {dcgan_copy}"
    assert "epochs" in card and card["parameters"] > 0  # the training entries are kept


def test_bad_requests_are_clear(capsys):
    assert evaluate.main(["fcn", "--count", "501"]) == 2
    assert "count must be between 1 and 500" in capsys.readouterr().err
    assert evaluate.main(["fcn", "--count", "0"]) == 2
    assert "--count must be at least 1" in capsys.readouterr().err
    assert evaluate.main(["yolo"]) == 2
    assert "invalid choice: 'yolo'" in capsys.readouterr().err
