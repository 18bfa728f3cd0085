"""``report.html`` of a ``glassnet sweep`` run: one self-contained page.

Like the compare report it works offline (plotly's JavaScript embedded once, each
chart a JSON figure in the page). Sections, in order:

* title, date, machine, the shared recipe and the space searched; the choice: its
  mean validation accuracy over the seeds and its test accuracy, reported once;
* validation accuracy against each swept setting: one point per setting (mean over
  the seeds) with the seeds' spread as an error bar, one colour per model and engine;
* the learning curves of the best few settings (train and validation accuracy per
  epoch, mean over the seeds): the gap between them is the overfitting;
* every setting in a table sorted by rank, re-sortable by clicking a column header;
* the trials that diverged or failed, with their reasons.

Test accuracy appears only for the chosen setting: the table ranks on validation.

Stable hooks for tests: ``#gn-choice``, ``#gn-settings`` (``table.gn-sortable``),
``#gn-failures``, ``.gn-chart``.
"""

from __future__ import annotations

import json
import math
import numbers
import string
from importlib import resources
from pathlib import Path

import numpy as np

from ..io import atomic_write, read_json
from .charts import _axis, _layout, _num
from .html import _date, _Page, _pct, e, plotly_js

__all__ = ["build_sweep_report", "render_sweep_report"]

BEST_CURVES = 3  # learning curves of this many of the best settings
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")

_SORT_SCRIPT = """<script>
(function () {
  // Click a column header to sort the table by it (again: the other way).
  document.querySelectorAll("table.gn-sortable").forEach(function (table) {
    table.querySelectorAll("th").forEach(function (th, col) {
      th.style.cursor = "pointer";
      th.title = "sort by this column";
      th.addEventListener("click", function () {
        var body = table.tBodies[0];
        var up = th.getAttribute("data-dir") !== "up";
        table.querySelectorAll("th").forEach(function (o) { o.removeAttribute("data-dir"); });
        th.setAttribute("data-dir", up ? "up" : "down");
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[col].getAttribute("data-v"), y = b.cells[col].getAttribute("data-v");
          var nx = parseFloat(x), ny = parseFloat(y), c;
          if (x === "" || y === "") { c = (x === "") - (y === ""); return c; }
          c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : String(x).localeCompare(String(y));
          return up ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
})();
</script>"""


def _value_text(value, name: str = "") -> str:
    from ..study.sweep_space import format_value

    return format_value(value, name)


def _group_label(row: dict, several: bool) -> str:
    engine = "" if row["engine"] == "glassnet" else f" [{row['engine']}]"
    return f"{row['model']}{engine}" if several else "mean ± sd over seeds"


def _numeric_axis(values: list) -> tuple[bool, bool]:
    """(numeric, log): whether a setting's values are plain numbers, and spread 10x or
    more over positive numbers (then drawn on a log axis)."""
    numeric = bool(values) and all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values
    )  # train_size 'all' (None) makes the axis categories
    if not numeric:
        return False, False
    finite = [float(v) for v in values]
    positive = [v for v in finite if v > 0]
    log = len(positive) == len(finite) and max(finite) / min(finite) >= 10
    return True, log


def setting_figure(results: dict, name: str) -> dict:
    """Mean validation accuracy (%) of every setting against setting ``name``, with the
    seeds' standard deviation as error bars; one trace per model and engine."""
    rows = [r for r in results["settings"] if r["val_accuracy_mean"] is not None]
    values = [r["settings"].get(name) for r in rows]
    numeric, log = _numeric_axis(values)
    groups = list(dict.fromkeys((r["model"], r["engine"]) for r in rows))
    several = len(groups) > 1
    # categories in the order the space lists them (the trials'), not by rank
    order = list(
        dict.fromkeys(_value_text(t["settings"].get(name), name) for t in results.get("trials", []))
    )
    order += [v for v in dict.fromkeys(_value_text(v, name) for v in values) if v not in order]
    data = []
    for i, group in enumerate(groups):
        mine = [r for r in rows if (r["model"], r["engine"]) == group]
        if numeric:
            mine.sort(key=lambda r: r["settings"][name])
            xs = [r["settings"][name] for r in mine]
        else:
            mine.sort(key=lambda r: order.index(_value_text(r["settings"].get(name), name)))
            xs = [_value_text(r["settings"].get(name), name) for r in mine]
        others = [
            " ".join(f"{k}={_value_text(v, k)}" for k, v in r["settings"].items() if k != name)
            or "-"
            for r in mine
        ]
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": _group_label(mine[0], several) if mine else "",
                "x": xs,
                "y": [_num(r["val_accuracy_mean"], 100) for r in mine],
                "error_y": {
                    "type": "data",
                    "array": [_num(r["val_accuracy_std"], 100) or 0 for r in mine],
                    "visible": True,
                },
                "text": [f"{o}<br>{r['ok']} seed(s)" for o, r in zip(others, mine)],
                "hovertemplate": "%{x}: %{y:.2f}%<br>%{text}<extra></extra>",
                "marker": {"size": 9, "color": COLORS[i % len(COLORS)]},
            }
        )
    xaxis = _axis(name)
    if numeric and log:
        xaxis["type"] = "log"
    elif not numeric:
        xaxis.update(type="category", categoryorder="array", categoryarray=order)
    return {
        "data": data,
        "layout": _layout(
            xaxis=xaxis,
            yaxis=_axis("validation accuracy (%)"),
            showlegend=several,
            height=340,
        ),
    }


