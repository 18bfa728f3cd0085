"""Pooling: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d (PyTorch's arguments and semantics).

MaxPool2d and AvgPool2d see the padded input through its windows
(``functional.window_view``: (N, C, Ho, Wo, kh, kw), a view, nothing copied) and
reduce each window. Backward walks the kh*kw kernel offsets: at offset (a, b) every
output pixel's window holds the strided slice ``xp[:, :, a*dh::sh, b*dw::sw]``
(``functional.offset_slice``) of the padded input, so each offset's share of the
gradient is one strided ``+=`` over the whole batch. Padding, stride and dilation all
work the same way (numpy-ml's pooling crashed with padding; DLFS ignored it).
"""

from __future__ import annotations

import numpy as np

from .. import kernels
from ._checks import as_input, check_grad
from .functional import conv_output_size, offset_slice, pad2d, pair, window_view
from .module import Module, is_grad_enabled

__all__ = ["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d"]


class _Pool2d(Module):
    """Shared geometry of MaxPool2d and AvgPool2d."""

    def __init__(self, kernel_size, stride, padding, dilation, ceil_mode):
        super().__init__()
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else pair(stride, "stride")
        self.padding = pair(padding, "padding")
        self.dilation = pair(dilation, "dilation")
        self.ceil_mode = bool(ceil_mode)
        name = type(self).__name__
        if min(self.kernel_size + self.stride + self.dilation) <= 0:
            raise ValueError(f"{name}: kernel_size, stride and dilation must be positive")
        for p, k in zip(self.padding, self.kernel_size):
            if p < 0 or p > k // 2:
                raise ValueError(
                    f"{name}: padding should be at most half of the kernel size "
                    f"(PyTorch's rule), got padding={self.padding}, kernel_size={self.kernel_size}"
                )

    def _geometry(self, x: np.ndarray):
        """Output size and (top, bottom, left, right) padding, incl. ceil_mode's extra."""
        h, w = x.shape[2:]
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
        )
        ho = conv_output_size(h, kh, sh, 2 * ph, dh, self.ceil_mode)
        wo = conv_output_size(w, kw, sw, 2 * pw, dw, self.ceil_mode)
        if ho <= 0 or wo <= 0:
            raise ValueError(f"{self!r}: input of shape {x.shape} is too small for the window")
        # ceil_mode may need rows/cols beyond the right padding for the last window
        extra_h = max(0, (ho - 1) * sh + dh * (kh - 1) + 1 - (h + 2 * ph))
        extra_w = max(0, (wo - 1) * sw + dw * (kw - 1) + 1 - (w + 2 * pw))
        return (ho, wo), (ph, ph + extra_h, pw, pw + extra_w)

    def _offsets(self):
        kh, kw = self.kernel_size
        return [(a, b) for a in range(kh) for b in range(kw)]

    def _inside(self, hw, pads, out_hw) -> list[np.ndarray]:
        """Per kernel offset, a (1, 1, Ho, Wo) mask of the windows whose pixel at that
        offset lies inside the image rather than in the padding."""
        top, bottom, left, right = pads
        image = np.zeros((1, 1, hw[0] + top + bottom, hw[1] + left + right), dtype=bool)
        image[:, :, top : top + hw[0], left : left + hw[1]] = True
        return [
            image[offset_slice(a, b, self.stride, self.dilation, out_hw)]
            for a, b in self._offsets()
        ]

    def extra_repr(self) -> str:
        def show(t):
            return t[0] if t[0] == t[1] else t

        s = (
            f"kernel_size={show(self.kernel_size)}, stride={show(self.stride)}, "
            f"padding={show(self.padding)}"
        )
        if isinstance(self, MaxPool2d):
            s += f", dilation={show(self.dilation)}"
        return s + f", ceil_mode={self.ceil_mode}"


