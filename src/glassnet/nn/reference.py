"""The textbook versions: forward and backward as plain loops, one number at a time.

This is the code a student writes first, straight from the definitions. It is slow
(Python loops over samples, channels and pixels) and that is the point: it is easy
to check by eye, the tests hold the fast layers equal to it, and the speed lesson
(``glassnet bench``) measures how much vectorising buys.

All functions take plain arrays (NCHW) and return new arrays; padding is zeros for
convolution and average pooling, -inf for max pooling. Ties in max pooling go to the
first maximum in row-major window order, as in PyTorch.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "linear_forward",
    "linear_backward",
    "conv2d_forward",
    "conv2d_backward",
    "maxpool2d_forward",
    "maxpool2d_backward",
    "avgpool2d_forward",
    "avgpool2d_backward",
    "adaptive_avgpool2d_forward",
    "adaptive_avgpool2d_backward",
]


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _out(size, k, s, p, d=1, ceil_mode=False):
    """Output size; ``ceil_mode`` rounds up, but a last window must start inside the
    input or its left padding (PyTorch's rule)."""
    span = size + 2 * p - d * (k - 1) - 1
    if not ceil_mode:
        return span // s + 1
    out = -(-span // s) + 1
    return out - 1 if (out - 1) * s >= size + p else out


# ----------------------------------------------------------------------------- Linear
def linear_forward(x, weight, bias=None):
    """y[n, o] = sum_i x[n, i] * W[o, i] + b[o]"""
    n, fan_in = x.shape
    fan_out = weight.shape[0]
    y = np.zeros((n, fan_out), dtype=x.dtype)
    for s in range(n):
        for o in range(fan_out):
            total = 0.0 if bias is None else bias[o]
            for i in range(fan_in):
                total += x[s, i] * weight[o, i]
            y[s, o] = total
    return y


def linear_backward(x, weight, grad_out):
    """Returns (dx, dW, db) from dL/dy, one product at a time."""
    n, fan_in = x.shape
    fan_out = weight.shape[0]
    dx = np.zeros_like(x)
    dw = np.zeros_like(weight)
    db = np.zeros(fan_out, dtype=weight.dtype)
    for s in range(n):
        for o in range(fan_out):
            g = grad_out[s, o]
            db[o] += g
            for i in range(fan_in):
                dw[o, i] += g * x[s, i]
                dx[s, i] += g * weight[o, i]
    return dx, dw, db


# ----------------------------------------------------------------------------- Conv2d
def conv2d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """y[n,o,i,j] = b[o] + sum_{c,a,b} W[o,c,a,b] * xpad[n, g*Cg + c, i*s + a*d, j*s + b*d]"""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    n, c_in, h, w = x.shape
    c_out, c_per_group, kh, kw = weight.shape
    out_per_group = c_out // groups
    ho, wo = _out(h, kh, sh, ph, dh), _out(w, kw, sw, pw, dw)
    xp = np.zeros((n, c_in, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    xp[:, :, ph : ph + h, pw : pw + w] = x
    y = np.zeros((n, c_out, ho, wo), dtype=x.dtype)
    for s in range(n):
        for o in range(c_out):
            first_channel = (o // out_per_group) * c_per_group
            for i in range(ho):
                for j in range(wo):
                    total = 0.0 if bias is None else bias[o]
                    for c in range(c_per_group):
                        for a in range(kh):
                            for b in range(kw):
                                total += (
                                    weight[o, c, a, b]
                                    * xp[s, first_channel + c, i * sh + a * dh, j * sw + b * dw]
                                )
                    y[s, o, i, j] = total
    return y


def conv2d_backward(x, weight, grad_out, stride=1, padding=0, dilation=1, groups=1):
    """Returns (dx, dW, db): every product in the forward sends its gradient back."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    n, c_in, h, w = x.shape
    c_out, c_per_group, kh, kw = weight.shape
    out_per_group = c_out // groups
    ho, wo = grad_out.shape[2:]
    xp = np.zeros((n, c_in, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    xp[:, :, ph : ph + h, pw : pw + w] = x
    dxp = np.zeros_like(xp)
    dw_ = np.zeros_like(weight)
    db = np.zeros(c_out, dtype=weight.dtype)
    for s in range(n):
        for o in range(c_out):
            first_channel = (o // out_per_group) * c_per_group
            for i in range(ho):
                for j in range(wo):
                    g = grad_out[s, o, i, j]
                    db[o] += g
                    for c in range(c_per_group):
                        for a in range(kh):
                            for b in range(kw):
                                r, q = i * sh + a * dh, j * sw + b * dw
                                dw_[o, c, a, b] += g * xp[s, first_channel + c, r, q]
                                dxp[s, first_channel + c, r, q] += g * weight[o, c, a, b]
    return dxp[:, :, ph : ph + h, pw : pw + w], dw_, db


# ----------------------------------------------------------------------------- pooling
def _pool_windows(x, kernel_size, stride, padding, dilation, fill, ceil_mode=False):
    (kh, kw), (ph, pw), (dh, dw) = _pair(kernel_size), _pair(padding), _pair(dilation)
    sh, sw = _pair(kernel_size if stride is None else stride)
    n, c, h, w = x.shape
    ho, wo = _out(h, kh, sh, ph, dh, ceil_mode), _out(w, kw, sw, pw, dw, ceil_mode)
    # room for every window: ceil_mode's last one may reach past the right padding
    hp = max(h + 2 * ph, (ho - 1) * sh + dh * (kh - 1) + 1)
    wp = max(w + 2 * pw, (wo - 1) * sw + dw * (kw - 1) + 1)
    xp = np.full((n, c, hp, wp), fill, dtype=x.dtype)
    xp[:, :, ph : ph + h, pw : pw + w] = x
    return xp, (kh, kw), (sh, sw), (ph, pw), (dh, dw), (ho, wo)


def maxpool2d_forward(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """y[n, c, i, j] = max_{a, b} xpad[n, c, i*s + a*d, j*s + b*d]  (NaN if any is NaN)"""
    return _maxpool2d(x, None, kernel_size, stride, padding, dilation, ceil_mode)


def maxpool2d_backward(
    x, grad_out, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False
):
    """dL/dx: each output's gradient goes to the position :func:`_maxpool2d` picks."""
    return _maxpool2d(x, grad_out, kernel_size, stride, padding, dilation, ceil_mode)


def _maxpool2d(x, grad_out, kernel_size, stride, padding, dilation, ceil_mode):
    """PyTorch's scan of each window: start at its first pixel inside the image, move to
    a pixel when ``value > max or isnan(value)``. So ties go to the first maximum, NaN
    wins (the last NaN), and a window of -inf's keeps its first inside pixel. Padding is
    never a candidate. Returns y, or dL/dx when ``grad_out`` is given."""
    xp, (kh, kw), (sh, sw), (ph, pw), (dh, dw), (ho, wo) = _pool_windows(
        x, kernel_size, stride, padding, dilation, -np.inf, ceil_mode
    )
    n, c, h, w = x.shape
    y = np.zeros((n, c, ho, wo), dtype=x.dtype)
    dxp = np.zeros_like(xp)
    for s in range(n):
        for ch in range(c):
            for i in range(ho):
                for j in range(wo):
                    best, where = -np.inf, None
                    for a in range(kh):
                        for b in range(kw):
                            r, q = i * sh + a * dh, j * sw + b * dw
                            if not (ph <= r < ph + h and pw <= q < pw + w):
                                continue  # padding
                            v = xp[s, ch, r, q]
                            if where is None or v > best or np.isnan(v):
                                best, where = v, (r, q)
                    y[s, ch, i, j] = best
                    if grad_out is not None:
                        dxp[s, ch, where[0], where[1]] += grad_out[s, ch, i, j]
    return y if grad_out is None else dxp[:, :, ph : ph + h, pw : pw + w]


def avgpool2d_forward(
    x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
    divisor_override=None,
):  # fmt: skip
    """y[n, c, i, j] = sum over the window / its divisor (:func:`_avg_divisor`)."""
    return _avgpool2d(
        x, None, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
    )


def avgpool2d_backward(
    x, grad_out, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
    divisor_override=None,
):  # fmt: skip
    """dL/dx: each output's gradient / divisor goes to every pixel of its window."""
    return _avgpool2d(
        x, grad_out, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
    )


def _avg_divisor(start, k, size, p, count_include_pad):
    """How many pixels a window starting at ``start`` (in unpadded coordinates) counts
    along one axis: those inside the input and its padding (count_include_pad; a
    ceil_mode window reaching past the padding is cut there), or inside the input only."""
    end = min(start + k, size + p)
    if not count_include_pad:
        start, end = max(start, 0), min(end, size)
    return end - start


def _avgpool2d(x, grad_out, kernel_size, stride, padding, ceil_mode, count_include_pad, override):
    xp, (kh, kw), (sh, sw), (ph, pw), _, (ho, wo) = _pool_windows(
        x, kernel_size, stride, padding, 1, 0, ceil_mode
    )
    n, c, h, w = x.shape
    y = np.zeros((n, c, ho, wo), dtype=x.dtype)
    dxp = np.zeros_like(xp)
    for i in range(ho):
        for j in range(wo):
            divisor = override or (
                _avg_divisor(i * sh - ph, kh, h, ph, count_include_pad)
                * _avg_divisor(j * sw - pw, kw, w, pw, count_include_pad)
            )
            for s in range(n):
                for ch in range(c):
                    total = 0.0
                    for a in range(kh):
                        for b in range(kw):
                            total += xp[s, ch, i * sh + a, j * sw + b]
                            if grad_out is not None:
                                dxp[s, ch, i * sh + a, j * sw + b] += (
                                    grad_out[s, ch, i, j] / divisor
                                )
                    y[s, ch, i, j] = total / divisor
    return y if grad_out is None else dxp[:, :, ph : ph + h, pw : pw + w]


def adaptive_avgpool2d_forward(x, output_size):
    """y[n, c, i, j] = mean of x over rows [floor(i*H/oh), ceil((i+1)*H/oh)) and the
    same rule for columns (PyTorch's cells, which may overlap)."""
    return _adaptive_avgpool2d(x, None, output_size)


def adaptive_avgpool2d_backward(x, grad_out, output_size):
    """dL/dx: each output's gradient, divided by its cell's size, to every pixel of it."""
    return _adaptive_avgpool2d(x, grad_out, output_size)


def _adaptive_avgpool2d(x, grad_out, output_size):
    n, c, h, w = x.shape
    oh, ow = _pair(output_size)
    y = np.zeros((n, c, oh, ow), dtype=x.dtype)
    dx = np.zeros_like(x)
    for i in range(oh):
        r0, r1 = (i * h) // oh, -(-((i + 1) * h) // oh)
        for j in range(ow):
            q0, q1 = (j * w) // ow, -(-((j + 1) * w) // ow)
            size = (r1 - r0) * (q1 - q0)
            for s in range(n):
                for ch in range(c):
                    total = 0.0
                    for r in range(r0, r1):
                        for q in range(q0, q1):
                            total += x[s, ch, r, q]
                            if grad_out is not None:
                                dx[s, ch, r, q] += grad_out[s, ch, i, j] / size
                    y[s, ch, i, j] = total / size
    return y if grad_out is None else dx