def _mean_curve(trials: list[dict], key: str) -> tuple[list, list]:
    """Epochs and the mean of ``key`` over the trials that have it at each epoch."""
    epochs: dict[int, list[float]] = {}
    for t in trials:
        for row in t.get("history", []):
            if row.get(key) is not None:
                epochs.setdefault(int(row["epoch"]), []).append(float(row[key]))
    xs = sorted(epochs)
    return xs, [_num(np.mean(epochs[x]), 100) for x in xs]


def curves_figure(results: dict, top: int = BEST_CURVES) -> dict:
    """Train (dashed) and validation (solid) accuracy per epoch of the ``top`` best
    settings, each the mean over its seeds."""
    best = [r for r in results["settings"] if r.get("rank")][:top]
    data = []
    for i, row in enumerate(best):
        trials = [
            t
            for t in results["trials"]
            if t["status"] == "ok"
            and (t["setting"], t["model"], t["engine"])
            == (row["setting"], row["model"], row["engine"])
        ]
        label = f"#{row['rank']} " + (
            " ".join(f"{k}={_value_text(v, k)}" for k, v in row["settings"].items())
        )
        if len({(r["model"], r["engine"]) for r in results["settings"]}) > 1:
            label += f" ({_group_label(row, True)})"
        color = COLORS[i % len(COLORS)]
        for key, dash, split in (
            ("train_accuracy", "dash", "train"),
            ("val_accuracy", "solid", "val"),
        ):
            xs, ys = _mean_curve(trials, key)
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": f"{label}: {split}",
                    "legendgroup": str(i),
                    "x": xs,
                    "y": ys,
                    "line": {"color": color, "dash": dash, "width": 2},
                    "marker": {"size": 5},
                    "hovertemplate": "epoch %{x}: %{y:.2f}%<extra>" + split + "</extra>",
                }
            )
    return {
        "data": data,
        "layout": _layout(
            xaxis=_axis("epoch", dtick=1),
            yaxis=_axis("accuracy (%)"),
            height=400,
        ),
    }


# ------------------------------------------------------------------------ sections
def _header(results: dict) -> str:
    cfg, machine = results.get("config", {}), results.get("machine", {})
    counts = results.get("counts", {})
    cpu = machine.get("cpu", machine.get("platform", "unknown CPU"))
    recipe = (
        f"{cfg.get('epochs', '?')} epochs, batch {cfg.get('batch_size', '?')}, "
        f"{cfg.get('optimizer', '?')} lr {cfg.get('lr', '?')}, "
        f"{cfg.get('scheduler') or 'constant'} schedule, normalization "
        f"{cfg.get('normalization', 'standard')}, validation split {cfg.get('val_size')}"
    )
    if cfg.get("random"):
        space = f"random search, {cfg.get('samples')} samples of " + ", ".join(
            f"{k} {_space_text(v)}" for k, v in cfg["random"].items()
        )
    else:
        space = "grid " + " ∪ ".join(
            " × ".join(
                f"{k} ∈ {{{', '.join(_value_text(x, k) for x in vs)}}}" for k, vs in g.items()
            )
            for g in cfg.get("grid", [])
        )
    study = f" (study {cfg['study']})" if cfg.get("study") else ""
    trials = len(results.get("trials", []))
    status = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    return (
        f"<header>\n<h1>glassnet sweep: {e(cfg.get('dataset', '?'))}{e(study)}</h1>\n"
        f'<p class="gn-meta" id="gn-created">{e(_date(results.get("created", "")))} · '
        f"glassnet {e(results.get('glassnet_version', ''))} · {e(cpu)}, "
        f"{e(machine.get('cpu_count', '?'))} cores</p>\n"
        f'<p class="gn-meta" id="gn-space">{e(space)}</p>\n'
        f'<p class="gn-meta">models {e(", ".join(cfg.get("models", [])))} · engines '
        f"{e(', '.join(cfg.get('engines', [])))} · {e(cfg.get('seeds', 1))} seed(s) from "
        f"{e(cfg.get('seed', 0))} · {trials} trials ({e(status)})</p>\n"
        f'<p class="gn-meta" id="gn-recipe">shared recipe: {e(recipe)}</p>\n'
        '<nav class="gn-meta"><a href="#choice">choice</a><a href="#settings">settings</a>'
        '<a href="#curves">curves</a><a href="#table">table</a></nav>\n</header>'
    )


