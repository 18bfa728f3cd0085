"""Two-dimensional test functions on which optimizers are watched at work.

Each :class:`Surface` is a loss ``f(x, y)`` of two parameters with its gradient
written out by hand, the start point and plotting window of the classic pictures,
and learning rates that show each optimizer's character there. ``value`` uses
arithmetic operators only (``+ - * / **``), so the same formula evaluates floats,
NumPy grids (for the contour) and ``torch`` tensors (whose autograd then checks the
hand-written ``gradient``, in the tests and in ``glassnet paths``).

The surfaces and what they teach:

``rosenbrock``  f = (1 - x)^2 + 100 (y - x^2)^2, minimum 0 at (1, 1).
    A curved, flat-bottomed valley: finding it is easy, following it is slow.
    df/dx = -2 (1 - x) - 400 x (y - x^2),   df/dy = 200 (y - x^2).
``beale``       f = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2,
    minimum 0 at (3, 0.5). Plateaus and steep walls; gradients span five orders of
    magnitude, which per-parameter step sizes (Adam, RMSprop) handle and SGD does not.
    With a = 1.5 - x + xy, b = 2.25 - x + xy^2, c = 2.625 - x + xy^3:
    df/dx = 2a (y - 1) + 2b (y^2 - 1) + 2c (y^3 - 1),
    df/dy = 2a x + 4b xy + 6c xy^2.
``himmelblau``  f = (x^2 + y - 11)^2 + (x + y^2 - 7)^2, four minima of 0 (one at
    (3, 2)). Which one an optimizer reaches depends on its path, not only its start.
    df/dx = 4x (x^2 + y - 11) + 2 (x + y^2 - 7),
    df/dy = 2 (x^2 + y - 11) + 4y (x + y^2 - 7).
``saddle``      f = x^2 - y^2 + y^4 / 4, a saddle at (0, 0) between minima -1 at
    (0, +-sqrt 2). Started next to the ridge, plain SGD lingers near the saddle
    point, where the gradient vanishes; momentum and Adam leave it sooner.
    df/dx = 2x,   df/dy = -2y + y^3.
``ravine``      f = x^2 / 2 + 25 y^2 / 2 (an ill-conditioned bowl, curvatures 1 and
    25), minimum 0 at (0, 0). With a step near 2/25, SGD zig-zags across the
    ravine while crawling along it; momentum averages the zig-zag away.
    df/dx = x,   df/dy = 25 y.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Surface", "SURFACES", "get_surface"]


@dataclass(frozen=True)
class Surface:
    """A loss of two parameters, its hand-written gradient and how to picture it.

    ``value(x, y)`` and ``gradient(x, y) -> (df/dx, df/dy)`` accept floats or arrays
    of one shape (and ``value`` also torch tensors). ``window`` is
    ``(x_min, x_max, y_min, y_max)`` of the contour plot; ``log_levels`` spaces the
    contour levels geometrically (for surfaces with minimum 0 whose walls are steep);
    ``lrs`` holds the default learning rate per optimizer name and ``steps`` the
    default walk length: chosen so that the optimizers' differences show, not so that
    each reaches the minimum. Plain SGD, momentum and Nesterov share one rate, so that
    what differs between them is the momentum alone (momentum had been given a 20 times
    smaller rate on the ravine, and lost to plain SGD); Adam, AdamW and RMSprop, whose
    rate is a step length rather than a scale of the gradient, have their own.
    """

    name: str
    formula: str
    value: Callable
    gradient: Callable
    start: tuple[float, float]
    window: tuple[float, float, float, float]
    minima: tuple[tuple[float, float], ...]
    lrs: dict[str, float] = field(default_factory=dict)
    steps: int = 200
    log_levels: bool = True

    def grid(self, n: int = 200, window=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(X, Y, Z)``: an ``n x n`` grid over ``window`` (default the surface's) and f
        on it (float64)."""
        x0, x1, y0, y1 = self.window if window is None else window
        X, Y = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
        with np.errstate(over="ignore", invalid="ignore"):  # far windows: inf is drawn as such
            Z = np.asarray(self.value(X, Y), dtype=np.float64)
        return X, Y, Z

    def minimum_value(self) -> float:
        """f at the surface's global minima (all minima listed share it)."""
        return float(self.value(*self.minima[0]))


