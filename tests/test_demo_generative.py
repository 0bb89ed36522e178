"""The Generative models tab's endpoints through gradio_client: determinism by seed, interpolation endpoints,
CGAN class accuracy, CycleGAN round trips, ProGAN stages, clear errors.

Run alone with `LAB_TABS=demos.generative pytest tests/test_demo_generative.py`.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

import numpy as np
import pytest
from gradio_client import handle_file
from PIL import Image

import demos.generative as generative
from core.models import cyclegan
from tests.lecture_links import lecture_links_into


def pixels(item) -> np.ndarray:
    """A gallery item ({"image": path, "caption": ...}) or an image path -> (H, W, 3) uint8."""
    path = item["image"] if isinstance(item, dict) else item
    return np.asarray(Image.open(path).convert("RGB"))


def sample(client, model, seed, n, label=0):
    gallery, data = client.predict(model, seed, n, label, api_name="/gan_sample")
    return [pixels(item) for item in gallery], data


@pytest.mark.parametrize("model", ["dcgan", "cgan", "progan"])
def test_gan_sample_is_deterministic_and_prefix_stable(client, model):
    first, data = sample(client, model, 11, 6, 4)
    again, _ = sample(client, model, 11, 6, 4)
    alone, _ = sample(client, model, 11, 1, 4)
    other, _ = sample(client, model, 12, 6, 4)
    assert len(first) == 6 and data["n"] == 6 and len(data["read_as"]) == 6
    assert all(np.array_equal(a, b) for a, b in zip(first, again))  # same inputs, same images
    assert np.array_equal(first[0], alone[0])  # sample 0 does not depend on n
    assert not np.array_equal(first[0], other[0])  # another seed, another image
    assert first[0].shape == (generative.DISPLAY_SIDE, generative.DISPLAY_SIDE, 3)
    assert data["resolution"] == (32 if model == "progan" else 16)


def test_cgan_samples_are_read_as_the_requested_digit(client):
    shares = []
    for digit in range(10):
        _, data = sample(client, "cgan", 3, 12, digit)
        assert data["label"] == digit
        shares.append(data["share_read_as_label"])
    assert np.mean(shares) >= 0.9, shares


@pytest.mark.parametrize("model, mode", [("dcgan", "linear"), ("dcgan", "slerp"), ("progan", "slerp")])
def test_interpolation_endpoints_are_the_two_seeds_samples(client, model, mode):
    strip, data = client.predict(model, 5, 9, 7, mode, api_name="/gan_interpolate")
    strip = [pixels(item) for item in strip]
    a, _ = sample(client, model, 5, 1)
    b, _ = sample(client, model, 9, 1)
    assert len(strip) == 7 and data["t"][0] == 0 and data["t"][-1] == 1
    assert np.array_equal(strip[0], a[0]) and np.array_equal(strip[-1], b[0])
    assert not np.array_equal(strip[3], a[0])
    norms = data["latent_norm"]
    if mode == "slerp":  # slerp between these two latents keeps |z| between the endpoints' norms
        assert min(norms) >= min(norms[0], norms[-1]) - 1e-4
    else:  # the straight line dips inside the ball
        assert min(norms) < min(norms[0], norms[-1])


def test_latent_grid_and_edit(client):
    picture, data = client.predict(7, 16, 0.7, api_name="/generative_latent_grid")
    grid = pixels(picture)
    assert grid.shape[1] == 8 * (generative.GRID_TILE + generative.GRID_GAP) + generative.GRID_GAP
    assert len(data["read_as"]) == 16 and data["truncation_psi"] == 0.7
    edit, note, numbers = client.predict(7, 16, 0.7, 3, 2.0, 0, 0, 0, 0, api_name="/generative_latent_edit")
    trio = pixels(edit)
    assert trio.shape[0] > 128 and "nearest real digit" in note
    assert numbers["pca_amounts_std"] == [2.0, 0, 0, 0, 0]
    assert 0 <= numbers["nearest_real_index"] < 1797 and numbers["nearest_real_l2"] > 0
    assert len(numbers["explained_variance_ratio"]) == generative.PCA_COMPONENTS
    # moving along PC1 changes the picture; zero amounts leave the sample as it is
    still, _, _ = client.predict(7, 16, 0.7, 3, 0, 0, 0, 0, 0, api_name="/generative_latent_edit")
    still = pixels(still)
    half = still.shape[1] // 3
    assert not np.array_equal(trio[:, half:2 * half], still[:, half:2 * half])


def test_cgan_all_classes(client):
    picture, data = client.predict(7, 2, api_name="/generative_cgan_all_classes")
    assert pixels(picture).shape[1] > pixels(picture).shape[0]
    assert data["asked"] == [list(range(10))] * 2
    assert data["share_read_as_asked"] >= 0.8


def test_cyclegan_translate_an_upload_both_ways(client, tmp_path):
    photo = cyclegan.to_working_size(cyclegan.bundled_photo(cyclegan.HELD_OUT_PHOTO))
    path = tmp_path / "photo.png"
    Image.fromarray(photo).save(path)
    gallery, data = client.predict(handle_file(str(path)), "A->B", api_name="/cyclegan_translate")
    images = [pixels(item) for item in gallery]
    assert len(images) == 3 and all(image.shape == photo.shape for image in images)
    assert np.array_equal(images[0], photo)
    assert 0 < data["cycle_loss"] < 0.2
    assert data["l1_to_true_filter"] < 0.5 * data["l1_input_to_true_filter"]  # G's night is near the true one
    night = tmp_path / "night.png"
    Image.fromarray(cyclegan.night_filter(photo)).save(night)
    gallery, data = client.predict(handle_file(str(night)), "B->A", api_name="/cyclegan_translate")
    assert len(gallery) == 3 and 0 < data["cycle_loss"] < 0.2 and "l1_to_true_filter" not in data


def test_progan_stages_and_fade(client):
    gallery, data = client.predict(7, api_name="/generative_progan_stages")
    assert len(gallery) == 4 and data["resolutions"] == [4, 8, 16, 32]
    old_new_blend, numbers = client.predict(7, 3, 0.0, api_name="/generative_progan_fade")
    old, new, blend = (pixels(item) for item in old_new_blend)
    assert np.array_equal(blend, old)  # alpha = 0: only the upsampled previous stage
    _, _, blend1 = (pixels(item) for item in client.predict(7, 3, 1.0, api_name="/generative_progan_fade")[0])
    assert np.array_equal(blend1, new)  # alpha = 1: only the new block
    assert numbers["resolution"] == 32


@pytest.mark.parametrize("args, message", [
    (("stylegan", 1, 4, 0), "model must be one of"),
    (("cgan", 1, 4, 12), "12"),
    (("dcgan", 1, 500, 0), "500"),
])
def test_bad_sample_inputs_give_clear_messages(client, args, message):
    with pytest.raises(Exception, match=message):
        client.predict(*args, api_name="/gan_sample")


def test_bad_interpolation_and_translation_inputs(client, tmp_path):
    with pytest.raises(Exception, match="'cgan'.*not in the list of choices"):
        client.predict("cgan", 1, 2, 5, "slerp", api_name="/gan_interpolate")
    whole = tmp_path / "whole.png"
    Image.fromarray(np.full((64, 96, 3), 200, dtype=np.uint8)).save(whole)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(whole.read_bytes()[:80])  # a valid header, then nothing
    with pytest.raises(Exception, match="truncated or corrupt"):
        client.predict(handle_file(str(truncated)), "A->B", api_name="/cyclegan_translate")
    with pytest.raises(Exception, match="'A->A'.*not in the list of choices"):
        client.predict(handle_file(str(whole)), "A->A", api_name="/cyclegan_translate")
    # the server still answers
    gallery, _ = client.predict("dcgan", 1, 2, 0, api_name="/gan_sample")
    assert len(gallery) == 2


# --- every view a link -------------------------------------------------------------------------------------


def test_the_views_defaults_are_the_controls_first_values():
    import gradio as gr

    with gr.Blocks():
        ui = generative.build()
    assert [control.value for control in ui.controls] == list(generative.GenerativeView().values())
    assert len(ui.uploads) == 1 and ui.parts is not None


def test_a_link_round_trips_the_view():
    view = generative.GenerativeView(seed=11, psi=0.7, index=2, pc1=1.5, mode="linear", digit=8, night=True,
                                     direction="B->A", stage=2, alpha=0.25)
    link = view.link()
    assert link == ("?tab=generative&seed=11&psi=0.7&index=2&pc1=1.5&mode=linear&digit=8&night=1&direction=B-%3EA"
                    "&stage=2&alpha=0.25")
    assert generative.GenerativeView.from_query(dict(parse_qsl(link.lstrip("?")))) == (view, [])
    # a sample # beyond the samples keeps the defaults, with a notice
    view, notices = generative.GenerativeView.from_query({"n": "4", "index": "9"})
    assert view == generative.GenerativeView() and "only 4 samples" in notices[0]


def test_show_equals_the_endpoints_for_the_same_settings(client, tmp_path):
    view = generative.GenerativeView(seed=11, n=8, psi=0.7, index=2, pc1=1.5, seed_a=4, seed_b=5, steps=5,
                                     mode="linear", digit=8, cgan_seed=3, cgan_n=4, rows=2, night=True,
                                     direction="B->A", pg_seed=9, stage=2, alpha=0.25)
    (grid, grid_json, read_note, edit, nearest_note, edit_json, strip, interp_json, norm_note, cgan_grid, cgan_json,
     cgan_note, all_grid, all_json, cycle_gallery, cycle_json, cycle_note, stages, stages_json, fade,
     fade_json) = generative.show(view)
    picture, data = client.predict(11, 8, 0.7, api_name="/generative_latent_grid")
    assert data == grid_json and np.array_equal(pixels(picture), grid) and "reads them as" in read_note
    picture, note, data = client.predict(11, 8, 0.7, 2, 1.5, 0, 0, 0, 0, api_name="/generative_latent_edit")
    assert data == edit_json and note == nearest_note and np.array_equal(pixels(picture), edit)
    assert client.predict("dcgan", 4, 5, 5, "linear", api_name="/gan_interpolate")[1] == interp_json
    assert strip.columns == 5 and "|z| along the path" in norm_note
    gallery, data = client.predict("cgan", 3, 4, 8, api_name="/gan_sample")
    assert data == cgan_json and "requested 8" in cgan_note and len(cgan_grid) == 4
    assert client.predict(3, 2, api_name="/generative_cgan_all_classes")[1] == all_json
    # the night input translated B -> A: what the endpoint gives for the night-graded sample
    night = tmp_path / "night.png"
    Image.fromarray(generative.cycle_make_night(generative.cycle_sample(generative.HELD_OUT_SAMPLE))).save(night)
    gallery, data = client.predict(handle_file(str(night)), "B->A", api_name="/cyclegan_translate")
    assert data == cycle_json and np.array_equal(pixels(gallery[0]), cycle_gallery[0][0])
    assert "Cycle loss" in cycle_note and "l1_to_true_filter" not in cycle_json
    assert client.predict(9, api_name="/generative_progan_stages")[1] == stages_json
    assert client.predict(9, 2, 0.25, api_name="/generative_progan_fade")[1] == fade_json


def test_next_seed_is_one_event_with_the_seed_computed_in_the_browser():
    """The button's js adds 1 to the seed and passes the other inputs on (it also receives the outputs' values:
    it must cut them off); the server answers with the seed it used."""
    assert generative.NEXT_SEED_JS.endswith(f"values.slice(1, {4 + generative.PCA_COMPONENTS})]")
    out = generative.explorer_next_seed(8, 4, 1.0, 0, 0, 0, 0, 0, 0)
    assert out[0] == 8 and out[2]["seed"] == 8 and len(out) == 7


@pytest.mark.parametrize("variant", range(6))
def test_every_lecture_link_into_the_tab_opens_its_view_without_notices(variant):
    links = lecture_links_into(generative.GenerativeView, [variant])
    assert len(links) >= 3  # CGAN, CycleGAN, ProGAN
    for link in links:
        params = link.step["link_params"]
        assert link.part == params["part"]
        for key, value in params.items():
            if key != "part":
                expected = pytest.approx(value) if isinstance(value, float) else value
                assert getattr(link.view, key) == expected, key
