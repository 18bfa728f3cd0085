"""Optimizer: the bookkeeping every update rule shares (PyTorch's ``torch.optim.Optimizer``).

An optimizer owns a list of *parameter groups*. Each group is a dict holding some
parameters (``group["params"]``) and the hyperparameters used to update them
(``group["lr"]``, ``group["momentum"]``, ...), so different parts of a model can use
different learning rates. Per-parameter memory (momentum buffers, moving averages,
step counts) lives in ``optimizer.state[param]``, a dict keyed by the ``Parameter``
object itself.

A subclass only has to provide ``_check_hyperparameters(group)`` and
``_update(param, grad, state, group)``: the update rule for one parameter. The base
class walks the groups, skips frozen parameters (``requires_grad=False``), and
implements ``zero_grad``, ``add_param_group``, ``state_dict`` and ``load_state_dict``.

Two rules every subclass keeps:

* ``param.data`` is changed **in place** (``p.data -= ...``), never rebound to a new
  array: layers and user code keep references to it.
* Everything stays in the parameter's dtype: state buffers are created with
  ``np.zeros_like(p.data)`` and hyperparameters are plain Python floats, which NumPy
  does not let promote a float32 array to float64.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable, Iterable
from numbers import Number
from typing import Any

import numpy as np

from ..nn.parameter import Parameter

__all__ = ["Optimizer"]


class Optimizer:
    """Base class: holds ``param_groups`` and ``state``; subclasses define the update.

    ``params`` is either an iterable of ``Parameter`` or an iterable of dicts, each
    ``{"params": [...], <hyperparameter>: value, ...}``; hyperparameters missing from
    a dict are taken from ``defaults``.
    """

    def __init__(self, params: Iterable[Parameter] | Iterable[dict], defaults: dict[str, Any]):
        self._check_hyperparameters(defaults)
        self.defaults = dict(defaults)
        self.state: dict[Parameter, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []

        if isinstance(params, (Parameter, np.ndarray)):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of "
                f"Parameters or dicts, but got {type(params).__name__}"
            )
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    # ------------------------------------------------------------------ subclass hooks

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        """Raise ValueError for an invalid hyperparameter in ``group``."""

    def _update(
        self, param: Parameter, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        """Update ``param.data`` in place from its gradient ``grad``."""
        raise NotImplementedError

    # ------------------------------------------------------------------ groups

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters (with optional per-group hyperparameters).

        Useful when unfreezing layers while fine-tuning. Missing hyperparameters are
        filled from ``defaults``; a parameter may belong to only one group.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError("param_group must have a 'params' entry")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Parameter):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of a set changes between runs. Please use a list instead."
            )
        group["params"] = list(params)

        for p in group["params"]:
            if not isinstance(p, Parameter):
                raise TypeError(
                    "optimizer can only optimize Parameters, but one of the params is "
                    f"{type(p).__name__}"
                )
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        self._check_hyperparameters(group)

        ids = [id(p) for p in group["params"]]
        if len(ids) != len(set(ids)):
            # PyTorch only warns here (and says it will become an error): a duplicated
            # parameter would silently be updated twice per step.
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if not existing.isdisjoint(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    # ------------------------------------------------------------------ the step

    def zero_grad(self) -> None:
        """Set the gradient of every parameter to zero (in place).

        This is PyTorch's ``zero_grad(set_to_none=False)``: a gradient always exists
        (``Parameter``), so a parameter that no backward reached this step still takes
        a step with gradient zero, and momentum, Adam's moments and weight decay still
        move it. PyTorch's default (``set_to_none=True``) would skip it; freeze such a
        parameter (``requires_grad = False``) to get that here.
        """
        for group in self.param_groups:
            for p in group["params"]:
                p.grad[...] = 0

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Apply one update to every trainable parameter.

        ``closure`` (optional) re-evaluates the model and returns the loss, which
        ``step`` returns, as in PyTorch.
        """
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if not p.requires_grad:
                    continue
                # The gradient in the parameter's dtype (no copy when it already is).
                grad = np.asarray(p.grad, dtype=p.data.dtype)
                if group.get("maximize", False):
                    grad = -grad
                self._update(p, grad, self.state[p], group)
        return loss

    # ------------------------------------------------------------------ saving

    def state_dict(self) -> dict[str, Any]:
        """A snapshot ``{"state": {index: {...}}, "param_groups": [{..., "params": [index]}]}``.

        Parameters are named by their position across all groups, as in PyTorch.
        Arrays are copied, so later steps do not change a saved snapshot.
        """
        index: dict[int, int] = {}
        param_groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                packed["params"].append(index[id(p)])
            param_groups.append(packed)
        state = {
            index[id(p)]: {k: _copy_value(v) for k, v in s.items()}
            for p, s in self.state.items()
            if s and id(p) in index
        }
        return {"state": state, "param_groups": param_groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyperparameters and per-parameter state saved by ``state_dict``.

        The saved groups must match this optimizer's groups in number and size, and
        every saved array the shape of its parameter. Arrays are copied (cast to the
        parameter's dtype); nothing changes if validation fails. A PyTorch optimizer's
        ``state_dict()`` loads too: its tensors become arrays (a 0-d one, Adam's
        ``step``, a number).
        """
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError("optimizer state_dict must be a dict with 'state' and 'param_groups'")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                "loaded state dict has a different number of parameter groups "
                f"({len(saved_groups)}) than the optimizer ({len(self.param_groups)})"
            )
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if len(group["params"]) != len(saved["params"]):
                raise ValueError(
                    f"loaded state dict contains a parameter group ({i}) of "
                    f"{len(saved['params'])} parameters that doesn't match the size of "
                    f"optimizer's group ({len(group['params'])} parameters)"
                )

        # Saved index -> our Parameter, in the same order.
        id_map = {}
        for group, saved in zip(self.param_groups, saved_groups):
            id_map.update(zip(saved["params"], group["params"]))

        new_state: dict[Parameter, dict[str, Any]] = defaultdict(dict)
        for key, saved_state in state_dict["state"].items():
            if key not in id_map:
                raise ValueError(f"loaded state dict has state for unknown parameter index {key}")
            p = id_map[key]
            entry = {}
            for name, value in saved_state.items():
                if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch.Tensor
                    value = value.detach().cpu().numpy()  # (torch's state keys are ours)
                    if value.ndim == 0:  # torch keeps Adam's step count as a tensor
                        value = value.item()
                if isinstance(value, np.ndarray):
                    if value.shape != p.data.shape:
                        raise ValueError(
                            f"loaded state for parameter {key}, {name!r}, has shape "
                            f"{value.shape}, but the parameter has shape {p.data.shape}"
                        )
                    value = np.array(value, dtype=p.data.dtype, copy=True)
                else:
                    value = copy.deepcopy(value)
                entry[name] = value
            new_state[p] = entry

        new_groups = []
        for group, saved in zip(self.param_groups, saved_groups):
            new_group = {k: copy.deepcopy(v) for k, v in saved.items() if k != "params"}
            for name, default in self.defaults.items():
                new_group.setdefault(name, default)
            self._check_hyperparameters(new_group)
            new_group["params"] = group["params"]
            new_groups.append(new_group)

        self.state = new_state
        self.param_groups = new_groups

    # ------------------------------------------------------------------ display

    def __repr__(self) -> str:
        text = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            for key in sorted(group):
                if key != "params":
                    text += f"    {key}: {group[key]}\n"
        return text + ")"


def _copy_value(value: Any) -> Any:
    """Copy a state entry: arrays are copied, numbers stay plain numbers."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, Number):
        return value
    return copy.deepcopy(value)


def _check_non_negative(group: dict[str, Any], key: str, label: str) -> None:
    """PyTorch-style check: ``Invalid learning rate: -0.1``."""
    value = group[key]
    if not isinstance(value, Number) or isinstance(value, bool):
        raise ValueError(f"Invalid {label}: {value!r} (expected a number)")
    if not 0.0 <= value:
        raise ValueError(f"Invalid {label}: {value}")
