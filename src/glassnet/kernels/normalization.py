"""BatchNorm's tuned form: the textbook's passes (glassnet/nn/normalization.py) over
slices of the batch on glassnet's threads, the per-channel sums (einsum on an (N, C, L)
view) added from the slices' parts in slice order, so the numbers do not depend on the
thread count; y = x_centred * (weight * inv_std) + bias with the two per-channel
factors multiplied first (one pass fewer); in evaluation under ``no_grad`` (nothing
saved for backward) y = x * scale + shift, the mean folded into the shift
(``_fixed_affine``). Measurements: docs/performance.md, "ReLU and BatchNorm"."""

from __future__ import annotations

import numpy as np

from .._arrays import channel_dot, channel_sum
from .threads import batch_slices, parallel_map, sum_in_order
from .workspace import buffer

__all__ = ["forward", "backward"]


def forward(layer, x: np.ndarray, use_batch: bool, m: int, grad: bool) -> np.ndarray:
    """y; saves (x - mean, inv_std, use_batch) as the textbook does (``grad``: whether
    it saves); updates the running statistics in training mode."""
    shape = layer._shape(x.ndim)
    # Every pass below runs over slices of the batch on glassnet's threads; the
    # per-channel sums are added up from per-slice parts (see glassnet.kernels.threads).
    slices = batch_slices(len(x), 2 * x.nbytes)
    if not (use_batch or grad):  # inference: nothing to save, so no x - mean either
        return _fixed_affine(layer, x, slices)
    # x - mean, kept for backward: in the layer's workspace (glassnet/kernels/workspace.py)
    # when this forward saves for backward, so every step reuses its memory
    xc = buffer(layer, ("x_centred",), x.shape, x.dtype) if grad else np.empty_like(x)
    if use_batch:
        mean = sum_in_order(parallel_map(lambda s: channel_sum(x[s]), slices)) / m

        def centre(s: slice) -> np.ndarray:  # xc = x - mean, and sum(xc^2) of the slice
            np.subtract(x[s], mean.reshape(shape), out=xc[s])
            return channel_dot(xc[s], xc[s])

        var = sum_in_order(parallel_map(centre, slices)) / m
        if layer.training and layer.track_running_stats:
            layer._update_running(mean, var, m)
    else:
        mean, var = layer.running_mean, layer.running_var
        parallel_map(lambda s: np.subtract(x[s], mean.reshape(shape), out=xc[s]), slices)
    inv_std = (1.0 / np.sqrt(var + layer.eps)).astype(x.dtype)
    # y = weight * xc * inv_std + bias with the two per-channel factors multiplied
    # first: one pass over the activations fewer than normalising xc on its own.
    # Backward gets xc and inv_std, not xhat (xhat = xc * inv_std).
    scale = _scale(layer, inv_std).reshape(shape)
    y = np.empty_like(x)

    def normalise(s: slice) -> None:
        np.multiply(xc[s], scale, out=y[s])
        if layer.affine:
            y[s] += layer.bias.data.reshape(shape)

    parallel_map(normalise, slices)
    layer._save_for_backward(xc, inv_std, use_batch)
    return y


def _fixed_affine(layer, x: np.ndarray, slices) -> np.ndarray:
    """y for the running statistics when nothing is saved for backward (evaluation
    under ``no_grad``): the normalisation is then a fixed affine map per channel,

        y = (x - mean) * s + bias = x * s + (bias - mean * s),   s = weight / sqrt(var + eps)

    two operations on the activations instead of three, as PyTorch's CPU kernel does
    it. (Rounding: x * s and mean * s are rounded before they cancel, an error of about
    float32's spacing times |mean| * s, small beside y unless |mean| is many standard
    deviations.)"""
    shape = layer._shape(x.ndim)
    inv_std = (1.0 / np.sqrt(layer.running_var + layer.eps)).astype(x.dtype)
    scale = _scale(layer, inv_std)
    shift = -layer.running_mean * scale
    if layer.affine:
        shift = shift + layer.bias.data
    scale, shift = scale.astype(x.dtype).reshape(shape), shift.astype(x.dtype).reshape(shape)
    y = np.empty_like(x)

    def part(s: slice) -> None:
        np.multiply(x[s], scale, out=y[s])
        y[s] += shift

    parallel_map(part, slices)
    layer._save_for_backward(None)  # under no_grad: saves nothing
    return y


def _scale(layer, inv_std: np.ndarray) -> np.ndarray:
    """The per-channel factor of x - mean in y: weight / sqrt(var + eps), or
    1 / sqrt(var + eps) without the affine parameters."""
    return layer.weight.data * inv_std if layer.affine else inv_std


def backward(layer, g: np.ndarray, xc: np.ndarray, inv_std: np.ndarray, use_batch: bool):
    """dL/dx; adds dL/dweight and dL/dbias."""
    shape = layer._shape(xc.ndim)
    slices = batch_slices(len(g), 2 * g.nbytes)
    parts = parallel_map(lambda s: (channel_sum(g[s]), channel_dot(g[s], xc[s])), slices)
    sum_g = sum_in_order([p[0] for p in parts])
    sum_gx = sum_in_order([p[1] for p in parts]) * inv_std  # sum(g * xhat)
    if layer.affine:
        if layer.bias.requires_grad:
            layer.bias.grad += sum_g
        if layer.weight.requires_grad:
            layer.weight.grad += sum_gx
    scale = _scale(layer, inv_std).reshape(shape)
    dx = np.empty_like(g)
    if not use_batch:
        parallel_map(lambda s: np.multiply(g[s], scale, out=dx[s]), slices)
        return dx
    m = xc.size // layer.num_features
    k_x = (inv_std * sum_gx / m).reshape(shape)
    k_1 = (sum_g / m).reshape(shape)

    def input_grad(s: slice) -> None:
        # scale * (g - mean(g) - xhat * mean(g * xhat)), in place on one buffer
        d = dx[s]
        np.multiply(xc[s], k_x, out=d)
        np.subtract(g[s], d, out=d)
        d -= k_1
        d *= scale

    parallel_map(input_grad, slices)
    return dx
