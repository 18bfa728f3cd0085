"""``run_compare``: one model definition, three engines, one run folder; repeatable runs."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

import glassnet  # noqa: E402
from glassnet import data, models  # noqa: E402
from glassnet.io import load_arrays, read_json  # noqa: E402
from glassnet.study import CompareConfig, load_results, results_table, run_compare  # noqa: E402
from glassnet.train import evaluate  # noqa: E402

torch.set_num_threads(1)  # the same threads every run (and no oversubscription under xdist)

MODELS = ["baseline", "cnn-pool"]


def quiet(*args, **kwargs):
    pass


def runs_by_key(results):
    return {(r["model"], r["engine"]): r for r in results["runs"]}


@pytest.fixture(scope="module")
def compare_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    config = CompareConfig(epochs=1, models=list(MODELS))
    folder, results = run_compare(config, out=out, log=quiet, report=False)
    return config, folder, results


@pytest.fixture(scope="module")
def digits():
    return data.load("digits")


def test_run_folder_files(compare_run):
    config, folder, results = compare_run
    names = {p.name for p in folder.iterdir()}
    assert {"config.json", "results.json", "history.csv", "weights"} <= names
    assert read_json(folder / "config.json") == config.to_dict()
    assert load_results(folder) == json.loads((folder / "results.json").read_text())
    assert sorted(p.name for p in (folder / "weights").iterdir()) == [
        "baseline-glassnet.safetensors",
        "baseline-sklearn.safetensors",
        "baseline-torch.safetensors",
        "cnn-pool-glassnet.safetensors",
        "cnn-pool-torch.safetensors",
    ]
    assert results["config"] == config.to_dict()
    dataset = results["dataset"]
    assert dataset["name"] == "digits" and dataset["input_shape"] == [1, 8, 8]
    assert dataset["classes"] == [str(i) for i in range(10)]
    # the default recipe holds 10% of the training images out (stratified) for the best epoch
    assert (dataset["n_train"], dataset["n_val"], dataset["n_test"]) == (1294, 144, 359)
    assert dataset["test_labels"] == data.load("digits").y_test.tolist()
    assert results["glassnet_version"] == glassnet.__version__
    assert {"python", "numpy", "torch", "sklearn"} <= set(results["machine"])


def test_history_csv_holds_every_curve(compare_run):
    _, folder, results = compare_run
    with open(folder / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["model"], r["engine"], r["epoch"]) for r in rows] == [
        ("baseline", "glassnet", "1"),
        ("baseline", "torch", "1"),
        ("baseline", "sklearn", "1"),
        ("cnn-pool", "glassnet", "1"),
        ("cnn-pool", "torch", "1"),
    ]
    by_key = runs_by_key(results)
    for row in rows:
        record = by_key[(row["model"], row["engine"])]["history"][0]
        assert float(row["test_accuracy"]) == record["test_accuracy"]
        assert float(row["train_loss"]) == record["train_loss"]


@pytest.mark.parametrize("engine", ["glassnet", "torch", "sklearn"])
def test_results_of_each_run(compare_run, digits, engine):
    _, _, results = compare_run
    record = runs_by_key(results)[("baseline", engine)]
    assert record["status"] == "ok" and record["reason"] is None
    assert record["zoo_name"] == "digits-baseline"
    assert record["params"] == 2_260
    (epoch,) = record["history"]
    assert epoch["epoch"] == 1
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_loss"):
        assert np.isfinite(epoch[key]), key
    assert np.isfinite(epoch["test_accuracy"]) and np.isfinite(epoch["seconds"])
    assert record["seconds"] == record["first_epoch_seconds"] == epoch["seconds"] > 0
    assert record["final_test_accuracy"] == epoch["test_accuracy"]
    # the best epoch comes from the validation split; no "best" figure of the test set
    assert record["best_val_accuracy"] == epoch["val_accuracy"] and record["best_epoch"] == 1
    assert record["best_epoch_on"] == "val_accuracy" and "best_test_accuracy" not in record
    pred = np.array(record["test_predictions"])
    y = digits.y_test
    assert pred.shape == y.shape
    assert np.mean(pred == y) == pytest.approx(record["final_test_accuracy"], abs=1e-6)
    cm = np.array(record["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == len(y)
    np.testing.assert_array_equal(cm, np.bincount(y * 10 + pred, minlength=100).reshape(10, 10))
    assert record["per_class_errors"] == (cm.sum(1) - np.diag(cm)).tolist()
    assert record["misclassified"] == np.flatnonzero(pred != y).tolist()
    assert record["first_layer_shape"] == [30, 64]
    assert record["weights_file"] == f"weights/baseline-{engine}.safetensors"
    assert record["iterations"] and record["iterations"][-1]["epoch"] == 1


@pytest.mark.parametrize("engine", ["glassnet", "torch"])
@pytest.mark.parametrize("model", MODELS)
def test_saved_weights_reproduce_the_recorded_accuracy(compare_run, digits, engine, model):
    _, folder, results = compare_run
    record = runs_by_key(results)[(model, engine)]
    arrays, meta = load_arrays(folder / record["weights_file"])
    assert meta["model"] == record["zoo_name"] and meta["engine"] == engine
    net = models.get(record["zoo_name"])
    net.load_state_dict(arrays)  # torch's state_dict keys are glassnet's
    result = evaluate(net, digits)
    assert result["accuracy"] == pytest.approx(record["final_test_accuracy"], abs=1e-6)
    assert (result["predictions"] == np.array(record["test_predictions"])).mean() > 0.99


@pytest.mark.parametrize("model", MODELS)
def test_glassnet_and_pytorch_agree(compare_run, model):
    _, _, results = compare_run
    ours = runs_by_key(results)[(model, "glassnet")]
    theirs = runs_by_key(results)[(model, "torch")]
    assert ours["params"] == theirs["params"]
    # same weights, same batches, same optimizer: the same first epoch up to round-off
    assert ours["history"][0]["train_loss"] == pytest.approx(
        theirs["history"][0]["train_loss"], abs=1e-4
    )
    assert ours["history"][0]["test_loss"] == pytest.approx(
        theirs["history"][0]["test_loss"], abs=1e-4
    )
    assert abs(ours["final_test_accuracy"] - theirs["final_test_accuracy"]) <= 0.01
    assert [it["step"] for it in ours["iterations"]] == [it["step"] for it in theirs["iterations"]]
    assert [it["examples_seen"] for it in ours["iterations"]] == [
        it["examples_seen"] for it in theirs["iterations"]
    ]
    np.testing.assert_allclose(
        [it["loss"] for it in ours["iterations"]],
        [it["loss"] for it in theirs["iterations"]],
        atol=1e-4,
    )


def test_sklearn_runs_the_mlp_and_explains_the_conv_model(compare_run):
    _, _, results = compare_run
    skipped = runs_by_key(results)[("cnn-pool", "sklearn")]
    assert skipped["status"] == "skipped"
    assert "Conv2d" in skipped["reason"] and "MLPClassifier" in skipped["reason"]
    assert "history" not in skipped
    assert any("No scikit-learn row for cnn-pool" in note for note in results["notes"])
    assert any("identical weights" in note for note in results["notes"])
    table = results_table(results)
    lines = table.splitlines()
    assert len(lines) == 2 + 6
    assert any(
        line.startswith("cnn-pool") and "sklearn" in line and "skipped" in line for line in lines
    )
    baseline_sklearn = next(line for line in lines if line.startswith("baseline        sklearn"))
    assert "2,260" in baseline_sklearn and "%" in baseline_sklearn
    long = {"runs": [{**r, "model": "cifar10-cnn-pool-skip"} for r in results["runs"]]}
    assert all(
        line.startswith("cifar10-cnn-pool-skip  ") for line in results_table(long).splitlines()[2:]
    )  # the model column widens: the engine does not run into the name


def test_repeating_a_run_from_its_config_gives_the_same_numbers(compare_run, tmp_path):
    _, folder, results = compare_run
    config = CompareConfig.from_dict(read_json(folder / "config.json"))
    _, again = run_compare(config, out=tmp_path, log=quiet, report=False)
    assert len(again["runs"]) == len(results["runs"])
    for first, second in zip(results["runs"], again["runs"]):
        assert (first["model"], first["engine"], first["status"]) == (
            second["model"],
            second["engine"],
            second["status"],
        )
        if first["status"] != "ok":
            assert first["reason"] == second["reason"]
            continue
        for key in (
            "final_test_accuracy",
            "final_test_loss",
            "test_predictions",
            "params",
            "confusion_matrix",
        ):
            assert first[key] == second[key], (first["model"], first["engine"], key)
        strip = [{k: v for k, v in e.items() if k != "seconds"} for e in first["history"]]
        assert strip == [{k: v for k, v in e.items() if k != "seconds"} for e in second["history"]]
    for name in ("baseline-glassnet", "cnn-pool-torch", "baseline-sklearn"):
        a, _ = load_arrays(folder / "weights" / f"{name}.safetensors")
        b, _ = load_arrays(tmp_path / "weights" / f"{name}.safetensors")
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])


def test_validation_split_and_plateau_are_shared_by_glassnet_and_torch(tmp_path):
    config = CompareConfig(
        epochs=3,
        models=["baseline"],
        engines=["glassnet", "torch"],
        val_size=0.2,
        optimizer="sgd",
        lr=0.2,
        momentum=0.5,
        scheduler="plateau",
        batch_size=64,
    )
    _, results = run_compare(config, out=tmp_path, log=quiet, report=False)
    ours, theirs = results["runs"]
    assert results["dataset"]["n_val"] == 288
    assert [list(e) for e in ours["history"]] == [list(e) for e in theirs["history"]]
    for a, b in zip(ours["history"], theirs["history"]):
        assert a["lr"] == pytest.approx(b["lr"])
        assert a["val_loss"] == pytest.approx(b["val_loss"], abs=1e-4)
        assert a["val_accuracy"] == pytest.approx(b["val_accuracy"], abs=0.01)


def test_val_curves_and_plain_evaluation_losses_for_every_engine(tmp_path):
    """With a validation split every engine records val loss and accuracy, history.csv
    and both plots show them; with label smoothing the val/test losses are plain
    cross-entropy for every engine (scikit-learn has no smoothing)."""
    pytest.importorskip("sklearn")
    config = CompareConfig(
        epochs=2, models=["baseline"], val_size=0.2, label_smoothing=0.2, batch_size=64
    )
    _, results = run_compare(config, out=tmp_path, log=quiet, report=True)
    for run in results["runs"]:
        assert all({"val_loss", "val_accuracy"} <= set(e) for e in run["history"]), run["engine"]
    header = (tmp_path / "history.csv").read_text().splitlines()[0].split(",")
    assert header[3:9] == [
        "train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy"
    ]  # fmt: skip
    assert "Label smoothing (0.2) shapes the training loss only" in " ".join(results["notes"])
    assert "glassnet val" in (tmp_path / "report.html").read_text()
    ours = {r["engine"]: r for r in results["runs"]}["glassnet"]
    from glassnet.study.train_run import load_model

    model = load_model(tmp_path / "weights" / "baseline-glassnet.safetensors")
    dataset = data.load("digits", val_size=0.2)
    plain = evaluate(model, dataset, split="test")["loss"]
    assert ours["history"][-1]["test_loss"] == pytest.approx(plain, rel=1e-5)
    theirs = {r["engine"]: r for r in results["runs"]}["torch"]
    assert theirs["history"][-1]["test_loss"] == pytest.approx(plain, rel=1e-4)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"epochs": 0}, "epochs must be at least 1"),
        ({"batch_size": 0}, "batch size"),
        ({"lr": 0.0}, "learning rate must be a positive number"),
        ({"lr": -1e-3}, "learning rate"),
        ({"lr": float("inf")}, "learning rate must be a positive number, got inf"),
        ({"lr": float("nan")}, "learning rate must be a positive number, got nan"),
        ({"weight_decay": -1.0}, "weight decay must be a number >= 0, got -1"),
        ({"weight_decay": float("inf")}, "weight decay must be a number >= 0, got inf"),
        ({"momentum": -5.0}, "momentum must be a number >= 0"),
        ({"optimizer": "sgd", "nesterov": True}, "Nesterov momentum requires a momentum"),
        ({"optimizer": "lbfgs"}, "unknown optimizer 'lbfgs'"),
        ({"scheduler": "warmup"}, "unknown scheduler 'warmup'"),
        ({"label_smoothing": 1.5}, "label smoothing"),
        ({"models": []}, "no models"),
        ({"models": ["baseline", "transformer"]}, "unknown model 'transformer'"),
        ({"engines": ["glassnet", "jax"]}, r"unknown engine\(s\) \['jax'\]"),
        ({"engines": []}, "engine"),
        ({"dataset": "imagenet"}, "unknown dataset 'imagenet'"),
        ({"epochs": "3"}, "epochs must be an integer, got '3'"),
        ({"lr": "fast"}, "lr must be a number"),
        ({"augment": "yes"}, "augment must be true or false"),
        ({"models": "baseline"}, "models must be a list of names"),
        ({"seed": -1}, "seed must be a non-negative"),
    ],
)
def test_invalid_configs_name_the_problem(changes, message, tmp_path):
    config = CompareConfig(**{**CompareConfig().to_dict(), **changes})
    out = tmp_path / "run"
    with pytest.raises(ValueError, match=message):
        run_compare(config, out=out, log=quiet, report=False)
    assert not out.exists()  # nothing written for a config that cannot run


def test_unknown_settings_in_a_config_file():
    with pytest.raises(ValueError, match="unknown setting.*epoch_count"):
        CompareConfig.from_dict({"epoch_count": 3})
    assert CompareConfig.from_dict({"epochs": 3}).epochs == 3


def baseline_spec(digits, **recipe):
    """A RunSpec of digits-baseline from seed 0's initial weights."""
    from glassnet import random as gn_random
    from glassnet.study.engines import RunSpec

    gn_random.manual_seed(0)
    init = models.get("digits-baseline").state_dict()
    return RunSpec(
        model="baseline", zoo_name="digits-baseline", dataset=digits, init_state=init, **recipe
    )


