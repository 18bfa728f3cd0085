"""Buffers that a layer's tuned forms reuse from one training step to the next.

A convolution's largest temporaries are its columns (im2col of the padded input,
C*kh*kw times the input's size) and the padded input they are copied from. They have
the same shapes at every step, but a fresh ``np.empty`` of a few MB gets fresh memory
from the C library, which the operating system maps in and zeroes one 4 KiB page at a
time, and hands back when it is freed: LeNet-5's step (batch 64) took ~1,700 page
faults, ResNet-8's (batch 128) ~23,000, a few ms and ~10% of the step. Keeping each
layer's buffers between steps removes them in a user's own loop, with nothing changed
for the rest of the process (glibc's malloc settings, :mod:`.allocator`, do the same
for every allocation of the process; only ``Trainer.fit`` uses them).

Each buffer belongs to one layer and one role:

* ``("cols", i)``: the columns of block ``i`` that forward keeps for backward; the
  next forward of the same layer writes over them, which is safe because a layer
  keeps one forward pass for backward anyway (its cache, ``Module._save_for_backward``);
* ``("scratch", name, thread)``: a temporary that dies within one block (columns not
  kept, columns of the gradient, a padded block), one per thread that runs blocks.

Only a forward that saves for backward writes ``("cols", i)``; one under ``no_grad()``
(an evaluation between a forward and its backward) uses scratch buffers alone. Outputs
handed back to the caller (y, dL/dx) are always fresh arrays, so holding on to a
layer's output (``outputs.append(model(x))``) is safe.

The memory stays with the layer while it lives (at most what one step already had at
its peak); :func:`release` gives it back. ``GLASSNET_WORKSPACE=0`` in the environment,
or :func:`enable` ``(False)``, allocates every buffer afresh instead.
"""

from __future__ import annotations

import math
import os
import threading
import weakref

import numpy as np

__all__ = ["buffer", "padded", "release", "nbytes", "enable", "enabled"]

_enabled = os.environ.get("GLASSNET_WORKSPACE", "1").strip() != "0"
_buffers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # layer -> {role: array}
_lock = threading.Lock()


def enabled() -> bool:
    """Whether the tuned forms reuse their buffers (the default)."""
    return _enabled


def enable(on: bool = True) -> None:
    """Turn the reuse on or off; off also releases every buffer held."""
    global _enabled
    _enabled = bool(on)
    if not on:
        release()


def _slot(owner, role, size: int, dtype) -> list:
    """``[array, layout]`` held for ``owner`` and ``role``, its array grown to ``size``
    items of ``dtype`` when it is smaller (a new slot has no layout); the caller holds
    ``_lock``."""
    slots = _buffers.get(owner)
    if slots is None:
        slots = _buffers[owner] = {}
    held = slots.get(role)
    if held is None or held[0].dtype != dtype or held[0].size < size:
        held = slots[role] = [np.empty(size, dtype), None]
    return held


def buffer(owner, role, shape, dtype) -> np.ndarray:
    """An uninitialised array of ``shape`` and ``dtype`` in ``owner``'s buffer for
    ``role``: the same memory at every call, grown when a call needs more."""
    dtype = np.dtype(dtype)
    if not _enabled:
        return np.empty(shape, dtype)
    size = math.prod(shape)
    with _lock:
        held = _slot(owner, role, size, dtype)
    return held[0][:size].reshape(shape)


def padded(owner, role, x: np.ndarray, top: int, bottom: int, left: int, right: int):
    """``x`` (N, C, H, W) zero-padded, written into ``owner``'s buffer for ``role``.

    Only the interior is written: the border keeps the zeros it got when the buffer
    was first laid out for this shape of a sample (a batch of another size reuses them;
    another sample shape lays the buffer out again), so a step copies x once and
    zeroes nothing."""
    n, c, h, w = x.shape
    shape = (n, c, h + top + bottom, w + left + right)
    if not _enabled:
        out = np.zeros(shape, dtype=x.dtype)
    else:
        size = math.prod(shape)
        with _lock:  # layout: (one sample's padded shape, how many samples are laid out)
            held = _slot(owner, role, size, x.dtype)
            laid_out = held[1][1] if held[1] is not None and held[1][0] == shape[1:] else 0
            held[1] = (shape[1:], max(n, laid_out))
        out = held[0][:size].reshape(shape)
        if n > laid_out:  # a sample's border sits at the same place for any n
            out[laid_out:].fill(0)
    out[:, :, top : top + h, left : left + w] = x
    return out


def scratch_role(name: str) -> tuple:
    """The role of a temporary named ``name`` in the calling thread."""
    return ("scratch", name, threading.get_ident())


def _layers(owner) -> list:
    """``owner`` and, for a model, every module in it."""
    return list(owner.modules()) if hasattr(owner, "modules") else [owner]


def release(owner=None) -> None:
    """Give back the buffers of ``owner`` (a layer, or a model: all its layers), or
    of every layer when ``owner`` is None."""
    with _lock:
        if owner is None:
            _buffers.clear()
            return
        for module in _layers(owner):
            _buffers.pop(module, None)


def nbytes(owner=None) -> int:
    """Bytes held for ``owner`` (a layer or a model), or for every layer."""
    with _lock:
        if owner is None:
            layers = list(_buffers.values())
        else:
            layers = [_buffers[m] for m in _layers(owner) if m in _buffers]
        return sum(held[0].nbytes for slots in layers for held in slots.values())
