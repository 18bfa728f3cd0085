"""Matplotlib figures of a compare run, saved as PNG for papers and READMEs.

Every ``plot_*`` function takes plain arrays or lists and a path, writes one PNG
atomically and returns the path. :func:`save_plots` draws all of them for a run
folder into ``<run>/plots/``. Figures are built with ``matplotlib.figure.Figure``
and rendered by the Agg canvas, never through pyplot, so no global backend changes
and nothing opens a window.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..io import atomic_write
from .images import mosaic, to_display, weight_tiles
from .run import ACCURACY_AXIS, ENGINE_LABELS, engine_color, load_run

__all__ = [
    "plot_curves",
    "plot_synopsis",
    "plot_iterations",
    "plot_weights",
    "plot_confusion",
    "plot_image_grid",
    "save_plots",
]

DPI = 110
ENGINE_MARKERS = {"glassnet": "o", "torch": "x", "sklearn": "s"}


def _figure(width: float, height: float, layout: str | None = "constrained"):
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plots need matplotlib: pip install 'glassnet[plot]'") from exc
    return Figure(figsize=(width, height), dpi=DPI, layout=layout)


def _picture(width: float, height: float, title: str | None):
    """A figure that is one picture: an axes filling it (no layout engine), title on top."""
    top = 0.35 if title else 0.0
    fig = _figure(width, height + top, layout=None)
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.98 * height / (height + top)))
    ax.set_axis_off()
    if title:
        fig.text(0.5, 1 - 0.5 * top / (height + top), title, ha="center", va="center", fontsize=9)
    return fig, ax


def _save(fig, path) -> Path:
    path = Path(path)
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=DPI)
    return path


def _columns(history) -> dict[str, list]:
    """Epoch records (``[{"epoch": 1, ...}, ...]``) or a dict of columns -> dict of columns."""
    if isinstance(history, Mapping):
        return {k: list(v) for k, v in history.items()}
    keys = dict.fromkeys(k for record in history for k in record)
    return {k: [record.get(k) for record in history] for k in keys}


def plot_curves(histories: Mapping[str, object], path, title: str | None = None) -> Path:
    """Loss and accuracy vs epoch, one colour per engine: train dashed, validation
    dotted, test solid.

    ``histories`` maps an engine name to its epoch records (or columns) with ``epoch``,
    ``train_loss``, ``test_loss``, ``train_accuracy`` and ``test_accuracy``, and
    ``val_loss``/``val_accuracy`` when a validation split was held out.
    """
    fig = _figure(10, 3.8)
    ax_loss, ax_acc = fig.subplots(1, 2)
    for i, (engine, history) in enumerate(histories.items()):
        cols, color = _columns(history), engine_color(engine, i)
        label, marker = ENGINE_LABELS.get(engine, engine), ENGINE_MARKERS.get(engine, "o")
        width = 3.0 if i == 0 else 1.5  # the first engine wide: identical curves stay visible
        for ax, metric in ((ax_loss, "loss"), (ax_acc, "accuracy")):
            for split, style in (("train", "--"), ("val", ":"), ("test", "-")):
                y = cols.get(f"{split}_{metric}")
                if y is not None and any(v is not None for v in y):
                    y = np.array(y, dtype=float)  # None -> nan
                    ax.plot(
                        cols["epoch"],
                        y,
                        style,
                        color=color,
                        marker=marker,
                        markersize=5,
                        linewidth=width,
                        label=f"{label} {split}",
                    )
    for ax, name in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"{name}")
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    ax_acc.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_synopsis(
    models: Sequence[str],
    engines: Sequence[str],
    accuracy,
    path,
    title: str = "final test accuracy",
    absent: Sequence[tuple[str, str, str]] = (),
) -> Path:
    """Grouped bars: ``accuracy[i, j]`` of model i on engine j. Where a run did not train
    (NaN) no bar is drawn, only "not run" in its place; ``absent`` (model, engine, reason)
    triples are listed under the axes."""
    percent = np.asarray(accuracy, dtype=float) * 100
    reasons = [f"{m} on {ENGINE_LABELS.get(e, e)}: {why}" for m, e, why in absent]
    fig = _figure(max(5.0, 1.6 * len(models) + 3), 3.8 + 0.22 * len(reasons))
    ax = fig.subplots()
    width = 0.8 / max(len(engines), 1)
    x = np.arange(len(models))
    for j, engine in enumerate(engines):
        offset = (j - (len(engines) - 1) / 2) * width
        label, color = ENGINE_LABELS.get(engine, engine), engine_color(engine, j)
        ran = ~np.isnan(percent[:, j])
        bars = ax.bar(x[ran] + offset, percent[ran, j], width, label=label, color=color)
        for bar, value in zip(bars, percent[ran, j]):
            where = (bar.get_x() + bar.get_width() / 2, bar.get_height())
            ax.annotate(f"{value:.1f}", where, ha="center", va="bottom", fontsize=7)
        for i in np.flatnonzero(~ran):  # its place stays empty, marked, not a bar at 0
            ax.text(
                x[i] + offset,
                2,
                "not run",
                rotation=90,
                ha="center",
                va="bottom",
                fontsize=7,
                color="#59636e",
            )
    ax.set_xticks(x, list(models))
    ax.set_ylabel("final test accuracy (%)")
    ax.set_ylim(*ACCURACY_AXIS)  # from 0, as the HTML report's synopsis
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(title)
    if reasons:  # under the axes, one line each, cut to fit
        lines = [t if len(t) <= 110 else t[:107] + "..." for t in reasons]
        ax.set_xlabel("\n".join(["not run:", *lines]), fontsize=7, color="#59636e")
    return _save(fig, path)


def plot_iterations(
    series: Mapping[str, tuple],
    path,
    title: str = "training loss per iteration",
    styles: Mapping[str, dict] | None = None,
) -> Path:
    """Loss vs examples seen; ``series`` maps a label to ``(examples_seen, loss)``, and
    ``styles`` (optional) a label to matplotlib line settings."""
    fig = _figure(8, 3.8)
    ax = fig.subplots()
    for i, (label, (seen, loss)) in enumerate(series.items()):
        style = {"linewidth": 1.2, "color": f"C{i % 10}", **(styles or {}).get(label, {})}
        ax.plot(seen, loss, label=label, **style)
    ax.set_xlabel("examples seen")
    ax.set_ylabel("training loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(title)
    return _save(fig, path)


def plot_weights(weights, input_shape, path, title: str | None = None, max_units: int = 64) -> Path:
    """First-layer weights as a grid of tiles (see :mod:`glassnet.viz.images`)."""
    grid = mosaic(weight_tiles(weights, input_shape, max_units), pad=1)
    aspect = grid.shape[1] / grid.shape[0]
    width = min(10.0, max(3.0, 4 * aspect))
    shape = "x".join(str(s) for s in np.shape(weights))
    units = np.shape(weights)[0]
    if units > max_units:  # say what is left out
        shape += f", first {max_units} of {units} units"
    fig, ax = _picture(width, width / aspect, f"{title or 'first-layer weights'} ({shape})")
    ax.imshow(grid, interpolation="nearest")
    return _save(fig, path)


def plot_confusion(matrix, classes: Sequence[str], path, title: str | None = None) -> Path:
    """Confusion matrix (rows: true class, columns: predicted), counts in the cells."""
    matrix = np.asarray(matrix)
    n = len(matrix)
    size = min(12.0, 2.5 + 0.45 * n)
    fig = _figure(size, size * 0.85)
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues")
    if n <= 20:
        threshold = matrix.max() / 2 if matrix.size else 0
        for (i, j), v in np.ndenumerate(matrix):
            if v:
                ax.text(
                    j,
                    i,
                    str(v),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if v > threshold else "black",
                )
    labels = [str(c) for c in classes]
    ax.set_xticks(range(n), labels, rotation=90 if max(map(len, labels), default=0) > 2 else 0)
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion matrix", fontsize=10)
    return _save(fig, path)


def plot_image_grid(
    images,
    titles: Sequence[str],
    path,
    title: str | None = None,
    colors: Sequence[str] | None = None,
    cols: int = 10,
) -> Path:
    """Images (uint8 NHWC or NHW, or floats in [0, 1]) in a grid, each with its title
    (e.g. the predicted label; a "pred (true X)" caption goes on two lines).

    The grid is one picture with the captions written above each image: far faster
    than one matplotlib axes per image.
    """
    images = _displayable(images)
    if len(titles) != len(images):
        raise ValueError(f"{len(images)} images but {len(titles)} titles")
    tiles = np.stack([_rgb(to_display(im)) for im in images])
    n, h, w = tiles.shape[:3]
    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    titles = [str(t).replace(" (", "\n(", 1) for t in titles]  # narrower: no overlaps
    lines = max(t.count("\n") + 1 for t in titles)
    # captions sit in gap_y; "(true automobile)" needs the wider gap_x of two lines
    gap_x, gap_y = max(1, w // (8 if lines == 1 else 4)), max(2, int(h * 0.45 * lines))
    canvas = np.full((rows * (h + gap_y), cols * (w + gap_x), 3), 255, np.uint8)
    fig, ax = _picture(1.0 * cols, (1.0 + 0.25 * lines) * rows, title)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        y, x = r * (h + gap_y) + gap_y, c * (w + gap_x)
        canvas[y : y + h, x : x + w] = tile
        color = colors[i] if colors else "black"
        ax.text(x + w / 2, y - 0.5, titles[i], ha="center", va="bottom", fontsize=7, color=color)
    ax.imshow(canvas, interpolation="nearest")
    return _save(fig, path)


def _displayable(images) -> list[np.ndarray]:
    """uint8 images, from uint8 or from floats in [0, 1]; a clear error otherwise."""
    images = [np.asarray(im) for im in images]
    if not images:
        raise ValueError("no images to draw")
    out = []
    for im in images:
        if np.issubdtype(im.dtype, np.floating):
            if not (np.isfinite(im).all() and im.min() >= 0 and im.max() <= 1):
                raise ValueError(
                    "float images must hold values in [0, 1] (e.g. Dataset.denormalize's); "
                    f"got {im.min():g} to {im.max():g}"
                )
            im = (im * 255).round().astype(np.uint8)
        elif im.dtype != np.uint8:
            raise TypeError(f"images must be uint8 or floats in [0, 1], got {im.dtype}")
        if im.ndim == 3 and im.shape[0] in (1, 3) and im.shape[2] not in (1, 3, 4):
            raise ValueError(f"images must be HWC (channels last), got shape {im.shape}")
        out.append(im)
    return out


def _rgb(image: np.ndarray) -> np.ndarray:
    return np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image[:, :, :3]


# ----------------------------------------------------------------------- a run folder
def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "model"


def _model_plots(run, model: str, out: Path) -> list[Path]:
    """Curves, first-layer weights per engine, and the main engine's confusion and images."""
    runs, slug, paths = run.runs_of(model), _slug(model), []
    histories = {r["engine"]: r["history"] for r in runs}
    paths.append(plot_curves(histories, out / f"curves-{slug}.png", title=model))
    for r in runs:
        weights = run.first_layer(r)
        if weights is not None:
            name = out / f"weights-{slug}-{_slug(r['engine'])}.png"
            title = f"{model} / {r['engine']}: first layer"
            paths.append(plot_weights(weights, run.input_shape, name, title=title))
    main = run.primary(model)
    tag = f"{model} / {main['engine']}"
    name, title = out / f"confusion-{slug}.png", f"{tag}: confusion matrix"
    paths.append(plot_confusion(main["confusion_matrix"], run.classes, name, title=title))
    if run.test_images is None:
        return paths
    for which, heading in (
        ("first", "first 20 test images, predicted label"),
        ("mistakes", "first 20 mistakes, predicted (true)"),
    ):
        index, titles, correct = run.gallery(main, which)
        if len(index):
            colors = ["#1a7f37" if c else "#cf222e" for c in correct]
            name, title = out / f"{which}-{slug}.png", f"{tag}: {heading}"
            images = run.test_images[index]
            paths.append(plot_image_grid(images, titles, name, title=title, colors=colors))
    return paths


