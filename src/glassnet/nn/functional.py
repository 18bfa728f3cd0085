"""Stateless building blocks shared by the layers (the ``torch.nn.functional`` of glassnet).

The sliding-window machinery used by convolution and pooling lives here:

* :func:`window_view` turns a padded NCHW array into a *view* of shape
  ``(N, C, Ho, Wo, kh, kw)`` in which ``v[n, c, i, j]`` is the receptive field of
  output pixel ``(i, j)``. No data is copied: it only sets strides.
* :func:`offset_slice` is the other way to see the same thing: for one kernel offset
  ``(a, b)`` the pixels that every output position reads form a strided slice
  ``xp[:, :, a*dh : ... : sh, b*dw : ... : sw]`` of shape ``(N, C, Ho, Wo)``. Loops
  over the ``kh*kw`` offsets (never over pixels or samples) are how backward passes
  scatter gradients back: ``dxp[offset_slice] += ...`` is ~7x faster than
  ``np.add.at`` (measured in DESIGN.md).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..threads import batch_slices, parallel_map

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


def pad2d(x: np.ndarray, top: int, bottom: int, left: int, right: int, value=0.0) -> np.ndarray:
    """Pad the last two axes of an NCHW array (a fresh array, ``x`` unchanged)."""
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


def window_view(
    xp: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    out_hw: tuple[int, int],
) -> np.ndarray:
    """Read-only view ``(N, C, Ho, Wo, kh, kw)`` of the receptive fields of a padded input."""
    n, c = xp.shape[:2]
    s_n, s_c, s_h, s_w = xp.strides
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out_hw
    return as_strided(
        xp,
        shape=(n, c, ho, wo, kh, kw),
        strides=(s_n, s_c, s_h * sh, s_w * sw, s_h * dh, s_w * dw),
        writeable=False,
    )


def offset_slice(
    a: int, b: int, stride: tuple[int, int], dilation: tuple[int, int], out_hw: tuple[int, int]
) -> tuple[slice, slice, slice, slice]:
    """Index of the (N, C, Ho, Wo) pixels that kernel offset (a, b) reads in a padded input."""
    (sh, sw), (dh, dw), (ho, wo) = stride, dilation, out_hw
    top, left = a * dh, b * dw
    return (
        slice(None),
        slice(None),
        slice(top, top + sh * (ho - 1) + 1, sh),
        slice(left, left + sw * (wo - 1) + 1, sw),
    )


def _ncl(a: np.ndarray) -> np.ndarray:
    """(N, C, ...) seen as (N, C, L); L spelled out, as -1 is ambiguous when N is 0."""
    return a.reshape(a.shape[0], a.shape[1], math.prod(a.shape[2:]))


def channel_sum(a: np.ndarray) -> np.ndarray:
    """Sum over every axis but 1 (the channel) of (N, C, ...): einsum on an (N, C, L)
    view is ~3x faster than ``a.sum(axis=(0, 2, 3))``."""
    return np.einsum("ncl->c", _ncl(a))


def channel_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """sum(a * b) over every axis but the channel, without the a * b temporary."""
    a3 = _ncl(a)
    return np.einsum("ncl,ncl->c", a3, b.reshape(a3.shape))


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


def one_hot(y: np.ndarray, num_classes: int, dtype=np.float32) -> np.ndarray:
    out = np.zeros((y.shape[0], num_classes), dtype=dtype)
    out[np.arange(y.shape[0]), y] = 1
    return out


def same_padding(kernel: int, dilation: int) -> tuple[int, int]:
    """PyTorch's padding='same' for stride 1: total d*(k-1), the extra pixel on the right."""
    total = dilation * (kernel - 1)
    return total // 2, total - total // 2
