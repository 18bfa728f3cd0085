"""The textbook versions: forward and backward as plain loops, one number at a time.

This is the code a student writes first, straight from the definitions. It is slow
(Python loops over samples, channels and pixels) and that is the point: it is easy
to check by eye, the tests hold the layers (both paths) equal to it, and the speed lesson
(``glassnet bench``) measures how much vectorising buys.

All functions take plain arrays (NCHW) and return new arrays; padding is zeros for
convolution and average pooling, -inf for max pooling. Ties in max pooling go to the
first maximum in row-major window order, as in PyTorch. The losses return the loss and
its gradient with respect to the input together.
"""

from __future__ import annotations

import math

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
    "batchnorm_forward",
    "batchnorm_backward",
    "relu_forward",
    "relu_backward",
    "leaky_relu_forward",
    "leaky_relu_backward",
    "sigmoid_forward",
    "sigmoid_backward",
    "tanh_forward",
    "tanh_backward",
    "gelu_forward",
    "gelu_backward",
    "softmax_forward",
    "softmax_backward",
    "log_softmax_forward",
    "log_softmax_backward",
    "dropout_forward",
    "dropout_backward",
    "cross_entropy",
    "nll_loss",
    "mse_loss",
    "residual_forward",
    "residual_backward",
    "concat_forward",
    "concat_backward",
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


# ----------------------------------------------------------------------------- BatchNorm
def _channel_values(x):
    """(N, C, ...) seen as (N, C, L): value l of sample n in channel c is x3[n, c, l]."""
    return x.reshape(x.shape[0], x.shape[1], -1) if x.size else x.reshape(*x.shape[:2], 0)


def batchnorm_forward(x, weight=None, bias=None, eps=1e-5, mean=None, var=None):
    """Per channel c, over its M = N*L values (L pixels, or 1):
    y = weight[c] * (x - mu[c]) / sqrt(var[c] + eps) + bias[c].

    Training mode (``mean``/``var`` None): mu and var are the batch's mean and biased
    variance, summed one value at a time. Evaluation mode: the given running ones.
    Returns (y, mu, var)."""
    x3 = _channel_values(x)
    n, c, pixels = x3.shape
    if mean is None:
        mean, var = np.zeros(c), np.zeros(c)
        for ch in range(c):
            total = 0.0
            for s in range(n):
                for l in range(pixels):
                    total += x3[s, ch, l]
            mean[ch] = total / (n * pixels)
            total = 0.0
            for s in range(n):
                for l in range(pixels):
                    total += (x3[s, ch, l] - mean[ch]) ** 2
            var[ch] = total / (n * pixels)
    y = np.zeros(x3.shape, dtype=x.dtype)
    for ch in range(c):
        scale = 1.0 / math.sqrt(var[ch] + eps)
        w = 1.0 if weight is None else weight[ch]
        b = 0.0 if bias is None else bias[ch]
        for s in range(n):
            for l in range(pixels):
                y[s, ch, l] = w * (x3[s, ch, l] - mean[ch]) * scale + b
    return y.reshape(x.shape), np.asarray(mean), np.asarray(var)


def batchnorm_backward(x, grad_out, weight=None, eps=1e-5, mean=None, var=None):
    """Returns (dx, dweight, dbias). Per channel, with xhat_i = (x_i - mu) / sqrt(var +
    eps) and dxhat_i = g_i * weight: dbias = sum g_i, dweight = sum g_i * xhat_i, and

        training:    dx_i = (M * dxhat_i - sum_k dxhat_k - xhat_i * sum_k dxhat_k * xhat_k)
                            / (M * sqrt(var + eps))    (mu and var depend on every x_k)
        evaluation:  dx_i = dxhat_i / sqrt(var + eps)  (``mean``/``var`` given: fixed)
    """
    training = mean is None
    if training:
        _, mean, var = batchnorm_forward(x, eps=eps)
    x3, g3 = _channel_values(x), _channel_values(grad_out)
    n, c, pixels = x3.shape
    m = n * pixels
    dx = np.zeros(x3.shape, dtype=x.dtype)
    dweight, dbias = np.zeros(c), np.zeros(c)
    for ch in range(c):
        inv_std = 1.0 / math.sqrt(var[ch] + eps)
        w = 1.0 if weight is None else weight[ch]
        sum_dxhat = sum_dxhat_xhat = 0.0
        for s in range(n):
            for l in range(pixels):
                xhat = (x3[s, ch, l] - mean[ch]) * inv_std
                dbias[ch] += g3[s, ch, l]
                dweight[ch] += g3[s, ch, l] * xhat
                sum_dxhat += g3[s, ch, l] * w
                sum_dxhat_xhat += g3[s, ch, l] * w * xhat
        for s in range(n):
            for l in range(pixels):
                dxhat = g3[s, ch, l] * w
                if not training:
                    dx[s, ch, l] = dxhat * inv_std
                    continue
                xhat = (x3[s, ch, l] - mean[ch]) * inv_std
                dx[s, ch, l] = (m * dxhat - sum_dxhat - xhat * sum_dxhat_xhat) * inv_std / m
    return dx.reshape(x.shape), dweight, dbias