@pytest.mark.parametrize("engine", ["glassnet", "torch", "sklearn"])
def test_epoch_end_hook_sees_every_epoch_after_its_evaluation(digits, engine):
    from glassnet.study.engines import run_engine

    seen = []
    spec = baseline_spec(
        digits,
        epochs=3,
        batch_size=128,
        epoch_end=lambda epoch, logs: seen.append((epoch, dict(logs))),
    )
    result = run_engine(engine, spec)
    assert [e for e, _ in seen] == [1, 2, 3]
    for (_, logs), recorded in zip(seen, result.history):
        assert logs["test_accuracy"] == recorded["test_accuracy"]  # evaluated before the hook
        assert logs["seconds"] == recorded["seconds"]


class TickClock:
    """A ``time`` module whose perf_counter advances one second per call."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        self.now += 1.0
        return self.now


def test_a_time_budget_gives_both_engines_the_same_steps_and_schedule(digits, monkeypatch):
    """Both loops read their clock at the start of an epoch and after every batch; with
    a clock that ticks once per read, each training step costs one second on both, so
    a 30.5 s budget is 31 steps (two epochs of 12 batches, and 7 of a third) whose
    OneCycle rates follow the share of the budget spent, identically."""
    from glassnet.study import engines
    from glassnet.train import trainer as trainer_module

    monkeypatch.setattr(trainer_module, "time", TickClock())
    monkeypatch.setattr(engines, "time", TickClock())
    results = {}
    for engine in ("glassnet", "torch"):
        spec = baseline_spec(
            digits,
            epochs=100,
            batch_size=128,
            optimizer="sgd",
            lr=0.1,
            momentum=0.9,
            scheduler="onecycle",
            time_budget=30.5,
        )
        results[engine] = engines.run_engine(engine, spec)
    ours, theirs = results["glassnet"].history, results["torch"].history
    assert len(ours) == len(theirs) == 3
    assert [e["seconds"] for e in ours] == [e["seconds"] for e in theirs] == [12.0, 12.0, 7.0]
    for a, b in zip(ours, theirs):
        assert a["lr"] == pytest.approx(b["lr"], rel=1e-6)
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-4)
        assert a["test_loss"] == pytest.approx(b["test_loss"], abs=1e-4)
    # the rate after the last step: 31 s of 30.5, the end of the schedule
    assert ours[-1]["lr"] == pytest.approx(0.1 / 25 / 1e4, rel=1e-6)
    np.testing.assert_allclose(
        results["glassnet"].weights["1.weight"],
        results["torch"].weights["1.weight"],
        atol=1e-4,
    )


def test_a_time_budget_refuses_a_schedule_that_counts_epochs_on_torch_too(digits):
    from glassnet.study import engines

    spec = baseline_spec(digits, scheduler="cosine", time_budget=10.0)
    with pytest.raises(ValueError, match="counts epochs"):
        engines.run_engine("torch", spec)


def test_an_interrupted_compare_resumes_to_the_results_of_an_uninterrupted_one(
    tmp_path, monkeypatch, capsys
):
    import glassnet.study.compare as study_compare
    from glassnet.cli import main

    config = CompareConfig(epochs=1, models=["baseline", "cnn-pool"], engines=["glassnet", "torch"])
    _, straight = run_compare(config, out=tmp_path / "straight", log=quiet, report=False)

    real = study_compare.run_engine
    calls = []

    def interrupt_the_third(engine, spec):
        calls.append((spec.model, engine))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(engine, spec)

    monkeypatch.setattr(study_compare, "run_engine", interrupt_the_third)
    said = []
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_compare(config, out=out, log=said.append, report=False)
    assert "(baseline-glassnet, baseline-torch)" in said[-1]
    assert f"continue with 'glassnet compare --resume {out}'" in said[-1]
    assert main(["report", str(out)]) == 2
    assert f"glassnet compare --resume {out}" in capsys.readouterr().err
    with pytest.raises(FileExistsError, match=f"glassnet compare --resume {out}"):
        run_compare(config, out=out, log=quiet, report=False)

    calls.clear()
    _, resumed = run_compare(config, out=out, log=quiet, report=False, resume=True)
    assert calls == [("cnn-pool", "glassnet"), ("cnn-pool", "torch")]  # the rest only
    assert not (out / "finished").exists()  # results.json holds the records now
    keys = ("final_test_accuracy", "final_test_loss", "history", "test_predictions")
    for a, b in zip(straight["runs"], resumed["runs"]):
        assert (a["model"], a["engine"]) == (b["model"], b["engine"])
        for key in keys:
            if key == "history":  # every epoch's numbers but its seconds
                drop = [{k: v for k, v in e.items() if k != "seconds"} for e in a[key]]
                assert drop == [{k: v for k, v in e.items() if k != "seconds"} for e in b[key]]
            else:
                assert a[key] == b[key], key
    with pytest.raises(FileExistsError, match="finished compare run"):
        run_compare(config, out=out, log=quiet, report=False, resume=True)
    other = CompareConfig(epochs=2, models=["baseline"], engines=["glassnet"])
    (out / "results.json").unlink()
    with pytest.raises(ValueError, match="the recipe differs from"):
        run_compare(other, out=out, log=quiet, report=False, resume=True)


def test_cli_resume_keeps_the_runs_recipe(capsys, tmp_path):
    from glassnet.cli import main

    assert main(["compare", "--resume", str(tmp_path)]) == 2
    assert "is not a compare run folder (no config.json)" in capsys.readouterr().err
    (tmp_path / "config.json").write_text(json.dumps(CompareConfig(epochs=1).to_dict()))
    assert main(["compare", "--resume", str(tmp_path), "--epochs", "3", "--lr", "0.1"]) == 2
    assert "leave out --epochs, --lr" in capsys.readouterr().err


def test_report_of_an_interrupted_run_names_it(tmp_path, capsys):
    from glassnet.cli import main

    (tmp_path / "weights").mkdir()
    (tmp_path / "config.json").write_text("{}")
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "interrupted before its results were written (no results.json)" in err
    assert f"continue it with 'glassnet compare --resume {tmp_path}'" in err


def test_a_compare_interrupted_while_writing_its_report_is_finished_by_resume(
    tmp_path, monkeypatch
):
    """Ctrl-C after results.json, while the report is written: the message names both ways
    to finish it, --resume writes the report without training again, and a finished run's
    --resume points to 'glassnet report'."""
    import glassnet.report
    import glassnet.study.compare as study_compare

    config = CompareConfig(epochs=1, models=["baseline"], engines=["glassnet"])
    real = glassnet.report.build_report

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(glassnet.report, "build_report", interrupted)
    said, out = [], tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        run_compare(config, out=out, log=said.append)
    assert (out / "results.json").exists() and not (out / "report.html").exists()
    assert f"'glassnet compare --resume {out}'" in said[-1]
    assert f"'glassnet report {out}'" in said[-1]

    monkeypatch.setattr(glassnet.report, "build_report", real)
    monkeypatch.setattr(study_compare, "run_engine", lambda *a: pytest.fail("trained again"))
    before = (out / "results.json").read_bytes()
    _, results = run_compare(config, out=out, log=quiet, resume=True)
    assert (out / "report.html").exists() and (out / "history.csv").exists()
    assert (out / "results.json").read_bytes() == before
    assert results == load_results(out)
    with pytest.raises(FileExistsError, match=f"rebuild its report with 'glassnet report {out}'"):
        run_compare(config, out=out, log=quiet, resume=True)
