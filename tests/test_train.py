"""Training: fit/Trainer on digits, curves and logs, callbacks, evaluation, schedulers,
bit-identical resume (after a stop or a Ctrl-C), and divergence detection."""

from __future__ import annotations

import math
import os
import signal

import numpy as np
import pytest

import glassnet
from glassnet import data, models, nn, optim
from glassnet.data import DataLoader, default_train_transform
from glassnet.io import load_arrays
from glassnet.train import (
    Callback,
    CSVLogger,
    EarlyStopping,
    ModelCheckpoint,
    TimeBudget,
    Trainer,
    TrainingDivergedError,
    evaluate,
    fit,
    load_checkpoint,
    predict,
)

REAL_DATA = os.environ.get("GLASSNET_DATA")


# ----------------------------------------------------------------------------- helpers
@pytest.fixture(scope="module")
def digits():
    return data.load("digits")


@pytest.fixture(scope="module")
def digits_val():
    return data.load("digits", val_size=0.1)


def synthetic_cifar(n: int = 64, n_val: int = 32, seed: int = 0):
    """CIFAR-shaped (3x32x32) tuple data whose class shows in the colour of a corner."""
    rng = np.random.default_rng(seed)

    def make(m):
        y = np.arange(m) % 10
        x = rng.standard_normal((m, 3, 32, 32)).astype(np.float32)
        x[:, y % 3, :12, :12] += (1 + y // 3)[:, None, None, None].astype(np.float32)
        return x, y.astype(np.int64)

    return (*make(n), *make(n_val))


def small_bn_net(seed: int):
    """Conv + BatchNorm (running stats, num_batches_tracked) + Dropout (global RNG)."""
    glassnet.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, stride=2, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.2),
        nn.Linear(4 * 8 * 8, 10),
    )


def dropout_mlp(seed: int):
    glassnet.manual_seed(seed)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 10)
    )


def assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        assert sa[key].dtype == sb[key].dtype, key
        np.testing.assert_array_equal(sa[key], sb[key], err_msg=key)


def without_seconds(history):
    return [{k: v for k, v in e.items() if k != "seconds"} for e in history.epochs]


def assert_same_history(h1, h2):
    assert without_seconds(h1) == without_seconds(h2)
    assert h1.iterations == h2.iterations


class StopAfter(Callback):
    """Stop a run planned for more epochs after ``epoch`` (as a user pausing it)."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, trainer, epoch, logs):
        if epoch == self.epoch:
            trainer.stop_training = True


class SendSigint(Callback):
    """Press Ctrl-C (``times`` times) at the end of a given batch."""

    def __init__(self, epoch, batch, times=1):
        self.epoch, self.batch, self.times = epoch, batch, times

    def on_batch_end(self, trainer, step, logs):
        if (logs["epoch"], logs["batch"]) == (self.epoch, self.batch):
            for _ in range(self.times):
                os.kill(os.getpid(), signal.SIGINT)


class InjectNaN(Callback):
    def __init__(self, epoch, batch):
        self.epoch, self.batch = epoch, batch

    def on_batch_end(self, trainer, step, logs):
        if (logs["epoch"], logs["batch"]) == (self.epoch, self.batch):
            next(iter(trainer.model.parameters())).data.flat[0] = np.nan


class Scripted(Callback):
    """Put a scripted value of ``key`` into each epoch's logs (for the callbacks after it)."""

    def __init__(self, key, values):
        self.key, self.values = key, values

    def on_epoch_end(self, trainer, epoch, logs):
        logs[self.key] = self.values[epoch - 1]


class Snapshots(Callback):
    def __init__(self):
        self.states = {}

    def on_epoch_end(self, trainer, epoch, logs):
        self.states[epoch] = trainer.model.state_dict()


class LrPerBatch(Callback):
    """``lrs[j]``: the learning rate training step j ran with (read at its forward pass)."""

    def __init__(self):
        self.lrs = []

    def on_train_begin(self, trainer):
        def record(module, inputs, output):
            if module.training:
                self.lrs.append(trainer.optimizer.param_groups[0]["lr"])

        self.handle = trainer.model.register_forward_hook(record)

    def on_train_end(self, trainer):
        self.handle.remove()


def quiet_fit(model, dataset, **kwargs):
    kwargs.setdefault("progress", False)
    kwargs.setdefault("batch_size", 64)  # these tests count batches of 64
    return fit(model, dataset, **kwargs)


# ----------------------------------------------------------------------- accuracy
@pytest.mark.slow
def test_short_digits_run_passes_90_percent(digits):
    model = models.get("digits-cnn-pool-skip", seed=0)
    quiet_fit(model, digits, epochs=3, batch_size=32, optimizer="adam", lr=1e-3, eval_test=False)
    assert evaluate(model, digits)["accuracy"] > 0.90


@pytest.mark.slow
def test_mnist_mlp_on_real_mnist():
    if not REAL_DATA:
        pytest.skip("GLASSNET_DATA is not set")
    try:
        mnist = data.load("mnist", data_dir=REAL_DATA, download=False, train_size=6000)
    except data.DatasetNotFoundError:
        pytest.skip(f"no MNIST files under GLASSNET_DATA={REAL_DATA}")
    model = models.get("mnist-mlp", seed=0)
    quiet_fit(model, mnist, epochs=1, batch_size=64, lr=1e-3, eval_test=False)
    assert evaluate(model, mnist)["accuracy"] > 0.88


