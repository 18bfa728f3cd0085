"""The CIFAR-10 recipe (glassnet.study.recipe94, models.airbench, train --recipe): its
pieces, glassnet against PyTorch step for step, and a whole run on small files."""

from __future__ import annotations

import numpy as np
import pytest

from _cli import run
from glassnet import io, models, nn
from glassnet.models.airbench import dirac_, whitening_filters
from glassnet.study import recipe94
from glassnet.study.recipe94 import Augment, Recipe94, lookahead_decay, lr_factor, tta_logits
from test_datasets import write_cifar_bin


def test_the_schedule_rises_to_its_peak_at_23_percent_and_falls_to_0_07():
    total = 100
    assert lr_factor(0, total) == pytest.approx(0.2)
    assert lr_factor(23, total) == pytest.approx(1.0)
    assert lr_factor(10, total) == pytest.approx(0.2 + 0.8 * 10 / 23)
    assert lr_factor(23 + 77 / 2, total) == pytest.approx((1 + 0.07) / 2)
    assert lr_factor(100, total) == pytest.approx(0.07)
    assert lookahead_decay(0, total) == 0.0
    assert lookahead_decay(50, total) == pytest.approx(0.95**5 / 8)
    assert lookahead_decay(100, total) == pytest.approx(0.95**5)


def test_the_rates_are_airbench_s_per_kilostep_values():
    r = Recipe94().rates()
    kilostep = 1024 * (1 + 1 / 0.15)
    assert r["lr"] == pytest.approx(11.5 / kilostep)
    assert r["lr_bias"] == pytest.approx(64 * r["lr"])
    # SGD applies lr * weight_decay * w: the decay per step is 0.0153 * 1024 / kilostep
    assert r["lr"] * r["wd"] == pytest.approx(0.0153 * 1024 / kilostep)
    assert r["lr_bias"] * r["wd_bias"] == pytest.approx(r["lr"] * r["wd"])


def test_whitening_filters_decorrelate_patches():
    rng = np.random.default_rng(0)
    mix = rng.normal(size=(3, 3))
    images = np.einsum("dc,nchw->ndhw", mix, rng.normal(size=(200, 3, 12, 12)))
    images[:, :, :, 1:] += 0.8 * images[:, :, :, :-1]  # neighbouring pixels correlated
    filters = whitening_filters(images, eps=0.0)
    assert filters.shape == (24, 3, 2, 2) and filters.dtype == np.float32
    np.testing.assert_array_equal(filters[12:], -filters[:12])
    patches = (
        np.stack([images[:, :, a : 11 + a, b : 11 + b] for a in (0, 1) for b in (0, 1)], axis=2)
        .transpose(0, 3, 4, 1, 2)
        .reshape(-1, 12)
    )
    out = patches @ filters[:12].reshape(12, 12).astype(np.float64).T
    np.testing.assert_allclose(out.T @ out / len(out), np.eye(12), atol=1e-4)
    # largest eigenvalue first: the unscaled projections' variances decrease
    raw = patches @ np.linalg.eigh(patches.T @ patches)[1]
    assert raw.var(0)[-1] > raw.var(0)[0]
    with pytest.raises(ValueError, match="at least 2x2"):
        whitening_filters(np.zeros((3, 3, 1, 5)))


def test_dirac_passes_the_first_channels_through():
    conv = nn.Conv2d(4, 6, 3, padding=1, bias=False)
    kept = conv.weight.data[4:].copy()
    dirac_(conv.weight.data)
    x = np.random.default_rng(1).normal(size=(2, 4, 5, 5)).astype(np.float32)
    np.testing.assert_array_equal(conv(x)[:, :4], x)
    np.testing.assert_array_equal(conv.weight.data[4:], kept)