class MaxPool2d(_Pool2d):
    """y[n, c, i, j] = max over the window of x.  (N, C, H, W) -> (N, C, Ho, Wo).

    Padding counts as -inf (never the maximum). Backward sends dL/dy to the position
    of the first maximum of each window; other positions get 0. As in PyTorch, a
    window holding NaN outputs NaN and sends its gradient to its last NaN, and a
    window of nothing but -inf sends it to its first pixel inside the image (never
    to the padding, where it would be lost).
    """

    def __init__(
        self,
        kernel_size,
        stride=None,
        padding=0,
        dilation=1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ):
        if return_indices:
            raise ValueError("MaxPool2d(return_indices=True) is not supported by glassnet")
        super().__init__(kernel_size, stride, padding, dilation, ceil_mode)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_input(self, x, (4,), "(N, C, H, W)")
        out_hw, pads = self._geometry(x)
        if kernels.active():  # on threads, winners in uint8: glassnet/kernels/pooling.py
            return kernels.pooling.maxpool_forward(self, x, out_hw, pads, is_grad_enabled())
        xp = pad2d(x, *pads, value=-np.inf)
        windows = window_view(xp, self.kernel_size, self.stride, self.dilation, out_hw)
        kh, kw = self.kernel_size
        windows = windows.reshape(*windows.shape[:4], kh * kw)  # (N, C, Ho, Wo, kh*kw), a copy
        y = windows.max(axis=-1)
        if is_grad_enabled():
            winners = self._first_maxima(windows, y, x.shape[2:], pads)
            self._save_for_backward(winners, xp.shape, x.shape, pads)
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        winners, padded_shape, x_shape, pads = self._saved()
        g = check_grad(self, grad_out, winners.shape)
        if kernels.active():  # on threads: glassnet/kernels/pooling.py
            return kernels.pooling.maxpool_backward(self, g, winners, padded_shape, x_shape, pads)
        dxp = np.zeros(padded_shape, dtype=np.result_type(g.dtype, np.float32))
        for k, (a, b) in enumerate(self._offsets()):  # offset k's winners get their g
            dxp[offset_slice(a, b, self.stride, self.dilation, g.shape[2:])] += g * (winners == k)
        top, _, left, _ = pads
        return dxp[:, :, top : top + x_shape[2], left : left + x_shape[3]]

    def _first_maxima(self, windows, y, hw, pads) -> np.ndarray:
        """Per window, the kernel offset (0 ... kh*kw-1) that receives the gradient: the
        first maximum; in a window with NaN, its last NaN; in a window of nothing but
        -inf, its first pixel inside the image (PyTorch's choices)."""
        winners = windows.argmax(axis=-1)  # the first maximum (or the first NaN)
        nan = np.isnan(y)
        if nan.any():
            last_nan = np.isnan(windows[nan][:, ::-1]).argmax(axis=-1)
            winners[nan] = windows.shape[-1] - 1 - last_nan
        minus_inf = y == -np.inf
        if minus_inf.any():
            out_hw = y.shape[2:]
            inside = np.stack(self._inside(hw, pads, out_hw), axis=-1)  # (1, 1, Ho, Wo, K)
            first_inside = np.broadcast_to(inside.argmax(axis=-1), y.shape)
            winners[minus_inf] = first_inside[minus_inf]
        return winners


