"""glassnet sweep: the search space, trials, selection on the validation split, failures,
Ctrl-C and --resume, worker processes, the report, and the command line's errors.

Every sweep here trains the digits baseline for an epoch or two (a few hundredths of a
second a trial)."""

from __future__ import annotations

import csv
import importlib
import json
import math
import os
import socket
import sys
import types

import numpy as np
import pytest

import glassnet
from _cli import run
from glassnet.io import read_json
from glassnet.study import backends
from glassnet.study.sweep_space import format_value, random_settings

sweep_module = importlib.import_module("glassnet.study.sweep")  # glassnet.study.sweep: the function
SweepConfig = sweep_module.SweepConfig


def quiet(*args, **kwargs):
    pass


def comparable(trials):
    """Trial records without their timings (which differ run to run), by key."""
    return {
        t["key"]: {
            k: v
            for k, v in t.items()
            if "seconds" not in k and k != "history" and k != "wall_seconds"
        }
        | {
            "history": [
                {k: v for k, v in e.items() if k != "seconds"} for e in t.get("history", [])
            ]
        }
        for t in trials
    }


# ------------------------------------------------------------------------ the space
def test_a_grid_is_every_combination_of_typed_values():
    config = SweepConfig(grid="lr=1e-3,1e-2 hidden=30,128 activation=ReLU").validate()
    settings = config.settings()
    assert settings == [
        {"lr": 0.001, "hidden": 30, "activation": "relu"},
        {"lr": 0.001, "hidden": 128, "activation": "relu"},
        {"lr": 0.01, "hidden": 30, "activation": "relu"},
        {"lr": 0.01, "hidden": 128, "activation": "relu"},
    ]
    assert isinstance(settings[0]["lr"], float) and isinstance(settings[0]["hidden"], int)
    assert config.count_trials() == 4


def test_grids_are_united_without_repeats_and_seeds_multiply_trials():
    config = SweepConfig(
        grid=["lr=0.01,0.1", {"lr": [0.1, 0.3], "optimizer": ["sgd"]}, "lr=0.01"], seeds=3
    ).validate()
    assert config.settings() == [
        {"lr": 0.01},
        {"lr": 0.1},
        {"lr": 0.1, "optimizer": "sgd"},
        {"lr": 0.3, "optimizer": "sgd"},
    ]
    trials = config.trials()
    assert len(trials) == 12 and len({t["key"] for t in trials}) == 12
    assert sorted({t["seed"] for t in trials}) == [0, 1, 2]


def test_a_trial_is_the_shared_recipe_with_its_setting():
    config = SweepConfig(
        grid="lr=0.05 hidden=16 normalization=unit", epochs=3, model_args={"activation": "relu"}
    ).validate()
    trial = config.trials()[0]["config"]
    assert trial["lr"] == 0.05 and trial["epochs"] == 3 and trial["normalization"] == "unit"
    assert trial["model_args"] == {"activation": "relu", "hidden": 16}
    assert trial["val_size"] == 0.1 and trial["model"] == "baseline"


