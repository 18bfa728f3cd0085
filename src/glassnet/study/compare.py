"""``glassnet compare``: one model definition, three engines, one report.

For every model: build the glassnet zoo model once with the run's seed, then train it
with each engine (see :mod:`glassnet.study.engines` for the fairness rules) and record
per-epoch curves, test predictions and first-layer weights. The run folder holds::

    config.json    everything needed to repeat the run (glassnet compare --config ...)
    results.json   per model and engine: curves, accuracies, seconds, parameter count,
                   test predictions, confusion matrix, per-class errors, mistakes
    history.csv    the curves as one long table (model, engine, epoch, ...)
    weights/       <model>-<engine>.safetensors (sklearn: its coefs_/intercepts_)
    plots/         PNG figures (matplotlib)
    report.html    the self-contained interactive report
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import re
import shutil
import time
from pathlib import Path

from .. import __version__, data
from ..io import atomic_write, machine_info, read_json, save_arrays, write_json
from ..kernels import allocator
from ..train.fit import warn_if_batch_exceeds
from .config import CompareConfig
from .engines import RunSpec, run_engine, seeded_model
from .records import TIMING_NOTE, best_epoch_note, dataset_record

__all__ = [
    "run_compare",
    "write_report",
    "results_table",
    "machine_info",
    "load_results",
    "check_new_run_folder",
]


def _run_spec(config, name: str, dataset, progress: bool = False) -> tuple[str, RunSpec, dict]:
    """The zoo name, the RunSpec and the zoo spec (what ``glassnet.load`` rebuilds) of
    model ``name``: its initial weights drawn from the run's seed, so every engine, and
    a resumed or parallel run, starts from them."""
    zoo_name, init = seeded_model(name, dataset, config.seed, config.model_args)
    spec = RunSpec.from_recipe(
        config,
        model=name,
        zoo_name=zoo_name,
        dataset=dataset,
        init_state=init.state_dict(),
        progress=progress,
        model_args=dict(config.model_args),
    )
    return zoo_name, spec, init.zoo_spec


def default_out(dataset: str, suffix: str = "") -> Path:
    """runs/<timestamp>-<dataset>[-suffix], made unique if it exists already."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = data.canonical_name(dataset)
    if name.startswith("folder:"):  # folder:PATH?size=64 -> the folder's own name
        base = Path(name[len("folder:") :].split("?")[0]).expanduser().resolve().name
        name = "folder-" + (re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-.")[:40] or "images")
    elif "?" in name:  # mnist?classes=0,1,2,3,4 -> mnist-5classes
        name = f"{name.split('?')[0]}-{name.count(',') + 1}classes"
    base = Path("runs") / f"{stamp}-{name}{'-' + suffix if suffix else ''}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


# what a run leaves that a new run would overwrite (train's or compare's). config.json
# alone is not on the list: a run that failed before its first checkpoint (it diverged,
# or the torch engine was stopped) leaves just that, and may be started again.
RUN_FILES = (
    "last.safetensors",
    "best.safetensors",
    "model.safetensors",
    "history.csv",
    "results.json",
    "weights",
)


def check_new_run_folder(out) -> None:
    """Refuse to start a new run in a folder that holds one: its checkpoints and
    results would be overwritten."""
    if out is None:
        return
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is a file, not a folder")
    found = [name for name in RUN_FILES if (out / name).exists()]
    if found:
        resume = ""
        if (out / "last.safetensors").exists():
            resume = f"continue it with 'glassnet train --resume {out}', or "
        elif (out / "config.json").is_file() and set(found) <= {"best.safetensors", "history.csv"}:
            resume = (  # a train run stopped before its first checkpoint (a full disk)
                f"it stopped before its first checkpoint: start it again with 'glassnet "
                f"train --resume {out}', or "
            )
        elif (out / FINISHED_DIR).is_dir() and not (out / "results.json").exists():
            resume = f"continue it with 'glassnet compare --resume {out}', or "
        raise FileExistsError(
            f"{out} already holds a run ({', '.join(found)}); {resume}give another --out "
            "(or delete the folder)"
        )


# the records of the runs that finished, until results.json holds them all: what
# ``run_compare(..., resume=True)`` (glassnet compare --resume) continues after
FINISHED_DIR = "finished"


def run_compare(
    config: CompareConfig,
    out=None,
    progress: bool = False,
    log=print,
    report: bool = True,
    validated: bool = False,
    resume: bool = False,
    jobs: int = 1,
    ray_address: str | None = None,
) -> tuple[Path, dict]:
    """Run the study, write the run folder (``out`` or runs/<timestamp>-<dataset>) with its
    plots and report.html (``report=False`` skips those), return ``(folder, results)``.
    ``validated=True`` says the caller has just run ``config.validate()`` (it builds
    every model, so it is not repeated).

    Each (model, engine) run's record is saved as it finishes. ``resume=True`` continues
    an interrupted study in ``out`` (whose config.json must be ``config``): the runs that
    finished are kept, the others trained; every run starts from its own seed, so the
    results are those of an uninterrupted study.

    ``jobs=N`` trains N (model, engine) runs at a time in worker processes, and
    ``ray_address`` runs them on a Ray cluster (:mod:`glassnet.study.backends`): the same
    records, but their seconds then measure runs that shared the machine."""
    if not validated:
        config.validate()
    if ray_address:
        from .backends import check_ray_address

        check_ray_address(ray_address)  # before the folder: an unreachable one leaves none
    if resume:
        out = _resumable_folder(out, config, report)
        if (out / "results.json").exists():  # stopped while writing its report: finish it
            results = load_results(out)
            log(f"{out}: every run had finished; writing the files the interruption left out")
            _finish(out, results, None, report, log)
            return out, results
    else:
        check_new_run_folder(out)  # a new study would mix with the old one
        out = Path(out) if out else default_out(config.dataset)
    dataset = config.load_dataset()  # before the folder: a refused dataset leaves none
    warn_if_batch_exceeds(config.batch_size, len(dataset.y_train), config.epochs)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "config.json", config.to_dict())  # what `--config` reads back
    log(f"{dataset!r}")
    allocator.keep_freed_memory_unless_disabled()  # every engine alike, before the first
    (out / "weights").mkdir(exist_ok=True)
    try:
        if jobs > 1 or ray_address:
            runs = _run_on_backend(config, dataset, out, log, resume, jobs, ray_address)
        else:
            runs = _run_every_engine(config, dataset, out, progress, log, resume)
    except KeyboardInterrupt:
        finished = sorted(p.stem for p in (out / FINISHED_DIR).glob("*.json"))
        log(
            f"\ninterrupted: {out} keeps the runs that finished "
            f"({', '.join(finished) or 'none'}); continue with 'glassnet compare --resume "
            f"{out}'"
        )
        raise
    results = {
        "glassnet_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "config": config.to_dict(),
        "dataset": dataset_record(dataset),
        "notes": _notes(config, runs, dataset) + _backend_notes(jobs, ray_address),
        "runs": runs,
    }
    write_json(out / "results.json", results)
    _finish(out, results, dataset, report, log)
    return out, results


