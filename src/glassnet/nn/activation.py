"""Element-wise activations and softmax.

Each backward multiplies the upstream gradient by the local derivative, written in
terms of whatever forward saved (the output is often enough):

    ReLU       y = max(x, 0)             dy/dx = 1 if x > 0 else 0
    LeakyReLU  y = x if x > 0 else a*x   dy/dx = 1 if x > 0 else a
    Sigmoid    y = 1 / (1 + e^-x)        dy/dx = y (1 - y)
    Tanh       y = tanh(x)               dy/dx = 1 - y^2
    Softmax    y = e^x / sum e^x         dL/dx = y * (g - sum(g * y))      (along dim)
    LogSoftmax y = x - logsumexp(x)      dL/dx = g - softmax(x) * sum(g)   (along dim)
"""

from __future__ import annotations

import numpy as np

from .. import kernels
from ._checks import as_input, check_grad
from .functional import log_softmax, sigmoid, softmax
from .module import Module

__all__ = ["ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax"]

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
            return kernels.activation.relu_forward(self, x, inplace)
        y = np.maximum(x, 0, out=x if inplace else None)
        self._save_for_backward(y != 0)
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        (positive,) = self._saved()
        g = check_grad(self, grad_out, positive.shape)
        if kernels.active():  # on threads: glassnet/kernels/activation.py
            return kernels.activation.relu_backward(g, positive)
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
