"""Transfer learning's three tools: freeze layers, extract features, replace the head.

    import glassnet as gn
    model = gn.models.get("lenet5")
    model.load_state_dict(gn.load_state("runs/mnist-lenet5/model.safetensors"))
    gn.train.replace_head(model, 10)              # a new last Linear for the new classes
    gn.train.freeze(model, "0", "3")              # the two convolutions keep their weights
    feats = gn.train.extract_features(model, x, "10")   # (N, 84): the head's input

What freezing saves. A frozen parameter (``requires_grad=False``) gets no gradient and
no update: ``Linear``, ``Conv2d`` and ``BatchNorm`` skip dL/dW (and dL/db) for it, and
the optimizers skip it. During ``fit`` the model's input needs no gradient, and a
``Sequential`` then asks its leading layers for dL/dx only from the first layer that
has trainable parameters on (``Module.set_input_grad``): below that point backward
stops. So with the whole body frozen, backward runs through the head alone.

``extract_features`` runs the model in evaluation mode, batch by batch, and stops
each forward at the named layer (the layers after it do not run).
"""

from __future__ import annotations

import os

import numpy as np

from .. import nn

__all__ = ["freeze", "unfreeze", "trainable_parameters", "extract_features", "replace_head"]


def _matching(model: nn.Module, prefixes) -> list[tuple[str, nn.Parameter]]:
    if not prefixes:
        raise ValueError("freeze/unfreeze: name at least one module prefix, e.g. 'features'")
    names = {n for n, _ in model.named_modules() if n}
    found = []
    for prefix in prefixes:
        prefix = str(prefix).rstrip(".")
        hits = [
            (n, p) for n, p in model.named_parameters() if n == prefix or n.startswith(prefix + ".")
        ]
        if not hits:
            known = sorted(n for n in names if "." not in n)
            raise ValueError(
                f"no parameters under {prefix!r}; the model's top-level modules are "
                f"{', '.join(known) or '(none)'}"
            )
        found += hits
    return found


def freeze(model: nn.Module, *prefixes: str) -> list[str]:
    """Freeze every parameter whose name is ``prefix`` or starts with ``prefix.``
    (``freeze(model, "features")``, ``freeze(model, "layer1", "layer2.0")``); a prefix
    that names no parameter is an error. ``model.requires_grad_(False)`` freezes all.
    Returns the frozen parameters' names."""
    hits = _matching(model, prefixes)
    for _, p in hits:
        p.requires_grad = False
    return [n for n, _ in hits]


def unfreeze(model: nn.Module, *prefixes: str) -> list[str]:
    """The inverse of :func:`freeze`."""
    hits = _matching(model, prefixes)
    for _, p in hits:
        p.requires_grad = True
    return [n for n, _ in hits]


def trainable_parameters(model: nn.Module) -> list[str]:
    return [n for n, p in model.named_parameters() if p.requires_grad]


class _Stop(Exception):
    def __init__(self, value):
        self.value = value


def _find(model: nn.Module, layer: str) -> nn.Module:
    modules = dict(model.named_modules())
    if layer not in modules:
        sample = [n for n in modules if n][:20]
        raise ValueError(
            f"no layer {layer!r} in the model; its layers include {', '.join(sample)}"
            " (glassnet summary MODEL lists them)"
        )
    return modules[layer]


def extract_features(
    model: nn.Module,
    x: np.ndarray,
    layer: str,
    batch_size: int = 256,
    progress: bool = True,
    flatten: bool = True,
) -> np.ndarray:
    """The output of the module named ``layer`` for every image of ``x``, in evaluation
    mode, ``batch_size`` images at a time; flattened to (N, features) unless
    ``flatten=False``. Layers after ``layer`` do not run."""
    target = _find(model, layer)

    def stop(module, args, out):
        raise _Stop(out)

    handle = target.register_forward_hook(stop)
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    bar = _bar(len(x), f"features at {layer}", progress)
    outs = []
    try:
        with nn.no_grad():
            for start in range(0, len(x), batch_size):
                try:
                    model(x[start : start + batch_size])
                except _Stop as found:
                    out = np.asarray(found.value)
                else:  # pragma: no cover - the hook always fires for a module in the tree
                    raise RuntimeError(f"layer {layer!r} did not run in the forward")
                outs.append(out.reshape(len(out), -1) if flatten else out)
                bar.update(len(out))
    finally:
        bar.close()
        handle.remove()
        for m, training in modes:
            object.__setattr__(m, "training", training)
    if not outs:
        raise ValueError("extract_features: x holds no images")
    return np.concatenate(outs)


def _bar(total: int, desc: str, progress: bool):
    from ..data.folder import _NoBar

    if not progress or os.environ.get("CI"):
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, desc=desc, unit="img", leave=False)


def last_linear(model: nn.Module) -> tuple[nn.Module, str, nn.Linear]:
    """``(parent, name, layer)`` of the model's last Linear (its classifier)."""
    found = None
    for parent_name, parent in model.named_modules():
        for name, child in parent.named_children():
            if isinstance(child, nn.Linear):
                full = f"{parent_name}.{name}" if parent_name else name
                found = (parent, name, child, full)
    if found is None:
        raise ValueError("the model has no Linear layer to replace as its head")
    return found[0], found[1], found[2]


def head_name(model: nn.Module) -> str:
    """The dotted name of the model's last Linear (``"fc"``, ``"classifier.6"``, ``"11"``)."""
    parent, name, _ = last_linear(model)
    prefix = next(n for n, m in model.named_modules() if m is parent)
    return f"{prefix}.{name}" if prefix else name


def replace_head(model: nn.Module, num_classes: int, seed: int | None = None) -> nn.Linear:
    """Replace the model's last Linear by a fresh ``Linear(in_features, num_classes)``
    (PyTorch's initialisation; ``seed`` reseeds glassnet's generator first), in place,
    under the same name, so the state_dict keys stay those of the architecture.
    Returns the new layer."""
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    parent, name, old = last_linear(model)
    if seed is not None:
        from ..random import manual_seed

        manual_seed(seed)
    new = nn.Linear(old.in_features, int(num_classes), bias=old.bias is not None)
    new.to(old.weight.data.dtype)
    # in place of the old one, keeping the children's order (setattr would move it last)
    parent._modules[name] = new
    object.__setattr__(parent, name, new)
    spec = getattr(model, "zoo_spec", None)
    if isinstance(spec, dict):
        spec["num_classes"] = int(num_classes)
    return new