# ----------------------------------------------------------------------- what fit records
def test_fit_records_train_val_test_per_epoch_and_the_iteration_log(digits_val):
    model = models.get("digits-baseline", seed=0)
    history = quiet_fit(model, digits_val, epochs=3, batch_size=50, lr=3e-3, log_interval=7)
    n_train = len(digits_val.y_train)
    batches = math.ceil(n_train / 50)
    assert len(history) == 3 and history["epoch"] == [1, 2, 3]
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_loss"):
        assert len(history[key]) == 3 and all(np.isfinite(history[key])), key
    assert history["lr"] == [3e-3] * 3
    assert all(s > 0 for s in history["seconds"])
    assert history["train_loss"][2] < history["train_loss"][0]
    # the recorded val/test metrics are those of the model at the end of the epoch
    for split in ("val", "test"):
        result = evaluate(model, digits_val, split=split)
        assert history[f"{split}_accuracy"][-1] == result["accuracy"]
        assert history[f"{split}_loss"][-1] == pytest.approx(result["loss"], rel=1e-6)
    # the loss every log_interval batches, against the examples seen
    steps = [it["step"] for it in history.iterations]
    assert steps == list(range(7, 3 * batches + 1, 7))
    for it in history.iterations:
        epoch = (it["step"] - 1) // batches + 1
        in_epoch = it["step"] - (epoch - 1) * batches
        assert it["epoch"] == epoch
        assert it["examples_seen"] == (epoch - 1) * n_train + min(in_epoch * 50, n_train)
        assert np.isfinite(it["loss"]) and 0 <= it["accuracy"] <= 1
    assert history.meta["optimizer"] == "Adam" and history.meta["epochs"] == 3


def test_fit_on_tuples_and_without_test_curves(digits):
    d = digits
    model = models.get("digits-baseline", seed=0)
    h = quiet_fit(model, (d.x_train, d.y_train), epochs=1)
    assert "val_loss" not in h and "test_loss" not in h and "train_loss" in h
    h = quiet_fit(model, (d.x_train, d.y_train, d.x_test[:50], d.y_test[:50]), epochs=1)
    assert "val_accuracy" in h and "test_accuracy" not in h
    six = (d.x_train, d.y_train, d.x_test[:50], d.y_test[:50], d.x_test, d.y_test)
    h = quiet_fit(model, six, epochs=1, eval_test=False)
    assert "val_accuracy" in h and "test_accuracy" not in h
    with pytest.raises(TypeError, match="tuple"):
        quiet_fit(model, (d.x_train, d.y_train, d.x_test), epochs=1)
    with pytest.raises(ValueError, match="transform"):
        quiet_fit(model, (d.x_train, d.y_train), epochs=1, augment=True)  # no dataset name
    with pytest.raises(ValueError, match="checkpoint_dir"):
        quiet_fit(model, d, epochs=1, resume=True)
    with pytest.raises(ValueError, match="validation split"):
        quiet_fit(model, d, epochs=1, early_stopping=2)
    with pytest.raises(ValueError, match="epochs"):
        quiet_fit(model, d, epochs=0)
    with pytest.raises(ValueError, match="unknown optimizer"):
        quiet_fit(model, d, epochs=1, optimizer="lbfgs")
    with pytest.raises(ValueError, match="unknown scheduler"):
        quiet_fit(model, d, epochs=1, scheduler="warmup")


def test_same_seed_same_run_and_another_seed_another_run(digits):
    runs = []
    for seed in (0, 0, 1):
        model = models.get("digits-baseline", seed=0)
        runs.append((model, quiet_fit(model, digits, epochs=1, seed=seed, eval_test=False)))
    assert_same_weights(runs[0][0], runs[1][0])
    assert_same_history(runs[0][1], runs[1][1])
    assert not np.array_equal(
        runs[0][0].state_dict()["1.weight"], runs[2][0].state_dict()["1.weight"]
    )


# ----------------------------------------------------------------------- resume
RECIPES = {
    "sgd-nesterov-onecycle": dict(
        batch_size=64,
        optimizer="sgd",
        lr=0.05,
        momentum=0.9,
        nesterov=True,
        weight_decay=5e-4,
        scheduler="onecycle",
        log_interval=4,
    ),
    "adam-cosine": dict(batch_size=32, optimizer="adam", lr=3e-3, scheduler="cosine"),
    "augment-batchnorm": dict(
        batch_size=16,
        optimizer="sgd",
        lr=0.05,
        momentum=0.9,
        nesterov=True,
        scheduler="onecycle",
        label_smoothing=0.1,
        augment=default_train_transform("cifar10"),
        log_interval=3,
    ),
}


def recipe_setup(name, digits_val):
    if name == "sgd-nesterov-onecycle":
        return (lambda seed: models.get("digits-cnn-pool-skip", seed=seed)), digits_val
    if name == "adam-cosine":
        return dropout_mlp, digits_val
    return small_bn_net, synthetic_cifar()


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=pytest.mark.slow) if name == "sgd-nesterov-onecycle" else name
        for name in RECIPES
    ],
)
def test_four_epochs_equal_two_plus_resumed_two(name, digits_val, tmp_path):
    make, dataset = recipe_setup(name, digits_val)
    recipe = RECIPES[name]
    straight = make(0)
    h_straight = quiet_fit(straight, dataset, epochs=4, **recipe)

    first = make(0)
    h_first = quiet_fit(
        first, dataset, epochs=4, callbacks=[StopAfter(2)], checkpoint_dir=tmp_path, **recipe
    )
    assert len(h_first) == 2
    assert load_checkpoint(tmp_path / "last.safetensors")["epoch"] == 2

    resumed = make(1)  # other initial weights: everything must come from the checkpoint
    h_resumed = quiet_fit(
        resumed, dataset, epochs=4, checkpoint_dir=tmp_path, resume=True, **recipe
    )
    assert len(h_resumed) == 4
    assert_same_weights(straight, resumed)
    assert_same_history(h_straight, h_resumed)
    # and training went on after the checkpoint
    half = load_checkpoint(tmp_path / "last.safetensors")
    assert half["epoch"] == 4
    assert not np.array_equal(
        first.state_dict()[next(iter(first.state_dict()))],
        resumed.state_dict()[next(iter(resumed.state_dict()))],
    )


def test_a_constant_rate_run_can_be_extended(digits, tmp_path):
    straight = models.get("digits-cnn-pool", seed=0)
    h_straight = quiet_fit(straight, digits, epochs=3, lr=2e-3)
    quiet_fit(
        models.get("digits-cnn-pool", seed=0), digits, epochs=1, lr=2e-3, checkpoint_dir=tmp_path
    )
    resumed = models.get("digits-cnn-pool", seed=5)
    h = quiet_fit(resumed, digits, epochs=3, lr=2e-3, checkpoint_dir=tmp_path, resume=True)
    assert_same_weights(straight, resumed)
    assert_same_history(h_straight, h)