def test_random_search_samples_ranges_reproducibly_and_log_uniformly():
    space = {
        "lr": "1e-4..1e-1",
        "hidden": "16..256",
        "activation": "relu,tanh",
        "momentum": "0..0.9",
    }
    config = SweepConfig(random=space, samples=400).validate()
    assert config.random["lr"]["scale"] == "log" and config.random["momentum"]["scale"] == "linear"
    settings = config.settings()
    assert settings == SweepConfig(random=space, samples=400).validate().settings()
    lrs = np.array([s["lr"] for s in settings])
    assert lrs.min() >= 1e-4 * 0.999 and lrs.max() <= 0.1 * 1.001
    # log-uniform: about a third of the draws in each decade
    share = np.mean(lrs < 1e-3)
    assert 0.25 < share < 0.42
    assert all(isinstance(s["hidden"], int) and 16 <= s["hidden"] <= 256 for s in settings)
    assert {s["activation"] for s in settings} == {"relu", "tanh"}
    other = random_settings(config.random, 5, seed=1)
    assert other != settings[:5]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"grid": "lrr=0.1"}, r"unknown setting 'lrr'.*recipe \(lr, batch_size"),
        ({"grid": "hidden=abc"}, "hidden takes widths"),
        ({"grid": "lr=-1"}, "lr must be > 0"),
        ({"grid": "epochs=1.5"}, "epochs takes whole numbers"),
        ({"grid": "nesterov=maybe"}, "nesterov takes true or false"),
        ({"grid": ""}, "the grid is empty"),
        ({"grid": "lr="}, "empty value"),
        ({"grid": "lr=1e-3..1e-1"}, "is a range"),
        ({"grid": "seed=1,2"}, "seed is not swept: it is set with --seeds"),
        (
            {"grid": "activation=relu", "models": ["cnn"]},
            r"unknown setting 'activation'.*knobs \(filters, hidden\)",
        ),
        (
            {"grid": "activation=relu", "models": ["baseline", "cnn"]},
            "model 'cnn' has no knob activation; its knobs: filters, hidden",
        ),
        ({"grid": "activation=swish"}, "unknown activation 'swish'"),
        ({"grid": "lr=0.1", "val_size": 0}, "validation split.*never chooses on the test set"),
        ({"grid": "lr=0.1", "random": "lr=1e-3..1"}, "not both"),
        ({"random": "lr=1e-3..1"}, "needs a number of samples"),
        ({"random": "lr=1..0.1", "samples": 3}, "low end must be below"),
        ({"random": "activation=relu..tanh", "samples": 3}, "list them, not a range"),
        ({}, "nothing to search"),
        ({"study": "depth"}, "unknown study 'depth'"),
    ],
)
def test_bad_spaces_get_one_clear_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        config = SweepConfig(**kwargs).validate()
        sweep_module._check_trial_recipes(config, config.trials())  # builds every model


def test_every_study_is_a_valid_sweep_of_the_models_it_suits():
    for name in glassnet.study.STUDIES:
        config = SweepConfig(study=name, models=["baseline", "mnist-mlp"]).validate()
        assert config.count_settings() >= 2, name
    digits = SweepConfig(study="train-size").validate()
    assert digits.settings() == [{"train_size": 200}, {"train_size": None}]
    mnist = SweepConfig(study="train-size", dataset="mnist", models=["mnist-mlp"]).validate()
    assert mnist.settings() == [{"train_size": 2000}, {"train_size": None}]
    optimizer = SweepConfig(study="optimizer").validate().settings()
    assert {s["optimizer"] for s in optimizer} == {"sgd", "adam"}
    assert sum(bool(s.get("nesterov")) for s in optimizer) == 4


def test_a_million_trials_need_yes(tmp_path):
    grid = " ".join(
        f"{name}={','.join(str(v) for v in values)}"
        for name, values in {
            "lr": [0.001 * (i + 1) for i in range(10)],
            "momentum": [0.05 * i for i in range(10)],
            "weight_decay": [1e-5 * i for i in range(10)],
            "label_smoothing": [0.01 * i for i in range(10)],
            "hidden": range(10, 20),
            "batch_size": range(20, 30),
        }.items()
    )
    with pytest.raises(ValueError, match=r"1,000,000 trials.*--yes"):
        glassnet.study.sweep(grid=grid, out=tmp_path / "big", log=quiet)
    assert not (tmp_path / "big").exists()


# ------------------------------------------------------------------------ selection
def _record(setting, seed, val, test, status="ok"):
    return {
        "key": f"{setting}-{seed}",
        "setting": setting,
        "settings": {"lr": [0.01, 0.1, 1.0][setting]},
        "model": "baseline",
        "engine": "glassnet",
        "seed": seed,
        "status": status,
        "reason": None if status == "ok" else "loss is nan",
        "val_accuracy": val,
        "val_loss": None if val is None else 1 - val,
        "train_accuracy": None if val is None else val + 0.01,
        "test_accuracy": test,
        "seconds": 0.1,
        "params": 10,
        "history": [],
    }


