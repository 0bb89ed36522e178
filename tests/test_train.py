"""The ``python -m core.train`` command line (its loop is tested in test_engine.py, each model in test_recipes.py):
module and script entry points, every recipe's settings as flags."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

from core.training import engine
from core.training.recipes import RECIPES
from core.weights import hub
from tests.conftest import ROOT


def test_every_recipe_setting_is_a_flag(capsys):
    for name in RECIPES:
        assert engine.main([name, "--help"]) == 0
        text = capsys.readouterr().out
        for flag in ("--max-steps", "--out", "--seed", "--device", "--threads", "--quick"):
            assert flag in text, (name, flag)
        for field in dataclasses.fields(engine.recipe_class(name).Settings):
            assert "--" + field.name.replace("_", "-") in text, (name, field.name)


def test_module_entry_point_lists_the_models_and_refuses_unknown_ones():
    done = subprocess.run([sys.executable, "-m", "core.train", "nosuch"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2
    assert ("unknown model 'nosuch' (known: cgan, cyclegan, dcgan, fast_rcnn, faster_rcnn, fcn, finetune_source, "
            "progan, rcnn, ssd)") in done.stderr


def test_script_entry_point_trains(tmp_path):
    """``python core/train.py`` (what ``torchrun core/train.py`` runs) works like ``python -m core.train``."""
    done = subprocess.run([sys.executable, "core/train.py", "tests.test_engine:LinearRecipe", "--quick", "--out",
                           str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    card = hub.load_card("linear", tmp_path)["card"]
    assert card["steps"] == 2 and card["world_size"] == 1