# ----------------------------------------------------------------------------- activations
def _elementwise(x, f):
    y = np.zeros(x.shape, dtype=np.result_type(x, np.float32))
    for index in np.ndindex(*x.shape):
        y[index] = f(float(x[index]))
    return y


def relu_forward(x):
    """y = x if x > 0 else 0, one value at a time."""
    return _elementwise(x, lambda v: v if v > 0 else 0.0)


def relu_backward(x, grad_out):
    """dL/dx = g where x > 0, else 0."""
    return _elementwise(x, lambda v: 1.0 if v > 0 else 0.0) * grad_out


def leaky_relu_forward(x, negative_slope=0.01):
    return _elementwise(x, lambda v: v if v > 0 else negative_slope * v)


def leaky_relu_backward(x, grad_out, negative_slope=0.01):
    return _elementwise(x, lambda v: 1.0 if v > 0 else negative_slope) * grad_out


def _sigmoid(v):
    if v >= 0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)  # the same value, without overflowing exp(-v) for very negative v
    return e / (1.0 + e)


def sigmoid_forward(x):
    """y = 1 / (1 + exp(-x))."""
    return _elementwise(x, _sigmoid)


def sigmoid_backward(x, grad_out):
    """dL/dx = g * y * (1 - y)."""
    return _elementwise(x, lambda v: _sigmoid(v) * (1.0 - _sigmoid(v))) * grad_out


def tanh_forward(x):
    return _elementwise(x, math.tanh)


def tanh_backward(x, grad_out):
    """dL/dx = g * (1 - tanh(x)^2)."""
    return _elementwise(x, lambda v: 1.0 - math.tanh(v) ** 2) * grad_out


def _gelu_gate(v, approximate):
    """(Phi(v), dPhi/dv): the standard normal CDF and density, or the tanh form's."""
    if approximate == "tanh":
        c = math.sqrt(2.0 / math.pi)
        u = c * (v + 0.044715 * v**3)
        du_dv = c * (1.0 + 3 * 0.044715 * v * v)
        return 0.5 * (1.0 + math.tanh(u)), 0.5 * du_dv / math.cosh(u) ** 2
    return 0.5 * math.erfc(-v / math.sqrt(2.0)), math.exp(-v * v / 2) / math.sqrt(2 * math.pi)


def gelu_forward(x, approximate="none"):
    """y = x Phi(x), one value at a time."""
    return _elementwise(x, lambda v: v * _gelu_gate(v, approximate)[0])


def gelu_backward(x, grad_out, approximate="none"):
    """dL/dx = g * (Phi(x) + x Phi'(x))."""

    def slope(v):
        cdf, density = _gelu_gate(v, approximate)
        return cdf + v * density

    return _elementwise(x, slope) * grad_out


def _rows_along(x, dim):
    """Every 1-D line of x along ``dim``: a list of index tuples, one list per line."""
    shape = list(x.shape)
    length = shape[dim]
    shape[dim] = 1
    lines = []
    for start in np.ndindex(*shape):
        lines.append([start[:dim] + (k,) + start[dim + 1 :] for k in range(length)])
    return lines