@pytest.mark.parametrize("scheduler", ["onecycle", "cosine"])
def test_a_scheduled_run_cannot_be_stretched_on_resume(digits, tmp_path, scheduler):
    quiet_fit(
        models.get("digits-baseline", seed=0),
        digits,
        epochs=2,
        scheduler=scheduler,
        checkpoint_dir=tmp_path,
        eval_test=False,
    )
    model = models.get("digits-baseline", seed=0)
    with pytest.raises(ValueError, match="schedule.*planned.*resume with the epochs"):
        quiet_fit(
            model, digits, epochs=4, scheduler=scheduler, checkpoint_dir=tmp_path, resume=True
        )
    # with the original plan it resumes (nothing left to do)
    h = quiet_fit(
        model,
        digits,
        epochs=2,
        scheduler=scheduler,
        checkpoint_dir=tmp_path,
        resume=True,
        eval_test=False,
    )
    assert len(h) == 2


def test_resume_may_add_or_drop_callbacks(digits_val, tmp_path):
    # the first run had an extra callback; the resumed one adds early stopping
    model = models.get("digits-baseline", seed=0)
    quiet_fit(model, digits_val, epochs=3, callbacks=[StopAfter(1)], checkpoint_dir=tmp_path)
    saved_best = load_checkpoint(tmp_path / "last.safetensors")["callbacks"]
    assert [name for name, _ in saved_best] == ["StopAfter", "ModelCheckpoint", "CSVLogger"]
    h = quiet_fit(
        models.get("digits-baseline", seed=3),
        digits_val,
        epochs=3,
        early_stopping=5,
        checkpoint_dir=tmp_path,
        resume=True,
    )
    assert len(h) == 3

    # Trainer level: the ModelCheckpoint of the resumed run gets its own saved state back
    model = models.get("digits-baseline", seed=0)
    d = digits_val
    loader = DataLoader(d.x_train, d.y_train, 64, shuffle=True, seed=0)
    mc = ModelCheckpoint(tmp_path / "t", monitor="val_accuracy")
    es = EarlyStopping("val_loss", patience=9)
    t = Trainer(model, optim.Adam(model.parameters()), callbacks=[es, mc], progress=False)
    t.fit(loader, 2, val_data=(d.x_val, d.y_val))
    mc2 = ModelCheckpoint(tmp_path / "t", monitor="val_accuracy")
    t2 = Trainer(model, optim.Adam(model.parameters()), callbacks=[mc2], progress=False)
    t2.loader = DataLoader(d.x_train, d.y_train, 64, shuffle=True, seed=0)
    t2.load_checkpoint(mc.last_path)
    assert mc2.best == mc.best is not None


# ----------------------------------------------------------------------- Ctrl-C
def test_ctrl_c_mid_epoch_saves_and_resume_matches_an_uninterrupted_run(digits, tmp_path):
    recipe = dict(
        epochs=3,
        batch_size=64,
        optimizer="sgd",
        lr=0.05,
        momentum=0.9,
        scheduler="onecycle",
        eval_test=False,
    )
    straight = dropout_mlp(0)
    h_straight = quiet_fit(straight, digits, **recipe)
    batches = math.ceil(len(digits.y_train) / 64)

    handler_before = signal.getsignal(signal.SIGINT)
    interrupted = dropout_mlp(0)
    with pytest.raises(KeyboardInterrupt):
        quiet_fit(
            interrupted, digits, callbacks=[SendSigint(2, 3)], checkpoint_dir=tmp_path, **recipe
        )
    assert signal.getsignal(signal.SIGINT) is handler_before
    # the batch in flight was finished, then the state saved
    ck = load_checkpoint(tmp_path / "last.safetensors")
    assert ck["epoch"] == 1 and ck["step"] == batches + 3
    assert ck["accumulator"]["batches"] == 3 and ck["loader"]["batches_done"] == 3
    for key, value in interrupted.state_dict().items():
        np.testing.assert_array_equal(ck["model"][key], value, err_msg=key)

    resumed = dropout_mlp(7)
    h = quiet_fit(resumed, digits, checkpoint_dir=tmp_path, resume=True, **recipe)
    assert_same_weights(straight, resumed)
    assert_same_history(h_straight, h)


class Crash(Callback):
    """A run that dies at the end of a given batch without Ctrl-C's checkpoint: what
    SIGKILL or running out of memory looks like to the checkpoint files."""

    def __init__(self, epoch, batch):
        self.epoch, self.batch = epoch, batch

    def on_batch_end(self, trainer, step, logs):
        if (logs["epoch"], logs["batch"]) == (self.epoch, self.batch):
            raise SystemExit("killed")


@pytest.mark.parametrize("every", [0.0, None])
def test_a_killed_run_resumes_from_its_last_timed_checkpoint(digits, tmp_path, every):
    """checkpoint_every=0 writes last.safetensors after every batch: a run killed in
    epoch 2 resumes from the batch before and ends bit-identical to a straight run.
    Per epoch only (None), it resumes from the end of epoch 1, identical too."""
    recipe = dict(epochs=3, batch_size=64, optimizer="sgd", lr=0.05, momentum=0.9,
                  scheduler="onecycle", eval_test=False)  # fmt: skip
    straight = dropout_mlp(0)
    h_straight = quiet_fit(straight, digits, **recipe)
    batches = math.ceil(len(digits.y_train) / 64)
    # Crash runs before fit's ModelCheckpoint: batch 5's checkpoint is never written
    with pytest.raises(SystemExit):
        quiet_fit(dropout_mlp(0), digits, callbacks=[Crash(2, 5)], checkpoint_dir=tmp_path,
                  checkpoint_every=every, **recipe)  # fmt: skip
    ck = load_checkpoint(tmp_path / "last.safetensors")
    assert ck["step"] == (batches + 4 if every == 0.0 else batches)
    resumed = dropout_mlp(7)
    h = quiet_fit(resumed, digits, checkpoint_dir=tmp_path, resume=True, **recipe)
    assert_same_weights(straight, resumed)
    assert_same_history(h_straight, h)


