"""The compare report and its PNG plots, without a browser (see test_report_browser.py).

One real ``glassnet compare`` run on digits (1 epoch, glassnet + scikit-learn, a few
seconds) is built once per module; escaping and missing-data paths use a small
results.json written by hand with a fake dataset.
"""

from __future__ import annotations

import base64
import io
import json
import re
import sys

import numpy as np
import pytest

from glassnet.io import save_arrays, write_json
from glassnet.report import build_report
from glassnet.study import load_results
from glassnet.viz import encode_png, mosaic, save_plots, weight_tiles

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")

DATA_URI = re.compile(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def decode(b64: str) -> np.ndarray:
    with Image.open(io.BytesIO(base64.b64decode(b64))) as im:
        im.load()
        return np.asarray(im)


@pytest.fixture(scope="module")
def compare_run(tmp_path_factory):
    from glassnet.study import CompareConfig, run_compare

    out = tmp_path_factory.mktemp("compare")
    config = CompareConfig(
        epochs=1, models=["baseline", "cnn-pool"], engines=["glassnet", "sklearn"]
    )
    folder, results = run_compare(config, out=out, log=lambda *a, **k: None)
    return folder, results


@pytest.fixture(scope="module")
def report(compare_run):
    folder, results = compare_run
    path = build_report(folder, results)
    return path, path.read_text(encoding="utf-8"), results


# ----------------------------------------------------------------- a real compare run
def test_report_embeds_plotlys_basic_bundle_only(report):
    """The report is self-contained and small: plotly.js's basic partial bundle (scatter
    and bar), shipped as package data, not the full plotly.js of 4.8 MB."""
    from fnmatch import fnmatch
    from importlib import resources
    from pathlib import Path

    path, page, _ = report
    bundle = resources.files("glassnet.report").joinpath("plotly-basic.min.js").read_text()
    assert bundle.startswith("/**\n* plotly.js (basic - minified)")
    assert "plotly.js (basic - minified)" in page and page.count("* plotly.js") == 1
    assert path.stat().st_size < 1.6e6, f"report.html is {path.stat().st_size:,} bytes"
    tomllib = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
    pyproject = Path(__file__).parents[1] / "pyproject.toml"
    shipped = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-data"]
    for name in ("plotly-basic.min.js", "plotly-basic.LICENSE.txt", "template.html"):
        assert any(fnmatch(f"report/{name}", glob) for glob in shipped["glassnet"]), name


def test_report_chooses_nothing_on_the_test_set(report):
    _, page, results = report
    assert results["dataset"]["n_val"] == 144  # the default: 10% of digits' training images
    header = re.search(r"<thead>(.*?)</thead>", page).group(1)
    assert "final test acc." in header and "best val. acc." in header
    assert "best test" not in page.lower()
    assert "highest validation accuracy" in re.search(r'id="gn-best-from">(.*?)</p>', page)[1]
    assert "noisy" in re.search(r'id="gn-timing">(.*?)</p>', page)[1]
    assert page.count("highest validation accuracy") == page.count("noisy") == 1  # not twice
    assert "s / epoch (range)" in header and "1st epoch s" in header


def test_report_is_one_offline_file(report):
    from glassnet.report import plotly_js

    path, page, _ = report
    assert path.name == "report.html" and path.stat().st_size > 0
    assert page.count(plotly_js()[:300]) == 1, "plotly's JS must be embedded exactly once"
    assert page.count("<script") == 3  # figures JSON, plotly, the few lines that draw
    for tag in re.findall(r"<(?:script|link|img|iframe|source)\b[^>]*>", page):
        assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", tag), tag
    assert "<script src" not in page
    assert not list(path.parent.glob(".report.html.*"))  # the atomic write cleaned up


def test_report_has_table_notes_and_sections(report):
    _, page, results = report
    assert 'id="gn-results"' in page and 'id="gn-notes"' in page
    for r in results["runs"]:
        row = re.search(
            rf'<tr[^>]*data-model="{r["model"]}" data-engine="{r["engine"]}"'
            r"[^>]*>(.*?)</tr>",
            page,
        )
        assert row, (r["model"], r["engine"])
        if r["status"] == "ok":
            assert f"{r['final_test_accuracy'] * 100:.2f}%" in row.group(1)
            assert f"{r['best_val_accuracy'] * 100:.2f}%" in row.group(1)
            assert f"{r['params']:,}" in row.group(1)
            assert f"{r['seconds']:.2f}" in row.group(1)
            assert f"{r['first_epoch_seconds']:.3f}" in row.group(1)
        else:  # cnn-pool has no scikit-learn counterpart: the row says why
            assert "skipped" in row.group(1) and "MLPClassifier" in row.group(1)
    for note in results["notes"]:
        assert note.replace("'", "&#x27;") in page
    charts = re.findall(r'<div class="gn-chart" id="([^"]+)"', page)
    assert charts == [
        "chart-synopsis",
        "chart-iterations",
        "chart-curves-baseline",
        "chart-curves-cnn-pool",
    ]
    assert page.count('class="gn-model"') == 2
    assert page.count('class="gn-confusion"') == 3  # baseline x 2 engines, cnn-pool x 1
    assert page.count('data-kind="first"') == 3


def test_report_images_are_valid_nonblank_pngs(report):
    _, page, results = report
    images = DATA_URI.findall(page)
    first = re.findall(r'data-kind="first">(.*?)</div>', page)
    assert all(len(DATA_URI.findall(g)) == 20 for g in first)
    assert len(re.findall(r'class="gn-weights', page)) == 3
    assert len(images) >= 3 + 3 * 20
    for b64 in set(images):
        pixels = decode(b64)
        assert pixels.size and pixels.std() > 0, "an image is blank"
    mistakes = re.search(r'data-kind="mistakes">(.*?)</div>', page).group(1)
    baseline = results["runs"][0]
    assert f'data-index="{baseline["misclassified"][0]}"' in mistakes
    assert "(true " in mistakes


def test_save_plots_writes_nonblank_pngs(compare_run):
    folder, results = compare_run
    paths = save_plots(folder, results)
    names = {p.name for p in paths}
    assert {
        "synopsis.png",
        "iterations.png",
        "curves-baseline.png",
        "curves-cnn-pool.png",
        "weights-baseline-glassnet.png",
        "weights-baseline-sklearn.png",
        "weights-cnn-pool-glassnet.png",
        "confusion-baseline.png",
        "first-baseline.png",
        "mistakes-cnn-pool.png",
    } <= names
    for p in paths:
        assert p.parent == folder / "plots"
        with Image.open(p) as im:
            pixels = np.asarray(im.convert("L"))
        assert pixels.std() > 5, f"{p.name} looks blank"


# ------------------------------------------------------- a hand-made run folder
HOSTILE = "<script>alert('x')</script>"


class FakeDataset:
    def __init__(self, images, labels, classes):
        self._images, self.y_test, self.classes = images, labels, classes

    def images(self, which="test"):
        return self._images

    def split(self, which):
        return None, self.y_test


def hand_made_run(folder, dataset_name="digits"):
    rng = np.random.default_rng(0)
    labels = np.array([0, 1, 2] * 4)
    pred = labels.copy()
    pred[[1, 5]] = [2, 0]
    images = rng.integers(0, 256, (12, 4, 4, 1), dtype=np.uint8)
    weights = rng.standard_normal((5, 16)).astype(np.float32)
    save_arrays(folder / "weights" / "mlp-glassnet.safetensors", {"0.weight": weights})
    history = [
        {
            "epoch": e,
            "train_loss": 1.0 / e,
            "train_accuracy": 0.5 + e / 10,
            "val_loss": 1.1 / e,
            "val_accuracy": 0.45 + e / 10,
            "test_loss": 1.2 / e,
            "test_accuracy": 0.4 + e / 10,
            "lr": 0.1,
            "seconds": 0.01,
        }
        for e in (1, 2)
    ]
    ok = {
        "model": "mlp",
        "engine": "glassnet",
        "status": "ok",
        "reason": None,
        "params": 85,
        "seconds": 0.02,
        "first_epoch_seconds": 0.01,
        "seconds_per_epoch": 0.01,
        "seconds_per_epoch_range": [0.01, 0.01],
        "final_test_accuracy": 10 / 12,
        "final_test_loss": 0.6,
        "best_val_accuracy": 0.65,
        "best_epoch": 2,
        "best_epoch_on": "val_accuracy",
        "history": history,
        "iterations": [{"step": 1, "epoch": 1, "examples_seen": 4, "loss": 1.1}],
        "test_predictions": pred.tolist(),
        "confusion_matrix": [[3, 0, 1], [0, 4, 0], [1, 0, 3]],
        "per_class_errors": [1, 0, 1],
        "misclassified": [1, 5],
        "first_layer_shape": [5, 16],
        "first_layer_key": "0.weight",
        "zoo_name": "mlp",
        "weights_file": "weights/mlp-glassnet.safetensors",
    }
    skipped = {
        "model": "mlp",
        "engine": "sklearn",
        "status": "skipped",
        "reason": f"because {HOSTILE}",
        "params": 0,
    }
    results = {
        "glassnet_version": "0",
        "created": "2026-01-02T03:04:05+00:00",
        "machine": {"cpu": "<b>cpu</b>", "cpu_count": 2},
        "config": {
            "dataset": dataset_name,
            "epochs": 2,
            "seed": 0,
            "data_dir": str(folder / "no-data"),
        },
        "dataset": {
            "name": dataset_name,
            "classes": [HOSTILE, "b&c", "two"],
            "input_shape": [1, 4, 4],
            "n_train": 30,
            "n_val": 6,
            "n_test": 12,
        },
        "notes": [f"a note with {HOSTILE}"],
        "runs": [ok, skipped],
    }
    write_json(folder / "results.json", results)
    return FakeDataset(images, labels, results["dataset"]["classes"])


def test_report_escapes_all_text(tmp_path):
    dataset = hand_made_run(tmp_path)
    page = build_report(tmp_path, dataset=dataset).read_text(encoding="utf-8")
    assert HOSTILE not in page and "<b>cpu" not in page
    escaped = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"
    assert page.count(escaped) >= 4  # note, skip reason, confusion headers, captions
    assert "b&amp;c" in page
    assert page.count("<script") == 3
    assert len(DATA_URI.findall(page)) == 1 + 12 + 2  # weights, 12 test images, 2 mistakes


def test_report_of_an_older_run_shows_no_best_chosen_on_test(tmp_path):
    """results.json of a glassnet that chose the best epoch on the test set: the report
    does not show that figure as a best validation accuracy."""
    dataset = hand_made_run(tmp_path)
    results = load_results(tmp_path)
    for r in results["runs"]:
        for key in ("best_val_accuracy", "best_epoch_on", "first_epoch_seconds"):
            r.pop(key, None)
        if r["status"] == "ok":
            r["best_test_accuracy"] = 0.99
    write_json(tmp_path / "results.json", results)
    page = build_report(tmp_path, dataset=dataset).read_text(encoding="utf-8")
    row = re.search(r'<tr data-model="mlp" data-engine="glassnet">(.*?)</tr>', page)[1]
    assert "99.00%" not in page and row.count(">n/a</td>") == 2
    assert "chose its best epoch on the test set" in page


def test_report_without_a_validation_split_shows_no_best_epoch(tmp_path):
    dataset = hand_made_run(tmp_path)
    results = load_results(tmp_path)
    results["dataset"]["n_val"] = 0
    for r in results["runs"]:
        if r["status"] == "ok":
            r.update(best_epoch=None, best_val_accuracy=None, best_epoch_on=None)
            r["history"] = [{k: v for k, v in e.items() if "val" not in k} for e in r["history"]]
    write_json(tmp_path / "results.json", results)
    page = build_report(tmp_path, dataset=dataset).read_text(encoding="utf-8")
    row = re.search(r'<tr data-model="mlp" data-engine="glassnet">(.*?)</tr>', page)[1]
    assert row.count(">–</td>") == 2  # best val. acc. and best epoch: none
    assert "no best epoch is chosen" in re.search(r'id="gn-best-from">(.*?)</p>', page)[1]


def test_skipped_runs_are_absent_from_the_synopsis_with_their_reason(tmp_path, monkeypatch):
    """No bar at 0 for a run that did not train: the HTML chart leaves it out and lists
    it with its reason, the PNG marks its place "not run" and names the reason."""
    from glassnet.report.charts import synopsis_figure
    from glassnet.viz import plots
    from glassnet.viz.run import RunData

    runs = [
        {"model": "mlp", "engine": "glassnet", "status": "ok", "final_test_accuracy": 0.9},
        {"model": "mlp", "engine": "sklearn", "status": "ok", "final_test_accuracy": 0.8},
        {"model": "cnn", "engine": "glassnet", "status": "ok", "final_test_accuracy": 0.95},
        {"model": "cnn", "engine": "sklearn", "status": "skipped", "reason": "no convolutions"},
    ]
    run = RunData(tmp_path, {"runs": runs}, [])
    sklearn = next(t for t in synopsis_figure(run)["data"] if t["name"] == "scikit-learn")
    assert sklearn["x"] == ["mlp"] and sklearn["y"] == [80.0]
    assert run.absent() == [("cnn", "sklearn", "skipped: no convolutions")]

    dataset = hand_made_run(tmp_path)  # mlp on scikit-learn is skipped there
    page = build_report(tmp_path, dataset=dataset).read_text(encoding="utf-8")
    absent = re.search(r'<div id="gn-absent"[^>]*>(.*?)</div>', page)[1]
    assert 'data-model="mlp" data-engine="sklearn"' in absent and "skipped: because" in absent
    figures = json.loads(re.search(r'id="gn-figures"[^>]*>(.*?)</script>', page, re.S)[1])
    bars = {t["name"]: t["x"] for t in figures["chart-synopsis"]["data"]}
    assert bars == {"glassnet": ["mlp"], "scikit-learn": []}

    drawn = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: drawn.append(fig) or path)
    accuracy = [[0.9, 0.8], [0.95, np.nan]]
    absent = [("cnn", "sklearn", "skipped: no convolutions")]
    plots.plot_synopsis(["mlp", "cnn"], ["glassnet", "sklearn"], accuracy, "x", absent=absent)
    (ax,) = drawn[0].axes
    heights = sorted(round(b.get_height(), 6) for b in ax.patches)
    assert heights == [80.0, 90.0, 95.0]  # three bars, none at 0
    texts = [t.get_text() for t in ax.texts]
    assert "not run" in texts and "0.0" not in texts
    assert "cnn on scikit-learn: skipped: no convolutions" in ax.get_xlabel()


