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
otherwise). A spec string ``"sgd=0.001,momentum=0.001:momentum=0.5,adam"`` picks
optimizers and, optionally, their learning rates and other settings, by the names of
the optimizer's arguments (:func:`parse_optimizers`). Each path's label names all its
hyperparameters (:attr:`Trajectory.label`): a comparison says what it compared.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import numpy as np

from .._numbers import is_whole
from .surfaces import Surface

__all__ = [
    "OPTIMIZERS",
    "Trajectory",
    "parse_optimizers",
    "make_optimizer",
    "hyperparameters",
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

# the settings a spec may give after the learning rate, and how each is read
_SETTING_TYPES = {
    "momentum": float,
    "dampening": float,
    "nesterov": bool,
    "weight_decay": float,
    "betas": tuple,
    "eps": float,
    "alpha": float,
    "amsgrad": bool,
    "centered": bool,
}
# shown in a label even at their defaults: what sets how the optimizer moves
_ALWAYS_SHOWN = {
    "SGD": ("momentum",),
    "Adam": ("betas",),
    "AdamW": ("betas", "weight_decay"),
    "RMSprop": ("alpha",),
}


def _settings_of(class_name: str) -> dict:
    """The optimizer class's settings and their defaults (glassnet.optim's, PyTorch's)."""
    from .. import optim

    signature = inspect.signature(getattr(optim, class_name).__init__)
    return {
        k: p.default
        for k, p in signature.parameters.items()
        if k in _SETTING_TYPES and p.default is not inspect.Parameter.empty
    }


def hyperparameters(name: str, options: dict | None = None) -> dict:
    """The settings that tell optimizer ``name`` with ``options`` apart, besides its
    learning rate: those that differ from the class's defaults, and its main ones
    (momentum, betas, alpha) always; e.g. ``{"momentum": 0.9}`` for "momentum"."""
    class_name, preset = OPTIMIZERS[name]
    settings = {**preset, **(options or {})}
    defaults = _settings_of(class_name)
    shown = {}
    for key, default in defaults.items():
        value = settings.get(key, default)
        if key in _ALWAYS_SHOWN.get(class_name, ()) and not (key == "momentum" and not value):
            shown[key] = value
        elif value != default:
            shown[key] = value
    return shown


def _format(value) -> str:
    if isinstance(value, bool):
        return "" if value else "off"
    if isinstance(value, tuple):
        return "/".join(f"{v:g}" for v in value)
    return f"{value:g}"


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
    options: dict = field(default_factory=dict)  # settings given besides the lr

    @property
    def label(self) -> str:
        """'momentum (lr 0.03, momentum 0.9)': the name and every hyperparameter."""
        shown = (
            hyperparameters(self.optimizer, self.options) if self.optimizer in OPTIMIZERS else {}
        )
        parts = [f"lr {self.lr:g}"] + [f"{k} {_format(v)}".strip() for k, v in shown.items()]
        return f"{self.optimizer} ({', '.join(parts)})"


def parse_optimizers(text: str) -> list[tuple[str, float | None, dict]]:
    """``"sgd=0.001, momentum=0.001:momentum=0.5, adam:betas=0.8/0.99"`` ->
    ``[("sgd", 0.001, {}), ("momentum", 0.001, {"momentum": 0.5}), ("adam", None,
    {"betas": (0.8, 0.99)})]``: each optimizer, its learning rate (None: the surface's
    or caller's default) and, after ``:``, settings by the names of the optimizer
    class's arguments (momentum, dampening, nesterov, weight_decay, betas, eps, alpha,
    amsgrad, centered; ``betas`` as two numbers joined by ``/``)."""
    specs = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        head, *settings = part.split(":")
        name, _, lr_text = head.partition("=")
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
        if any(name == seen for seen, *_ in specs):
            raise ValueError(f"optimizer {name!r} is named twice")
        specs.append((name, lr, _parse_settings(name, settings)))
    if not specs:
        raise ValueError("no optimizer named; give e.g. 'sgd,momentum,adam'")
    return specs


def _parse_settings(name: str, texts: list[str]) -> dict:
    """``["momentum=0.5"]`` -> ``{"momentum": 0.5}``, checked against the optimizer."""
    accepted = _settings_of(OPTIMIZERS[name][0])
    options = {}
    for text in texts:
        key, eq, value = (t.strip() for t in text.partition("="))
        if not eq or not key:
            raise ValueError(
                f"{name}: settings after ':' are name=value, got {text.strip()!r} (e.g. "
                f"momentum=0.01:momentum=0.5 for lr 0.01 and momentum 0.5)"
            )
        if key not in accepted:
            raise ValueError(
                f"{name} has no setting {key!r}; it takes {', '.join(sorted(accepted))}"
            )
        kind = _SETTING_TYPES[key]
        try:
            if kind is bool:
                if value.lower() not in ("true", "false", "1", "0"):
                    raise ValueError
                parsed = value.lower() in ("true", "1")
            elif kind is tuple:
                parsed = tuple(float(v) for v in value.split("/"))
                if len(parsed) != 2:
                    raise ValueError
            else:
                parsed = float(value)
        except ValueError:
            what = {bool: "true or false", tuple: "two numbers such as 0.9/0.999"}
            raise ValueError(
                f"{name}: {key} must be {what.get(kind, 'a number')}, got {value!r}"
            ) from None
        numbers = parsed if isinstance(parsed, tuple) else (parsed,)
        if not all(np.isfinite(v) and v >= 0 for v in numbers):
            raise ValueError(f"{name}: {key} must be finite and >= 0, got {value!r}")
        options[key] = parsed
    return options


def make_optimizer(name: str, params, lr: float, engine: str = "glassnet", options=None):
    """The optimizer ``name`` of :data:`OPTIMIZERS` over ``params``, from glassnet.optim
    or (``engine="torch"``) torch.optim; ``options`` override its settings."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid names are {', '.join(OPTIMIZERS)}")
    class_name, kwargs = OPTIMIZERS[name]
    if engine == "glassnet":
        from .. import optim
    elif engine == "torch":
        from torch import optim
    else:
        raise ValueError(f"engine must be 'glassnet' or 'torch', got {engine!r}")
    return getattr(optim, class_name)(params, lr=lr, **{**kwargs, **(options or {})})


def _default_lr(surface: Surface, name: str) -> float:
    return surface.lrs.get(name, 1e-3)


def surface_path(
    surface: Surface,
    optimizer: str,
    lr: float | None = None,
    steps: int | None = None,
    start: tuple[float, float] | None = None,
    engine: str = "glassnet",
    options: dict | None = None,
) -> Trajectory:
    """Walk ``steps`` optimizer steps on ``surface`` from ``start`` (defaults: the
    surface's, as is ``lr``'s) and return the :class:`Trajectory`, start point included.

    glassnet: each step zeroes the gradient, adds the surface's hand-written gradient
    and steps (the accumulate-then-step contract of a model). torch: autograd of
    ``surface.value`` on a float64 tensor, then ``torch.optim``'s step. ``options``:
    the optimizer's settings besides the learning rate (:func:`parse_optimizers`).
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
        opt = make_optimizer(optimizer, [theta], lr, "torch", options)

        def step() -> np.ndarray:
            opt.zero_grad()
            surface.value(theta[0], theta[1]).backward()
            opt.step()
            return theta.detach().numpy().copy()

    else:
        from ..nn.parameter import Parameter

        theta = Parameter(point)
        opt = make_optimizer(optimizer, [theta], lr, engine, options)

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
    return Trajectory(optimizer, engine, lr, points, losses, diverged, options=dict(options or {}))
