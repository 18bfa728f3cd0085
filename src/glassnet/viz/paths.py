"""Optimizer paths on a loss contour, beside the loss each path reached at each step.

:func:`plot_paths` draws any grid ``Z = f(X, Y)`` with paths over it;
:func:`plot_surface_paths` does it for a test function of :mod:`glassnet.study.surfaces`
and :func:`plot_loss_plane` for a network's loss plane from
:mod:`glassnet.study.landscape`. glassnet's path is a wide translucent line and
PyTorch's, when given, a thin dashed line of the same colour on top of it: where the
two engines agree, the dashes run inside the wide line.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .plots import _figure, _save

__all__ = ["contour_levels", "plot_paths", "plot_surface_paths", "plot_loss_plane"]

OPTIMIZER_COLORS = {
    "sgd": "C0",
    "momentum": "C1",
    "nesterov": "C2",
    "adam": "C3",
    "adamw": "C4",
    "rmsprop": "C5",
}


def contour_levels(Z: np.ndarray, log: bool = True, n: int = 30) -> np.ndarray:
    """``n`` increasing contour levels spanning ``Z``: geometric above its minimum when
    ``log`` (steep walls and a flat floor both get lines), else evenly spaced."""
    finite = np.asarray(Z, dtype=np.float64)[np.isfinite(Z)]
    if finite.size == 0:
        raise ValueError("the loss grid has no finite value to draw")
    low, high = float(finite.min()), float(finite.max())
    if high <= low:
        return np.array([low, low + 1.0])
    if not log:
        return np.linspace(low, high, n)
    span = high - low
    first = max(float(np.percentile(finite - low, 0.5)), span * 1e-6)
    return low + np.geomspace(first, span, n)


_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _color(name: str, i: int) -> str:
    return OPTIMIZER_COLORS.get(name, f"C{(6 + i) % 10}")


def plot_paths(
    X,
    Y,
    Z,
    trajectories: Sequence,
    path,
    *,
    title: str | None = None,
    log_levels: bool = True,
    minima: Sequence[tuple[float, float]] = (),
    minimum_value: float | None = None,
    xlabel: str = "x",
    ylabel: str = "y",
    caption: str | None = None,
) -> Path:
    """Contour of ``Z`` over ``(X, Y)`` with each trajectory's ``points`` drawn on it
    (left) and its ``losses`` per step (right). Trajectories are
    :class:`glassnet.study.paths.Trajectory`-like: ``optimizer``, ``engine``, ``lr``,
    ``points`` (k, 2), ``losses`` (k,). A torch trajectory of an optimizer that also has
    a glassnet one is drawn dashed on top of it, in both panels. ``minimum_value``
    given: the right panel shows ``loss - minimum_value`` on a log axis (how far from
    the optimum), else the loss. A diverged path ends in a cross, drawn over the start's
    circle; one that diverged on its first step is also named beside its start."""
    fig = _figure(11, 4.6)
    ax, ax_loss = fig.subplots(1, 2, width_ratios=(1.25, 1))
    levels = contour_levels(Z, log_levels)
    ax.contourf(X, Y, Z, levels=levels, cmap="Greys", alpha=0.45, extend="both")
    # solid lines below zero too (matplotlib dashes them): dashes are PyTorch's paths here
    ax.contour(X, Y, Z, levels=levels, colors="0.45", linewidths=0.4, negative_linestyles="solid")
    names = list(dict.fromkeys(t.optimizer for t in trajectories))
    has_glassnet = {t.optimizer for t in trajectories if t.engine != "torch"}
    dashed = False
    for t in trajectories:
        color = _color(t.optimizer, names.index(t.optimizer))
        pts = np.asarray(t.points)
        steps = np.arange(len(t.losses)) if t.steps is None else np.asarray(t.steps)
        losses = np.asarray(t.losses, dtype=np.float64)
        if minimum_value is not None:  # distance to the optimum, on a log axis
            losses = np.maximum(losses - minimum_value, 1e-16)
        if t.engine == "torch" and t.optimizer in has_glassnet:  # on top of glassnet's
            dashed = True
            ax.plot(pts[:, 0], pts[:, 1], "--", color=color, linewidth=0.9)
            ax_loss.plot(steps, losses, "--", color=color, linewidth=0.9)
            continue
        label = t.label + (", diverged" if t.diverged else "")
        if t.engine == "torch":
            label += ", PyTorch"
        # paths that coincide (momentum and Nesterov on a gentle slope, Adam and AdamW)
        # stay told apart: each later one narrower, on top, with its own hollow markers
        i = names.index(t.optimizer)
        style = {
            "marker": _MARKERS[i % len(_MARKERS)],
            "markevery": max(1, len(pts) // 12),
            "markersize": 5,
            "markerfacecolor": "none",
        }
        width = max(1.0, 3.5 - 0.6 * i)
        ax.plot(pts[:, 0], pts[:, 1], "-", color=color, linewidth=width, alpha=0.55, label=label,
                zorder=2 + i, **style)  # fmt: skip
        if t.diverged:  # above the start's marker: a walk that blew up on its first step
            # has only its start to show
            ax.plot(pts[-1, 0], pts[-1, 1], "x", color=color, markersize=9, mew=2.5, zorder=6)
            if len(pts) == 1:
                ax.annotate(
                    f"{t.label}: diverged on its first step",
                    (pts[0, 0], pts[0, 1]),
                    xytext=(8, -12),
                    textcoords="offset points",
                    fontsize=7,
                    color=color,
                    zorder=6,
                )
        else:
            ax.plot(pts[-1, 0], pts[-1, 1], "o", color=color, markersize=6)
        style["markevery"] = max(1, len(losses) // 12)  # a single loss: one marker too
        ax_loss.plot(steps, losses, color=color, lw=max(1.0, 2.2 - 0.3 * i), alpha=0.8,
                     label=label, **style)  # fmt: skip
    starts = {(float(t.points[0][0]), float(t.points[0][1])) for t in trajectories}
    for sx, sy in starts:
        ax.plot(sx, sy, "o", color="black", markersize=6, markerfacecolor="white", zorder=5)
    for mx, my in minima:
        ax.plot(mx, my, "*", color="gold", markeredgecolor="black", markersize=12, zorder=5)
    if dashed:
        ax.plot([], [], "--", color="0.2", linewidth=0.9, label="PyTorch, same start (dashed)")
    ax.set_xlim(float(np.min(X)), float(np.max(X)))
    ax.set_ylim(float(np.min(Y)), float(np.max(Y)))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7, loc="best", framealpha=0.85)
    ax_loss.set_xlabel("step")
    if minimum_value is None:
        ax_loss.set_ylabel("loss")
    else:
        ax_loss.set_yscale("log")
        ax_loss.set_ylabel("loss - minimum" if minimum_value else "loss")
    ax_loss.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    if len({float(t.lr) for t in trajectories}) > 1:  # a comparison says what it compared
        caption = (caption + " " if caption else "") + (
            "The learning rates differ: each optimizer runs at its own, given in the legend "
            "with its other settings."
        )
    if caption:
        fig.supxlabel("\n".join(textwrap.wrap(caption, 150)), fontsize=8)
    return _save(fig, path)


def plot_surface_paths(surface, trajectories: Sequence, path, title: str | None = None) -> Path:
    """The paths on a :class:`glassnet.study.surfaces.Surface`, its minima starred. The
    surface's window grows to hold every start and every path that did not diverge (a
    start given far outside it would otherwise not be seen); a diverged path leaves it."""
    x0, x1, y0, y1 = surface.window
    points = np.concatenate(
        [np.asarray(t.points, dtype=np.float64)[: 1 if t.diverged else None] for t in trajectories]
    )
    points = points[np.all(np.isfinite(points), axis=1)]
    if len(points):
        (px0, py0), (px1, py1) = points.min(axis=0), points.max(axis=0)
        if px0 < x0 or px1 > x1 or py0 < y0 or py1 > y1:
            pad_x, pad_y = (
                0.05 * (max(x1, px1) - min(x0, px0)),
                0.05 * (max(y1, py1) - min(y0, py0)),
            )
            x0, x1 = min(x0, px0 - pad_x), max(x1, px1 + pad_x)
            y0, y1 = min(y0, py0 - pad_y), max(y1, py1 + pad_y)
    X, Y, Z = surface.grid(window=(x0, x1, y0, y1))
    return plot_paths(
        X,
        Y,
        Z,
        trajectories,
        path,
        title=title or f"{surface.name}: f(x, y) = {surface.formula}",
        log_levels=surface.log_levels,
        minima=surface.minima,
        minimum_value=surface.minimum_value(),
    )


def plot_loss_plane(plane, path, title: str | None = None) -> Path:
    """A :class:`glassnet.study.landscape.LossPlane`: the loss on the plane of the paths,
    its axes the two principal directions with their share of the paths' movement."""
    e1, e2 = plane.explained
    s = plane.settings
    caption = (
        f"plane through the common start (white dot) along the paths' two principal "
        f"directions, {100 * (e1 + e2):.1f}% of their squared movement; paths drawn as their "
        f"shadows on it (farthest point {100 * plane.off_plane:.0f}% of the paths' reach "
        f"off the plane). Loss: mean cross-entropy on {s.get('eval_size')} training images."
    )
    return plot_paths(
        plane.X,
        plane.Y,
        plane.Z,
        plane.trajectories,
        path,
        title=title
        or f"{plane.model} on {plane.dataset}: {s.get('epochs')} "
        f"epoch{'' if s.get('epochs') == 1 else 's'}, batch "
        f"{s.get('batch_size')}, {s.get('parameters')} parameters",
        log_levels=True,
        xlabel=f"direction 1 ({100 * e1:.1f}%)",
        ylabel=f"direction 2 ({100 * e2:.1f}%)",
        caption=caption,
    )
