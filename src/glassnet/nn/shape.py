"""Layers that only move data around: Identity, Flatten, Unflatten."""

from __future__ import annotations

import math

import numpy as np

from ._checks import as_input, check_grad
from .module import Module

__all__ = ["Identity", "Flatten", "Unflatten"]


class Identity(Module):
    """y = x;  dL/dx = dL/dy.  (Accepts and ignores constructor arguments, as PyTorch's.)"""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_input(self, x, tuple(range(1, 9)), "(*)")
        self._save_for_backward(x.shape)
        return x

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        (shape,) = self._saved()
        return check_grad(self, grad_out, shape)


def _dim(module: Module, name: str, dim: int, ndim: int) -> int:
    """``dim`` counted from 0, checked like PyTorch: in [-ndim, ndim - 1], else IndexError
    (a modulo would silently pick another axis, such as the batch axis)."""
    if not -ndim <= dim < ndim:
        raise IndexError(
            f"{type(module).__name__}: {name}={dim} is out of range for a {ndim}-d input "
            f"(expected a value in [{-ndim}, {ndim - 1}])"
        )
    return dim % ndim


class Flatten(Module):
    """Merge dims start_dim..end_dim into one:  (N, C, H, W) -> (N, C*H*W) by default.

    Backward reshapes the gradient back to the input's shape.
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_input(self, x, tuple(range(1, 9)), "(N, *)")
        start = _dim(self, "start_dim", self.start_dim, x.ndim)
        end = _dim(self, "end_dim", self.end_dim, x.ndim)
        if start > end:
            raise ValueError(
                f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim}) is empty for "
                f"input of shape {x.shape}"
            )
        new_shape = (*x.shape[:start], math.prod(x.shape[start : end + 1]), *x.shape[end + 1 :])
        self._save_for_backward(x.shape, new_shape)
        return x.reshape(new_shape)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        shape, out_shape = self._saved()
        return check_grad(self, grad_out, out_shape).reshape(shape)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dimension ``dim`` into ``unflattened_size``: (N, 784) -> (N, 1, 28, 28).

    One entry of ``unflattened_size`` may be -1: it takes what the others leave, as in
    PyTorch (``Unflatten(1, (-1, 28, 28))``).
    """

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = int(dim), tuple(int(s) for s in unflattened_size)
        sizes = self.unflattened_size
        if not sizes or any(s < -1 for s in sizes) or sizes.count(-1) > 1:
            raise ValueError(
                f"Unflatten: unflattened_size must be non-negative sizes with at most one "
                f"-1, got {sizes}"
            )

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_input(self, x, tuple(range(1, 9)), "(N, *)")
        dim = _dim(self, "dim", self.dim, x.ndim)
        sizes = self.unflattened_size
        known = math.prod([s for s in sizes if s != -1])
        if -1 in sizes and known > 0 and x.shape[dim] % known == 0:
            sizes = tuple(x.shape[dim] // known if s == -1 else s for s in sizes)
        if x.shape[dim] != math.prod(sizes):
            raise ValueError(
                f"{self!r} cannot split dimension {dim} of size {x.shape[dim]} into "
                f"{self.unflattened_size}"
            )
        out_shape = (*x.shape[:dim], *sizes, *x.shape[dim + 1 :])
        self._save_for_backward(x.shape, out_shape)
        return x.reshape(out_shape)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        shape, out_shape = self._saved()
        return check_grad(self, grad_out, out_shape).reshape(shape)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
