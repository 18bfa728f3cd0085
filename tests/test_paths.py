"""Optimizer paths on a loss contour: the test surfaces' gradients (central differences
and torch autograd), the paths against closed forms and against torch.optim, the
loss plane of a network, the figure and the ``glassnet paths`` command."""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest

from glassnet import models, nn
from glassnet.data import load
from glassnet.study import landscape, paths, surfaces
from glassnet.viz.paths import contour_levels, plot_paths, plot_surface_paths
from test_cli import run  # the CLI run in-process: (exit code, stdout, stderr)

REAL_DATA = os.environ.get("GLASSNET_DATA")
ALL_SURFACES = list(surfaces.SURFACES)


def get_torch():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)  # pytest-xdist workers: don't oversubscribe the cores
    return torch


def _points(surface, n=20, seed=0):
    x0, x1, y0, y1 = surface.window
    rng = np.random.default_rng(seed)
    return rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)


# --------------------------------------------------------------------------- surfaces
@pytest.mark.parametrize("name", ALL_SURFACES)
def test_surface_gradient_matches_central_differences(name):
    s = surfaces.get_surface(name)
    x, y = _points(s)
    gx, gy = s.gradient(x, y)
    h = 1e-6
    fx = (s.value(x + h, y) - s.value(x - h, y)) / (2 * h)
    fy = (s.value(x, y + h) - s.value(x, y - h)) / (2 * h)
    scale = 1 + np.abs(fx) + np.abs(fy)
    np.testing.assert_array_less(np.abs(gx - fx) / scale, 1e-6)
    np.testing.assert_array_less(np.abs(gy - fy) / scale, 1e-6)


@pytest.mark.parametrize("name", ALL_SURFACES)
def test_surface_gradient_matches_torch_autograd(name):
    torch = get_torch()
    s = surfaces.get_surface(name)
    x, y = _points(s, seed=1)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.tensor(y, requires_grad=True)
    s.value(tx, ty).sum().backward()
    gx, gy = s.gradient(x, y)
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(gy, ty.grad.numpy(), rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("name", ALL_SURFACES)
def test_listed_minima_are_stationary_with_the_stated_value(name):
    s = surfaces.get_surface(name)
    for mx, my in s.minima:
        gx, gy = s.gradient(mx, my)
        assert abs(gx) < 1e-4 and abs(gy) < 1e-4
        assert s.value(mx, my) == pytest.approx(s.minimum_value(), abs=1e-9)
    X, Y, Z = s.grid(101)
    assert Z.min() >= s.minimum_value() - 1e-9  # nothing in the window lies below it


def test_unknown_surface_names_the_valid_ones():
    with pytest.raises(ValueError, match="unknown surface 'nope'.*rosenbrock"):
        surfaces.get_surface("nope")


# ------------------------------------------------------------------------------ paths
def test_sgd_on_the_ravine_follows_the_closed_form():
    # f = x^2/2 + 25 y^2/2: one SGD step multiplies x by (1 - lr) and y by (1 - 25 lr)
    s = surfaces.get_surface("ravine")
    lr, steps = 0.07, 30
    walk = paths.surface_path(s, "sgd", lr=lr, steps=steps)
    t = np.arange(steps + 1)
    np.testing.assert_allclose(walk.points[:, 0], s.start[0] * (1 - lr) ** t, rtol=1e-12)
    np.testing.assert_allclose(walk.points[:, 1], s.start[1] * (1 - 25 * lr) ** t, rtol=1e-12)
    np.testing.assert_allclose(walk.losses, s.value(walk.points[:, 0], walk.points[:, 1]))
    assert not walk.diverged and walk.steps is None


def test_heavy_ball_momentum_on_the_ravine_follows_its_recurrence():
    # torch's convention: b_1 = g_1, b_t = 0.9 b_{t-1} + g_t, theta -= lr b_t
    s = surfaces.get_surface("ravine")
    lr = 0.01
    walk = paths.surface_path(s, "momentum", lr=lr, steps=25, start=(2.0, -1.0))
    theta, buf = np.array([2.0, -1.0]), None
    for k in range(25):
        g = theta * np.array([1.0, 25.0])
        buf = g if buf is None else 0.9 * buf + g
        theta = theta - lr * buf
        np.testing.assert_allclose(walk.points[k + 1], theta, rtol=1e-12)


@pytest.mark.parametrize("name", ALL_SURFACES)
@pytest.mark.parametrize("optimizer", list(paths.OPTIMIZERS))
def test_glassnet_and_torch_walk_the_same_path(name, optimizer):
    get_torch()
    s = surfaces.get_surface(name)
    ours = paths.surface_path(s, optimizer, steps=60)
    theirs = paths.surface_path(s, optimizer, steps=60, engine="torch")
    assert ours.points.shape == theirs.points.shape == (61, 2)
    np.testing.assert_allclose(ours.points, theirs.points, rtol=1e-9, atol=1e-12)


def test_a_far_start_is_not_taken_for_divergence():
    # the limit grows with the start: SGD on the ravine shrinks x by 1 - lr a step
    ravine = surfaces.get_surface("ravine")
    walk = paths.surface_path(ravine, "sgd", lr=0.07, steps=10, start=(2e6, 0))
    assert not walk.diverged and len(walk.points) == 11
    assert walk.points[-1, 0] == pytest.approx(2e6 * 0.93**10)


def test_a_diverging_walk_stops_at_its_last_finite_point():
    s = surfaces.get_surface("beale")
    walk = paths.surface_path(s, "sgd", lr=1.0, steps=100)
    assert walk.diverged
    assert len(walk.points) < 101
    assert np.all(np.isfinite(walk.points)) and np.all(np.isfinite(walk.losses))


def test_defaults_come_from_the_surface():
    s = surfaces.get_surface("saddle")
    walk = paths.surface_path(s, "adam")
    assert walk.lr == s.lrs["adam"]
    assert len(walk.points) == s.steps + 1
    np.testing.assert_array_equal(walk.points[0], s.start)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"steps": -1}, "steps must be a non-negative integer"),
        ({"steps": 2.5}, "steps must be a non-negative integer"),
        ({"start": (1.0, np.nan)}, "start must be two finite numbers"),
        ({"start": (1.0, 2.0, 3.0)}, "start must be two finite numbers"),
        ({"engine": "jax"}, "engine must be 'glassnet' or 'torch'"),
    ],
)
def test_surface_path_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        paths.surface_path(surfaces.get_surface("ravine"), "sgd", **kwargs)