class AvgPool2d(_Pool2d):
    """y[n, c, i, j] = sum of the window / divisor.  (N, C, H, W) -> (N, C, Ho, Wo).

    divisor: ``divisor_override`` if given; else the window size counted over input and
    padding (``count_include_pad=True``, PyTorch's default) or over input pixels only.
    Backward: every pixel of a window receives dL/dy / divisor.
    """

    def __init__(
        self,
        kernel_size,
        stride=None,
        padding=0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ):
        super().__init__(kernel_size, stride, padding, 1, ceil_mode)
        if divisor_override is not None and divisor_override <= 0:
            raise ValueError(
                f"AvgPool2d: divisor_override must be positive, got {divisor_override}"
            )
        self.count_include_pad = bool(count_include_pad)
        self.divisor_override = divisor_override

    def _divisor(self, x_hw, out_hw, pads) -> np.ndarray | float:
        """(Ho, Wo) window sizes; separable, so computed per axis on a 1-D mask."""
        if self.divisor_override is not None:
            return float(self.divisor_override)
        counts = []
        for axis in range(2):
            size, k, s, p = (
                x_hw[axis],
                self.kernel_size[axis],
                self.stride[axis],
                self.padding[axis],
            )
            before, after = pads[2 * axis], pads[2 * axis + 1]
            mask = np.zeros(before + size + after)
            if self.count_include_pad:
                mask[: size + 2 * p] = 1  # padding counts, ceil_mode's overhang does not
            else:
                mask[before : before + size] = 1
            starts = np.arange(out_hw[axis]) * s
            cumulative = np.concatenate([[0.0], np.cumsum(mask)])
            counts.append(cumulative[starts + k] - cumulative[starts])
        return np.outer(counts[0], counts[1])

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_input(self, x, (4,), "(N, C, H, W)")
        out_hw, pads = self._geometry(x)
        divisor = self._divisor(x.shape[2:], out_hw, pads)
        if kernels.active():  # on threads: glassnet/kernels/pooling.py
            return kernels.pooling.avgpool_forward(self, x, out_hw, pads, divisor)
        xp = pad2d(x, *pads)
        windows = window_view(xp, self.kernel_size, self.stride, self.dilation, out_hw)
        y = (windows.sum(axis=(4, 5)) / divisor).astype(x.dtype, copy=False)
        self._save_for_backward(divisor, xp.shape, x.shape, pads, out_hw)
        return y

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        divisor, padded_shape, x_shape, pads, out_hw = self._saved()
        g = check_grad(self, grad_out, (*x_shape[:2], *out_hw))
        if kernels.active():  # on threads: glassnet/kernels/pooling.py
            return kernels.pooling.avgpool_backward(
                self, g, divisor, padded_shape, x_shape, pads, out_hw
            )
        dtype = np.result_type(g.dtype, np.float32)
        share = (g / divisor).astype(dtype, copy=False)  # every pixel of a window gets this
        dxp = np.zeros(padded_shape, dtype=dtype)
        for a, b in self._offsets():
            dxp[offset_slice(a, b, self.stride, self.dilation, out_hw)] += share
        top, _, left, _ = pads
        return dxp[:, :, top : top + x_shape[2], left : left + x_shape[3]]


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size (oh, ow), whatever the input size.

    Output cell i along an axis of length L averages input positions
    [floor(i*L/o), ceil((i+1)*L/o)) (PyTorch's rule). That is linear and separable:
    y = A_h @ x @ A_w.T with averaging matrices A_h (oh, H), A_w (ow, W), so the
    backward is dL/dx = A_h.T @ g @ A_w. When o divides L it is a reshape and a mean.
    ``output_size`` is an int, a pair, or a pair with None (keep that size).
    """

    def __init__(self, output_size):
        super().__init__()
        if isinstance(output_size, (tuple, list)):
            if len(output_size) != 2:
                raise ValueError(
                    f"AdaptiveAvgPool2d: output_size must have 2 entries, got {output_size!r}"
                )
            self.output_size = tuple(None if o is None else int(o) for o in output_size)
        else:
            self.output_size = (int(output_size), int(output_size))
        if any(o is not None and o <= 0 for o in self.output_size):
            raise ValueError(
                f"AdaptiveAvgPool2d: output_size must be positive, got {output_size!r}"
            )

    @staticmethod
    def _matrix(size: int, out: int, dtype) -> np.ndarray:
        m = np.zeros((out, size), dtype=dtype)
        for i in range(out):
            start, end = (i * size) // out, -((-(i + 1) * size) // out)
            m[i, start:end] = 1.0 / (end - start)
        return m

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_input(self, x, (4,), "(N, C, H, W)")
        n, c, h, w = x.shape
        oh = h if self.output_size[0] is None else self.output_size[0]
        ow = w if self.output_size[1] is None else self.output_size[1]
        if h % oh == 0 and w % ow == 0:
            y = x.reshape(n, c, oh, h // oh, ow, w // ow).mean(axis=(3, 5))
            self._save_for_backward(x.shape, (oh, ow), None, None)
            return y
        a_h, a_w = self._matrix(h, oh, x.dtype), self._matrix(w, ow, x.dtype)
        y = np.tensordot(np.tensordot(x, a_w, axes=([3], [1])), a_h, axes=([2], [1]))
        self._save_for_backward(x.shape, (oh, ow), a_h, a_w)
        return y.transpose(0, 1, 3, 2)  # tensordot left (N, C, ow, oh)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        x_shape, (oh, ow), a_h, a_w = self._saved()
        n, c, h, w = x_shape
        g = check_grad(self, grad_out, (n, c, oh, ow))
        if a_h is None:
            kh, kw = h // oh, w // ow
            dx = np.empty(x_shape, dtype=g.dtype)
            dx.reshape(n, c, oh, kh, ow, kw)[...] = (g / (kh * kw))[:, :, :, None, :, None]
            return dx
        # (N, C, oh, ow) . A_h -> (N, C, ow, H) . A_w -> (N, C, H, W)
        return np.tensordot(np.tensordot(g, a_h, axes=([2], [0])), a_w, axes=([2], [0]))

    def extra_repr(self) -> str:
        o = self.output_size
        return f"output_size={o[0] if o[0] == o[1] else o}"
