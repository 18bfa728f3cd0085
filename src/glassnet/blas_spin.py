"""Moved to :mod:`glassnet.kernels.blas_spin`; this old name is the same module (so setting
an attribute here sets it there)."""

import sys

from .kernels import blas_spin as _moved

sys.modules[__name__] = _moved