def _finish(out: Path, results: dict, dataset, report: bool, log) -> None:
    """What follows results.json: history.csv, the plots and report.html. Interrupted
    here, the folder is finished by ``run_compare(..., resume=True)``."""
    try:
        shutil.rmtree(out / FINISHED_DIR, ignore_errors=True)  # results.json holds them now
        write_history_csv(out / "history.csv", results["runs"])
        if report:
            write_report(out, results, dataset, log)
    except KeyboardInterrupt:
        log(
            f"\ninterrupted while writing the report: {out / 'results.json'} holds every "
            f"result; finish the report with 'glassnet compare --resume {out}' (or "
            f"'glassnet report {out}')"
        )
        raise


def _resumable_folder(out, config: CompareConfig, report: bool = True) -> Path:
    """``out`` as the folder of an interrupted compare run of ``config``."""
    if out is None:
        raise ValueError("resume needs the run folder (out=)")
    out = Path(out)
    if not (out / "config.json").is_file():
        raise FileNotFoundError(f"{out} is not a compare run folder (no config.json)")
    if (out / "results.json").exists() and (not report or (out / "report.html").exists()):
        raise FileExistsError(
            f"{out} holds a finished compare run (results.json): nothing to resume; rebuild "
            f"its report with 'glassnet report {out}'"
        )
    saved = CompareConfig.from_dict(read_json(out / "config.json")).to_dict()  # defaults filled
    if json.loads(json.dumps(saved)) != json.loads(json.dumps(config.to_dict())):
        raise ValueError(
            f"the recipe differs from {out / 'config.json'}: a resumed run keeps its own"
        )
    return out


