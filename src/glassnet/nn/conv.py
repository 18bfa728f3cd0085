"""2-D convolution as matrix multiplication (im2col + GEMM).

Forward. Pad x (N, C, H, W); for every output pixel (i, j) the receptive field is a
C x kh x kw block. Lay those blocks out as the columns of one matrix (``im2col``)::

    cols[(c, a, b), (n, i, j)] = xp[n, c, i*sh + a*dh, j*sw + b*dw]     (C*kh*kw, N*Ho*Wo)
    y[n, :, i, j] = W2 @ cols[:, (n, i, j)] + b                          W2 = W.reshape(O, -1)

so the whole layer is one GEMM, ``W2 @ cols``, which BLAS runs near the machine's peak.
The columns are filled with a loop over the kh*kw kernel offsets, each a strided slice
copy of the padded input (see ``functional.offset_slice``).

Backward, given g = dL/dy seen as gT (O, N*Ho*Wo)::

    dL/db    = gT.sum over its columns
    dL/dW2   = gT @ cols.T                                              (O, C*kh*kw)
    dL/dcols = W2.T @ gT                                                (C*kh*kw, N*Ho*Wo)
    dL/dx    = col2im(dL/dcols): for each offset (a, b), add its rows into the strided
               slice of the padded input they came from, then crop the padding.

Groups split channels into G independent convolutions: the same formulas with an extra
G axis (W: (O, C/G, kh, kw)).

Speed notes (measured on 2 cores; see benchmarks/layers.py):

* The columns are C*kh*kw times the input (75 MB for 128 CIFAR images at 16 channels),
  so the work is done in blocks of samples whose columns fit in the CPU cache: the
  GEMM then reads what im2col just wrote from cache instead of memory.
* Backward rebuilds each block's columns instead of keeping all of them from the
  forward pass: cheap (a cached copy) and it keeps memory at the size of the input.
* Channel-major columns (C*kh*kw, N*Ho*Wo) make the whole block one 2-D GEMM; the
  per-sample layout (N, C*kh*kw, Ho*Wo) would be N small GEMMs, 2-3x slower here.

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

__all__ = ["Conv2d", "im2col", "col2im", "BLOCK_BYTES"]

BLOCK_BYTES = 4 * 2**20  # columns per block of samples: about the size of the L2/L3 cache


def im2col(
    xp: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    out_hw: tuple[int, int],
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Channel-major columns of a padded input: (C, kh, kw, N, Ho, Wo), one strided
    copy per kernel offset (written into ``out`` when given)."""
    n, c = xp.shape[:2]
    kh, kw = kernel
    cols = np.empty((c, kh, kw, n, *out_hw), dtype=xp.dtype) if out is None else out
    xt = xp.transpose(1, 0, 2, 3)  # (C, N, Hp, Wp) view
    for a in range(kh):
        for b in range(kw):
            cols[:, a, b] = xt[offset_slice(a, b, stride, dilation, out_hw)]
    return cols


def col2im(
    dcols: np.ndarray, dxp: np.ndarray, stride: tuple[int, int], dilation: tuple[int, int]
) -> np.ndarray:
    """Adjoint of :func:`im2col`: add column gradients (C, kh, kw, N, Ho, Wo) into the
    padded-input gradient ``dxp`` (N, C, Hp, Wp), in place; returns it."""
    kh, kw, _, ho, wo = dcols.shape[1:]
    dxt = dxp.transpose(1, 0, 2, 3)
    for a in range(kh):
        for b in range(kw):
            dxt[offset_slice(a, b, stride, dilation, (ho, wo))] += dcols[:, a, b]
    return dxp


def _blocks(n: int, bytes_per_sample: int):
    """Slices of at most BLOCK_BYTES worth of columns (at least one sample each)."""
    size = max(1, min(n, BLOCK_BYTES // max(1, bytes_per_sample)))
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


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
        ho, wo = self._out_hw(x.shape)
        if ho <= 0 or wo <= 0:
            raise ValueError(
                f"{self!r}: input of shape {x.shape} is too small for the kernel "
                f"(output would be {ho}x{wo})"
            )
        xp = pad2d(x, *self._pads())
        g, og = self.groups, self.out_channels // self.groups
        w2 = self.weight.data.reshape(g, og, -1)  # (G, Og, Cg*kh*kw)
        y = np.empty((n, self.out_channels, ho, wo), dtype=x.dtype)
        k = w2.shape[-1] * g
        for block in _blocks(n, k * ho * wo * x.itemsize):
            b = block.stop - block.start
            cols = im2col(xp[block], self.kernel_size, self.stride, self.dilation, (ho, wo))
            out = np.matmul(w2, cols.reshape(g, -1, b * ho * wo))  # (G, Og, B*L)
            y[block] = out.reshape(self.out_channels, b, ho, wo).transpose(1, 0, 2, 3)
        if self.bias is not None:
            y += self.bias.data[:, None, None]
        self._save_for_backward(xp, x.shape)
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        xp, x_shape = self._saved()
        n, g = x_shape[0], self.groups
        og = self.out_channels // g
        ho, wo = self._out_hw(x_shape)
        g_out = check_grad(self, grad_out, (n, self.out_channels, ho, wo))
        g_out = g_out.astype(xp.dtype, copy=False)
        w2 = self.weight.data.reshape(g, og, -1)  # (G, Og, Kg)
        need_w = self.weight.requires_grad
        need_b = self.bias is not None and self.bias.requires_grad
        dw = np.zeros_like(w2) if need_w else None
        db = np.zeros(self.out_channels, dtype=xp.dtype) if need_b else None
        need_x = self._input_grad
        dxp = np.zeros(xp.shape, dtype=xp.dtype) if need_x else None
        for block in _blocks(n, w2.shape[-1] * g * ho * wo * xp.itemsize):
            b = block.stop - block.start
            # the block's gradient as (G, Og, B*L), the layout of W2 @ cols
            g_t = np.ascontiguousarray(g_out[block].transpose(1, 0, 2, 3))
            g_t = g_t.reshape(g, og, b * ho * wo)
            if need_b:
                db += g_t.sum(axis=-1).reshape(-1)
            cols = None
            if need_w:
                cols = im2col(xp[block], self.kernel_size, self.stride, self.dilation, (ho, wo))
                dw += np.matmul(g_t, cols.reshape(g, -1, b * ho * wo).swapaxes(-1, -2))
            if need_x:
                dcols = np.matmul(
                    w2.swapaxes(-1, -2),
                    g_t,
                    out=cols.reshape(g, -1, b * ho * wo) if cols is not None else None,
                )  # reuse the block's buffer
                dcols = dcols.reshape(self.in_channels, *self.kernel_size, b, ho, wo)
                col2im(dcols, dxp[block], self.stride, self.dilation)
        if need_w:
            self.weight.grad += dw.reshape(self.weight.shape)
        if need_b:
            self.bias.grad += db
        if not need_x:
            return None
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
