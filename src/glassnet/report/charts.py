"""The report's interactive charts as plain plotly figure dicts (``data`` + ``layout``).

No plotly Python objects are needed: the report embeds plotly's JavaScript once and
hands each ``<div class="gn-chart">`` its figure as JSON. Accuracies are shown in
percent; train curves are dashed, test curves solid; glassnet is drawn wide with
circles and PyTorch thin with crosses on top, so identical curves stay visible.
"""

from __future__ import annotations

import math

from ..viz.run import ACCURACY_AXIS, ENGINE_LABELS, RunData, engine_color

__all__ = ["synopsis_figure", "iterations_figure", "curves_figure"]

MARKERS = {"glassnet": "circle", "torch": "x", "sklearn": "square"}
FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 13}


def _num(value, scale: float = 1.0):
    """A JSON-safe number (None for missing or non-finite values)."""
    if value is None:
        return None
    value = float(value) * scale
    return value if math.isfinite(value) else None


def _layout(**extra) -> dict:
    layout = {
        "font": FONT,
        "height": 380,
        "hovermode": "closest",
        "margin": {"l": 60, "r": 20, "t": 30, "b": 50},
        "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
        "plot_bgcolor": "#ffffff",
        "paper_bgcolor": "#ffffff",
    }
    layout.update(extra)
    return layout


def _axis(title: str, **extra) -> dict:
    return {
        "title": {"text": title},
        "gridcolor": "#e5e7eb",
        "zeroline": False,
        "showline": True,
        "linecolor": "#9ca3af",
        **extra,
    }


def synopsis_figure(run: RunData) -> dict:
    """Grouped bars: final test accuracy of every model (x) on every engine (colour).

    A run that did not train has no bar (not a bar at 0): each engine's trace holds only
    the models it trained; ``RunData.absent`` says which are missing and why. The y axis
    runs over ``ACCURACY_AXIS`` (0 to 105%), as in ``plot_synopsis``'s PNG.
    """
    models, data = run.models(), []
    for i, engine in enumerate(run.engines()):
        acc = {
            r["model"]: r["final_test_accuracy"]
            for r in run.runs
            if r["engine"] == engine and r.get("status") == "ok"
        }
        trained = [m for m in models if _num(acc.get(m)) is not None]
        data.append(
            {
                "type": "bar",
                "name": ENGINE_LABELS.get(engine, engine),
                "x": trained,
                "y": [_num(acc[m], 100) for m in trained],
                "marker": {"color": engine_color(engine, i)},
                "texttemplate": "%{y:.1f}",
                "textposition": "outside",
                "hovertemplate": "%{x}<br>%{fullData.name}: %{y:.2f}%<extra></extra>",
            }
        )
    return {
        "data": data,
        "layout": _layout(
            barmode="group",
            # every model keeps its place, in order, even where one engine skipped it
            xaxis=_axis("model", categoryorder="array", categoryarray=models),
            # from 0, as the PNG: bars cut off below would exaggerate the differences
            yaxis=_axis("final test accuracy (%)", range=list(ACCURACY_AXIS)),
        ),
    }


def iterations_figure(run: RunData) -> dict:
    """Training loss against examples seen, for every model and engine."""
    data, dashes = [], {"glassnet": "solid", "torch": "dot", "sklearn": "dashdot"}
    palette = [
        "#1f77b4",
        "#ff7f0e",
        "#2ca02c",
        "#d62728",
        "#9467bd",
        "#8c564b",
        "#e377c2",
        "#7f7f7f",
        "#bcbd22",
        "#17becf",
    ]
    for m, model in enumerate(run.models()):
        for r in run.runs_of(model):
            points = r.get("iterations") or []
            if not points:
                continue
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": f"{model} · {ENGINE_LABELS.get(r['engine'], r['engine'])}",
                    "x": [p["examples_seen"] for p in points],
                    "y": [_num(p["loss"]) for p in points],
                    "line": {
                        "color": palette[m % len(palette)],
                        "width": 2,
                        "dash": dashes.get(r["engine"], "dash"),
                    },
                    "hovertemplate": "%{fullData.name}<br>examples seen %{x:,}<br>"
                    "loss %{y:.4f}<extra></extra>",
                }
            )
    return {
        "data": data,
        "layout": _layout(
            margin={"l": 60, "r": 20, "t": 80, "b": 50},
            xaxis=_axis("examples seen"),
            yaxis=_axis("training loss"),
        ),
    }


_DASH = {"train": "dash", "val": "dot", "test": "solid"}


def _splits(history: list[dict]) -> list[str]:
    """train and test, and val where any epoch recorded it."""
    has_val = any(e.get("val_loss") is not None for e in history)
    return ["train", "val", "test"] if has_val else ["train", "test"]


def curves_figure(run: RunData, model: str) -> dict:
    """Loss (left) and accuracy (right) per epoch: engines by colour, train dashed,
    validation dotted (when the run held a validation split out), test solid."""
    data, last = [], 1
    for i, r in enumerate(run.runs_of(model)):
        engine = r["engine"]
        label = ENGINE_LABELS.get(engine, engine)
        wide = engine == "glassnet"
        epochs = [e["epoch"] for e in r["history"]]
        last = max([last, *epochs])
        for metric, axes, scale in (("loss", ("x", "y"), 1.0), ("accuracy", ("x2", "y2"), 100)):
            for split in _splits(r["history"]):
                unit = "%" if scale != 1 else ""
                data.append(
                    {
                        "type": "scatter",
                        "mode": "lines+markers",
                        "name": f"{label} {split}",
                        "legendgroup": f"{engine}-{split}",
                        "showlegend": metric == "loss",
                        "xaxis": axes[0],
                        "yaxis": axes[1],
                        "x": epochs,
                        "y": [_num(e.get(f"{split}_{metric}"), scale) for e in r["history"]],
                        "line": {
                            "color": engine_color(engine, i),
                            "width": 4 if wide else 2,
                            "dash": _DASH[split],
                        },
                        "marker": {
                            "symbol": MARKERS.get(engine, "diamond"),
                            "size": 10 if wide else 8,
                        },
                        "hovertemplate": f"{label} {split} {metric}<br>epoch %{{x}}: "
                        f"%{{y:.4f}}{unit}<extra></extra>",
                    }
                )
    ticks = {"dtick": 1} if last <= 15 else {}  # whole epochs only
    return {
        "data": data,
        "layout": _layout(
            hovermode="x",  # every engine's value at the hovered epoch, side by side
            xaxis=_axis("epoch", domain=[0, 0.45], **ticks),
            yaxis=_axis("loss"),
            xaxis2=_axis("epoch", domain=[0.55, 1], anchor="y2", **ticks),
            yaxis2=_axis("accuracy (%)", anchor="x2"),
        ),
    }