def _run_every_engine(
    config: CompareConfig, dataset, out: Path, progress, log, resume: bool = False
) -> list[dict]:
    """Each model trained by each engine from the same initial weights; their records.
    As each run finishes, its weights go to ``out/weights`` and then its record to
    ``out/finished``; with ``resume`` the runs found there are kept, not trained again."""
    runs = []
    finished = out / FINISHED_DIR
    finished.mkdir(exist_ok=True)
    for name in config.models:
        zoo_name, spec, zoo_spec = _run_spec(config, name, dataset, progress)
        for engine in config.engines:
            saved = finished / f"{name}-{engine}.json"
            if resume and saved.is_file():
                runs.append(read_json(saved))
                log(f"  {name:<14} {engine:<9} finished before the interruption: kept")
                continue
            started = time.perf_counter()
            result = run_engine(engine, spec)
            record = result.summary(dataset.y_test, dataset.num_classes)
            record["zoo_name"] = zoo_name
            _save_run(out, name, engine, record, result.weights, zoo_spec)
            runs.append(record)
            _log_run(log, record, time.perf_counter() - started)
    return runs


def _save_run(out: Path, name: str, engine: str, record: dict, weights, zoo_spec) -> None:
    """A finished run: its weights, then its record in ``out/finished``."""
    if weights is not None:
        path = out / "weights" / f"{name}-{engine}.safetensors"
        # the zoo spec, as train saves it: `glassnet evaluate` rebuilds the model
        save_arrays(path, weights, {**zoo_spec, "engine": engine})
        record["weights_file"] = str(path.relative_to(out))
    # after its weights: a record means both are there
    write_json(out / FINISHED_DIR / f"{name}-{engine}.json", record)


def _log_run(log, record: dict, seconds: float) -> None:
    name, engine = record["model"], record["engine"]
    if record["status"] == "ok":
        log(
            f"  {name:<14} {engine:<9} final test accuracy "
            f"{record['final_test_accuracy']:.4f}"
            f"  ({seconds:.1f} s with evaluation)"
        )
    else:
        log(f"  {name:<14} {engine:<9} skipped: {record['reason']}")


# ------------------------------------------------- runs in worker processes or on Ray
_TASK_DATA: dict = {}  # a worker's dataset, kept for its next run of the same study


def compare_task(task: dict) -> dict:
    """One (model, engine) run of a compare study, as a backend's runner: the dataset
    loaded and the model built from the study's seed exactly as in this process."""
    from . import backends
    from .config import CompareConfig

    config = CompareConfig.from_dict(task["config"])
    if task.get("data_dir") and config.data_dir is None:
        config.data_dir = task["data_dir"]
    key = json.dumps(config.to_dict(), sort_keys=True)
    if key not in _TASK_DATA:
        _TASK_DATA.clear()
        _TASK_DATA[key] = config.load_dataset()
    dataset = _TASK_DATA[key]
    if task["engine"] == "torch" and backends.in_worker():
        import torch

        torch.set_num_threads(1)  # one thread per worker, torch's too (a worker's own process)
    name, engine = task["model"], task["engine"]
    zoo_name, spec, zoo_spec = _run_spec(config, name, dataset)
    started = time.perf_counter()
    result = run_engine(engine, spec)
    record = result.summary(dataset.y_test, dataset.num_classes)
    record["zoo_name"] = zoo_name
    return {
        "record": record,
        "weights": result.weights,
        "zoo_spec": zoo_spec,
        "seconds": time.perf_counter() - started,
    }


