"""demos.inputs: every bad value becomes a gr.Error naming the control; good values come back typed."""

from __future__ import annotations

import math

import gradio as gr
import pytest

from demos import inputs


@pytest.mark.parametrize("value, expected", [(0.5, 0.5), ("0.25", 0.25), (" 1 ", 1.0), (0, 0.0)])
def test_number_accepts_numbers_and_numeric_text(value, expected):
    assert inputs.number(value, "IoU threshold", low=0, high=1) == expected


@pytest.mark.parametrize("value, fragment", [
    ("abc", "IoU threshold must be a number between 0 and 1, got 'abc'."),
    (None, "IoU threshold must be a number between 0 and 1, got None."),
    (math.nan, "got nan"),
    (math.inf, "got inf"),
    (True, "got True"),
    (1.5, "got 1.5"),
    (-0.1, "got -0.1"),
])
def test_number_names_the_control_and_what_it_accepts(value, fragment):
    with pytest.raises(gr.Error) as caught:
        inputs.number(value, "IoU threshold", low=0, high=1)
    assert fragment in caught.value.message


def test_whole_numbers_seeds_and_defaults():
    assert inputs.whole("3", "objects", low=1, high=12) == 3 and isinstance(inputs.whole(3.0, "n"), int)
    with pytest.raises(gr.Error, match="objects must be a whole number between 1 and 12, got 2.5"):
        inputs.whole(2.5, "objects", low=1, high=12)
    assert inputs.seed(2**31 - 1) == 2**31 - 1
    with pytest.raises(gr.Error, match="Seed must be a whole number between 0 and 2147483647, got -1"):
        inputs.seed(-1)
    assert inputs.number("", "lr", default=0.01) == 0.01 and inputs.whole(None, "epochs", default=5) == 5
    assert inputs.fraction("1", "opacity") == 1.0


def test_number_lists():
    assert inputs.number_list("0.75, 0.5 0.25", "sizes", low=0, high=1) == [0.75, 0.5, 0.25]
    assert inputs.number_list("1;2", "ratios", low=0) == [1.0, 2.0]
    with pytest.raises(gr.Error, match="sizes: every value must be greater than 0, got 0"):
        inputs.number_list("0, 0.5", "sizes", low=0)
    assert inputs.number_list("0, 0.5", "offsets", low=0, above_low=False) == [0.0, 0.5]
    with pytest.raises(gr.Error, match="sizes: every value must be at most 1, got 2"):
        inputs.number_list("2", "sizes", low=0, high=1)
    with pytest.raises(gr.Error, match="sizes: expected numbers separated by commas"):
        inputs.number_list("a, b", "sizes")
    with pytest.raises(gr.Error, match="expected between 1 and 2 numbers, got 3"):
        inputs.number_list("1 2 3", "sizes", max_count=2)
    with pytest.raises(gr.Error, match="expected between 1 and 64 numbers, got 0"):
        inputs.number_list("", "sizes")


def test_choices_and_json():
    assert inputs.choice("ssd", "model", ("ssd", "fcn")) == "ssd"
    with pytest.raises(gr.Error, match="model must be one of ssd, fcn; got 'yolo'"):
        inputs.choice("yolo", "model", ("ssd", "fcn"))
    assert inputs.json_text('{"a": [1, 2]}', "pipeline") == {"a": [1, 2]}
    with pytest.raises(gr.Error, match="pipeline is not valid JSON: .* at line 2, column 1"):
        inputs.json_text('{"a": 1,\n}', "pipeline")
    with pytest.raises(gr.Error, match="pipeline is empty"):
        inputs.json_text("  ", "pipeline")
    with pytest.raises(gr.Error, match="pipeline is too long"):
        inputs.json_text("[" + "1," * 100 + "1]", "pipeline", max_bytes=50)


def test_user_errors_turns_core_value_errors_into_messages():
    with pytest.raises(gr.Error, match="boxes must be"):
        with inputs.user_errors():
            raise ValueError("boxes must be (N, 4)")
    with pytest.raises(KeyError):
        with inputs.user_errors():
            raise KeyError("a bug stays a bug")
