"""The ``paths`` command: optimizer paths on a loss contour, glassnet beside PyTorch."""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

import numpy as np

from .common import (
    UserError,
    _int_at_least,
    add_command,
    count_or_fraction,
    csv_list,
    positive_int,
    require_module,
)

__all__ = ["add_paths", "cmd_paths"]

SURFACE_OPTIMIZERS = "sgd,momentum,adam,rmsprop"
MODEL_OPTIMIZERS = "sgd,momentum,adam"
# the model flags' defaults, filled in by cmd_paths (absent flags stay absent, so that
# a model flag given with a surface can be refused rather than ignored)
MODEL_DEFAULTS = {
    "dataset": "digits",
    "epochs": 3,
    "batch_size": 32,
    "seed": 0,
    "grid": 25,
    "eval_size": 1000,
    "train_size": None,
    "dtype": "float32",
    "data_dir": None,
}


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def add_paths(sub) -> None:
    from ..study.landscape import MODEL_LRS
    from ..study.surfaces import SURFACES

    p = add_command(
        sub,
        "paths",
        "Draw optimizer paths on a loss contour: a 2-D test function, or a model's loss "
        "on the plane of its training paths.",
        "  glassnet paths rosenbrock                       # sgd, momentum, adam, rmsprop\n"
        "  glassnet paths beale --optimizers sgd=0.003,adam=0.03 --steps 800\n"
        "  glassnet paths saddle --engines glassnet --start -1.8 0.001\n"
        "  glassnet paths baseline --dataset digits --epochs 3   # a network's loss plane\n"
        "  glassnet paths cnn --optimizers sgd=0.1,adam=0.003 --out plane.png\n"
        f"\nsurfaces: {', '.join(SURFACES)}; models: any zoo name without BatchNorm.\n"
        "Writes the figure (--out, default runs/<timestamp>-paths-<target>/paths-<target>.png)\n"
        "and the paths' points beside it as CSV; prints each optimizer's end and, with the\n"
        "torch engine, how far PyTorch's path of the same optimizer came from glassnet's.",
    )
    p.add_argument("target", help="a surface name or a zoo model name")
    p.add_argument(
        "--optimizers",
        help="comma-separated names, each with an optional learning rate and, after ':', "
        "settings by the optimizer's argument names: sgd=0.03,momentum=0.03:momentum=0.5,"
        "adam:betas=0.8/0.99 (names: sgd, momentum, nesterov, adam, adamw, rmsprop; default "
        f"{SURFACE_OPTIMIZERS} for a surface, {MODEL_OPTIMIZERS} for a model). Without "
        "=lr: the surface's rate, one for sgd, momentum and nesterov (so that momentum is "
        "all that differs) and one per adaptive optimizer; for a model "
        + ", ".join(f"{k} {v:g}" for k, v in MODEL_LRS.items())
        + ". The legend names every optimizer's hyperparameters.",
    )
    p.add_argument(
        "--engines",
        default="glassnet,torch",
        help="glassnet and/or torch (default both: PyTorch's path drawn dashed on glassnet's)",
    )
    p.add_argument(
        "--out",
        help="figure path (.png; default runs/<timestamp>-paths-<target>/paths-<target>.png); "
        "the CSV of the points goes beside it",
    )
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    surface = p.add_argument_group("on a surface")
    surface.add_argument("--steps", type=positive_int, help="steps (default: the surface's)")
    surface.add_argument(
        "--start",
        nargs=2,
        type=_finite,
        metavar=("X", "Y"),
        help="start point (default: the surface's)",
    )
    model = p.add_argument_group("on a model's loss plane")
    d = MODEL_DEFAULTS
    model.add_argument(
        "--dataset", help=f"digits, mnist, fashion-mnist, ... (default {d['dataset']})"
    )
    model.add_argument("--epochs", type=positive_int, help=f"default {d['epochs']}")
    model.add_argument("--batch-size", type=positive_int, help=f"default {d['batch_size']}")
    model.add_argument("--seed", type=int, help="initial weights and batch order (default 0)")
    model.add_argument(
        "--grid",
        type=_int_at_least(3, "an integer >= 3"),
        help=f"grid points per axis (default {d['grid']})",
    )
    model.add_argument(
        "--eval-size",
        type=positive_int,
        help=f"training images the loss is taken on (default {d['eval_size']})",
    )
    model.add_argument(
        "--train-size", type=count_or_fraction, help="training images used (count or fraction)"
    )
    model.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        help="float64: the engines' paths agree to float64 rounding (default float32)",
    )
    model.add_argument("--data-dir", help="data root (default $GLASSNET_DATA)")
    p.set_defaults(handler=cmd_paths)


