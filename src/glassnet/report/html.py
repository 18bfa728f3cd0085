"""``report.html``: one self-contained page for a ``glassnet compare`` run.

The page works offline: plotly.js's basic bundle is embedded once, each chart's figure is
JSON in the page, and every picture is an inline base64 PNG. Sections, in order:

* title, date, machine and recipe; the results table (model x engine); the notes;
* a synopsis chart of final test accuracy and the training loss per iteration;
* per model: loss and accuracy curves per epoch, then per engine the first-layer
  weights, the confusion matrix with per-class errors, the first 20 test images with
  their predicted labels and the first 20 mistakes (predicted and true labels).

Stable hooks for tests and styling: ``#gn-results``, ``#gn-notes``, ``.gn-chart``
(one per plotly chart), ``section.gn-model``, ``details.gn-engine``,
``table.gn-confusion``, ``img.gn-weights`` and ``.gn-gallery``.
"""

from __future__ import annotations

import datetime
import html
import json
import re
import string
from importlib import resources
from pathlib import Path

import numpy as np

from ..io import atomic_write
from ..study.records import TIMING_NOTE, best_epoch_note
from ..viz.images import mosaic, to_display, weight_tiles
from ..viz.png import png_data_uri
from ..viz.run import ENGINE_LABELS, RunData, load_run
from .charts import curves_figure, iterations_figure, synopsis_figure

__all__ = ["build_report", "render_report", "plotly_js"]

THUMB_PX = 64  # test images are shown about this tall (small digits are upscaled)
TILE_PX = 40  # first-layer weight tiles are upscaled to about this size


def e(value) -> str:
    """Escape any value for HTML text or attribute."""
    return html.escape(str(value), quote=True)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(name).lower()).strip("-") or "x"


def _pct(value) -> str:
    return "" if value is None else f"{value * 100:.2f}%"


# plotly.js's basic partial bundle (scatter and bar charts are all the report draws):
# 1.2 MB, where the full plotly.js of the plotly package is 4.8 MB. Shipped with
# glassnet (see plotly-basic.README.txt), so the report needs no plotly package.
PLOTLY_JS = "plotly-basic.min.js"


def plotly_js() -> str:
    """The plotly.js bundle the report embeds, safe inside a ``<script>`` element."""
    text = resources.files("glassnet.report").joinpath(PLOTLY_JS).read_text("utf-8")
    return text.replace("</script", "<\\/script")


class _Page:
    """Collects chart figures while the body is written."""

    def __init__(self):
        self.figures: dict[str, dict] = {}

    def chart(self, chart_id: str, figure: dict) -> str:
        self.figures[chart_id] = figure
        return f'<div class="gn-chart" id="{e(chart_id)}"></div>'

    def figures_json(self) -> str:
        # "<" escaped so no string in the JSON can close the <script> element
        return json.dumps(self.figures, separators=(",", ":"), allow_nan=False).replace(
            "<", "\\u003c"
        )


def _date(created: str) -> str:
    try:
        when = datetime.datetime.fromisoformat(created)
    except (TypeError, ValueError):
        return str(created)
    zone = " UTC" if when.utcoffset() == datetime.timedelta(0) else ""
    return when.strftime("%Y-%m-%d %H:%M") + zone


# ------------------------------------------------------------------------ sections
def _is_train(run: RunData) -> bool:
    return run.results.get("kind") == "train"


def _title(run: RunData) -> str:
    res = run.results
    name = res.get("dataset", {}).get("name", res.get("config", {}).get("dataset", "?"))
    if _is_train(run) and run.runs:
        r = run.runs[0]
        engine = ENGINE_LABELS.get(r["engine"], r["engine"])
        return f"glassnet train: {r.get('zoo_name') or r['model']} on {name} ({engine})"
    return f"glassnet compare: {name}"


def _header(run: RunData) -> str:
    res, ds = run.results, run.results.get("dataset", {})
    cfg, machine = res.get("config", {}), res.get("machine", {})
    shape = "×".join(str(s) for s in ds.get("input_shape", []))
    versions = ", ".join(
        f"{k} {machine[k]}" for k in ("python", "numpy", "torch", "sklearn") if k in machine
    )
    cpu = machine.get("cpu", machine.get("platform", "unknown CPU"))
    recipe = (
        f"{cfg.get('epochs', '?')} epochs, batch {cfg.get('batch_size', '?')}, "
        f"{cfg.get('optimizer', '?')} lr {cfg.get('lr', '?')}, "
        f"{cfg.get('scheduler') or 'constant'} schedule, seed {cfg.get('seed', '?')}"
    )
    data = (
        f"{ds.get('n_train', '?')} train / {ds.get('n_val', 0)} validation / "
        f"{ds.get('n_test', '?')} test images of {shape}, {len(run.classes)} classes"
    )
    links = "".join(f'<a href="#model-{e(_slug(m))}">{e(m)}</a>' for m in run.models())
    return (
        f"<header>\n<h1>{e(_title(run))}</h1>\n"
        f'<p class="gn-meta" id="gn-created">{e(_date(res.get("created", "")))} · '
        f"glassnet {e(res.get('glassnet_version', ''))}</p>\n"
        f'<p class="gn-meta" id="gn-machine">{e(cpu)}, '
        f"{e(machine.get('cpu_count', '?'))} cores · {e(versions)}</p>\n"
        f'<p class="gn-meta" id="gn-recipe">{e(recipe)} · {e(data)}</p>\n'
        f'<nav class="gn-meta"><a href="#results">results</a><a href="#charts">charts</a>'
        f"{links}</nav>\n</header>"
    )


