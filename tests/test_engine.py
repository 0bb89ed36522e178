"""core.training.engine: the loop against hand-computed SGD, the kept checkpoint, the parser, and
DistributedDataParallel: 2 processes on disjoint halves of each batch give the 1-process result on the whole batch,
for plain SGD and for a GAN's D-then-G step.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from core.training import engine
from core.training.engine import EngineConfig, Recipe
from core.weights import hub
from tests.conftest import ROOT

# --- a linear model whose SGD steps are computed by hand ---------------------------------------------------


def linear_data(samples: int) -> tuple[np.ndarray, np.ndarray]:
    """x_i = (i / n, 1), y_i = 3 x_i0 - 1 + 0.1 (-1)^i: (n, 2) and (n,) float64."""
    i = np.arange(samples, dtype=np.float64)
    x = np.stack([i / samples, np.ones(samples)], axis=1)
    return x, 3 * x[:, 0] - 1 + 0.1 * (-1.0) ** i


@dataclass
class LinearSettings:
    samples: int = 8  # data points
    batch_size: int = 4  # global batch (in order, no shuffling)
    epochs: int = 2  # passes over the data
    lr: float = 0.5  # SGD learning rate
    keep_best: bool = False  # keep the epoch with the lowest training-set MSE (else the last)


class LinearRecipe(Recipe):
    """y = w . x by SGD on the mean squared error; evaluated (MSE on all points) after every epoch."""

    name = "linear"
    Settings = LinearSettings
    quick = {"epochs": 1}
    weights_fp16 = False

    def build(self) -> None:
        s = self.settings
        x, y = linear_data(s.samples)
        self.x, self.y = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
        self.model = nn.Linear(2, 1, bias=False)
        nn.init.zeros_(self.model.weight)
        self.trained = self.run.wrap(self.model)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=s.lr)
        self.steps_per_epoch = self.eval_every = s.samples // s.batch_size
        self.total_steps = s.epochs * self.steps_per_epoch

    def batches(self):
        s = self.settings
        for _ in range(s.epochs):
            for start in range(0, s.samples - s.batch_size + 1, s.batch_size):
                yield self.run.shard(torch.arange(start, start + s.batch_size))

    def step(self, index, step):
        loss = ((self.trained(self.x[index]).squeeze(1) - self.y[index]) ** 2).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.item()}

    def evaluate(self):
        with torch.no_grad():
            return {"mse": float(((self.model(self.x).squeeze(1) - self.y) ** 2).mean())}

    def score(self, metrics):
        return -metrics["mse"] if self.settings.keep_best else None

    def state_dict(self):
        return self.model.state_dict()

    def spec_fields(self):
        return dict(architecture="linear", config={}, class_names=(), mean=(0.0,), std=(1.0,), input_size=(2,))

    def card(self, result):
        return {"data_seeds": "none: x_i = (i / n, 1)", "metrics": dict(result.kept)}


def sgd_by_hand(settings: LinearSettings) -> list[np.ndarray]:
    """w after each epoch: w <- w - lr * (2 / B) X_b^T (X_b w - y_b), batch by batch."""
    x, y = linear_data(settings.samples)
    w = np.zeros(2)
    after_epoch = []
    for _ in range(settings.epochs):
        for start in range(0, settings.samples, settings.batch_size):
            xb, yb = x[start : start + settings.batch_size], y[start : start + settings.batch_size]
            w = w - settings.lr * 2 / len(yb) * xb.T @ (xb @ w - yb)
        after_epoch.append(w)
    return after_epoch


def test_the_loop_runs_sgd_as_computed_by_hand(tmp_path):
    settings = LinearSettings(epochs=3)
    result = engine.train("tests.test_engine:LinearRecipe", EngineConfig(out=tmp_path), settings)
    expected = sgd_by_hand(settings)
    saved = hub.load_state_dict("linear", weights_dir=tmp_path)["weight"][0].double().numpy()
    np.testing.assert_allclose(saved, expected[-1], rtol=1e-5)
    assert result.steps == 6 and result.stopped_by == "schedule"
    assert [h["step"] for h in result.history] == [2, 4, 6] and [h["epoch"] for h in result.history] == [1, 2, 3]
    x, y = linear_data(settings.samples)
    assert result.history[-1]["mse"] == pytest.approx(float(np.mean((x @ expected[-1] - y) ** 2)), rel=1e-5)
    card = hub.load_card("linear", tmp_path)["card"]
    assert card["world_size"] == 1 and card["steps"] == 6 and card["epochs"] == 3 and card["seed"] == 0
    assert card["device"].startswith("cpu (") and card["settings"]["lr"] == 0.5 and card["wall_time_s"] >= 0
    assert card["metrics"]["step"] == 6 and len(card["history"]) == 3


def test_max_steps_runs_a_prefix_of_the_schedule_and_evaluates_at_the_end(tmp_path):
    result = engine.train("tests.test_engine:LinearRecipe", EngineConfig(out=tmp_path, max_steps=3),
                          LinearSettings(epochs=3))
    assert result.steps == 3 and result.stopped_by == "max_steps"
    assert [h["step"] for h in result.history] == [2, 3]
    x, y = linear_data(8)
    w = sgd_by_hand(LinearSettings(epochs=1))[0]  # 2 steps, then the third on points 0..3
    w = w - 0.5 * 2 / 4 * x[:4].T @ (x[:4] @ w - y[:4])
    saved = hub.load_state_dict("linear", weights_dir=tmp_path)["weight"][0].double().numpy()
    np.testing.assert_allclose(saved, w, rtol=1e-5)


def test_the_best_scoring_evaluation_is_kept(tmp_path):
    settings = LinearSettings(epochs=3, lr=2.2, keep_best=True)  # too large a step: the MSE grows every epoch
    result = engine.train("tests.test_engine:LinearRecipe", EngineConfig(out=tmp_path), settings)
    mse = [h["mse"] for h in result.history]
    assert mse[0] < mse[1] < mse[2] and result.kept["step"] == 2
    saved = hub.load_state_dict("linear", weights_dir=tmp_path)["weight"][0].double().numpy()
    np.testing.assert_allclose(saved, sgd_by_hand(settings)[0], rtol=1e-5)


def test_flags_come_from_the_dataclasses(tmp_path, capsys):
    recipe = "tests.test_engine:LinearRecipe"
    assert engine.main([recipe, "--out", str(tmp_path), "--quick", "--lr", "0.25", "--keep-best", "--seed", "3"]) == 0
    card = hub.load_card("linear", tmp_path)["card"]
    assert card["settings"] == {"samples": 8, "batch_size": 4, "epochs": 1, "lr": 0.25, "keep_best": True}
    assert card["quick"] is True and card["seed"] == 3 and card["steps"] == 2
    assert card["command"] == f"python -m core.train {recipe} --out {tmp_path} --quick --lr 0.25 --keep-best --seed 3"
    assert engine.main([recipe, "--quick", "--epochs", "2", "--out", str(tmp_path)]) == 0  # a flag beats --quick
    assert hub.load_card("linear", tmp_path)["card"]["steps"] == 4
    capsys.readouterr()
    assert engine.main([recipe, "--help"]) == 0
    assert "--batch-size INT" in capsys.readouterr().out


def test_bad_requests_are_clear(tmp_path, capsys):
    assert engine.main(["nosuch"]) == 2
    assert "unknown model 'nosuch' (known: cgan, cyclegan, dcgan, fast_rcnn, faster_rcnn" in capsys.readouterr().err
    assert engine.main(["tests.test_engine:LinearRecipe", "--max-steps", "2"]) == 2
    assert "would replace the embedded weights" in capsys.readouterr().err
    assert engine.main(["tests.test_engine:LinearRecipe", "--max-steps", "0", "--out", str(tmp_path)]) == 2
    assert "--max-steps must be at least 1" in capsys.readouterr().err
    assert engine.main(["tests.test_engine:LinearRecipe", "--lr", "fast", "--out", str(tmp_path)]) == 2
    assert "invalid float value" in capsys.readouterr().err
    assert engine.main(["tests.test_engine:sgd_by_hand"]) == 2
    assert "is not a core.training.engine.Recipe" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert engine.main(["tests.test_engine:LinearRecipe", "--device", "cuda", "--out", str(tmp_path)]) == 2
        assert "CUDA is not available" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_resolve_device():
    assert engine.resolve_device("cpu") == torch.device("cpu")
    assert engine.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    for bad in ("tpu9", "meta"):
        with pytest.raises(ValueError, match="unknown device"):
            engine.resolve_device(bad)


def test_every_registered_recipe_loads_and_names_its_weights():
    from core.training.recipes import RECIPES

    for name in RECIPES:
        cls = engine.recipe_class(name)
        assert cls.name == name and issubclass(cls, Recipe)
        cls.Settings()  # every setting has a default
        assert set(cls.quick) <= {f for f in cls.Settings.__dataclass_fields__}, name


# --- a GAN: D then G, through core.training.gan.gan_step ----------------------------------------------------


@dataclass
class TinyGANSettings:
    batch_size: int = 8  # global batch of real samples and latents
    steps: int = 3  # D-then-G steps


class TinyGANRecipe(Recipe):
    """Linear G: R^2 -> R^3 and linear D: R^3 -> R (no batch statistics), trained by `gan_step`."""

    name = "tiny_gan"
    Settings = TinyGANSettings
    weights_fp16 = False

    def build(self) -> None:
        self.generator, self.discriminator = nn.Linear(2, 3), nn.Sequential(nn.Linear(3, 1), nn.Flatten(0))
        self.train_g, self.train_d = self.run.wrap(self.generator), self.run.wrap(self.discriminator)
        self.opt_g = torch.optim.SGD(self.generator.parameters(), lr=0.1)
        self.opt_d = torch.optim.SGD(self.discriminator.parameters(), lr=0.1)
        self.data = torch.Generator().manual_seed(1)
        self.total_steps = self.settings.steps

    def batches(self):
        while True:
            real = torch.randn(self.settings.batch_size, 3, generator=self.data) + 2  # the global batch...
            z = torch.randn(self.settings.batch_size, 2, generator=self.data)
            yield self.run.shard(real), self.run.shard(z)  # ...and this process's half

    def step(self, batch, step):
        from core.training.gan import gan_step

        loss_d, loss_g = gan_step(self.train_g, self.train_d, self.opt_g, self.opt_d, *batch)
        return {"loss_d": loss_d, "loss_g": loss_g}

    def state_dict(self):
        return {**{f"g.{k}": v for k, v in self.generator.state_dict().items()},
                **{f"d.{k}": v for k, v in self.discriminator.state_dict().items()}}

    def spec_fields(self):
        return dict(architecture="tiny-gan", config={}, class_names=(), mean=(0.0,), std=(1.0,), input_size=(3,))

    def card(self, result):
        return {"data_seeds": "torch.Generator seeded 1", "metrics": {}}


# --- two processes ----------------------------------------------------------------------------------------

TWO_PROCESS_RECIPES = ("tests.test_engine:LinearRecipe", "tests.test_engine:TinyGANRecipe")


def main(out: Path) -> None:
    """Under torchrun: train each of `TWO_PROCESS_RECIPES` through the command line into ``out/<name>``."""
    torch.distributed.init_process_group("gloo", timeout=datetime.timedelta(minutes=5))
    for recipe in TWO_PROCESS_RECIPES:
        engine.main([recipe, "--out", str(out / engine.recipe_class(recipe).name)])
    torch.distributed.destroy_process_group()


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("two_processes")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "tests.test_engine", str(out)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.mark.parametrize("recipe", TWO_PROCESS_RECIPES)
def test_two_processes_on_disjoint_halves_equal_one_process_on_the_whole_batch(recipe, two_processes, tmp_path):
    name = engine.recipe_class(recipe).name
    engine.train(recipe, EngineConfig(out=tmp_path))  # one process, here
    one, two = hub.load_card(name, tmp_path)["card"], hub.load_card(name, two_processes / name)["card"]
    assert (one["world_size"], two["world_size"]) == (1, 2) and one["steps"] == two["steps"] > 0
    assert two["command"].startswith(f"torchrun --nproc_per_node=2 -m core.train {recipe} --out")
    a, b = load_file(str(tmp_path / f"{name}.safetensors")), load_file(str(two_processes / name / f"{name}.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=1e-5, atol=1e-6)
    if name == "linear":  # and both equal the hand-computed SGD
        expected = sgd_by_hand(LinearSettings())[-1]
        np.testing.assert_allclose(b["weight"][0].double().numpy(), expected, rtol=1e-5)
        assert one["history"][-1]["mse"] == pytest.approx(two["history"][-1]["mse"], rel=1e-5)
        assert one["history"][-1]["loss"] == pytest.approx(two["history"][-1]["loss"], rel=1e-5)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
