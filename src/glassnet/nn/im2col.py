"""im2col and col2im: convolution's receptive fields as the columns of one matrix.

For a padded input xp (N, C, Hp, Wp) and a kh x kw kernel, the columns are::

    cols[(c, a, b), (n, i, j)] = xp[n, c, i*sh + a*dh, j*sw + b*dw]     (C*kh*kw, N*Ho*Wo)

so that a convolution is one matrix product, ``W.reshape(O, -1) @ cols``. ``im2col``
copies them out of the window view of xp (``functional.window_view``).

``col2im`` is its adjoint, the backward pass: every column entry is added back into the
pixel it was copied from. Column entries of kernel offset (a, b) came from the strided
slice ``xp[:, :, a*dh::sh, b*dw::sw]`` (``functional.offset_slice``), so the adjoint is a
loop over the kh*kw offsets, each one strided ``+=`` over the whole batch (never
``np.add.at``, ~7x slower). Pixels read by several windows add up their gradients.

The tuned layouts (the rows layout at stride 1, the adjoint by the stride's phases)
are in glassnet/kernels/im2col.py.
"""

from __future__ import annotations

import numpy as np

from .._arrays import offset_slice, window_view

__all__ = ["im2col", "col2im"]

# The tuned layouts' helpers were public here before they moved to glassnet.kernels.im2col.
_MOVED = (
    "rows_pads",
    "shifted_copies",
    "add_shifted",
    "col2im_rows",
    "phase_width",
    "col2im_phases",
)


def __getattr__(name: str):
    if name in _MOVED:  # old import path, kept working: glassnet/kernels/im2col.py
        from ..kernels import im2col as tuned

        return getattr(tuned, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def im2col(xp: np.ndarray, kernel, stride, dilation, out_hw) -> np.ndarray:
    """Columns of a padded input: (C*kh*kw, N*Ho*Wo), rows ordered (c, a, b), columns
    (n, i, j)."""
    n, c = xp.shape[:2]
    windows = window_view(xp, kernel, stride, dilation, out_hw)  # (N, C, Ho, Wo, kh, kw)
    cols = windows.transpose(1, 4, 5, 0, 2, 3)  # (C, kh, kw, N, Ho, Wo)
    return cols.reshape(c * kernel[0] * kernel[1], n * out_hw[0] * out_hw[1])


def col2im(dcols: np.ndarray, padded_shape, kernel, stride, dilation, out_hw) -> np.ndarray:
    """The adjoint of ``im2col``: dL/dxp (padded_shape) from dL/dcols (C*kh*kw, N*Ho*Wo)."""
    n, c = padded_shape[:2]
    (kh, kw), (ho, wo) = kernel, out_hw
    dcols = dcols.reshape(c, kh, kw, n, ho, wo)
    dxp = np.zeros(padded_shape, dtype=dcols.dtype)
    for a in range(kh):
        for b in range(kw):
            pixels = offset_slice(a, b, stride, dilation, out_hw)
            dxp[pixels] += dcols[:, a, b].transpose(1, 0, 2, 3)
    return dxp