def test_the_choice_is_made_on_validation_never_on_test():
    config = SweepConfig(grid="lr=0.01,0.1,1.0", seeds=2).validate()
    records = [
        _record(0, 0, 0.90, 0.99),  # the best test accuracy, a worse validation one
        _record(0, 1, 0.92, 0.99),
        _record(1, 0, 0.95, 0.80),
        _record(1, 1, 0.93, 0.82),
        _record(2, 0, 0.99, 0.99),  # the best validation seed, but the other seed diverged
        _record(2, 1, None, None, status="diverged"),
    ]
    results = sweep_module.summarize(config, records)
    best = results["best"]
    assert best["settings"] == {"lr": 0.1}
    assert best["val_accuracy_mean"] == pytest.approx(0.94)
    assert best["val_accuracy_std"] == pytest.approx(np.std([0.95, 0.93], ddof=1))
    assert best["test_accuracy_mean"] == pytest.approx(0.81)
    assert best["config"]["lr"] == 0.1 and best["config"]["seed"] == 0
    ranks = {r["setting"]: r.get("rank") for r in results["settings"]}
    assert ranks == {1: 1, 0: 2, 2: None}
    assert results["counts"] == {"ok": 5, "diverged": 1, "failed": 0}


# ------------------------------------------------------------------------ real sweeps
GRID = "lr=0.003,0.03 hidden=8,32"


def test_a_sweep_writes_its_folder_and_its_choice_repeats_with_train(tmp_path, capsys):
    out, results = glassnet.study.sweep(
        grid=GRID, seeds=2, epochs=2, out=tmp_path / "sweep", jobs=1, log=quiet
    )
    for name in ("config.json", "results.json", "results.csv", "best_config.json", "report.html"):
        assert (out / name).is_file(), name
    assert not (out / "sweep.lock").exists()
    trials = results["trials"]
    assert len(trials) == 8 and all(t["status"] == "ok" for t in trials)
    assert len(list((out / "trials").glob("*.json"))) == 8
    # the choice: the highest mean validation accuracy over the two seeds
    means = {}
    for t in trials:
        means.setdefault(json.dumps(t["settings"], sort_keys=True), []).append(t["val_accuracy"])
    chosen = max(means, key=lambda k: np.mean(means[k]))
    assert results["best"]["settings"] == json.loads(chosen)
    assert results["best"]["val_accuracy_mean"] == pytest.approx(np.mean(means[chosen]))
    with open(out / "results.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 and {"lr", "hidden", "seed", "val_accuracy", "test_accuracy"} <= set(
        rows[0]
    )
    assert {r["status"] for r in rows} == {"ok"}
    page = (out / "report.html").read_text(encoding="utf-8")
    for hook in (
        'id="gn-choice"',
        'id="gn-settings"',
        "chart-setting-0",
        "chart-setting-1",
        "chart-curves",
    ):
        assert hook in page, hook
    assert "gn-sortable" in page and "Plotly.newPlot" in page
    # glassnet train --config best_config.json trains the chosen trial again, exactly
    best = read_json(out / "best_config.json")
    code, text, err = run(
        capsys, "train", "--config", out / "best_config.json", "--out", tmp_path / "again"
    )
    assert code == 0, err
    again = read_json(tmp_path / "again" / "metrics.json")
    first = next(
        t
        for t in trials
        if t["settings"] == results["best"]["settings"] and t["seed"] == best["seed"]
    )
    assert again["test_accuracy"] == first["test_accuracy"]
    # the report is rebuilt from the folder
    (out / "report.html").unlink()
    code, text, err = run(capsys, "report", out)
    assert code == 0 and (out / "report.html").is_file(), err


def test_a_failing_trial_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    import glassnet.train as train

    real_fit = train.fit

    def fit(model, dataset, **recipe):
        if recipe["lr"] == 0.03:
            raise RuntimeError("out of memory (a test's stand-in)")
        return real_fit(model, dataset, **recipe)

    monkeypatch.setattr(train, "fit", fit)
    out, results = glassnet.study.sweep(grid=GRID, epochs=1, out=tmp_path / "s", jobs=1, log=quiet)
    failed = [t for t in results["trials"] if t["status"] != "ok"]
    assert len(failed) == 2 and all(t["settings"]["lr"] == 0.03 for t in failed)
    assert failed[0]["reason"] == "RuntimeError: out of memory (a test's stand-in)"
    assert results["best"]["settings"]["lr"] == 0.003
    with open(out / "results.csv", encoding="utf-8") as f:
        reasons = [r["reason"] for r in csv.DictReader(f) if r["status"] == "failed"]
    assert reasons == [failed[0]["reason"]] * 2
    assert "out of memory" in (out / "report.html").read_text(encoding="utf-8")


