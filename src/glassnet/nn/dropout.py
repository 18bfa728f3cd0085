"""Dropout (inverted): zero each value with probability p during training.

Training:   mask ~ Bernoulli(1 - p),   y = x * mask / (1 - p),   dL/dx = g * mask / (1 - p)
Evaluation: y = x (the 1/(1-p) scaling during training keeps the expected value equal,
so nothing needs rescaling at test time).

Masks are drawn from glassnet's global generator (``glassnet.manual_seed``), or from
the ``generator`` given to the constructor, so a seeded run drops the same units.
"""

from __future__ import annotations

import numpy as np

from ..random import default_generator
from ._checks import as_input, check_grad
from .module import Module

__all__ = ["Dropout"]


class Dropout(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False, generator=None):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = float(p), bool(inplace)
        self.generator = generator

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_input(self, x, tuple(range(1, 9)), "(*)")
        if not self.training or self.p == 0.0:
            self._save_for_backward(None, x.shape)
            return x
        if self.p == 1.0:
            scaled_mask = np.zeros_like(x)
        else:
            rng = self.generator if self.generator is not None else default_generator()
            keep = rng.random(x.shape, dtype=np.float64 if x.dtype == np.float64 else np.float32)
            scaled_mask = (keep >= self.p).astype(x.dtype) / np.asarray(1 - self.p, x.dtype)
        self._save_for_backward(scaled_mask, x.shape)
        if self.inplace and x.flags.writeable:  # as torch: the input array itself changes
            x *= scaled_mask
            return x
        return x * scaled_mask

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        scaled_mask, shape = self._saved()
        g = check_grad(self, grad_out, shape)
        return g if scaled_mask is None else g * scaled_mask

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
