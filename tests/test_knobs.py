"""The zoo models' classic knobs (hidden sizes, activation, channels) and input
normalisation as a setting (none / unit / standard), in the library and the CLI."""

from __future__ import annotations

import numpy as np
import pytest

from _cli import run
from glassnet import data, models, nn
from glassnet.io import read_json
from glassnet.study import TrainConfig


# ------------------------------------------------------------------------ zoo knobs
def test_knobs_list_each_models_options_with_todays_defaults():
    assert models.knobs("baseline") == {"hidden": 30, "activation": "sigmoid"}
    assert models.knobs("cifar10-baseline")["hidden"] == 100
    assert models.knobs("mnist-mlp") == {"hidden": 128, "activation": "relu"}
    assert models.knobs("cnn-pool") == {"filters": 18, "hidden": 64}
    assert models.knobs("lenet5") == {"channels": (6, 16), "hidden": (120, 84)}
    assert models.knobs("resnet8")["widths"] == (16, 32, 64)
    # the defaults build today's models
    assert models.get("baseline").num_parameters() == 64 * 30 + 30 + 30 * 10 + 10
    assert isinstance(models.get("baseline")[2], nn.Sigmoid)


@pytest.mark.parametrize(
    ("name", "module"),
    [("sigmoid", nn.Sigmoid), ("relu", nn.ReLU), ("leaky_relu", nn.LeakyReLU), ("Tanh", nn.Tanh)],
)
def test_the_activation_knob(name, module):
    model = models.get("baseline", activation=name)
    assert isinstance(model[2], module)
    assert model.zoo_spec["options"]["activation"] == name


def test_hidden_layers_channels_and_widths():
    model = models.get("mnist-mlp", hidden=[64, 32], activation="tanh")
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 64), (64, 32), (32, 10)]
    assert sum(isinstance(m, nn.Tanh) for m in model.modules()) == 2
    lenet = models.get("lenet5", channels=[4, 8], hidden=[32, 16])
    convs = [m for m in lenet.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(1, 4), (4, 8)]
    x = np.zeros((2, 1, 28, 28), np.float32)
    assert lenet(x).shape == (2, 10)
    resnet = models.get("resnet8", widths=[4, 8, 16])
    assert resnet(np.zeros((1, 3, 32, 32), np.float32)).shape == (1, 10)
    assert resnet.num_parameters() < models.get("resnet8").num_parameters() / 10


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"activation": "swish"}, "unknown activation 'swish'; choose from sigmoid, relu"),
        ({"hidden": 0}, "hidden must be a whole number, at least 1"),
        ({"hidden": 2.5}, "hidden must be a whole number"),
        ({"hidden": []}, "at least one width"),
        ({"dropout": 0.5}, r"no option\(s\) \['dropout'\]"),
    ],
)
def test_bad_knobs_get_one_clear_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        models.get("baseline", **kwargs)


def test_summary_shows_the_knobs_effect(capsys):
    code, plain, err = run(capsys, "summary", "baseline")
    assert code == 0, err
    assert "knobs: hidden=30, activation='sigmoid'" in plain and "2,260" in plain
    code, out, err = run(capsys, "summary", "baseline", "--set", "hidden=64/32,activation=relu")
    assert code == 0, err
    assert "ReLU" in out and "Sigmoid" not in out
    assert f"{64 * 64 + 64 + 64 * 32 + 32 + 32 * 10 + 10:,}" in out
    code, out, err = run(capsys, "summary", "baseline", "--set", "hidden")
    assert code == 2 and "knob=value" in err


def test_a_train_config_names_a_knob_the_model_lacks():
    with pytest.raises(ValueError, match=r"model 'cnn' with activation='relu'.*no option"):
        TrainConfig(model="cnn", model_args={"activation": "relu"}).validate()
    with pytest.raises(ValueError, match="model_args must be a table"):
        TrainConfig(model="cnn", model_args=[("hidden", 3)]).validate()


# ------------------------------------------------------------------------ normalisation
def test_the_three_normalizations():
    raw = data.load("digits", val_size=0.1, normalize="none")
    unit = data.load("digits", val_size=0.1, normalize="unit")
    standard = data.load("digits", val_size=0.1)  # the default
    assert raw.x_train.max() == 16 and raw.x_train.min() == 0  # digits' raw pixel values
    assert unit.x_train.max() == 1 and unit.x_train.min() == 0
    assert abs(float(standard.x_train.mean())) < 1e-5
    assert abs(float(standard.x_train.std()) - 1) < 1e-3
    np.testing.assert_allclose(raw.x_train / 16, unit.x_train, rtol=1e-6)
    for d in (raw, unit, standard):  # every one undoes to the same [0, 1] images
        np.testing.assert_allclose(d.denormalize(d.x_test), unit.x_test, atol=1e-5)
    # True and False, the older spelling
    np.testing.assert_array_equal(
        data.load("digits", normalize=True).x_train, data.load("digits").x_train
    )
    np.testing.assert_array_equal(
        data.load("digits", normalize=False).x_train, data.load("digits", normalize="unit").x_train
    )
    with pytest.raises(ValueError, match="unknown normalization 'zscore'; choose from none, unit"):
        data.load("digits", normalize="zscore")


def test_train_and_evaluate_keep_the_runs_normalization_and_knobs(capsys, tmp_path):
    code, out, err = run(
        capsys,
        "train",
        "--model",
        "baseline",
        "--epochs",
        "1",
        "--normalization",
        "none",
        "--model-args",
        "hidden=12,activation=tanh",
        "--out",
        tmp_path / "run",
    )
    assert code == 0, err
    config = read_json(tmp_path / "run" / "config.json")
    assert config["normalization"] == "none"
    assert config["model_args"] == {"hidden": 12, "activation": "tanh"}
    metrics = read_json(tmp_path / "run" / "metrics.json")
    assert metrics["params"] == 64 * 12 + 12 + 12 * 10 + 10
    code, out, err = run(capsys, "evaluate", tmp_path / "run" / "model.safetensors")
    assert code == 0, err
    assert f"accuracy {metrics['test_accuracy'] * 100:.2f}%" in out
    code, out, err = run(
        capsys,
        "compare",
        "--models",
        "baseline",
        "--engines",
        "glassnet",
        "--epochs",
        "1",
        "--normalization",
        "unit",
        "--out",
        tmp_path / "cmp",
    )
    assert code == 0, err
    assert read_json(tmp_path / "cmp" / "config.json")["normalization"] == "unit"
    code, out, err = run(capsys, "train", "--normalization", "zscore", "--out", tmp_path / "x")
    assert code == 2 and "invalid choice: 'zscore'" in err
