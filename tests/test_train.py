"""core.train / core.evaluate: dispatch by name, flags, seeds, device, clear errors; a fake registered model."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import pytest
import torch

from core import evaluate
from core.weights import hub
from core import train
from tests.conftest import ROOT

CALLS: list[argparse.Namespace] = []


def fake_train(args: argparse.Namespace) -> None:
    """A tiny 'model' trained on two scenes' mean colour; writes weights like a real trainer."""
    from core.data.datasets import SceneDetection

    CALLS.append(args)
    started = time.time()
    data = SceneDetection("train", count=2 if args.quick else 4)
    weight = torch.nn.Parameter(torch.zeros(3))
    optimizer = torch.optim.SGD([weight], lr=0.5)
    for _ in train.progress(range(args.epochs or 3), desc="fake"):
        for image, _ in data:
            loss = ((weight - image.mean((1, 2))) ** 2).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    args.random_draw = torch.rand(1).item()  # seeded by the CLI
    hub.save_weights(
        "fake",
        {"weight": weight.detach()},
        spec_fields=dict(architecture="fake", config={}, class_names=(), mean=(0.0,), std=(1.0,), input_size=(3, 1, 1)),
        card=train.run_card(args, started=started, data_seeds={"train": [0, len(data)]}, metrics={"loss": loss.item()}),
    )


def fake_evaluate(args: argparse.Namespace) -> dict:
    CALLS.append(args)
    metrics = {"loss": float(hub.load_state_dict("fake")["weight"].sum()), "split": args.split, "count": args.count}
    hub.update_card("fake", metrics={"test_loss": metrics["loss"]})
    return metrics


@pytest.fixture()
def registered(tmp_path, monkeypatch):
    monkeypatch.setattr(hub, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setitem(train.TRAINERS, "fake", "tests.test_train:fake_train")
    monkeypatch.setitem(evaluate.EVALUATORS, "fake", "tests.test_train:fake_evaluate")
    monkeypatch.setenv("LAB_NO_PROGRESS", "1")
    CALLS.clear()
    return tmp_path


def test_train_then_evaluate_a_registered_model(registered, capsys):
    assert train.main(["fake", "--epochs", "2", "--seed", "3", "--quick"]) == 0
    args = CALLS[-1]
    assert (args.model, args.epochs, args.seed, args.quick) == ("fake", 2, 3, True)
    assert args.device == train.resolve_device("auto")
    card = hub.load_card("fake")["card"]
    assert card["epochs"] == 2 and card["seed"] == 3 and card["quick"] is True
    assert card["data_seeds"] == {"train": [0, 2]} and "loss" in card["metrics"] and card["wall_time_s"] >= 0
    assert card["device"].startswith("cpu") or torch.cuda.is_available()

    assert evaluate.main(["fake", "--count", "10"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["split"] == "test" and printed["count"] == 10
    assert hub.load_card("fake")["card"]["metrics"]["test_loss"] == pytest.approx(printed["loss"])
    assert "loss" in hub.load_card("fake")["card"]["metrics"]  # training metrics kept


def test_seeds_are_fixed_before_the_trainer_runs(registered):
    train.main(["fake", "--epochs", "1", "--seed", "5", "--quick"])
    first = CALLS[-1].random_draw
    train.main(["fake", "--epochs", "1", "--seed", "5", "--quick"])
    assert CALLS[-1].random_draw == first
    train.main(["fake", "--epochs", "1", "--seed", "6", "--quick"])
    assert CALLS[-1].random_draw != first


def test_model_specific_flags_are_passed_through(registered):
    train.main(["fake", "--quick", "--lr", "0.1"])
    assert CALLS[-1].extra == ["--lr", "0.1"] and CALLS[-1].epochs is None


def test_unknown_model_lists_the_known_ones(registered, capsys):
    assert train.main(["nosuch"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'nosuch'" in err and "fake" in err
    assert evaluate.main(["nosuch"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'nosuch'" in err and "fake" in err.split("known:")[1]


def test_broken_registration_and_bad_flags_are_clear(registered, monkeypatch, capsys):
    monkeypatch.setitem(train.TRAINERS, "broken", "core.no_such_module:train")
    assert train.main(["broken"]) == 2
    assert "cannot be loaded" in capsys.readouterr().err
    assert train.main(["fake", "--epochs", "0"]) == 2
    assert "--epochs" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert train.main(["fake", "--device", "cuda"]) == 2
        assert "CUDA is not available" in capsys.readouterr().err


def test_resolve_device():
    assert train.resolve_device("cpu") == torch.device("cpu")
    assert train.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="unknown device"):
        train.resolve_device("tpu9")


def test_command_line_entry_point_reports_unknown_names():
    result = subprocess.run(
        [sys.executable, "-m", "core.train", "nosuch"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert "unknown model 'nosuch'" in result.stderr and "known:" in result.stderr