def test_a_second_ctrl_c_mid_step_keeps_the_last_clean_checkpoint(digits, tmp_path):
    recipe = dict(epochs=3, batch_size=64, lr=3e-3, eval_test=False)
    straight = dropout_mlp(0)
    h_straight = quiet_fit(straight, digits, **recipe)
    batches = math.ceil(len(digits.y_train) / 64)

    model = dropout_mlp(0)
    calls = []

    def hard_interrupt(module, inputs, output):  # two Ctrl-C inside a forward pass
        if module.training:
            calls.append(1)
            if len(calls) == batches + 4:
                os.kill(os.getpid(), signal.SIGINT)
                os.kill(os.getpid(), signal.SIGINT)

    handle = model[1].register_forward_hook(hard_interrupt)
    with pytest.raises(KeyboardInterrupt):
        quiet_fit(model, digits, checkpoint_dir=tmp_path, **recipe)
    handle.remove()
    ck = load_checkpoint(tmp_path / "last.safetensors")
    assert ck["epoch"] == 1 and ck["step"] == batches  # not the half-done step of epoch 2
    resumed = dropout_mlp(3)
    h = quiet_fit(resumed, digits, checkpoint_dir=tmp_path, resume=True, **recipe)
    assert_same_weights(straight, resumed)
    assert_same_history(h_straight, h)


def test_ctrl_c_without_a_checkpoint_dir_still_stops_cleanly(digits):
    model = models.get("digits-baseline", seed=0)
    with pytest.raises(KeyboardInterrupt):
        quiet_fit(model, digits, epochs=2, callbacks=[SendSigint(1, 2)])
    assert all(np.isfinite(v).all() for v in model.state_dict().values())


# ----------------------------------------------------------------------- divergence
def test_nan_loss_names_epoch_and_batch_and_keeps_the_last_good_checkpoint(digits, tmp_path):
    model = models.get("digits-cnn-pool", seed=0)
    with pytest.raises(TrainingDivergedError, match=r"epoch 2, batch 6") as info:
        quiet_fit(model, digits, epochs=3, callbacks=[InjectNaN(2, 5)], checkpoint_dir=tmp_path)
    assert "last.safetensors" in str(info.value)
    assert isinstance(info.value, FloatingPointError)
    ck = load_checkpoint(tmp_path / "last.safetensors")
    assert ck["epoch"] == 1 and len(ck["history"]["epochs"]) == 1
    fresh = models.get("digits-cnn-pool", seed=1)
    fresh.load_state_dict(ck["model"])
    assert all(np.isfinite(v).all() for v in fresh.state_dict().values())
    assert 0.1 < evaluate(fresh, digits)["accuracy"] <= 1


def test_nan_weights_after_the_last_batch_of_an_epoch_are_not_checkpointed(digits, tmp_path):
    batches = math.ceil(len(digits.y_train) / 64)
    model = models.get("digits-baseline", seed=0)
    with pytest.raises(TrainingDivergedError, match=rf"epoch 2, batch {batches}\b"):
        quiet_fit(
            model, digits, epochs=3, callbacks=[InjectNaN(2, batches)], checkpoint_dir=tmp_path
        )
    ck = load_checkpoint(tmp_path / "last.safetensors")
    assert ck["epoch"] == 1
    assert all(np.isfinite(v).all() for v in ck["model"].values())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow on the way to NaN
def test_a_huge_learning_rate_diverges_with_a_clear_error(digits):
    model = models.get("digits-cnn-pool-skip", seed=0)
    with pytest.raises(TrainingDivergedError, match=r"epoch 1, batch \d+.*learning rate"):
        quiet_fit(model, digits, epochs=2, optimizer="sgd", lr=1e4)


def test_a_loss_that_explodes_stops_the_run_without_numpy_warnings(digits):
    """Adam at lr 1e9 kept finite weights (its second moment overflowed to inf and froze
    the steps) and reported 40% accuracy at loss 2.6e9: an exploded loss is divergence,
    said once, without NumPy's RuntimeWarning lines."""
    import warnings

    model = models.get("digits-cnn-pool-skip", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any RuntimeWarning on the way fails the test
        with pytest.raises(TrainingDivergedError, match=r"the loss rose to .* at epoch 1, batch"):
            quiet_fit(model, digits, epochs=2, optimizer="adam", lr=1e9)


def test_a_float_overflow_inside_a_step_is_divergence(digits):
    class Huge(nn.Module):  # a layer whose backward overflows float32
        def forward(self, x):
            return x

        def backward(self, g):
            return g * np.float32(1e38) * np.float32(1e38)

    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10), Huge())
    said = r"left float32's range \(overflow encountered\) at epoch 1, batch 1"
    with pytest.raises(TrainingDivergedError, match=said):
        quiet_fit(model, digits, epochs=1)


def test_the_divergence_reference_survives_a_resume(digits, tmp_path):
    model = models.get("digits-baseline", seed=0)
    quiet_fit(model, digits, epochs=1, checkpoint_dir=tmp_path)
    first = load_checkpoint(tmp_path / "last.safetensors")["first_loss"]
    assert 1.5 < first < 3.5  # about ln(10), the untrained loss
    trainer, loader = make_trainer(digits, [], model=models.get("digits-baseline", seed=0))
    trainer.load_checkpoint(tmp_path / "last.safetensors")
    assert trainer.first_loss == first


def test_one_default_batch_size_for_fit_train_and_compare():
    import inspect

    from glassnet.study import CompareConfig, TrainConfig

    fit_default = inspect.signature(fit).parameters["batch_size"].default
    assert fit_default == TrainConfig().batch_size == CompareConfig().batch_size == 32


def test_a_batch_larger_than_the_training_set_is_warned(digits):
    model = models.get("digits-baseline", seed=0)
    with pytest.warns(UserWarning, match=r"batch size 5000 is larger than the 1438 training"):
        quiet_fit(model, digits, epochs=1, batch_size=5000)


# ----------------------------------------------------------------------- callbacks
def make_trainer(digits, callbacks, model=None, lr=3e-3, scheduler=None):
    model = model if model is not None else models.get("digits-baseline", seed=0)
    opt = optim.Adam(model.parameters(), lr=lr)
    if callable(scheduler):
        scheduler = scheduler(opt)
    loader = DataLoader(digits.x_train, digits.y_train, 64, shuffle=True, seed=0)
    return Trainer(model, opt, scheduler=scheduler, callbacks=callbacks, progress=False), loader


