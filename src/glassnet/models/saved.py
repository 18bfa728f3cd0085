"""``load(path)``: a saved zoo model back, architecture and weights.

``glassnet.save(model, "model.safetensors")`` records, beside the weights, what
:func:`glassnet.models.get` needs to rebuild a zoo model (its name, every option with
the defaults spelled out, its input shape and number of classes: ``model.zoo_spec``);
``glassnet.load`` reads them and returns the model::

    model = gn.models.get("lenet5", seed=0)
    ...                                          # train it
    gn.save(model, "lenet5.safetensors")
    model = gn.load("lenet5.safetensors")        # the same model, weights included

A model you built yourself (``nn.Sequential(...)``) has no such record: build it
again and load its weights with ``model.load_state_dict(gn.load_state(path))``.
The files ``glassnet train`` and ``glassnet compare`` write load the same way.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..io import load_arrays
from .zoo import get

__all__ = ["load"]

# the metadata key a training checkpoint (train's last.safetensors) carries: that of
# glassnet.train.checkpoint, which sits above the zoo (a test holds them equal)
_CHECKPOINT_KEY = "glassnet_checkpoint"


def load(path):
    """The zoo model saved in ``path`` (by :func:`glassnet.save`, ``glassnet train`` or
    ``glassnet compare``), rebuilt with its weights, in the dtype it was saved in."""
    arrays, meta = load_arrays(path)
    if _CHECKPOINT_KEY in meta:  # train's last.safetensors: the whole training state
        folder = Path(path).parent
        raise ValueError(
            f"{path} is a training checkpoint (for --resume), not a model: load "
            f"{folder / 'model.safetensors'} (the final weights) or "
            f"{folder / 'best.safetensors'} (the best epoch's)"
        )
    if "model" not in meta:
        raise ValueError(
            f"{path} holds weights but not which architecture (no 'model' metadata: the "
            "model was not built by glassnet.models.get); build the model again and use "
            "model.load_state_dict(glassnet.load_state(path))"
        )
    options = json.loads(meta.get("options", "{}"))
    shape = json.loads(meta["input_shape"]) if "input_shape" in meta else None
    classes = json.loads(meta["num_classes"]) if "num_classes" in meta else None
    model = get(meta["model"], input_shape=shape, num_classes=classes, **options)
    if "coefs_0" in arrays:  # compare's scikit-learn weights: the MLP's Linear layers
        arrays = _sklearn_to_state(model, arrays)
    floats = {a.dtype for a in arrays.values() if a.dtype.kind == "f"}
    if floats == {np.dtype(np.float64)}:  # a model saved after model.to(np.float64)
        model = model.to(np.float64)
    model.load_state_dict(arrays)
    return model


def _sklearn_to_state(model, arrays) -> dict:
    """MLPClassifier's coefs_i / intercepts_i (saved in PyTorch's (out, in) layout) as
    the state_dict of the same MLP's Linear layers, in order."""
    from .. import nn

    linears = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    state = {}
    for i, name in enumerate(linears):
        if f"coefs_{i}" not in arrays or f"intercepts_{i}" not in arrays:
            raise ValueError(
                f"the scikit-learn weights hold no coefs_{i}/intercepts_{i} for Linear layer "
                f"{name!r}: they are not this model's"
            )
        state[f"{name}.weight"] = arrays[f"coefs_{i}"]
        state[f"{name}.bias"] = arrays[f"intercepts_{i}"]
    if f"coefs_{len(linears)}" in arrays:
        raise ValueError(f"the scikit-learn weights have more layers than {len(linears)}")
    return state
