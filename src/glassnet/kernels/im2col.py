"""im2col and col2im: convolution's receptive fields as the columns of one matrix.

For a padded input xp (N, C, Hp, Wp) and a kh x kw kernel, the columns are::

    cols[c, a, b, n, i, j] = xp[n, c, i*sh + a*dh, j*sw + b*dw]       (C, kh, kw, N, Ho, Wo)

seen as a (C*kh*kw, N*Ho*Wo) matrix, so that a convolution is ``W.reshape(O, -1) @ cols``.
The adjoint (the backward pass) adds each column entry back into the pixel it was
copied from: ``col2im`` for the rows layout, ``col2im_phases`` for strided layers.
Convolutions by kernel rows (:mod:`glassnet.kernels.conv`) take the rows layout of a
kernel one column wide and shift whole grids instead: ``add_shifted`` (forward),
``shifted_copies`` and ``col2im_rows`` (backward).

Two layouts, the same matrix:

* **window** (any stride): ``functional.window_view`` gives the (N, C, Ho, Wo, kh, kw)
  receptive fields as a view; one transposed copy makes the columns. Its innermost
  copied run is one output row (Wo values).
* **rows** (stride 1 only, much faster to copy): compute the output on a grid as wide as
  the *padded* input, Ho x Wp instead of Ho x Wo. Then for kernel offset (a, b) the
  values needed by all output pixels of an image are one contiguous run of the
  flattened image, ``xp_flat[n, c, a*dh*Wp + b*dw : ... + Ho*Wp]``, and im2col becomes
  kh*kw long memory copies. The Wp - Wo extra columns per row hold garbage; the caller
  drops them from the output and gives them zero gradient.

  The padding is laid out for this (``rows_pads``). In the flattened image the zeros
  at the start of a row follow straight after the end of the row above, so a row's
  left padding also serves as the right padding of the row above: an output pixel
  near the right edge reads past the end of its row into the next row's left zeros.
  So the right padding shrinks to what the left one does not cover (none for the
  usual symmetric padding), and the grid is W + p wide instead of W + 2p: for a 3x3
  kernel with padding 1 on an 8x8 image, 9 columns per row instead of 10 (a tenth
  less GEMM work and copying), on 16x16, 17 instead of 18. The runs of the last rows
  reach up to (kw-1)*dw values past the image, into extra zero rows at the bottom.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .._arrays import window_view

__all__ = [
    "rows_pads",
    "im2col",
    "col2im",
    "shifted_copies",
    "add_shifted",
    "col2im_rows",
    "phase_width",
    "col2im_phases",
]


def rows_pads(pads, width: int, kernel, dilation) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) zeros around an input ``width`` columns wide for the
    rows layout of a convolution with padding ``pads`` (top, bottom, left, right).

    With the row width Wp = left + width + right', the reads of a valid output pixel
    reach column width + left + right - 1 of its row; those past Wp land in the next
    row's first columns, which must be its left zeros: Wp >= width + right. The grid
    must also hold the Wo valid outputs: Wp >= Wo. Hence right' below. The bottom gets
    enough extra zero rows for the last runs' (kw-1)*dw values past the last row.
    """
    top, bottom, left, right = pads
    (_, kw), (_, dw) = kernel, dilation
    span = (kw - 1) * dw
    out_w = width + left + right - span
    right = max(0, right - left, out_w - width - left)
    row = left + width + right
    return top, bottom + -(-span // row), left, right


def _row_runs(xp: np.ndarray, kernel, dilation, out_h: int) -> np.ndarray:
    """View (C, kh, kw, N, Ho*Wp) of the contiguous runs of the rows layout."""
    n, c, hp, wp = xp.shape
    (kh, kw), (dh, dw) = kernel, dilation
    if ((kh - 1) * dh + out_h) * wp + (kw - 1) * dw > hp * wp:  # see rows_pads
        raise ValueError("the rows layout needs the zero rows of rows_pads at the bottom")
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
    xp: np.ndarray, kernel, stride, dilation, out_hw, rows_layout: bool = False, empty=None
) -> np.ndarray:
    """Columns (C, kh, kw, N, Ho, G) of a padded input, G = Wp (rows) or Wo (window).
    ``empty(shape, dtype)`` gives the array they are written into (``np.empty``, or a
    buffer of the layer's workspace)."""
    n, c, _, wp = xp.shape
    kh, kw = kernel
    ho, wo = out_hw
    empty = np.empty if empty is None else empty
    if rows_layout:
        cols = empty((c, kh, kw, n, ho, wp), xp.dtype)
        np.copyto(cols.reshape(c, kh, kw, n, ho * wp), _row_runs(xp, kernel, dilation, ho))
        return cols
    cols = empty((c, kh, kw, n, ho, wo), xp.dtype)
    windows = window_view(xp, kernel, stride, dilation, out_hw)  # (N, C, Ho, Wo, kh, kw)
    np.copyto(cols, windows.transpose(1, 4, 5, 0, 2, 3))
    return cols