def _run_on_backend(config, dataset, out: Path, log, resume: bool, jobs, ray_address) -> list:
    """The runs of :func:`_run_every_engine`, handed to worker processes or Ray."""
    from .backends import run_tasks

    finished = out / FINISHED_DIR
    finished.mkdir(exist_ok=True)
    pairs = [(name, engine) for name in config.models for engine in config.engines]
    done: dict[tuple, dict] = {}
    for name, engine in pairs:
        saved = finished / f"{name}-{engine}.json"
        if resume and saved.is_file():
            done[(name, engine)] = read_json(saved)
            log(f"  {name:<14} {engine:<9} finished before the interruption: kept")
    data_dir = config.data_dir
    if ray_address and data_dir is None and dataset.name != "digits":
        data_dir = str(data.data_root())  # the workers find the files where this process does
    tasks = [
        {"config": config.to_dict(), "model": name, "engine": engine, "data_dir": data_dir}
        for name, engine in pairs
        if (name, engine) not in done
    ]
    where = f"on the Ray cluster at {ray_address}" if ray_address else f"in {jobs} workers"
    log(f"  {len(tasks)} run(s) {where}")

    def on_result(i: int, got: dict) -> None:
        task, record = tasks[i], got["record"]
        _save_run(out, task["model"], task["engine"], record, got["weights"], got["zoo_spec"])
        done[(task["model"], task["engine"])] = record
        _log_run(log, record, got["seconds"])

    run_tasks(tasks, compare_task, on_result, jobs=jobs, ray_address=ray_address)
    return [done[pair] for pair in pairs]


def _backend_notes(jobs: int, ray_address: str | None) -> list[str]:
    if not (jobs > 1 or ray_address):
        return []
    where = f"on the Ray cluster at {ray_address}" if ray_address else f"{jobs} at a time"
    return [
        f"The runs were trained {where}, one thread each: their seconds measure runs that "
        "shared the machine (and a multi-threaded run may round its last bits differently)."
    ]


def write_report(out: Path, results: dict, dataset=None, log=print) -> Path:
    """PNG plots (with matplotlib, the 'plot' extra) and report.html (which needs no
    extra: plotly.js ships with glassnet) for a compare or train run folder."""
    from ..report import build_report
    from ..viz import save_plots

    try:
        import matplotlib  # noqa: F401
    except ImportError:
        log("(no PNG plots in plots/: they need matplotlib, pip install 'glassnet[plot]')")
    else:
        save_plots(out, results, dataset)  # first: the report links to plots/
    return build_report(out, results, dataset)


def _notes(config: CompareConfig, runs: list[dict], dataset=None) -> list[str]:
    n_val = len(dataset.y_val) if dataset is not None and dataset.y_val is not None else 0
    notes = [best_epoch_note(n_val)]
    if {"glassnet", "torch"} <= set(config.engines):
        notes.append(
            "glassnet and PyTorch start from identical weights (the glassnet model converted "
            "with to_torch), see the same batches in the same order, and use the same "
            f"optimizer ({config.optimizer}, lr {config.lr:g}) and schedule "
            f"({config.scheduler or 'constant'})."
        )
    if config.label_smoothing:
        notes.append(
            f"Label smoothing ({config.label_smoothing:g}) shapes the training loss only: "
            "validation and test losses are plain cross-entropy."
        )
    if "sklearn" in config.engines:
        notes.append(
            "scikit-learn's MLPClassifier gets the same hidden layers, activation, split, "
            "batch size, optimizer and epochs, but its own initialisation and shuffling and no "
            "learning-rate schedule; its train accuracy is measured on the whole training set "
            "after each epoch (glassnet and PyTorch report the running average over the epoch)."
        )
        left_out = [
            text
            for text, used in (
                ("augmentation", config.augment),
                ("label smoothing", config.label_smoothing),
            )
            if used
        ]
        if config.weight_decay:
            notes.append(
                f"scikit-learn's weight decay is its alpha, set to weight_decay x batch size "
                f"({config.weight_decay:g} x {config.batch_size}) because MLPClassifier "
                "divides the penalty's gradient by the batch size (equal on full batches); it "
                "does not decay the biases, and its train loss includes the penalty."
            )
        if left_out:
            notes.append(
                f"scikit-learn trains without {' and '.join(left_out)} (MLPClassifier has neither)."
            )
        skipped = sorted(
            {r["model"] for r in runs if r["engine"] == "sklearn" and r["status"] == "skipped"}
        )
        if skipped:
            notes.append(
                f"No scikit-learn row for {', '.join(skipped)}: MLPClassifier only stacks fully "
                "connected layers, so convolutions, pooling and skip links cannot be expressed."
            )
    notes.append(TIMING_NOTE)
    return notes