def _seconds(value, digits: int = 3) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _best_cells(r: dict) -> str:
    """Best validation accuracy and its epoch; a dash when there is no validation split,
    n/a for a run recorded before the best epoch was chosen on validation (its best was
    chosen on the test set, and is not shown)."""
    if "best_epoch_on" not in r and "best_test_accuracy" in r:
        title = "recorded by an older glassnet, which chose it on the test set"
        return f'<td title="{e(title)}">n/a</td><td title="{e(title)}">n/a</td>'
    if r.get("best_val_accuracy") is None:
        title = "no validation split: no best epoch is chosen"
        return f'<td title="{e(title)}">–</td><td title="{e(title)}">–</td>'
    return f"<td>{_pct(r['best_val_accuracy'])}</td><td>{e(r['best_epoch'])}</td>"


def _timing_cells(r: dict) -> str:
    spread = r.get("seconds_per_epoch_range")
    spread = f" ({spread[0]:.3f}–{spread[1]:.3f})" if spread else ""
    return (
        f"<td>{_seconds(r.get('seconds_per_epoch'))}{spread}</td>"
        f"<td>{_seconds(r.get('first_epoch_seconds'))}</td><td>{_seconds(r['seconds'], 2)}</td>"
    )


def _results_table(run: RunData) -> str:
    ok = [r for r in run.runs if r.get("status") == "ok"]
    best = max((r["final_test_accuracy"] for r in ok), default=None)
    rows = []
    for r in run.runs:
        attrs = f'data-model="{e(r["model"])}" data-engine="{e(r["engine"])}"'
        head = (
            f'<td class="gn-text">{e(r["model"])}</td>'
            f'<td class="gn-text">{e(ENGINE_LABELS.get(r["engine"], r["engine"]))}</td>'
        )
        if r.get("status") != "ok":
            reason = f"{r.get('status', 'skipped')}: {r.get('reason') or 'no reason given'}"
            rows.append(
                f'<tr class="gn-skipped" {attrs}>{head}'
                f'<td class="gn-text" colspan="7">{e(reason)}</td></tr>'
            )
            continue
        top = ' class="gn-best"' if r["final_test_accuracy"] == best and len(ok) > 1 else ""
        rows.append(
            f"<tr {attrs}>{head}<td{top}>{_pct(r['final_test_accuracy'])}</td>"
            f"{_best_cells(r)}{_timing_cells(r)}<td>{r['params']:,}</td></tr>"
        )
    header = (
        '<tr><th class="gn-text">model</th><th class="gn-text">engine</th>'
        "<th>final test acc.</th><th>best val. acc.</th><th>best epoch</th>"
        "<th>s / epoch (range)</th><th>1st epoch s</th><th>train seconds</th>"
        "<th>params</th></tr>"
    )
    legacy = any("best_epoch_on" not in r and "best_test_accuracy" in r for r in ok)
    n_val = run.results.get("dataset", {}).get("n_val", 0)
    if legacy:
        best_from = (
            "Final test accuracy: on the test split, after the last epoch. This run was "
            "recorded by an older glassnet, which chose its best epoch on the test set: it is "
            "not shown (n/a)."
        )
    else:
        best_from = best_epoch_note(n_val)
    return (
        f'<section id="results">\n<h2>Results</h2>\n<table id="gn-results">\n'
        f"<thead>{header}</thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>\n"
        f'<p class="gn-muted" id="gn-best-from">{e(best_from)}</p>\n'
        f'<p class="gn-muted" id="gn-timing">{e(TIMING_NOTE)}</p>\n</section>'
    )


def _notes(run: RunData) -> str:
    # where the best epoch comes from and how noisy the times are: said under the table
    shown = {TIMING_NOTE, best_epoch_note(run.results.get("dataset", {}).get("n_val", 0))}
    notes = [n for n in run.results.get("notes", []) if n not in shown]
    if run.images_note:
        notes.append(run.images_note)
    if not notes:
        return ""
    items = "\n".join(f"<li>{e(n)}</li>" for n in notes)
    return f'<section id="notes">\n<h3>Notes</h3>\n<ul id="gn-notes">\n{items}\n</ul>\n</section>'