def test_report_without_the_dataset_says_why(tmp_path):
    hand_made_run(tmp_path, dataset_name="mnist")  # not in tmp_path/no-data, no download
    page = build_report(tmp_path).read_text(encoding="utf-8")
    assert "test images not shown" in page
    assert 'class="gn-gallery"' not in page
    assert 'class="gn-weights' in page and 'class="gn-confusion"' in page
    paths = save_plots(tmp_path)
    assert not [p for p in paths if p.name.startswith(("first-", "mistakes-"))]


def test_synopsis_axis_starts_at_zero_in_png_and_html(tmp_path, monkeypatch):
    """The synopsis draws bars: both pictures start them at 0 (an axis cut just below the
    lowest accuracy made small differences look large in the HTML report only)."""
    from glassnet.report.charts import synopsis_figure
    from glassnet.viz import plots
    from glassnet.viz.run import RunData

    runs = [
        {"model": m, "engine": e, "status": "ok", "final_test_accuracy": a}
        for m, e, a in [("a", "glassnet", 0.92), ("a", "torch", 0.95), ("b", "glassnet", 0.97)]
    ]
    layout = synopsis_figure(RunData(tmp_path, {"runs": runs}, []))["layout"]
    assert layout["yaxis"]["range"] == [0.0, 105.0]

    drawn = []

    def keep(fig, path):  # the Figure instead of its PNG
        drawn.append(fig)
        return path

    monkeypatch.setattr(plots, "_save", keep)
    plots.plot_synopsis(["a", "b"], ["glassnet", "torch"], [[0.92, 0.95], [0.97, np.nan]], "x")
    (ax,) = drawn[0].axes
    assert ax.get_ylim() == (0.0, 105.0)


