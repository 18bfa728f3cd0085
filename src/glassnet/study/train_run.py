"""``glassnet train``: one model, one dataset, one engine, in a resumable run folder.

The folder holds ``config.json`` (feed it back with ``--config`` to repeat the run),
``history.csv`` / ``history.json``, ``metrics.json`` (test loss and accuracy, best
epoch, confusion matrix, per-class errors, seconds), ``model.safetensors`` (the final
weights, with the zoo name and options in its metadata so ``glassnet evaluate`` can
rebuild the model), and for the glassnet engine ``last.safetensors`` (resumable) and
``best.safetensors``. A run interrupted with Ctrl-C continues with ``--resume``.

It also leaves the report of one ``compare`` row: ``results.json`` (the same record as
a compare run's, with ``"kind": "train"``), ``report.html`` and ``plots/`` (curves,
first-layer weights, confusion matrix and per-class errors, the first 20 test images
and the first 20 mistakes). ``glassnet report`` rebuilds them, also for a train folder
from before reports (it evaluates ``model.safetensors`` again).
"""

from __future__ import annotations

import datetime as _dt
import time
from pathlib import Path

from .. import __version__, models
from ..io import read_json, save, write_json
from ..train import evaluate, fit
from ..train.callbacks import Callback
from ..train.history import History
from .compare import check_new_run_folder, default_out, machine_info, write_report
from .config import TrainConfig
from .engines import RunResult, RunSpec, first_layer_weights, run_torch, seeded_model
from .records import TIMING_NOTE, best_epoch, best_epoch_note, dataset_record

__all__ = ["run_train", "train_out", "load_model", "train_results", "ReportInterrupted"]


def load_model(path):
    """Rebuild a zoo model from a ``model.safetensors`` saved by a run, with its weights
    (:func:`glassnet.load`)."""
    return models.load(path)


def train_out(config: TrainConfig, out=None) -> Path:
    """The run folder ``run_train`` uses: ``out``, or runs/<timestamp>-<dataset>-<model>."""
    return Path(out) if out else default_out(config.dataset, config.model)


def run_train(
    config: TrainConfig,
    out=None,
    resume: bool = False,
    progress: bool = True,
    log=print,
    validated: bool = False,
) -> tuple[Path, dict]:
    """Train per ``config`` into ``out`` (default runs/<timestamp>-<dataset>-<model>);
    ``resume=True`` continues the run already in ``out``. Returns (folder, metrics).
    ``validated=True`` says the caller has just run ``config.validate()``, which is
    then not repeated (it builds the model and the optimizer once more).

    A new run refuses a folder that already holds a run (it would overwrite its
    checkpoints). The folder and its ``config.json`` are written only once training
    starts, after the data, the model, the optimizer and (on resume) the checkpoint
    were accepted: a run that fails its checks leaves nothing behind, and a refused
    resume leaves the run's config.json as it was."""
    if not validated:
        config.validate()
    if resume and out is not None and restartable(out):
        # stopped before its first checkpoint (a full disk, a kill): trained again from
        # the start, as --resume of it can only mean
        log(f"{out} holds no checkpoint (the run stopped before its first): starting it again")
        resume = False
        _check_same_recipe(read_run_config(out), config)
    elif resume:
        if out is None or not (Path(out) / "last.safetensors").exists():
            raise FileNotFoundError(f"nothing to resume: no last.safetensors in {out}")
        if config.engine != "glassnet":
            raise ValueError("only glassnet-engine runs can be resumed")
        if (Path(out) / "config.json").exists():
            _check_same_recipe(read_run_config(out), config)
    else:
        check_new_run_folder(out)
    out = train_out(config, out)
    dataset = config.load_dataset()
    zoo_name, model = seeded_model(config.model, dataset, config.seed, config.model_args)
    log(f"{dataset!r}\n{zoo_name}: {model.num_parameters():,} parameters, engine {config.engine}")
    started = time.perf_counter()
    spec = RunSpec.from_recipe(
        config,
        model=config.model,
        zoo_name=zoo_name,
        dataset=dataset,
        init_state=model.state_dict(),
        progress=progress,
        early_stopping=config.early_stopping,
        log_interval=config.log_interval,
        time_budget=config.time_budget,
        model_args=dict(config.model_args),
    )
    start_run = _StartRun(out, config)
    if config.engine == "glassnet":
        history = fit(
            model,
            dataset,
            **spec.recipe(),
            callbacks=[start_run],
            early_stopping=spec.early_stopping,
            checkpoint_dir=out,
            resume=resume or None,
            progress=progress,
            log_interval=spec.log_interval,
            time_budget=spec.time_budget,
        )
        result = evaluate(model, dataset)
        weights = model.state_dict()
    else:
        start_run.on_train_begin(None)
        run = run_torch(spec)
        history = History(run.history, run.iterations)
        model.load_state_dict(run.weights)  # same keys: the torch weights in a glassnet model
        result = evaluate(model, dataset)
        weights = run.weights
        history.to_csv(out / "history.csv")
    save(weights, out / "model.safetensors", {**model.zoo_spec, "engine": config.engine})
    history.to_json(out / "history.json")
    metrics = {
        "model": zoo_name,
        "dataset": dataset.name,
        "engine": config.engine,
        "test_loss": result["loss"],
        "test_accuracy": result["accuracy"],
        "n_test": result["n"],
        # chosen on the validation accuracy, never on the test set (None without a split)
        **best_epoch(history.epochs),
        "epochs": len(history),
        "train_seconds": sum(e["seconds"] for e in history.epochs),
        "wall_seconds": time.perf_counter() - started,
        "params": model.num_parameters(),
        "confusion_matrix": result["confusion_matrix"].tolist(),
        "per_class_errors": result["per_class_errors"].tolist(),
        "machine": machine_info(),
    }
    write_json(out / "metrics.json", metrics)
    results = _results(config, dataset, zoo_name, model, history, result)
    try:
        write_json(out / "results.json", results)
        write_report(out, results, dataset, log)
    except KeyboardInterrupt:
        raise ReportInterrupted(
            f"training finished and {out / 'model.safetensors'} is saved, but the report was "
            f"not written: write it with 'glassnet report {out}'"
        ) from None
    return out, metrics


