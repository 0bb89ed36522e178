"""The Detection dataset tab's endpoints through gradio_client: exact scene, JSON and lossless mask PNG.

Run alone with `LAB_TABS=demos.dataset pytest tests/test_demo_dataset.py`.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gradio_client import handle_file
from PIL import Image
from torchvision.utils import draw_segmentation_masks

import demos.dataset as dataset
from core.data.scenes import CLASS_COLORS, CLASS_NAMES, SPLITS, make_scene
from tests.lecture_links import lecture_links_into


def _png(path: str) -> Image.Image:
    image = Image.open(path)
    assert image.format == "PNG"
    return image


def test_make_scene_returns_the_exact_scene_json_and_mask(client):
    image_path, annotations, mask_path = client.predict(7, None, api_name="/make_scene")
    scene = make_scene(7)
    np.testing.assert_array_equal(np.asarray(_png(image_path).convert("RGB")), scene.image)
    mask = _png(mask_path)
    assert mask.mode == "L" and mask.size == (256, 256)
    np.testing.assert_array_equal(np.asarray(mask), scene.mask)  # lossless: the exact class values
    assert set(np.unique(np.asarray(mask))) <= set(range(len(CLASS_NAMES) + 1))
    assert annotations == scene.annotations()
    for item in annotations:
        x1, y1, x2, y2 = map(int, item["box"])
        inside = np.asarray(mask)[y1:y2, x1:x2] == item["label"] + 1
        assert inside[:, 0].any() and inside[:, -1].any() and inside[0].any() and inside[-1].any()
        assert item["class_name"] == CLASS_NAMES[item["label"]]


def test_make_scene_on_an_uploaded_background_keeps_its_size(client, tmp_path):
    photo = np.zeros((180, 300, 3), np.uint8)
    photo[:, :, 1] = np.linspace(0, 255, 300, dtype=np.uint8)[None, :]
    path = tmp_path / "photo.png"
    Image.fromarray(photo).save(path)
    image_path, annotations, mask_path = client.predict(4, handle_file(str(path)), api_name="/make_scene")
    image = np.asarray(_png(image_path).convert("RGB"))
    mask = np.asarray(_png(mask_path))
    assert image.shape == (180, 300, 3) and mask.shape == (180, 300)
    expected = make_scene(4, background=photo)
    np.testing.assert_array_equal(image, expected.image)
    np.testing.assert_array_equal(mask, expected.mask)
    assert annotations == expected.annotations()


def test_dataset_grid_numbers(client):
    boxes_grid, masks_grid, plot, stats = client.predict(3, 4, "test", 0.5, None, api_name="/dataset_grid")
    seeds = [SPLITS["test"][3 + i] for i in range(4)]
    assert stats["seeds"] == seeds
    scenes = [make_scene(s) for s in seeds]
    assert stats["objects"] == sum(len(s.labels) for s in scenes)
    assert stats["scenes"][0]["annotations"] == scenes[0].annotations()
    counts = np.bincount(np.concatenate([s.labels for s in scenes]), minlength=len(CLASS_NAMES))
    assert stats["class_counts"] == {name: int(c) for name, c in zip(CLASS_NAMES, counts)}
    size = stats["box_size_px"]
    assert size["small_lt_32"] + size["medium"] + size["large_ge_96"] == stats["objects"]
    grid = np.asarray(Image.open(boxes_grid).convert("RGB"))
    assert grid.shape == (256 + 8, 4 * 260 + 4, 3)  # one row of four 256-px tiles, 4-px gaps
    assert np.asarray(Image.open(masks_grid)).shape[:2] == grid.shape[:2]


def test_mask_overlay_equals_torchvision():
    scene = make_scene(2)
    one_hot = torch.from_numpy(scene.mask)[None] == torch.arange(1, len(CLASS_NAMES) + 1)[:, None, None]
    expected = draw_segmentation_masks(torch.from_numpy(scene.image).permute(2, 0, 1), one_hot, alpha=0.4,
                                       colors=list(CLASS_COLORS))
    np.testing.assert_array_equal(dataset.draw_masks(scene, 0.4), expected.permute(1, 2, 0).numpy())


@pytest.mark.parametrize(
    "args, message",
    [
        ((-1, 4, "any", 0.5, None), "minimum value 0"),  # gradio's own bound check on the Number
        ((0, 40, "any", 0.5, None), "maximum value 16"),  # gradio's own bound check on the Slider
        ((498, 4, "test", 0.5, None), "goes past its end"),
    ],
)
def test_grid_bad_inputs_give_clear_messages(client, args, message):
    with pytest.raises(Exception, match=message):
        client.predict(*args, api_name="/dataset_grid")


def test_make_scene_bad_upload_is_a_clear_error_and_the_server_keeps_serving(client, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("this is not an image")
    with pytest.raises(Exception, match="not an image"):
        client.predict(1, handle_file(str(bad)), api_name="/make_scene")
    with pytest.raises(Exception, match="Seed must be"):
        client.predict(2**31, None, api_name="/make_scene")
    _, annotations, _ = client.predict(1, None, api_name="/make_scene")
    assert annotations == make_scene(1).annotations()


# --- every view is a link (issue 15) ---------------------------------------------------------------------


def test_the_views_defaults_are_the_controls_first_values():
    import gradio as gr

    from demos import dataset as tab

    with gr.Blocks():
        ui = tab.build()
    assert tab.DatasetView.from_values(*[c.value for c in ui.controls]) == tab.DatasetView()
    assert tab.DatasetView().link() == "?tab=dataset"


def test_a_link_round_trips_and_show_equals_the_endpoints(client):
    from urllib.parse import parse_qsl

    from demos import dataset as tab

    view = tab.DatasetView(split="test", seed=3, count=4, opacity=0.5, scene_seed=7)
    assert view.link() == "?tab=dataset&split=test&seed=3&count=4&opacity=0.5&scene_seed=7"
    assert tab.DatasetView.from_query(dict(parse_qsl(view.link()[1:]))) == (view, [])
    shown = tab.show(view)
    _, _, plot, stats = client.predict(3, 4, "test", 0.5, None, api_name="/dataset_grid")
    assert shown[3] == stats and stats["seeds"] == [SPLITS["test"][3 + i] for i in range(4)]
    assert shown[2]["boxes"].sum() == stats["objects"]
    _, annotations, _ = client.predict(7, None, api_name="/make_scene")
    assert shown[5] == annotations == make_scene(7).annotations()


def test_every_lecture_link_into_the_tab_opens_without_a_notice_and_shows_its_scenes():
    from demos import dataset as tab

    links = lecture_links_into(tab.DatasetView)
    for link in links:
        assert link.part is None
        assert tab.show(link.view)[3]["seeds"] == list(range(link.variant, link.variant + 8))
    assert len(links) == 6
