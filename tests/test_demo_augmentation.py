"""The Augmentation tab's endpoints through gradio_client: /augment (the API contract) and /augmentation_run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from gradio_client import handle_file
from PIL import Image

from core.data import augment as aug
from tests.lecture_links import lecture_links_into

pytestmark = pytest.mark.filterwarnings("ignore:Got processor for bboxes")

CROP_96x128 = json.dumps(aug.pipeline_dict([
    aug.make_step("HorizontalFlip", {"p": 0.5}),
    aug.make_step("RandomResizedCrop", {"size": [96, 128], "scale": [0.1, 1.0], "ratio": [0.5, 2.0], "p": 1.0}),
]))
FLIP = json.dumps(aug.pipeline_dict([aug.make_step("HorizontalFlip", {"p": 1.0})]))
SHAPES = "shapes (exact boxes and mask)"


def pictures(gallery: list) -> list[np.ndarray]:
    return [np.asarray(Image.open(item["image"]).convert("RGB")) for item in gallery]


def test_augment_returns_n_images_of_the_pipelines_output_size(client):
    gallery, drawn = client.predict(None, CROP_96x128, 5, 3, api_name="/augment")
    images = pictures(gallery)
    assert len(images) == 5
    assert all(image.shape == (96, 128, 3) for image in images)
    assert drawn["n"] == 5 and drawn["output_size"] == [96, 128]
    first = drawn["samples"][0]
    assert [t["name"] for t in first["transforms"]] == ["HorizontalFlip", "RandomResizedCrop"]
    x1, y1, x2, y2 = first["transforms"][1]["params"]["crop_coords"]
    assert x2 > x1 and y2 > y1
    assert {"boxes", "labels", "dropped", "seed"} <= set(first)


def test_augment_same_inputs_same_outputs_new_seed_new_grid(client):
    gallery_a, drawn_a = client.predict(None, CROP_96x128, 4, 11, api_name="/augment")
    gallery_b, drawn_b = client.predict(None, CROP_96x128, 4, 11, api_name="/augment")
    gallery_c, drawn_c = client.predict(None, CROP_96x128, 4, 12, api_name="/augment")
    assert drawn_a == drawn_b
    assert all(np.array_equal(a, b) for a, b in zip(pictures(gallery_a), pictures(gallery_b), strict=True))
    assert drawn_a != drawn_c
    assert not any(np.array_equal(a, c) for a, c in zip(pictures(gallery_a), pictures(gallery_c), strict=True))


def test_augment_on_an_upload_is_downscaled_and_flipped(client, tmp_path):
    yy, xx = np.mgrid[0:1500, 0:2000]
    big = np.stack([(xx * 255 // 2000), (yy * 255 // 1500), ((xx + yy) % 256)], axis=-1).astype(np.uint8)
    path = tmp_path / "big.png"
    Image.fromarray(big).save(path)
    gallery, drawn = client.predict(handle_file(str(path)), FLIP, 2, 0, api_name="/augment")
    images = pictures(gallery)
    assert drawn["output_size"] == [768, 1024]  # max side 1024
    expected = np.asarray(Image.fromarray(big).resize((1024, 768), Image.Resampling.LANCZOS)).astype(int)
    for image in images:  # the gallery is JPEG: equal up to compression noise, and clearly mirrored
        assert np.abs(image - expected[:, ::-1]).mean() < 3 < np.abs(image - expected).mean()
    assert drawn["samples"][0]["boxes"] == []


def test_run_draws_boxes_and_says_which_were_dropped(client):
    pipeline = aug.to_json(aug.preset(aug.DEFAULT_PRESET))
    scene = aug.scene(aug.DEFAULT_SCENE)
    boxes = "\n".join(f"{x1:g}, {y1:g}, {x2:g}, {y2:g}, {name}" for (x1, y1, x2, y2), name in
                      zip(scene.boxes.tolist(), scene.names))
    gallery, status, table, drawn, code = client.predict(aug.DEFAULT_SCENE, None, boxes, pipeline, 16, 0,
                                                         api_name="/augmentation_run")
    assert len(gallery) == 16 and "16 samples of 200×200" in status
    dropped = [s for s in drawn["samples"] if s["dropped"]]
    assert dropped, "the book's crop drops some of the cat's small boxes"
    for item, sample in zip(gallery, drawn["samples"]):
        assert ("dropped" in item["caption"]) == bool(sample["dropped"])
        if sample["dropped"]:  # the caption counts them, the status line names them
            assert f"{len(sample['dropped'])} dropped" in item["caption"]
            assert f"#{sample['sample']}: {', '.join(sample['dropped'])}" in status
        assert len(sample["boxes"]) == len(sample["labels"])
    assert len(table["data"]) == 16 * 3  # one row per sample and step
    assert "A.Compose(" in code and "RandomResizedCrop" in code


def test_run_on_an_upload_with_typed_boxes(client, tmp_path):
    scene = aug.shapes_scene(240, 320)
    path = tmp_path / "shapes.png"
    Image.fromarray(scene.image).save(path)
    x1, y1, x2, y2 = scene.boxes[0].tolist()
    gallery, _, _, drawn, _ = client.predict(SHAPES, handle_file(str(path)), f"{x1}, {y1}, {x2}, {y2}, red box",
                                             FLIP, 1, 0, api_name="/augmentation_run")
    sample = drawn["samples"][0]
    assert sample["labels"] == ["red box"]
    assert sample["boxes"][0] == pytest.approx([320 - x2, y1, 320 - x1, y2])
    assert pictures(gallery)[0].shape == (240, 320, 3)


BAD = [
    ((None, '{"transform": ', 2, 0), "not valid JSON"),
    ((None, '{"transform": {"__class_fullname__": "Compose", "transforms": [{"__class_fullname__": "Nope"}]}}', 2, 0),
     "Unknown transform 'Nope'"),
    ((None, FLIP, 17, 0), "greater than maximum value 16"),  # gradio's own slider check
    ((None, FLIP, 2, -5), "less than minimum value 0"),
]


@pytest.mark.parametrize(("inputs", "message"), BAD)
def test_bad_inputs_get_clear_messages_and_the_server_keeps_serving(client, inputs, message):
    with pytest.raises(Exception) as error:
        client.predict(*inputs, api_name="/augment")
    assert message in str(error.value)
    gallery, _ = client.predict(None, FLIP, 1, 0, api_name="/augment")
    assert len(gallery) == 1


def test_bad_boxes_get_a_clear_message(client):
    with pytest.raises(Exception, match="expected 'x1, y1, x2, y2, name'"):
        client.predict(SHAPES, None, "10, 20, 30", FLIP, 1, 0, api_name="/augmentation_run")
    with pytest.raises(Exception, match="x2 > x1"):
        client.predict(SHAPES, None, "50, 20, 30, 40, a", FLIP, 1, 0, api_name="/augmentation_run")


# --- the builder's handlers (page-only events, called directly) ----------------------------------


def test_builder_add_move_remove_and_json_import_restore_the_pipeline():
    from demos import augmentation as demo

    state, rows, json_text, yaml_text = demo.load_preset(aug.DEFAULT_PRESET, 0.3)
    assert [row[1] for row in rows] == ["HorizontalFlip", "ColorJitter", "RandomResizedCrop"]
    state, rows, json_text, yaml_text, selected = demo.add_step(state, "GaussianBlur", '{"p": 0.25}')
    assert rows[-1][1] == "GaussianBlur" and rows[-1][2] == 0.25 and selected == 4
    state, rows, *_, selected = demo.move(state, 4, -3)
    assert [row[1] for row in rows][0] == "GaussianBlur" and selected == 1
    state, rows, json_text, yaml_text, selected = demo.remove(state, 2)
    assert [row[1] for row in rows] == ["GaussianBlur", "ColorJitter", "RandomResizedCrop"]
    state = demo.set_min_visibility(state, 0.6)[0]
    json_text, yaml_text = demo._pipeline_json(state), aug.to_yaml(state)
    for text, data_format in ((json_text, "json"), (yaml_text, "yaml")):
        restored, restored_rows, _, _, min_visibility = demo.import_pipeline(text, data_format)
        assert restored == state and restored_rows == demo._steps_table(state) and min_visibility == 0.6


def test_builder_errors_are_clear():
    import gradio as gr

    from demos import augmentation as demo

    state = aug.preset(aug.DEFAULT_PRESET)
    with pytest.raises(gr.Error, match="not valid JSON"):
        demo.add_step(state, "Rotate", '{"limit": ')
    with pytest.raises(gr.Error, match="Unknown parameter"):
        demo.add_step(state, "Rotate", '{"angle": 10}')
    with pytest.raises(gr.Error, match="Step 9 does not exist"):
        demo.remove(state, 9)
    with pytest.raises(gr.Error, match="not valid JSON"):
        demo.import_pipeline("{oops", "json")


def test_the_explanation_describes_the_default_pipeline_exactly():
    """The text names every step and range of the pipeline the tab opens with (it once named only brightness
    while the pipeline also jittered contrast, saturation and hue)."""
    from demos.augmentation import FORMULA

    steps = {step["__class_fullname__"]: step for step in aug.pipeline_steps(aug.preset(aug.DEFAULT_PRESET))}
    assert list(steps) == ["HorizontalFlip", "ColorJitter", "RandomResizedCrop"]
    assert all(f"**{name}**" in FORMULA for name in steps)
    assert steps["HorizontalFlip"]["p"] == 0.5 and "probability $p = 0.5$" in FORMULA
    jitter = steps["ColorJitter"]
    for factor in ("brightness", "contrast", "saturation"):
        assert list(jitter[factor]) == [0.5, 1.5] and factor in FORMULA
    assert "factors drawn from $U(0.5, 1.5)$" in FORMULA
    assert list(jitter["hue"]) == [-0.5, 0.5] and "hue by $\\delta \\sim U(-0.5, 0.5)$" in FORMULA
    crop = steps["RandomResizedCrop"]
    assert list(crop["scale"]) == [0.1, 1.0] and "s \\sim U(0.1, 1)" in FORMULA
    assert list(crop["ratio"]) == [0.5, 2.0] and "U(\\log 0.5, \\log 2)" in FORMULA
    assert list(crop["size"]) == [200, 200] and "200 × 200" in FORMULA


def test_gallery_captions_fit_a_thumbnail():
    """A caption counts the dropped boxes; the status line names them ("dropped: ri…" was cut)."""
    from demos.augmentation import compute

    cat = aug.scene(aug.DEFAULT_SCENE)
    gallery, status, *_ = compute(cat.image, cat.boxes, cat.names, cat.mask, aug.preset(aug.DEFAULT_PRESET), 16, 0)
    captions = [caption for _, caption in gallery]
    assert any("dropped" in caption for caption in captions)
    assert max(map(len, captions)) <= 15  # "#16 · 3 dropped" at most: a thumbnail is 133 px wide at 1366 px
    for caption in captions:
        if "dropped" in caption:
            assert f"{caption.split(' ')[0]}: " in status  # "#6: right eye, nose"


# --- every view is a link (issue 15) ---------------------------------------------------------------------


def test_the_views_choices_and_defaults_are_cores_and_the_controls_first_values():
    import gradio as gr

    from demos import augmentation as demo

    assert demo.PRESET_NAMES == tuple(aug.PRESETS) and demo.PRESET_NAMES[0] == aug.DEFAULT_PRESET
    from core.lecture.links import AUGMENTATION_PRESET_IDS
    assert AUGMENTATION_PRESET_IDS == {name: id_ for id_, name in demo.PRESET_IDS.items()}
    assert demo.SCENE_NAMES == tuple(aug.SCENES) and demo.SCENE_NAMES[0] == aug.DEFAULT_SCENE
    assert demo.MAX_SAMPLES == aug.MAX_SAMPLES
    assert demo.AugmentationView.min_visibility == aug.DEFAULT_MIN_VISIBILITY
    cat = aug.scene(aug.DEFAULT_SCENE)
    assert demo.DEFAULT_BOXES == demo.boxes_text(cat.boxes, cat.names)
    with gr.Blocks():
        ui = demo.build()
    assert demo.AugmentationView.from_values(*[c.value for c in ui.controls]) == demo.AugmentationView()
    assert demo.AugmentationView().link() == "?tab=augmentation"


def test_a_link_round_trips_and_show_equals_the_endpoint(client):
    from urllib.parse import parse_qsl

    from demos import augmentation as demo

    view = demo.AugmentationView(preset="vflip", scene=SHAPES, boxes="10, 20, 60, 90, a", n=3, seed=7,
                                 min_visibility=0.5)
    assert demo.AugmentationView.from_query(dict(parse_qsl(view.link()[1:]))) == (view, [])
    state, steps, json_text, yaml_text, gallery, status, rows, drawn, code, boxes = demo.show(view)
    assert [row[1] for row in steps] == ["VerticalFlip"] and aug.min_visibility_of(state) == 0.5
    _, expected_status, _, expected, _ = client.predict(SHAPES, None, "10, 20, 60, 90, a", json_text, 3, 7,
                                                        api_name="/augmentation_run")
    assert drawn == expected and status == expected_status and boxes == "10, 20, 60, 90, a"
    assert "3 samples" in status and len(gallery) == 3


def test_a_link_to_another_scene_shows_its_own_boxes_and_custom_says_it_does_not_travel():
    from demos import augmentation as demo

    *_, drawn, _, boxes = demo.show(demo.AugmentationView(scene="astronaut", n=1))
    assert boxes == demo.scene_boxes("astronaut") and "eye" not in boxes
    assert set(drawn["samples"][0]["labels"]) | set(drawn["samples"][0]["dropped"]) == {"face", "patch", "helmet",
                                                                                       "shuttle"}
    custom = demo.show(demo.AugmentationView(preset="custom", n=1))
    default = demo.show(demo.AugmentationView(n=1))
    assert custom[2] == default[2] and demo.CUSTOM_NOTE in custom[5] and demo.CUSTOM_NOTE not in default[5]


def test_every_lecture_link_into_the_tab_opens_without_a_notice():
    from demos import augmentation as demo

    links = lecture_links_into(demo.AugmentationView)
    for link in links:
        assert link.part is None
        steps = demo.show(link.view.replace(n=1))[1]
        assert [row[1] for row in steps] == ["VerticalFlip"]  # the step asks what flipping upside down does
    assert len(links) == 6
