"""ReLU's tuned form: ``np.maximum`` into an array zeroed first (NumPy's maximum against
a broadcast scalar takes a slower loop), the mask written in the same pass, slices of
a large batch on glassnet's threads. The same numbers as glassnet/nn/activation.py;
measurements: docs/performance.md, "ReLU and BatchNorm"."""

from __future__ import annotations

import numpy as np

from .threads import batch_slices, parallel_map

__all__ = ["relu_forward", "relu_backward"]


def relu_forward(layer, x: np.ndarray, inplace: bool) -> np.ndarray:
    """y = max(x, 0); saves the mask y != 0 for backward, as the textbook does."""
    positive = np.empty(x.shape, dtype=bool)
    y = x if inplace else np.empty_like(x)

    def part(s: slice) -> None:  # a slice of the batch, on glassnet's threads
        if inplace:
            np.maximum(x[s], 0, out=y[s])
        else:
            y[s] = 0
            np.maximum(x[s], y[s], out=y[s])
        np.not_equal(y[s], 0, out=positive[s])

    parallel_map(part, batch_slices(len(x), 2 * x.nbytes))
    layer._save_for_backward(positive)
    return y


def relu_backward(g: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """dL/dx = g * mask, in slices of the batch."""
    dx = np.empty(g.shape, dtype=np.result_type(g, positive))

    def part(s: slice) -> None:
        np.multiply(g[s], positive[s], out=dx[s])

    parallel_map(part, batch_slices(len(g), 2 * g.nbytes))
    return dx