def test_the_network_s_shape_and_frozen_parameters():
    model = models.get("airbench")
    assert model(np.zeros((2, 3, 32, 32), np.float32)).shape == (2, 10)
    frozen = sorted(n for n, p in model.named_parameters() if not p.requires_grad)
    assert frozen[0] == "block1.norm1.weight" and "whiten.weight" in frozen
    assert len(frozen) == 7  # six BatchNorm scales and the whitening filters
    with pytest.raises(ValueError, match="at least 25x25"):
        models.get("airbench", input_shape=(3, 24, 24))
    assert models.get("airbench", widths=(8, 16, 32)).head.in_features == 32
    gelu = models.get("airbench", activation="gelu")  # airbench94's
    assert sum(isinstance(m, nn.GELU) for m in gelu.modules()) == 7
    assert not any(isinstance(m, nn.ReLU) for m in gelu.modules())
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        models.get("airbench", activation="swish")
    with pytest.raises(ValueError, match="activation must be one of"):
        Recipe94(activation="swish").validate()
    assert Recipe94().activation == "gelu"  # the recipe's, as airbench94's
    assert Recipe94.from_dict({"epochs": 2.0}).activation == "relu"  # runs saved before it
    assert Recipe94.from_dict(Recipe94().to_dict()).activation == "gelu"


def test_augment_alternates_flips_and_shifts_within_bounds():
    rng = np.random.default_rng(2)
    images = rng.normal(size=(40, 3, 8, 8)).astype(np.float32)
    labels = np.arange(40) % 10
    plain = Augment(images, labels, batch_size=16, translate=0, seed=3)
    e0, e1 = plain.epoch(0), plain.epoch(1)
    flipped0 = np.all(e0 == images[..., ::-1], axis=(1, 2, 3))
    assert np.array_equal(flipped0, plain.flip_first) and 0 < flipped0.sum() < 40
    flipped1 = np.all(e1 == images[..., ::-1], axis=(1, 2, 3))
    np.testing.assert_array_equal(flipped1, ~flipped0)  # each image the other way round
    shifted = Augment(images, labels, batch_size=16, translate=2, seed=3)
    np.testing.assert_array_equal(shifted.epoch(4), shifted.epoch(4))  # by (seed, epoch)
    assert not np.array_equal(shifted.epoch(4), shifted.epoch(6))
    batches = list(shifted.batches(0))
    assert len(batches) == 2 and all(len(y) == 16 for _, y in batches)  # the rest dropped
    x, y = batches[0]
    epoch0 = shifted.epoch(0)
    for xi, yi in zip(x[:5], y[:5]):  # each batch image is an augmented training image
        assert any(np.array_equal(xi, epoch0[j]) for j in np.flatnonzero(labels == yi))


def test_tta_averages_the_mirror_and_shifted_views():
    rng = np.random.default_rng(4)
    w = rng.normal(size=(3 * 6 * 6, 4))

    def predict(x):
        return x.reshape(len(x), -1) @ w

    x = rng.normal(size=(5, 3, 6, 6))
    np.testing.assert_array_equal(tta_logits(predict, x, 0), predict(x))
    mirror = tta_logits(predict, x, 1)
    np.testing.assert_allclose(mirror, tta_logits(predict, x[..., ::-1], 1), atol=1e-12)
    level2 = tta_logits(predict, x, 2)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="reflect")
    views = [
        x,
        x[..., ::-1],
        padded[:, :, :6, :6],
        padded[:, :, :6, :6][..., ::-1],
        padded[:, :, 2:, 2:],
        padded[:, :, 2:, 2:][..., ::-1],
    ]
    expected = 0.25 * (predict(views[0]) + predict(views[1])) + 0.125 * sum(
        predict(v) for v in views[2:]
    )
    np.testing.assert_allclose(level2, expected, atol=1e-12)


