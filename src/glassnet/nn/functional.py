"""Stateless building blocks shared by the layers (the ``torch.nn.functional`` of glassnet).

The sliding-window machinery of convolution and pooling (``window_view``,
``offset_slice``), zero padding (``pad2d``) and the per-channel sums come from
:mod:`glassnet._arrays`, which the tuned kernels share.
"""

from __future__ import annotations

import math

import numpy as np

from .. import kernels
from .._arrays import channel_dot, channel_sum, offset_slice, pad2d, window_view

__all__ = [
    "pair",
    "conv_output_size",
    "pad2d",
    "add",
    "window_view",
    "offset_slice",
    "softmax",
    "log_softmax",
    "sigmoid",
    "normal_cdf",
    "normal_pdf",
    "one_hot",
    "channel_sum",
    "channel_dot",
]


def pair(value, name: str = "argument") -> tuple[int, int]:
    """``3 -> (3, 3)``; ``(3, 2) -> (3, 2)``; anything else is a ValueError."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value), int(value)
    if isinstance(value, (tuple, list)) and len(value) == 2:
        if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
            return int(value[0]), int(value[1])
    raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")


def conv_output_size(
    size: int, kernel: int, stride: int, pad_total: int, dilation: int = 1, ceil_mode: bool = False
) -> int:
    """Output length along one axis: floor((size + pad - dilation*(k-1) - 1) / stride) + 1.

    With ``ceil_mode`` the division rounds up, but (as in PyTorch) the last window must
    start inside the input or the left padding.
    """
    span = dilation * (kernel - 1) + 1
    numerator = size + pad_total - span
    if ceil_mode:
        out = -(-numerator // stride) + 1
        if (out - 1) * stride >= size + pad_total // 2:
            out -= 1
    else:
        out = numerator // stride + 1
    return out


def add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a + b`` for two arrays of the same shape (a skip link's sum, forward and backward)."""
    if kernels.active():
        return kernels.ops.add(a, b)  # on slices of the batch: glassnet/kernels/ops.py
    return np.add(a, b)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """exp(x - max) / sum(exp(x - max)): subtracting the max keeps exp from overflowing."""
    shifted = x - x.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    e /= e.sum(axis=axis, keepdims=True)
    return e


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """x - logsumexp(x), computed stably."""
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)), to full relative precision for every x.

    For very negative x, exp(-x) overflows to inf and the result is 1/inf = 0, the
    correctly rounded limit (the overflow warning is silenced). The tanh form
    0.5 * (1 + tanh(x/2)) avoids that overflow but cancels for negative x: in float32
    it is 44% off at x = -17 and 0 from x = -20, where sigmoid is still 2e-9.
    """
    x = np.asarray(x)
    e = np.empty(x.shape, x.dtype if x.dtype.kind == "f" else np.float64)  # ints: float64
    np.negative(x, out=e)
    with np.errstate(over="ignore"):
        np.exp(e, out=e)
    e += 1
    np.reciprocal(e, out=e)
    return e if e.ndim else e[()]  # a scalar in, a scalar out


_ERFC = np.frompyfunc(math.erfc, 1, 1)  # NumPy has no erf: the C library's, per element


def normal_cdf(x: np.ndarray) -> np.ndarray:
    """Phi(x) = P(Z <= x) for a standard normal Z, = erfc(-x / sqrt 2) / 2.

    erfc rather than the usual (1 + erf(x / sqrt 2)) / 2: for negative x that sum
    cancels (1 - 0.99999...) and is 0 from x = -8.3 on, while erfc keeps Phi's full
    relative precision down to float64's smallest numbers. NumPy has no erf or erfc,
    so Python's ``math.erfc`` runs on each element: exact, and slow (a Python call per
    element); glassnet.kernels has a fast float32 form for GELU.
    """
    x = np.asarray(x)
    dtype = x.dtype if x.dtype.kind == "f" else np.float64  # ints: float64
    phi = np.asarray(_ERFC(x.astype(np.float64) * -math.sqrt(0.5)), dtype=np.float64) / 2
    return phi.astype(dtype, copy=False) if phi.ndim else dtype.type(phi[()])


def normal_pdf(x: np.ndarray) -> np.ndarray:
    """phi(x) = exp(-x^2 / 2) / sqrt(2 pi), the standard normal density (Phi's slope)."""
    x = np.asarray(x)
    return np.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))


def one_hot(y: np.ndarray, num_classes: int, dtype=np.float32) -> np.ndarray:
    out = np.zeros((y.shape[0], num_classes), dtype=dtype)
    out[np.arange(y.shape[0]), y] = 1
    return out


def same_padding(kernel: int, dilation: int) -> tuple[int, int]:
    """PyTorch's padding='same' for stride 1: total d*(k-1), the extra pixel on the right."""
    total = dilation * (kernel - 1)
    return total // 2, total - total // 2
