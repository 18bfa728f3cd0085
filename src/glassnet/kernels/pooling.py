"""MaxPool2d's and AvgPool2d's tuned forms: the textbook's loop over the kernel offsets
(glassnet/nn/pooling.py) on slices of the batch on glassnet's threads (a large batch,
SLICES_MIN_BYTES, as for ReLU), each slice worked through in blocks of samples of about
POOL_BLOCK_BYTES, so that the passes over a block after the first read it from the
core's cache, not from memory; max pooling keeps the index of each window's first
maximum in uint8 (``_winners``: three passes per offset, no copied windows), and
windows that do not overlap write their gradient instead of adding it. The numbers
depend neither on the thread count nor on the block size (each output is one window's
max or sum, each gradient one window's share). Measurements: docs/performance.md,
"Pooling"."""

from __future__ import annotations

import numpy as np

from .._arrays import offset_slice
from .ops import pad2d
from .threads import batch_slices, parallel_map

__all__ = ["maxpool_forward", "maxpool_backward", "avgpool_forward", "avgpool_backward"]

POOL_BLOCK_BYTES = 1 << 20  # input (or its gradient) per block: fits in one core's L2


def _in_blocks(block, n: int, pass_bytes: int, sample_bytes: int) -> None:
    """Run ``block`` on runs of whole samples of about POOL_BLOCK_BYTES (at least one
    sample) that cover ``range(n)``: the batch's slices on glassnet's threads, each
    slice worked through run by run."""
    step = max(1, POOL_BLOCK_BYTES // max(sample_bytes, 1))

    def part(s: slice) -> None:  # a slice of the batch, on glassnet's threads
        for i in range(s.start, s.stop, step):
            block(slice(i, min(i + step, s.stop)))

    parallel_map(part, batch_slices(n, pass_bytes))


def _disjoint(layer) -> bool:
    """True when windows do not overlap (stride >= window span on both axes)."""
    return all(
        s >= d * (k - 1) + 1 for s, d, k in zip(layer.stride, layer.dilation, layer.kernel_size)
    )


def maxpool_forward(layer, x: np.ndarray, out_hw, pads, keep: bool) -> np.ndarray:
    """y, and (if ``keep``) the winners saved for backward as the textbook saves them."""
    xp = pad2d(x, *pads, value=-np.inf)
    y = np.empty((*x.shape[:2], *out_hw), dtype=x.dtype)
    offsets = layer._offsets()
    winners = np.empty(y.shape, dtype=_winner_dtype(len(offsets))) if keep else None

    def block(s: slice) -> None:
        xs, ys = xp[s], y[s]
        windows = [xs[offset_slice(a, b, layer.stride, layer.dilation, out_hw)] for a, b in offsets]
        np.copyto(ys, windows[0])
        for w in windows[1:]:
            np.maximum(ys, w, out=ys)
        if keep:
            _winners(windows, ys, out=winners[s])
            if ys.size and not np.isfinite(ys.min()):  # NaN or -inf: rare, see below
                inside = layer._inside(x.shape[2:], pads, out_hw)
                _nonfinite_winners(windows, inside, ys, out=winners[s])

    _in_blocks(block, len(x), 2 * x.nbytes, xp[:1].nbytes)
    if keep:
        layer._save_for_backward(winners, xp.shape, x.shape, pads)
    return y


def maxpool_backward(layer, g: np.ndarray, winners, padded_shape, x_shape, pads) -> np.ndarray:
    dxp = np.empty(padded_shape, dtype=np.result_type(g.dtype, np.float32))
    disjoint = _disjoint(layer)
    offsets = layer._offsets()

    def block(s: slice) -> None:
        dxs, gs, ws = dxp[s], g[s], winners[s]
        dxs[...] = 0
        won = np.empty(ws.shape, dtype=bool)
        for k, (a, b) in enumerate(offsets):
            _first_max_is(ws, k, out=won)
            target = dxs[offset_slice(a, b, layer.stride, layer.dilation, ws.shape[2:])]
            if disjoint:  # each input pixel is in one window: write, don't accumulate
                np.multiply(gs, won, out=target)
            else:
                target += gs * won

    _in_blocks(block, len(g), 2 * dxp.nbytes, dxp[:1].nbytes)
    top, _, left, _ = pads
    return dxp[:, :, top : top + x_shape[2], left : left + x_shape[3]]


def _nonfinite_winners(windows, inside, y, out) -> None:
    """Correct ``out`` (from :func:`_winners`) where a window's maximum is NaN or -inf,
    to PyTorch's choice; a pass over the windows, run only when such windows exist.

    PyTorch scans a window's pixels inside the image in order, starting from the first
    one, and moves to a pixel when ``value > max or isnan(value)``. So a NaN window's
    gradient goes to its *last* NaN (``_winners`` picks the last offset, as NaN differs
    from everything), and a window of -inf's keeps the first pixel inside the image,
    while ``_winners`` picks the first offset, which may be padding (also -inf).
    """
    nan = np.isnan(y)
    if nan.any():
        for k, w in enumerate(windows):
            out[nan & np.isnan(w)] = k
    ninf = y == -np.inf
    if ninf.any():
        for k in reversed(range(len(windows))):  # the first inside offset is written last
            out[ninf & inside[k]] = k


def _winner_dtype(offsets: int) -> type:
    return np.uint8 if offsets <= 256 else np.int32


def _winners(windows: list[np.ndarray], y: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Index of the kernel offset that holds each window's first maximum (PyTorch's tie
    rule), for the backward pass, written into ``out`` (uint8 up to 256 offsets, else
    int32: ``_winner_dtype``).

    The index of the first maximum is the number of offsets before it, that is the
    number of leading offsets whose value differs from the maximum::

        first = sum over k of [w_0 != y and ... and w_k != y]

    Three passes per offset over a small array. Measured on LeNet-5's first pooling:
    190 us, against 280 us for a bit field of the equal offsets and 650-930 us for
    masked writes (``np.where``/``np.copyto``); an argmax would first need a copied
    (N, C, Ho, Wo, kh*kw) array.
    """
    out[...] = 0
    still = np.ones(y.shape, dtype=bool)  # no maximum among the offsets so far
    differ = np.empty(y.shape, dtype=bool)
    for w in windows[:-1]:  # the last offset is never counted past
        np.not_equal(w, y, out=differ)
        still &= differ
        out += still
    return out


def _first_max_is(winners: np.ndarray, k: int, out: np.ndarray) -> np.ndarray:
    """out = (offset k is the first maximum of its window)."""
    return np.equal(winners, k, out=out)


def avgpool_forward(layer, x: np.ndarray, out_hw, pads, divisor) -> np.ndarray:
    xp = pad2d(x, *pads)
    y = np.empty((*x.shape[:2], *out_hw), dtype=x.dtype)
    div = np.asarray(divisor, dtype=x.dtype)
    offsets = layer._offsets()

    def block(s: slice) -> None:
        xs, ys = xp[s], y[s]
        for k, (a, b) in enumerate(offsets):
            window = xs[offset_slice(a, b, layer.stride, layer.dilation, out_hw)]
            if k == 0:
                np.copyto(ys, window)
            else:
                ys += window
        ys /= div

    _in_blocks(block, len(x), 2 * x.nbytes, xp[:1].nbytes)
    layer._save_for_backward(divisor, xp.shape, x.shape, pads, out_hw)
    return y


def avgpool_backward(layer, g: np.ndarray, divisor, padded_shape, x_shape, pads, out_hw):
    dtype = np.result_type(g.dtype, np.float32)
    div = np.asarray(divisor, dtype=dtype)
    dxp = np.empty(padded_shape, dtype=dtype)
    disjoint = _disjoint(layer)  # windows that do not overlap write, others add
    offsets = layer._offsets()

    def block(s: slice) -> None:
        dxs = dxp[s]
        dxs[...] = 0
        share = g[s] / div
        for a, b in offsets:
            target = dxs[offset_slice(a, b, layer.stride, layer.dilation, out_hw)]
            if disjoint:
                target[...] = share
            else:
                target += share

    _in_blocks(block, len(g), 2 * dxp.nbytes, dxp[:1].nbytes)
    top, _, left, _ = pads
    return dxp[:, :, top : top + x_shape[2], left : left + x_shape[3]]