def test_a_diverging_trial_is_recorded_as_diverged(tmp_path):
    out, results = glassnet.study.sweep(
        grid="lr=1e9,0.01",
        optimizer="sgd",
        epochs=1,
        out=tmp_path / "s",
        jobs=1,
        log=quiet,
        model_args={"activation": "relu"},
    )
    status = {t["settings"]["lr"]: t["status"] for t in results["trials"]}
    assert status == {1e9: "diverged", 0.01: "ok"}
    assert results["best"]["settings"] == {"lr": 0.01}


def test_ctrl_c_keeps_finished_trials_and_resume_trains_the_rest(tmp_path, monkeypatch):
    import glassnet.train as train

    real_fit, calls = train.fit, []

    def fit(model, dataset, **recipe):
        calls.append(recipe["lr"])
        if len(calls) == 3 and interrupt:
            raise KeyboardInterrupt
        return real_fit(model, dataset, **recipe)

    monkeypatch.setattr(train, "fit", fit)
    interrupt = True
    out = tmp_path / "s"
    with pytest.raises(KeyboardInterrupt):
        glassnet.study.sweep(grid=GRID, epochs=1, out=out, jobs=1, log=quiet)
    assert len(list((out / "trials").glob("*.json"))) == 2
    assert not (out / "results.json").exists() and not (out / "sweep.lock").exists()
    # a new sweep into the folder is refused; a resume with other settings too
    with pytest.raises(FileExistsError, match="--resume"):
        glassnet.study.sweep(grid=GRID, epochs=1, out=out, jobs=1, log=quiet)
    with pytest.raises(ValueError, match="differs"):
        glassnet.study.sweep(grid=GRID, epochs=2, out=out, jobs=1, log=quiet, resume=True)
    interrupt, calls[:] = False, []
    lines = []
    _, resumed = glassnet.study.sweep(
        grid=GRID, epochs=1, out=out, jobs=1, log=lines.append, resume=True
    )
    assert len(calls) == 2  # only the two trials not finished
    assert any("2 of 4 trials finished before: kept" in line for line in lines)
    assert lines[-1].startswith("[4/4]") and "best so far" in lines[-1]
    _, whole = glassnet.study.sweep(grid=GRID, epochs=1, out=tmp_path / "whole", jobs=1, log=quiet)
    assert comparable(resumed["trials"]) == comparable(whole["trials"])
    assert resumed["best"]["settings"] == whole["best"]["settings"]


def test_a_folder_being_written_by_another_sweep_is_refused(tmp_path):
    out = tmp_path / "s"
    out.mkdir()
    (out / "sweep.lock").write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))
    with pytest.raises(FileExistsError, match="being written by another sweep"):
        glassnet.study.sweep(grid="lr=0.01", epochs=1, out=out, jobs=1, log=quiet)
    # a lock whose process is gone is stale: taken over
    (out / "sweep.lock").write_text(json.dumps({"host": socket.gethostname(), "pid": 2**22 + 7}))
    _, results = glassnet.study.sweep(grid="lr=0.01", epochs=1, out=out, jobs=1, log=quiet)
    assert results["counts"]["ok"] == 1


def test_worker_processes_give_the_records_of_one_by_one(tmp_path):
    _, alone = glassnet.study.sweep(
        grid="hidden=8,16 normalization=none,unit", epochs=1, out=tmp_path / "a", jobs=1, log=quiet
    )
    lines = []
    _, pooled = glassnet.study.sweep(
        grid="hidden=8,16 normalization=none,unit",
        epochs=1,
        out=tmp_path / "b",
        jobs=2,
        log=lines.append,
    )
    assert "in 2 worker process(es)" in lines[0]
    assert comparable(alone["trials"]) == comparable(pooled["trials"])


# ------------------------------------------------------------------------ backends
def _double(task):
    from glassnet import threads

    return {"value": task["x"] * 2, "pid": os.getpid(), "threads": threads.get_num_threads()}