# ------------------------------------------------------------------ the helpers
@pytest.mark.parametrize("shape", [(5, 7), (5, 7, 1), (4, 6, 3), (3, 2, 4)])
def test_encode_png_round_trips(shape):
    pixels = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    back = decode(base64.b64encode(encode_png(pixels)).decode())
    np.testing.assert_array_equal(back, pixels.reshape(back.shape))


def test_encode_png_rejects_bad_input():
    with pytest.raises(TypeError, match="uint8"):
        encode_png(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="expected"):
        encode_png(np.zeros((2, 2, 2), np.uint8))


def test_weight_tiles_layouts():
    rng = np.random.default_rng(0)
    linear = weight_tiles(rng.standard_normal((6, 3 * 4 * 4)), (3, 4, 4))
    assert linear.shape == (6, 4, 4, 3) and linear.dtype == np.uint8
    rgb = weight_tiles(rng.standard_normal((8, 3, 5, 5)), (3, 32, 32))
    assert rgb.shape == (8, 5, 5, 3) and rgb.min() == 0 and rgb.max() == 255
    many = weight_tiles(rng.standard_normal((100, 16, 3, 3)), None, max_units=64)
    assert many.shape == (64, 3, 3, 3)
    matrix = weight_tiles(rng.standard_normal((10, 30)), (1, 8, 8))  # rows are not images
    assert matrix.shape == (1, 10, 30, 3)
    grid = mosaic(linear, pad=1)
    assert grid.shape == (2 * 5 + 1, 3 * 5 + 1, 3)


