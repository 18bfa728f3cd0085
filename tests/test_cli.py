"""The ``glassnet`` command line, run in-process (``glassnet.cli.main``) with captured output:
compare, train / evaluate / resume, config files, summary, gradcheck, datasets, user errors."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import warnings

import numpy as np
import pytest

import glassnet
from _cli import run
from glassnet.io import load_arrays, read_json

REAL_DATA = os.environ.get("GLASSNET_DATA")


@pytest.fixture(autouse=True)
def _single_torch_thread():
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


def assert_user_error(code, err, *fragments):
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def same_weights(path_a, path_b):
    a, _ = load_arrays(path_a)
    b, _ = load_arrays(path_b)
    assert list(a) == list(b)
    return all(np.array_equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------------------- basics
def test_version_in_a_subprocess():
    done = subprocess.run(
        [sys.executable, "-m", "glassnet", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"glassnet {glassnet.__version__}"


def test_no_command_prints_help(capsys):
    code, out, _ = run(capsys)
    assert code == 0
    commands = ("compare", "train", "evaluate", "gradcheck", "summary", "datasets", "report")
    for command in (*commands, "paths"):
        assert command in out


@pytest.mark.parametrize("command", ["compare", "train", "evaluate", "gradcheck", "summary"])
def test_every_command_has_help_with_examples(capsys, command):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert "examples:" in out and f"glassnet {command}" in out


# ---------------------------------------------------------------------------- compare
@pytest.mark.slow
def test_compare_all_three_engines(capsys, tmp_path):
    out_dir = tmp_path / "run"
    code, out, err = run(
        capsys,
        "compare",
        "--epochs",
        1,
        "--models",
        "baseline,cnn-pool",
        "--out",
        out_dir,
        "--no-progress",
    )
    assert code == 0, err
    results = read_json(out_dir / "results.json")
    runs = {(r["model"], r["engine"]): r for r in results["runs"]}
    assert set(runs) == {
        (m, e) for m in ("baseline", "cnn-pool") for e in ("glassnet", "torch", "sklearn")
    }
    assert runs[("cnn-pool", "sklearn")]["status"] == "skipped"
    for key, record in runs.items():
        if key != ("cnn-pool", "sklearn"):
            assert record["status"] == "ok" and len(record["history"]) == 1
    assert (
        abs(
            runs[("cnn-pool", "glassnet")]["final_test_accuracy"]
            - runs[("cnn-pool", "torch")]["final_test_accuracy"]
        )
        <= 0.01
    )
    config = read_json(out_dir / "config.json")
    assert config["epochs"] == 1 and config["models"] == ["baseline", "cnn-pool"]
    assert config["engines"] == ["glassnet", "torch", "sklearn"]
    # the console: the table, the notes, the folder
    assert (
        "final test" in out
        and "best val" in out
        and "cnn-pool        sklearn" in out
        and "skipped" in out
    )
    assert f"run folder: {out_dir}" in out
    for line in out.splitlines():
        if line.startswith("baseline        glassnet"):
            assert f"{runs[('baseline', 'glassnet')]['final_test_accuracy'] * 100:.2f}%" in line
            assert "2,260" in line


@pytest.mark.slow
def test_compare_again_from_the_run_config(capsys, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    code, _, err = run(
        capsys,
        "compare",
        "--epochs",
        1,
        "--models",
        "cnn",
        "--engines",
        "glassnet,torch",
        "--lr",
        "3e-3",
        "--seed",
        4,
        "--out",
        first,
    )
    assert code == 0, err
    code, _, err = run(capsys, "compare", "--config", first / "config.json", "--out", second)
    assert code == 0, err
    assert read_json(first / "config.json") == read_json(second / "config.json")
    a, b = read_json(first / "results.json"), read_json(second / "results.json")
    for ra, rb in zip(a["runs"], b["runs"]):
        for key in ("final_test_accuracy", "final_test_loss", "test_predictions"):
            assert ra[key] == rb[key]
        assert [e["train_loss"] for e in ra["history"]] == [e["train_loss"] for e in rb["history"]]
    assert same_weights(
        first / "weights" / "cnn-glassnet.safetensors",
        second / "weights" / "cnn-glassnet.safetensors",
    )


# ---------------------------------------------------------------------------- train
def test_train_evaluate_and_resume(capsys, tmp_path):
    run_dir = tmp_path / "run"
    code, out, err = run(
        capsys, "train", "--model", "cnn-pool", "--epochs", 2, "--out", run_dir, "--no-progress"
    )
    assert code == 0, err
    for name in (
        "config.json",
        "history.csv",
        "history.json",
        "metrics.json",
        "model.safetensors",
        "last.safetensors",
        "best.safetensors",
    ):
        assert (run_dir / name).exists(), name
    metrics = read_json(run_dir / "metrics.json")
    assert metrics["model"] == "digits-cnn-pool" and metrics["epochs"] == 2
    assert metrics["params"] == 19_326
    assert f"test accuracy {metrics['test_accuracy'] * 100:.2f}%" in out
    assert len(read_json(run_dir / "history.json")["epochs"]) == 2

    # evaluate finds the dataset in the run's config.json
    code, out, err = run(capsys, "evaluate", run_dir / "model.safetensors")
    assert code == 0, err
    assert f"accuracy {metrics['test_accuracy'] * 100:.2f}%" in out
    assert "digits-cnn-pool on digits (test, 359 images)" in out
    assert "confusion matrix" in out
    rows = out.split("confusion matrix")[1].strip().splitlines()[2:]
    errors = [int(row.split()[-1]) for row in rows]
    assert errors == metrics["per_class_errors"]
    code, out, err = run(capsys, "evaluate", run_dir / "model.safetensors", "--split", "train")
    assert code == 0 and "(train, 1294 images)" in out  # 144 held out for validation

    # two more epochs continue the run; the same as 4 epochs in one go
    code, out, err = run(capsys, "train", "--resume", run_dir, "--epochs", 4, "--no-progress")
    assert code == 0, err
    assert read_json(run_dir / "metrics.json")["epochs"] == 4
    assert read_json(run_dir / "config.json")["epochs"] == 4
    straight = tmp_path / "straight"
    code, _, err = run(
        capsys, "train", "--model", "cnn-pool", "--epochs", 4, "--out", straight, "--no-progress"
    )
    assert code == 0, err
    assert same_weights(run_dir / "model.safetensors", straight / "model.safetensors")
    resumed, direct = read_json(run_dir / "metrics.json"), read_json(straight / "metrics.json")
    assert resumed["test_accuracy"] == direct["test_accuracy"]
    assert resumed["test_loss"] == direct["test_loss"]


def test_train_leaves_a_report_that_glassnet_report_rebuilds(capsys, tmp_path, monkeypatch):
    """A train run writes results.json and report.html (one compare row: curves, weights,
    confusion matrix, the first 20 test images and the first 20 mistakes); glassnet report
    rebuilds them, also for a folder without results.json (evaluating its model again)."""
    import glassnet.report

    folder = tmp_path / "run"
    argv = ["train", "--model", "baseline", "--epochs", 2, "--no-progress"]
    code, out, err = run(capsys, *argv, "--out", folder)
    assert code == 0, err
    metrics, results = read_json(folder / "metrics.json"), read_json(folder / "results.json")
    assert results["kind"] == "train" and results["dataset"]["n_val"] == 144
    (record,) = results["runs"]
    assert record["final_test_accuracy"] == metrics["test_accuracy"]
    assert record["best_epoch"] == metrics["best_epoch"] and record["best_epoch"] in (1, 2)
    assert f"best epoch {record['best_epoch']} by validation accuracy" in out
    assert f"report:     {folder / 'report.html'}" in out
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert "<h1>glassnet train: digits-baseline on digits (glassnet)</h1>" in page
    assert 'id="chart-curves-baseline"' in page and 'id="chart-synopsis"' not in page
    for part in ('class="gn-weights', 'class="gn-confusion"', 'data-kind="mistakes"'):
        assert part in page, part
    first = re.search(r'data-kind="first">(.*?)</div>', page)[1]
    assert first.count("<img ") == 20

    (folder / "report.html").unlink()
    code, out, err = run(capsys, "report", folder)
    assert code == 0 and (folder / "report.html").exists(), err
    (folder / "report.html").unlink()
    (folder / "results.json").unlink()  # a train folder from before train wrote reports
    code, out, err = run(capsys, "report", folder)
    assert code == 0 and (folder / "report.html").exists(), err
    again = read_json(folder / "results.json")["runs"][0]
    assert again["final_test_accuracy"] == record["final_test_accuracy"]
    assert again["history"] == record["history"]
    # a run continued with --resume and stopped before its new results.json: not reused
    stale = read_json(folder / "results.json")
    stale["runs"][0]["history"] = stale["runs"][0]["history"][:1]
    (folder / "results.json").write_text(json.dumps(stale))
    code, out, err = run(capsys, "report", folder)
    assert code == 0, err
    assert read_json(folder / "results.json")["runs"][0]["history"] == record["history"]

    # Ctrl-C while the report is written: the model is saved; say how to finish
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(glassnet.report, "build_report", interrupted)
    other = tmp_path / "other"
    code, _, err = run(capsys, *argv, "--epochs", 1, "--out", other)
    assert code == 130 and (other / "model.safetensors").exists()
    assert f"write it with 'glassnet report {other}'" in err and "--resume" not in err

    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "last.safetensors").write_bytes(b"")
    code, _, err = run(capsys, "report", unfinished)
    assert_user_error(code, err, f"continue it with 'glassnet train --resume {unfinished}'")


def count_calls(monkeypatch, cls, name: str) -> list:
    """Patch ``cls.name`` to note each call (its ``self``) in the returned list."""
    calls = []
    real = getattr(cls, name)

    def counted(self, *args, **kwargs):
        calls.append(self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(cls, name, counted)
    return calls


def test_train_validates_its_recipe_once(capsys, tmp_path, monkeypatch):
    """Validating builds the model and the optimizer: a new run and a resumed one do it
    once each (a new run used to be validated by the command and again by run_train)."""
    from glassnet.study.config import TrainConfig

    calls = count_calls(monkeypatch, TrainConfig, "validate")
    run_dir = tmp_path / "run"
    code, _, err = run(
        capsys, "train", "--model", "baseline", "--epochs", 1, "--out", run_dir, "--no-progress"
    )
    assert code == 0, err
    assert len(calls) == 1
    calls.clear()
    code, _, err = run(capsys, "train", "--resume", run_dir, "--epochs", 2, "--no-progress")
    assert code == 0, err
    assert len(calls) == 1
    assert read_json(run_dir / "metrics.json")["epochs"] == 2


def test_compare_validates_its_config_once(capsys, tmp_path, monkeypatch):
    from glassnet.study.config import CompareConfig

    calls = count_calls(monkeypatch, CompareConfig, "validate")
    code, _, err = run(
        capsys, "compare", "--epochs", 1, "--models", "baseline", "--engines", "glassnet",
        "--out", tmp_path / "run", "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    assert len(calls) == 1


def test_train_config_files_reproduce_a_run(capsys, tmp_path):
    flags = tmp_path / "flags"
    code, _, err = run(
        capsys,
        "train",
        "--model",
        "digits-baseline",
        "--epochs",
        2,
        "--batch-size",
        32,
        "--lr",
        "3e-3",
        "--seed",
        1,
        "--optimizer",
        "sgd",
        "--momentum",
        0.9,
        "--out",
        flags,
        "--no-progress",
    )
    assert code == 0, err
    toml = tmp_path / "recipe.toml"
    toml.write_text(
        'model = "digits-baseline"\nepochs = 2\nbatch-size = 32\nlr = 3e-3\nseed = 1\n'
        'optimizer = "sgd"\nmomentum = 0.9\n'
    )
    from_toml, from_json = tmp_path / "toml", tmp_path / "json"
    code, _, err = run(capsys, "train", "--config", toml, "--out", from_toml, "--no-progress")
    assert code == 0, err
    code, _, err = run(
        capsys, "train", "--config", flags / "config.json", "--out", from_json, "--no-progress"
    )
    assert code == 0, err
    reference = read_json(flags / "metrics.json")
    for folder in (from_toml, from_json):
        metrics = read_json(folder / "metrics.json")
        assert metrics["test_accuracy"] == reference["test_accuracy"]
        assert metrics["test_loss"] == reference["test_loss"]
        assert same_weights(flags / "model.safetensors", folder / "model.safetensors")
        assert read_json(folder / "config.json") == read_json(flags / "config.json")
    # flags given on the command line override the file
    code, _, err = run(
        capsys, "train", "--config", toml, "--epochs", 1, "--out", tmp_path / "o", "--no-progress"
    )
    assert code == 0, err
    assert read_json(tmp_path / "o" / "metrics.json")["epochs"] == 1


def test_train_with_the_torch_engine(capsys, tmp_path):
    pytest.importorskip("torch")
    code, out, err = run(
        capsys,
        "train",
        "--model",
        "baseline",
        "--engine",
        "torch",
        "--epochs",
        1,
        "--out",
        tmp_path,
        "--no-progress",
    )
    assert code == 0, err
    metrics = read_json(tmp_path / "metrics.json")
    assert metrics["engine"] == "torch" and metrics["epochs"] == 1
    _, meta = load_arrays(tmp_path / "model.safetensors")
    assert meta["engine"] == "torch" and meta["model"] == "digits-baseline"
    code, out, err = run(capsys, "evaluate", tmp_path / "model.safetensors")
    assert code == 0 and f"{metrics['test_accuracy'] * 100:.2f}%" in out


def _ctrl_c(*args, **kwargs):
    raise KeyboardInterrupt


@pytest.mark.parametrize("with_out", [True, False])
def test_ctrl_c_during_train_says_how_to_resume(capsys, tmp_path, monkeypatch, with_out):
    """The Trainer saves a checkpoint on Ctrl-C; the message names the real folder,
    also the default one (when --out was not given), and that folder resumes."""
    from glassnet.train.trainer import Trainer

    def ctrl_c_between_batches(self, val_data, test_data, eval_batch_size, interrupt):
        signal.raise_signal(signal.SIGINT)  # caught by the Trainer's handler: a flag
        interrupt.check()  # where a batch ends: the KeyboardInterrupt

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(Trainer, "_run_epoch", ctrl_c_between_batches)
    out = ["--out", "mine"] if with_out else []
    code, _, err = run(capsys, "train", "--epochs", 1, *out, "--no-progress")
    assert code == 130 and "Traceback" not in err
    (folder,) = [tmp_path / "mine"] if with_out else list((tmp_path / "runs").iterdir())
    folder = folder.relative_to(tmp_path)
    assert f"continue with 'glassnet train --resume {folder}'" in err
    assert (folder / "last.safetensors").exists() and (folder / "config.json").exists()
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "train", "--resume", folder, "--no-progress")
    assert code == 0 and "after 1 epochs" in out


def test_a_full_disk_during_train_says_the_last_checkpoint_is_whole(capsys, tmp_path, monkeypatch):
    import errno

    import glassnet.io as gio

    folder = tmp_path / "r"
    code, _, _ = run(capsys, "train", "--epochs", 1, "--out", folder, "--no-progress")
    assert code == 0
    before = (folder / "last.safetensors").read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(gio.os, "fsync", full)
    code, _, err = run(capsys, "train", "--resume", folder, "--epochs", 2, "--no-progress")
    assert code == 2 and "Traceback" not in err
    assert "cannot write" in err and "No space left on device" in err
    assert f"the last checkpoint, {folder / 'last.safetensors'}, is whole" in err
    assert f"continue with 'glassnet train --resume {folder}'" in err
    assert (folder / "last.safetensors").read_bytes() == before


def test_ctrl_c_before_training_or_with_torch_says_there_is_nothing_to_resume(
    capsys, tmp_path, monkeypatch
):
    import glassnet.study.train_run as train_run

    monkeypatch.setattr(train_run, "fit", _ctrl_c)  # before the folder is made
    code, _, err = run(capsys, "train", "--epochs", 1, "--out", tmp_path / "a", "--no-progress")
    assert code == 130 and "nothing to resume" in err and not (tmp_path / "a").exists()
    monkeypatch.setattr(train_run, "run_torch", _ctrl_c)
    code, _, err = run(
        capsys, "train", "--engine", "torch", "--out", tmp_path / "b", "--no-progress"
    )
    assert code == 130 and "the torch engine keeps no checkpoint" in err


@pytest.mark.parametrize("engine", ["glassnet", "torch"])
def test_train_early_stopping_and_log_interval_apply_to_both_engines(capsys, tmp_path, engine):
    """A rate too small to move float32 weights: the validation loss stays the same, so
    patience 1 stops the run after its second epoch, with either engine."""
    if engine == "torch":
        pytest.importorskip("torch")
    code, _, _ = run(
        capsys, "train", "--engine", engine, "--optimizer", "sgd", "--lr", "1e-12",
        "--early-stopping", 1, "--val-size", 0.1, "--epochs", 5, "--log-interval", 7,
        "--out", tmp_path, "--no-progress",
    )  # fmt: skip
    assert code == 0
    history = json.loads((tmp_path / "history.json").read_text())
    assert len(history["epochs"]) == 2
    assert [r["step"] for r in history["iterations"]][:3] == [7, 14, 21]


def test_a_new_run_refuses_a_folder_that_holds_one(capsys, tmp_path):
    """Without --resume, train (and compare) would overwrite the run's checkpoints."""
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "last.safetensors").write_bytes(b"a checkpoint")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    for command in ("train", "compare"):
        code, _, err = run(capsys, command, "--epochs", 1, "--out", tmp_path, "--no-progress")
        assert code == 2 and "already holds a run (last.safetensors)" in err
        assert f"continue it with 'glassnet train --resume {tmp_path}'" in err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    compared = tmp_path / "compared"
    (compared / "weights").mkdir(parents=True)  # a compare run stopped half-way
    code, _, err = run(capsys, "compare", "--epochs", 1, "--out", compared, "--no-progress")
    assert code == 2 and "already holds a run (weights)" in err and "--resume" not in err


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid:RuntimeWarning")
def test_a_run_that_failed_before_its_first_checkpoint_can_be_started_again(capsys, tmp_path):
    """Divergence at the first batches leaves only config.json: no run to resume, so the
    folder is not locked (the message must not send the user to --resume)."""
    out = tmp_path / "run"
    argv = ["train", "--optimizer", "sgd", "--lr", 1e6, "--out", out, "--no-progress"]
    code, _, err = run(capsys, *argv, "--epochs", 2)
    assert code == 1 and [p.name for p in out.iterdir()] == ["config.json"]
    code, _, err = run(capsys, "train", "--epochs", 1, "--out", out, "--no-progress")
    assert code == 0, err