def test_run_tasks_hands_every_record_back_once_on_one_thread():
    from glassnet import threads

    got = {}
    before = threads.get_num_threads(), backends.in_worker()
    backends.run_tasks([{"x": i} for i in range(5)], _double, got.__setitem__, jobs=1)
    assert {i: r["value"] for i, r in got.items()} == {i: 2 * i for i in range(5)}
    assert {r["pid"] for r in got.values()} == {os.getpid()}
    # one thread while the tasks ran here, as in a worker; the settings restored after
    assert {r["threads"] for r in got.values()} == {1}
    assert (threads.get_num_threads(), backends.in_worker()) == before


class _Ref:
    def __init__(self, value):
        self.value = value


class _FakeRay(types.ModuleType):
    """The slice of Ray's task API the backend uses, run in this process: the backend's
    contract (init, remote tasks of one CPU, wait, get, shutdown) without a cluster."""

    def __init__(self):
        super().__init__("ray")
        self.initialized, self.inits, self.options = False, [], None

    def is_initialized(self):
        return self.initialized

    def init(self, address=None, **kwargs):
        self.initialized = True
        self.inits.append(address)

    def shutdown(self):
        self.initialized = False

    def remote(self, **options):
        self.options = options

        def wrap(function):
            return types.SimpleNamespace(remote=lambda *a: _Ref(function(*a)))

        return wrap

    def wait(self, refs, num_returns=1):
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref):
        return ref.value

    def cancel(self, ref, force=False):
        pass


def test_the_ray_backend_contract_with_a_fake_ray(monkeypatch):
    fake = _FakeRay()
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.setattr(backends, "check_ray_address", lambda address: None)
    got = {}
    backends.run_tasks([{"x": i} for i in range(4)], _double, got.__setitem__, ray_address="auto")
    assert {i: r["value"] for i, r in got.items()} == {0: 0, 1: 2, 2: 4, 3: 6}
    assert fake.inits == ["auto"] and not fake.initialized  # connected, then let go
    assert fake.options == {"num_cpus": 1, "max_retries": 0}


def test_an_unreachable_ray_address_is_refused_at_once(tmp_path):
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(
        backends.RayUnavailableError, match=f"cannot reach a Ray cluster at 127.0.0.1:{port}"
    ):
        glassnet.study.sweep(
            grid="lr=0.01", epochs=1, out=tmp_path / "s", ray_address=f"127.0.0.1:{port}", log=quiet
        )
    assert not (tmp_path / "s").exists()
    with pytest.raises(backends.RayUnavailableError, match="HOST:PORT"):
        backends.check_ray_address("my-cluster")


# ------------------------------------------------------------------------ the command line
def test_cli_grid_sweep_with_seeds(capsys, tmp_path):
    code, out, err = run(
        capsys,
        "sweep",
        "--grid",
        "lr=1e-3,1e-2 hidden=30,128",
        "--models",
        "baseline",
        "--seeds",
        "2",
        "--epochs",
        "1",
        "--jobs",
        "1",
        "--out",
        tmp_path / "s",
    )
    assert code == 0, err
    assert "[8/8]" in out and "best so far" in out
    assert "chosen on validation: baseline" in out and "its test accuracy, reported once" in out
    assert f"glassnet train --config {tmp_path / 's' / 'best_config.json'}" in out
    saved = read_json(tmp_path / "s" / "config.json")
    assert saved["seeds"] == 2 and saved["grid"] == [{"lr": [0.001, 0.01], "hidden": [30, 128]}]


def test_cli_study_and_resume(capsys, tmp_path):
    code, out, err = run(
        capsys,
        "sweep",
        "--study",
        "hidden-size",
        "--epochs",
        "1",
        "--jobs",
        "1",
        "--out",
        tmp_path / "s",
        "--normalization",
        "unit",
    )
    assert code == 0, err
    assert out.count("baseline hidden=") >= 5
    assert read_json(tmp_path / "s" / "config.json")["normalization"] == "unit"
    (tmp_path / "s" / "results.json").unlink()  # as if cut off after the last trial
    code, out, err = run(capsys, "sweep", "--resume", tmp_path / "s")
    assert code == 0, err and "5 of 5 trials finished before: kept" in out
    code, out, err = run(capsys, "sweep", "--resume", tmp_path / "s", "--epochs", "2")
    assert code == 2 and "leave out --epochs" in err


