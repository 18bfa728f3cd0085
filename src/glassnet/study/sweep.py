"""``glassnet sweep``: choose hyperparameters on a validation split.

A sweep trains every *setting* of a space (a grid, or random samples of ranges: see
:mod:`glassnet.study.sweep_space`) for each model, engine and seed: one *trial* each.
Settings are ranked by their mean final **validation** accuracy over the seeds; the
test accuracy of the chosen setting is reported once, at the end. The run folder::

    config.json       the sweep (glassnet sweep --config ... repeats it)
    trials/           one record per finished trial, written atomically as it ends
    results.json      every trial (settings, seed, curves, accuracies, losses, time,
                      status), the per-setting summary and the choice
    results.csv       one row per trial
    best_config.json  the chosen setting as a recipe: glassnet train --config repeats it
    report.html       metric against each setting, curves of the best, sortable table
    sweep.lock        while a sweep writes the folder (a second one is refused)

A trial that diverges or fails is recorded with its reason and the sweep goes on;
Ctrl-C keeps the finished trials, and ``resume=True`` (``--resume``) trains the rest.
Trials run here, in worker processes or on a Ray cluster (:mod:`.backends`), each
from its own seed, so the records do not depend on where they ran.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as _dt
import hashlib
import io
import json
import math
import numbers
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__, data
from ..io import atomic_write, read_json, write_json
from . import backends
from .backends import run_tasks
from .compare import default_out, machine_info
from .config import Recipe, TrainConfig, _check_names, _check_type
from .engines import seeded_model
from .sweep_space import (
    RECIPE_SETTINGS,
    check_knob_models,
    format_value,
    grid_settings,
    normalize_grid,
    normalize_random,
    random_settings,
    setting_kinds,
)

__all__ = ["SweepConfig", "sweep", "run_sweep", "run_trial", "MAX_TRIALS", "STUDIES"]

MAX_TRIALS = 200  # more trials than this need yes=True (--yes)
TRIALS_DIR = "trials"
LOCK = "sweep.lock"

# the named studies: a grid (or grids), the models they suit and the seeds they use
STUDIES = {
    "train-size": {
        "grid": [{"train_size": [2000, None]}],
        "digits": [{"train_size": [200, None]}],  # digits has only 1,617 training images
        "about": "2,000 training images against all of them: train and validation "
        "curves, and the gap between them",
    },
    "normalization": {
        "grid": [{"normalization": ["none", "unit", "standard"]}],
        "about": "raw pixel values, [0, 1], and per-channel standardisation",
    },
    "activation": {
        "grid": [{"activation": ["sigmoid", "relu", "leaky_relu", "tanh"]}],
        "about": "sigmoid against ReLU, Leaky ReLU and tanh",
    },
    "optimizer": {
        "grid": [
            {"optimizer": ["sgd"], "lr": [0.01, 0.03, 0.1, 0.3]},
            {"optimizer": ["sgd"], "momentum": [0.9], "lr": [0.003, 0.01, 0.03, 0.1]},
            {
                "optimizer": ["sgd"],
                "momentum": [0.9],
                "nesterov": [True],
                "lr": [0.003, 0.01, 0.03, 0.1],
            },
            {"optimizer": ["adam"], "lr": [0.0003, 0.001, 0.003, 0.01]},
        ],
        "about": "SGD, momentum, Nesterov and Adam, each at its best of four learning rates",
    },
    "hidden-size": {
        "grid": [{"hidden": [8, 16, 32, 64, 128]}],
        "about": "the hidden layer's width",
    },
    "weight-decay": {
        "grid": [{"weight_decay": [0.0, 1e-5, 1e-4, 1e-3, 1e-2]}],
        "about": "the strength of L2 weight decay",
    },
}


@dataclass
class SweepConfig(Recipe):
    """``glassnet sweep``: a recipe, the models and engines, the space and the seeds.
    Recipe fields are the settings every trial shares unless the space varies them."""

    val_size: float | int = 0.1  # required: settings are chosen on this split
    models: list[str] = field(default_factory=lambda: ["baseline"])
    engines: list[str] = field(default_factory=lambda: ["glassnet"])
    grid: list = field(default_factory=list)  # [{setting: [values]}, ...] (their union)
    random: dict = field(default_factory=dict)  # {setting: "lo..hi" | [values]}
    samples: int = 0  # random settings drawn (with ``random``)
    seeds: int = 1  # every setting is trained with seeds seed, seed+1, ...
    study: str | None = None  # a named preset (STUDIES)

    def validate(self):
        if self.study is not None:
            if self.study not in STUDIES:
                raise ValueError(f"unknown study {self.study!r}; choose from {', '.join(STUDIES)}")
            if not self.grid and not self.random:
                study = STUDIES[self.study]
                grid = study.get(data.canonical_name(self.dataset), study["grid"])
                self.grid = [dict(g) for g in grid]
        super().validate()
        _check_names(self, "models")
        _check_names(self, "engines")
        _check_type(self, "samples", (numbers.Integral,), "a number of samples")
        _check_type(self, "seeds", (numbers.Integral,), "a number of seeds")
        if not self.models:
            raise ValueError("no models given")
        bad = [e for e in self.engines if e not in ("glassnet", "torch")]
        if bad or not self.engines:
            raise ValueError(f"a sweep trains with the glassnet or torch engine, got {bad}")
        if self.seeds < 1:
            raise ValueError(f"seeds must be at least 1, got {self.seeds}")
        if not self.val_size:
            raise ValueError(
                "a sweep chooses its setting on a validation split, and val_size is 0: give "
                "--val-size (e.g. 0.1); it never chooses on the test set"
            )
        if not isinstance(self.grid, list):  # one grid, as text or a table
            self.grid = [self.grid]
        kinds = setting_kinds(self.models, self.dataset)
        if self.grid and self.random:
            raise ValueError("give a grid or a random space, not both")
        if self.random:
            if self.samples < 1:
                raise ValueError("a random search needs a number of samples (--samples N)")
            self.random = normalize_random(self.random, kinds)
            names = list(self.random)
        else:
            if self.samples:
                raise ValueError("--samples draws from ranges: give them with --random")
            if not self.grid:
                raise ValueError(
                    'nothing to search: give --grid (e.g. "lr=1e-3,3e-3 hidden=30,64"), '
                    "--random with --samples, or --study"
                )
            self.grid = normalize_grid(self.grid, kinds)
            names = [n for g in self.grid for n in g]
        check_knob_models(names, self.models, self.dataset)
        return self

    def settings(self) -> list[dict]:
        """The settings searched (the grid's combinations, or the random samples)."""
        if self.random:
            return random_settings(self.random, self.samples, self.seed)
        return grid_settings(self.grid)

    def count_settings(self) -> int:
        """How many settings the space holds (counted, not listed: a grid of a million
        is refused before it is built)."""
        if self.random:
            return self.samples
        if len(self.grid) == 1:
            return math.prod(len(v) for v in self.grid[0].values())
        total = sum(math.prod(len(v) for v in g.values()) for g in self.grid)
        return total if total > 10 * MAX_TRIALS else len(grid_settings(self.grid))

    def count_trials(self) -> int:
        return self.count_settings() * len(self.models) * len(self.engines) * self.seeds

    def seed_list(self) -> list[int]:
        return [self.seed + i for i in range(self.seeds)]

    def trial_config(self, setting: dict, model: str, engine: str, seed: int) -> TrainConfig:
        """The recipe of one trial: what ``glassnet train --config`` repeats."""
        recipe = {k: v for k, v in self.to_dict().items() if k in TrainConfig.keys()}
        knobs = dict(self.model_args)
        for name, value in setting.items():
            if name in RECIPE_SETTINGS:
                recipe[name] = value
            else:
                knobs[name] = value
        recipe.update(model=model, engine=engine, seed=seed, model_args=knobs)
        return TrainConfig.from_dict(recipe)

    def trials(self) -> list[dict]:
        """Every trial: setting x model x engine x seed, with its full recipe."""
        out = []
        for index, setting in enumerate(self.settings()):
            for model in self.models:
                for engine in self.engines:
                    for seed in self.seed_list():
                        config = self.trial_config(setting, model, engine, seed).to_dict()
                        key = hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()[
                            :12
                        ]
                        out.append(
                            {
                                "key": key,
                                "setting": index,
                                "settings": setting,
                                "model": model,
                                "engine": engine,
                                "seed": seed,
                                "config": config,
                                "eval_train": self.study == "train-size",
                            }
                        )
        return out


# ------------------------------------------------------------------------ one trial
_DATASETS: dict = {}  # a worker's datasets, by how they were loaded (a few at most)


def _dataset(config: TrainConfig, data_dir=None):
    key = (
        config.dataset,
        data_dir or config.data_dir,
        config.val_size,
        config.train_size,
        config.seed,
        config.normalization,
    )
    if key not in _DATASETS:
        if len(_DATASETS) >= 4:
            _DATASETS.pop(next(iter(_DATASETS)))
        _DATASETS[key] = data.load(
            config.dataset,
            data_dir=data_dir or config.data_dir,
            val_size=config.val_size,
            train_size=config.train_size,
            seed=config.seed,
            normalize=config.normalization,
        )
    return _DATASETS[key]


def run_trial(task: dict) -> dict:
    """Train one trial and return its record. Divergence or any error becomes the
    record's status and reason (Ctrl-C is not caught)."""
    from ..train import evaluate, fit
    from ..train.trainer import TrainingDivergedError
    from .engines import RECIPE_FIELDS, RunSpec, run_torch

    record = {k: task[k] for k in ("key", "setting", "settings", "model", "engine", "seed")}
    started = time.perf_counter()
    try:
        config = TrainConfig.from_dict(task["config"])
        dataset = _dataset(config, task.get("data_dir"))
        zoo_name, model = seeded_model(config.model, dataset, config.seed, config.model_args)
        recipe = {name: getattr(config, name) for name in RECIPE_FIELDS}
        if config.engine == "glassnet":
            # a trial that diverges overflows first: its record says so, not a warning each
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                history = fit(model, dataset, **recipe, progress=False, eval_test=False).epochs
        else:
            spec = RunSpec.from_recipe(
                config,
                model=config.model,
                zoo_name=zoo_name,
                dataset=dataset,
                init_state=model.state_dict(),
                model_args=dict(config.model_args),
            )
            run = _run_torch_one_thread(spec, run_torch)
            model.load_state_dict(run.weights)
            history = run.history
        test = evaluate(model, dataset, split="test", details=False)
        last = history[-1]
        record.update(
            status="ok",
            reason=None,
            val_accuracy=last["val_accuracy"],
            val_loss=last["val_loss"],
            train_accuracy=last["train_accuracy"],
            train_loss=last["train_loss"],
            test_accuracy=test["accuracy"],
            test_loss=test["loss"],
            epochs=len(history),
            params=model.num_parameters(),
            seconds=float(sum(e["seconds"] for e in history)),
            history=[{k: e[k] for k in _CURVE if k in e} for e in history],
        )
        if task.get("eval_train"):  # the final model on the whole training split
            record["train_eval_accuracy"] = evaluate(model, dataset, split="train", details=False)[
                "accuracy"
            ]
    except TrainingDivergedError as exc:
        record.update(status="diverged", reason=str(exc))
    except Exception as exc:  # recorded, and the sweep goes on
        record.update(status="failed", reason=f"{type(exc).__name__}: {exc}")
    record["wall_seconds"] = time.perf_counter() - started
    return record


def _run_torch_one_thread(spec, run_torch):
    """The torch engine's run, on one thread as the trial's NumPy (then as it was)."""
    if not backends.in_worker():
        return run_torch(spec)
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run_torch(spec)
    finally:
        torch.set_num_threads(threads)


_CURVE = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds")


# ------------------------------------------------------------------------ the sweep
def sweep(
    dataset: str = "digits",
    models=("baseline",),
    grid=None,
    random=None,
    samples: int = 0,
    seeds: int = 1,
    study: str | None = None,
    out=None,
    jobs: int | None = None,
    ray_address: str | None = None,
    resume: bool = False,
    yes: bool = False,
    report: bool = True,
    log=print,
    **recipe,
) -> tuple[Path, dict]:
    """Run a sweep from keyword arguments; returns ``(run folder, results)``.

        >>> glassnet.study.sweep(grid="lr=1e-3,1e-2 hidden=30,128", seeds=2)  # doctest: +SKIP

    ``grid``: text, a table or a list of tables; ``random`` (with ``samples``): text or a
    table of ranges; ``study``: a preset (see ``STUDIES``); ``recipe``: any other
    :class:`SweepConfig` field (epochs, lr, val_size, model_args, engines, ...);
    ``resume``: continue the interrupted sweep in ``out`` (the same arguments)."""
    config = SweepConfig(
        dataset=dataset,
        models=list(models),
        grid=grid if grid is not None else [],
        random=random if random is not None else {},
        samples=samples,
        seeds=seeds,
        study=study,
        **recipe,
    )
    return run_sweep(
        config,
        out=out,
        jobs=jobs,
        ray_address=ray_address,
        resume=resume,
        yes=yes,
        report=report,
        log=log,
    )


def run_sweep(
    config: SweepConfig,
    out=None,
    jobs: int | None = None,
    ray_address: str | None = None,
    resume: bool = False,
    yes: bool = False,
    report: bool = True,
    log=print,
    validated: bool = False,
) -> tuple[Path, dict]:
    """Run (or with ``resume`` continue) the sweep ``config`` in ``out``."""
    from .backends import check_ray_address, default_jobs

    if not validated:
        config.validate()
    count = config.count_trials()
    if count > MAX_TRIALS and not yes:
        raise ValueError(
            f"this sweep has {count:,} trials ({config.count_settings():,} settings x "
            f"{len(config.models)} model(s) x {len(config.engines)} engine(s) x {config.seeds} "
            f"seed(s)), more than {MAX_TRIALS}: confirm with --yes (yes=True), or search less"
        )
    trials = config.trials()
    _check_trial_recipes(config, trials)
    if ray_address:
        check_ray_address(ray_address)
    # the data, found here before any folder is made (a missing dataset is one clear
    # error, not a failed trial each); a later trial here loads it from memory
    _dataset(TrainConfig.from_dict(trials[0]["config"]))
    if resume:
        out = _resumable(out, config)
    else:
        out = Path(out) if out else default_out(config.dataset, "sweep")
        _check_new(out)
    out.mkdir(parents=True, exist_ok=True)
    with _lock(out):
        write_json(out / "config.json", config.to_dict())
        (out / TRIALS_DIR).mkdir(exist_ok=True)
        done = {}
        for path in sorted((out / TRIALS_DIR).glob("*.json")):
            with contextlib.suppress(ValueError, OSError):
                record = read_json(path)
                done[record["key"]] = record
        todo = [t for t in trials if t["key"] not in done]
        if done:
            log(f"{len(trials) - len(todo)} of {len(trials)} trials finished before: kept")
        jobs = default_jobs() if jobs is None else jobs
        where = (
            f"on the Ray cluster at {ray_address}"
            if ray_address
            else f"in {min(jobs, max(1, len(todo)))} worker process(es)"
            if jobs > 1 and len(todo) > 1
            else "in this process"
        )
        log(f"sweep: {len(trials)} trials ({len(todo)} to train) {where}; folder {out}")
        progress = _Progress(trials, done, log)
        if ray_address and config.data_dir is None and config.dataset != "digits":
            for t in todo:  # the workers find the files where this process does
                t["data_dir"] = str(data.data_root())

        def finished(i: int, record: dict) -> None:
            write_json(out / TRIALS_DIR / f"{record['key']}.json", record)
            done[record["key"]] = record
            progress.step(record)

        started = time.perf_counter()
        try:
            run_tasks(todo, run_trial, finished, jobs=jobs, ray_address=ray_address)
        except KeyboardInterrupt:
            log(
                f"\ninterrupted: {out} keeps the {len(done)} finished trials; continue with "
                f"'glassnet sweep --resume {out}'"
            )
            raise
        records = [done[t["key"]] for t in trials]
        results = summarize(config, records)
        results["wall_seconds"] = time.perf_counter() - started
        write_json(out / "results.json", results)
        write_results_csv(out / "results.csv", config, records)
        best = results.get("best")
        if best is not None:
            write_json(out / "best_config.json", best["config"])
        if report:
            from ..report.sweep import build_sweep_report

            build_sweep_report(out, results)
    return out, results


def _check_trial_recipes(config: SweepConfig, trials: list[dict]) -> None:
    """Every trial's recipe is valid (models built with their knobs), before any runs."""
    checked = set()
    for t in trials:
        c = dict(t["config"], seed=config.seed)
        key = json.dumps(c, sort_keys=True)
        if key in checked:
            continue
        checked.add(key)
        setting = ", ".join(f"{k}={format_value(v, k)}" for k, v in t["settings"].items())
        try:
            TrainConfig.from_dict(t["config"]).validate()
        except ValueError as exc:
            raise ValueError(f"setting {setting} ({t['model']}): {exc}") from None


def _check_new(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is a file, not a folder")
    if (out / "config.json").exists() or (out / TRIALS_DIR).exists():
        hint = (
            f"continue it with 'glassnet sweep --resume {out}', or "
            if not (out / "results.json").exists()
            else ""
        )
        raise FileExistsError(
            f"{out} already holds a run; {hint}give another --out (or delete the folder)"
        )


def _resumable(out, config: SweepConfig) -> Path:
    if out is None:
        raise ValueError("resume needs the sweep's folder")
    out = Path(out)
    if not (out / "config.json").is_file() or not (out / TRIALS_DIR).is_dir():
        raise FileNotFoundError(f"{out} is not a sweep folder (no config.json and trials/)")
    saved = SweepConfig.from_dict(read_json(out / "config.json")).validate().to_dict()
    if json.loads(json.dumps(saved)) != json.loads(json.dumps(config.to_dict())):
        raise ValueError(
            f"the sweep differs from {out / 'config.json'}: a resumed sweep keeps its own"
        )
    return out


@contextlib.contextmanager
def _lock(out: Path):
    """``sweep.lock`` (host and process id) while this process writes ``out``; a second
    sweep of the folder is refused. A lock left by a process that died is taken over."""
    path = out / LOCK
    me = {"host": socket.gethostname(), "pid": os.getpid()}
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                holder = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                holder = {}
            if holder.get("host") == me["host"] and not _alive(holder.get("pid")):
                path.unlink(missing_ok=True)  # its process is gone: a stale lock
                continue
            raise FileExistsError(
                f"{out} is being written by another sweep (process {holder.get('pid', '?')} on "
                f"{holder.get('host', '?')}; {path}): wait for it, or give another --out"
            ) from None
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(me, f)
        break
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def _alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Progress:
    """One line per finished trial: done/total, the trial, and the best setting so far
    (the highest mean validation accuracy over the seeds finished)."""

    def __init__(self, trials, done: dict, log):
        self.total, self.log = len(trials), log
        self.count = len(done)
        self.scores: dict[tuple, list[float]] = {}
        self.names: dict[tuple, str] = {}
        for r in done.values():
            self._track(r)

    def _track(self, r) -> None:
        if r.get("status") == "ok":
            group = (r["setting"], r["model"], r["engine"])
            self.scores.setdefault(group, []).append(r["val_accuracy"])
            self.names[group] = _describe(r, seed=False)

    def step(self, r: dict) -> None:
        self.count += 1
        self._track(r)
        if r["status"] == "ok":
            result = f"val {r['val_accuracy']:.4f} ({r['wall_seconds']:.1f} s)"
        else:
            result = f"{r['status']}: {_short(r['reason'])}"
        best = ""
        if self.scores:
            group = max(self.scores, key=lambda g: (np.mean(self.scores[g]), -g[0]))
            best = f"  | best so far: val {np.mean(self.scores[group]):.4f} ({self.names[group]})"
        width = len(str(self.total))
        self.log(f"[{self.count:>{width}}/{self.total}] {_describe(r)}: {result}{best}")


def _describe(r: dict, seed: bool = True) -> str:
    setting = " ".join(f"{k}={format_value(v, k)}" for k, v in r["settings"].items())
    engine = "" if r["engine"] == "glassnet" else f" [{r['engine']}]"
    return f"{r['model']}{engine} {setting}" + (f" seed {r['seed']}" if seed else "")


def _short(text, width: int = 60) -> str:
    text = str(text or "").splitlines()[0] if text else ""
    return text if len(text) <= width else text[: width - 3] + "..."


# ------------------------------------------------------------------------ results
def _stats(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def summarize(config: SweepConfig, records: list[dict]) -> dict:
    """Per setting (and model and engine): mean and spread over seeds; the choice, by
    mean validation accuracy among the settings whose every seed finished."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((r["setting"], r["model"], r["engine"]), []).append(r)
    rows = []
    for (index, model, engine), rs in groups.items():
        ok = [r for r in rs if r["status"] == "ok"]
        val_mean, val_std = _stats([r["val_accuracy"] for r in ok])
        loss_mean, _ = _stats([r["val_loss"] for r in ok])
        rows.append(
            {
                "setting": index,
                "settings": rs[0]["settings"],
                "model": model,
                "engine": engine,
                "seeds": len(rs),
                "ok": len(ok),
                "failed": len(rs) - len(ok),
                "val_accuracy_mean": val_mean,
                "val_accuracy_std": val_std,
                "val_loss_mean": loss_mean,
                "train_accuracy_mean": _stats([r["train_accuracy"] for r in ok])[0],
                # the final model on the whole training split (the train-size study)
                "train_eval_accuracy_mean": _stats(
                    [r["train_eval_accuracy"] for r in ok if "train_eval_accuracy" in r]
                )[0],
                "seconds_mean": _stats([r["seconds"] for r in ok])[0],
                "params": ok[0]["params"] if ok else None,
            }
        )
    eligible = [r for r in rows if r["failed"] == 0 and r["val_accuracy_mean"] is not None]
    ranked = sorted(eligible, key=lambda r: (-r["val_accuracy_mean"], r["setting"]))
    for rank, r in enumerate(ranked, 1):
        r["rank"] = rank
    best = None
    if ranked:
        top = ranked[0]
        mine = [
            r
            for r in records
            if (r["setting"], r["model"], r["engine"])
            == (top["setting"], top["model"], top["engine"])
        ]
        test_mean, test_std = _stats([r["test_accuracy"] for r in mine])
        first = min(mine, key=lambda r: r["seed"])
        best = {
            "setting": top["setting"],
            "settings": top["settings"],
            "model": top["model"],
            "engine": top["engine"],
            "val_accuracy_mean": top["val_accuracy_mean"],
            "val_accuracy_std": top["val_accuracy_std"],
            "test_accuracy_mean": test_mean,
            "test_accuracy_std": test_std,
            "test_accuracy_by_seed": {str(r["seed"]): r["test_accuracy"] for r in mine},
            "config": config.trial_config(
                top["settings"], top["model"], top["engine"], first["seed"]
            ).to_dict(),
        }
    counts = {s: sum(r["status"] == s for r in records) for s in ("ok", "diverged", "failed")}
    return {
        "glassnet_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "config": config.to_dict(),
        "kind": "sweep",
        "swept": _swept_names(config),
        "counts": counts,
        "settings": sorted(rows, key=lambda r: (r.get("rank") or math.inf, r["setting"])),
        "best": best,
        "trials": records,
    }


def _swept_names(config: SweepConfig) -> list[str]:
    names = list(config.random) if config.random else [n for g in config.grid for n in g]
    return list(dict.fromkeys(names))


def write_results_csv(path, config: SweepConfig, records: list[dict]) -> None:
    """One row per trial: its settings, then seed, accuracies, losses, time, status."""
    names = _swept_names(config)
    columns = [
        "trial",
        "setting",
        "model",
        "engine",
        *names,
        "seed",
        "status",
        "val_accuracy",
        "val_loss",
        "test_accuracy",
        "test_loss",
        "train_accuracy",
        "train_loss",
        "epochs",
        "seconds",
        "wall_seconds",
        "reason",
    ]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for r in records:
        settings = [format_value(r["settings"][n], n) if n in r["settings"] else "" for n in names]
        rest = [r.get(c) for c in columns[5 + len(names) :]]
        writer.writerow(
            [r["key"], r["setting"], r["model"], r["engine"], *settings, r["seed"], *rest]
        )
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(buf.getvalue())


def results_table(results: dict, top: int = 10) -> str:
    """The console table: the best settings by mean validation accuracy."""
    rows = results["settings"]
    lines = [f"{'rank':>4}  {'val acc (mean ± sd)':<22}{'seeds':>6}  setting"]
    for r in rows[:top]:
        rank = r.get("rank")
        setting = " ".join(f"{k}={format_value(v, k)}" for k, v in r["settings"].items())
        engine = "" if r["engine"] == "glassnet" else f" [{r['engine']}]"
        if r["val_accuracy_mean"] is None:
            acc = "failed"
        else:
            acc = f"{r['val_accuracy_mean'] * 100:.2f}%"
            if r["ok"] > 1:
                acc += f" ± {r['val_accuracy_std'] * 100:.2f}"
        failed = f" ({r['failed']} failed)" if r["failed"] else ""
        lines.append(
            f"{rank if rank else '-':>4}  {acc:<22}{r['ok']:>6}  {r['model']}{engine} "
            f"{setting}{failed}"
        )
    if len(rows) > top:
        lines.append(f"      ... {len(rows) - top} more in results.csv")
    return "\n".join(lines)


def fields() -> set[str]:
    return {f.name for f in dataclasses.fields(SweepConfig)}