def _engines(seed=5, widths=(8, 16, 16), activation="relu"):
    pytest.importorskip("torch")
    model = models.get("airbench", widths=widths, seed=seed, activation=activation)
    rng = np.random.default_rng(seed)
    model.whiten.weight.data[...] = whitening_filters(rng.normal(size=(8, 3, 32, 32)))
    model.set_input_grad(False)
    recipe = Recipe94(batch_size=8, activation=activation)
    twin = models.get("airbench", widths=widths, activation=activation)
    twin.load_state_dict(model.state_dict())
    for (_, a), (_, b) in zip(model.named_parameters(), twin.named_parameters()):
        b.requires_grad = a.requires_grad
    return recipe94._Glassnet(model, recipe), recipe94._Torch(twin, recipe), rng


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_glassnet_and_torch_take_the_same_steps(activation):
    ours, theirs, rng = _engines(activation=activation)
    assert type(theirs.net.act).__name__ == {"relu": "ReLU", "gelu": "GELU"}[activation]
    for step in range(6):
        ours.set_whiten_bias(step < 3)
        theirs.set_whiten_bias(step < 3)
        # block 1's first conv computes dL/dx only while the whitening bias trains
        assert ours.model.block1.conv1._input_grad == (step < 3)
        x = rng.normal(size=(8, 3, 32, 32)).astype(np.float32)
        y = rng.integers(0, 10, 8)
        loss_a, right_a = ours.step(x, y, lr_factor(step, 6))
        loss_b, right_b = theirs.step(x, y, lr_factor(step, 6))
        assert loss_a == pytest.approx(loss_b, rel=1e-4) and right_a == right_b
        if step % 2 == 1:
            ours.lookahead(lookahead_decay(step + 1, 6))
            theirs.lookahead(lookahead_decay(step + 1, 6))
    ours.lookahead(1.0)
    theirs.lookahead(1.0)
    mine = ours.final_model().state_dict()
    for name, value in theirs.final_model().state_dict().items():
        np.testing.assert_allclose(mine[name], value, rtol=1e-3, atol=1e-4, err_msg=name)
    x = rng.normal(size=(4, 3, 32, 32)).astype(np.float32)
    np.testing.assert_allclose(ours.predict(x), theirs.predict(x), rtol=1e-3, atol=1e-3)


def test_lookahead_starts_then_pulls_towards_the_slow_weights():
    ours, _, rng = _engines()
    start = ours.model.state_dict()
    ours.lookahead(0.5)  # the first call only starts the slow average
    for name, value in ours.model.state_dict().items():
        np.testing.assert_array_equal(value, start[name])
    x = rng.normal(size=(8, 3, 32, 32)).astype(np.float32)
    ours.step(x, rng.integers(0, 10, 8), 1.0)
    moved = ours.model.state_dict()
    ours.lookahead(0.75)
    now = ours.model.state_dict()
    for name in ("block1.conv1.weight", "block2.norm2.bias", "block3.norm1.running_mean"):
        np.testing.assert_allclose(
            now[name], start[name] + 0.25 * (moved[name] - start[name]), rtol=1e-5, atol=1e-7
        )
        np.testing.assert_allclose(ours.slow[name], now[name])
    ours.lookahead(1.0)  # the slow weights, unchanged
    for name, value in ours.model.state_dict().items():
        np.testing.assert_array_equal(value, now[name])


@pytest.fixture
def small_cifar(tmp_path, monkeypatch):
    write_cifar_bin(tmp_path / "data" / "cifar10", per_batch=40, n_test=30)
    monkeypatch.setenv("GLASSNET_DATA", str(tmp_path / "data"))
    return dict(
        epochs=3,
        lookahead_epochs=1,
        batch_size=32,
        val_size=40,
        whiten_images=20,
        whiten_bias_epochs=1,
        seed=0,
    )