def test_a_run_that_fails_its_checks_leaves_no_folder(capsys, tmp_path):
    for argv in (
        ["train", "--train-size", 0],
        ["train", "--val-size", 0, "--early-stopping", 3],  # no validation split
        ["train", "--engine", "torch", "--val-size", 0, "--early-stopping", 3],  # torch too
        ["train", "--optimizer", "sgd", "--nesterov"],  # nesterov needs momentum
        ["compare", "--val-size", 1500],
    ):
        out = tmp_path / "run"
        code, _, err = run(capsys, *argv, "--epochs", 1, "--out", out, "--no-progress")
        assert code == 2 and "Traceback" not in err, argv
        assert not out.exists(), argv


# ---------------------------------------------------------------------------- tools
def test_summary_of_lenet5(capsys):
    code, out, _ = run(capsys, "summary", "lenet5")
    assert code == 0
    assert "Total params: 61,706" in out
    assert out.startswith("lenet5")
    code, out, _ = run(capsys, "summary", "cnn-pool", "--input-shape", "3,32,32")
    assert code == 0 and "296,130" in out


def test_summary_list(capsys):
    code, out, _ = run(capsys, "summary", "--list")
    assert code == 0
    lines = out.strip().splitlines()
    assert [line.split()[0] for line in lines] == glassnet.models.list()
    by_name = {line.split()[0]: line.split()[1] for line in lines}
    assert by_name["lenet5"] == "61,706" and by_name["resnet20"] == "272,474"
    assert by_name["mnist-mlp"] == "101,770" and by_name["digits-cnn-pool-skip"] == "23,422"