def test_parse_optimizers():
    assert paths.parse_optimizers("sgd=0.001, Momentum ,adam=5e-2") == [
        ("sgd", 0.001, {}),
        ("momentum", None, {}),
        ("adam", 0.05, {}),
    ]
    # settings by the optimizer's argument names (the issue: momentum=0.01:0.5 was refused)
    assert paths.parse_optimizers(
        "momentum=0.01:momentum=0.5, nesterov:momentum=0.8:nesterov=true, adam:betas=0.8/0.99"
    ) == [
        ("momentum", 0.01, {"momentum": 0.5}),
        ("nesterov", None, {"momentum": 0.8, "nesterov": True}),
        ("adam", None, {"betas": (0.8, 0.99)}),
    ]
    for text, message in [
        ("sgd,lbfgs", "unknown optimizer 'lbfgs'"),
        ("sgd=fast", "learning rate of sgd must be a number"),
        ("adam=-1", "learning rate of adam must be positive"),
        ("adam=nan", "learning rate of adam must be positive"),
        ("adam,adam=0.1", "named twice"),
        (" , ", "no optimizer named"),
        ("momentum=0.01:0.5", "settings after ':' are name=value"),
        ("adam:momentum=0.5", "adam has no setting 'momentum'; it takes amsgrad, betas"),
        ("adam:betas=0.9", "betas must be two numbers such as 0.9/0.999"),
        ("sgd:nesterov=maybe", "nesterov must be true or false"),
        ("sgd:momentum=-1", "momentum must be finite and >= 0"),
    ]:
        with pytest.raises(ValueError, match=message):
            paths.parse_optimizers(text)


