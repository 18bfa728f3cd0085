"""Module: the base class of every layer, container and model.

The contract (the same names as ``torch.nn.Module``)::

    y = module(x)                 # forward; caches what backward needs
    dx = module.backward(dy)      # dL/dx from dL/dy; ADDS dL/dp into every p.grad

A module owns three kinds of attributes, registered automatically when assigned:
``Parameter`` objects (trainable), buffers (arrays saved in the state_dict but not
trained, e.g. BatchNorm's ``running_mean``, registered with ``register_buffer``) and
child modules. ``state_dict()`` walks them in registration order and names entries
with dotted paths (``"0.weight"``, ``"layer1.0.bn1.running_mean"``), exactly as PyTorch
does, so a state_dict moves between the two frameworks unchanged.

Unlike PyTorch there is no autograd tape: every layer writes its own backward. A
forward keeps what its backward needs in ``self._cache``; the backward uses it and
then frees it. Calling backward without a forward raises ``RuntimeError``.
Inside ``with glassnet.no_grad():`` forwards cache nothing (faster evaluation).
"""

from __future__ import annotations

import contextlib
import os
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping

import numpy as np

from .parameter import Parameter

__all__ = ["Module", "no_grad", "is_grad_enabled"]

_grad_enabled = True


def is_grad_enabled() -> bool:
    """False inside ``no_grad()``: forwards then skip caching for backward."""
    return _grad_enabled


