"""``DataLoader``: mini-batches of NumPy arrays, shuffled reproducibly and resumably.

Each ``for xb, yb in loader`` is one epoch. With ``shuffle=True`` every epoch
draws a new permutation of the samples from the loader's own
``numpy.random.Generator``, so every sample appears exactly once per epoch; a
batch is then one fancy-indexing operation ``x[idx]`` (no per-sample loop).
Transforms (data augmentation) draw from the same generator, after the
permutation.

Reproducibility: ``seed`` fixes the whole sequence of epochs. Without a seed the
loader seeds its generator from glassnet's global generator
(:func:`glassnet.random.default_generator`) when it is created, so
``glassnet.manual_seed(n)`` before building it also makes it reproducible.

Resuming: :meth:`DataLoader.state_dict` records the generator's state at the start
of the current epoch (from which the epoch's permutation can be drawn again),
its state now, and how many batches of the epoch were handed out. After
:meth:`DataLoader.load_state_dict` the next ``iter()`` continues that epoch where
it stopped, yielding bit-identical batches to an uninterrupted run.
"""

from __future__ import annotations

import copy
import math

import numpy as np

from .. import random as gn_random
from .._numbers import is_whole

__all__ = ["DataLoader"]


def _generator_from_state(state: dict) -> np.random.Generator:
    bit_generator = getattr(np.random, state["bit_generator"])()
    bit_generator.state = state
    return np.random.Generator(bit_generator)


class DataLoader:
    """Iterate over ``(x[idx], y[idx])`` batches of ``batch_size`` samples.

    x, y:        arrays with the same first dimension (samples).
    shuffle:     a fresh permutation each epoch; otherwise file order.
    seed:        seeds the loader's generator; None draws a seed from glassnet's
                 global generator.
    drop_last:   drop the final batch when it is smaller than ``batch_size``.
    transform:   ``transform(xb, rng) -> xb`` applied to each batch (augmentation).

    ``len(loader)`` is the number of batches per epoch. Unshuffled batches without
    a transform are views into ``x`` and ``y`` (no copy): don't modify them in place.
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int = 64,
        shuffle: bool = False,
        seed: int | None = None,
        drop_last: bool = False,
        transform=None,
    ):
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim == 0 or y.ndim == 0:
            raise ValueError(
                f"x and y must be arrays of samples (a first dimension), got shapes {x.shape} "
                f"and {y.shape}"
            )
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} samples but y has {len(y)}")
        if not is_whole(batch_size):
            raise TypeError(f"batch_size must be an integer, got {batch_size!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable, got {transform!r}")
        self.x, self.y = x, y
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.transform = transform
        if seed is None:
            seed = int(gn_random.default_generator().integers(2**63))
        self.seed = int(seed)  # a plain int, so that state_dict() stays JSON-friendly
        self.rng = np.random.default_rng(seed)
        self.epoch = 0  # epochs started so far
        self._epoch_start_state = None  # rng state before the current epoch's permutation
        self._batches_done = 0  # batches of the current epoch handed out
        self._resume = False

    @property
    def num_samples(self) -> int:
        return len(self.x)

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def _order(self) -> np.ndarray | None:
        """The epoch's sample order (drawn from ``self.rng``), or None for file order."""
        return self.rng.permutation(self.num_samples) if self.shuffle else None

    def __iter__(self):
        if self._resume:  # continue the epoch recorded by load_state_dict
            self._resume = False
            now = self.rng.bit_generator.state
            self.rng = _generator_from_state(self._epoch_start_state)
            order = self._order()
            self.rng = _generator_from_state(now)
        else:
            self.epoch += 1
            self._batches_done = 0
            self._epoch_start_state = copy.deepcopy(self.rng.bit_generator.state)
            order = self._order()
        return self._batches(order, self._batches_done)

    def _batches(self, order, first: int):
        n, size = self.num_samples, self.batch_size
        for b in range(first, len(self)):
            lo, hi = b * size, min((b + 1) * size, n)
            if order is None:
                xb, yb = self.x[lo:hi], self.y[lo:hi]
            else:
                idx = order[lo:hi]
                xb, yb = self.x[idx], self.y[idx]
            if self.transform is not None:
                xb = self.transform(xb, self.rng)
            self._batches_done = b + 1
            yield xb, yb

    def state_dict(self) -> dict:
        """Everything needed to continue exactly here (plain Python data, JSON-friendly)."""
        return {
            "seed": self.seed,
            "epoch": self.epoch,
            "batches_done": self._batches_done,
            "rng_state": copy.deepcopy(self.rng.bit_generator.state),
            "epoch_start_state": copy.deepcopy(self._epoch_start_state),
            "num_samples": self.num_samples,
            "batch_size": self.batch_size,
            "shuffle": self.shuffle,
            "drop_last": self.drop_last,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`; the next ``iter()`` resumes an unfinished epoch."""
        for key in ("num_samples", "batch_size", "shuffle", "drop_last"):
            # (checkpoints from before shuffle/drop_last were saved do not hold them)
            if state.get(key, getattr(self, key)) != getattr(self, key):
                raise ValueError(
                    f"state_dict was saved with {key}={state[key]}, this loader has "
                    f"{getattr(self, key)}"
                )
        self.seed = state["seed"]
        self.epoch = state["epoch"]
        self._batches_done = state["batches_done"]
        self.rng = _generator_from_state(state["rng_state"])
        self._epoch_start_state = copy.deepcopy(state["epoch_start_state"])
        self._resume = self._epoch_start_state is not None and self._batches_done < len(self)

    def __repr__(self):
        return (
            f"DataLoader(samples={self.num_samples}, batch_size={self.batch_size}, "
            f"batches={len(self)}, shuffle={self.shuffle}, drop_last={self.drop_last})"
        )