def save_plots(run_dir, results: dict | None = None, dataset=None) -> list[Path]:
    """Draw every figure of a compare run into ``<run>/plots/``; return the paths."""
    run = load_run(run_dir, results, dataset)
    out = Path(run_dir) / "plots"
    models, engines = run.models(), run.engines()
    accuracy = np.full((len(models), len(engines)), np.nan)
    for r in run.runs:
        if r.get("status") == "ok":
            i, j = models.index(r["model"]), engines.index(r["engine"])
            accuracy[i, j] = r["final_test_accuracy"]
    paths = []
    if run.results.get("kind") != "train":  # one training run needs no bar chart
        synopsis = out / "synopsis.png"
        paths.append(plot_synopsis(models, engines, accuracy, synopsis, absent=run.absent()))
    series = {
        f"{r['model']} / {r['engine']}": (
            [i["examples_seen"] for i in r["iterations"]],
            [i["loss"] for i in r["iterations"]],
        )
        for r in run.runs
        if r.get("status") == "ok" and r.get("iterations")
    }
    # a colour per model, a line per engine: glassnet's a wide pale band, so that
    # PyTorch's identical curve shows on top of it
    lines = {
        "glassnet": {"linestyle": "-", "linewidth": 4.5, "alpha": 0.35},
        "torch": {"linestyle": "--", "linewidth": 1.3},
        "sklearn": {"linestyle": ":", "linewidth": 1.6},
    }
    styles = {
        f"{r['model']} / {r['engine']}": {
            "color": f"C{models.index(r['model']) % 10}",
            **lines.get(r["engine"], {"linestyle": "-.", "linewidth": 1.2}),
        }
        for r in run.runs
    }
    if series:
        paths.append(plot_iterations(series, out / "iterations.png", styles=styles))
    for model in models:
        if run.runs_of(model):
            paths += _model_plots(run, model, out)
    return paths