def col2im(dcols: np.ndarray, dxp: np.ndarray, dilation) -> np.ndarray:
    """Add rows-layout column gradients (C, kh, kw, N, Ho, Wp) into the padded gradient
    ``dxp`` (N, C, Hp, Wp), in place: kernel offset (a, b) adds one contiguous run per
    image and channel. The garbage columns must carry zero gradient (they then add
    zeros to pixels they never read). Strided layers: ``col2im_phases``."""
    c, kh, kw, n, ho, grid_w = dcols.shape
    wp = dxp.shape[3]
    flat = dxp.reshape(n, c, -1).transpose(1, 0, 2)  # (C, N, Hp*Wp) view
    runs = dcols.reshape(c, kh, kw, n, ho * grid_w)
    for a in range(kh):
        for b in range(kw):
            start = a * dilation[0] * wp + b * dilation[1]
            flat[:, :, start : start + ho * wp] += runs[:, a, b]
    return dxp


def shifted_copies(a: np.ndarray, count: int, step: int) -> np.ndarray:
    """(..., count, P) copies of ``a`` (..., P), copy b shifted right by b*step along
    the last axis with zeros shifted in: ``out[..., b, k] = a[..., k - b*step]``.

    For an image laid out on a grid (flattened rows, each ending in at least
    (count-1)*step zeros), copy b holds every row shifted right by b*step: what a row
    reads past its start is the zeros at the end of the row before. One contiguous copy
    per leading index and b, however many images and rows the grid holds."""
    p = a.shape[-1]
    out = np.empty((*a.shape[:-1], count, p), dtype=a.dtype)
    for b in range(count):
        s = min(b * step, p)
        out[..., b, :s] = 0
        out[..., b, s:] = a[..., : p - s]
    return out


def add_shifted(z: np.ndarray, step: int) -> np.ndarray:
    """``out[..., k] = sum_b z[..., b, k + b*step]`` for z (..., count, P): the adjoint of
    ``shifted_copies``, each copy read shifted left by b*step, one contiguous add per
    leading index and b. out is (..., P); its last (count-1)*step values, which read
    past the end of z, are left unset (on a grid they belong to the last row's columns
    past the valid outputs)."""
    count, p = z.shape[-2], z.shape[-1]
    out = np.empty((*z.shape[:-2], p), dtype=z.dtype)
    span = min((count - 1) * step, p)
    run = p - span
    out[..., :run] = z[..., 0, :run]
    for b in range(1, count):
        out[..., :run] += z[..., b, b * step : b * step + run]
    return out


def col2im_rows(part: np.ndarray, dxp: np.ndarray, dilation_h: int) -> np.ndarray:
    """Add kernel rows' partial gradients into ``dxp`` (N, C, Hp, Wp), overwriting it:
    ``part`` (C, kh, N, Ho*Wp) holds, for kernel row a, the gradient of the padded input
    rows a*dh ... a*dh + Ho - 1 as one contiguous run per image and channel, so

        dxp[n, c, r, :] = sum over a with 0 <= r - a*dh < Ho of part[c, a, n, row r - a*dh]

    is kh contiguous runs (the first copied in and the rest of dxp zeroed, the others
    added): ``col2im`` for a kernel one column wide. dxp must be C-contiguous (dL/dx
    itself, or a block of it, when the layer has no padding)."""
    c, kh, n, run = part.shape
    if not dxp.flags.c_contiguous:
        raise ValueError("col2im_rows writes into a C-contiguous array")
    wp = dxp.shape[3]
    flat = dxp.reshape(n, c, -1).transpose(1, 0, 2)  # (C, N, Hp*Wp) view
    flat[:, :, :run] = part[:, 0]
    flat[:, :, run:] = 0
    for a in range(1, kh):
        start = a * dilation_h * wp
        flat[:, :, start : start + run] += part[:, a]
    return dxp