def _space_text(spec: dict) -> str:
    if "values" in spec:
        return "{" + ", ".join(_value_text(v) for v in spec["values"]) + "}"
    lo, hi = spec["range"]
    return f"[{lo:g}, {hi:g}] ({spec.get('scale', 'linear')})"


def _choice(results: dict, run_dir: Path) -> str:
    best = results.get("best")
    if best is None:
        body = "<p>No setting finished on every seed: nothing was chosen.</p>"
    else:
        n = len(best["test_accuracy_by_seed"])
        setting = " ".join(f"{k}={_value_text(v, k)}" for k, v in best["settings"].items())
        engine = "" if best["engine"] == "glassnet" else f" [{best['engine']}]"
        spread = lambda sd: f" ± {sd * 100:.2f}" if n > 1 else ""  # noqa: E731
        body = (
            f"<p><b>{e(best['model'])}{e(engine)} {e(setting)}</b>: validation accuracy "
            f"{_pct(best['val_accuracy_mean'])}{spread(best['val_accuracy_std'])} "
            f"(mean{' ± sd' if n > 1 else ''} over {n} seed(s)), the highest of the "
            f"settings whose every seed finished.</p>\n"
            f"<p>Its test accuracy, measured once now that the choice is made: "
            f"<b>{_pct(best['test_accuracy_mean'])}{spread(best['test_accuracy_std'])}</b>."
            f" The test set chose nothing.</p>\n"
            f'<p class="gn-muted">Repeat it: <code>glassnet train --config '
            f"{e(run_dir / 'best_config.json')}</code></p>"
        )
    return (
        f'<section id="choice">\n<h2>The choice</h2>\n<div id="gn-choice">{body}</div>\n</section>'
    )


def _cell(value, text: str | None = None, cls: str = "") -> str:
    v = "" if value is None else value
    if isinstance(v, float) and not math.isfinite(v):
        v = ""
    attr = f' class="{cls}"' if cls else ""
    return f'<td{attr} data-v="{e(v)}">{e(text if text is not None else v)}</td>'