def restartable(out) -> bool:
    """Whether ``out`` holds a train run that stopped before its first checkpoint (its
    config.json, maybe best.safetensors and history.csv, but neither last.safetensors
    nor the final model.safetensors): ``--resume`` starts it again."""
    out = Path(out)
    return (
        (out / "config.json").is_file()
        and not (out / "last.safetensors").exists()
        and not (out / "model.safetensors").exists()
        and not (out / "results.json").exists()  # a compare run's folder
        and not (out / "weights").exists()
    )


class ReportInterrupted(KeyboardInterrupt):
    """Ctrl-C after a train run finished and saved its model, while its results.json and
    report were being written; the message says how to finish them."""


def _results(config: TrainConfig, dataset, zoo_name: str, model, history, result) -> dict:
    """results.json of a train run: a compare run's, with one record (``model`` holding
    the run's final weights) and ``"kind": "train"``."""
    key, first = first_layer_weights(model)
    record = RunResult(
        config.model,
        config.engine,
        params=model.num_parameters(),
        history=history.epochs,
        iterations=history.iterations,
        predictions=result["predictions"],
        first_layer=first,
        first_layer_key=key,
    ).summary(dataset.y_test, dataset.num_classes)
    record.update(zoo_name=zoo_name, weights_file="model.safetensors")
    n_val = len(dataset.y_val) if dataset.y_val is not None else 0
    return {
        "kind": "train",
        "glassnet_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "config": config.to_dict(),
        "dataset": dataset_record(dataset),
        "notes": [best_epoch_note(n_val), TIMING_NOTE],
        "runs": [record],
    }


def train_results(folder) -> tuple[dict, object]:
    """``(results, dataset)`` of a finished train folder that has no results.json (it
    was made before train wrote reports): its model.safetensors evaluated again on the
    run's test split, with its config.json and history.json. The dataset is not
    downloaded."""
    folder = Path(folder)
    config = read_run_config(folder)
    dataset = config.load_dataset(download=False)
    model = load_model(folder / "model.safetensors")
    history = History.from_json(folder / "history.json")
    result = evaluate(model, dataset)
    zoo_name = model.zoo_spec["model"]
    return _results(config, dataset, zoo_name, model, history, result), dataset


class _StartRun(Callback):
    """Makes the run folder and writes config.json when training starts (after
    ``fit`` built the optimizer and loaded the checkpoint it resumes)."""

    def __init__(self, out: Path, config: TrainConfig):
        self.out, self.config = out, config

    def on_train_begin(self, trainer) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        write_json(self.out / "config.json", self.config.to_dict())


# what a resumed run may change; anything else (the optimizer's lr, the batch size, ...) comes
# from the checkpoint, so a changed value would be ignored while config.json claimed it
RESUME_MAY_CHANGE = ("epochs", "data_dir", "early_stopping", "log_interval")


def _check_same_recipe(saved: TrainConfig, config: TrainConfig) -> None:
    old, new = saved.to_dict(), config.to_dict()
    changed = [k for k in new if k not in RESUME_MAY_CHANGE and old.get(k) != new[k]]
    if changed:
        raise ValueError(
            "a resumed run keeps its recipe, but "
            + ", ".join(f"{k} {old.get(k)!r} -> {new[k]!r}" for k in changed)
            + f" differ; resume may change only {', '.join(RESUME_MAY_CHANGE)} "
            "(start a new run for another recipe)"
        )


def read_run_config(folder) -> TrainConfig:
    return TrainConfig.from_dict(read_json(Path(folder) / "config.json"))
