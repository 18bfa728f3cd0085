"""Batch normalisation (Ioffe & Szegedy 2015): BatchNorm1d and BatchNorm2d.

Per channel c, over the M = N*H*W (or N*L, or N) values of the batch::

    mu = mean(x),  var = mean((x - mu)^2)           (biased variance)
    xhat = (x - mu) / sqrt(var + eps)
    y = weight * xhat + bias

Training mode normalises with the batch statistics and updates the running
estimates (``running_var`` uses the *unbiased* variance, M / (M - 1) * var)::

    running = (1 - momentum) * running + momentum * batch_statistic
    (momentum=None: a cumulative average over the batches seen so far)

Evaluation mode normalises with the running estimates instead (a fixed affine map).

Backward in training mode, with g = dL/dy and sums over the M values of a channel::

    dL/dbias   = sum(g)
    dL/dweight = sum(g * xhat)
    dL/dx      = weight / sqrt(var + eps) * (g - mean(g) - xhat * mean(g * xhat))

(the two subtracted means are the paths through mu and var). In evaluation mode
dL/dx = g * weight / sqrt(running_var + eps).
"""

from __future__ import annotations

import numpy as np

from .. import kernels
from ._checks import as_input, check_grad
from .module import Module, is_grad_enabled
from .parameter import Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d"]


class _BatchNorm(Module):
    _ndims: tuple[int, ...] = ()
    _layout = ""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        dtype=np.float32,
    ):
        super().__init__()
        if num_features <= 0:
            raise ValueError(f"{type(self).__name__}: num_features must be positive")
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        if self.affine:
            self.weight = Parameter(np.ones(num_features, dtype=dtype))
            self.bias = Parameter(np.zeros(num_features, dtype=dtype))
        else:
            self.weight = self.bias = None
        if self.track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", np.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked[...] = 0

    @property
    def dtype(self) -> np.dtype:
        if self.weight is not None:
            return self.weight.data.dtype
        return self.running_mean.dtype if self.running_mean is not None else np.dtype("float32")

    def _shape(self, ndim: int) -> tuple[int, ...]:
        """Broadcast shape of a per-channel vector: (1, C) or (1, C, 1[, 1])."""
        return (1, self.num_features) + (1,) * (ndim - 2)

    def _axes(self, ndim: int) -> tuple[int, ...]:
        """Every axis but the channel's: the M values a statistic sums over."""
        return (0, *range(2, ndim))

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = as_input(self, x, self._ndims, self._layout, 1, self.num_features)
        if self.running_mean is not None and x.dtype != self.running_mean.dtype:
            x = x.astype(self.running_mean.dtype)  # affine=False: the buffers set the dtype
        m = x.size // self.num_features
        use_batch = self.training or not self.track_running_stats
        if use_batch and m <= 1:
            raise ValueError(
                f"{type(self).__name__} needs more than 1 value per channel in training "
                f"mode, got input of shape {x.shape}"
            )
        if kernels.active():  # on threads: glassnet/kernels/normalization.py
            return kernels.normalization.forward(self, x, use_batch, m, is_grad_enabled())
        shape, axes = self._shape(x.ndim), self._axes(x.ndim)
        if use_batch:
            mean = x.mean(axis=axes)
            xc = x - mean.reshape(shape)
            var = (xc * xc).mean(axis=axes)
            if self.training and self.track_running_stats:
                self._update_running(mean, var, m)
        else:
            xc = x - self.running_mean.reshape(shape)
            var = self.running_var
        inv_std = (1.0 / np.sqrt(var + self.eps)).astype(x.dtype)  # 1 / sqrt(var + eps)
        y = xc * inv_std.reshape(shape)  # xhat
        if self.affine:
            y = self.weight.data.reshape(shape) * y + self.bias.data.reshape(shape)
        self._save_for_backward(xc, inv_std, use_batch)
        return y

    def _update_running(self, mean, var, m) -> None:
        self.num_batches_tracked += 1
        if self.momentum is None:
            factor = 1.0 / float(self.num_batches_tracked)
        else:
            factor = float(self.momentum)
        unbiased = var * (m / (m - 1))
        self.running_mean *= 1 - factor
        self.running_mean += factor * mean
        self.running_var *= 1 - factor
        self.running_var += factor * unbiased

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        xc, inv_std, use_batch = self._saved()  # xhat = xc * inv_std
        g = check_grad(self, grad_out, xc.shape).astype(xc.dtype, copy=False)
        if kernels.active():  # on threads: glassnet/kernels/normalization.py
            return kernels.normalization.backward(self, g, xc, inv_std, use_batch)
        shape, axes = self._shape(xc.ndim), self._axes(xc.ndim)
        xhat = xc * inv_std.reshape(shape)
        sum_g, sum_gx = g.sum(axis=axes), (g * xhat).sum(axis=axes)
        if self.affine and self.bias.requires_grad:
            self.bias.grad += sum_g
        if self.affine and self.weight.requires_grad:
            self.weight.grad += sum_gx
        scale = (self.weight.data * inv_std if self.affine else inv_std).reshape(shape)
        if not use_batch:  # a fixed affine map
            return g * scale
        m = xc.size // self.num_features
        mean_g, mean_gx = (sum_g / m).reshape(shape), (sum_gx / m).reshape(shape)
        return scale * (g - mean_g - xhat * mean_gx)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) input; statistics per channel C."""

    _ndims = (2, 3)
    _layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) input; statistics per channel C."""

    _ndims = (4,)
    _layout = "(N, C, H, W)"