# -------------------------------------------------------------------------- landscape
def test_flat_parameters_round_trip():
    model = models.get("digits-cnn", seed=3)
    flat = landscape.flat_parameters(model)
    assert flat.dtype == np.float64 and flat.size == model.num_parameters()
    landscape.set_flat_parameters(model, flat * 2)
    np.testing.assert_allclose(landscape.flat_parameters(model), flat * 2, rtol=1e-6)
    with pytest.raises(ValueError, match="parameter values"):
        landscape.set_flat_parameters(model, flat[:-1])


def test_train_path_records_every_kth_step_and_leaves_the_model_alone():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 10, 50)
    model = models.get("digits-baseline", seed=0)
    before = landscape.flat_parameters(model)
    steps, weights = landscape.train_path(model, "sgd", 0.1, x, y, epochs=3, batch_size=8, every=4)
    # 7 batches an epoch, 21 steps: kept 0, 4, ..., 20 and the last, 21
    np.testing.assert_array_equal(steps, [0, 4, 8, 12, 16, 20, 21])
    assert weights.shape == (7, before.size)
    np.testing.assert_array_equal(weights[0], before)
    np.testing.assert_array_equal(landscape.flat_parameters(model), before)
    assert not np.array_equal(weights[-1], before)


def test_train_path_glassnet_and_torch_agree():
    get_torch()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((40, 1, 8, 8)).astype(np.float32)
    y = rng.integers(0, 10, 40)
    model = models.get("digits-cnn-pool", seed=1)
    for optimizer in ("momentum", "adam"):
        ours = landscape.train_path(model, optimizer, 0.01, x, y, epochs=1, batch_size=10)
        theirs = landscape.train_path(
            model, optimizer, 0.01, x, y, epochs=1, batch_size=10, engine="torch"
        )
        np.testing.assert_array_equal(ours[0], theirs[0])
        np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-4, atol=1e-5)


def test_loss_plane_of_the_digits_baseline():
    pytest.importorskip("sklearn")  # the digits come with scikit-learn
    plane = landscape.loss_plane(
        "baseline",
        optimizers=(("sgd", 0.5), ("adam", 0.01)),
        epochs=1,
        grid=5,
        eval_size=200,
        max_points=10,
        data_dir=REAL_DATA,
    )
    d = plane.directions
    np.testing.assert_allclose(d @ d.T, np.eye(2), atol=1e-10)  # orthonormal
    assert 0 < plane.explained[1] <= plane.explained[0] and sum(plane.explained) <= 1 + 1e-12
    assert plane.Z.shape == plane.X.shape == (5, 5) and np.all(np.isfinite(plane.Z))
    for t in plane.trajectories:
        np.testing.assert_array_equal(t.points[0], [0.0, 0.0])  # the plane holds the start
        assert t.steps[0] == 0 and t.steps[-1] == 45 and len(t.steps) <= 12
        assert t.losses[-1] < t.losses[0]  # both optimizers learned something
    # a grid value is the loss of the weights at that point of the plane, recomputed here
    data = load("digits", data_dir=REAL_DATA)
    probe = models.get("digits-baseline").eval()
    i, j = 1, 3
    theta = plane.origin + plane.X[i, j] * d[0] + plane.Y[i, j] * d[1]
    landscape.set_flat_parameters(probe, theta)
    expected = float(nn.CrossEntropyLoss()(probe(data.x_train[:200]), data.y_train[:200]))
    assert plane.Z[i, j] == pytest.approx(expected, rel=1e-5)
    # and the paths' first loss is the initial model's
    start = models.get("digits-baseline", seed=0).eval()
    first = float(nn.CrossEntropyLoss()(start(data.x_train[:200]), data.y_train[:200]))
    assert plane.trajectories[0].losses[0] == pytest.approx(first, rel=1e-5)