def softmax_forward(x, dim):
    """y_k = exp(x_k - max) / sum_j exp(x_j - max) along ``dim``."""
    y = np.zeros(x.shape, dtype=x.dtype)
    for line in _rows_along(x, dim):
        top = max(x[i] for i in line)
        total = sum(math.exp(x[i] - top) for i in line)
        for i in line:
            y[i] = math.exp(x[i] - top) / total
    return y


def softmax_backward(x, grad_out, dim):
    """dL/dx_k = sum_j g_j * dy_j/dx_k,  dy_j/dx_k = y_j * ([j = k] - y_k)."""
    y = softmax_forward(x, dim)
    dx = np.zeros(x.shape, dtype=x.dtype)
    for line in _rows_along(x, dim):
        for k in line:
            dx[k] = sum(grad_out[j] * y[j] * ((j == k) - y[k]) for j in line)
    return dx


def log_softmax_forward(x, dim):
    """y_k = x_k - max - log sum_j exp(x_j - max) along ``dim``."""
    y = np.zeros(x.shape, dtype=x.dtype)
    for line in _rows_along(x, dim):
        top = max(x[i] for i in line)
        log_total = math.log(sum(math.exp(x[i] - top) for i in line))
        for i in line:
            y[i] = x[i] - top - log_total
    return y


def log_softmax_backward(x, grad_out, dim):
    """dL/dx_k = sum_j g_j * ([j = k] - softmax(x)_k)."""
    p = softmax_forward(x, dim)
    dx = np.zeros(x.shape, dtype=x.dtype)
    for line in _rows_along(x, dim):
        for k in line:
            dx[k] = sum(grad_out[j] * ((j == k) - p[k]) for j in line)
    return dx


# ----------------------------------------------------------------------------- Dropout
def dropout_forward(x, keep, p):
    """y = x / (1 - p) where ``keep`` (a boolean mask: the units kept) is True, else 0."""
    y = np.zeros(x.shape, dtype=x.dtype)
    for index in np.ndindex(*x.shape):
        y[index] = x[index] / (1 - p) if keep[index] else 0.0
    return y


def dropout_backward(grad_out, keep, p):
    """dL/dx = g / (1 - p) where the unit was kept, else 0."""
    return dropout_forward(grad_out, keep, p)


# ----------------------------------------------------------------------------- losses
def _reduce(per_sample, grads, normalizer, reduction, grad_out):
    """The loss and dL/dinput from per-sample losses and their gradients (one row each)."""
    n = len(per_sample)
    if reduction == "none":
        upstream = np.ones(n) if grad_out is None else np.asarray(grad_out, dtype=np.float64)
        dx = np.zeros_like(grads)
        for i in range(n):
            dx[i] = grads[i] * upstream[i]
        return np.asarray(per_sample), dx
    scale = 1.0 if grad_out is None else float(grad_out)
    total = sum(per_sample)
    if reduction == "mean":
        total = total / normalizer if normalizer > 0 else float("nan")
        scale = scale / normalizer if normalizer > 0 else 0.0
    return float(total), grads * scale


def cross_entropy(
    logits,
    target,
    weight=None,
    ignore_index=-100,
    reduction="mean",
    label_smoothing=0.0,
    grad_out=None,
):
    """Returns (loss, dL/dlogits). Sample i: p = softmax(z_i), target distribution q
    (class index y: q_c = (1 - eps) * w[y] * [c = y] + eps * w[c] / C; probabilities t:
    q_c = ((1 - eps) * t_c + eps / C) * w[c]), loss_i = -sum_c q_c log p_c and
    dloss_i/dz_c = p_c * sum_j q_j - q_c. 'mean' divides by sum_i w[y_i] (N for
    probability targets); an ignored sample counts nothing."""
    n, c = logits.shape
    w = np.ones(c) if weight is None else np.asarray(weight, dtype=np.float64)
    eps = label_smoothing
    target = np.asarray(target)
    per_sample, grads, normalizer = [], np.zeros((n, c)), 0.0
    for i in range(n):
        if target.ndim == 2:
            q = [((1 - eps) * target[i, k] + eps / c) * w[k] for k in range(c)]
            normalizer += 1
        elif target[i] == ignore_index:
            per_sample.append(0.0)
            continue
        else:
            y = int(target[i])
            q = [eps * w[k] / c + ((1 - eps) * w[y] if k == y else 0.0) for k in range(c)]
            normalizer += w[y]
        top = max(logits[i])
        log_total = math.log(sum(math.exp(logits[i, k] - top) for k in range(c)))
        logp = [logits[i, k] - top - log_total for k in range(c)]
        per_sample.append(-sum(q[k] * logp[k] for k in range(c) if q[k] != 0))
        for k in range(c):
            grads[i, k] = math.exp(logp[k]) * sum(q) - q[k]
    loss, dx = _reduce(per_sample, grads, normalizer, reduction, grad_out)
    return loss, dx.astype(logits.dtype)


