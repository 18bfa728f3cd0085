"""The activations' tuned forms, on slices of a large batch on glassnet's threads.

ReLU: ``np.maximum`` into an array zeroed first (NumPy's maximum against a broadcast
scalar takes a slower loop), the mask written in the same pass.

GELU, float32: forward works through each slice in chunks of GELU_CHUNK elements, so
its dozen-odd elementwise steps run on arrays that stay in the core's cache instead
of a dozen passes over memory, and it writes y and dy/dx together (the textbook saves
dy/dx too: backward is one product). Under ``no_grad`` neither activation makes what
only backward needs (ReLU's mask, GELU's dy/dx). Exact GELU needs Phi, and NumPy has
no erf; here Phi(-|x|) = erfc(|x| / sqrt 2) / 2 comes from Abramowitz & Stegun's
formula 7.1.26,

    erfc(z) ~ (a1 s + a2 s^2 + a3 s^3 + a4 s^4 + a5 s^5) exp(-z^2),  s = 1 / (1 + p z),

within 1.5e-7 of erfc for z >= 0 (so Phi within 7.5e-8: float32's spacing below 1 is
6e-8), and its exp(-z^2) = exp(-x^2 / 2) is also phi's, which dy/dx needs. The tanh
form computes the textbook's formula. Both stay within float32 rounding of the
textbook (tests/test_fast_paths.py); float64 runs the textbook (exact erfc).
Measurements: docs/performance.md, "ReLU and BatchNorm" and "GELU".
"""

from __future__ import annotations

import math

import numpy as np

from .threads import batch_slices, parallel_map

__all__ = ["relu_forward", "times_slope", "gelu_forward", "GELU_CHUNK"]

# Elements per step of GELU's forward: its five 256 KB arrays fit in a core's L2, and
# each of its ~20 NumPy calls runs long enough that two threads seldom wait for the
# GIL between calls (at 2 threads, steps of 32,768 took 68 ms on (512, 24, 31, 31)
# against 54 ms; docs/performance.md, "GELU").
GELU_CHUNK = 1 << 16


def relu_forward(layer, x: np.ndarray, inplace: bool, keep: bool = True) -> np.ndarray:
    """y = max(x, 0); saves the mask y != 0 for backward, as the textbook does, when
    ``keep`` (not under ``no_grad``: otherwise no mask is made)."""
    positive = np.empty(x.shape, dtype=bool) if keep else None
    y = x if inplace else np.empty_like(x)

    def part(s: slice) -> None:  # a slice of the batch, on glassnet's threads
        if inplace:
            np.maximum(x[s], 0, out=y[s])
        else:
            y[s] = 0
            np.maximum(x[s], y[s], out=y[s])
        if keep:
            np.not_equal(y[s], 0, out=positive[s])

    parallel_map(part, batch_slices(len(x), 2 * x.nbytes))
    layer._save_for_backward(positive)
    return y


def times_slope(g: np.ndarray, slope: np.ndarray) -> np.ndarray:
    """dL/dx = g * dy/dx (ReLU's mask, GELU's slope), in slices of the batch."""
    dx = np.empty(g.shape, dtype=np.result_type(g, slope))

    def part(s: slice) -> None:
        np.multiply(g[s], slope[s], out=dx[s])

    parallel_map(part, batch_slices(len(g), 2 * g.nbytes))
    return dx


# Abramowitz & Stegun 7.1.26 (see the module docstring)
_AS_P = 0.3275911
_AS_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
_F32 = np.float32


def gelu_forward(layer, x: np.ndarray, tanh: bool, keep: bool = True) -> np.ndarray:
    """y = GELU(x) for float32 ``x``; saves dy/dx for backward, as the textbook does,
    when ``keep`` (not under ``no_grad``: otherwise dy/dx is not computed)."""
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    slope = np.empty_like(x) if keep else None
    chunk = _gelu_tanh_chunk if tanh else _gelu_chunk

    def part(s: slice) -> None:  # a slice of the batch, on glassnet's threads
        xs, ys = x[s].reshape(-1), y[s].reshape(-1)
        ds = slope[s].reshape(-1) if keep else None
        scratch = np.empty((3, min(GELU_CHUNK, len(xs))), dtype=np.float32)
        for i in range(0, len(xs), GELU_CHUNK):
            n = min(GELU_CHUNK, len(xs) - i)
            d = ds[i : i + n] if keep else None
            chunk(xs[i : i + n], ys[i : i + n], d, *scratch[:, :n])

    parallel_map(part, batch_slices(len(x), 3 * x.nbytes))
    layer._save_for_backward(slope)
    return y


def _gelu_chunk(x, y, slope, s, e, nonnegative) -> None:
    """Exact GELU on one chunk: y = x Phi(x), slope = Phi(x) + x phi(x) (unless
    ``slope`` is None)."""
    np.abs(x, out=s)
    s *= _F32(_AS_P * math.sqrt(0.5))
    s += 1
    np.reciprocal(s, out=s)  # s = 1 / (1 + p z),  z = |x| / sqrt 2
    np.multiply(s, _F32(_AS_A[-1] / 2), out=y)  # Horner's rule (halved) in y, free until the end
    for a in _AS_A[-2::-1]:
        y += _F32(a / 2)
        y *= s
    np.multiply(x, x, out=e)
    e *= _F32(-0.5)
    np.exp(e, out=e)  # e = exp(-x^2 / 2) = exp(-z^2)
    y *= e  # y = erfc(z) / 2 = Phi(-|x|)
    np.greater_equal(x, 0, out=nonnegative)  # 1 where x >= 0, else 0
    np.multiply(y, _F32(-2), out=s)
    s += 1
    s *= nonnegative
    s += y  # s = Phi(x): 1 - Phi(-|x|) where x >= 0, Phi(-|x|) where x < 0
    if slope is not None:
        e *= _F32(1 / math.sqrt(2 * math.pi))  # e = phi(x)
        e *= x
        np.add(s, e, out=slope)
    np.multiply(x, s, out=y)


_C = math.sqrt(2 / math.pi)
_K = 0.044715


def _gelu_tanh_chunk(x, y, slope, x2, t, w) -> None:
    """GELU with Phi ~ (1 + tanh(u)) / 2 on one chunk (the textbook's formulas); no
    dy/dx when ``slope`` is None."""
    np.multiply(x, x, out=x2)
    np.multiply(x2, _F32(_C * _K), out=t)
    t += _F32(_C)
    t *= x  # u = sqrt(2/pi) (x + 0.044715 x^3)
    np.tanh(t, out=t)
    if slope is not None:
        np.multiply(x2, _F32(3 * _C * _K), out=w)
        w += _F32(_C)  # w = du/dx
        np.multiply(t, t, out=x2)
        np.subtract(_F32(1), x2, out=x2)
        x2 *= w
        x2 *= x
        x2 *= _F32(0.5)  # x (1 - t^2) du/dx / 2
    t += 1
    t *= _F32(0.5)  # (1 + t) / 2
    if slope is not None:
        np.add(t, x2, out=slope)
    np.multiply(x, t, out=y)