def test_float64_loss_plane_paths_agree_with_torch_to_rounding():
    pytest.importorskip("sklearn")
    get_torch()
    ticks = []
    plane = landscape.loss_plane(
        "baseline",
        optimizers=(("sgd", 0.5), ("adam", 0.01)),
        epochs=1,
        grid=3,
        eval_size=50,
        train_size=320,
        dtype="float64",
        engines=("glassnet", "torch"),
        progress=lambda n, total: ticks.append((n, total)),
    )
    # 2 optimizers x 2 engines x 10 steps, then 3 grid rows of 3 points
    assert {total for _, total in ticks} == {49} and sum(n for n, _ in ticks) == 49
    assert plane.settings["dtype"] == "float64" and plane.Z.dtype == np.float64
    by = {(t.optimizer, t.engine): t for t in plane.trajectories}
    for name in ("sgd", "adam"):
        ours, theirs = by[(name, "glassnet")], by[(name, "torch")]
        np.testing.assert_array_equal(ours.steps, np.arange(11))
        np.testing.assert_allclose(ours.points, theirs.points, rtol=0, atol=1e-10)
        np.testing.assert_allclose(ours.losses, theirs.losses, rtol=1e-12)


def test_train_path_raises_when_the_weights_blow_up():
    from glassnet.train.trainer import TrainingDivergedError

    model = models.get("mnist-mlp", input_shape=(1, 8, 8), seed=0)
    x = np.full((64, 1, 8, 8), 1e30, np.float32)
    y = np.zeros(64, np.int64)
    with pytest.raises(TrainingDivergedError, match="sgd .lr 1e.30. on the glassnet engine"):
        landscape.train_path(model, "sgd", 1e30, x, y, epochs=2, batch_size=32)


def test_loss_plane_reports_the_engines_gap_in_weight_space():
    pytest.importorskip("sklearn")
    get_torch()
    plane = landscape.loss_plane(
        "baseline", optimizers=(("sgd", None),), epochs=1, grid=3, eval_size=50,
        train_size=320, engines=("glassnet", "torch"),
    )  # fmt: skip
    assert set(plane.weight_gaps) == {"sgd"}
    assert 0 < plane.weight_gaps["sgd"] < 1e-4  # float32 rounding over 10 steps
    assert plane.trajectories[0].lr == landscape.MODEL_LRS["sgd"]


def test_loss_plane_refuses_batchnorm_and_bad_settings():
    with pytest.raises(ValueError, match="BatchNorm"):
        landscape.loss_plane("resnet8", dataset="digits", data_dir=REAL_DATA, epochs=1)
    with pytest.raises(ValueError, match="grid must be an integer >= 3"):
        landscape.loss_plane(grid=2)
    with pytest.raises(ValueError, match="engines must be"):
        landscape.loss_plane(engines=("keras",))
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        landscape.loss_plane(dtype=np.float16)
    with pytest.raises(ValueError, match=r"learning rate of adam must be in \(0, 3.40282e\+38\]"):
        landscape.loss_plane(optimizers=(("adam", 1e39),))


# ---------------------------------------------------------------------------- figures
def test_the_surface_picture_grows_to_hold_a_far_start_but_not_a_diverged_path(
    tmp_path, monkeypatch
):
    pytest.importorskip("matplotlib")
    import glassnet.viz.paths as vp

    seen = {}
    monkeypatch.setattr(vp, "plot_paths", lambda X, Y, Z, *a, **k: seen.update(X=X, Y=Y))
    s = surfaces.get_surface("ravine")
    far = paths.surface_path(s, "sgd", steps=20, start=(-40.0, 10.0))
    blown = paths.surface_path(s, "sgd", lr=1.0, steps=200)
    assert blown.diverged and np.abs(blown.points).max() > 1e5
    vp.plot_surface_paths(s, [far, blown], tmp_path / "f.png")
    assert seen["X"].min() < -40 < seen["X"].max() < 10  # the start, not the blow-up
    assert seen["Y"].max() > 10 and seen["Y"].min() > -20


def test_contour_levels():
    Z = np.array([[0.0, 1.0], [10.0, 1000.0]])
    log = contour_levels(Z, log=True, n=12)
    assert np.all(np.diff(log) > 0) and log[0] > 0 and log[-1] == pytest.approx(1000.0)
    lin = contour_levels(Z - 5, log=False, n=7)
    np.testing.assert_allclose(lin, np.linspace(-5, 995, 7))
    flat = contour_levels(np.full((3, 3), 2.0))
    assert np.all(np.diff(flat) > 0)
    with pytest.raises(ValueError, match="no finite value"):
        contour_levels(np.full((2, 2), np.nan))


