"""Layers that only move data around: Identity, Flatten, Unflatten."""

from __future__ import annotations

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


class Flatten(Module):
    """Merge dims start_dim..end_dim into one:  (N, C, H, W) -> (N, C*H*W) by default.

    Backward reshapes the gradient back to the input's shape.
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_input(self, x, tuple(range(1, 9)), "(N, *)")
        start = self.start_dim % x.ndim
        end = self.end_dim % x.ndim
        if start > end:
            raise ValueError(
                f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim}) is empty for "
                f"input of shape {x.shape}"
            )
        new_shape = (*x.shape[:start], int(np.prod(x.shape[start : end + 1])), *x.shape[end + 1 :])
        self._save_for_backward(x.shape, new_shape)
        return x.reshape(new_shape)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        shape, out_shape = self._saved()
        return check_grad(self, grad_out, out_shape).reshape(shape)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split dimension ``dim`` into ``unflattened_size``: (N, 784) -> (N, 1, 28, 28)."""

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = int(dim), tuple(int(s) for s in unflattened_size)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_input(self, x, tuple(range(1, 9)), "(N, *)")
        dim = self.dim % x.ndim
        if x.shape[dim] != int(np.prod(self.unflattened_size)):
            raise ValueError(
                f"{self!r} cannot split dimension {dim} of size {x.shape[dim]} into "
                f"{self.unflattened_size}"
            )
        out_shape = (*x.shape[:dim], *self.unflattened_size, *x.shape[dim + 1 :])
        self._save_for_backward(x.shape, out_shape)
        return x.reshape(out_shape)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        shape, out_shape = self._saved()
        return check_grad(self, grad_out, out_shape).reshape(shape)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
