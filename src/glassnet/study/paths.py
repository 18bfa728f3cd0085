"""Optimizer paths: where SGD, momentum, Nesterov, Adam and RMSprop walk on a surface.

    from glassnet.study import paths, surfaces
    beale = surfaces.get_surface("beale")
    walks = [paths.surface_path(beale, name, steps=300) for name in ("sgd", "momentum", "adam")]
    # walks[i].points: (k, 2) positions, start first; walks[i].losses: f at each

The same walk runs in glassnet (``engine="glassnet"``: the hand-written gradient of
:mod:`glassnet.study.surfaces` into a :class:`~glassnet.nn.Parameter`, stepped by
:mod:`glassnet.optim`) or in PyTorch (``engine="torch"``: autograd of the same formula,
stepped by ``torch.optim``), both in float64, so the two paths of one optimizer lie on
top of each other; how far apart they end is a check of glassnet's optimizer and of
the surface's gradient at once.

Optimizer names: ``sgd`` (plain), ``momentum`` (SGD, momentum 0.9), ``nesterov`` (SGD,
Nesterov momentum 0.9), ``adam``, ``adamw``, ``rmsprop`` (PyTorch's defaults
otherwise). A spec string ``"sgd=0.001,adam"`` picks optimizers and, optionally, their
learning rates (:func:`parse_optimizers`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._numbers import is_whole
from .surfaces import Surface

__all__ = [
    "OPTIMIZERS",
    "Trajectory",
    "parse_optimizers",
    "make_optimizer",
    "surface_path",
    "DIVERGED_BEYOND",
]

# name -> (optimizer class name in glassnet.optim and torch.optim, its keyword arguments)
OPTIMIZERS: dict[str, tuple[str, dict]] = {
    "sgd": ("SGD", {}),
    "momentum": ("SGD", {"momentum": 0.9}),
    "nesterov": ("SGD", {"momentum": 0.9, "nesterov": True}),
    "adam": ("Adam", {}),
    "adamw": ("AdamW", {}),
    "rmsprop": ("RMSprop", {}),
}

# a walk whose coordinates grow past max(DIVERGED_BEYOND, 1000 x the start's largest), or
# leave the finite numbers, is stopped and called diverged
DIVERGED_BEYOND = 1e6


@dataclass
class Trajectory:
    """One optimizer's walk: ``points`` (k, 2) from the start, ``losses`` (k,) the loss
    at each point, ``diverged`` when it blew up (see :data:`DIVERGED_BEYOND`; it then
    stops at its last point before). ``steps`` (k,) numbers the points when not every step was kept
    (None: point i is step i)."""

    optimizer: str
    engine: str
    lr: float
    points: np.ndarray
    losses: np.ndarray
    diverged: bool = False
    steps: np.ndarray | None = None

    @property
    def label(self) -> str:
        return f"{self.optimizer} (lr {self.lr:g})"


def parse_optimizers(text: str) -> list[tuple[str, float | None]]:
    """``"sgd=0.001, momentum, adam=0.05"`` -> ``[("sgd", 0.001), ("momentum", None),
    ("adam", 0.05)]``; None means the surface's (or caller's) default rate."""
    specs = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        name, _, lr_text = part.partition("=")
        name = name.strip().lower()
        if name not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {name!r}; valid names are {', '.join(OPTIMIZERS)}")
        lr = None
        if lr_text.strip():
            try:
                lr = float(lr_text)
            except ValueError:
                raise ValueError(
                    f"learning rate of {name} must be a number, got {lr_text!r}"
                ) from None
            if not np.isfinite(lr) or lr <= 0:
                raise ValueError(f"learning rate of {name} must be positive, got {lr_text.strip()}")
        if any(name == seen for seen, _ in specs):
            raise ValueError(f"optimizer {name!r} is named twice")
        specs.append((name, lr))
    if not specs:
        raise ValueError("no optimizer named; give e.g. 'sgd,momentum,adam'")
    return specs


def make_optimizer(name: str, params, lr: float, engine: str = "glassnet"):
    """The optimizer ``name`` of :data:`OPTIMIZERS` over ``params``, from glassnet.optim
    or (``engine="torch"``) torch.optim."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid names are {', '.join(OPTIMIZERS)}")
    class_name, kwargs = OPTIMIZERS[name]
    if engine == "glassnet":
        from .. import optim
    elif engine == "torch":
        from torch import optim
    else:
        raise ValueError(f"engine must be 'glassnet' or 'torch', got {engine!r}")
    return getattr(optim, class_name)(params, lr=lr, **kwargs)


def _default_lr(surface: Surface, name: str) -> float:
    return surface.lrs.get(name, 1e-3)


def surface_path(
    surface: Surface,
    optimizer: str,
    lr: float | None = None,
    steps: int | None = None,
    start: tuple[float, float] | None = None,
    engine: str = "glassnet",
) -> Trajectory:
    """Walk ``steps`` optimizer steps on ``surface`` from ``start`` (defaults: the
    surface's, as is ``lr``'s) and return the :class:`Trajectory`, start point included.

    glassnet: each step zeroes the gradient, adds the surface's hand-written gradient
    and steps (the accumulate-then-step contract of a model). torch: autograd of
    ``surface.value`` on a float64 tensor, then ``torch.optim``'s step.
    """
    steps = surface.steps if steps is None else steps
    if not is_whole(steps) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    lr = _default_lr(surface, optimizer) if lr is None else float(lr)
    start = surface.start if start is None else start
    point = np.array(start, dtype=np.float64)
    if point.shape != (2,) or not np.all(np.isfinite(point)):
        raise ValueError(f"start must be two finite numbers (x, y), got {start!r}")

    if engine == "torch":
        import torch

        theta = torch.tensor(point, dtype=torch.float64, requires_grad=True)
        opt = make_optimizer(optimizer, [theta], lr, "torch")

        def step() -> np.ndarray:
            opt.zero_grad()
            surface.value(theta[0], theta[1]).backward()
            opt.step()
            return theta.detach().numpy().copy()

    else:
        from ..nn.parameter import Parameter

        theta = Parameter(point)
        opt = make_optimizer(optimizer, [theta], lr, engine)

        def step() -> np.ndarray:
            opt.zero_grad()
            theta.grad += surface.gradient(theta.data[0], theta.data[1])
            opt.step()
            return theta.data.copy()

    points = [point]
    diverged = False
    limit = max(DIVERGED_BEYOND, 1e3 * float(np.abs(point).max()))
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(steps):
            new = step()
            if not (np.all(np.isfinite(new)) and np.abs(new).max() < limit):
                diverged = True
                break
            points.append(new)
        points = np.array(points)
        losses = np.asarray(surface.value(points[:, 0], points[:, 1]), dtype=np.float64)
    return Trajectory(optimizer, engine, lr, points, losses, diverged)