@contextlib.contextmanager
def no_grad():
    """Context manager: forwards inside it keep no cache (``backward`` is then an error)."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


class _HookHandle:
    def __init__(self, hooks: dict, key: int):
        self._hooks, self._key = hooks, key

    def remove(self) -> None:
        self._hooks.pop(self._key, None)


class Module:
    """Base class for all layers. Subclasses implement ``forward`` and ``backward``."""

    _hook_counter = 0

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_cache", None)
        object.__setattr__(self, "_input_grad", True)

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name: str, value) -> None:
        if "_parameters" not in self.__dict__:
            raise RuntimeError(
                f"{type(self).__name__}.__init__ must call super().__init__() "
                "before assigning attributes"
            )
        if name in self._buffers and (value is None or isinstance(value, np.ndarray)):
            self._set_buffer(name, value)  # assigning to a buffer keeps it a buffer
            return
        for table in (self._parameters, self._buffers, self._modules):
            table.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        for table in (self._parameters, self._buffers, self._modules):
            table.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name: str, value: np.ndarray | None) -> None:
        """Register an array that is saved in the state_dict but not trained."""
        if value is not None:
            value = np.asarray(value)
        for table in (self._parameters, self._modules):
            table.pop(name, None)
        self._set_buffer(name, value)

    def _set_buffer(self, name: str, value: np.ndarray) -> None:
        """Replace a registered buffer's array (keeps it registered)."""
        object.__setattr__(self, name, value)
        self._buffers[name] = value

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if param is None:
            object.__setattr__(self, name, None)
            self._parameters.pop(name, None)
            return
        self.__setattr__(name, param)

    def add_module(self, name: str, module: Module | None) -> None:
        if module is None:
            object.__setattr__(self, name, None)
            return
        self.__setattr__(name, module)

    # ------------------------------------------------------------------ forward/backward
    def forward(self, x):
        raise NotImplementedError(f"{type(self).__name__} does not implement forward()")

    def backward(self, grad_out):
        raise NotImplementedError(f"{type(self).__name__} does not implement backward()")

    def __call__(self, *args, **kwargs):
        out = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, out)
            if result is not None:
                out = result
        return out

    def register_forward_hook(self, hook: Callable) -> _HookHandle:
        """``hook(module, inputs, output)`` runs after every forward (as in PyTorch)."""
        Module._hook_counter += 1
        self._forward_hooks[Module._hook_counter] = hook
        return _HookHandle(self._forward_hooks, Module._hook_counter)

    def _save_for_backward(self, *values) -> None:
        """Keep what backward needs, unless inside ``no_grad()``."""
        object.__setattr__(self, "_cache", values if _grad_enabled else None)

    def _saved(self):
        """Return (and free) what forward saved; a clear error if there is nothing."""
        cache = self._cache
        if cache is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward() called without a forward pass to go back "
                "through: call the module on an input first (outside no_grad()), and call "
                "backward only once per forward"
            )
        object.__setattr__(self, "_cache", None)
        return cache

    # ------------------------------------------------------------------ traversal
    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        seen: set[int] = set()
        for mod_name, mod in self.named_modules(prefix):
            for name, p in mod._parameters.items():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield (f"{mod_name}.{name}" if mod_name else name), p

    def parameters(self) -> Iterator[Parameter]:
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        for mod_name, mod in self.named_modules(prefix):
            for name, b in mod._buffers.items():
                if b is not None:
                    yield (f"{mod_name}.{name}" if mod_name else name), b

    def buffers(self) -> Iterator[np.ndarray]:
        for _, b in self.named_buffers():
            yield b

    def num_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.size for p in self.parameters() if p.requires_grad or not trainable_only)

    def apply(self, fn: Callable[[Module], None]) -> Module:
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes, grads
    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        return self.train(False)

    def set_input_grad(self, enabled: bool = True) -> Module:
        """Whether ``backward`` must return dL/d(input).

        PyTorch computes no gradient for an input that does not require one; the same
        saving here: with ``set_input_grad(False)`` on a model, its first layers (up to
        and including the first one with parameters) still fill their parameter
        gradients but skip dL/dx, which for a first convolution is a third of its
        backward. ``backward`` then returns None. The Trainer does this for the
        duration of ``fit``; the default is True (gradcheck checks dL/dx).
        """
        object.__setattr__(self, "_input_grad", bool(enabled))
        return self

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad[...] = 0

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    # ------------------------------------------------------------------ dtype
    @property
    def dtype(self) -> np.dtype:
        """The dtype of the first parameter, else of the first floating buffer (BatchNorm
        with affine=False), else float32."""
        for p in self.parameters():
            return p.data.dtype
        for b in self.buffers():
            if np.issubdtype(b.dtype, np.floating):
                return b.dtype
        return np.dtype(np.float32)

    def to(self, dtype) -> Module:
        """Convert parameters, their grads and floating buffers to ``dtype`` (in place)."""
        dtype = np.dtype(dtype)
        if not np.issubdtype(dtype, np.floating):
            raise ValueError(f"Module.to() expects a floating dtype, got {dtype}")
        for m in self.modules():
            for p in m._parameters.values():
                if p is not None:
                    p.data = p.data.astype(dtype)
                    p.grad = p.grad.astype(dtype)
            for name, b in list(m._buffers.items()):
                if b is not None and np.issubdtype(b.dtype, np.floating):
                    m._set_buffer(name, b.astype(dtype))
            object.__setattr__(m, "_cache", None)
        return self

    def float(self) -> Module:
        return self.to(np.float32)

    def double(self) -> Module:
        return self.to(np.float64)

    # ------------------------------------------------------------------ state dict
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Copies of every parameter and buffer, keyed by dotted name (PyTorch's keys)."""
        out: OrderedDict[str, np.ndarray] = OrderedDict()
        self._collect_state("", out)
        return out

    def _collect_state(self, prefix: str, out: OrderedDict) -> None:
        for name, p in self._parameters.items():
            if p is not None:
                out[prefix + name] = p.data.copy()
        for name, b in self._buffers.items():
            if b is not None:
                out[prefix + name] = np.array(b, copy=True)
        for name, child in self.named_children():
            child._collect_state(f"{prefix}{name}.", out)

    def _state_slots(self) -> OrderedDict[str, tuple[Module, str, bool]]:
        """name -> (owning module, attribute, is_parameter), in state_dict order."""
        slots: OrderedDict[str, tuple[Module, str, bool]] = OrderedDict()
        for mod_name, mod in self.named_modules():
            prefix = f"{mod_name}." if mod_name else ""
            for name, p in mod._parameters.items():
                if p is not None:
                    slots[prefix + name] = (mod, name, True)
            for name, b in mod._buffers.items():
                if b is not None:
                    slots[prefix + name] = (mod, name, False)
        return slots

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy arrays from ``state_dict`` into this module's parameters and buffers.

        Values are cast to each parameter's current dtype. With ``strict=True``
        (the default) missing or unexpected keys are an error; a wrong shape is
        always an error. Returns ``(missing_keys, unexpected_keys)``. Nothing is
        changed unless the whole state_dict is acceptable. As in PyTorch, a BatchNorm
        ``num_batches_tracked`` that is absent (older checkpoints) keeps its value.
        """
        if not isinstance(state_dict, Mapping):
            hint = (
                ": to load a file, use glassnet.load_state(path) and pass what it returns"
                if isinstance(state_dict, (str, os.PathLike))
                else ""
            )
            raise TypeError(
                f"load_state_dict expects a dict of arrays, got {type(state_dict).__name__}{hint}"
            )
        slots = self._state_slots()
        given = {k: _to_numpy(v) for k, v in state_dict.items()}
        for key, (mod, name, _) in slots.items():
            if name == "num_batches_tracked" and key not in given:
                # a BatchNorm state without the counter (older PyTorch checkpoints): the
                # module keeps its own, as torch does, rather than refusing the file
                given[key] = np.array(getattr(mod, name), copy=True)
        missing = [k for k in slots if k not in given]
        unexpected = [k for k in given if k not in slots]
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {', '.join(missing)}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {', '.join(unexpected)}")
        for key, (mod, name, _) in slots.items():
            if key in given:
                current = getattr(mod, name)
                current = current.data if isinstance(current, Parameter) else current
                if tuple(given[key].shape) != tuple(current.shape):
                    problems.append(
                        f"size mismatch for {key!r}: the checkpoint has shape "
                        f"{tuple(given[key].shape)}, this model expects {tuple(current.shape)}"
                    )
                elif not np.all(np.isfinite(given[key])) and np.issubdtype(
                    given[key].dtype, np.floating
                ):
                    problems.append(f"{key!r} contains NaN or inf")
        if problems:
            raise ValueError(
                f"Error(s) loading state_dict for {type(self).__name__}: " + "; ".join(problems)
            )
        for key, (mod, name, is_param) in slots.items():
            if key not in given:
                continue
            current = getattr(mod, name)
            if is_param:
                current.data[...] = given[key].astype(current.data.dtype, copy=False)
            else:
                mod._set_buffer(name, given[key].astype(current.dtype, copy=True))
        return missing, unexpected

    # ------------------------------------------------------------------ repr
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = []
        for name, child in self._modules.items():
            child_repr = repr(child).replace("\n", "\n  ")
            lines.append(f"({name}): {child_repr}")
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


def _to_numpy(value) -> np.ndarray:
    """Accept numpy arrays, Parameters and torch tensors in a state_dict."""
    if isinstance(value, Parameter):
        return value.data
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch.Tensor
        return value.detach().cpu().numpy()
    return np.asarray(value)