def test_a_run_writes_its_folder_and_resumes_after_an_interrupt(small_cifar, tmp_path, monkeypatch):
    whole = recipe94.run_recipe(Recipe94(**small_cifar), tmp_path / "whole", log=lambda s: None)
    assert whole["steps"] == 3 * (160 // 32) and whole["val_images"] == 40
    assert whole["test_images"] == 30 and 0 <= whole["test_accuracy"] <= 1
    files = sorted(p.name for p in (tmp_path / "whole").iterdir())
    assert files == ["config.json", "history.json", "metrics.json", "model.safetensors"]
    history = io.read_json(tmp_path / "whole" / "history.json")
    assert [row["epoch"] for row in history] == [1, 2, 3]

    calls = {"n": 0}
    real_step = recipe94._Glassnet.step

    def interrupted(self, x, y, factor):
        calls["n"] += 1
        if calls["n"] == 12:  # in the third epoch, the slow average started in the second
            raise KeyboardInterrupt
        return real_step(self, x, y, factor)

    monkeypatch.setattr(recipe94._Glassnet, "step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        recipe94.run_recipe(Recipe94(**small_cifar), tmp_path / "cut", log=lambda s: None)
    assert (tmp_path / "cut" / "last.safetensors").exists()
    assert not (tmp_path / "cut" / "model.safetensors").exists()
    monkeypatch.setattr(recipe94._Glassnet, "step", real_step)
    with pytest.raises(ValueError, match="differs in"):
        recipe94.run_recipe(Recipe94(**{**small_cifar, "seed": 1}), tmp_path / "cut", resume=True)
    resumed = recipe94.run_recipe(
        Recipe94(**small_cifar), tmp_path / "cut", resume=True, log=lambda s: None
    )
    assert resumed["steps"] == whole["steps"]
    a = io.load_state(tmp_path / "whole" / "model.safetensors")
    b = io.load_state(tmp_path / "cut" / "model.safetensors")
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    with pytest.raises(FileExistsError, match="already holds"):
        recipe94.run_recipe(Recipe94(**small_cifar), tmp_path / "whole")


def test_the_cli_runs_the_recipe_and_refuses_what_it_sets(small_cifar, tmp_path, capsys):
    code, _, err = run(capsys, "train", "--recipe", "cifar10-94", "--lr", "0.1")
    assert code == 2 and "sets its own --lr" in err
    code, _, err = run(capsys, "train", "--recipe", "cifar10-95")
    assert code == 2 and "unknown recipe 'cifar10-95'" in err
    out = tmp_path / "run"
    args = [
        "train",
        "--recipe",
        "cifar10-94",
        "--epochs",
        "1.5",  # a recipe takes a fraction of an epoch (airbench: 9.9)
        "--val-size",
        "40",
        "--out",
        out,
        "--no-progress",
    ]
    code, _, err = run(capsys, *args)
    assert code == 2 and "make no batch of 1024" in err  # 160 training images
    assert not out.exists()  # a refused run leaves nothing
    code, text, err = run(capsys, *args, "--batch-size", "32")
    assert code == 0, err
    assert "val accuracy" in text and "test accuracy" in text and "30 images" in text
    assert io.read_json(out / "config.json")["batch_size"] == 32
    assert io.read_json(out / "config.json")["epochs"] == 1.5
    assert io.read_json(out / "metrics.json")["steps"] == 8  # ceil(1.5 x 160 // 32)
    code, _, err = run(capsys, "train", "--resume", out)
    assert code == 2 and "nothing to resume" in err
    code, _, err = run(capsys, *args, "--batch-size", "32")
    assert code == 2 and "already holds" in err
    code, _, err = run(capsys, *args, "--batch-size", "32", "--model-args", "widths=8/8/8")
    assert code == 2 and "--model-args takes activation only" in err
    code, _, err = run(capsys, *args, "--batch-size", "32", "--model-args", "activation=swish")
    assert code == 2 and "unknown activation 'swish'" in err
    gelu = tmp_path / "gelu"
    args[args.index(out)] = gelu
    args[args.index("1.5")] = "0.2"
    code, _, err = run(capsys, *args, "--batch-size", "32", "--model-args", "activation=GELU")
    assert code == 0, err
    assert io.read_json(gelu / "config.json")["activation"] == "gelu"


def test_only_a_recipe_takes_a_fraction_of_an_epoch(capsys, tmp_path):
    out = tmp_path / "run"
    code, _, err = run(capsys, "train", "--model", "mlp", "--epochs", "2.5", "--out", out)
    assert code == 2 and "--epochs 2.5: this command trains whole epochs" in err
    assert not out.exists()
    code, _, err = run(capsys, "compare", "--epochs", "0.5", "--out", out)
    assert code == 2 and "trains whole epochs" in err
    for bad in ("0", "-1", "nan", "three"):
        code, _, err = run(capsys, "train", "--model", "mlp", "--epochs", bad)
        assert code == 2 and "number of epochs" in err, bad


def test_evaluate_reads_a_recipe_run(small_cifar, tmp_path, capsys):
    recipe94.run_recipe(Recipe94(**small_cifar), tmp_path / "r", log=lambda s: None)
    code, text, _ = run(capsys, "evaluate", tmp_path / "r" / "model.safetensors", "--split", "val")
    assert code == 0 and "airbench on cifar10 (val, 40 images)" in text
