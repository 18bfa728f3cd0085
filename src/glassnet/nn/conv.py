"""2-D convolution as one matrix multiplication (im2col + GEMM).

Forward. Pad x (N, C, H, W); for every output pixel (i, j) the receptive field is a
C x kh x kw block. Lay those blocks out as columns (``im2col``)::

    cols[n, (c, a, b), (i, j)] = xp[n, c, i*sh + a*dh, j*sw + b*dw]      (N, C*kh*kw, Ho*Wo)
    y[n] = W2 @ cols[n] + b                                               W2 = W.reshape(O, -1)

so the whole layer is one batched GEMM, which BLAS runs near the machine's peak.
The columns are filled with a loop over the kh*kw kernel offsets, each a strided
slice copy of the padded input (see ``functional.offset_slice``).

Backward, given g = dL/dy (N, O, Ho, Wo) seen as (N, O, Ho*Wo)::

    dL/db    = g.sum over (n, i, j)
    dL/dW2   = sum_n g[n] @ cols[n].T                                     (O, C*kh*kw)
    dL/dcols = W2.T @ g[n]                                                (N, C*kh*kw, Ho*Wo)
    dL/dx    = col2im(dL/dcols): for each offset (a, b), add dcols[:, :, a, b] into the
               strided slice of the padded input it came from, then crop the padding.

Groups split channels into G independent convolutions: the same formulas with an extra
G axis (W: (O, C/G, kh, kw)).

The naive loop version of this layer, which the tests hold equal to this one, is
``glassnet.nn.reference.conv2d_forward`` / ``conv2d_backward``.
"""

from __future__ import annotations

import numpy as np

from . import init
from ._checks import as_input, check_grad
from .functional import conv_output_size, offset_slice, pad2d, pair, same_padding
from .module import Module
from .parameter import Parameter

__all__ = ["Conv2d", "im2col", "col2im"]


def im2col(
    xp: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    out_hw: tuple[int, int],
) -> np.ndarray:
    """Columns of a padded input: (N, C, kh, kw, Ho, Wo), one strided copy per offset."""
    n, c = xp.shape[:2]
    kh, kw = kernel
    cols = np.empty((n, c, kh, kw, *out_hw), dtype=xp.dtype)
    for a in range(kh):
        for b in range(kw):
            cols[:, :, a, b] = xp[offset_slice(a, b, stride, dilation, out_hw)]
    return cols


def col2im(
    dcols: np.ndarray,
    padded_shape: tuple[int, ...],
    stride: tuple[int, int],
    dilation: tuple[int, int],
) -> np.ndarray:
    """Adjoint of :func:`im2col`: sum column gradients (N, C, kh, kw, Ho, Wo) into pixels."""
    kh, kw, ho, wo = dcols.shape[2:]
    dxp = np.zeros(padded_shape, dtype=dcols.dtype)
    for a in range(kh):
        for b in range(kw):
            dxp[offset_slice(a, b, stride, dilation, (ho, wo))] += dcols[:, :, a, b]
    return dxp