def test_gradcheck_a_zoo_model_and_layers(capsys):
    code, out, _ = run(capsys, "gradcheck", "digits-cnn-pool-skip")
    assert code == 0 and "PASSED" in out
    for tensor in ("input", "1.weight", "3.bias"):
        assert tensor in out
    code, out, _ = run(
        capsys, "gradcheck", "Conv2d(3, 4, 3, stride=2, padding=1)", "--input-shape", "2,3,9,9"
    )
    assert code == 0 and "PASSED" in out and "weight" in out
    code, out, _ = run(
        capsys, "gradcheck", "MaxPool2d(3, stride=2, padding=1)", "--input-shape", "2x3x8x8"
    )
    assert code == 0 and "PASSED" in out
    # containers of layers (the issue: "no layer 'Sequential'")
    for text in ("Sequential(Linear(4,3), ReLU())", "Residual(Sequential(Linear(4, 4), Tanh))"):
        code, out, err = run(capsys, "gradcheck", text, "--input-shape", "2,4")
        assert code == 0 and "PASSED" in out and "0.weight" in out, err


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["gradcheck", "Linear(4, 3)"], "needs --input-shape"),
        (["gradcheck", "Frobnicate(3)", "--input-shape", "2,3"], "no layer 'Frobnicate'"),
        (["gradcheck", "Linear(__import__('os'), 3)", "--input-shape", "2,4"], "literals"),
        (["gradcheck", "Linear(4,", "--input-shape", "2,4"], "cannot parse"),
        (["gradcheck", "nope"], "unknown model 'nope'"),
    ],
)
def test_gradcheck_user_errors(capsys, argv, fragment):
    code, _, err = run(capsys, *argv)
    assert_user_error(code, err, f"glassnet {argv[0]}: error:", fragment)


