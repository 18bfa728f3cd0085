"""2-D convolution as matrix multiplication: pad, im2col, one GEMM, bias."""

from __future__ import annotations

import numpy as np

from .. import kernels
from . import init
from ._checks import as_input, check_grad
from .functional import conv_output_size, pad2d, pair, same_padding
from .im2col import col2im, im2col
from .module import Module, is_grad_enabled
from .parameter import Parameter

__all__ = ["Conv2d"]


class Conv2d(Module):
    """Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
    groups=1, bias=True, padding_mode='zeros') with PyTorch's arguments and shapes.

    x: (N, C, H, W) -> y: (N, O, Ho, Wo),  Ho = (H + 2p - d*(kh-1) - 1) // s + 1.
    weight W: (O, C/G, kh, kw); bias b: (O,). With xp = x zero-padded, the columns
    (``nn/im2col.py``) hold every receptive field, and each of the G groups is one GEMM::

        cols[(c, a, b), (n, i, j)] = xp[n, c, i*sh + a*dh, j*sw + b*dw]   (C*kh*kw, N*Ho*Wo)
        y2 = W2 @ cols + b          W2 = W.reshape(O, -1): (O, C*kh*kw);  y2: (O, N*Ho*Wo)

    Backward, given g = dL/dy laid out like y2 (O, N*Ho*Wo)::

        dL/db    = g.sum over its columns                                 (O,)
        dL/dW2   = g @ cols.T                                             (O, C*kh*kw)
        dL/dcols = W2.T @ g                                               (C*kh*kw, N*Ho*Wo)
        dL/dx    = col2im(dL/dcols), cropped: every column entry added back into the
                   pixel it was copied from, the padding cut off.

    ``padding`` is an int, a pair, ``'valid'`` (none) or ``'same'`` (stride 1 only; an
    odd total goes to the bottom/right, as in PyTorch). The naive loop version:
    ``glassnet.nn.reference.conv2d_forward`` / ``conv2d_backward``.
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
        if min(in_channels, out_channels) <= 0:
            raise ValueError(
                f"Conv2d: in_channels ({in_channels}) and out_channels ({out_channels}) must "
                f"be positive"
            )
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
        ho, wo = self._out_hw(x.shape)
        if ho <= 0 or wo <= 0:
            raise ValueError(
                f"{self!r}: input of shape {x.shape} is too small for the kernel "
                f"(output would be {ho}x{wo})"
            )
        plan = kernels.conv.plan(self, x)  # "textbook", or the tuned form for this shape
        if plan.fast:  # tuned forms: glassnet/kernels/conv.py
            return kernels.conv.forward(self, plan, x, is_grad_enabled())
        n, g = x.shape[0], self.groups
        xp = pad2d(x, *self._pads())
        cols = im2col(xp, self.kernel_size, self.stride, self.dilation, (ho, wo))
        k = len(cols) // g  # C/G*kh*kw: one group's rows
        cols = cols.reshape(g, k, n * ho * wo)  # (G, C/G*kh*kw, N*Ho*Wo)
        w2 = self.weight.data.reshape(g, self.out_channels // g, k)  # (G, O/G, C/G*kh*kw)
        y = (w2 @ cols).reshape(self.out_channels, n, ho, wo).transpose(1, 0, 2, 3)
        if self.bias is not None:
            y = y + self.bias.data[:, None, None]
        keep_cols = self.weight.requires_grad  # a frozen weight needs no dL/dW
        self._save_for_backward(plan, xp.shape, cols if keep_cols else None)
        return np.ascontiguousarray(y)

    def backward(self, grad_out: np.ndarray) -> np.ndarray | None:
        plan, *saved = self._saved()
        g = check_grad(self, grad_out, plan.out_shape).astype(self.weight.data.dtype, copy=False)
        if plan.fast:  # the tuned form forward ran: glassnet/kernels/conv.py
            return kernels.conv.backward(self, plan, g, *saved)
        xp_shape, cols = saved
        groups, (n, _, h, w), (ho, wo) = self.groups, plan.in_shape, plan.out_shape[2:]
        g2 = g.transpose(1, 0, 2, 3).reshape(groups, self.out_channels // groups, n * ho * wo)
        if self.bias is not None and self.bias.requires_grad:
            self.bias.grad += g.sum(axis=(0, 2, 3))
        if self.weight.requires_grad:
            dw2 = g2 @ cols.transpose(0, 2, 1)  # (G, O/G, C/G*kh*kw)
            self.weight.grad += dw2.reshape(self.weight.shape)
        if not self._input_grad:
            return None
        w2 = self.weight.data.reshape(groups, self.out_channels // groups, -1)
        dcols = w2.transpose(0, 2, 1) @ g2  # (G, C/G*kh*kw, N*Ho*Wo)
        dcols = dcols.reshape(groups * w2.shape[2], n * ho * wo)
        dxp = col2im(dcols, xp_shape, self.kernel_size, self.stride, self.dilation, (ho, wo))
        top, _, left, _ = self._pads()
        return dxp[:, :, top : top + h, left : left + w]

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


def __getattr__(name: str):
    """The tuning constants that lived here (``BLOCK_BYTES``, ...) moved to
    glassnet/kernels/conv.py; their old names still read them (set them there)."""
    from ..kernels import conv as tuned

    if name.isupper() and name in tuned.__all__:
        return getattr(tuned, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
