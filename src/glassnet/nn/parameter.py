"""Parameter: a trainable array and the gradient that backward accumulates into it."""

from __future__ import annotations

import numpy as np

__all__ = ["Parameter"]


class Parameter:
    """A trainable tensor: ``data`` (the values) and ``grad`` (dL/d data).

    ``grad`` always exists, has the same shape and dtype as ``data`` and starts at
    zero. Every ``Module.backward`` *adds* into it (as PyTorch accumulates), so call
    ``optimizer.zero_grad()`` (or ``model.zero_grad()``) once per step.
    Optimizers update ``data`` in place; code that keeps a reference to
    ``p.data`` therefore sees the new values.
    """

    __slots__ = ("data", "grad", "requires_grad")

    def __init__(self, data, requires_grad: bool = True):
        data = np.array(data, copy=True)
        if not np.issubdtype(data.dtype, np.floating):
            data = data.astype(np.float32)
        self.data: np.ndarray = data
        self.grad: np.ndarray = np.zeros_like(data)
        self.requires_grad = bool(requires_grad)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    def numel(self) -> int:
        return int(self.data.size)

    def zero_grad(self) -> None:
        self.grad[...] = 0

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"