def test_datasets_lists_the_four_datasets(capsys, tmp_path):
    code, out, _ = run(capsys, "datasets", "--data-dir", tmp_path)
    assert code == 0
    assert f"data folder: {tmp_path}" in out
    rows = [line for line in out.splitlines() if line and not line.startswith((" ", "data"))]
    assert [row.split()[0] for row in rows] == ["digits", "mnist", "fashion-mnist", "cifar10"]
    states = {row.split()[0]: row for row in rows}
    assert "present" in states["digits"]
    for name in ("mnist", "fashion-mnist", "cifar10"):
        assert f"missing (glassnet datasets download {name})" in states[name]


def test_datasets_list_one_and_a_damaged_file(capsys, tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for stem, array in {
        "train-images-idx3-ubyte": np.zeros((3, 28, 28), np.uint8),
        "train-labels-idx1-ubyte": np.zeros(3, np.uint8),
        "t10k-images-idx3-ubyte": np.zeros((2, 28, 28), np.uint8),
        "t10k-labels-idx1-ubyte": np.zeros(2, np.uint8),
    }.items():
        glassnet.data.formats.write_idx(folder / stem, array)
    code, out, _ = run(capsys, "datasets", "list", "MNIST", "--data-dir", tmp_path)
    assert code == 0
    rows = [line for line in out.splitlines() if line and not line.startswith((" ", "data"))]
    assert len(rows) == 1 and rows[0].split()[0] == "mnist" and rows[0].endswith("present")
    images = folder / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-1])
    code, out, _ = run(capsys, "datasets", "list", "mnist", "--data-dir", tmp_path)
    assert (
        "damaged: t10k-images-idx3-ubyte: 1583 bytes where the header implies 1584 "
        "(glassnet datasets verify mnist)"
    ) in out
    code, _, err = run(capsys, "datasets", "list", "imagenet", "--data-dir", tmp_path)
    assert code == 2 and "unknown dataset 'imagenet'" in err