def test_early_stopping_stops_and_restores_the_best_weights(digits):
    snaps = Snapshots()
    es = EarlyStopping("score", patience=2, mode="min", restore_best_weights=True)
    trainer, loader = make_trainer(
        digits, [Scripted("score", [0.5, 0.4, 0.45, 0.41, 0.3]), snaps, es]
    )
    history = trainer.fit(loader, epochs=5)
    assert len(history) == 4 and trainer.epoch == 4
    assert (es.best_epoch, es.best, es.stopped_epoch) == (2, 0.4, 4)
    final = trainer.model.state_dict()
    for key in final:
        np.testing.assert_array_equal(final[key], snaps.states[2][key])
    assert not np.array_equal(snaps.states[2]["1.weight"], snaps.states[4]["1.weight"])


def test_early_stopping_without_restoring_keeps_the_last_weights(digits):
    snaps = Snapshots()
    es = EarlyStopping("score", patience=1, mode="max", min_delta=0.05)
    trainer, loader = make_trainer(digits, [Scripted("score", [0.5, 0.52, 0.9]), snaps, es])
    trainer.fit(loader, epochs=3)
    assert es.stopped_epoch == 2 and es.best_epoch == 1  # +0.02 < min_delta
    np.testing.assert_array_equal(
        trainer.model.state_dict()["1.weight"], snaps.states[2]["1.weight"]
    )


def test_a_run_that_stopped_early_stays_stopped_on_resume(digits, tmp_path):
    """Resuming the checkpoint of a run that early stopping ended must not train on,
    unless the patience is raised."""
    path = tmp_path / "last.safetensors"
    es = EarlyStopping("score", patience=1, mode="max")
    trainer, loader = make_trainer(digits, [Scripted("score", [0.5, 0.4, 0.6, 0.7]), es])
    trainer.fit(loader, epochs=4)
    assert trainer.epoch == 2 and es.stopped_epoch == 2
    trainer.save_checkpoint(path)
    for patience, epochs in ((1, 2), (2, 3)):  # patience 2: epoch 3 improves, 4 too
        es = EarlyStopping("score", patience=patience, mode="max")
        again, loader = make_trainer(digits, [Scripted("score", [0.5, 0.4, 0.6, 0.7]), es])
        again.fit(loader, epochs=3, resume=path)
        assert again.epoch == epochs and len(again.history) == epochs
        assert es.stopped_epoch == (2 if patience == 1 else None)


def test_early_stopping_names_a_metric_that_is_not_recorded(digits):
    trainer, loader = make_trainer(digits, [EarlyStopping("val_loss")])
    with pytest.raises(KeyError, match="EarlyStopping monitors 'val_loss'.*train_loss"):
        trainer.fit(loader, epochs=1)
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(mode="biggest")


def test_fit_early_stopping_on_the_validation_loss(digits):
    d = digits
    # validation labels shifted by one: the better the model learns, the worse its val loss
    wrong = (d.x_test, (d.y_test + 1) % 10)
    model = models.get("digits-baseline", seed=0)
    h = quiet_fit(model, (d.x_train, d.y_train, *wrong), epochs=10, lr=3e-3, early_stopping=2)
    assert len(h) == 3
    assert h.best("val_loss", mode="min")[0] == 1
    assert h["train_loss"][2] < h["train_loss"][0]


def test_model_checkpoint_names_a_metric_that_is_not_recorded(digits, tmp_path):
    """As EarlyStopping: best.safetensors would otherwise never be written, silently."""
    trainer, loader = make_trainer(digits, [ModelCheckpoint(tmp_path, monitor="val_loss")])
    with pytest.raises(KeyError, match="ModelCheckpoint monitors 'val_loss'.*train_loss"):
        trainer.fit(loader, epochs=1)
    assert [p.name for p in tmp_path.iterdir()] == ["last.safetensors"]  # the epoch is kept


def test_model_checkpoint_writes_best_and_last(digits, tmp_path):
    from glassnet.study.train_run import load_model

    snaps = Snapshots()
    mc = ModelCheckpoint(tmp_path, monitor="score", mode="max")
    trainer, loader = make_trainer(digits, [Scripted("score", [0.1, 0.9, 0.5]), snaps, mc])
    trainer.fit(loader, epochs=3, test_data=(digits.x_test, digits.y_test))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.safetensors", "last.safetensors"]
    best = glassnet.load_state(mc.best_path)
    for key, value in snaps.states[2].items():
        np.testing.assert_array_equal(best[key], value)
    _, meta = load_arrays(mc.best_path)
    assert (
        meta["epoch"] == "2" and meta["monitor"] == "score" and meta["model"] == "digits-baseline"
    )
    rebuilt = load_model(mc.best_path)  # the zoo name in the metadata rebuilds the model
    for key, value in rebuilt.state_dict().items():
        np.testing.assert_array_equal(value, snaps.states[2][key])
    last = load_checkpoint(mc.last_path)
    assert last["epoch"] == 3 and len(last["history"]["epochs"]) == 3
    for key, value in snaps.states[3].items():
        np.testing.assert_array_equal(last["model"][key], value)