def _figure_texts(monkeypatch, draw):
    """The texts (title, captions) of the figure ``draw()`` saves."""
    from glassnet.viz import plots

    seen = {}
    save = plots._save

    def spy(fig, path):
        seen["texts"] = [t.get_text() for ax in fig.axes for t in ax.texts]
        seen["texts"] += [t.get_text() for t in fig.texts] + [ax.get_title() for ax in fig.axes]
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", spy)
    draw()
    return seen["texts"]


def test_image_grid_captions_and_inputs(tmp_path, monkeypatch):
    from glassnet.viz import plot_image_grid

    images = np.zeros((3, 8, 8, 3), np.uint8)
    titles = ["automobile (true truck)", "cat (true dog)", "dog"]
    texts = _figure_texts(monkeypatch, lambda: plot_image_grid(images, titles, tmp_path / "a.png"))
    assert "automobile\n(true truck)" in texts and "dog" in texts  # two lines: no overlaps
    floats = np.full((2, 8, 8), 0.5)  # a denormalised batch: drawn grey, not black
    plot_image_grid(floats, ["", ""], tmp_path / "f.png")  # no captions: no dark text
    assert 120 < np.asarray(Image.open(tmp_path / "f.png").convert("L")).min() < 135
    with pytest.raises(ValueError, match="no images"):
        plot_image_grid([], [], tmp_path / "e.png")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        plot_image_grid(floats * 255, ["a", "b"], tmp_path / "e.png")
    with pytest.raises(ValueError, match="HWC"):
        plot_image_grid(np.zeros((2, 3, 8, 8), np.uint8), ["a", "b"], tmp_path / "e.png")
    with pytest.raises(ValueError, match="2 images but 1 titles"):
        plot_image_grid(floats, ["a"], tmp_path / "e.png")


def test_weight_picture_says_when_units_are_left_out(tmp_path, monkeypatch):
    from glassnet.viz import plot_weights

    w = np.random.default_rng(0).standard_normal((100, 64))
    texts = _figure_texts(monkeypatch, lambda: plot_weights(w, (1, 8, 8), tmp_path / "w.png"))
    assert any("(100x64, first 64 of 100 units)" in t for t in texts)
    texts = _figure_texts(monkeypatch, lambda: plot_weights(w[:10], (1, 8, 8), tmp_path / "v.png"))
    assert any(t.endswith("(10x64)") for t in texts)