def test_datasets_with_the_shared_files():
    if not REAL_DATA:
        pytest.skip("GLASSNET_DATA is not set")
    infos = {i.name: i for i in glassnet.data.available(REAL_DATA)}
    if not infos["mnist"].present:
        pytest.skip(f"no MNIST under GLASSNET_DATA={REAL_DATA}")
    done = subprocess.run(
        [sys.executable, "-m", "glassnet", "datasets"],
        capture_output=True,
        text=True,
        env={**os.environ, "GLASSNET_DATA": REAL_DATA},
        check=False,
    )
    assert done.returncode == 0
    assert "mnist          1x28x28   10 classes  present" in done.stdout


@pytest.mark.slow
def test_train_on_real_mnist(capsys, tmp_path):
    if not REAL_DATA:
        pytest.skip("GLASSNET_DATA is not set")
    if not glassnet.data.available(REAL_DATA)[1].present:
        pytest.skip(f"no MNIST under GLASSNET_DATA={REAL_DATA}")
    code, out, err = run(
        capsys,
        "train",
        "--dataset",
        "mnist",
        "--model",
        "mnist-mlp",
        "--epochs",
        1,
        "--train-size",
        3000,
        "--data-dir",
        REAL_DATA,
        "--out",
        tmp_path,
        "--no-progress",
    )
    assert code == 0, err
    metrics = read_json(tmp_path / "metrics.json")
    assert metrics["dataset"] == "mnist" and metrics["params"] == 101_770
    assert metrics["test_accuracy"] > 0.8 and sum(map(sum, metrics["confusion_matrix"])) == 10_000


# ---------------------------------------------------------------------------- user errors
@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["train", "--model", "resnet1000"], ["unknown model 'resnet1000'", "lenet5"]),
        (["compare", "--models", "baseline,vgg"], ["unknown model 'vgg'"]),
        (["train", "--dataset", "imagenet"], ["unknown dataset 'imagenet'", "mnist"]),
        (["compare", "--dataset", "svhn"], ["unknown dataset 'svhn'"]),
        (["compare", "--engines", "jax"], ["unknown engine(s) ['jax']"]),
        (["train", "--engine", "torch", "--resume", "{tmp}/nowhere"], ["no config.json"]),
        (["train", "--resume", "{tmp}/nowhere"], ["nowhere is not a glassnet train run"]),
        (["evaluate", "{tmp}/missing.safetensors"], ["no such file"]),
        (["train", "--config", "{tmp}/missing.toml"], ["config file not found"]),
        (["train", "--val-size", "1.5"], ["val_size"]),
        (["summary", "vgg16"], ["unknown model 'vgg16'"]),
        (["summary", "lenet5", "--input-shape", "1,4,4"], ["12x12"]),
        (["compare", "--models", "lenet5", "--epochs", "1"], ["lenet5 needs inputs of at least"]),
        (["datasets", "download"], ["needs a dataset name"]),
    ],
)
def test_user_errors_exit_2_with_one_line(capsys, tmp_path, argv, fragments):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, _, err = run(
        capsys,
        *argv,
        *(
            ["--out", tmp_path / "out"]
            if argv[0] in ("compare", "train") and "--resume" not in argv
            else []
        ),
    )
    assert_user_error(code, err, f"glassnet {argv[0]}: error:", *fragments)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["compare", "--epochs", "0"], "--epochs: expected a positive number of epochs, got '0'"),
        (["train", "--lr", "-1"], "argument --lr: expected a positive number, got '-1'"),
        (["train", "--batch-size", "many"], "argument --batch-size"),
        (["compare", "--optimizer", "lbfgs"], "argument --optimizer: invalid choice: 'lbfgs'"),
        (["train", "--train-size", "half"], "expected a count or a fraction"),
        (["gradcheck", "Linear(2, 2)", "--input-shape", "2,zero"], "not a shape"),
        (["train", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    ],
)
def test_bad_flag_values_are_argparse_errors(capsys, argv, fragment):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("glassnet") and ": error: " in last and fragment in last, last


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("epoch = 3\n", "unknown setting(s) in"),
        ('epochs = "3"\n', "epochs must be an integer, got '3'"),
        ('lr = "fast"\n', "lr must be a number"),
        ("epochs = 0\n", "epochs must be at least 1"),
        ("epochs = [\n", "cannot read config file"),
    ],
)
def test_bad_config_files_are_user_errors(capsys, tmp_path, content, fragment):
    path = tmp_path / "recipe.toml"
    path.write_text(content)
    code, _, err = run(capsys, "train", "--config", path, "--out", tmp_path / "out")
    assert_user_error(code, err, "glassnet train: error:", fragment)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("command", "recipe", "fragment"),
    [
        ("compare", {"model": "lenet5", "engine": "glassnet"}, "a recipe for 'glassnet train'"),
        ("train", {"models": ["baseline"], "engines": ["torch"]}, "recipe for 'glassnet compare'"),
    ],
)
def test_the_other_commands_recipe_is_named(capsys, tmp_path, command, recipe, fragment):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(recipe))
    code, _, err = run(capsys, command, "--config", path, "--out", tmp_path / "out")
    assert_user_error(code, err, "unknown setting(s)", fragment)


def test_a_binary_file_or_a_folder_as_config_is_named(capsys, tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"\x90\x00\xff binary")
    code, _, err = run(capsys, "train", "--config", path, "--out", tmp_path / "out")
    assert_user_error(code, err, f"config file {path} is not text")
    code, _, err = run(capsys, "train", "--config", tmp_path, "--out", tmp_path / "out")
    assert_user_error(code, err, f"a run's recipe is {tmp_path / 'config.json'}")


def test_evaluate_points_a_training_checkpoint_to_the_models_beside_it(capsys, tmp_path):
    from glassnet.train.checkpoint import save_checkpoint

    path = save_checkpoint(tmp_path / "last.safetensors", {"epoch": 1})
    code, _, err = run(capsys, "evaluate", path, "--dataset", "digits")
    assert_user_error(code, err, "is a training checkpoint (for --resume), not a model")
    assert str(tmp_path / "model.safetensors") in err and "best.safetensors" in err