def _weights_caption(weights: np.ndarray, input_shape, tiles: np.ndarray) -> str:
    """How the tiles were drawn (HTML, already escaped)."""
    if weights.ndim == 2 and tiles.shape[1:3] == weights.shape:
        return "the whole matrix (its rows are not input images); blue &lt; 0 &lt; red"
    first = f" (the first {len(tiles)} of {len(weights)})" if len(tiles) < len(weights) else ""
    channels = weights.shape[1] if weights.ndim == 4 else (tuple(input_shape) or (1,))[0]
    if channels == 3:
        return f"one tile per unit{first}, RGB, each tile stretched to its own range"
    mean = f", mean of the {channels} input channels" if channels != 1 else ""
    return f"one tile per unit{first}; blue &lt; 0 &lt; red, each scaled by its largest |w|{mean}"


def _weights_html(run: RunData, r: dict) -> str:
    weights = run.first_layer(r)
    if weights is None:
        return '<p class="gn-muted">No first-layer weights were saved for this run.</p>'
    tiles = weight_tiles(weights, run.input_shape)
    caption = _weights_caption(weights, run.input_shape, tiles)
    scale = max(1, min(16, round(TILE_PX / max(tiles.shape[1:3]))))
    if len(tiles) > 1:  # upscale in the PNG, so the gaps between tiles stay thin
        tiles = tiles.repeat(scale, axis=1).repeat(scale, axis=2)
        scale = 1
    grid = mosaic(tiles, pad=3, background=150)
    shape = "×".join(str(s) for s in weights.shape)
    return (
        f'<figure><img class="gn-weights gn-pixels" src="{png_data_uri(grid)}" '
        f'width="{grid.shape[1] * scale}" height="{grid.shape[0] * scale}" '
        f'alt="first-layer weights {e(shape)}">'
        f'<figcaption class="gn-muted">{e(r.get("first_layer_key", ""))} ({e(shape)}): '
        f"{caption}</figcaption></figure>"
    )


def _confusion_html(run: RunData, r: dict) -> str:
    matrix = np.asarray(r["confusion_matrix"])
    errors = r.get("per_class_errors") or (matrix.sum(1) - np.diag(matrix)).tolist()
    off = matrix - np.diag(np.diag(matrix))
    worst = max(int(off.max()), 1) if off.size else 1
    head = "".join(f"<th>{e(run.label(j))}</th>" for j in range(len(matrix)))
    rows = []
    for i, row in enumerate(matrix):
        total = max(int(row.sum()), 1)
        cells = []
        for j, v in enumerate(row):
            if i == j:
                style = f' style="background: rgba(31,119,180,{0.15 + 0.6 * v / total:.2f})"'
            elif v:
                style = f' style="background: rgba(207,34,46,{0.15 + 0.6 * v / worst:.2f})"'
            else:
                style = ""
            cells.append(f"<td{style}>{int(v) or ''}</td>")
        rows.append(
            f"<tr><th>{e(run.label(i))}</th>{''.join(cells)}"
            f'<td class="gn-errors">{int(errors[i])}</td><td>{int(row.sum())}</td></tr>'
        )
    return (
        f'<table class="gn-confusion"><thead><tr><th>true \\ pred.</th>{head}'
        "<th>errors</th><th>n</th></tr></thead>\n<tbody>" + "\n".join(rows) + "</tbody></table>"
    )


def _thumb_uris(run: RunData, index) -> list[tuple[str, int, int]]:
    out = []
    for i in index:
        image = to_display(run.test_images[int(i)])
        scale = max(1, round(THUMB_PX / image.shape[0]))
        out.append((png_data_uri(image), image.shape[1] * scale, image.shape[0] * scale))
    return out


def _gallery_html(run: RunData, r: dict, which: str) -> str:
    index, titles, correct = run.gallery(r, which)
    if not len(index):
        return '<p class="gn-muted">No mistakes on the test set.</p>'
    figures = []
    for i, (uri, w, h), title, good in zip(index, _thumb_uris(run, index), titles, correct):
        kind = "gn-right" if good else "gn-wrong"
        truth = e(f"test image {int(i)}, true label {run.label(run.test_labels[i])}")
        figures.append(
            f'<figure class="{kind}" data-index="{int(i)}" title="{truth}">'
            f'<img class="gn-pixels" src="{uri}" '
            f'width="{w}" height="{h}" alt="test image {int(i)}"><figcaption>{e(title)}'
            "</figcaption></figure>"
        )
    return f'<div class="gn-gallery" data-kind="{which}">' + "".join(figures) + "</div>"