class Conv2d(Module):
    """Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
    groups=1, bias=True, padding_mode='zeros') with PyTorch's arguments and shapes.

    x: (N, C_in, H, W) -> y: (N, C_out, Ho, Wo),  Ho = (H + 2p - d*(k-1) - 1) // s + 1.
    weight: (C_out, C_in / groups, kh, kw); bias: (C_out,).
    ``padding`` is an int, a pair, ``'valid'`` (no padding) or ``'same'`` (stride 1
    only; an odd total goes to the bottom/right, as in PyTorch).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        dtype=np.float32,
    ):
        super().__init__()
        if groups <= 0 or in_channels % groups or out_channels % groups:
            raise ValueError(
                f"Conv2d: in_channels ({in_channels}) and out_channels ({out_channels}) must "
                f"be divisible by groups ({groups})"
            )
        if padding_mode != "zeros":
            raise ValueError(
                f"Conv2d: padding_mode={padding_mode!r} is not supported; glassnet pads with zeros"
            )
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.stride = pair(stride, "stride")
        self.dilation = pair(dilation, "dilation")
        if min(self.kernel_size + self.stride + self.dilation) <= 0:
            raise ValueError("Conv2d: kernel_size, stride and dilation must be positive")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Conv2d: padding must be 'same' or 'valid', got {padding!r}")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError("Conv2d: padding='same' is not supported for strided convolutions")
            self.padding = padding
        else:
            self.padding = pair(padding, "padding")
            if min(self.padding) < 0:
                raise ValueError(f"Conv2d: padding must be non-negative, got {padding!r}")
        self.padding_mode = padding_mode
        kh, kw = self.kernel_size
        self.weight = Parameter(
            np.empty((out_channels, in_channels // groups, kh, kw), dtype=dtype)
        )
        self.bias = Parameter(np.empty(out_channels, dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.default_init_(self.weight, self.bias)

    def _pads(self) -> tuple[int, int, int, int]:
        """(top, bottom, left, right) zero padding."""
        if self.padding == "valid":
            return 0, 0, 0, 0
        if self.padding == "same":
            top, bottom = same_padding(self.kernel_size[0], self.dilation[0])
            left, right = same_padding(self.kernel_size[1], self.dilation[1])
            return top, bottom, left, right
        ph, pw = self.padding
        return ph, ph, pw, pw

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_input(self, x, (4,), "(N, C_in, H, W)", 1, self.in_channels)
        n = x.shape[0]
        top, bottom, left, right = self._pads()
        ho, wo = self._out_hw(x.shape)
        if ho <= 0 or wo <= 0:
            raise ValueError(
                f"{self!r}: input of shape {x.shape} is too small for the kernel "
                f"(output would be {ho}x{wo})"
            )
        xp = pad2d(x, top, bottom, left, right)
        g = self.groups
        cols = im2col(xp, self.kernel_size, self.stride, self.dilation, (ho, wo))
        cols = cols.reshape(n, g, -1, ho * wo)  # (N, G, Cg*kh*kw, L)
        w2 = self.weight.data.reshape(g, self.out_channels // g, -1)  # (G, Og, Cg*kh*kw)
        y = np.matmul(w2, cols).reshape(n, self.out_channels, ho, wo)
        if self.bias is not None:
            y += self.bias.data[:, None, None]
        self._save_for_backward(cols, xp.shape, x.shape)
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        cols, padded_shape, x_shape = self._saved()
        n, g = x_shape[0], self.groups
        kh, kw = self.kernel_size
        g_out = check_grad(self, grad_out, (n, self.out_channels, *self._out_hw(x_shape)))
        g_out = g_out.astype(cols.dtype, copy=False)
        ho, wo = g_out.shape[2:]
        g4 = g_out.reshape(n, g, self.out_channels // g, ho * wo)  # (N, G, Og, L)
        if self.bias is not None and self.bias.requires_grad:
            self.bias.grad += g_out.sum(axis=(0, 2, 3))
        if self.weight.requires_grad:
            dw = np.matmul(g4, cols.swapaxes(-1, -2)).sum(axis=0)  # (G, Og, Cg*kh*kw)
            self.weight.grad += dw.reshape(self.weight.shape)
        w2 = self.weight.data.reshape(g, self.out_channels // g, -1)
        dcols = np.matmul(w2.swapaxes(-1, -2), g4)  # (N, G, Cg*kh*kw, L)
        dcols = dcols.reshape(n, self.in_channels, kh, kw, ho, wo)
        dxp = col2im(dcols, padded_shape, self.stride, self.dilation)
        top, _, left, _ = self._pads()
        return dxp[:, :, top : top + x_shape[2], left : left + x_shape[3]]

    def _out_hw(self, x_shape) -> tuple[int, int]:
        top, bottom, left, right = self._pads()
        return (
            conv_output_size(
                x_shape[2], self.kernel_size[0], self.stride[0], top + bottom, self.dilation[0]
            ),
            conv_output_size(
                x_shape[3], self.kernel_size[1], self.stride[1], left + right, self.dilation[1]
            ),
        )

    def extra_repr(self) -> str:
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if self.padding != (0, 0):
            s += (
                f", padding={self.padding!r}"
                if isinstance(self.padding, str)
                else (f", padding={self.padding}")
            )
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s
