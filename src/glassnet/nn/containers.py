"""Containers: Sequential, ModuleList, and the two skip links, Residual and Concat.

Backward through a container is the chain rule read backwards:

    Sequential   y = f_k(...f_1(x))       dL/dx = f_1'( ... f_k'(g))       (reverse order)
    Residual     y = body(x) + s(x)       dL/dx = body'(g) + s'(g)         (s = identity if None)
    Concat       y = [flat(b_1(x)), ..., flat(b_k(x))]
                 dL/dx = sum_i b_i'(g_i), g_i = the slice of g that b_i produced

A branch that receives the input unchanged (``Flatten()`` in a Concat, the identity
shortcut of a Residual) is how a skip link hands raw pixels onwards.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import numpy as np

from .functional import add
from .module import Module

__all__ = ["Sequential", "ModuleList", "Residual", "Concat"]


class Sequential(Module):
    """Apply modules in order. ``Sequential(a, b)`` names them "0", "1" (state_dict
    keys "0.weight", ...); ``Sequential(OrderedDict(conv=..., relu=...))`` uses the
    given names. Indexable, sliceable, iterable, ``len``-able like PyTorch's."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (dict, OrderedDict)):
            for name, m in modules[0].items():
                self._add(str(name), m)
        else:
            for i, m in enumerate(modules):
                self._add(str(i), m)

    def _add(self, name: str, module) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"Sequential expects Module objects, got {type(module).__name__}")
        self.add_module(name, module)

    def append(self, module: Module) -> Sequential:
        self._add(str(len(self._modules)), module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(items[index]))
        try:
            return items[index][1]
        except IndexError:
            raise IndexError(
                f"index {index} is out of range for a Sequential of {len(items)}"
            ) from None

    def __setitem__(self, index: int, module: Module) -> None:
        """``model[-1] = nn.Linear(84, 10)``: replace the module at ``index`` (a new
        head, as in PyTorch); it keeps the old one's name and place."""
        _replace(self, "Sequential", index, module)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def backward(self, grad_out):
        for m in reversed(self._modules.values()):
            if grad_out is None:  # no layer below needs a gradient (set_input_grad(False))
                break
            grad_out = m.backward(grad_out)
        return grad_out

    def set_input_grad(self, enabled: bool = True) -> Sequential:
        """A child needs dL/d(its input) if the container's input does or if any earlier
        child has trainable parameters."""
        super().set_input_grad(enabled)
        needed = bool(enabled)
        for m in self._modules.values():
            m.set_input_grad(needed)
            needed = needed or any(p.requires_grad for p in m.parameters())
        return self


class ModuleList(Module):
    """A list of modules, registered so their parameters are found (no forward)."""

    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self._modules)), module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index: int) -> Module:
        return list(self._modules.values())[index]

    def __setitem__(self, index: int, module: Module) -> None:
        _replace(self, "ModuleList", index, module)


def _replace(container: Module, kind: str, index, module) -> None:
    """Put ``module`` at position ``index`` of ``container``, under the same name (so the
    state_dict keys stay those of the old module's place)."""
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise TypeError(f"{kind} indices are integers, got {index!r}")
    if not isinstance(module, Module):
        raise TypeError(f"{kind} expects Module objects, got {type(module).__name__}")
    names = list(container._modules)
    if not -len(names) <= index < len(names):
        raise IndexError(f"index {index} is out of range for a {kind} of {len(names)}")
    name = names[index]
    container._modules[name] = module  # in place: Module.__setattr__ would move it last
    object.__setattr__(container, name, module)


class Residual(Module):
    """y = body(x) + shortcut(x): the ResNet skip link (He et al. 2016).

    ``shortcut=None`` is the identity. When the body changes the shape (stride 2, more
    channels) the shortcut must map x to the same shape, e.g. a 1x1 strided Conv2d
    followed by BatchNorm2d. state_dict keys: "body.*", "shortcut.*".
    """

    def __init__(self, body: Module, shortcut: Module | None = None):
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x):
        y = self.body(x)
        s = x if self.shortcut is None else self.shortcut(x)
        if isinstance(s, np.ndarray) and s.dtype != y.dtype:
            s = s.astype(y.dtype)  # the raw input (int, or float64 into a float32 body)
        if y.shape != s.shape:
            raise ValueError(
                f"Residual: the body's output shape {y.shape} differs from the shortcut's "
                f"{s.shape}; give the Residual a shortcut that maps the input to the body's "
                "output shape"
            )
        self._save_for_backward(True)
        return add(y, s)

    def backward(self, grad_out):
        self._saved()
        grad_in = self.body.backward(grad_out)
        grad_skip = grad_out if self.shortcut is None else self.shortcut.backward(grad_out)
        if not self._input_grad:
            return None
        return add(grad_in, grad_skip)

    def set_input_grad(self, enabled: bool = True) -> Residual:
        super().set_input_grad(enabled)
        self.body.set_input_grad(enabled)
        if self.shortcut is not None:
            self.shortcut.set_input_grad(enabled)
        return self


class Concat(Module):
    """Run every branch on the same input, flatten each output to (N, -1), concatenate.

    ``Concat(Flatten(), Sequential(conv, relu, pool, Flatten()))`` hands the raw image to
    the classifier beside the convolutional features: a skip link that carries features
    sideways instead of adding them. state_dict keys: "0.*", "1.*", ... per branch.
    """

    def __init__(self, *branches: Module):
        super().__init__()
        if not branches:
            raise ValueError("Concat needs at least one branch")
        for i, b in enumerate(branches):
            if not isinstance(b, Module):
                raise TypeError(f"Concat expects Module branches, got {type(b).__name__}")
            self.add_module(str(i), b)

    def __len__(self) -> int:
        return len(self._modules)

    def __getitem__(self, index: int) -> Module:
        return list(self._modules.values())[index]

    def forward(self, x):
        outs = [b(x) for b in self._modules.values()]
        n = outs[0].shape[0]
        for b, o in zip(self._modules.values(), outs):
            if o.shape[0] != n:
                raise ValueError(f"Concat: branch {b!r} changed the batch size to {o.shape[0]}")
        self._save_for_backward([o.shape for o in outs])
        # the branches' dtype (a Flatten branch may carry a float64 input into float32 ones)
        first = next(self.parameters(), None)
        dtype = first.dtype if first is not None else np.result_type(*outs)
        flat = [o.reshape(n, math.prod(o.shape[1:])) for o in outs]  # (-1 fails at n = 0)
        return np.concatenate(flat, axis=1, dtype=dtype)

    def backward(self, grad_out):
        (shapes,) = self._saved()
        sizes = [math.prod(s[1:]) for s in shapes]
        grad_out = np.asarray(grad_out)
        if grad_out.shape != (shapes[0][0], sum(sizes)):
            raise ValueError(
                f"Concat.backward expects a gradient of shape {(shapes[0][0], sum(sizes))}, "
                f"got {grad_out.shape}"
            )
        grad_in = None
        start = 0
        for b, shape, size in zip(self._modules.values(), shapes, sizes):
            g = b.backward(grad_out[:, start : start + size].reshape(shape))
            if g is not None:
                grad_in = g if grad_in is None else grad_in + g
            start += size
        return grad_in if self._input_grad else None

    def set_input_grad(self, enabled: bool = True) -> Concat:
        super().set_input_grad(enabled)
        for b in self._modules.values():
            b.set_input_grad(enabled)
        return self