def test_csv_logger_rewrites_the_file_every_epoch(digits, tmp_path):
    path = tmp_path / "logs" / "history.csv"
    seen = []

    class Peek(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            seen.append(path.read_text().count("\n"))

    trainer, loader = make_trainer(digits, [CSVLogger(path), Peek()])
    history = trainer.fit(loader, epochs=3, test_data=(digits.x_test, digits.y_test))
    assert seen == [2, 3, 4]  # header + one row per finished epoch
    assert path.read_text() == history.to_csv()
    assert path.read_text().splitlines()[0].startswith("epoch,train_loss,train_accuracy,test_loss")


# ----------------------------------------------------------------------- schedulers
def test_onecycle_is_stepped_per_batch_up_then_down(digits):
    lrs = LrPerBatch()
    model = models.get("digits-baseline", seed=0)
    h = quiet_fit(
        model,
        digits,
        epochs=3,
        batch_size=64,
        lr=0.01,
        scheduler="onecycle",
        callbacks=[lrs],
        eval_test=False,
    )
    batches = math.ceil(len(digits.y_train) / 64)
    total = 3 * batches
    assert len(lrs.lrs) == total
    lr = np.array(lrs.lrs)  # the rate of every training step
    peak = int(lr.argmax())
    assert abs(peak - 0.3 * total) <= 2
    assert np.all(np.diff(lr[: peak + 1]) > 0) and np.all(np.diff(lr[peak:]) < 0)
    assert lr[0] == pytest.approx(0.01 / 25)  # max_lr / div_factor
    assert lr.max() == pytest.approx(0.01, rel=1e-3)
    assert lr[-1] == pytest.approx(0.01 / 25 / 1e4)  # ... / final_div_factor
    assert h["lr"][:2] == [lrs.lrs[e * batches] for e in (1, 2)]  # the rate after each epoch


def test_cosine_is_stepped_per_epoch(digits):
    lrs = LrPerBatch()
    model = models.get("digits-baseline", seed=0)
    h = quiet_fit(
        model, digits, epochs=4, lr=0.01, scheduler="cosine", callbacks=[lrs], eval_test=False
    )
    expected = [0.01 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)]
    assert h["lr"] == pytest.approx(expected)
    per_epoch = np.array(lrs.lrs).reshape(4, -1)
    assert np.all(per_epoch == per_epoch[:, :1])  # constant within an epoch


def test_reduce_lr_on_plateau_by_name(digits_val):
    model = models.get("digits-baseline", seed=0)
    h = quiet_fit(
        model, digits_val, epochs=6, optimizer="sgd", lr=1e-6, scheduler="plateau", eval_test=False
    )
    # patience 2: the 4th epoch without improvement of the validation loss cuts the rate
    assert h["lr"] == pytest.approx([1e-6] * 4 + [1e-7] * 2)


@pytest.mark.parametrize("with_val", [True, False])
def test_reduce_lr_on_plateau_watches_the_validation_loss(digits_val, with_val):
    d = digits_val

    def plateau(opt):
        return optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)

    trainer, loader = make_trainer(d, [], scheduler=plateau)
    assert trainer.scheduler_interval == "epoch"
    h = trainer.fit(loader, epochs=3, val_data=(d.x_val, d.y_val) if with_val else None)
    watched = h["val_loss"] if with_val else h["train_loss"]
    assert trainer.scheduler.best == min(watched)


def test_trainer_argument_checks(digits):
    model = models.get("digits-baseline", seed=0)
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="scheduler_interval"):
        Trainer(model, opt, scheduler_interval="sometimes")
    trainer = Trainer(model, opt, progress=False)
    with pytest.raises(ValueError, match="epochs"):
        trainer.fit(DataLoader(digits.x_train, digits.y_train, 64), epochs=0)


# ----------------------------------------------------------------------- evaluate / predict
def test_evaluate_returns_everything_and_restores_the_mode(digits):
    model = models.get("digits-cnn-pool", seed=0)
    quiet_fit(model, digits, epochs=1, eval_test=False)
    model.train()
    result = evaluate(model, digits)
    assert model.training
    logits = predict(model, digits.x_test)
    loss = nn.CrossEntropyLoss()(logits, digits.y_test)
    assert result["loss"] == pytest.approx(loss)
    np.testing.assert_array_equal(result["logits"], logits)
    pred = logits.argmax(1)
    np.testing.assert_array_equal(result["predictions"], pred)
    assert result["accuracy"] == pytest.approx(np.mean(pred == digits.y_test))
    assert result["n"] == len(digits.y_test)
    cm = result["confusion_matrix"]
    assert cm.shape == (10, 10) and cm.sum() == len(digits.y_test)
    assert np.trace(cm) == np.sum(pred == digits.y_test)
    np.testing.assert_array_equal(result["per_class_errors"], cm.sum(1) - np.diag(cm))
    np.testing.assert_array_equal(result["misclassified"], np.flatnonzero(pred != digits.y_test))
    model.eval()
    evaluate(model, digits)
    assert not model.training
    # an (x, y) pair works too, and other splits
    small = evaluate(model, (digits.x_test[:10], digits.y_test[:10]), details=False)
    assert set(small) == {"loss", "accuracy", "n"} and small["n"] == 10
    train = evaluate(model, digits, split="train")
    assert train["n"] == len(digits.y_train)
    with pytest.raises(ValueError, match="no 'val' split"):
        evaluate(model, digits, split="val")
    with pytest.raises(TypeError, match="Dataset"):
        evaluate(model, digits.x_test)


def test_evaluate_uses_evaluation_mode_and_leaves_batchnorm_alone():
    x, y, *_ = synthetic_cifar(32, 1)
    model = small_bn_net(0)
    model.train()
    model(x)  # some running statistics
    before = model.state_dict()
    result = evaluate(model, (x, y))
    after = model.state_dict()
    for key in before:
        np.testing.assert_array_equal(before[key], after[key], err_msg=key)
    model.eval()
    np.testing.assert_allclose(result["logits"], model(x), rtol=1e-5, atol=1e-6)
    model.train()
    assert not np.allclose(result["logits"], model(x), atol=1e-3)  # BN batch stats + dropout


def test_evaluate_restores_each_submodules_mode():
    """A BatchNorm frozen in eval mode inside a training model stays frozen: restoring
    only the top module's flag with model.train(True) would unfreeze it."""
    x, y, *_ = synthetic_cifar(8, 1)
    model = small_bn_net(0).train()
    frozen = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert frozen
    for m in frozen:
        m.eval()
    modes = [m.training for m in model.modules()]
    evaluate(model, (x, y))
    predict(model, x)
    assert [m.training for m in model.modules()] == modes


def test_predict_on_no_images_has_the_models_width_and_evaluate_says_so(digits):
    model = models.get("digits-cnn-pool-skip", seed=0)
    assert predict(model, digits.x_test[:0]).shape == (0, 10)
    with pytest.raises(ValueError, match="evaluate: the data holds no images"):
        evaluate(model, (digits.x_test[:0], digits.y_test[:0]))


