"""core.models.finetune: data splits, glyph rendering, the seeded model, step 2 (copy all but the output layer), step 4's
parameter groups and freezing, the side-by-side training loop, and the embedded source model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.models import finetune as ft


@pytest.fixture(scope="module")
def source():
    from core.weights.registry import load_model

    return load_model(ft.SOURCE_WEIGHTS)


def test_test_set_is_fixed_and_disjoint_from_the_labelled_images():
    images, labels = ft.load_target_digits()
    assert images.shape == (1797, 8, 8) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    test = ft.test_indices(labels)
    assert len(test) == 500 and len(set(test.tolist())) == 500
    assert np.bincount(labels[test]).tolist() == [ft.TEST_PER_CLASS] * 10
    np.testing.assert_array_equal(test, ft.test_indices(labels))  # independent of any run's seed
    for k in (1, 5, ft.MAX_EXAMPLES_PER_CLASS):
        train = ft.labelled_indices(labels, k, seed=3)
        assert np.bincount(labels[train], minlength=10).tolist() == [k] * 10
        assert not set(train.tolist()) & set(test.tolist())
    np.testing.assert_array_equal(ft.labelled_indices(labels, 5, 7), ft.labelled_indices(labels, 5, 7))
    assert not np.array_equal(ft.labelled_indices(labels, 5, 7), ft.labelled_indices(labels, 5, 8))
    with pytest.raises(ValueError, match="between 1 and 50"):
        ft.labelled_indices(labels, 0, 0)


def test_glyphs_are_reduced_like_the_uci_digits():
    images, labels = ft.source_dataset(2, seed=5)
    assert images.shape == (2 * len(ft.SOURCE_CLASSES), 8, 8) and images.dtype == np.float32
    assert labels.tolist() == list(range(len(ft.SOURCE_CLASSES))) * 2
    levels = images * 16  # sums over 4x4 blocks of a binary bitmap: 0..16
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-6)
    assert images.min() == 0.0 and images.max() == 1.0
    assert (images.reshape(len(images), -1).max(1) > 0).all()  # every glyph has ink
    again, _ = ft.source_dataset(2, seed=5)
    np.testing.assert_array_equal(images, again)
    assert not set(ft.LEFT_OUT_GLYPHS) & set(ft.SOURCE_CLASSES)


def test_to_input_upsamples_and_normalises():
    images = np.random.default_rng(0).random((3, 8, 8), dtype=np.float32)
    x = ft.to_input(images, 0.5, 0.25)
    assert x.shape == (3, 1, 32, 32)
    expected = F.interpolate(torch.from_numpy(images)[:, None], size=(32, 32), mode="bilinear", align_corners=False)
    torch.testing.assert_close(x, (expected - 0.5) / 0.25)


def test_random_shift_matches_a_plain_crop_loop():
    x = torch.randn(6, 2, 32, 32)
    shifted = ft.random_shift(x, torch.Generator().manual_seed(4), max_shift=3, fill=-1.0)
    offsets = torch.randint(0, 7, (6, 2), generator=torch.Generator().manual_seed(4))
    padded = F.pad(x, (3, 3, 3, 3), value=-1.0)
    for i, (dy, dx) in enumerate(offsets.tolist()):
        torch.testing.assert_close(shifted[i], padded[i, :, dy:dy + 32, dx:dx + 32])
    torch.testing.assert_close(ft.random_shift(x, torch.Generator(), max_shift=0), x)


def test_build_model_is_seeded_and_initialised_like_timm():
    a = ft.build_model(10, torch.Generator().manual_seed(1))
    b = ft.build_model(10, torch.Generator().manual_seed(1))
    c = ft.build_model(10, torch.Generator().manual_seed(2))
    for (name, pa), pb, pc in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        torch.testing.assert_close(pa, pb, msg=name)
    assert not torch.equal(a.fc.weight, c.fc.weight)
    assert a(torch.zeros(2, 1, 32, 32)).shape == (2, 10)
    assert ft.output_layer_name(a) == "fc"
    # He-normal (fan_out) convolutions, zero-initialised last BatchNorm of each residual block
    conv = a.layer3[0].conv2.weight
    fan_out = conv.shape[0] * conv.shape[2] * conv.shape[3]
    assert conv.std().item() == pytest.approx((2 / fan_out) ** 0.5, rel=0.15)
    assert torch.all(a.layer3[0].bn2.weight == 0)
    bound = 1 / a.fc.in_features ** 0.5
    assert a.fc.bias.abs().max() <= bound


def test_copy_all_but_output_copies_the_body_and_leaves_the_new_layer(source):
    state, _, _ = source
    model = ft.build_model(10, torch.Generator().manual_seed(0))
    head_before = {k: v.clone() for k, v in model.fc.state_dict().items()}
    copied = ft.copy_all_but_output(state, model)
    after = model.state_dict()
    assert set(copied) == {k for k in after if not k.startswith("fc.")}
    for key in copied:
        torch.testing.assert_close(after[key], state[key], msg=key)
    assert state["fc.weight"].shape == (len(ft.SOURCE_CLASSES), 128) and after["fc.weight"].shape == (10, 128)
    torch.testing.assert_close(model.fc.weight, head_before["weight"])
    torch.testing.assert_close(model.fc.bias, head_before["bias"])
    wrong = {k: v for k, v in state.items() if k != "layer2.0.conv1.weight"}
    with pytest.raises(ValueError, match="layer2.0.conv1.weight"):
        ft.copy_all_but_output(wrong, ft.build_model(10))


def test_param_groups_give_the_output_layer_alpha_times_the_rate():
    model = ft.build_model(10)
    groups = ft.param_groups(model, 1e-3, 10.0)
    by_name = {g["name"]: g for g in groups}
    assert by_name["body"]["lr"] == 1e-3 and by_name["output"]["lr"] == pytest.approx(1e-2)
    assert {id(p) for p in by_name["output"]["params"]} == {id(model.fc.weight), id(model.fc.bias)}
    n_body = sum(p.numel() for p in by_name["body"]["params"])
    assert n_body + model.fc.weight.numel() + model.fc.bias.numel() == sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(groups)
    assert [g["lr"] for g in optimizer.param_groups] == [1e-3, pytest.approx(1e-2)]


def test_frozen_body_does_not_change_while_the_output_layer_learns(source):
    state, mean, std = source
    model = ft.build_model(10, torch.Generator().manual_seed(0))
    ft.copy_all_but_output(state, model)
    groups = ft.param_groups(model, 1e-3, 10.0, freeze_body=True)
    assert [g["name"] for g in groups] == ["output"]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    images, labels = ft.load_target_digits()
    x, y = ft.to_input(images[:32], mean, std), torch.tensor(labels[:32])
    ft.set_train_mode(model, frozen_body=True, keep_bn_statistics=False)
    ft.train_epoch(model, torch.optim.AdamW(groups), x, y, 16, torch.Generator().manual_seed(0), 0.0)
    after = model.state_dict()
    for key in before:
        if key.startswith("fc."):
            assert not torch.equal(before[key], after[key]), key
        else:
            torch.testing.assert_close(before[key], after[key], msg=key)  # weights and BatchNorm statistics


def test_layer_table_follows_the_model_children():
    model = ft.build_model(10)
    table = ft.layer_table(model)
    assert [t.name for t in table] == [name for name, _ in model.named_children()]
    by_name = {t.name: t for t in table}
    assert by_name["conv1"].output_shape == (32, 16, 16)
    assert by_name["layer4"].output_shape == (128, 1, 1)
    assert by_name["fc"].output_shape == (10,) and by_name["fc"].is_output
    assert [t.name for t in table if t.is_output] == ["fc"]
    assert sum(t.parameters for t in table) == sum(p.numel() for p in model.parameters())
    assert "<- output layer" in ft.describe(model)


@pytest.mark.parametrize("kwargs, message", [
    (dict(examples_per_class=0), "Labelled examples per class"),
    (dict(epochs=ft.MAX_EPOCHS + 1), "Epochs must be between"),
    (dict(lr=0.0), "learning rate"),
    (dict(output_lr_mult=-1.0), "multiplier"),
    (dict(lr=0.05, output_lr_mult=100.0), "diverge"),
    (dict(seed=-1), "Seed"),
])
def test_config_validation_messages(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ft.FinetuneConfig(**kwargs).validate()


def test_compare_streams_epochs_and_is_reproducible(source):
    state_dict, mean, std = source
    config = ft.FinetuneConfig(examples_per_class=2, epochs=2, seed=3)
    seen = [(s.epoch, len(s.fine_tuned.test_accuracy), len(s.scratch.loss)) for s in
            ft.compare(config, state_dict, mean, std)]
    assert seen == [(1, 1, 1), (2, 2, 2)]
    first = ft.run_comparison(config, state_dict, mean, std)
    second = ft.run_comparison(config, state_dict, mean, std)
    assert first.curves() == second.curves()
    assert first.done and set(first.predictions) == {"fine_tuned", "scratch"}
    assert first.predictions["scratch"].shape == (500,)
    accuracy = float((first.predictions["fine_tuned"] == ft.load_target_digits()[1][first.test_indices]).mean())
    assert accuracy == pytest.approx(first.fine_tuned.test_accuracy[-1])
    other = ft.run_comparison(ft.FinetuneConfig(examples_per_class=2, epochs=2, seed=4), state_dict, mean, std)
    assert other.curves() != first.curves()


def test_embedded_source_model_reads_printed_letters(source):
    """Step 1's model: verified by its sha256, loads strictly (its accuracy on held-out letters: test_evaluate)."""
    from core.weights import hub

    state, mean, std = source
    spec = hub.load_spec(ft.SOURCE_WEIGHTS)
    assert spec.class_names == ft.SOURCE_CLASSES and spec.config == ft.BACKBONE_CONFIG
    assert (hub.WEIGHTS_DIR / spec.filename).stat().st_size <= 10 * 2**20
    card = hub.load_card(ft.SOURCE_WEIGHTS)["card"]
    for key in ("data", "epochs", "wall_time_s", "device", "metrics"):
        assert key in card
    model = ft.build_model(len(ft.SOURCE_CLASSES))
    model.load_state_dict(state, strict=True)
