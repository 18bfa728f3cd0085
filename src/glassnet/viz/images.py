"""Arrays to pictures: weight tiles, a diverging colour map and image mosaics.

Pure NumPy: both the matplotlib figures and the HTML report draw from these.

First-layer weights come in PyTorch's layouts, ``(out, in)`` for Linear and
``(out, in, kh, kw)`` for Conv2d. Each output unit becomes one tile:

* a Linear unit's weight row is reshaped to the input image ``(C, H, W)`` (it works
  when ``in == C*H*W``, i.e. the layer sees raw pixels);
* a conv unit is its ``(in, kh, kw)`` kernel.

Tiles with three channels are shown as RGB (each tile stretched to [0, 1] on its own);
any other number of channels is averaged to one and drawn with a diverging map:
blue for negative weights, white for zero, red for positive, each tile scaled by its
own largest magnitude (the shape of a filter matters, not its scale).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["diverging", "weight_tiles", "mosaic", "to_display"]

NEGATIVE = np.array([33, 102, 172], np.float32)  # blue
ZERO = np.array([247, 247, 247], np.float32)  # near-white
POSITIVE = np.array([178, 24, 43], np.float32)  # red


def diverging(x: np.ndarray) -> np.ndarray:
    """Map values in [-1, 1] to uint8 RGB: blue (-1), white (0), red (+1). Shape (..., 3)."""
    x = np.clip(np.nan_to_num(np.asarray(x, np.float32)), -1.0, 1.0)[..., None]
    color = np.where(x < 0, ZERO + (NEGATIVE - ZERO) * -x, ZERO + (POSITIVE - ZERO) * x)
    return np.round(color).astype(np.uint8)


def _as_units(weights: np.ndarray, input_shape) -> np.ndarray | None:
    """Weights as (units, C, h, w), or None when a Linear row is not an input image."""
    w = np.asarray(weights, np.float32)
    if w.ndim == 4:
        return w
    if w.ndim != 2:
        raise ValueError(f"expected (out, in) or (out, in, kh, kw) weights, got shape {w.shape}")
    shape = tuple(int(s) for s in input_shape or ())
    if len(shape) == 3 and w.shape[1] == math.prod(shape):
        return w.reshape(w.shape[0], *shape)
    if len(shape) == 3 and w.shape[1] == shape[1] * shape[2]:
        return w.reshape(w.shape[0], 1, shape[1], shape[2])
    return None


def weight_tiles(weights: np.ndarray, input_shape=None, max_units: int = 64) -> np.ndarray:
    """One uint8 RGB tile per output unit: ``(units, h, w, 3)`` (see the module docstring).

    At most ``max_units`` units are drawn. A Linear layer whose rows are not images
    (``in`` is not ``C*H*W``) is drawn as one tile: the whole ``(out, in)`` matrix.
    """
    units = _as_units(weights, input_shape)
    if units is None:  # the whole matrix, one picture
        w = np.asarray(weights, np.float32)
        return diverging(w / max(float(np.abs(w).max()), 1e-12))[None]
    units = units[:max_units]
    if units.shape[1] == 3:  # RGB, each tile stretched to [0, 1]
        lo = units.min(axis=(1, 2, 3), keepdims=True)
        hi = units.max(axis=(1, 2, 3), keepdims=True)
        rgb = (units - lo) / np.maximum(hi - lo, 1e-12)
        return np.round(rgb.transpose(0, 2, 3, 1) * 255).astype(np.uint8)
    grey = units.mean(axis=1)
    scale = np.maximum(np.abs(grey).max(axis=(1, 2), keepdims=True), 1e-12)
    return diverging(grey / scale)


def _columns(n: int) -> int:
    """A roughly square-to-wide grid for n tiles, preferring one with no empty cells."""
    low, high = math.ceil(math.sqrt(n)), max(1, math.ceil(math.sqrt(n * 2.5)))
    return min(range(low, high + 1), key=lambda c: (-(-n // c) * c - n, -c))


def mosaic(
    tiles: np.ndarray,
    cols: int | None = None,
    pad: int = 1,
    background: int = 255,
    empty: int = 255,
) -> np.ndarray:
    """Tiles ``(n, h, w, c)`` on a grid, ``pad`` pixels of ``background`` between them.

    Cells of the last row left without a tile are filled with ``empty``.
    """
    tiles = np.asarray(tiles)
    n, h, w, c = tiles.shape
    cols = cols or _columns(n)
    rows = math.ceil(n / cols)
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), background, tiles.dtype)
    for i in range(rows * cols):
        r, q = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + q * (w + pad)
        if i < n:
            out[y : y + h, x : x + w] = tiles[i]
        else:  # blank the cell and the pad lines right of and below it
            out[y : y + h + pad, x : x + w + pad] = empty
    return out


def to_display(image: np.ndarray) -> np.ndarray:
    """A uint8 HWC image as (H, W) grey or (H, W, 3) RGB, ready for PNG or imshow."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] not in (3, 4):
        return image.mean(axis=2).astype(np.uint8)
    return image
