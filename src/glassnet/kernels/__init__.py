"""glassnet.kernels: the engine. The same math as :mod:`glassnet.nn`, tuned for the CPU.

``glassnet.nn`` is the textbook: each layer's forward and backward are the plain NumPy
of its math. Each layer also shows, in one line, where its tuned form here takes over:

    conv.py           Conv2d's forms: im2col in the rows layout, by kernel rows,
                      pointwise 1x1, strided input gradients by phases; blocks of
                      samples sized for the cache, on threads; columns kept for backward
    pooling.py        MaxPool2d/AvgPool2d by kernel offsets on slices of the batch
    activation.py     ReLU and GELU on slices of the batch (GELU in cached chunks)
    linear.py         Linear: one sample's dL/dW as an outer product
    normalization.py  BatchNorm's passes on slices of the batch
    ops.py            padding and the skip links' sum on slices of the batch
    winograd.py       Conv2d as Winograd F(2x2, 3x3) (off by default: conv.WINOGRAD)
    im2col.py         the rows layout and its adjoints (col2im, by phases, by rows)
    threads.py        glassnet's worker threads (``glassnet.set_num_threads``)
    workspace.py      each layer's columns and scratch reused from step to step
    allocator.py      glibc keeps freed memory for the next step (``Trainer.fit``)
    blas_spin.py      OpenBLAS's workers sleep sooner (set before NumPy loads)
    plan.py           a plan names the form a layer runs (chosen once per input shape)
    mode.py           the switch: ``GLASSNET_KERNELS=textbook|fast``, ``use(...)``

Both modes give the same results; the tests hold every form equal to the textbook.
How each form works and what it measured: docs/performance.md.

This file imports no NumPy (``import glassnet`` sets OpenBLAS's spin before NumPy
loads); the modules above load when first used.
"""

from __future__ import annotations

import importlib

from .mode import MODES, active, get_mode, use
from .plan import TEXTBOOK, Plan, forget_plans

__all__ = ["MODES", "active", "get_mode", "use", "Plan", "TEXTBOOK", "forget_plans"]

_SUBMODULES = (
    "activation",
    "allocator",
    "blas_spin",
    "conv",
    "im2col",
    "linear",
    "normalization",
    "ops",
    "pooling",
    "threads",
    "winograd",
    "workspace",
)


def __getattr__(name: str):
    if name in _SUBMODULES:  # imported on first use; an attribute of the package after
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
