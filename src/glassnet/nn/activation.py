"""Element-wise activations and softmax.

Each backward multiplies the upstream gradient by the local derivative, written in
terms of whatever forward saved (the output is often enough):

    ReLU       y = max(x, 0)             dy/dx = 1 if x > 0 else 0
    LeakyReLU  y = x if x > 0 else a*x   dy/dx = 1 if x > 0 else a
    Sigmoid    y = 1 / (1 + e^-x)        dy/dx = y (1 - y)
    Tanh       y = tanh(x)               dy/dx = 1 - y^2
    GELU       y = x Phi(x)              dy/dx = Phi(x) + x phi(x)     (Phi: normal CDF)
    Softmax    y = e^x / sum e^x         dL/dx = y * (g - sum(g * y))      (along dim)
    LogSoftmax y = x - logsumexp(x)      dL/dx = g - softmax(x) * sum(g)   (along dim)
"""

from __future__ import annotations

import numpy as np

from .. import kernels
from ._checks import as_input, check_grad
from .functional import log_softmax, normal_cdf, normal_pdf, sigmoid, softmax
from .module import Module, is_grad_enabled

__all__ = ["ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "Softmax", "LogSoftmax"]

_ANY = tuple(range(1, 9))


class ReLU(Module):
    """y = max(x, 0);  dL/dx = g * (x > 0).  ``inplace=True`` overwrites the input array.

    The mask is y != 0, which is x > 0 and also lets the gradient through where x is
    NaN (maximum keeps the NaN), as PyTorch does (it blocks only x <= 0).
    """

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = bool(inplace)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_input(self, x, _ANY, "(*)")
        inplace = self.inplace and x.flags.writeable
        if kernels.active():  # on threads: glassnet/kernels/activation.py
            return kernels.activation.relu_forward(self, x, inplace, is_grad_enabled())
        y = np.maximum(x, 0, out=x if inplace else None)
        self._save_for_backward(y != 0)
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        (positive,) = self._saved()
        g = check_grad(self, grad_out, positive.shape)
        if kernels.active():  # on threads: glassnet/kernels/activation.py
            return kernels.activation.times_slope(g, positive)
        return g * positive

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class LeakyReLU(Module):
    """y = x for x > 0, negative_slope * x otherwise. ``inplace=True`` overwrites the
    input array, as in torch."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope, self.inplace = float(negative_slope), bool(inplace)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_input(self, x, _ANY, "(*)")
        positive = x > 0
        self._save_for_backward(positive)
        slope = np.asarray(self.negative_slope, dtype=x.dtype)
        if self.inplace and x.flags.writeable:
            return np.multiply(x, slope, out=x, where=~positive)
        return np.where(positive, x, x * slope)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        (positive,) = self._saved()
        g = check_grad(self, grad_out, positive.shape)
        return np.where(positive, g, g * np.asarray(self.negative_slope, dtype=g.dtype))

    def extra_repr(self) -> str:
        inplace = ", inplace=True" if self.inplace else ""
        return f"negative_slope={self.negative_slope}{inplace}"


class Sigmoid(Module):
    """y = 1 / (1 + exp(-x));  dL/dx = g * y * (1 - y)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_input(self, x, _ANY, "(*)")
        y = sigmoid(x)
        self._save_for_backward(y)
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        (y,) = self._saved()
        g = check_grad(self, grad_out, y.shape)
        return g * y * (1 - y)


class Tanh(Module):
    """y = tanh(x);  dL/dx = g * (1 - y^2)."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_input(self, x, _ANY, "(*)")
        y = np.tanh(x)
        self._save_for_backward(y)
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        (y,) = self._saved()
        g = check_grad(self, grad_out, y.shape)
        return g * (1 - y * y)


class GELU(Module):
    """The Gaussian error linear unit (Hendrycks & Gimpel 2016): x weighted by the
    probability that a standard normal Z is below it,

        y = x Phi(x),   Phi(x) = P(Z <= x) = erfc(-x / sqrt 2) / 2,
        dy/dx = Phi(x) + x phi(x),   phi(x) = exp(-x^2 / 2) / sqrt(2 pi)   (product rule)

    ``approximate="tanh"`` (PyTorch's option of the same name) replaces Phi by
    (1 + tanh(u)) / 2 with u = sqrt(2/pi) (x + 0.044715 x^3), which stays within 2e-4
    of it (as y, within 5e-4 of the exact GELU), and then, with t = tanh(u),

        y = x (1 + t) / 2,   dy/dx = (1 + t) / 2 + x (1 - t^2) sqrt(2/pi) (1 + 3 0.044715 x^2) / 2

    (the product rule again, and tanh' = 1 - tanh^2). Forward saves dy/dx, so backward
    is one product, as for ReLU. Like ReLU near 0 for large |x|, but smooth: small
    negative inputs pass a little (y has its minimum, -0.17, at x = -0.75).
    """

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU's approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_input(self, x, _ANY, "(*)")
        if kernels.active() and x.dtype == np.float32:  # glassnet/kernels/activation.py
            tanh = self.approximate == "tanh"
            return kernels.activation.gelu_forward(self, x, tanh, is_grad_enabled())
        if self.approximate == "tanh":
            t = np.tanh(_SQRT_2_OVER_PI * (x + _TANH_CUBIC * x**3))
            y = x * (1 + t) / 2
            du_dx = _SQRT_2_OVER_PI * (1 + 3 * _TANH_CUBIC * x * x)
            slope = (1 + t) / 2 + x * (1 - t * t) * du_dx / 2
        else:
            cdf = normal_cdf(x)
            y = x * cdf
            slope = cdf + x * normal_pdf(x)
        self._save_for_backward(slope)
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        (slope,) = self._saved()
        g = check_grad(self, grad_out, slope.shape)
        if kernels.active():  # on threads: glassnet/kernels/activation.py
            return kernels.activation.times_slope(g, slope)
        return g * slope

    def extra_repr(self) -> str:
        return "" if self.approximate == "none" else f"approximate={self.approximate!r}"


_SQRT_2_OVER_PI = float(np.sqrt(2 / np.pi))
_TANH_CUBIC = 0.044715


class _AlongDim(Module):
    """Softmax and LogSoftmax: a normalisation along ``dim`` whose backward needs y only."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def _dim(self, ndim: int) -> int:
        # PyTorch's legacy rule when no dim is given: 0 for 0-, 1- and 3-D input, else 1
        if self.dim is None:
            return 0 if ndim in (0, 1, 3) else 1
        if not -ndim <= self.dim < ndim:
            raise ValueError(f"softmax dim {self.dim} is out of range for a {ndim}-D input")
        return self.dim % ndim

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_input(self, x, _ANY, "(*)")
        dim = self._dim(x.ndim)
        y = self._function(x, axis=dim)
        self._save_for_backward(y, dim)
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        y, dim = self._saved()
        return self._gradient(y, check_grad(self, grad_out, y.shape), dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_AlongDim):
    """y = exp(x) / sum(exp(x)) along ``dim``;  dL/dx = y * (g - sum(g * y, dim))."""

    _function = staticmethod(softmax)

    @staticmethod
    def _gradient(y, g, dim):
        return y * (g - (g * y).sum(axis=dim, keepdims=True))


class LogSoftmax(_AlongDim):
    """y = x - log(sum(exp(x))) along ``dim``;  dL/dx = g - softmax(x) * sum(g, dim)."""

    _function = staticmethod(log_softmax)

    @staticmethod
    def _gradient(y, g, dim):
        return g - np.exp(y) * g.sum(axis=dim, keepdims=True)
