"""The Segmentation tab's endpoints through gradio_client: the lossless class-map PNG, IoU against make_scene's mask,
the bilinear kernel, the learned kernel, and clear errors.

Run alone with `LAB_TABS=demos.segmentation pytest tests/test_demo_segmentation.py`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from gradio_client import handle_file
from PIL import Image
from torchvision.utils import draw_segmentation_masks

import demos.segmentation as seg
from core.models.fcn import SEGMENTATION_CLASS_NAMES, bilinear_kernel
from core.evaluation.metrics import segmentation_iou
from core.data.scenes import CLASS_COLORS, SPLITS, make_scene

SEED = SPLITS["test"][0]
"""A held-out scene. Per-scene mIoU varies a lot (a missed 15-pixel star costs a whole class); the split's pooled
mIoU is in weights/fcn.json and checked in tests/test_fcn.py."""


def _png(path: str) -> np.ndarray:
    image = Image.open(path)
    assert image.format == "PNG" and image.mode == "L"
    return np.array(image)  # writable (torch warns on read-only arrays)


def test_segment_returns_an_exact_class_map_png_with_good_iou(client, tmp_path):
    scene = make_scene(SEED)
    path = tmp_path / "scene.png"
    Image.fromarray(scene.image).save(path)
    overlay_path, png_path, info = client.predict(handle_file(str(path)), "fcn", api_name="/segment")
    class_map = _png(png_path)
    assert class_map.shape == scene.mask.shape == (256, 256)
    assert set(np.unique(class_map)) <= set(range(len(SEGMENTATION_CLASS_NAMES)))
    # The PNG holds exactly the model's class map (the same computation in-process).
    np.testing.assert_array_equal(class_map, seg.run_model(scene.image)["class_map_full"])
    assert segmentation_iou(class_map, scene.mask, 6)["miou"] >= 0.8
    counts = np.bincount(class_map.reshape(-1), minlength=6) / class_map.size
    assert info["class_fractions"] == {n: round(float(c), 6) for n, c in zip(SEGMENTATION_CLASS_NAMES, counts)}
    assert info["size"] == [256, 256] and info["coarse_size"] == [8, 8]
    assert np.asarray(Image.open(overlay_path)).shape == (256, 256, 3)


def test_segment_keeps_the_input_size_of_any_upload(client, tmp_path):
    photo = make_scene(5, size=(200, 333)).image
    path = tmp_path / "wide.jpg"
    Image.fromarray(photo).save(path, quality=95)
    _, png_path, info = client.predict(handle_file(str(path)), "fcn", api_name="/segment")
    assert _png(png_path).shape == (200, 333)
    assert info["size"] == [200, 333] and info["working_size"] == [256, 426]


def test_segment_scene_reports_iou_against_the_true_mask(client):
    seed = SPLITS["test"][1]
    overlay_path, png_path, errors_path, info = client.predict(seed, None, "fcn", api_name="/segment_scene")
    scene = make_scene(seed)
    class_map = _png(png_path)
    expected = segmentation_iou(class_map, scene.mask, 6, SEGMENTATION_CLASS_NAMES)
    assert info["miou"] == pytest.approx(expected["miou"]) and info["miou"] >= 0.8
    assert info["per_class_iou"] == pytest.approx(expected["per_class"])
    errors = np.asarray(Image.open(errors_path).convert("RGB"))
    is_error = np.zeros(class_map.shape, bool)
    for colour in seg.ERROR_COLOURS.values():
        is_error |= (errors == np.array(colour, np.uint8)).all(axis=2)
    np.testing.assert_array_equal(is_error, class_map != scene.mask)  # exactly the wrong pixels are coloured


def test_handlers_check_their_inputs_themselves():
    import gradio as gr

    with pytest.raises(gr.Error, match="Unknown model"):
        seg.segment(None, "unet")
    with pytest.raises(gr.Error, match="Scale must be one of"):
        seg.bilinear_kernel_view(5)
    with pytest.raises(gr.Error, match="Upload a photo first"):
        seg.analyse(seg.SCENE_ON_PHOTO, 1, None, seg.DEFAULT_SAMPLE, 0.5, seg.ALL_CLASSES)
    with pytest.raises(gr.Error, match="Opacity"):
        seg.analyse(seg.SCENE, 1, None, seg.DEFAULT_SAMPLE, 1.5, seg.ALL_CLASSES)


def test_overlay_equals_torchvision_draw_segmentation_masks():
    scene = make_scene(2)
    one_hot = torch.from_numpy(scene.mask)[None] == torch.arange(1, 6)[:, None, None]
    expected = draw_segmentation_masks(torch.from_numpy(scene.image).permute(2, 0, 1), one_hot, alpha=0.3,
                                       colors=list(CLASS_COLORS))
    np.testing.assert_array_equal(seg.overlay(scene.image, scene.mask, 0.3), expected.permute(1, 2, 0).numpy())


def test_bilinear_kernel_endpoint(client):
    _, table, _, info = client.predict("4", api_name="/segmentation_bilinear_kernel")
    np.testing.assert_allclose(np.array(info["kernel"]), bilinear_kernel(1, 1, 8)[0, 0].numpy(), atol=1e-6)
    assert (info["kernel_size"], info["stride"], info["padding"]) == (8, 4, 2)
    assert info["max_interior_difference_vs_F_interpolate"] < 1e-3
    assert info["kernel"][3][3] == pytest.approx((1 - 0.5 / 4) ** 2)  # f = 4, c = 3.5: the tent's peak 7/8


def test_learned_kernel_endpoint(client):
    _, info = client.predict("fcn", api_name="/segmentation_learned_kernel")
    start = np.array(info["bilinear_start"])
    np.testing.assert_allclose(start, bilinear_kernel(1, 1, len(start))[0, 0].numpy(), atol=1e-4)
    assert set(info["learned_diagonal"]) == set(SEGMENTATION_CLASS_NAMES)
    learned = np.array(info["learned_diagonal"]["disc"])
    assert learned.shape == start.shape
    assert info["max_abs_change_diagonal"] == pytest.approx(
        max(np.abs(np.array(v) - start).max() for v in info["learned_diagonal"].values()), abs=2e-4)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda c, p: c.predict(handle_file(p["empty"]), "fcn", api_name="/segment"), "empty"),
        (lambda c, p: c.predict(handle_file(p["text"]), "fcn", api_name="/segment"), "not an image"),
        # Gradio's own validation of the components already says what is wrong:
        (lambda c, p: c.predict(handle_file(p["ok"]), "unet", api_name="/segment"), "not in the list of choices"),
        (lambda c, p: c.predict(-3, None, "fcn", api_name="/segment_scene"), "less than minimum value 0"),
        (lambda c, p: c.predict("5", api_name="/segmentation_bilinear_kernel"), "not in the list of choices"),
    ],
    ids=["zero-byte", "not-an-image", "unknown-model", "negative-seed", "bad-scale"],
)
def test_bad_input_gives_a_clear_message(client, tmp_path, call, message):
    paths = {"empty": tmp_path / "empty.png", "text": tmp_path / "notes.png", "ok": tmp_path / "ok.png"}
    paths["empty"].write_bytes(b"")
    paths["text"].write_text("this is not a picture")
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(paths["ok"])
    with pytest.raises(Exception) as error:
        call(client, {k: str(v) for k, v in paths.items()})
    assert message.lower() in str(error.value).lower()
    assert client.predict("2", api_name="/segmentation_bilinear_kernel")[3]["scale"] == 2  # still serving


def test_class_map_files_are_written_inside_gradios_cache(tmp_path):
    """Served in place and removed by `delete_cache`: no copy left behind in the system's temporary folder."""
    import gradio as gr

    from demos.segmentation import _png_path

    class_map = np.zeros((20, 30), np.uint8)
    class_map[5:10, 5:15] = 3
    path = Path(_png_path(class_map))
    try:
        assert path.resolve().is_relative_to(Path(gr.utils.get_upload_folder()).resolve())
        np.testing.assert_array_equal(_png(str(path)), class_map)
    finally:
        path.unlink()