def _engines(text: str) -> tuple[str, ...]:
    engines = tuple(dict.fromkeys(e.lower() for e in csv_list(text)))
    unknown = [e for e in engines if e not in ("glassnet", "torch")]
    if unknown or not engines:
        raise UserError(f"--engines takes glassnet and/or torch, got {text!r}")
    if "torch" in engines:
        require_module(
            "torch",
            "the torch engine needs PyTorch: pip install 'glassnet[torch]', or --engines glassnet",
        )
    return engines


_CSV_HEADER = ["optimizer", "engine", "lr", "step", "x", "y", "loss"]


def _is_paths_table(path: Path) -> bool:
    """Whether ``path`` is a points table that an earlier ``glassnet paths`` wrote (which
    a new run may replace, as it replaces its figure)."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            return next(csv.reader(f), None) == _CSV_HEADER
    except (OSError, UnicodeDecodeError, csv.Error):
        return False


def _write_csv(path: Path, trajectories) -> None:
    from ..io import atomic_write

    with atomic_write(path, mode="w", encoding="utf-8") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(_CSV_HEADER)
        for t in trajectories:
            steps = range(len(t.points)) if t.steps is None else t.steps
            for step, (x, y), loss in zip(steps, t.points, t.losses):
                out.writerow(
                    [
                        t.optimizer,
                        t.engine,
                        repr(t.lr),
                        step,
                        repr(float(x)),
                        repr(float(y)),
                        repr(float(loss)),
                    ]
                )


def _gaps(trajectories) -> dict[str, float]:
    """optimizer -> largest distance between its glassnet and torch path points (in the
    picture's two coordinates)."""
    by = {(t.optimizer, t.engine): t for t in trajectories}
    gaps = {}
    for (name, engine), t in by.items():
        other = by.get((name, "torch"))
        if engine != "glassnet" or other is None:
            continue
        if len(t.points) != len(other.points):  # one diverged before the other
            gaps[name] = float("inf")
        else:
            gaps[name] = float(np.max(np.linalg.norm(t.points - other.points, axis=1)))
    return gaps


class _Bar:
    """``update(n, total)`` for ``loss_plane``: a tqdm bar, made at the first update
    (the total is known only once the data is loaded)."""

    def __init__(self, tqdm):
        self.tqdm, self.bar = tqdm, None

    def update(self, n: int, total: int) -> None:
        if self.bar is None:
            self.bar = self.tqdm(total=total, desc="loss plane", leave=False)
        self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _progress_bar(args) -> _Bar | None:
    """A bar where the other commands would show one (a terminal, not CI, no
    --no-progress)."""
    from ..train.callbacks import progress_enabled

    if not progress_enabled(getattr(args, "progress", True)):
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is in the 'progress' extra
        return None
    return _Bar(tqdm)


def _default_out(target: str) -> Path:
    """runs/<timestamp>-paths-<target>/paths-<target>.png, as the other commands keep
    their files in a run folder (it was the current folder: a PNG and a CSV of 657 KB)."""
    import datetime

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path("runs") / f"{stamp}-paths-{target}"
    folder, n = base, 1
    while folder.exists():
        n += 1
        folder = base.with_name(f"{base.name}-{n}")
    return folder / f"paths-{target}.png"


def cmd_paths(args) -> int:
    from ..study import landscape, paths, surfaces

    engines = _engines(args.engines)
    target = args.target.strip().lower()
    is_surface = target in surfaces.SURFACES
    default_spec = SURFACE_OPTIMIZERS if is_surface else MODEL_OPTIMIZERS
    specs = paths.parse_optimizers(getattr(args, "optimizers", None) or default_spec)
    out = Path(getattr(args, "out", None) or _default_out(target))
    if out.suffix.lower() != ".png":
        raise UserError(f"--out must name a .png file, got {str(out)!r}")
    for path in (out, out.with_suffix(".csv")):  # before the work, not after it
        if path.is_dir():
            raise UserError(f"--out: {path} is a folder")
    table = out.with_suffix(".csv")
    if table.is_file() and not _is_paths_table(table):  # the user named only the .png
        raise UserError(
            f"--out: {table}, where the points would go, holds another file; give another --out"
        )
    if out.parent.exists() and not os.access(out.parent, os.W_OK):
        raise UserError(f"--out: cannot write into {out.parent}")

    given = [f for f in MODEL_DEFAULTS if getattr(args, f, None) is not None]
    if is_surface:
        from ..viz.paths import plot_surface_paths

        if given:
            flags = ", ".join("--" + f.replace("_", "-") for f in given)
            raise UserError(f"{flags}: for a model's loss plane, not a surface")
        surface = surfaces.get_surface(target)
        start = getattr(args, "start", None)
        trajectories = [
            paths.surface_path(
                surface,
                name,
                lr,
                steps=getattr(args, "steps", None),
                start=start,
                engine=engine,
                options=options,
            )  # fmt: skip
            for name, lr, options in specs
            for engine in engines
        ]
        figure = plot_surface_paths(surface, trajectories, out)
        heading = f"{surface.name}: f(x, y) = {surface.formula}"
        gaps = {k: f"{v:.1e}" for k, v in _gaps(trajectories).items()}
        gap_title = "torch gap"
    else:
        from .. import models
        from ..viz.paths import plot_loss_plane

        settings = {**MODEL_DEFAULTS, **{f: getattr(args, f) for f in given}}
        try:
            models.resolve(target, settings["dataset"])
        except ValueError:
            raise UserError(
                f"{args.target!r} is neither a surface ({', '.join(surfaces.SURFACES)}) nor a "
                f"zoo model ({', '.join(models.list())}, or a study short name)"
            ) from None
        if any(getattr(args, flag, None) is not None for flag in ("steps", "start")):
            raise UserError("--steps and --start are for surfaces; a model trains --epochs")
        bar = _progress_bar(args)
        try:
            plane = landscape.loss_plane(
                target,
                settings["dataset"],
                specs,
                epochs=settings["epochs"],
                batch_size=settings["batch_size"],
                seed=settings["seed"],
                grid=settings["grid"],
                eval_size=settings["eval_size"],
                train_size=settings["train_size"],
                dtype=settings["dtype"],
                engines=engines,
                data_dir=settings["data_dir"],
                progress=bar.update if bar is not None else None,
            )
        finally:
            if bar is not None:
                bar.close()
        trajectories = plane.trajectories
        figure = plot_loss_plane(plane, out)
        e1, e2 = plane.explained
        heading = (
            f"{plane.model} on {plane.dataset}: {plane.settings['parameters']} parameters; the "
            f"plane holds {100 * (e1 + e2):.1f}% of the paths' squared movement"
        )
        # in the plane and in the whole weight space: the plane can hide a difference
        gaps = {k: f"{v:.1e} / {plane.weight_gaps[k]:.1e}" for k, v in _gaps(trajectories).items()}
        gap_title = "torch gap (plane / weights)"
    _write_csv(table, trajectories)

    print(heading)
    print(
        f"\n{'optimizer':<10}{'lr':>9}{'steps':>7}  {'end (x, y)':<24}{'loss':>11}"
        + (f"   {gap_title}" if gaps else "")
    )
    for t in trajectories:
        if t.engine != "glassnet" and "glassnet" in engines:
            continue
        end = f"({t.points[-1, 0]:.4g}, {t.points[-1, 1]:.4g})"
        note = "  diverged" if t.diverged else ""
        gap = f"   {gaps[t.optimizer]}" if t.optimizer in gaps else ""
        steps = len(t.points) - 1 if t.steps is None else int(t.steps[-1])
        print(f"{t.optimizer:<10}{t.lr:>9g}{steps:>7}  {end:<24}{t.losses[-1]:>11.4g}{gap}{note}")
    print(f"\nfigure: {figure}\npoints: {table}")
    return 0