def _engine_html(run: RunData, r: dict, open_: bool) -> str:
    n = len(r.get("test_predictions", []))
    wrong = len(r.get("misclassified", []))
    label = ENGINE_LABELS.get(r["engine"], r["engine"])
    parts = [
        f'<details class="gn-engine" data-engine="{e(r["engine"])}"{" open" if open_ else ""}>',
        f"<summary>{e(label)}: {_pct(r['final_test_accuracy'])} test accuracy, "
        f"{wrong} of {n} test images wrong</summary>",
        '<div class="gn-row">',
        f"<div><h3>First-layer weights</h3>{_weights_html(run, r)}</div>",
        f"<div><h3>Confusion matrix and errors per class</h3>{_confusion_html(run, r)}</div>",
        "</div>",
    ]
    if run.test_images is not None:
        parts += [
            "<h3>First 20 test images, predicted label</h3>",
            _gallery_html(run, r, "first"),
            "<h3>First 20 mistakes, predicted label (true label)</h3>",
            _gallery_html(run, r, "mistakes"),
        ]
    parts.append("</details>")
    return "\n".join(parts)


def _model_html(run: RunData, page: _Page, model: str) -> str:
    slug = _slug(model)
    runs = run.runs_of(model)
    every = run.runs_of(model, ok_only=False)
    zoo = next((r.get("zoo_name") for r in every if r.get("zoo_name")), None)
    params = next((r["params"] for r in runs if r.get("params")), None)
    sub = " · ".join(
        x for x in (zoo and f"zoo model {zoo}", params and f"{params:,} parameters") if x
    )
    parts = [
        f'<section class="gn-model" id="model-{e(slug)}" data-model="{e(model)}">',
        f"<h2>{e(model)}</h2>",
        f'<p class="gn-meta">{e(sub)}</p>',
    ]
    if not runs:
        parts.append('<p class="gn-muted">No engine trained this model (see the table).</p>')
    else:
        parts += [
            "<h3>Loss and accuracy per epoch (train dashed, validation dotted, test solid)</h3>",
            page.chart(f"chart-curves-{slug}", curves_figure(run, model)),
        ]
        main = run.primary(model)
        parts += [_engine_html(run, r, r is main) for r in runs]
    parts.append("</section>")
    return "\n".join(parts)


def _absent_html(run: RunData) -> str:
    """The runs the synopsis leaves out (skipped or failed), each with its reason."""
    absent = run.absent()
    if not absent:
        return ""
    items = "".join(
        f'<li data-model="{e(m)}" data-engine="{e(engine)}">{e(m)} on '
        f"{e(ENGINE_LABELS.get(engine, engine))}: {e(why)}</li>"
        for m, engine, why in absent
    )
    return (
        '<div id="gn-absent" class="gn-muted"><p>Not drawn, as these runs did not train:</p>'
        f"<ul>{items}</ul></div>"
    )


# ------------------------------------------------------------------------ the page
def render_report(run: RunData) -> str:
    """The whole HTML page of a loaded run (see :func:`glassnet.viz.load_run`)."""
    page = _Page()
    body = [
        _header(run),
        _results_table(run),
        _notes(run),
        '<section id="charts">\n<h2>Charts</h2>',
    ]
    if not _is_train(run):  # one run needs no bar chart beside its table
        body += [
            "<h3>Final test accuracy</h3>",
            page.chart("chart-synopsis", synopsis_figure(run)),
            _absent_html(run),
        ]
    if any(r.get("iterations") for r in run.runs if r.get("status") == "ok"):
        body += [
            "<h3>Training loss per iteration</h3>",
            page.chart("chart-iterations", iterations_figure(run)),
        ]
    body.append("</section>")
    body += [_model_html(run, page, m) for m in run.models()]
    plots = (
        " PNG versions of the figures are in plots/." if (run.run_dir / "plots").is_dir() else ""
    )
    body.append(
        f"<footer>Made by glassnet {e(run.results.get('glassnet_version', ''))} from "
        f"results.json; rebuild with <code>glassnet report &lt;run folder&gt;</code>."
        f"{e(plots)}</footer>"
    )
    template = resources.files("glassnet.report").joinpath("template.html").read_text("utf-8")
    return string.Template(template).substitute(
        title=e(_title(run)),
        version=e(run.results.get("glassnet_version", "")),
        body="\n".join(b for b in body if b),
        figures=page.figures_json(),
        plotly_js=plotly_js(),
    )


def build_report(run_dir, results: dict | None = None, dataset=None) -> Path:
    """Write ``<run_dir>/report.html`` (atomically) and return its path.

    ``results`` defaults to ``<run_dir>/results.json``; ``dataset`` (for the test
    images) defaults to reloading the run's dataset from its config, without download.
    """
    run = load_run(run_dir, results, dataset)
    path = Path(run_dir) / "report.html"
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(render_report(run))
    return path