def write_history_csv(path, runs: list[dict]) -> None:
    """One row per model, engine and epoch; the val columns when a split was held out."""
    has_val = any("val_loss" in e for r in runs for e in r.get("history", []))
    columns = [
        "model",
        "engine",
        "epoch",
        "train_loss",
        "train_accuracy",
        *(["val_loss", "val_accuracy"] if has_val else []),
        "test_loss",
        "test_accuracy",
        "lr",
        "seconds",
    ]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for r in runs:
        for e in r.get("history", []):
            writer.writerow([r["model"], r["engine"], *(e.get(c) for c in columns[2:])])
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(buf.getvalue())


def results_table(results: dict) -> str:
    """The console table: model x engine; the final test accuracy, the best epoch by
    validation accuracy, the median epoch time after the first (warm-up) with its range,
    the first epoch's time, the total and the parameter count."""
    m = max([16, *(len(r["model"]) + 2 for r in results["runs"])])  # long names get room
    header = (
        f"{'model':<{m}}{'engine':<10}{'final test':>11}{'best val':>10}{'best ep':>8}"
        f"{'s/epoch':>9}{'(range)':>17}{'1st ep s':>9}{'total s':>9}{'params':>10}"
    )
    lines = [header, "-" * len(header)]
    for r in results["runs"]:
        if r["status"] != "ok":
            lines.append(f"{r['model']:<{m}}{r['engine']:<10}  skipped ({_short(r['reason'])})")
            continue
        best = r.get("best_val_accuracy")  # None without a validation split (or an old run)
        best_acc = "-" if best is None else f"{best * 100:.2f}%"
        best_ep = "-" if best is None else str(r["best_epoch"])
        spread = r.get("seconds_per_epoch_range")
        spread = f"({spread[0]:.3f}-{spread[1]:.3f})" if spread else ""
        first = r.get("first_epoch_seconds")
        lines.append(
            f"{r['model']:<{m}}{r['engine']:<10}{r['final_test_accuracy'] * 100:>10.2f}%"
            f"{best_acc:>10}{best_ep:>8}{r['seconds_per_epoch']:>9.3f}{spread:>17}"
            f"{'' if first is None else f'{first:.3f}':>9}{r['seconds']:>9.2f}{r['params']:>10,}"
        )
    return "\n".join(lines)


def _short(text: str | None, width: int = 48) -> str:
    text = text or ""
    return text if len(text) <= width else text[: width - 3] + "..."


def load_results(run_dir) -> dict:
    """A compare folder's results.json; ValueError naming the file if it is damaged."""
    path = Path(run_dir) / "results.json"
    with open(path, encoding="utf-8") as f:
        try:
            results = json.load(f)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not valid JSON ({exc})") from None
    needed = ("runs", "dataset", "config")
    missing = [k for k in needed if k not in results] if isinstance(results, dict) else needed
    if missing:
        raise ValueError(f"{path} is not a compare run's results (no {', '.join(missing)})")
    return results