def test_cli_toml_config(capsys, tmp_path):
    (tmp_path / "sweep.toml").write_text(
        'epochs = 1\nseeds = 1\n[[grid]]\nlr = [0.01, 0.1]\n[[grid]]\noptimizer = ["sgd"]\n'
        "momentum = [0.9]\n",
        encoding="utf-8",
    )
    code, out, err = run(
        capsys, "sweep", "--config", tmp_path / "sweep.toml", "--jobs", "1", "--out", tmp_path / "s"
    )
    assert code == 0, err
    assert "[3/3]" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--grid", "lrr=0.1"], "unknown setting 'lrr'"),
        (["--grid", "hidden=wide"], "hidden takes widths"),
        (["--grid", ""], "the grid is empty"),
        (["--grid", "lr=0.1", "--val-size", "0"], "never chooses on the test set"),
        (["--grid", "lr=" + ",".join(str(i / 1000 + 0.001) for i in range(300))], "--yes"),
        (["--grid", "lr=0.1", "--ray-address", "127.0.0.1:1"], "cannot reach a Ray cluster"),
        (["--grid", "lr=0.1", "--models", "resnet99"], "unknown model"),
    ],
)
def test_cli_bad_input_gets_one_line_and_status_2(capsys, tmp_path, argv, message):
    code, out, err = run(capsys, "sweep", *argv, "--epochs", "1", "--out", tmp_path / "s")
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "s").exists()


def test_format_value_writes_what_the_command_line_reads():
    assert format_value([8, 16, 32]) == "8/16/32"
    assert format_value(None, "train_size") == "all"
    assert format_value(0.003) == "0.003"
    assert math.isclose(float(format_value(1e-5)), 1e-5)


# ------------------------------------------------------------------------ compare's backends
def test_compare_in_worker_processes_gives_the_sequential_results(tmp_path, capsys):
    from glassnet.study import CompareConfig, run_compare

    config = CompareConfig(
        dataset="digits", models=["baseline", "cnn", "cnn-pool"], engines=["glassnet"], epochs=1
    )
    lines = []
    _, pooled = run_compare(config, out=tmp_path / "pool", jobs=2, log=lines.append, report=False)
    _, alone = run_compare(config, out=tmp_path / "alone", log=quiet, report=False)
    assert "  3 run(s) in 2 workers" in lines
    keys = ("model", "engine", "status", "final_test_accuracy", "test_predictions")
    assert [{k: r.get(k) for k in keys} for r in pooled["runs"]] == [
        {k: r.get(k) for k in keys} for r in alone["runs"]
    ]
    assert any("shared the machine" in note for note in pooled["notes"])
    for r in pooled["runs"]:
        assert (tmp_path / "pool" / r["weights_file"]).is_file()
    code, out, err = run(
        capsys,
        "compare",
        "--models",
        "baseline",
        "--engines",
        "glassnet",
        "--epochs",
        "1",
        "--ray-address",
        "127.0.0.1:1",
        "--out",
        tmp_path / "ray",
    )
    assert code == 2 and "cannot reach a Ray cluster at 127.0.0.1:1" in err
    assert not (tmp_path / "ray").exists()


def test_help_and_the_report_of_a_train_size_study(capsys, tmp_path):
    code, out, _ = run(capsys, "sweep", "--help")
    assert code == 0 and "examples:" in out and "train-size" in out and "--ray-address" in out
    code, out, _ = run(capsys)
    assert "sweep     Search hyperparameters" in out
    from glassnet.report.sweep import setting_figure

    out_dir, results = glassnet.study.sweep(
        study="train-size", epochs=1, out=tmp_path / "s", jobs=1, log=quiet
    )
    figure = setting_figure(results, "train_size")
    assert figure["layout"]["xaxis"]["type"] == "category"
    assert sorted(figure["data"][0]["x"]) == ["200", "all"]  # 'all' has its point too
    assert all("train_eval_accuracy" in t for t in results["trials"])
    assert all(r["train_eval_accuracy_mean"] is not None for r in results["settings"])
