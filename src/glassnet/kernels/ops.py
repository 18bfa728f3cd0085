"""Whole-batch passes on slices of the batch, on glassnet's threads (:mod:`.threads`):
zero padding and the skip links' sum. The same numbers as ``glassnet.nn.functional``'s
``pad2d`` and ``add``, which are the plain NumPy of each."""

from __future__ import annotations

import numpy as np

from .threads import batch_slices, parallel_map

__all__ = ["pad2d", "add"]


def pad2d(x: np.ndarray, top: int, bottom: int, left: int, right: int, value=0.0) -> np.ndarray:
    """``glassnet.nn.functional.pad2d``, the copy in slices of the batch on the threads."""
    if top == bottom == left == right == 0:
        return x
    n, c, h, w = x.shape
    shape = (n, c, h + top + bottom, w + left + right)
    # zeros come from calloc (pages zeroed lazily by the OS): cheaper than a fill
    out = np.zeros(shape, dtype=x.dtype) if value == 0 else np.full(shape, value, dtype=x.dtype)

    def copy(s: slice) -> None:  # a slice of the batch, on glassnet's threads
        out[s, :, top : top + h, left : left + w] = x[s]

    parallel_map(copy, batch_slices(n, 2 * x.nbytes))
    return out


def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a + b`` for two arrays of the same shape, slices of the batch on glassnet's
    threads (a skip link's sum, forward and backward)."""
    out = np.empty(a.shape, dtype=np.result_type(a, b))
    if a.ndim == 0:
        return np.add(a, b, out=out)
    parallel_map(lambda s: np.add(a[s], b[s], out=out[s]), batch_slices(len(a), 3 * out.nbytes))
    return out
