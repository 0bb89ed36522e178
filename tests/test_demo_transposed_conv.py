"""The Transposed-convolution tab's endpoints through gradio_client: the book's examples, PyTorch parity, errors.

Run alone with `LAB_TABS=demos.transposed_conv pytest tests/test_demo_transposed_conv.py`.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import demos.transposed_conv as tc

BOOK_X = "0 1\n2 3"
BOOK_K = "0 1\n2 3"


def numbers(client, X, K, stride=1, padding=0, output_padding=0) -> dict:
    return client.predict(X, K, stride, padding, output_padding, api_name="/transposed_conv")


def test_book_example(client):
    result = numbers(client, BOOK_X, BOOK_K)
    assert result["output"] == [[0, 0, 1], [0, 4, 6], [4, 12, 9]]
    assert result["output_size"] == [3, 3] and result["matches_pytorch"] is True
    assert result["pytorch_output"] == result["output"]
    assert result["conv_matrix_shape"] == [4, 9]
    assert "stride=1, padding=0" in result["pytorch_code"]


def test_book_stride_two(client):
    result = numbers(client, BOOK_X, BOOK_K, stride=2)
    assert result["output"] == [[0, 0, 0, 1], [0, 0, 2, 3], [0, 2, 0, 3], [4, 6, 6, 9]]
    assert result["output_size"] == [4, 4] and result["matches_pytorch"] is True
    # zeros inserted between the elements, padded by k - 1 - p = 1 on each side
    assert result["zero_inserted_input"] == [[0, 0, 0, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 0], [0, 2, 0, 3, 0],
                                             [0, 0, 0, 0, 0]]


def test_book_padding_one(client):
    result = numbers(client, "[[0, 1], [2, 3]]", "[[0, 1], [2, 3]]", padding=1)
    assert result["output"] == [[4]] and result["output_size"] == [1, 1]


def test_checkerboard_preset(client):
    preset = tc.PRESETS["checkerboard: k=3, s=2"]
    result = numbers(client, preset["X"], preset["K"], preset["stride"], preset["padding"])
    counts = np.array(result["overlap_count"])
    assert counts.shape == (9, 9) and result["checkerboard"] is True
    assert counts[:, 3].tolist() == [1, 1, 2, 1, 2, 1, 2, 1, 1]  # alternating: the checkerboard
    assert counts[4, 3] == 2 and counts[4, 4] == 4
    # with ones as input and kernel, the output *is* the overlap count
    assert result["output"] == result["overlap_count"]
    even = tc.PRESETS["no checkerboard: k=4, s=2"]
    result = numbers(client, even["X"], even["K"], even["stride"], even["padding"])
    counts = np.array(result["overlap_count"])
    assert result["checkerboard"] is False and (counts[1:-1, 1:-1] == 4).all()


def test_output_padding(client):
    result = numbers(client, "1 2 3\n4 5 6\n7 8 9", "1 1 1\n1 1 1\n1 1 1", stride=2, padding=1, output_padding=1)
    assert result["output_size"] == [6, 6] and result["matches_pytorch"] is True and result["views_agree"] is True
    assert "(3-1)*2 - 2*1 + 3 + 1 = 6" in result["output_size_formula"]


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), (3, 1), (3, 2)])
def test_random_inputs_match_conv_transpose2d(client, stride, padding):
    generator = torch.Generator().manual_seed(stride * 10 + padding)
    X = torch.randint(-5, 6, (5, 3), generator=generator).double() / 2
    K = torch.randint(-5, 6, (3, 4), generator=generator).double()
    to_text = lambda m: "\n".join(" ".join(f"{v:g}" for v in row) for row in m.tolist())  # noqa: E731
    result = numbers(client, to_text(X), to_text(K), stride, padding)
    expected = torch.nn.functional.conv_transpose2d(X[None, None], K[None, None], stride=stride, padding=padding)[0, 0]
    assert np.allclose(result["output"], expected.numpy()) and result["matches_pytorch"] is True
    assert result["views_agree"] is True  # scatter-add = zero-insertion = W^T vec(X)
    assert result["output_size"] == [(5 - 1) * stride - 2 * padding + 3, (3 - 1) * stride - 2 * padding + 4]


def test_views_endpoint_draws_every_view(client):
    outputs = client.predict(BOOK_X, BOOK_K, 2, 0, 0, 2, api_name="/transposed_conv_views")
    formula, slider, scatter, zero, matrix, overlap, overlap_md, code, torch_value, result = outputs
    assert "= 4" in formula and slider["value"] == 2 and slider["maximum"] == 4
    for path in (scatter, zero, matrix, overlap):
        image = Image.open(path)
        assert image.mode == "RGB" and image.width >= 200
    assert "conv_transpose2d(X[None, None], K[None, None], stride=2, padding=0)" in code
    assert "identical" in torch_value and result["output"] == [[0, 0, 0, 1], [0, 0, 2, 3], [0, 2, 0, 3], [4, 6, 6, 9]]


@pytest.mark.parametrize(
    "X, K, stride, padding, output_padding, message",
    [
        ("0 a\n2 3", BOOK_K, 1, 0, 0, "row 1, column 2: 'a' is not a number"),
        ("0 1\n2", BOOK_K, 1, 0, 0, "same number of entries"),
        ("\n".join(["1 " * 9] * 9), BOOK_K, 1, 0, 0, "at most 8×8"),
        (BOOK_X, "\n".join(["1 " * 6] * 6), 1, 0, 0, "at most 5×5"),
        (BOOK_X, BOOK_K, 0, 0, 0, "Stride must be between 1 and 4"),
        (BOOK_X, BOOK_K, 1, 2, 0, "Padding 2 is too large"),
        (BOOK_X, BOOK_K, 2, 0, 2, "Output padding must be smaller than the stride"),
        ("", BOOK_K, 1, 0, 0, "Input X is empty"),
        ("[[0, 1], [2, 3]", BOOK_K, 1, 0, 0, "not valid JSON"),
        ("0 inf\n2 3", BOOK_K, 1, 0, 0, "finite number"),
    ],
)
def test_bad_inputs_give_clear_errors(client, X, K, stride, padding, output_padding, message):
    with pytest.raises(Exception) as error:
        numbers(client, X, K, stride, padding, output_padding)
    assert message in str(error.value)
    assert numbers(client, BOOK_X, BOOK_K)["output"] == [[0, 0, 1], [0, 4, 6], [4, 12, 9]]  # still serving


def test_bad_input_on_the_views_endpoint(client):
    with pytest.raises(Exception) as error:
        client.predict("1 2\n3 x", BOOK_K, 1, 0, 0, 4, api_name="/transposed_conv_views")
    assert "not a number" in str(error.value)


@pytest.mark.parametrize("kernel_side, stride, interior", [(4, 2, "4–4"), (2, 2, "1–1"), (3, 2, "1–4"), (3, 1, "9–9")])
def test_overlap_note_counts_the_interior_contributions(kernel_side, stride, interior):
    """Away from the border a kernel divisible by the stride gives every output (k/s)^2 contributions; 3 by 2 gives
    1, 2 or 4: the checkerboard."""
    from demos.transposed_conv import compute, make_problem, overlap_note

    x = "; ".join([" ".join(["1"] * 6)] * 6)
    kernel = "; ".join([" ".join(["1"] * kernel_side)] * kernel_side)
    problem = make_problem(x, kernel, stride)
    note = overlap_note(problem, compute(problem))
    assert f"interior counts {interior}" in note
    assert ("checkerboard** pattern" in note) == (kernel_side % stride != 0)
