"""im2col and col2im: convolution's receptive fields as the columns of one matrix.

For a padded input xp (N, C, Hp, Wp) and a kh x kw kernel, the columns are::

    cols[c, a, b, n, i, j] = xp[n, c, i*sh + a*dh, j*sw + b*dw]       (C, kh, kw, N, Ho, Wo)

seen as a (C*kh*kw, N*Ho*Wo) matrix, so that a convolution is ``W.reshape(O, -1) @ cols``.
``col2im`` is the adjoint (the backward pass): it adds each column entry back into the
pixel it was copied from.

Two layouts, the same matrix:

* **window** (any stride): ``functional.window_view`` gives the (N, C, Ho, Wo, kh, kw)
  receptive fields as a view; one transposed copy makes the columns. Its innermost
  copied run is one output row (Wo values).
* **rows** (stride 1 only, much faster to copy): compute the output on a grid as wide as
  the *padded* input, Ho x Wp instead of Ho x Wo. Then for kernel offset (a, b) the
  values needed by all output pixels of an image are one contiguous run of the
  flattened image, ``xp_flat[n, c, a*dh*Wp + b*dw : ... + Ho*Wp]``, and im2col becomes
  kh*kw long memory copies. The Wp - Wo extra columns per row hold garbage; the caller
  drops them from the output and gives them zero gradient. The runs of the last rows
  reach up to (kw-1)*dw values past the image, so the padded input carries one extra
  zero row at the bottom (``extra_rows``).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .functional import offset_slice, window_view

__all__ = ["extra_rows", "im2col", "col2im"]


def extra_rows(rows_layout: bool) -> int:
    """Zero rows to add below the padded input for the chosen layout."""
    return 1 if rows_layout else 0


def _row_runs(xp: np.ndarray, kernel, dilation, out_h: int) -> np.ndarray:
    """View (C, kh, kw, N, Ho*Wp) of the contiguous runs of the rows layout."""
    n, c, hp, wp = xp.shape
    (kh, kw), (dh, dw) = kernel, dilation
    if (kh - 1) * dh + out_h >= hp:  # the runs need the extra zero row below the image
        raise ValueError("the rows layout needs extra_rows(True) rows of padding at the bottom")
    s_n, s_c, s_h, s_w = xp.strides
    if s_w != xp.itemsize or s_h != wp * s_w:
        raise ValueError("the rows layout needs a C-contiguous padded image")
    return as_strided(
        xp,
        shape=(c, kh, kw, n, out_h * wp),
        strides=(s_c, dh * s_h, dw * s_w, s_n, s_w),
        writeable=False,
    )


def im2col(
    xp: np.ndarray, kernel, stride, dilation, out_hw, rows_layout: bool = False
) -> np.ndarray:
    """Columns (C, kh, kw, N, Ho, G) of a padded input, G = Wp (rows) or Wo (window)."""
    n, c, _, wp = xp.shape
    kh, kw = kernel
    ho, wo = out_hw
    if rows_layout:
        cols = np.empty((c, kh, kw, n, ho, wp), dtype=xp.dtype)
        np.copyto(cols.reshape(c, kh, kw, n, ho * wp), _row_runs(xp, kernel, dilation, ho))
        return cols
    cols = np.empty((c, kh, kw, n, ho, wo), dtype=xp.dtype)
    windows = window_view(xp, kernel, stride, dilation, out_hw)  # (N, C, Ho, Wo, kh, kw)
    np.copyto(cols, windows.transpose(1, 4, 5, 0, 2, 3))
    return cols


def col2im(dcols: np.ndarray, dxp: np.ndarray, stride, dilation, rows_layout: bool = False):
    """Add column gradients (C, kh, kw, N, Ho, G) into ``dxp`` (N, C, Hp, Wp), in place.

    In the rows layout the garbage columns must carry zero gradient (they then add
    zeros to pixels they never read)."""
    c, kh, kw, n, ho, grid_w = dcols.shape
    if rows_layout:
        wp = dxp.shape[3]
        flat = dxp.reshape(n, c, -1).transpose(1, 0, 2)  # (C, N, Hp*Wp) view
        runs = dcols.reshape(c, kh, kw, n, ho * grid_w)
        for a in range(kh):
            for b in range(kw):
                start = a * dilation[0] * wp + b * dilation[1]
                flat[:, :, start : start + ho * wp] += runs[:, a, b]
        return dxp
    dxt = dxp.transpose(1, 0, 2, 3)  # (C, N, Hp, Wp) view
    for a in range(kh):
        for b in range(kw):
            dxt[offset_slice(a, b, stride, dilation, (ho, grid_w))] += dcols[:, a, b]
    return dxp
