"""Training checkpoints: everything needed to continue a run bit for bit, without pickle.

A checkpoint is one ``.safetensors`` (or ``.npz``) file. Arrays (model weights,
optimizer moments) are stored as named tensors; everything else (epoch, optimizer
hyperparameters, scheduler state, RNG states, history) is JSON in the file's
metadata, with each array replaced by a ``{"__array__": name}`` reference. So a
checkpoint is safe to open (no code runs on load) and readable by other tools.

Writes are atomic (see ``glassnet.io``): a run killed while saving keeps the last
good checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..io import load_arrays, save_arrays

__all__ = ["pack", "unpack", "save_checkpoint", "load_checkpoint", "CHECKPOINT_KEY"]

CHECKPOINT_KEY = "glassnet_checkpoint"
FORMAT_VERSION = 1


def pack(obj, arrays: dict, path: str = "root"):
    """Replace arrays in a nested dict/list structure by references; collect them."""
    if isinstance(obj, np.ndarray):
        name, n = path, 1
        while name in arrays:  # {"a.b": x, "a": {"b": y}} would both be "root.a.b"
            n += 1
            name = f"{path}~{n}"
        arrays[name] = obj
        return {"__array__": name}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {k: pack(v, arrays, f"{path}.{k}") for k, v in obj.items()}
        # non-string keys (an optimizer's state is keyed by parameter index); JSON keeps
        # numbers, bools and None, but would turn a tuple key into an unhashable list
        for k in obj:
            if not (k is None or isinstance(k, (str, int, float, bool, np.integer))):
                raise TypeError(
                    f"cannot store a {type(k).__name__} dict key in a checkpoint (at {path}): "
                    "keys must be str, int, float, bool or None"
                )
        return {"__items__": [[k, pack(v, arrays, f"{path}.{k}")] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        packed = [pack(v, arrays, f"{path}.{i}") for i, v in enumerate(obj)]
        return {"__tuple__": packed} if isinstance(obj, tuple) else packed
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    raise TypeError(f"cannot store a {type(obj).__name__} in a checkpoint (at {path})")


def unpack(obj, arrays: dict):
    """Inverse of :func:`pack`."""
    if isinstance(obj, dict):
        if set(obj) == {"__array__"}:
            return np.array(arrays[obj["__array__"]], copy=True)
        if set(obj) == {"__items__"}:
            return {k: unpack(v, arrays) for k, v in obj["__items__"]}
        if set(obj) == {"__tuple__"}:
            return tuple(unpack(v, arrays) for v in obj["__tuple__"])
        return {k: unpack(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [unpack(v, arrays) for v in obj]
    return obj


def save_checkpoint(path, state: dict) -> Path:
    """Atomically write a nested ``state`` (dicts, lists, arrays, scalars)."""
    arrays: dict = {}
    tree = pack(state, arrays)
    meta = json.dumps({"version": FORMAT_VERSION, "state": tree}, allow_nan=True)
    return save_arrays(path, arrays, {CHECKPOINT_KEY: meta})


def load_checkpoint(path) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`."""
    path = Path(path)
    arrays, metadata = load_arrays(path)
    if CHECKPOINT_KEY not in metadata:
        raise ValueError(
            f"{path} is not a glassnet training checkpoint (no {CHECKPOINT_KEY!r} metadata); "
            "to load model weights use glassnet.load_state()"
        )
    try:
        meta = json.loads(metadata[CHECKPOINT_KEY])
        return unpack(meta["state"], arrays)
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"{path}: corrupt checkpoint metadata ({exc})") from exc