def nll_loss(log_probs, target, weight=None, ignore_index=-100, reduction="mean", grad_out=None):
    """Returns (loss, dL/dinput): loss_i = -w[y_i] * x[i, y_i]; its gradient is -w[y_i]
    at (i, y_i), 0 elsewhere; 'mean' divides by sum_i w[y_i]."""
    n, c = log_probs.shape
    w = np.ones(c) if weight is None else np.asarray(weight, dtype=np.float64)
    per_sample, grads, normalizer = [], np.zeros((n, c)), 0.0
    for i in range(n):
        y = int(target[i])
        if y == ignore_index:
            per_sample.append(0.0)
            continue
        per_sample.append(-w[y] * log_probs[i, y])
        grads[i, y] = -w[y]
        normalizer += w[y]
    loss, dx = _reduce(per_sample, grads, normalizer, reduction, grad_out)
    return loss, dx.astype(log_probs.dtype)


def mse_loss(x, target, reduction="mean", grad_out=None):
    """Returns (loss, dL/dx): the squared differences (x - t)^2, summed ('sum'),
    averaged over all values ('mean') or kept ('none'); d/dx (x - t)^2 = 2 (x - t)."""
    squares = np.zeros(x.shape)
    grads = np.zeros(x.shape)
    for index in np.ndindex(*x.shape):
        d = float(x[index]) - float(target[index])
        squares[index] = d * d
        grads[index] = 2 * d
    if reduction == "none":
        upstream = np.ones(x.shape) if grad_out is None else grad_out
        return squares.astype(x.dtype), (grads * upstream).astype(x.dtype)
    scale = 1.0 if grad_out is None else float(grad_out)
    total = 0.0
    for index in np.ndindex(*x.shape):
        total += squares[index]
    if reduction == "mean":
        total, scale = total / x.size, scale / x.size
    return total, (grads * scale).astype(x.dtype)


# ----------------------------------------------------------------------------- skip links
def residual_forward(body_out, shortcut_out):
    """A residual block's output: y = F(x) + s(x), one value at a time (F: the body's
    output, s: the shortcut's, x itself for an identity shortcut)."""
    y = np.zeros(body_out.shape, dtype=body_out.dtype)
    for index in np.ndindex(*y.shape):
        y[index] = body_out[index] + shortcut_out[index]
    return y


def residual_backward(grad_out, body_input_grad, shortcut_input_grad):
    """The sum sends g unchanged into both branches (dy/dF = dy/ds = 1). Given each
    branch's dL/dx for that g, the block's dL/dx is their sum: the input feeds both."""
    return residual_forward(body_input_grad, shortcut_input_grad)


def concat_forward(outputs):
    """Each branch's output flattened to (N, size_b), laid side by side: (N, sum size_b)."""
    n = outputs[0].shape[0]
    sizes = [math.prod(o.shape[1:]) for o in outputs]
    y = np.zeros((n, sum(sizes)), dtype=np.result_type(*outputs))
    for s in range(n):
        column = 0
        for o, size in zip(outputs, sizes):
            flat = o[s].reshape(-1)
            for k in range(size):
                y[s, column] = flat[k]
                column += 1
    return y


def concat_backward(grad_out, shapes):
    """The gradient of each branch's output: its columns of g, in its own shape."""
    grads, column = [], 0
    for shape in shapes:
        size = math.prod(shape[1:])
        g = np.zeros((shape[0], size), dtype=grad_out.dtype)
        for s in range(shape[0]):
            for k in range(size):
                g[s, k] = grad_out[s, column + k]
        grads.append(g.reshape(shape))
        column += size
    return grads
