"""Reading a ``glassnet compare`` run folder for plots and the report.

:func:`load_run` gathers what the pictures need: ``results.json``, the test images
and labels (the dataset is reloaded from the run's config, without downloading, unless
the caller hands one in) and, on demand, each run's first-layer weights from
``weights/<model>-<engine>.safetensors``. When the dataset cannot be loaded or no
longer matches the run, the images are left out and ``images_note`` says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io import load_arrays, read_json

__all__ = [
    "RunData",
    "load_run",
    "ENGINE_COLORS",
    "ENGINE_LABELS",
    "engine_color",
    "ACCURACY_AXIS",
]

ENGINE_COLORS = {"glassnet": "#1f77b4", "torch": "#ee4c2c", "sklearn": "#2ca02c"}
ENGINE_LABELS = {"glassnet": "glassnet", "torch": "PyTorch", "sklearn": "scikit-learn"}
_SPARE_COLORS = ("#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")

# The y range (%) of the synopsis' accuracy bars, shared by the PNG (plots.plot_synopsis)
# and the HTML report (report.charts.synopsis_figure) so the two pictures agree. Bars
# start at 0: a bar's height is read as its value, and an axis cut at 80% draws 91% over
# twice as tall as 85%; the value printed above each bar shows small differences exactly.
# The top leaves room for that label above a 100% bar.
ACCURACY_AXIS = (0.0, 105.0)


def engine_color(engine: str, index: int = 0) -> str:
    return ENGINE_COLORS.get(engine, _SPARE_COLORS[index % len(_SPARE_COLORS)])


@dataclass
class RunData:
    run_dir: Path
    results: dict
    classes: list[str]
    test_images: np.ndarray | None = None  # uint8 NHWC, row i = test sample i
    test_labels: np.ndarray | None = None  # int class indices
    images_note: str | None = None  # why there are no images, if there are none

    @property
    def runs(self) -> list[dict]:
        return self.results.get("runs", [])

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.results.get("dataset", {}).get("input_shape", ()))

    def models(self) -> list[str]:
        """Model names in the order the run trained them."""
        return list(dict.fromkeys(r["model"] for r in self.runs))

    def engines(self) -> list[str]:
        return list(dict.fromkeys(r["engine"] for r in self.runs))

    def runs_of(self, model: str, ok_only: bool = True) -> list[dict]:
        return [
            r for r in self.runs if r["model"] == model and (r.get("status") == "ok" or not ok_only)
        ]

    def absent(self) -> list[tuple[str, str, str]]:
        """(model, engine, reason) of every run that did not train (skipped or failed):
        the synopsis charts draw no bar for them and list them with their reason."""
        return [
            (r["model"], r["engine"], f"{r.get('status') or 'skipped'}: {r.get('reason') or '?'}")
            for r in self.runs
            if r.get("status") != "ok"
        ]

    def primary(self, model: str) -> dict | None:
        """The run whose pictures stand for a model: glassnet's if it ran, else the first."""
        runs = self.runs_of(model)
        return next((r for r in runs if r["engine"] == "glassnet"), runs[0] if runs else None)

    def gallery(self, run: dict, which: str, limit: int = 20):
        """(indices, captions, correct) of the first test images or (``"mistakes"``) the
        first misclassified ones; captions give the predicted label (and the true one)."""
        pred = np.asarray(run["test_predictions"])
        labels = self.test_labels
        if which == "mistakes":
            index = np.asarray(run.get("misclassified", []), dtype=int)[:limit]
            titles = [f"{self.label(pred[i])} (true {self.label(labels[i])})" for i in index]
        else:
            index = np.arange(min(limit, len(pred)))
            titles = [self.label(pred[i]) for i in index]
        return index, titles, pred[index] == labels[index]

    def first_layer(self, run: dict) -> np.ndarray | None:
        """The run's first-layer weight, PyTorch layout, or None if it was not saved."""
        name, key = run.get("weights_file"), run.get("first_layer_key")
        if not name or not key or not (self.run_dir / name).exists():
            return None
        try:
            arrays, _ = load_arrays(self.run_dir / name)
        except (OSError, ValueError):  # an unreadable file: the picture is left out
            return None
        return arrays.get(key)

    def label(self, index: int) -> str:
        index = int(index)
        return self.classes[index] if 0 <= index < len(self.classes) else str(index)


def _check_dataset(dataset, results: dict) -> tuple[np.ndarray, np.ndarray]:
    """(test images, test labels) of ``dataset``; ValueError if they are not the run's."""
    images = np.asarray(dataset.images("test"))
    labels = np.asarray(dataset.split("test")[1] if hasattr(dataset, "split") else dataset.y_test)
    n_test = results.get("dataset", {}).get("n_test")
    if len(images) != len(labels) or (n_test is not None and len(images) != n_test):
        raise ValueError(f"the dataset has {len(images)} test images, the run had {n_test}")
    for run in results.get("runs", []):
        if run.get("status") == "ok" and "test_predictions" in run:
            pred = np.asarray(run["test_predictions"])
            if len(pred) != len(labels) or not np.array_equal(
                np.flatnonzero(pred != labels), np.asarray(run.get("misclassified", []), int)
            ):
                raise ValueError("the test labels differ from the ones the run was scored on")
            break
    return images, labels


def _reload_dataset(results: dict):
    from .. import data

    cfg = results.get("config", {})
    return data.load(
        cfg.get("dataset", results.get("dataset", {}).get("name")),
        data_dir=cfg.get("data_dir"),
        download=False,
        val_size=cfg.get("val_size", 0),
        train_size=cfg.get("train_size"),
        seed=cfg.get("seed", 0),
    )


def load_run(run_dir, results: dict | None = None, dataset=None) -> RunData:
    """Everything the plots and the report need from a run folder."""
    run_dir = Path(run_dir)
    if results is None:
        results = read_json(run_dir / "results.json")
    classes = [str(c) for c in results.get("dataset", {}).get("classes", [])]
    run = RunData(run_dir, results, classes)
    try:
        if dataset is None:
            dataset = _reload_dataset(results)
        run.test_images, run.test_labels = _check_dataset(dataset, results)
        if not classes:
            run.classes = [str(c) for c in dataset.classes]
    except Exception as exc:  # missing files, no download, a changed dataset: no pictures
        run.images_note = f"test images not shown: {exc}"
    return run
