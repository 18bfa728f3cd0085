"""Linear's tuned form: dL/dW of one sample (per-sample SGD) as a broadcast outer
product, the same numbers as the textbook's ``g.T @ x``; BLAS's 2-thread GEMM with
K = 1 took 3x longer (28 vs 9 us, docs/performance.md)."""

from __future__ import annotations

import numpy as np

__all__ = ["weight_grad"]


def weight_grad(g: np.ndarray, x: np.ndarray) -> np.ndarray:
    """dL/dW = g.T @ x for g (N, out) and x (N, in)."""
    if g.shape[0] == 1:
        return g.T * x
    return g.T @ x
