"""The fully connected layer."""

from __future__ import annotations

import numpy as np

from .. import kernels
from . import init
from ._checks import as_input, check_grad
from .module import Module
from .parameter import Parameter

__all__ = ["Linear"]


class Linear(Module):
    """y = x @ W.T + b.    x: (N, in) or (N, *, in),  W: (out, in),  b: (out,)

    Backward, given g = dL/dy (same shape as y), with x and g flattened to 2-D::

        dL/dW = g.T @ x        (out, in)
        dL/db = g.sum(0)       (out,)
        dL/dx = g @ W          (N, in)

    Initialised like PyTorch: W and b ~ U(-1/sqrt(in), 1/sqrt(in)).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=np.float32):
        super().__init__()
        if in_features <= 0 or out_features <= 0:
            raise ValueError(
                f"Linear needs positive sizes, got in_features={in_features}, "
                f"out_features={out_features}"
            )
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = Parameter(np.empty((out_features, in_features), dtype=dtype))
        self.bias = Parameter(np.empty(out_features, dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.default_init_(self.weight, self.bias)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_input(self, x, tuple(range(2, 8)), "(N, *, in_features)", -1, self.in_features)
        x2 = x.reshape(-1, self.in_features)
        y = x2 @ self.weight.data.T
        if self.bias is not None:
            y += self.bias.data
        self._save_for_backward(x2, x.shape)
        return y.reshape(*x.shape[:-1], self.out_features)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        x2, x_shape = self._saved()
        g = check_grad(self, grad_out, (*x_shape[:-1], self.out_features))
        g = g.reshape(-1, self.out_features).astype(x2.dtype, copy=False)
        if self.weight.requires_grad:
            if kernels.active():  # one sample's outer product: glassnet/kernels/linear.py
                self.weight.grad += kernels.linear.weight_grad(g, x2)
            else:
                self.weight.grad += g.T @ x2
        if self.bias is not None and self.bias.requires_grad:
            self.bias.grad += g.sum(axis=0)
        if not self._input_grad:
            return None
        return (g @ self.weight.data).reshape(x_shape)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )
