"""The GAN lab tab's endpoints through gradio_client: WGAN Figure 1 numbers, a training run from a JSON
config, one session's reset/step, and clear errors.

Run alone with `LAB_TABS=demos.gan_lab pytest tests/test_demo_gan_lab.py`.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from urllib.parse import parse_qsl

import gradio as gr
import numpy as np
import pytest
from PIL import Image

import demos.gan_lab as lab
from core.models import gan2d
from tests.lecture_links import lecture_links_into

LOG2 = math.log(2)


def controls(**changes) -> list:
    """The /gan_lab_reset and /gan_lab_step inputs: the default controls with `changes`, then the points text."""
    config = lab.DEFAULT.to_dict() | changes
    points = config.pop("points", "")
    values = lab._controls(gan2d.GANConfig(**{k: v for k, v in config.items() if k in lab.DEFAULT.to_dict()}))
    return [*values, points]


def test_wgan_distances_exact_values_and_estimates(client):
    result = client.predict(0.5, api_name="/wgan_distances")
    assert result["em"] == 0.5 and result["js"] == pytest.approx(LOG2) and result["tv"] == 1.0
    assert result["em_estimate_gp"] == pytest.approx(0.5, abs=0.07)
    assert result["em_estimate_clip"] == pytest.approx(0.5, abs=0.1)
    assert result["js_estimate"] == pytest.approx(LOG2, abs=0.03)
    at_zero = client.predict(0.0, api_name="/wgan_distances")
    assert (at_zero["em"], at_zero["js"]) == (0.0, 0.0)
    assert abs(at_zero["js_estimate"]) < 0.02 and abs(at_zero["em_estimate_gp"]) < 0.02
    negative = client.predict(-1.25, api_name="/wgan_distances")
    assert (negative["em"], negative["js"]) == (1.25, pytest.approx(LOG2))


def test_wgan_distances_refuses_a_far_theta(client):
    with pytest.raises(Exception, match="theta must be a number between"):
        client.predict(50.0, api_name="/wgan_distances")


def test_gan_lab_train_from_a_json_config(client):
    config = {"dataset": "gaussian", "g_depth": 0, "d_width": 8, "lr_g": 5e-3, "lr_d": 5e-2, "seed": 0}
    result = client.predict(json.dumps(config), 600, api_name="/gan_lab_train")  # the book's learning rates
    assert result["step"] == 600 and result["n_modes"] == 1 and result["modes_covered"] == 1
    real, generated = np.array(result["real_mean"]), np.array(result["generated_mean"])
    np.testing.assert_allclose(real, [1.0, 2.0], atol=0.1)
    assert np.linalg.norm(generated - real) < 0.3  # from about 2.2 at step 0
    np.testing.assert_allclose(result["generated_cov"], result["real_cov"], atol=0.5)
    assert result["config"]["lr_d"] == 0.05 and result["steps_per_second"] > 0
    # custom points travel in the same JSON
    ring = [[math.cos(a), math.sin(a)] for a in np.linspace(0, 2 * np.pi, 40, endpoint=False)]
    custom = client.predict(json.dumps({"dataset": "custom", "points": ring}), 5, api_name="/gan_lab_train")
    assert custom["dataset"] == "custom" and custom["step"] == 5


@pytest.mark.parametrize("config, steps, message", [
    ("{oops", 10, "not valid JSON"),
    ('{"loss": "hinge"}', 10, "Unknown loss"),
    ('{"learning_rate": 1}', 10, "Unknown setting"),
    ('{"dataset": "custom"}', 10, "needs"),
    ("{}", 100_000, "steps must be a whole number between"),
])
def test_gan_lab_train_explains_bad_input(client, config, steps, message):
    with pytest.raises(Exception, match=message):
        client.predict(config, steps, api_name="/gan_lab_train")


def test_reset_then_step_advances_the_session(client):
    plane, curves, text, numbers, status, formula, _timer = client.predict(*controls(), api_name="/gan_lab_reset")
    assert numbers["step"] == 0 and numbers["n_modes"] == 8
    image = np.asarray(Image.open(plane))
    assert image.shape[:2] == (lab.PLANE_SIZE, lab.PLANE_SIZE)
    assert "non-saturating" in formula and "ready" in status
    for expected in (1, 2):
        _, _, text, numbers, status, _ = client.predict(*controls(), api_name="/gan_lab_step")
        assert numbers["step"] == expected
    assert "step 2" in text and "modes covered" in text
    assert math.isfinite(numbers["loss_d"]) and math.isfinite(numbers["loss_g"])
    # a different loss: the formula follows
    *_, formula, _timer = client.predict(*controls(loss="wgan-gp", d_steps=5), api_name="/gan_lab_reset")
    assert "nabla" in formula and "WGAN-GP" in formula


def test_custom_points_errors_name_the_line(client):
    with pytest.raises(Exception, match="Line 2"):
        client.predict(*controls(dataset="custom", points="0,0\nfoo\n1,1"), api_name="/gan_lab_reset")
    points = "\n".join(f"{x:.3f},{y:.3f}" for x, y in np.random.default_rng(0).normal(size=(30, 2)))
    *_, numbers, status, _formula, _timer = client.predict(*controls(dataset="custom", points=points),
                                                           api_name="/gan_lab_reset")
    assert numbers["dataset"] == "custom" and numbers["step"] == 0


def test_bad_learning_rate_is_a_clear_error(client):
    with pytest.raises(Exception, match="learning rate"):
        client.predict(*controls(lr_g=5.0), api_name="/gan_lab_reset")


def test_a_tick_trains_and_a_run_stops_at_its_bounds():
    """The timer handler (not an API endpoint): trains within its budget, stops after MAX_RUN_STEPS."""
    session = lab.new_session(lab.DEFAULT)
    session.start_run()
    out = lab.on_tick(session, 5)
    assert session.trainer.step_count == 5 and "this run: 5 / 5000 steps" in out[3]
    assert out[4]["status"] == "playing"
    session.run_start_step -= lab.MAX_RUN_STEPS  # pretend this run already did its share
    out = lab.on_tick(session, 5)
    assert "limit" in out[5] and session.run_started is None
    assert out[-1].active is False  # the timer is switched off


def _click(col: int, row: int) -> gr.SelectData:
    return gr.SelectData(None, {"index": [col, row], "value": None})


def test_clicking_the_plane_draws_clusters_in_plane_coordinates():
    """With 'your own points' chosen, a click adds a small cluster at the clicked place of the [-3, 3] canvas."""
    text, dataset = lab.on_plane_click(None, "", "custom", 0, _click(lab.PLANE_SIZE // 2, lab.PLANE_SIZE // 2))
    first = gan2d.parse_points(text)
    assert dataset == "custom" and first.shape == (lab.CLICK_BLOB_POINTS, 2)
    np.testing.assert_allclose(first.mean(axis=0), [0.0, 0.0], atol=0.06)
    session = lab.new_session(replace(lab.DEFAULT, dataset="custom"), text)
    assert session.trainer.data.view == gan2d.CUSTOM_CANVAS
    np.testing.assert_allclose(session.trainer.data.points, first, atol=1e-4)  # kept in the user's units
    # three quarters across, one quarter down: (1.5, 1.5)
    text, _ = lab.on_plane_click(session, text, "custom", 0, _click(3 * lab.PLANE_SIZE // 4, lab.PLANE_SIZE // 4))
    second = gan2d.parse_points(text)[lab.CLICK_BLOB_POINTS:]
    np.testing.assert_allclose(second.mean(axis=0), [1.5, 1.5], atol=0.06)



def test_the_preset_picker_opens_on_the_default_preset():
    """The picker names the preset the controls start from (it was empty)."""
    with gr.Blocks() as blocks:
        lab._build_live(lab.GanLabView())
    picker = next(block for block in blocks.blocks.values() if getattr(block, "elem_id", None) == "gan-preset")
    assert picker.value == lab.DEFAULT_PRESET and lab.PRESETS[picker.value] is lab.DEFAULT


def test_wgan_figure_legend_is_typeset_math():
    """The legend says θ ≠ 0 in KaTeX, not "theta != 0" in plain text."""
    result = {"em": 0.5, "em_estimate_gp": 0.47, "js": 0.693, "js_estimate": 0.69}
    caption = lab.wgan_caption(0.5, result)
    assert "$\\theta \\neq 0$" in caption and "$= |\\theta|$" in caption and "$\\theta = 0.50$" in caption
    assert "!=" not in caption and "theta =" not in caption.replace("\\theta =", "")


# --- every view a link -------------------------------------------------------------------------------------


def test_the_views_defaults_are_the_controls_first_values():
    with gr.Blocks():
        ui = lab.build()
    assert [control.value for control in ui.controls] == list(lab.GanLabView().values())
    assert lab.GanLabView().config() == lab.DEFAULT


def test_a_link_round_trips_the_view():
    view = lab.GanLabView(dataset="moons", loss="wgan-gp", optimizer="adam", lr_d=0.003, d_steps=2, seed=7,
                          speed=5, theta=-0.75, wgan_steps=60, wgan_seed=3)
    link = view.link()
    assert link == ("?tab=gan_lab&dataset=moons&loss=wgan-gp&lr_d=0.003&d_steps=2&seed=7&speed=5&theta=-0.75"
                    "&wgan_steps=60&wgan_seed=3")
    query = dict(parse_qsl(link.lstrip("?")))
    assert lab.GanLabView.from_query(query) == (view, [])
    assert lab.GanLabView().link() == "?tab=gan_lab"
    # a value out of range keeps its default, with a notice naming the control
    bad, notices = lab.GanLabView.from_query({"d_steps": "11", "loss": "hinge"})
    assert bad == lab.GanLabView() and len(notices) == 2 and "D steps per G step" in notices[0]


def test_show_is_the_model_before_training_and_equals_the_endpoints(client):
    """A link opens the model of its settings at step 0 (never a training run) and WGAN Figure 1 at its theta:
    the same numbers as /gan_lab_reset and /wgan_distances for those settings."""
    view = lab.GanLabView(dataset="moons", loss="wgan-gp", lr_d=0.003, d_steps=2, seed=3, theta=-0.3)
    session, plane, curves, text, numbers, status, formula, timer, plot, caption, wgan = lab.show(view)
    assert session.trainer.step_count == 0 and numbers["step"] == 0 and "never starts training" in status
    assert plane.shape == (lab.PLANE_SIZE, lab.PLANE_SIZE, 3) and "WGAN-GP" in formula
    *_, api_numbers, _status, _formula, _timer = client.predict(
        *controls(dataset="moons", loss="wgan-gp", lr_d=0.003, d_steps=2, seed=3), api_name="/gan_lab_reset")
    assert {k: v for k, v in api_numbers.items() if k != "steps_per_second"} == \
        {k: v for k, v in numbers.items() if k != "steps_per_second"}
    assert wgan["em"] == 0.3 and wgan == client.predict(-0.3, api_name="/wgan_distances")
    assert "\\theta = -0.30" in caption and plot.shape[:2] == (lab.WGAN_SIZE[1], lab.WGAN_SIZE[0])


def test_a_custom_data_link_asks_for_points():
    """Clicked or pasted points cannot travel in a link: the plane says so instead of failing."""
    session, plane, *_rest = lab.show(lab.GanLabView(dataset="custom", theta=0.0))
    assert session is None and lab.CUSTOM_NOTE in _rest[-6]


@pytest.mark.parametrize("variant", range(6))
def test_every_lecture_link_into_the_tab_opens_its_view_without_notices(variant):
    links = lecture_links_into(lab.GanLabView, [variant])
    assert len(links) >= 3  # two live-training steps, the WGAN steps
    for link in links:
        view, params = link.view, link.step["link_params"]
        assert link.part == params["part"]
        if link.part == "wgan":  # the figure's EM is |theta|, the answer's "after"
            assert view.theta == pytest.approx(float(params["theta"]))
            assert lab.wgan_numbers(view.theta, 20)["em"] == pytest.approx(abs(float(params["theta"])), abs=1e-6)
        else:
            assert (view.loss, view.dataset) == (params["loss"], params["dataset"])
