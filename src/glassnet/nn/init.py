"""Weight initialisation (the functions of ``torch.nn.init``, same names and formulas).

Every function fills its argument *in place* (a ``Parameter`` or an ndarray) and
returns it. Random draws come from glassnet's global generator
(``glassnet.manual_seed``) unless a ``generator`` is given.

fan_in / fan_out of a weight of shape (out, in, *kernel) are ``in * prod(kernel)``
and ``out * prod(kernel)``. The variance-preserving rules:

* Xavier/Glorot (tanh, sigmoid):  std = gain * sqrt(2 / (fan_in + fan_out))
* Kaiming/He (ReLU):              std = gain / sqrt(fan)
* a uniform(-b, b) has std b / sqrt(3), so the uniform variants use b = sqrt(3) * std.

PyTorch's default for Linear and Conv2d is ``kaiming_uniform_(w, a=sqrt(5))``, which
works out to ``uniform(-1/sqrt(fan_in), 1/sqrt(fan_in))``, and the same bound for the
bias: :func:`default_init_` reproduces it.
"""

from __future__ import annotations

import math

import numpy as np

from ..random import default_generator
from .parameter import Parameter

__all__ = [
    "calculate_gain",
    "uniform_",
    "normal_",
    "constant_",
    "zeros_",
    "ones_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "default_init_",
]


def _array(t) -> np.ndarray:
    return t.data if isinstance(t, Parameter) else t


def _rng(generator):
    return default_generator() if generator is None else generator


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (as in PyTorch)."""
    linear = {"linear", "conv1d", "conv2d", "conv3d", "sigmoid", "identity"}
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity!r}")


def _fans(a: np.ndarray) -> tuple[int, int]:
    if a.ndim < 2:
        raise ValueError(
            f"fan in and fan out need a tensor with at least 2 dimensions, got shape {a.shape}"
        )
    receptive = math.prod(a.shape[2:]) if a.ndim > 2 else 1
    return a.shape[1] * receptive, a.shape[0] * receptive


def uniform_(t, a: float = 0.0, b: float = 1.0, generator=None):
    arr = _array(t)
    arr[...] = _rng(generator).uniform(a, b, size=arr.shape)
    return t


def normal_(t, mean: float = 0.0, std: float = 1.0, generator=None):
    arr = _array(t)
    arr[...] = _rng(generator).normal(mean, std, size=arr.shape)
    return t


def constant_(t, val: float):
    _array(t)[...] = val
    return t


def zeros_(t):
    return constant_(t, 0.0)


def ones_(t):
    return constant_(t, 1.0)


def xavier_uniform_(t, gain: float = 1.0, generator=None):
    fan_in, fan_out = _fans(_array(t))
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -bound, bound, generator)


def xavier_normal_(t, gain: float = 1.0, generator=None):
    fan_in, fan_out = _fans(_array(t))
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def _kaiming_std(t, a, mode, nonlinearity) -> float:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(_array(t))
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(
    t, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None
):
    bound = math.sqrt(3.0) * _kaiming_std(t, a, mode, nonlinearity)
    return uniform_(t, -bound, bound, generator)


def kaiming_normal_(
    t, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None
):
    return normal_(t, 0.0, _kaiming_std(t, a, mode, nonlinearity), generator)


def default_init_(weight, bias=None, generator=None) -> None:
    """PyTorch's default for Linear/Conv2d: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for both."""
    kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)
    if bias is not None:
        fan_in, _ = _fans(_array(weight))
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        uniform_(bias, -bound, bound, generator)