def test_compare_config_with_a_string_of_models(capsys, tmp_path):
    path = tmp_path / "study.json"
    path.write_text(json.dumps({"models": "baseline,cnn", "epochs": 1}))
    code, _, err = run(capsys, "compare", "--config", path, "--out", tmp_path / "out")
    assert_user_error(code, err, "models must be a list of names")


def test_missing_data_is_a_user_error_and_never_touches_the_network(capsys, tmp_path, monkeypatch):
    import glassnet.data.download as download

    tried = []

    def offline(url, remote, folder, timeout):
        tried.append(url)
        raise OSError("network disabled in the tests")

    monkeypatch.setattr(download, "_fetch", offline)
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(
        capsys,
        "train",
        "--dataset",
        "mnist",
        "--model",
        "mnist-mlp",
        "--data-dir",
        empty,
        "--out",
        tmp_path / "out",
    )
    assert code == 2 and "Traceback" not in err
    first = err.strip().splitlines()[0]
    assert first == f"glassnet train: error: mnist: dataset files not found in {empty / 'mnist'}."
    assert "train-images-idx3-ubyte.gz" in err  # says which files to put where
    assert tried  # the download was attempted, through the patched fetch only
    code, _, err = run(capsys, "evaluate", tmp_path / "nothing.safetensors", "--dataset", "mnist")
    assert code == 2


def test_resume_refuses_a_changed_recipe(capsys, tmp_path):
    code, _, err = run(capsys, "train", "--model", "baseline", "--epochs", 1, "--out", tmp_path)
    assert code == 0, err
    before = read_json(tmp_path / "config.json")
    # the optimizer state in the checkpoint would silently win over a new --lr
    code, _, err = run(capsys, "train", "--resume", tmp_path, "--epochs", 2, "--lr", "0.5")
    assert_user_error(code, err, "keeps its recipe", "lr 0.001 -> 0.5")
    assert read_json(tmp_path / "config.json") == before
    assert read_json(tmp_path / "metrics.json")["epochs"] == 1


def test_resume_cannot_stretch_a_schedule(capsys, tmp_path):
    code, _, err = run(
        capsys,
        "train",
        "--model",
        "baseline",
        "--epochs",
        1,
        "--scheduler",
        "onecycle",
        "--lr",
        "0.01",
        "--out",
        tmp_path,
    )
    assert code == 0, err
    code, _, err = run(capsys, "train", "--resume", tmp_path, "--epochs", 3)
    assert_user_error(code, err, "schedule was planned with total_steps=41")  # 1,294 / 32


def test_a_model_that_cannot_take_the_images_fails_before_training(capsys, tmp_path):
    out = tmp_path / "run"
    code, _, err = run(capsys, "compare", "--models", "lenet5", "--out", out)
    assert_user_error(code, err, "lenet5", "(1, 8, 8)")
    assert not out.exists()  # nothing written, nothing trained


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid:RuntimeWarning")
def test_divergence_and_bad_folders_are_one_line_errors(capsys, tmp_path):
    code, _, err = run(
        capsys, "train", "--optimizer", "sgd", "--lr", 1e6, "--epochs", 2,
        "--out", tmp_path / "nan", "--no-progress",
    )  # fmt: skip
    assert code == 1 and "Traceback" not in err
    assert "glassnet train: training diverged: the loss rose to" in err
    if _has("torch"):  # the torch engine says so too (it reported NaN weights as a result)
        for argv in (["train", "--engine", "torch"], ["compare", "--engines", "torch"]):
            code, _, err = run(
                capsys, *argv, "--optimizer", "sgd", "--lr", 1e6, "--epochs", 2,
                "--out", tmp_path / argv[0], "--no-progress",
            )  # fmt: skip
            assert code == 1 and "Traceback" not in err
            assert "training diverged: PyTorch: the loss rose to" in err
    a_file = tmp_path / "file"
    a_file.write_text("mine")
    for out in (a_file, a_file / "below"):
        code, _, err = run(capsys, "train", "--epochs", 1, "--out", out, "--no-progress")
        assert code == 2 and "Traceback" not in err and str(a_file) in err
    assert a_file.read_text() == "mine"


def test_ctrl_c_during_the_sklearn_engine_stops_the_compare(capsys, tmp_path, monkeypatch):
    """scikit-learn catches KeyboardInterrupt itself and returns a half-trained model
    with a warning; the study must stop instead of reporting it as finished."""
    sklearn_mlp = pytest.importorskip("sklearn.neural_network")
    monkeypatch.setattr(sklearn_mlp.MLPClassifier, "_backprop", _ctrl_c)
    code, _, err = run(
        capsys, "compare", "--models", "baseline", "--engines", "sklearn", "--epochs", 2,
        "--out", tmp_path / "run", "--no-progress",
    )  # fmt: skip
    assert code == 130 and "interrupted" in err
    assert not (tmp_path / "run" / "results.json").exists()


@pytest.mark.parametrize(
    "argv, words",
    [
        (["train", "--early-stopping", 0], "patience must be at least 1 epoch, got 0"),
        (["train", "--early-stopping", -1], "patience must be at least 1 epoch, got -1"),
        (["train", "--log-interval", 0], "log interval must be at least 1 batch"),
        (["train", "--lr", "inf"], "learning rate must be a positive number, got inf"),
        (["train", "--weight-decay", "inf"], "weight decay must be a number >= 0, got inf"),
        (["train", "--momentum", 0.9], "momentum applies to sgd and rmsprop, not adam"),
        (["train", "--optimizer", "rmsprop", "--nesterov"], "nesterov applies to sgd"),
        (["train", "--augment"], "augment: digits has no standard augmentation"),
        (["compare", "--augment"], "augment: digits has no standard augmentation"),
        (["gradcheck", "Conv2d(3, 4)", "--input-shape", "2,3,9,9"], "'kernel_size'"),
        (["gradcheck", "Conv2d(3, 4, 3, foo=1)", "--input-shape", "2,3,9,9"], "'foo'"),
        (["gradcheck", "CrossEntropyLoss()", "--input-shape", "2,3"], "a loss, not a layer"),
        (["gradcheck", "Module", "--input-shape", "2,3"], "no layer 'Module'"),
        (["gradcheck", "Sequential(Linear(4), ReLU())", "--input-shape", "2,4"], "Linear(4)"),
        (["gradcheck", "lenet5", "--batch", 0], "expected a positive integer, got '0'"),
        (["gradcheck", "lenet5", "--max-checks", -1], "expected an integer >= 0"),
        (["summary", "lenet5", "--num-classes", 0], "expected a positive integer, got '0'"),
    ],
)
def test_meaningless_values_are_refused_by_name(capsys, tmp_path, argv, words):
    out = ["--out", tmp_path / "r"] if argv[0] in ("train", "compare") else []
    code, _, err = run(capsys, *argv, *out)
    assert code == 2 and "Traceback" not in err and words in err
    assert not (tmp_path / "r").exists()