def test_predict_goes_batch_by_batch(digits):
    model = models.get("digits-cnn-pool-skip", seed=0)
    sizes = []
    model.register_forward_hook(lambda m, inputs, out: sizes.append(len(inputs[0])))
    x = digits.x_test[:100]
    out = predict(model, x, batch_size=32)
    assert sizes == [32, 32, 32, 4]
    assert out.shape == (100, 10) and out.dtype == np.float32
    np.testing.assert_allclose(out, predict(model, x, batch_size=1000), rtol=1e-5, atol=1e-6)


def test_a_plateau_scheduler_cannot_step_per_batch():
    model = models.get("digits-baseline", seed=0)
    opt = optim.SGD(model.parameters(), lr=0.1)
    plateau = optim.lr_scheduler.ReduceLROnPlateau(opt)
    with pytest.raises(ValueError, match="ReduceLROnPlateau steps once per epoch"):
        Trainer(model, opt, scheduler=plateau, scheduler_interval="batch")
    Trainer(model, opt, scheduler=plateau)  # auto: per epoch


# ----------------------------------------------------------------------- time budget
class StopAtStep(Callback):
    def __init__(self, step):
        self.step = step

    def on_batch_end(self, trainer, step, logs):
        if step == self.step:
            trainer.stop_training = True


def test_a_callback_can_stop_inside_an_epoch_which_is_then_closed(digits):
    trainer, loader = make_trainer(digits, [StopAtStep(len_loader := 5)])
    history = trainer.fit(loader, epochs=3)
    assert trainer.step == len_loader and trainer.epoch == 1 and len(history) == 1
    assert len(loader) > len_loader  # the stop came inside the epoch
    e = history.epochs[0]
    assert 0 <= e["train_accuracy"] <= 1 and math.isfinite(e["train_loss"])
    assert trainer.train_seconds == e["seconds"] > 0


@pytest.fixture
def step_clock(monkeypatch):
    """The Trainer's clock reads one second per finished training step."""
    monkeypatch.setattr(Trainer, "train_seconds", property(lambda trainer: float(trainer.step)))


def onecycle_lr(position, max_lr, total=10_000):
    """OneCycleLR's rate at ``position`` (pct_start 0.3, cos, the default factors)."""
    initial, end_up = max_lr / 25, 0.3 * total - 1
    low = initial / 1e4

    def anneal(a, b, pct):
        return b + (a - b) * (1 + math.cos(math.pi * pct)) / 2

    if position <= end_up:
        return anneal(initial, max_lr, position / end_up)
    return anneal(max_lr, low, (position - end_up) / (total - 1 - end_up))


def test_time_budget_stops_after_the_batch_that_spends_it(digits, step_clock):
    batches = math.ceil(len(digits.y_train) / 64)
    budget = batches + 7.5  # spent during the ninth batch of epoch 2
    model = models.get("digits-baseline", seed=0)
    h = quiet_fit(model, digits, epochs=50, batch_size=64, time_budget=budget)
    assert len(h) == 2 and h.meta["time_budget"] == budget
    assert h.iterations[-1]["step"] <= batches + 8
    # epoch 2 was closed with its 8 batches: evaluated and logged like the first
    assert {"test_accuracy", "train_loss", "seconds"} <= set(h.epochs[1])


def test_onecycle_with_a_time_budget_follows_the_share_of_time_spent(digits, step_clock):
    lrs = LrPerBatch()
    model = models.get("digits-baseline", seed=0)
    h = quiet_fit(
        model,
        digits,
        epochs=50,
        batch_size=64,
        lr=0.01,
        scheduler="onecycle",
        time_budget=40.0,
        callbacks=[lrs],
        eval_test=False,
    )
    assert len(lrs.lrs) == 40 and h.meta["scheduler"] == "OneCycleLR over the time budget"
    # step k+1 runs at the schedule's position floor(k / 40 * 10000) = 250 k
    expected = [onecycle_lr(250 * k, 0.01) for k in range(40)]
    np.testing.assert_allclose(lrs.lrs, expected, rtol=1e-12)
    assert int(np.argmax(lrs.lrs)) == 12  # the warm-up fills 30% of the budget


def test_a_resumed_run_whose_budget_is_spent_trains_no_further(digits, step_clock, tmp_path):
    model = models.get("digits-baseline", seed=0)
    kw = dict(epochs=50, batch_size=64, time_budget=10.0, checkpoint_dir=tmp_path)
    h1 = quiet_fit(model, digits, scheduler="onecycle", **kw)
    before = model.state_dict()
    h2 = quiet_fit(model, digits, scheduler="onecycle", resume=True, **kw)
    assert len(h2) == len(h1) == 1
    assert h2.iterations == h1.iterations
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_a_run_interrupted_in_its_budget_resumes_along_its_schedule(digits, step_clock, tmp_path):
    """Ctrl-C after 10 steps of a 40-second budget, then resumed: one 40 s run's rates."""
    whole = LrPerBatch()
    kw = dict(epochs=50, batch_size=64, lr=0.01, scheduler="onecycle", eval_test=False)
    quiet_fit(
        models.get("digits-baseline", seed=0), digits, time_budget=40.0, callbacks=[whole], **kw
    )

    model, first, rest = models.get("digits-baseline", seed=0), LrPerBatch(), LrPerBatch()
    with pytest.raises(KeyboardInterrupt):
        quiet_fit(
            model,
            digits,
            time_budget=40.0,
            checkpoint_dir=tmp_path,
            callbacks=[first, SendSigint(1, 10)],
            **kw,
        )
    quiet_fit(
        model,
        digits,
        time_budget=40.0,
        checkpoint_dir=tmp_path,
        resume=True,
        callbacks=[rest],
        **kw,
    )
    assert first.lrs + rest.lrs == pytest.approx(whole.lrs, rel=1e-12)


def test_time_budget_on_the_real_clock(digits):
    model = models.get("digits-baseline", seed=0)
    h = quiet_fit(model, digits, epochs=10_000, batch_size=64, time_budget=0.2, eval_test=False)
    spent = sum(e["seconds"] for e in h.epochs)
    assert 0.2 <= spent and len(h) < 10_000
    # the last epoch stopped at the first batch past the budget
    assert spent - 0.2 < h.epochs[-1]["seconds"]


