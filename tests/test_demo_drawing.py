"""demos.drawing: boxes land on the pixels they name, line styles differ, labels stay inside and apart."""

from __future__ import annotations

import numpy as np
import pytest

from demos import drawing
from demos.drawing import BoxStyle


WHITE = np.full((100, 120, 3), 255, np.uint8)


def inked(picture: np.ndarray) -> np.ndarray:
    return (picture != 255).any(axis=2)  # (H, W) bool


def test_a_solid_box_inks_exactly_its_outline():
    picture = drawing.draw_boxes(WHITE, [[10, 20, 50, 60]], [BoxStyle((0, 114, 178), width=1)])
    expected = np.zeros((100, 120), bool)
    expected[20, 10:51] = expected[60, 10:51] = True  # top and bottom rows, x from 10 to 50 inclusive
    expected[20:61, 10] = expected[20:61, 50] = True
    assert (inked(picture) == expected).all()
    assert tuple(picture[20, 30]) == (0, 114, 178)
    assert (WHITE == 255).all()  # the input is not drawn on


def test_thick_lines_grow_inwards_and_boxes_are_clipped_to_the_picture():
    picture = drawing.draw_boxes(WHITE, [[-10, -10, 200, 50]], [BoxStyle((0, 0, 0), width=3)])
    ink = inked(picture)
    assert ink[0:3, :].all() and ink[:51, 0:3].all() and ink[:51, 117:120].all()
    assert not ink[3:48, 3:117].any()


def test_dashed_and_dotted_lines_leave_gaps_and_differ():
    edge = {}
    for line in ("solid", "dashed", "dotted"):
        picture = drawing.draw_boxes(WHITE, [[0, 10, 119, 90]], [BoxStyle((0, 0, 0), line, width=2)])
        edge[line] = inked(picture)[10]
    assert edge["solid"].all()
    assert 0.3 < edge["dashed"].mean() < 0.9 and 0.3 < edge["dotted"].mean() < 0.8
    assert (edge["dashed"] != edge["dotted"]).any()
    runs = np.diff(np.flatnonzero(np.diff(edge["dotted"].astype(int))))
    assert runs.max() < np.diff(np.flatnonzero(np.diff(edge["dashed"].astype(int)))).max()


def test_labels_stay_inside_the_picture_and_do_not_overlap():
    from PIL import Image

    picture = Image.fromarray(WHITE.copy())
    placer = drawing.LabelPlacer(picture)
    # a small box in the top-right corner: the spots above and right of it fall outside and are pulled in
    a, b = (placer.add((100, 0, 119, 20), "a long label", (0, 0, 0), 14) for _ in range(2))
    for x1, y1, x2, y2 in (a, b):
        assert 0 <= x1 and 0 <= y1 and x2 <= 120 and y2 <= 100
    assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])
    assert placer.add((100, 0, 119, 20), "a long label", (0, 0, 0), 14, required=False) is None  # no spot left
    assert placer.add((100, 0, 119, 20), "a long label", (0, 0, 0), 14) == a  # required: the first spot anyway


def test_label_text_contrasts_with_its_tag():
    assert drawing.text_color_on((240, 228, 66)) == drawing.BLACK  # yellow tag: dark text
    assert drawing.text_color_on((0, 114, 178)) == drawing.WHITE  # blue tag: white text


def test_palette_is_okabe_ito_and_the_class_colours_come_from_it():
    assert drawing.color(0) == (0, 114, 178) and drawing.color(8) == drawing.color(0)
    assert drawing.CLASS_COLORS[1] == "#e69f00" and len(drawing.CLASS_COLORS) == 5
    assert drawing.hex_to_rgb("#e69f00") == (230, 159, 0)


def test_grid_places_tiles_row_by_row():
    tiles = [np.full((2, 3, 3), v, np.uint8) for v in (10, 20, 30)]
    out = drawing.grid(tiles, columns=2, padding=1)
    assert out.shape == (2 * 3 + 1, 2 * 4 + 1, 3)
    assert out[1, 1, 0] == 10 and out[1, 5, 0] == 20 and out[4, 1, 0] == 30 and out[4, 5, 0] == 255
    with pytest.raises(ValueError):
        drawing.grid([tiles[0], np.zeros((3, 3, 3), np.uint8)], columns=2)


def test_mismatched_styles_are_refused():
    with pytest.raises(ValueError):
        drawing.draw_boxes(WHITE, [[0, 0, 5, 5], [1, 1, 4, 4]], [BoxStyle((0, 0, 0))])