def phase_width(out_w: int, kernel_w: int, dilation_w: int, stride_w: int) -> int:
    """Width of the grid that ``col2im_phases`` takes: Wo plus the largest column shift
    of a kernel offset within its phase, (kw-1)*dw // sw (1 for a 3x3 kernel, stride 2)."""
    return out_w + (kernel_w - 1) * dilation_w // stride_w


def col2im_phases(dcols: np.ndarray, dx: np.ndarray, pads, stride, dilation) -> np.ndarray:
    """col2im for a strided convolution, written straight into dL/dx (N, C, H, W).

    ``dcols`` (C, kh, kw, N, Ho, Wq) is dL/dcols on a grid ``phase_width`` wide, its
    columns past Wo zero. The plain way adds offset (a, b)'s columns into the strided
    pixels ``dxp[:, :, a*dh::sh, b*dw::sw]`` of the padded gradient: short strided adds
    of Wo values, which NumPy runs slowly. Split the
    padded gradient into its sh*sw phases instead, phase (p, q) holding the pixels at
    rows p, p+sh, ... and columns q, q+sw, ...: kernel offset (a, b) adds only into
    phase ((a*dh) % sh, (b*dw) % sw), shifted by ((a*dh) // sh, (b*dw) // sw), and on
    the grid that add is one contiguous run per image and channel, as in the rows
    layout (the grid's zero columns add zeros to pixels no window reads). Then each
    phase is copied to its pixels of dx, the padding left out. Measured: about half
    the time of col2im plus the crop (ResNet's stride-2 layers, blocks of 7 and 14
    images); pixels that no window reads get zero.
    """
    c, kh, kw, n, ho, grid_w = dcols.shape
    (sh, sw), (dh, dw) = stride, dilation
    top, _, left, _ = pads
    h, w = dx.shape[2:]
    rows = ho + (kh - 1) * dh // sh + 1  # + 1: a run that starts mid-row ends in the next
    phases = np.empty((sh, sw, c, n, rows * grid_w), dtype=dcols.dtype)
    written = np.zeros((sh, sw), dtype=bool)
    runs = dcols.reshape(c, kh, kw, n, ho * grid_w)
    for a in range(kh):
        shift_r, p = divmod(a * dh, sh)
        for b in range(kw):
            shift_c, q = divmod(b * dw, sw)
            start = shift_r * grid_w + shift_c
            stop = start + ho * grid_w
            if written[p, q]:
                phases[p, q, :, :, start:stop] += runs[:, a, b]
            else:  # a phase's first run is copied in and the rest of it zeroed, rather
                # than zeroing all of it and adding (col2im_phases 20% faster)
                phases[p, q, :, :, :start] = 0
                phases[p, q, :, :, start:stop] = runs[:, a, b]
                phases[p, q, :, :, stop:] = 0
                written[p, q] = True
    phases[~written] = 0  # phases no kernel offset reaches (dilation a multiple of stride)
    phases = phases.reshape(sh, sw, c, n, rows, grid_w)
    for p in range(sh):
        r0 = (p - top) % sh  # the first row of dx in phase p
        i0 = (r0 + top) // sh
        for q in range(sw):
            c0 = (q - left) % sw
            j0 = (c0 + left) // sw
            target = dx[:, :, r0::sh, c0::sw]
            part = phases[p, q, :, :, i0 : i0 + target.shape[2], j0 : j0 + target.shape[3]]
            if part.shape[2:] != target.shape[2:]:  # rows/columns past every window
                target[...] = 0
                target = target[:, :, : part.shape[2], : part.shape[3]]
            target[...] = part.transpose(1, 0, 2, 3)
    return dx
