"""Lecture steps for topics 14-16: semantic segmentation, transposed convolution, fully convolutional networks.

Answers come from `core.ops.transposed_conv` (scatter-add and the output-size formula); variant 0 uses the
book's 2 x 2 example and its FCN (320 x 480 images, kernel 64, stride 32, padding 16).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core.lecture import links
from core.lecture._shared import D2L_CV, fmt, fmt_matrix, rng, shuffled
from core.lecture.figures import Text, fit, matrix
from core.lecture.model import Question, Step
from core.ops.transposed_conv import output_size, trans_conv

BOOK_X = ((0.0, 1.0), (2.0, 3.0))
BOOK_K = ((0.0, 1.0), (2.0, 3.0))
BOOK_FCN = dict(feature_hw=(10, 15), stride=32)
"""The book's FCN: a 320 x 480 image gives a 10 x 15 map; the transposed convolution has kernel 64, padding 16."""


# --- 14. semantic segmentation ---------------------------------------------------------------------------------


def ask_segmentation(variant: int) -> Question:
    options, answer = shuffled(variant, "segmentation", "Cat pixels from sofa pixels, not one cat from the other", [
        "Each cat as a separate object with its own mask",
        "Only the larger of the two cats",
        "Nothing: it gives one class to the whole image",
    ])
    return Question(
        kind="choice",
        text="A photo shows two cats side by side on a sofa. What does a **semantic** segmentation of it tell apart?",
        options=options,
        answer=answer,
        explanation=(
            "Semantic segmentation gives every pixel a class: both cats become *cat* pixels, the sofa *sofa* (or "
            "background) pixels. It neither counts nor separates objects of the same class; giving each cat its own "
            "mask is instance segmentation. Its label is an image of class indices with the input's height and width."
        ),
        link=links.segmentation("result"),
    )


SEGMENTATION = Step(
    id="semantic-segmentation",
    topics=(14,),
    title="Semantic segmentation",
    idea=(
        "Detection puts boxes around objects; semantic segmentation goes down to the pixel and gives every pixel "
        "of the image a class. Its output is a map of class scores with the image's height and width, and its "
        "training labels are images of class indices."
    ),
    formula=r"\hat{y}_{ij} = \arg\max_c\, s_{c, i, j} \quad \text{for every pixel } (i, j)",
    source=("d2l 14.9 Semantic Segmentation", D2L_CV + "semantic-segmentation-and-dataset.html"),
    ask=ask_segmentation,
)


# --- 15. transposed convolution --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TransConvSetup:
    X: tuple[tuple[float, ...], ...]
    K: tuple[tuple[float, ...], ...]
    stride: int
    cell: tuple[int, int]  # the output entry asked about


def contributions(setup: TransConvSetup) -> list[tuple[int, int, int, int]]:
    """(i, j, a, b) with X[i, j] * K[a, b] landing on the asked output cell (no padding)."""
    r, c = setup.cell
    s = setup.stride
    return [(i, j, a, b)
            for i in range(len(setup.X)) for j in range(len(setup.X[0]))
            for a in range(len(setup.K)) for b in range(len(setup.K[0]))
            if i * s + a == r and j * s + b == c]


def trans_conv_setup(variant: int) -> TransConvSetup:
    if variant == 0:
        return TransConvSetup(BOOK_X, BOOK_K, 1, (1, 1))
    g = rng(variant, "trans-conv")
    x_side, k_side, stride = [(2, 2, 1), (3, 2, 1), (2, 3, 2)][int(g.integers(3))]
    X = tuple(tuple(float(v) for v in row) for row in g.integers(0, 5, size=(x_side, x_side)))
    K = tuple(tuple(float(v) for v in row) for row in g.integers(1, 4, size=(k_side, k_side)))
    out = (x_side - 1) * stride + k_side
    cells = [(r, c) for r in range(out) for c in range(out)]
    covers = {cell: len(contributions(TransConvSetup(X, K, stride, cell))) for cell in cells}
    most = max(covers.values())
    crowded = [cell for cell in cells if covers[cell] == most]
    return TransConvSetup(X, K, stride, crowded[int(g.integers(len(crowded)))])


