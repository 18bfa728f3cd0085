"""Plans: the form of a layer chosen once per layer and input shape.

A layer with several tuned forms (convolution: by kernel rows, im2col in the rows
layout, pointwise, ...) asks its kernel module for a plan when it runs. The plan names
the form; forward saves it with what backward needs, and backward runs the form the
plan names, whatever the settings or the mode are by then. Plans are cached on the
layer, keyed by the mode, the input's shape and its dtype; ``forget_plans(model)``
drops them (after changing a setting of this package, for example).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["TEXTBOOK", "Plan", "cached_plan", "forget_plans"]

TEXTBOOK = "textbook"
_CACHE = "_kernel_plans"  # the attribute that holds a layer's plans


@dataclass(frozen=True)
class Plan:
    """``form``: the name of the form that runs ("textbook", or a tuned form's name);
    ``in_shape``/``out_shape``: the input's and output's shapes it was made for."""

    form: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]

    @property
    def fast(self) -> bool:
        return self.form != TEXTBOOK


def cached_plan(layer, key: tuple, make: Callable[[], Plan]) -> Plan:
    """The layer's plan for ``key``, made by ``make()`` the first time."""
    plans = layer.__dict__.get(_CACHE)
    if plans is None:
        plans = {}
        object.__setattr__(layer, _CACHE, plans)  # not a parameter, buffer or child
    plan = plans.get(key)
    if plan is None:
        plan = plans[key] = make()
    return plan


def forget_plans(module) -> None:
    """Drop the cached plans of ``module`` and every module inside it."""
    for m in module.modules() if hasattr(module, "modules") else [module]:
        m.__dict__.pop(_CACHE, None)
