"""Keep freed memory for the next training step instead of handing it back to the OS.

A training step allocates the same large temporaries every time: im2col columns, padded
inputs, layer outputs and their gradients, a few MB each. By default the C library
(glibc's malloc, which NumPy uses) serves an allocation above a threshold (128 KiB at
first, raised as blocks are freed, at most 32 MiB) with a fresh ``mmap`` and gives it
back to the operating system when it is freed, and it also trims the free top of its
heap. The next step's allocation then starts from pages that the OS must map in and
zero again, one page fault per 4 KiB. On this project's 2-core VM (2026-11-22, a
plain training loop in a fresh process, 1 BLAS thread) that cost:

* LeNet-5, batch 64:  ~2,000 page faults and 4.9 ms of kernel time per 15 ms step;
* ResNet-8, batch 128: ~21,000 page faults and 53 ms of kernel time per 390 ms step
  (PyTorch's CPU tensors come from the same malloc and pay the same there).

:func:`keep_freed_memory` tells glibc to serve blocks up to 32 MiB from its heap and not
to trim the free top of its heap below 2 GiB (with a 512 MiB limit, ResNet-20's freed
step memory crossed it and every step faulted its pages back in), so after the first
step the temporaries reuse memory that is already mapped: no faults, no zeroing. This is
the CPU analogue of PyTorch's GPU caching allocator, with the same trade: the process
keeps its peak memory mapped (it is reused, not leaked).

It is process-wide (it changes malloc for every library in the process) and cannot be
undone exactly: :func:`keep_freed_memory(False) <keep_freed_memory>` puts back glibc's
starting thresholds, but not their automatic growth. ``Trainer.fit`` (and so
``glassnet.train.fit``, ``glassnet train`` and ``glassnet compare``) calls it unless
the environment variable ``GLASSNET_KEEP_FREED_MEMORY`` is ``0`` or the kernels are
off (``GLASSNET_KERNELS=textbook``). Elsewhere than glibc (macOS, Windows, musl) it
does nothing and returns False. (Measurements: docs/performance.md.)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

from . import mode

__all__ = [
    "keep_freed_memory",
    "keep_freed_memory_unless_disabled",
    "available",
    "enabled_by_environment",
]

# mallopt parameters, from glibc's malloc.h
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 32 * 2**20  # the largest value glibc's mallopt accepts on 64-bit
TRIM_THRESHOLD = 2**31 - 1
_GLIBC_DEFAULT = 128 * 2**10  # glibc's starting value for both thresholds

_mallopt = False  # False: not looked up yet; None: not available


def _get_mallopt():
    global _mallopt
    if _mallopt is False:
        _mallopt = None
        if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                fn = libc.mallopt
                fn.argtypes, fn.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
                _mallopt = fn
            except (OSError, AttributeError):
                _mallopt = None
    return _mallopt


def available() -> bool:
    """True where :func:`keep_freed_memory` can take effect (glibc's malloc)."""
    return _get_mallopt() is not None


def keep_freed_memory(enable: bool = True) -> bool:
    """Make glibc keep freed blocks (up to 32 MiB) for reuse; True if it took effect."""
    mallopt = _get_mallopt()
    if mallopt is None:
        return False
    mmap_threshold, trim_threshold = (
        (MMAP_THRESHOLD, TRIM_THRESHOLD) if enable else (_GLIBC_DEFAULT, _GLIBC_DEFAULT)
    )
    # mallopt returns 1 on success, 0 on error
    ok = mallopt(_M_MMAP_THRESHOLD, mmap_threshold) == 1
    ok = mallopt(_M_TRIM_THRESHOLD, trim_threshold) == 1 and ok
    return ok


def keep_freed_memory_unless_disabled() -> bool:
    """:func:`keep_freed_memory`, unless ``GLASSNET_KEEP_FREED_MEMORY`` switches it off
    or the kernels are off (textbook mode), what ``Trainer.fit`` and ``run_compare`` do;
    True if it took effect."""
    return mode.active() and enabled_by_environment() and keep_freed_memory()


def enabled_by_environment() -> bool:
    """False when ``GLASSNET_KEEP_FREED_MEMORY`` is 0/false/no/off, else True."""
    value = os.environ.get("GLASSNET_KEEP_FREED_MEMORY", "1").strip().lower()
    return value not in ("0", "false", "no", "off")
