"""Data augmentation on whole batches: ``transform(x, rng) -> x`` for NCHW arrays.

Each transform treats the batch at once (no loop over samples) and draws its
randomness only from the ``rng`` it is given, so the same generator state gives
the same output: the :class:`~glassnet.data.DataLoader` passes its own generator,
which makes augmented runs reproducible and resumable. Inputs are never modified
in place.

The usual CIFAR-10 recipe (:func:`default_train_transform`) is a random 32x32 crop
of the image padded by 4 pixels (the picture shifts by up to 4 pixels) and a
horizontal flip of half the images. Digits and MNIST get none: a flipped "3" is
not a 3. Our crop pads the *normalised* images, so zero padding is the mean
colour rather than black.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "Compose",
    "RandomCrop",
    "RandomHorizontalFlip",
    "Normalize",
    "default_train_transform",
]


def _check_batch(x: np.ndarray) -> None:
    if x.ndim != 4:
        raise ValueError(f"transforms expect an NCHW batch, got shape {x.shape}")


def _check_rng(transform, rng) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{type(transform).__name__} draws random numbers: call it with a NumPy Generator, "
            f"e.g. transform(x, np.random.default_rng(0)) (DataLoader passes its own), "
            f"got {type(rng).__name__}"
        )


class Compose:
    """Apply transforms one after the other: ``Compose([a, b])(x, rng) == b(a(x, rng), rng)``."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x, rng=None):
        for transform in self.transforms:
            x = transform(x, rng)
        return x

    def __repr__(self):
        return f"Compose({self.transforms!r})"


class RandomCrop:
    """Pad by ``padding`` pixels, then cut a ``size`` window at a random offset per sample.

    padding_mode: ``"constant"`` (pads with ``fill``, default 0) or ``"reflect"``
    (mirror the border, without repeating the edge pixel, as ``np.pad`` does).
    The windows are a ``sliding_window_view`` of the padded batch (no copy); one
    fancy index picks window (top_i, left_i) for every sample i at once.
    """

    def __init__(self, size, padding: int = 0, padding_mode: str = "constant", fill=0.0):
        self.size = (size, size) if np.isscalar(size) else tuple(size)
        if len(self.size) != 2 or min(self.size) < 1:
            raise ValueError(f"size must be a positive int or (h, w), got {size!r}")
        if padding < 0:
            raise ValueError(f"padding must be >= 0, got {padding}")
        if padding_mode not in ("constant", "reflect"):
            raise ValueError(f"padding_mode must be 'constant' or 'reflect', got {padding_mode!r}")
        self.padding, self.padding_mode, self.fill = padding, padding_mode, fill

    def __call__(self, x, rng):
        _check_batch(x)
        _check_rng(self, rng)
        p = self.padding
        if p:
            pad = ((0, 0), (0, 0), (p, p), (p, p))
            if self.padding_mode == "constant":
                x = np.pad(x, pad, mode="constant", constant_values=self.fill)
            else:
                x = np.pad(x, pad, mode="reflect")
        n, _, h, w = x.shape
        ch, cw = self.size
        if ch > h or cw > w:
            raise ValueError(f"crop {self.size} is larger than the padded image {(h, w)}")
        top = rng.integers(0, h - ch + 1, size=n)
        left = rng.integers(0, w - cw + 1, size=n)
        windows = sliding_window_view(x, (ch, cw), axis=(2, 3))  # (N, C, h-ch+1, w-cw+1, ch, cw)
        return windows[np.arange(n), :, top, left]  # (N, C, ch, cw), a new array

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding}, mode={self.padding_mode!r})"


class RandomHorizontalFlip:
    """Mirror each image left-right with probability ``p`` (one coin per sample)."""

    def __init__(self, p: float = 0.5):
        if not 0 <= p <= 1:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.p = p

    def __call__(self, x, rng):
        _check_batch(x)
        _check_rng(self, rng)
        flip = rng.random(len(x)) < self.p
        out = x.copy()
        out[flip] = x[flip, :, :, ::-1]
        return out

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


class Normalize:
    """``(x - mean[c]) / std[c]`` per channel; deterministic (``rng`` is ignored).

    A float batch keeps its dtype; an integer one (uint8 pixels) becomes float32, since
    the normalised values are not integers."""

    def __init__(self, mean, std):
        self.mean = np.asarray(mean, dtype=np.float32).reshape(1, -1, 1, 1)
        self.std = np.asarray(std, dtype=np.float32).reshape(1, -1, 1, 1)
        if np.any(self.std <= 0):
            raise ValueError("std must be positive")

    def __call__(self, x, rng=None):
        _check_batch(x)
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
        return ((x - self.mean) / self.std).astype(dtype, copy=False)

    def __repr__(self):
        return f"Normalize(mean={self.mean.ravel().tolist()}, std={self.std.ravel().tolist()})"


def default_train_transform(name: str):
    """The standard training augmentation for a dataset, or None.

    cifar10: ``Compose([RandomCrop(32, padding=4), RandomHorizontalFlip()])``;
    digits, mnist, fashion-mnist: None.
    """
    from .datasets import canonical_name

    if canonical_name(name).split("?")[0] == "cifar10":  # also a subset of its classes
        return Compose([RandomCrop(32, padding=4), RandomHorizontalFlip(0.5)])
    return None