def _rosenbrock(x, y):
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def _rosenbrock_grad(x, y):
    return -2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)


def _beale(x, y):
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def _beale_grad(x, y):
    a = 1.5 - x + x * y
    b = 2.25 - x + x * y**2
    c = 2.625 - x + x * y**3
    dx = 2 * a * (y - 1) + 2 * b * (y**2 - 1) + 2 * c * (y**3 - 1)
    dy = 2 * a * x + 4 * b * x * y + 6 * c * x * y**2
    return dx, dy


def _himmelblau(x, y):
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


def _himmelblau_grad(x, y):
    u = x**2 + y - 11
    v = x + y**2 - 7
    return 4 * x * u + 2 * v, 2 * u + 4 * y * v


def _saddle(x, y):
    return x**2 - y**2 + y**4 / 4


def _saddle_grad(x, y):
    return 2 * x, -2 * y + y**3


def _ravine(x, y):
    return x**2 / 2 + 25 * y**2 / 2


def _ravine_grad(x, y):
    return x, 25 * y


SURFACES: dict[str, Surface] = {
    s.name: s
    for s in (
        Surface(
            "rosenbrock",
            "(1 - x)^2 + 100 (y - x^2)^2",
            _rosenbrock,
            _rosenbrock_grad,
            start=(-1.2, 1.0),
            window=(-2.0, 2.0, -1.0, 3.0),
            minima=((1.0, 1.0),),
            lrs={
                "sgd": 1e-3,
                "momentum": 1e-3,
                "nesterov": 1e-3,
                "adam": 0.03,
                "adamw": 0.03,
                "rmsprop": 3e-3,
            },
            steps=1000,
        ),
        Surface(
            "beale",
            "(1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2",
            _beale,
            _beale_grad,
            start=(1.0, 1.4),
            window=(-1.0, 4.5, -1.5, 2.5),
            minima=((3.0, 0.5),),
            lrs={
                "sgd": 3e-3,
                "momentum": 3e-3,
                "nesterov": 3e-3,
                "adam": 0.03,
                "adamw": 0.03,
                "rmsprop": 0.01,
            },
            steps=500,
        ),
        Surface(
            "himmelblau",
            "(x^2 + y - 11)^2 + (x + y^2 - 7)^2",
            _himmelblau,
            _himmelblau_grad,
            start=(-0.3, -0.9),
            window=(-5.0, 5.0, -5.0, 5.0),
            minima=(
                (3.0, 2.0),
                (-2.805118, 3.131312),
                (-3.779310, -3.283186),
                (3.584428, -1.848126),
            ),
            lrs={
                "sgd": 1e-3,
                "momentum": 1e-3,
                "nesterov": 1e-3,
                "adam": 0.1,
                "adamw": 0.1,
                "rmsprop": 0.03,
            },
            steps=200,
        ),
        Surface(
            "saddle",
            "x^2 - y^2 + y^4 / 4",
            _saddle,
            _saddle_grad,
            start=(-1.8, 1e-3),
            window=(-2.0, 2.0, -2.5, 2.5),
            minima=((0.0, 2**0.5), (0.0, -(2**0.5))),
            lrs={
                "sgd": 0.01,
                "momentum": 0.01,
                "nesterov": 0.01,
                "adam": 0.01,
                "adamw": 0.01,
                "rmsprop": 0.01,
            },
            steps=150,
            log_levels=False,
        ),
        Surface(
            "ravine",
            "x^2 / 2 + 25 y^2 / 2",
            _ravine,
            _ravine_grad,
            start=(-4.5, 1.5),
            window=(-5.0, 5.0, -2.0, 2.0),
            minima=((0.0, 0.0),),
            lrs={
                "sgd": 0.03,
                "momentum": 0.03,
                "nesterov": 0.03,
                "adam": 0.1,
                "adamw": 0.1,
                "rmsprop": 0.1,
            },
            steps=100,
        ),
    )
}


def get_surface(name: str) -> Surface:
    """The surface called ``name`` (case-insensitive), or a ValueError listing them."""
    surface = SURFACES.get(str(name).lower())
    if surface is None:
        raise ValueError(f"unknown surface {name!r}; valid names are {', '.join(SURFACES)}")
    return surface