def test_abbreviated_flags_are_refused(capsys):
    """argparse would take --model for compare's --models, or --ep for --epochs."""
    for argv in (["compare", "--model", "baseline"], ["train", "--ep", 1]):
        code, _, err = run(capsys, *argv)
        # said by the subcommand, with its own usage (not 'glassnet <command> ...')
        assert code == 2 and f"glassnet {argv[0]}: error: unrecognized arguments: " in err
        assert f"usage: glassnet {argv[0]} " in err


def test_evaluate_uses_the_runs_split(capsys, tmp_path):
    """A run trained with a validation split: evaluate's val split is the run's
    held-out images, and its train split leaves them out."""
    folder = tmp_path / "run"
    code, _, _ = run(
        capsys, "train", "--model", "digits-baseline", "--epochs", 1, "--val-size", 0.2,
        "--out", folder, "--no-progress",
    )  # fmt: skip
    assert code == 0
    weights = folder / "model.safetensors"
    code, out, _ = run(capsys, "evaluate", weights, "--split", "val")
    assert code == 0 and "(val, 288 images)" in out
    code, out, _ = run(capsys, "evaluate", weights, "--split", "train")
    assert code == 0 and "(train, 1150 images)" in out
    code, out, _ = run(capsys, "evaluate", weights, "--split", "val", "--val-size", 100)
    assert code == 0 and "(val, 100 images)" in out
    for argv, words in (
        ([folder], "is a folder; pass a weights file"),
        ([weights, "--batch-size", 0], "expected a positive integer"),
    ):
        code, _, err = run(capsys, "evaluate", *argv)
        assert code == 2 and words in err


def test_evaluate_reads_compare_weights_of_every_engine(capsys, tmp_path):
    """compare's weights/<model>-<engine>.safetensors evaluate to the accuracy compare
    reported, scikit-learn's included (its coefs_/intercepts_ are the MLP's Linears)."""
    engines = ["glassnet"] + [e for e in ("torch", "sklearn") if _has(e)]
    folder = tmp_path / "cmp"
    code, _, _ = run(
        capsys, "compare", "--models", "baseline", "--engines", ",".join(engines),
        "--epochs", 2, "--out", folder, "--no-progress",
    )  # fmt: skip
    assert code == 0
    results = read_json(folder / "results.json")
    for record in results["runs"]:
        code, out, err = run(capsys, "evaluate", folder / record["weights_file"])
        assert code == 0, err
        assert f"accuracy {record['final_test_accuracy'] * 100:.2f}%" in out, record["engine"]


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


@pytest.mark.parametrize(
    "content, words",
    [("{not json", "results.json is not valid JSON"), ("{}", "is not a compare run's results")],
)
def test_report_names_a_damaged_results_file(capsys, tmp_path, content, words):
    (tmp_path / "results.json").write_text(content)
    code, _, err = run(capsys, "report", tmp_path)
    assert code == 2 and words in err and "Traceback" not in err
    assert not (tmp_path / "report.html").exists()


def test_evaluate_does_not_take_the_runs_data_dir(capsys, tmp_path, monkeypatch):
    """A run's --data-dir may be relative to where it was started: evaluate looks where
    --data-dir or $GLASSNET_DATA say, as its help promises."""
    folder = tmp_path / "run"
    code, _, _ = run(
        capsys, "train", "--model", "digits-baseline", "--epochs", 1,
        "--data-dir", "data", "--out", folder, "--no-progress",
    )  # fmt: skip
    assert code == 0 and read_json(folder / "config.json")["data_dir"] == "data"
    seen = []
    real_load = glassnet.data.load
    monkeypatch.setattr(
        glassnet.data, "load", lambda *a, **kw: seen.append(kw["data_dir"]) or real_load(*a, **kw)
    )
    code, _, err = run(capsys, "evaluate", folder / "model.safetensors")
    assert code == 0 and seen == [None], err
    code, _, err = run(capsys, "evaluate", folder / "model.safetensors", "--data-dir", "here")
    assert code == 0 and seen == [None, "here"], err


