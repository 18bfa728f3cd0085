"""glassnet's global random number generator.

Everything in glassnet that draws random numbers (weight initialisation, dropout
masks, data shuffling when no seed is given) draws from one NumPy ``Generator``
held here, so that ``glassnet.manual_seed(n)`` makes a whole run reproducible, the
way ``torch.manual_seed`` does. Nothing here touches NumPy's own global state.
"""

from __future__ import annotations

import numpy as np

__all__ = ["manual_seed", "default_generator", "get_rng_state", "set_rng_state"]

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed glassnet's global generator (PCG64) and return it."""
    global _generator
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"manual_seed expects a non-negative integer, got {seed!r}")
    _generator = np.random.default_rng(int(seed))
    return _generator


def default_generator() -> np.random.Generator:
    """The generator that glassnet's initialisers and dropout layers draw from."""
    return _generator


def get_rng_state() -> dict:
    """A JSON-serialisable snapshot of the global generator (for checkpoints)."""
    return _generator.bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore a snapshot taken by :func:`get_rng_state`."""
    bit_generator = getattr(np.random, state["bit_generator"])()
    bit_generator.state = state
    global _generator
    _generator = np.random.Generator(bit_generator)
