"""History: what a training run measured, per epoch and every few iterations.

``history["val_accuracy"]`` gives the per-epoch list (as Keras' ``history.history``);
``history.epochs`` holds one dict per epoch, ``history.iterations`` the loss every
``log_interval`` batches against the number of training examples seen (the
classic loss curve). Saved as CSV (epochs) and JSON (everything).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from ..io import atomic_write, read_json, write_json

__all__ = ["History"]

EPOCH_COLUMNS = (
    "epoch",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "test_loss",
    "test_accuracy",
    "lr",
    "seconds",
)


class History:
    def __init__(self, epochs=None, iterations=None, meta=None):
        self.epochs: list[dict] = list(epochs or [])
        self.iterations: list[dict] = list(iterations or [])
        self.meta: dict = dict(meta or {})

    # ---------------------------------------------------------------- recording
    def log_epoch(self, **values) -> None:
        self.epochs.append(dict(values))

    def log_iteration(self, **values) -> None:
        self.iterations.append(dict(values))

    # ---------------------------------------------------------------- reading
    def __getitem__(self, key: str) -> list:
        if not self.epochs or key not in self.keys():
            raise KeyError(f"{key!r} was not recorded; recorded: {', '.join(self.keys())}")
        return [e.get(key) for e in self.epochs]

    def __contains__(self, key: str) -> bool:
        return key in self.keys()

    def __len__(self) -> int:
        return len(self.epochs)

    def keys(self) -> list[str]:
        seen: dict[str, None] = {}
        for e in self.epochs:
            for k, v in e.items():
                if v is not None:
                    seen.setdefault(k, None)
        return list(seen)

    @property
    def history(self) -> dict[str, list]:
        """Keras-style dict of per-epoch lists."""
        return {k: self[k] for k in self.keys()}

    def best(self, key: str, mode: str = "max") -> tuple[int, float]:
        """(epoch, value) of the best recorded value of ``key``."""
        values = [(e["epoch"], e[key]) for e in self.epochs if _finite(e.get(key))]
        if not values:
            raise KeyError(f"no finite values of {key!r} recorded")
        pick = max if mode == "max" else min
        return pick(values, key=lambda ev: ev[1])

    def last(self, key: str):
        return self.epochs[-1].get(key) if self.epochs else None

    # ---------------------------------------------------------------- saving
    def to_dict(self) -> dict:
        return {"epochs": self.epochs, "iterations": self.iterations, "meta": self.meta}

    @classmethod
    def from_dict(cls, d: dict) -> History:
        return cls(d.get("epochs"), d.get("iterations"), d.get("meta"))

    def to_json(self, path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def from_json(cls, path) -> History:
        return cls.from_dict(read_json(path))

    def to_csv(self, path=None, extra_columns: dict | None = None) -> str:
        """Per-epoch table as CSV; written atomically to ``path`` if given."""
        columns = [c for c in EPOCH_COLUMNS if c in self.keys()]
        columns += [k for k in self.keys() if k not in columns]
        fixed = dict(extra_columns or {})
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow([*fixed, *columns])
        for e in self.epochs:
            writer.writerow([*fixed.values(), *(_cell(e.get(c)) for c in columns)])
        text = buf.getvalue()
        if path is not None:
            with atomic_write(Path(path), "w", encoding="utf-8") as f:
                f.write(text)
        return text

    def __repr__(self) -> str:
        if not self.epochs:
            return "History(empty)"
        last = self.epochs[-1]
        shown = ", ".join(
            f"{k}={v:.4g}" for k, v in last.items() if isinstance(v, float) and k != "lr"
        )
        return f"History(epochs={len(self.epochs)}, last: {shown})"


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _cell(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return v
