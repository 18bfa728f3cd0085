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
]


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _out(size, k, s, p, d=1):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


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
def _pool_windows(x, kernel_size, stride, padding, dilation, fill):
    (kh, kw), (ph, pw), (dh, dw) = _pair(kernel_size), _pair(padding), _pair(dilation)
    sh, sw = _pair(kernel_size if stride is None else stride)
    n, c, h, w = x.shape
    ho, wo = _out(h, kh, sh, ph, dh), _out(w, kw, sw, pw, dw)
    xp = np.full((n, c, h + 2 * ph, w + 2 * pw), fill, dtype=x.dtype)
    xp[:, :, ph : ph + h, pw : pw + w] = x
    return xp, (kh, kw), (sh, sw), (ph, pw), (dh, dw), (ho, wo)


def maxpool2d_forward(x, kernel_size, stride=None, padding=0, dilation=1):
    """y[n, c, i, j] = max_{a, b} xpad[n, c, i*s + a*d, j*s + b*d]  (NaN if any is NaN)"""
    return _maxpool2d(x, None, kernel_size, stride, padding, dilation)


def maxpool2d_backward(x, grad_out, kernel_size, stride=None, padding=0, dilation=1):
    """dL/dx: each output's gradient goes to the position :func:`_maxpool2d` picks."""
    return _maxpool2d(x, grad_out, kernel_size, stride, padding, dilation)


def _maxpool2d(x, grad_out, kernel_size, stride, padding, dilation):
    """PyTorch's scan of each window: start at its first pixel inside the image, move to
    a pixel when ``value > max or isnan(value)``. So ties go to the first maximum, NaN
    wins (the last NaN), and a window of -inf's keeps its first inside pixel. Padding is
    never a candidate. Returns y, or dL/dx when ``grad_out`` is given."""
    xp, (kh, kw), (sh, sw), (ph, pw), (dh, dw), (ho, wo) = _pool_windows(
        x, kernel_size, stride, padding, dilation, -np.inf
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


def avgpool2d_forward(x, kernel_size, stride=None, padding=0):
    """y[n, c, i, j] = mean over the kh*kw window (padding zeros included in the count)."""
    xp, (kh, kw), (sh, sw), _, _, (ho, wo) = _pool_windows(x, kernel_size, stride, padding, 1, 0)
    n, c = x.shape[:2]
    y = np.zeros((n, c, ho, wo), dtype=x.dtype)
    for s in range(n):
        for ch in range(c):
            for i in range(ho):
                for j in range(wo):
                    total = 0.0
                    for a in range(kh):
                        for b in range(kw):
                            total += xp[s, ch, i * sh + a, j * sw + b]
                    y[s, ch, i, j] = total / (kh * kw)
    return y


def avgpool2d_backward(x, grad_out, kernel_size, stride=None, padding=0):
    """dL/dx: each output's gradient is shared equally by the kh*kw pixels of its window."""
    xp, (kh, kw), (sh, sw), (ph, pw), _, (ho, wo) = _pool_windows(
        x, kernel_size, stride, padding, 1, 0
    )
    n, c, h, w = x.shape
    dxp = np.zeros_like(xp)
    for s in range(n):
        for ch in range(c):
            for i in range(ho):
                for j in range(wo):
                    share = grad_out[s, ch, i, j] / (kh * kw)
                    for a in range(kh):
                        for b in range(kw):
                            dxp[s, ch, i * sh + a, j * sw + b] += share
    return dxp[:, :, ph : ph + h, pw : pw + w]
