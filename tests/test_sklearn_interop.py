"""glassnet <-> scikit-learn: MLPClassifier specs of pure MLPs, and glassnet as an estimator."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import cross_val_score  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402

from glassnet import data, models, nn  # noqa: E402
from glassnet.interop.sklearn import (  # noqa: E402
    GlassnetClassifier,
    NotAnMLPError,
    mlp_spec,
    to_sklearn,
)


@pytest.fixture(scope="module")
def digits():
    return data.load("digits")


def test_mlp_spec_of_the_zoo_mlps():
    assert mlp_spec(models.get("digits-baseline")) == {
        "hidden_layer_sizes": (30,),
        "activation": "logistic",
        "n_features": 64,
        "n_classes": 10,
    }
    assert mlp_spec(models.get("mnist-mlp")) == {
        "hidden_layer_sizes": (128,),
        "activation": "relu",
        "n_features": 784,
        "n_classes": 10,
    }
    deep = nn.Sequential(
        nn.Flatten(), nn.Linear(12, 7), nn.Tanh(), nn.Linear(7, 5), nn.Tanh(), nn.Linear(5, 3)
    )
    assert mlp_spec(deep)["hidden_layer_sizes"] == (7, 5)
    assert mlp_spec(deep)["activation"] == "tanh"
    # a single linear layer (logistic regression) has no hidden layer
    assert mlp_spec(nn.Sequential(nn.Linear(4, 3)))["hidden_layer_sizes"] == ()


def test_to_sklearn_builds_the_same_architecture(digits):
    clf = to_sklearn(models.get("digits-baseline"), max_iter=3, random_state=0)
    assert isinstance(clf, MLPClassifier)
    assert clf.hidden_layer_sizes == (30,) and clf.activation == "logistic"
    x = digits.x_train.reshape(len(digits.x_train), -1)
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x, digits.y_train)
    shapes = [w.shape for w in clf.coefs_]
    assert shapes == [(64, 30), (30, 10)]  # the transposes of glassnet's (out, in) weights
    n = sum(w.size for w in clf.coefs_) + sum(b.size for b in clf.intercepts_)
    assert n == models.get("digits-baseline").num_parameters()


@pytest.mark.parametrize(
    "name", ["digits-cnn", "digits-cnn-pool", "digits-cnn-pool-skip", "resnet8"]
)
def test_conv_models_are_not_mlps(name):
    with pytest.raises(NotAnMLPError, match="MLPClassifier|Sequential|Linear"):
        mlp_spec(models.get(name))
    with pytest.raises(TypeError):  # NotAnMLPError is a TypeError
        to_sklearn(models.get(name))


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        (
            [nn.Flatten(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 2)],
            "mixes",
        ),
        ([nn.Flatten(), nn.Linear(4, 4), nn.Dropout(0.5), nn.Linear(4, 2)], "Dropout"),
        ([nn.Flatten(), nn.Linear(4, 4), nn.Linear(4, 2)], "followed by one activation"),
        ([nn.Flatten(), nn.Linear(4, 4), nn.ReLU(), nn.ReLU(), nn.Linear(4, 2)], "ReLU"),
        ([nn.Flatten(), nn.Linear(4, 2), nn.ReLU()], "end with a Linear"),
        ([nn.Flatten(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(5, 2)], "chain"),
        (
            [nn.Flatten(), nn.Linear(4, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2)],
            "BatchNorm",
        ),
    ],
)
def test_what_is_not_an_mlp_says_why(layers, message):
    with pytest.raises(NotAnMLPError, match=message):
        mlp_spec(nn.Sequential(*layers))


def test_a_non_sequential_model_is_not_an_mlp():
    with pytest.raises(NotAnMLPError, match="Linear is not a Sequential"):
        mlp_spec(nn.Linear(3, 2))


def small_digits(digits, n=240):
    x = digits.x_train[:n].reshape(n, -1)  # flat rows, as scikit-learn users have them
    return x, digits.y_train[:n]


def test_glassnet_classifier_in_cross_val_score(digits):
    x, y = small_digits(digits)
    clf = GlassnetClassifier(model="digits-cnn-pool", epochs=1, batch_size=16, lr=3e-3)
    copy = clone(clf)
    assert copy.get_params() == clf.get_params() and not hasattr(copy, "model_")
    scores = cross_val_score(clf, x, y, cv=2)
    assert scores.shape == (2,)
    assert np.all(scores > 0.3)  # one epoch on 120 images: well above chance (0.1)
    assert not hasattr(clf, "model_")  # cross_val_score fitted clones


def test_glassnet_classifier_returns_the_original_labels(digits):
    x, y = small_digits(digits)
    names = np.array(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    )
    clf = GlassnetClassifier(model="digits-baseline", epochs=3, lr=1e-2).fit(x, names[y])
    assert list(clf.classes_) == sorted(names)
    pred = clf.predict(x)
    assert pred.dtype.kind == "U" and set(pred) <= set(names)
    assert np.mean(pred == names[y]) > 0.6
    proba = clf.predict_proba(x)
    assert proba.shape == (len(x), 10)
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-6)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(1)], pred)
    assert clf.score(x, names[y]) == pytest.approx(np.mean(pred == names[y]))
    # labels that are not 0..k-1
    odd = clf.set_params(epochs=1).fit(x, y * 10 + 7)
    assert set(odd.predict(x)) <= set(y * 10 + 7)


def test_glassnet_classifier_is_reproducible_and_takes_images(digits):
    x, y = small_digits(digits, 120)
    a = GlassnetClassifier(model="digits-baseline", epochs=1, seed=2).fit(x, y)
    b = GlassnetClassifier(model="digits-baseline", epochs=1, seed=2).fit(x.reshape(-1, 1, 8, 8), y)
    np.testing.assert_array_equal(a.predict_proba(x), b.predict_proba(x))
    assert len(a.history_) == 1
    with pytest.raises(ValueError, match="65 features"):
        a.predict(np.zeros((2, 65), np.float32))


def test_sklearn_alpha_is_pytorch_weight_decay_on_the_weights():
    """One SGD step of MLPClassifier with alpha = sklearn_alpha(wd, batch) moves the
    weight matrices as glassnet's SGD(weight_decay=wd) does (the biases, which
    scikit-learn does not decay, are left out)."""
    from glassnet import optim
    from glassnet.study.engines import sklearn_alpha

    rng = np.random.default_rng(0)
    n, wd, lr = 16, 0.05, 0.5
    x, y = rng.standard_normal((n, 6)), np.arange(n) % 3
    clf = MLPClassifier(
        hidden_layer_sizes=(5,), activation="logistic", solver="sgd", momentum=0.0,
        learning_rate_init=lr, batch_size=n, alpha=sklearn_alpha(wd, n), shuffle=False,
    )  # fmt: skip
    clf.partial_fit(x, y, classes=np.arange(3))  # initialises (and takes a first step)
    net = nn.Sequential(nn.Linear(6, 5), nn.Sigmoid(), nn.Linear(5, 3)).to(np.float64)
    for linear, w, b in zip((net[0], net[2]), clf.coefs_, clf.intercepts_):
        linear.weight.data[...], linear.bias.data[...] = w.T, b
    opt = optim.SGD(net.parameters(), lr=lr, weight_decay=wd)
    loss_fn = nn.CrossEntropyLoss()
    loss_fn(net(x), y)
    net.backward(loss_fn.backward())
    opt.step()
    clf.partial_fit(x, y)
    for linear, w in zip((net[0], net[2]), clf.coefs_):
        np.testing.assert_allclose(linear.weight.data, w.T, rtol=1e-10, atol=1e-12)


@pytest.mark.filterwarnings(  # the checks' own: what they skip, and NaN/inf test data cast
    "ignore::sklearn.exceptions.SkipTestWarning",
    "ignore:invalid value encountered in cast",
    "ignore:batch size 32 is larger than:UserWarning",  # the checks' data of 10 to 30 samples
)
def test_glassnet_classifier_passes_scikit_learns_estimator_checks():
    """Tabular data of any width (input_shape=None), n_features_in_, NotFittedError,
    a column-vector y, continuous targets refused, NaN refused, pickling, ..."""
    from sklearn.utils.estimator_checks import check_estimator

    clf = GlassnetClassifier(model="digits-baseline", input_shape=None, epochs=4, lr=1e-2)
    results = check_estimator(clf, on_fail=None)
    failed = [(r["check_name"], str(r["exception"])) for r in results if r["status"] == "failed"]
    assert failed == []
    assert sum(r["status"] == "passed" for r in results) >= 50


def test_glassnet_classifier_leaves_the_global_generator_alone(digits):
    import glassnet.random as gr

    x, y = digits.x_train[:64].reshape(64, -1), digits.y_train[:64]
    gr.manual_seed(123)
    expected = gr.default_generator().random()
    gr.manual_seed(123)
    GlassnetClassifier(model="digits-baseline", epochs=1).fit(x, y)
    assert gr.default_generator().random() == expected  # fit seeds, then gives it back
