"""Moved to :mod:`glassnet.kernels.allocator`; this old name is the same module (so setting
an attribute here sets it there)."""

import sys

from .kernels import allocator as _moved

sys.modules[__name__] = _moved