@pytest.mark.parametrize("scheduler", ["cosine", "step", "exponential"])
def test_time_budget_refuses_a_schedule_that_counts_epochs(digits, scheduler):
    model = models.get("digits-baseline", seed=0)
    with pytest.raises(ValueError, match="counts epochs"):
        quiet_fit(model, digits, epochs=2, scheduler=scheduler, time_budget=5)


@pytest.mark.parametrize("seconds", [0, -1, float("nan"), float("inf")])
def test_time_budget_must_be_a_positive_number_of_seconds(seconds):
    with pytest.raises(ValueError, match="positive number of seconds"):
        TimeBudget(seconds)


def test_time_budget_drives_only_a_per_step_schedule():
    model = models.get("digits-baseline", seed=0)
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(TypeError, match="total_steps"):
        TimeBudget(10, scheduler=optim.lr_scheduler.StepLR(opt, step_size=2))


# ------------------------------------------------------------- bad arguments and data
def test_one_hot_targets_train_and_evaluate_like_class_indices(digits):
    """Accuracy reads one-hot (or probability) targets by their most likely class, as
    Keras's categorical accuracy does; before, the comparison broadcast and failed."""
    eye = np.eye(10, dtype=np.float32)
    x, y = digits.x_train[:256], digits.y_train[:256]
    runs = []
    for targets in (y, eye[y]):
        model = models.get("digits-baseline")
        runs.append(fit(model, (x, targets), epochs=2, progress=False))
    a, b = (r.epochs[-1] for r in runs)
    assert a["train_accuracy"] == b["train_accuracy"]
    assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
    model = models.get("digits-baseline")
    mse = fit(model, (x, eye[y]), epochs=1, loss="mse", progress=False)
    assert 0 <= mse.epochs[-1]["train_accuracy"] <= 1
    plain = evaluate(model, (digits.x_test, digits.y_test), details=False)
    hot = evaluate(model, (digits.x_test, eye[digits.y_test]), loss_fn=nn.MSELoss(), details=False)
    assert plain["accuracy"] == hot["accuracy"]


@pytest.mark.parametrize("where", ["x_train", "x_val", "x_test"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_fit_names_the_first_sample_holding_nan_or_inf(digits, where, bad):
    x = {k: digits.x_train[:64].copy() for k in ("x_train", "x_val", "x_test")}
    y = digits.y_train[:64]
    x[where][37, 0, 3, 3] = bad
    model = models.get("digits-baseline")
    before = [p.data.copy() for p in model.parameters()]
    with pytest.raises(ValueError, match=f"fit: {where} holds NaN or inf \\(first at sample 37\\)"):
        fit(model, (x["x_train"], y, x["x_val"], y, x["x_test"], y), epochs=1, progress=False)
    assert all(np.array_equal(p.data, q) for p, q in zip(model.parameters(), before))


def test_evaluate_refuses_nan_input_and_a_misspelt_split(digits):
    model = models.get("digits-baseline")
    x = digits.x_test.copy()
    x[5, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"evaluate: x holds NaN or inf \(first at sample 5\)"):
        evaluate(model, (x, digits.y_test))
    with pytest.raises(ValueError, match="split must be one of 'train', 'val', 'test', got 'valid"):
        evaluate(model, digits, split="validation")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(epochs=1.5), "epochs must be a whole number, at least 1, got 1.5"),
        (dict(epochs="2"), "epochs must be a whole number, at least 1, got '2'"),
        (dict(epochs=0), "epochs must be a whole number, at least 1, got 0"),
        (dict(early_stopping=-1), "early_stopping is a patience in epochs.*got -1"),
        (dict(early_stopping=0.5), "early_stopping is a patience in epochs.*got 0.5"),
    ],
)
def test_fit_refuses_counts_that_are_not_whole_numbers(digits_val, kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit(models.get("digits-baseline"), digits_val, progress=False, **kwargs)


def test_fit_refuses_an_empty_training_set_and_predict_a_zero_batch(digits):
    model = models.get("digits-baseline")
    with pytest.raises(ValueError, match="no training images"):
        fit(model, (digits.x_train[:0], digits.y_train[:0]), epochs=1, progress=False)
    with pytest.raises(ValueError, match="batch_size must be at least 1, got 0"):
        predict(model, digits.x_test, batch_size=0)
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        evaluate(model, digits, batch_size=2.5)


def test_a_second_run_into_the_same_checkpoint_dir_is_refused(digits_val, tmp_path):
    model = models.get("digits-baseline")
    fit(model, digits_val, epochs=2, checkpoint_dir=tmp_path, progress=False)
    before = (tmp_path / "last.safetensors").read_bytes()
    with pytest.raises(FileExistsError, match="holds an earlier run.*resume=True"):
        fit(models.get("digits-baseline"), digits_val, epochs=1, checkpoint_dir=tmp_path)
    assert (tmp_path / "last.safetensors").read_bytes() == before
    again = fit(
        models.get("digits-baseline"), digits_val, epochs=3, checkpoint_dir=tmp_path,
        resume=True, progress=False,
    )  # fmt: skip
    assert len(again.epochs) == 3


def test_resume_with_another_optimizer_is_refused(digits_val, tmp_path):
    model = models.get("digits-baseline")
    fit(model, digits_val, epochs=1, checkpoint_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="trained with Adam, this run builds SGD"):
        fit(
            models.get("digits-baseline"), digits_val, epochs=2, optimizer="sgd", lr=0.5,
            checkpoint_dir=tmp_path, resume=True, progress=False,
        )  # fmt: skip


def test_a_checkpoint_dir_that_is_a_file_is_refused_before_training(digits, tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("mine")
    started = []

    class Started(Callback):
        def on_train_begin(self, trainer):
            started.append(True)

    for folder, said in ((a_file, "is a file, not a folder"), (a_file / "ck", "is a file")):
        with pytest.raises(NotADirectoryError, match=said):
            quiet_fit(models.get("digits-baseline", seed=0), digits, epochs=1,
                      checkpoint_dir=folder, callbacks=[Started()])  # fmt: skip
    assert started == [] and a_file.read_text() == "mine"
