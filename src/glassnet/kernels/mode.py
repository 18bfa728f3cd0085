"""Which path the layers run: the textbook (``glassnet.nn`` as written) or the tuned
kernels of this package. One switch for the whole library:

    GLASSNET_KERNELS=textbook python train.py      # or fast (the default)
    glassnet.kernels.use("textbook")               # from here on
    with glassnet.kernels.use("textbook"): ...     # inside the block only

Both give the same results (the tests hold them equal); the textbook path is slower
and changes nothing outside glassnet (docs/kernels.md lists what fast mode changes
in your process). This module imports nothing but ``os``: ``import glassnet`` reads
the mode before NumPy loads.
"""

from __future__ import annotations

import os

__all__ = ["MODES", "ENV_VAR", "active", "get_mode", "use"]

MODES = ("fast", "textbook")
ENV_VAR = "GLASSNET_KERNELS"


def _check(mode, where: str) -> str:
    if mode not in MODES:
        raise ValueError(f"{where} must be 'fast' or 'textbook', got {mode!r}")
    return mode


def _from_environment() -> str | None:
    """The mode GLASSNET_KERNELS names ("fast" when unset); None for any other value,
    which is an error when the mode is first read (a layer runs, ``glassnet`` commands
    start), so that ``import glassnet`` itself does not fail."""
    value = os.environ.get(ENV_VAR, "").strip().lower() or "fast"
    return value if value in MODES else None


_mode = _from_environment()


def get_mode() -> str:
    """'fast' (the tuned kernels run) or 'textbook' (every layer runs nn/ as written)."""
    if _mode is None:
        _check(os.environ.get(ENV_VAR), f"the environment variable {ENV_VAR}")
    return _mode


def active() -> bool:
    """True when the tuned kernels run (mode 'fast')."""
    return get_mode() == "fast"


class use:
    """``use("textbook" | "fast")``: switch every layer to that path from now on; as a
    context manager, only inside the ``with`` block (the previous mode comes back on
    leaving it, also after an exception). A backward always follows the path its
    forward took, even when the mode changed in between."""

    def __init__(self, mode: str):
        global _mode
        self._previous = _mode
        _mode = _check(mode, "glassnet.kernels.use(mode): mode")

    def __enter__(self) -> use:
        return self

    def __exit__(self, *exc) -> None:
        global _mode
        _mode = self._previous

    def __repr__(self) -> str:
        return f"glassnet.kernels.use({_mode!r})"