def test_plot_surface_paths_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    s = surfaces.get_surface("himmelblau")
    walks = [paths.surface_path(s, n, steps=30) for n in ("sgd", "adam")]
    out = plot_surface_paths(s, walks, tmp_path / "h.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    X, Y = np.meshgrid(np.linspace(-1, 1, 9), np.linspace(-1, 1, 9))
    plot_paths(X, Y, X**2 + Y**2, walks, tmp_path / "p.png", minimum_value=None)
    assert (tmp_path / "p.png").stat().st_size > 1000


# -------------------------------------------------------------------------------- CLI


def test_cli_paths_negative_start_and_torch_alone(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    get_torch()
    out = tmp_path / "s.png"
    code, text, err = run(
        capsys, "paths", "saddle", "--engines", "torch", "--optimizers", "sgd,adam",
        "--start", "-1.8", "0.001", "--steps", "5", "--out", out,
    )  # fmt: skip
    assert code == 0, err
    assert "torch gap" not in text and "f(x, y) = x^2 - y^2 + y^4 / 4" in text
    rows = list(csv.DictReader(open(out.with_suffix(".csv"))))
    assert {r["engine"] for r in rows} == {"torch"}
    assert float(rows[0]["x"]) == -1.8 and float(rows[0]["y"]) == 0.001


def test_cli_paths_on_a_surface(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    get_torch()
    out = tmp_path / "r.png"
    code, text, err = run(
        capsys, "paths", "ravine", "--optimizers", "sgd=0.07,adam", "--steps", "20", "--out", out
    )
    assert code == 0, err
    assert out.exists() and "torch gap" in text and "figure:" in text
    rows = list(csv.DictReader(open(out.with_suffix(".csv"))))
    assert {(r["optimizer"], r["engine"]) for r in rows} == {
        (o, e) for o in ("sgd", "adam") for e in ("glassnet", "torch")
    }
    sgd = [r for r in rows if r["optimizer"] == "sgd" and r["engine"] == "glassnet"]
    assert [int(r["step"]) for r in sgd] == list(range(21))
    assert float(sgd[1]["x"]) == pytest.approx(-4.5 * 0.93, rel=1e-12)
    gap_line = next(line for line in text.splitlines() if line.startswith("sgd"))
    assert float(gap_line.split()[-1]) < 1e-12


def test_cli_paths_on_a_model(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    pytest.importorskip("sklearn")
    out = tmp_path / "plane.png"
    code, text, err = run(
        capsys, "paths", "baseline", "--engines", "glassnet", "--epochs", "2", "--grid", "4",
        "--eval-size", "100", "--optimizers", "sgd", "--train-size", "320", "--out", out,
    )  # fmt: skip
    assert code == 0, err
    assert "digits-baseline on digits" in text and "torch gap" not in text
    # 320 training images in batches of 32: 10 steps an epoch, 20 in all
    row = next(line for line in text.splitlines() if line.startswith("sgd")).split()
    assert row[1:3] == [f"{landscape.MODEL_LRS['sgd']:g}", "20"]  # the default lr; 20 steps
    rows = list(csv.DictReader(open(out.with_suffix(".csv"))))
    assert [int(r["step"]) for r in rows] == list(range(21))
    assert out.exists() and out.with_suffix(".csv").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["paths", "nope"], "neither a surface"),
        (["paths", "beale", "--optimizers", "sgd=x"], "learning rate of sgd"),
        (["paths", "beale", "--engines", "keras"], "--engines takes glassnet and/or torch"),
        (["paths", "beale", "--out", "x.svg"], "must name a .png"),
        (["paths", "beale", "--out", "."], "must name a .png"),
        (["paths", "baseline", "--steps", "5"], "--steps and --start are for surfaces"),
        (["paths", "beale", "--start", "1"], "expected 2 arguments"),
        (["paths", "beale", "--start", "1", "nan"], "expected a finite number"),
        (["paths", "beale", "--epochs", "3", "--grid", "9"], "--epochs, --grid: for a model"),
        (["paths", "baseline", "--grid", "2"], "expected an integer >= 3"),
        (["paths", "baseline", "--optimizers", "sgd=1e39"], "learning rate of sgd must be in"),
        (["paths", "baseline", "--dtype", "float16"], "invalid choice"),
    ],
)
def test_cli_paths_user_errors(capsys, tmp_path, argv, message):
    if "--out" not in argv:  # a refused command must write nothing, even by accident
        argv = [*argv, "--out", tmp_path / "x.png"]
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err


def test_cli_paths_refuses_an_out_it_cannot_write_before_computing(capsys, tmp_path):
    (tmp_path / "taken.png").mkdir()
    code, _, err = run(capsys, "paths", "beale", "--out", tmp_path / "taken.png")
    assert code == 2 and "is a folder" in err


def test_cli_paths_keeps_a_csv_it_did_not_write_and_replaces_its_own(capsys, tmp_path):
    mine = tmp_path / "mine.csv"
    mine.write_text("my data\n")
    code, _, err = run(capsys, "paths", "beale", "--steps", "5", "--out", tmp_path / "mine.png")
    assert code == 2 and "holds another file" in err
    assert mine.read_text() == "my data\n" and not (tmp_path / "mine.png").exists()
    out = tmp_path / "p.png"
    for steps in ("5", "7"):  # a second run replaces its own figure and table
        assert run(capsys, "paths", "beale", "--steps", steps, "--out", out)[0] == 0
    rows = (tmp_path / "p.csv").read_text().splitlines()
    assert rows[0] == "optimizer,engine,lr,step,x,y,loss" and any(",7," in r for r in rows)


def test_the_loss_plane_bar_is_made_at_the_first_update_with_the_total():
    from glassnet.cli.paths import _Bar

    made = []

    class FakeTqdm:
        def __init__(self, total, desc, leave):
            made.append(self)
            self.total, self.n, self.closed = total, 0, False

        def update(self, n):
            self.n += n

        def close(self):
            self.closed = True

    bar = _Bar(FakeTqdm)
    bar.close()  # nothing made yet: nothing to close
    for _ in range(3):
        bar.update(2, 49)
    bar.close()
    assert len(made) == 1 and made[0].total == 49 and made[0].n == 6 and made[0].closed


def test_the_sgd_family_shares_a_rate_and_momentum_wins_the_ravine():
    """paths ravine picked lr 0.07 for SGD and 0.003 for momentum, so plain SGD won."""
    for s in surfaces.SURFACES.values():
        assert s.lrs["sgd"] == s.lrs["momentum"] == s.lrs["nesterov"], s.name
    ravine = surfaces.get_surface("ravine")
    end = {n: paths.surface_path(ravine, n).losses[-1] for n in ("sgd", "momentum", "nesterov")}
    assert end["momentum"] < end["sgd"] / 10 and end["nesterov"] < end["sgd"] / 10


def test_labels_name_every_hyperparameter():
    def label(name, **options):
        return paths.Trajectory(name, "glassnet", 0.03, None, None, options=options).label

    assert label("sgd") == "sgd (lr 0.03)"
    assert label("momentum") == "momentum (lr 0.03, momentum 0.9)"
    assert label("momentum", momentum=0.5) == "momentum (lr 0.03, momentum 0.5)"
    assert label("nesterov") == "nesterov (lr 0.03, momentum 0.9, nesterov)"
    assert label("adam", betas=(0.8, 0.99)) == "adam (lr 0.03, betas 0.8/0.99)"
    assert label("adamw") == "adamw (lr 0.03, betas 0.9/0.999, weight_decay 0.01)"
    assert label("rmsprop") == "rmsprop (lr 0.03, alpha 0.99)"
    walk = paths.surface_path(
        surfaces.get_surface("ravine"), "momentum", steps=3, options={"momentum": 0.5}
    )
    assert walk.label == "momentum (lr 0.03, momentum 0.5)"


def test_coinciding_paths_stay_visible(tmp_path, monkeypatch):
    """Adam and AdamW (no decay to speak of here) walk the same path: each gets its own
    markers and width, the later one on top."""
    pytest.importorskip("matplotlib")
    import glassnet.viz.paths as vp

    figures = []
    real_save = vp._save
    monkeypatch.setattr(vp, "_save", lambda fig, path: figures.append(fig) or real_save(fig, path))
    s = surfaces.get_surface("ravine")
    walks = [
        paths.surface_path(s, "adam", steps=30),
        paths.surface_path(s, "adamw", steps=30, options={"weight_decay": 0.0}),
    ]
    np.testing.assert_allclose(walks[0].points, walks[1].points)
    vp.plot_surface_paths(s, walks, tmp_path / "same.png")
    ax = figures[0].axes[0]
    drawn = [line for line in ax.lines if line.get_label().startswith(("adam ", "adamw "))]
    assert len(drawn) == 2
    assert drawn[0].get_marker() != drawn[1].get_marker()
    assert drawn[0].get_linewidth() > drawn[1].get_linewidth()
    assert drawn[1].get_zorder() > drawn[0].get_zorder()


def test_a_walk_that_diverges_on_its_first_step_is_drawn_and_named(tmp_path, monkeypatch):
    """Its only point is the start, whose white circle used to hide the cross."""
    pytest.importorskip("matplotlib")
    import glassnet.viz.paths as vp

    figures = []
    real_save = vp._save
    monkeypatch.setattr(vp, "_save", lambda fig, path: figures.append(fig) or real_save(fig, path))
    s = surfaces.get_surface("beale")
    blown = paths.surface_path(s, "sgd", lr=1e6, steps=10)
    assert blown.diverged and len(blown.points) == 1
    fine = paths.surface_path(s, "adam", steps=10)
    vp.plot_surface_paths(s, [fine, blown], tmp_path / "b.png")
    ax, ax_loss = figures[0].axes[:2]
    crosses = [line for line in ax.lines if line.get_marker() == "x"]
    assert len(crosses) == 1 and crosses[0].get_zorder() > 5  # above the start's circle
    assert np.allclose(crosses[0].get_xydata(), blown.points[:1])
    texts = [t.get_text() for t in ax.texts]
    assert any("diverged on its first step" in t for t in texts)
    single = [line for line in ax_loss.lines if len(line.get_xdata()) == 1]
    assert len(single) == 1 and single[0].get_marker() not in (None, "None", "")


def test_cli_paths_writes_into_a_run_folder_and_takes_settings(tmp_path, capsys, monkeypatch):
    """It wrote its PNG and a 657 KB CSV into the current folder; momentum=0.01:0.5 was
    refused, and the legend never showed the momentum."""
    pytest.importorskip("matplotlib")
    import glassnet.viz.paths as vp

    labels = []
    real = vp.plot_surface_paths

    def spy(surface, trajectories, path, title=None):
        labels.extend(t.label for t in trajectories)
        return real(surface, trajectories, path, title)

    monkeypatch.setattr(vp, "plot_surface_paths", spy)
    monkeypatch.chdir(tmp_path)
    code, text, err = run(
        capsys, "paths", "ravine", "--engines", "glassnet", "--steps", "5",
        "--optimizers", "sgd,momentum:momentum=0.5,nesterov=0.01",
    )  # fmt: skip
    assert code == 0, err
    assert [p.name for p in tmp_path.iterdir()] == ["runs"]
    (folder,) = (tmp_path / "runs").iterdir()
    assert folder.name.endswith("-paths-ravine")
    assert sorted(p.name for p in folder.iterdir()) == ["paths-ravine.csv", "paths-ravine.png"]
    assert labels == [
        "sgd (lr 0.03)",
        "momentum (lr 0.03, momentum 0.5)",
        "nesterov (lr 0.01, momentum 0.9, nesterov)",
    ]


def test_a_figure_of_different_learning_rates_says_so(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import glassnet.viz.paths as vp

    figures = []
    real_save = vp._save
    monkeypatch.setattr(vp, "_save", lambda fig, path: figures.append(fig) or real_save(fig, path))
    s = surfaces.get_surface("ravine")
    same = [paths.surface_path(s, n, steps=5) for n in ("sgd", "momentum")]
    mixed = [*same, paths.surface_path(s, "adam", steps=5)]
    for walks in (same, mixed):
        vp.plot_surface_paths(s, walks, tmp_path / "f.png")
    said = [
        "learning rates differ" in (f._supxlabel.get_text() if f._supxlabel else "")
        for f in figures
    ]
    assert said == [False, True]