def _table(results: dict) -> str:
    names = list(results.get("swept", []))
    several = len({(r["model"], r["engine"]) for r in results["settings"]}) > 1
    head = ["rank"] + (["model", "engine"] if several else []) + names
    head += ["val acc.", "± sd", "train acc.", "gap", "val loss", "seeds ok", "s / trial"]
    head += ["params"]
    rows = []
    for r in results["settings"]:
        cells = [_cell(r.get("rank"), str(r.get("rank") or "-"))]
        if several:
            cells += [_cell(r["model"], cls="gn-text"), _cell(r["engine"], cls="gn-text")]
        for n in names:
            v = r["settings"].get(n)
            sort = v if isinstance(v, numbers.Real) and not isinstance(v, bool) else None
            text = _value_text(v, n) if n in r["settings"] else ""
            cells.append(_cell(sort if sort is not None else text, text, "gn-text"))
        val = r["val_accuracy_mean"]
        train = r.get("train_eval_accuracy_mean") or r.get("train_accuracy_mean")
        gap = None if val is None or train is None else train - val
        cells += [
            _cell(val, _pct(val)),
            _cell(
                r["val_accuracy_std"],
                "" if val is None or r["ok"] < 2 else f"{r['val_accuracy_std'] * 100:.2f}",
            ),
            _cell(train, _pct(train)),
            _cell(gap, "" if gap is None else f"{gap * 100:+.2f}"),
            _cell(
                r.get("val_loss_mean"),
                "" if r.get("val_loss_mean") is None else f"{r['val_loss_mean']:.4f}",
            ),
            _cell(r["ok"], f"{r['ok']}/{r['seeds']}"),
            _cell(
                r.get("seconds_mean"),
                "" if r.get("seconds_mean") is None else f"{r['seconds_mean']:.2f}",
            ),
            _cell(r.get("params"), "" if r.get("params") is None else f"{r['params']:,}"),
        ]
        cls = ' class="gn-skipped"' if r["val_accuracy_mean"] is None else ""
        rows.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
    header = "".join(f"<th>{e(h)}</th>" for h in head)
    return (
        '<section id="table">\n<h2>Every setting</h2>\n'
        '<table id="gn-settings" class="gn-sortable">\n'
        f"<thead><tr>{header}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>\n"
        '<p class="gn-muted">Ranked by mean validation accuracy over the seeds (a setting '
        "with a failed seed is not ranked); gap = train − validation accuracy of the final "
        "epoch, in points (train: the epoch's running accuracy, or in the train-size study "
        "the final model's on the whole training split). Click a header to sort. Every "
        "trial, with its test accuracy, is in results.csv.</p>\n</section>"
    )


def _failures(results: dict) -> str:
    bad = [t for t in results.get("trials", []) if t["status"] != "ok"]
    if not bad:
        return ""
    items = "".join(
        f"<li>{e(t['model'])} "
        + e(" ".join(f"{k}={_value_text(v, k)}" for k, v in t["settings"].items()))
        + f" seed {e(t['seed'])}: <b>{e(t['status'])}</b>: {e(t.get('reason') or '')}</li>"
        for t in bad
    )
    return (
        f'<section id="failures">\n<h2>Trials that did not finish</h2>\n'
        f'<ul id="gn-failures">{items}</ul>\n</section>'
    )


def render_sweep_report(results: dict, run_dir=".") -> str:
    """The whole HTML page of a sweep's ``results`` (``results.json``)."""
    run_dir = Path(run_dir)
    page = _Page()
    body = [_header(results), _choice(results, run_dir)]
    swept = list(results.get("swept", []))
    if any(r["val_accuracy_mean"] is not None for r in results["settings"]):
        body.append('<section id="settings">\n<h2>Validation accuracy against each setting</h2>')
        for i, name in enumerate(swept):
            body += [
                f"<h3>{e(name)}</h3>",
                page.chart(f"chart-setting-{i}", setting_figure(results, name)),
            ]
        body.append(
            '<p class="gn-muted">One point per setting: the mean over its seeds, the bar '
            "one standard deviation of the seeds.</p>\n</section>"
        )
        body += [
            '<section id="curves">\n<h2>Learning curves of the best settings</h2>',
            page.chart("chart-curves", curves_figure(results)),
            '<p class="gn-muted">Train (dashed) and validation (solid) accuracy per epoch, '
            "mean over the seeds.</p>\n</section>",
        ]
    body += [_table(results), _failures(results), _SORT_SCRIPT]
    body.append(
        f"<footer>Made by glassnet {e(results.get('glassnet_version', ''))} from "
        f"results.json; rebuild with <code>glassnet report &lt;run folder&gt;</code>.</footer>"
    )
    template = resources.files("glassnet.report").joinpath("template.html").read_text("utf-8")
    dataset = results.get("config", {}).get("dataset", "")
    return string.Template(template).substitute(
        title=e(f"glassnet sweep: {dataset}"),
        version=e(results.get("glassnet_version", "")),
        body="\n".join(b for b in body if b),
        figures=page.figures_json(),
        plotly_js=plotly_js(),
    )


def build_sweep_report(run_dir, results: dict | None = None) -> Path:
    """Write ``<run_dir>/report.html`` (atomically) for a sweep and return its path;
    ``results`` defaults to ``<run_dir>/results.json``."""
    run_dir = Path(run_dir)
    if results is None:
        results = read_json(run_dir / "results.json")
    results = json.loads(json.dumps(results))  # plain JSON types only
    path = run_dir / "report.html"
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(render_sweep_report(results, run_dir))
    return path
