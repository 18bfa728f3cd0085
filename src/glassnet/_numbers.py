"""What counts as a whole number in an argument (a batch size, an epoch count, a seed)."""

from __future__ import annotations

from numbers import Integral


def is_whole(value) -> bool:
    """Python and NumPy integers; not bools (True is an int to Python, never a count),
    not floats, however whole (1.0 passed as a count is a slip worth naming)."""
    return isinstance(value, Integral) and not isinstance(value, bool)
