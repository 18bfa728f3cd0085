"""Let NumPy's OpenBLAS worker threads go to sleep soon after a GEMM.

After its share of a multi-threaded GEMM, an OpenBLAS worker thread busy-waits for the
next one before it sleeps: 2**28 TSC cycles by default, about 0.1 s on this project's
2.6 GHz machine. A glassnet training step alternates GEMMs with single-threaded NumPy
passes (im2col copies, BatchNorm, ReLU, padding) that last from a fraction of a
millisecond to several, so the worker spins through all of them and the process keeps
both cores busy all the time.

On a virtual machine that spinning can be expensive. Measured on 2026-11-22 (KVM guest,
AMD EPYC, 2 vCPUs, NumPy 2.4.6 with OpenBLAS 0.3.31, 2 threads): for 10-60 s at a
time, a few times a minute, a ResNet-8 training step took 335-360 ms instead of
175-190 ms, while in the same process PyTorch's step (whose OpenMP threads spin far
less before sleeping) stayed at ~100 ms, single-threaded copies kept their speed, and
the same step with one BLAS thread stayed at 240-290 ms. The two threads stayed on
separate CPUs throughout (sampled from /proc), so the guest's scheduler is not the
cause. The likely mechanism: a vCPU that spins is descheduled by the host when the
host is busy (pause-loop exiting hands its physical core to someone else), and then
it starts its half of the next GEMM late, while a vCPU that had gone to sleep is
woken promptly. With ``OPENBLAS_THREAD_TIMEOUT=22`` (2**22 cycles, ~1.6 ms: long
enough to carry the worker across the short copies between one conv block's GEMM and
the next, short enough to sleep through BatchNorm) the slow mode became rarer, though
it still happens: over six rounds of 15 s per setting, alternating processes, the mean
step was 244 ms with the default and 206 ms with 22; in the two quiet rounds the
default's median step was 1-2% shorter (waking a sleeping worker costs a little).

OpenBLAS reads the variable once, when NumPy loads it, so it must be set before the
first ``import numpy``. ``import glassnet`` does that
(:func:`set_short_spin_unless_disabled`, called first thing in ``glassnet/__init__.py``)
when the variable is unset and NumPy is not loaded yet; where NumPy was imported first,
set it in the environment yourself. It leaves the environment alone in textbook mode
(``GLASSNET_KERNELS=textbook``) and with ``GLASSNET_SHORT_SPIN=0``; to keep OpenBLAS's
own default, set ``OPENBLAS_THREAD_TIMEOUT=28``. Other BLAS libraries ignore the
variable. (Measurements: docs/performance.md.)
"""

from __future__ import annotations

import os
import sys

from . import mode

__all__ = [
    "ENV_VAR",
    "SWITCH_VAR",
    "SPIN_EXPONENT",
    "set_short_spin",
    "set_short_spin_unless_disabled",
    "enabled",
]

ENV_VAR = "OPENBLAS_THREAD_TIMEOUT"
SWITCH_VAR = "GLASSNET_SHORT_SPIN"  # 0/false/no/off: glassnet leaves ENV_VAR alone
SPIN_EXPONENT = 22  # spin 2**22 TSC cycles (~1.6 ms at 2.6 GHz) before sleeping; default 28


def set_short_spin() -> bool:
    """Set ``OPENBLAS_THREAD_TIMEOUT=22`` unless the user set it or NumPy is loaded
    already (too late for OpenBLAS to see it). True if it was set now."""
    if ENV_VAR in os.environ or "numpy" in sys.modules:
        return False
    os.environ[ENV_VAR] = str(SPIN_EXPONENT)
    return True


def enabled() -> bool:
    """False in textbook mode or when ``GLASSNET_SHORT_SPIN`` is 0/false/no/off."""
    value = os.environ.get(SWITCH_VAR, "1").strip().lower()
    try:
        fast = mode.active()
    except ValueError:  # a bad GLASSNET_KERNELS (said when a layer runs): change nothing
        return False
    return fast and value not in ("0", "false", "no", "off")


def set_short_spin_unless_disabled() -> bool:
    """:func:`set_short_spin` unless :func:`enabled` says no (what ``import glassnet``
    does); True if the variable was set now."""
    return enabled() and set_short_spin()