def test_a_saved_recipe_with_ignored_settings_still_runs_with_a_warning(capsys, tmp_path):
    """Runs saved before such flags were refused (augment on digits, momentum with
    Adam) can still be repeated with --config: fit warns instead."""
    config = tmp_path / "old.json"
    config.write_text(json.dumps({"model": "digits-baseline", "augment": True, "momentum": 0.9}))
    code, _, err = run(
        capsys, "train", "--config", config, "--epochs", 1, "--out", tmp_path / "r",
        "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    assert "glassnet train: warning: augment=True: digits has no standard augmentation" in err
    assert "glassnet train: warning: momentum=0.9 is ignored by adam" in err
    assert "UserWarning" not in err and ".py:" not in err  # one line each, no source path


def test_nonsense_settings_are_warned_or_stopped(capsys, tmp_path):
    """A batch larger than the training set trained 2 steps and exited 0 silently; lr 1e9
    with Adam reported 40% at loss 2.6e9, after NumPy's overflow warnings."""
    code, _, err = run(
        capsys, "compare", "--models", "baseline", "--engines", "glassnet,torch"
        if _has("torch") else "glassnet", "--batch-size", 100000, "--epochs", 1,
        "--out", tmp_path / "big", "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    assert err.count("warning: batch size 100000 is larger than the 1294 training images") == 1
    code, _, err = run(
        capsys, "train", "--lr", 1e9, "--epochs", 2, "--out", tmp_path / "boom", "--no-progress"
    )
    assert code == 1 and "glassnet train: training diverged: the loss rose to" in err
    assert "RuntimeWarning" not in err and "overflow" not in err, err


def test_other_sklearn_warnings_are_not_taken_for_ctrl_c(capsys, tmp_path):
    """Only scikit-learn's 'Training interrupted by user' means Ctrl-C; another
    UserWarning made an error (python -W error) stays that error."""
    pytest.importorskip("sklearn")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # as PYTHONWARNINGS=error::UserWarning
        with pytest.raises(UserWarning, match="batch.size"):
            run(
                capsys, "compare", "--models", "baseline", "--engines", "sklearn",
                "--train-size", 40, "--batch-size", 64, "--epochs", 1,
                "--out", tmp_path / "r", "--no-progress",
            )  # fmt: skip


@pytest.mark.parametrize("engine", ["glassnet", "torch"])
def test_train_for_a_time_budget_with_either_engine(capsys, tmp_path, engine):
    if engine == "torch":
        pytest.importorskip("torch")
    code, out, err = run(
        capsys, "train", "--engine", engine, "--model", "digits-baseline", "--epochs", 1000,
        "--scheduler", "onecycle", "--time-budget", "0.5s", "--out", tmp_path, "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    assert read_json(tmp_path / "config.json")["time_budget"] == 0.5
    epochs = json.loads((tmp_path / "history.json").read_text())["epochs"]
    spent = sum(e["seconds"] for e in epochs)
    assert spent >= 0.5 and len(epochs) < 1000
    assert spent - 0.5 < epochs[-1]["seconds"]  # stopped in the epoch that spent it


@pytest.mark.parametrize(
    ("text", "seconds"), [("600", 600.0), ("90s", 90.0), ("10m", 600.0), ("1.5h", 5400.0)]
)
def test_durations(text, seconds):
    from glassnet.cli.common import duration

    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["abc", "0", "-5m", "10d", "inf", "m"])
def test_a_bad_time_budget_is_refused(capsys, tmp_path, text):
    code, _, err = run(capsys, "train", f"--time-budget={text}", "--out", tmp_path / "r")
    assert code == 2 and "expected a duration such as 600, 90s, 10m or 1.5h" in err
    assert not (tmp_path / "r").exists()


def test_a_time_budget_refuses_a_schedule_that_counts_epochs(capsys, tmp_path):
    argv = ["train", "--time-budget", "1m", "--scheduler", "cosine", "--out", tmp_path / "r"]
    code, _, err = run(capsys, *argv, "--no-progress")
    assert_user_error(code, err, "scheduler 'cosine' counts epochs")
    assert not (tmp_path / "r").exists()


def test_evaluate_takes_a_model_saved_with_glassnet_save(capsys, tmp_path):
    import glassnet

    model = glassnet.models.get("digits-baseline", seed=0)
    path = glassnet.save(model, tmp_path / "model.safetensors")
    code, out, err = run(capsys, "evaluate", path, "--dataset", "digits")
    assert code == 0, err
    assert "digits-baseline on digits (test, 359 images): accuracy" in out


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="names a write by /proc/self/fd")
def test_a_full_disk_at_the_first_checkpoint_leaves_a_folder_resume_starts_again(
    capsys, tmp_path, monkeypatch
):
    """It left config.json and best.safetensors: refused as a new run ('already holds a
    run') and by --resume ('no last.safetensors'), with no way on but deleting it."""
    import errno

    import glassnet.io as gio

    real_fsync = gio.os.fsync

    def full_for_last(fd):
        if ".last.safetensors." in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    folder = tmp_path / "r"
    monkeypatch.setattr(gio.os, "fsync", full_for_last)
    code, _, err = run(capsys, "train", "--epochs", 1, "--out", folder, "--no-progress")
    assert code == 2 and "No space left on device" in err
    assert not (folder / "last.safetensors").exists() and (folder / "config.json").exists()
    monkeypatch.undo()
    code, _, err = run(capsys, "train", "--epochs", 1, "--out", folder, "--no-progress")
    assert code == 2
    said = f"before its first checkpoint: start it again with 'glassnet train --resume {folder}'"
    assert said in err
    code, out, err = run(capsys, "train", "--resume", folder, "--no-progress")
    assert code == 0, err
    assert "holds no checkpoint (the run stopped before its first): starting it again" in out
    assert (folder / "last.safetensors").exists() and (folder / "model.safetensors").exists()


def test_a_second_writer_of_a_run_folder_is_refused(capsys, tmp_path):
    """Two trains given the same --out 0.1 s apart both ran and reported success; the
    folder kept the one that finished last."""
    import subprocess
    import sys

    folder = tmp_path / "r"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from glassnet.io import run_folder_lock\n"
         f"with run_folder_lock({str(folder)!r}):\n"
         "    print('held', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        for command in ("train", "compare"):
            code, _, err = run(capsys, command, "--epochs", 1, "--out", folder, "--no-progress")
            assert_user_error(
                code, err, f"{folder} is in use by another glassnet run (process {holder.pid})"
            )
            assert "resume=True" not in err
    finally:
        holder.communicate("")  # lets it go
    assert holder.returncode == 0 and not folder.exists()  # the holder made it, and took it
    code, _, err = run(capsys, "train", "--epochs", 1, "--out", folder, "--no-progress")
    assert code == 0, err
    assert not (folder / ".glassnet.lock").exists()


def test_the_leftovers_of_a_killed_save_go_at_the_next_start(capsys, tmp_path):
    folder = tmp_path / "r"
    code, _, _ = run(capsys, "train", "--epochs", 1, "--out", folder, "--no-progress")
    assert code == 0
    left = [folder / ".last.safetensors.k1ll3d_x.tmp", folder / "plots" / ".curves.png.a1b2c3.tmp"]
    for path in left:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"\0" * 1000)  # fresh: atomic_write's own cleanup waits an hour
    kept = folder / "notes.tmp"
    kept.write_text("mine")
    code, _, err = run(capsys, "train", "--resume", folder, "--epochs", 2, "--no-progress")
    assert code == 0, err
    assert not any(p.exists() for p in left) and kept.read_text() == "mine"
