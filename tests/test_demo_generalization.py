"""The "Augmentation's effect" sub-tab's endpoint through gradio_client, and its hand-off function.

Run alone with `LAB_TABS=demos.finetune pytest tests/test_demo_generalization.py` (one training run of about
10-20 s; the claim itself is tested in tests/test_generalization.py).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.data import augment as aug
from core.training import generalization as gen

CONFIG = gen.GeneralizationConfig()


def test_a_pretrained_run_with_the_augmentation_tab_export(client):
    """The Augmentation tab's JSON export is accepted as it is; the run's numbers add up."""
    exported = aug.to_json(aug.preset(aug.DEFAULT_PRESET))
    result = client.predict("pretrained", exported, 1, api_name="/generalization")
    assert result["start"] == "pretrained" and result["augmentation"] == "custom" and result["seed"] == 1
    for key in ("train_accuracy", "test_accuracy", "gap"):
        assert len(result[key]) == CONFIG.epochs, key
    assert result["final_test_accuracy"] == result["test_accuracy"][-1]
    for train, test, gap in zip(result["train_accuracy"], result["test_accuracy"], result["gap"]):
        assert gap == pytest.approx(train - test, abs=1e-5)
    assert result["final_gap"] == pytest.approx(result["train_accuracy"][-1] - result["final_test_accuracy"], abs=1e-5)
    assert 0.5 < result["final_test_accuracy"] <= 1.0  # fine-tuned: far above chance (0.1) even with flips
    assert result["seconds"] > 0
    assert result["config"]["examples_per_class"] == CONFIG.examples_per_class
    assert any("resized back to 32x32" in note for note in result["notes"])
    assert any(note.startswith("HorizontalFlip") for note in result["notes"])


@pytest.mark.parametrize("args, message", [
    (("imagenet", "default", 0), "start must be one of 'scratch', 'pretrained'"),
    (("scratch", '{"transform": {"__class_fullname__": "Compose", "transforms": [}', 0),
     "augmentation: The pipeline is not valid JSON"),
    (("scratch", '{"__class_fullname__": "Sparkle"}', 0), "augmentation: Unknown transform 'Sparkle'"),
    (("scratch", '{"__class_fullname__": "CenterCrop", "height": 100, "width": 100}', 0),
     "augmentation: The pipeline cannot run on the 32x32 digit images"),
    (("scratch", "flips please", 0), "augmentation: The augmentation must be 'none', 'default'"),
    (("scratch", "none", -3), "Seed must be between"),
])
def test_bad_values_get_a_clear_message_naming_the_input(client, args, message):
    with pytest.raises(Exception) as error:
        client.predict(*args, api_name="/generalization")
    assert message in str(error.value)


def test_use_pipeline_takes_the_augmentation_tab_json():
    from demos import generalization as demo

    exported = aug.to_json(aug.preset(aug.DEFAULT_PRESET))
    choice, text, picture, notes, accordion = demo.use_pipeline(exported)
    assert choice == "custom"
    assert json.loads(text) == aug.parse_pipeline(exported)
    assert isinstance(picture, np.ndarray) and picture.ndim == 3 and picture.shape[2] == 3
    assert "resized back to 32x32" in notes and "HorizontalFlip" in notes
    assert accordion.open is True  # the custom pipeline is shown
    import gradio as gr

    with pytest.raises(gr.Error, match="augmentation: Unknown transform 'Sparkle'"):
        demo.use_pipeline('{"__class_fullname__": "Sparkle"}')
    with pytest.raises(gr.Error, match="the pipeline is empty"):
        demo.use_pipeline("  ")


def test_the_reveal_compares_predictions_with_the_measured_runs():
    from demos import generalization as demo

    runs = {demo.WITHOUT: {"train_accuracy": [1.0], "test_accuracy": [0.80], "seconds": 1.0},
            demo.WITH: {"train_accuracy": [0.99], "test_accuracy": [0.90], "seconds": 1.0}}
    text = demo.reveal(runs, demo.WITH, demo.WITH)
    assert "Higher held-out accuracy: **with augmentation** (with 90.0% vs without 80.0%) — ✓" in text
    assert "Larger gap: **without augmentation** (with 9.0 vs without 20.0 points) — ✗ you predicted" in text
    assert "(no prediction made)" in demo.reveal(runs, None, None)
    rows = demo.table_rows(runs)
    assert rows[0][:4] == [demo.WITHOUT, 100.0, 80.0, 20.0] and rows[1][:4] == [demo.WITH, 99.0, 90.0, 9.0]
    assert rows[2][:4] == ["with − without", -1.0, 10.0, -11.0]