def _trans_conv_figure(setup: TransConvSetup, Y: list[list[float]] | None, description: str):
    cell, font = 44.0, 18.0
    x_rows, k_rows = len(setup.X), len(setup.K)
    left_k = len(setup.X[0]) * cell + 70
    left_y = left_k + len(setup.K[0]) * cell + 70
    out = (x_rows - 1) * setup.stride + k_rows
    shown = Y if Y is not None else [["" for _ in range(out)] for _ in range(out)]
    shapes = [*matrix(setup.X, 0, 0, cell, "input X"),
              *matrix(setup.K, left_k, 0, cell, "kernel K"),
              Text(left_y - 35, cell, "→", 1.4),
              *matrix(shown, left_y, 0, cell, f"output Y (stride {setup.stride})",
                      highlight=[setup.cell] if Y is not None else [],
                      unknown=[setup.cell] if Y is None else [])]
    return fit(shapes, description, font)


def ask_trans_conv(variant: int) -> Question:
    setup = trans_conv_setup(variant)
    X, K = torch.tensor(setup.X), torch.tensor(setup.K)
    Y = trans_conv(X, K, setup.stride)  # scatter-add, the lab's teaching implementation
    r, c = setup.cell
    answer = float(Y[r, c])
    terms = contributions(setup)
    symbolic = " + ".join(f"X_{{{i}{j}}} K_{{{a}{b}}}" for i, j, a, b in terms)
    numeric = " + ".join(f"{fmt(setup.X[i][j])} \\cdot {fmt(setup.K[a][b])}" for i, j, a, b in terms)
    out = Y.shape[0]
    book = " — the book's result." if variant == 0 else "."
    return Question(
        kind="number",
        text=(f"$X = {fmt_matrix(setup.X)}$ and $K = {fmt_matrix(setup.K)}$, stride {setup.stride}, no padding: the "
              f"output is {out} × {out}. What is its entry $Y_{{{r}{c}}}$ (row {r}, column {c}, counting from 0)?"),
        answer=answer,
        tolerance=0.0,
        explanation=(
            f"Input element $X_{{ij}}$ adds $X_{{ij}} K$ to the block whose top-left corner is "
            + ("$(i, j)$" if setup.stride == 1 else f"$({setup.stride} i, {setup.stride} j)$")
            + f". {len(terms)} of these blocks cover $Y_{{{r}{c}}}$: "
            f"$Y_{{{r}{c}}} = {symbolic} = {numeric} = {fmt(answer)}$. "
            f"The whole output is ${fmt_matrix(Y.tolist())}${book}"
        ),
        link=links.transposed_conv(setup.X, setup.K, setup.stride),
        figure=_trans_conv_figure(setup, None, "The input X, the kernel K and the output grid with the asked entry "
                                               "marked by a question mark."),
        reveal_figure=_trans_conv_figure(setup, Y.tolist(), "The input X, the kernel K and the full output Y."),
        params={"X": [list(r) for r in setup.X], "K": [list(r) for r in setup.K], "stride": setup.stride,
                "cell": list(setup.cell)},
    )


TRANS_CONV = Step(
    id="trans-conv",
    topics=(15,),
    title="Transposed convolution",
    idea=(
        "Convolutions keep or shrink height and width; segmentation needs them back. A transposed convolution "
        "enlarges instead: every input element paints a copy of the kernel, scaled by its own value, into the "
        "output at its position (stride apart), and the copies add up where they overlap."
    ),
    formula=r"Y[s i + a,\ s j + b] \mathrel{+}= X[i, j]\, K[a, b]",
    source=("d2l 14.10 Transposed Convolution", D2L_CV + "transposed-conv.html"),
    ask=ask_trans_conv,
)


def trans_conv_size_setup(variant: int) -> dict[str, int]:
    if variant == 0:
        return dict(n=2, k=2, s=2, p=0, op=0)
    g = rng(variant, "trans-conv-size")
    while True:
        n, k, s = int(g.integers(2, 9)), int(g.integers(1, 6)), int(g.integers(1, 5))
        p = int(g.integers(0, 3))
        op = int(g.integers(0, s)) if g.random() < 0.5 else 0
        if output_size(n, k, s, p, op) >= 1:
            return dict(n=n, k=k, s=s, p=p, op=op)


