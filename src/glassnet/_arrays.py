"""Array helpers shared by the textbook (:mod:`glassnet.nn`) and the engine
(:mod:`glassnet.kernels`): zero padding, sliding windows and per-channel sums.
``glassnet.nn.functional`` re-exports them under their public names.

* :func:`window_view` turns a padded NCHW array into a *view* of shape
  ``(N, C, Ho, Wo, kh, kw)`` in which ``v[n, c, i, j]`` is the receptive field of
  output pixel ``(i, j)``. No data is copied: it only sets strides.
* :func:`offset_slice` is the other way to see the same thing: for one kernel offset
  ``(a, b)`` the pixels that every output position reads form a strided slice
  ``xp[:, :, a*dh : ... : sh, b*dw : ... : sw]`` of shape ``(N, C, Ho, Wo)``. Loops
  over the ``kh*kw`` offsets (never over pixels or samples) are how backward passes
  scatter gradients back: ``dxp[offset_slice] += ...`` is ~7x faster than
  ``np.add.at`` (DESIGN.md).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

__all__ = ["pad2d", "window_view", "offset_slice", "channel_sum", "channel_dot"]


def pad2d(x: np.ndarray, top: int, bottom: int, left: int, right: int, value=0.0) -> np.ndarray:
    """Pad the last two axes of an NCHW array (a fresh array, ``x`` unchanged; ``x``
    itself when there is nothing to pad)."""
    if top == bottom == left == right == 0:
        return x
    n, c, h, w = x.shape
    shape = (n, c, h + top + bottom, w + left + right)
    out = np.zeros(shape, dtype=x.dtype) if value == 0 else np.full(shape, value, dtype=x.dtype)
    out[:, :, top : top + h, left : left + w] = x
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
    """Sum over every axis but 1 (the channel) of (N, C, ...)."""
    return np.einsum("ncl->c", _ncl(a))


def channel_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """sum(a * b) over every axis but the channel, without the a * b temporary."""
    a3 = _ncl(a)
    return np.einsum("ncl,ncl->c", a3, b.reshape(a3.shape))