def ask_trans_conv_size(variant: int) -> Question:
    size = trans_conv_size_setup(variant)
    n, k, s, p, op = size["n"], size["k"], size["s"], size["p"], size["op"]
    answer = output_size(n, k, s, p, op)
    span = (n - 1) * s + k
    setting = (f"kernel {k} × {k}, stride {s}, padding {p}" + (f", output padding {op}" if op else ""))
    overlap = ("The copies overlap, and their sums are the output." if k > s else
               "The copies touch without overlapping." if k == s else
               f"The copies leave gaps of {s - k} between them, filled with zeros.")
    return Question(
        kind="number",
        text=(f"A transposed convolution with {setting} gets an input of {n} × {n}. How many rows does its "
              "output have?"),
        answer=float(answer),
        tolerance=0.0,
        explanation=(
            f"The {n} kernel copies of one column start {s} apart, so together they span $({n} - 1) \\cdot {s} + {k} "
            f"= {span}$ rows. {overlap} Padding removes {p} row{'s' if p != 1 else ''} at each end"
            + (f" and output padding adds {op} at the bottom" if op else "")
            + f": $({n} - 1) \\cdot {s} - 2 \\cdot {p} + {k} + {op} = {answer}$."
        ),
        link=links.transposed_conv([[1.0] * n] * n, [[1.0] * k] * k, s, p, op, part="overlap"),
        params=size,
    )


TRANS_CONV_SIZE = Step(
    id="trans-conv-size",
    topics=(15,),
    title="Transposed convolution: output size",
    idea=(
        "Along each side, $n$ input elements place their $k$-wide kernel copies $s$ apart. Padding $p$ works in "
        "reverse of a convolution's: it removes $p$ rows and columns from each border of the output. Output "
        "padding $p_{\\text{out}} < s$ adds rows and columns back on one side, to choose among the sizes that an "
        "ordinary convolution with stride $s$ would all shrink to $n$."
    ),
    formula=r"n_{\text{out}} = (n - 1)\, s - 2 p + k + p_{\text{out}}",
    source=("d2l 14.10.2 Padding, Strides, and Multiple Channels",
            D2L_CV + "transposed-conv.html#padding-strides-and-multiple-channels"),
    ask=ask_trans_conv_size,
)


# --- 16. FCN ---------------------------------------------------------------------------------------------------


def fcn_setup(variant: int) -> tuple[tuple[int, int], int, int]:
    """(feature map (h, w), stride s, the dimension asked: 0 rows, 1 columns)."""
    if variant == 0:
        return BOOK_FCN["feature_hw"], BOOK_FCN["stride"], 1
    g = rng(variant, "fcn")
    return (int(g.integers(4, 21)), int(g.integers(4, 21))), int(g.choice([8, 16, 32])), int(g.integers(2))


def ask_fcn(variant: int) -> Question:
    (fh, fw), s, dim = fcn_setup(variant)
    k, p = 2 * s, s // 2
    n = (fh, fw)[dim]
    answer = output_size(n, k, s, p)
    words = ("high", "rows") if dim == 0 else ("wide", "columns")
    book = (" The book's FCN thus gives back a 320 × 480 map for a 320 × 480 image: one prediction per pixel."
            if variant == 0 else
            f" A {fh * s} × {fw * s} image thus gets a {fh * s} × {fw * s} map of class scores: one prediction per "
            "pixel.")
    return Question(
        kind="number",
        text=(f"An FCN's backbone turns an image into a {fh} × {fw} map (stride {s}); a 1 × 1 convolution turns its "
              f"channels into class scores, and a transposed convolution with kernel {k}, stride {s} and padding {p} "
              f"enlarges them. How {words[0]} is its output, in pixels?"),
        answer=float(answer),
        tolerance=0.0,
        unit="px",
        explanation=(
            f"$({n} - 1) \\cdot {s} - 2 \\cdot {p} + {k} = {answer}$. With kernel $2s$, stride $s$ and padding "
            f"$s/2$ the output is exactly $s$ times the input: each of the {n} {words[1]} becomes {s}.{book} The "
            "kernel starts as bilinear interpolation and is then learned."
        ),
        link=links.segmentation("upsampling", scale=s if s in (2, 4, 8) else None),
        params={"feature_hw": [fh, fw], "stride": s, "kernel": k, "padding": p, "dimension": words[1]},
    )


FCN = Step(
    id="fcn",
    topics=(16,),
    title="Fully convolutional networks (FCN)",
    idea=(
        "An FCN uses a pre-trained CNN, without its global pooling and output layers, to extract features. A "
        "$1 \\times 1$ convolution turns the feature channels into one score map per class, and a transposed "
        "convolution brings the maps back to the input's height and width, so every input pixel gets a class "
        "prediction."
    ),
    formula=r"n_{\text{out}} = (n - 1)\, s - 2 p + k",
    source=("d2l 14.11 Fully Convolutional Networks", D2L_CV + "fcn.html"),
    ask=ask_fcn,
)

STEPS = (SEGMENTATION, TRANS_CONV, TRANS_CONV_SIZE, FCN)
