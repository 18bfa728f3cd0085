"""glassnet.optim: optimizers and learning-rate schedulers with PyTorch's names and numbers.

    from glassnet import optim
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    sched = optim.lr_scheduler.OneCycleLR(opt, max_lr=0.2, total_steps=1000)
    opt = optim.get("adam", model.parameters(), lr=3e-3)    # by name

The schedulers live in ``glassnet.optim.lr_scheduler`` (as in ``torch.optim``) and
are also importable from ``glassnet.optim`` directly.
"""

from __future__ import annotations

from . import lr_scheduler
from .adam import Adam, AdamW
from .lr_scheduler import (
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LRScheduler,
    MultiStepLR,
    OneCycleLR,
    ReduceLROnPlateau,
    StepLR,
)
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = [
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "get",
    "lr_scheduler",
    "LRScheduler",
    "LambdaLR",
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "OneCycleLR",
    "ReduceLROnPlateau",
]

_BY_NAME: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "adam": Adam,
    "adamw": AdamW,
    "rmsprop": RMSprop,
}


def get(name: str, params, **kwargs) -> Optimizer:
    """Build an optimizer by name (case-insensitive): ``get("adam", params, lr=1e-3)``."""
    if not isinstance(name, str):
        raise TypeError(f"optimizer name must be a string, but got {type(name).__name__}")
    cls = _BY_NAME.get(name.lower())
    if cls is None:
        valid = ", ".join(repr(n) for n in _BY_NAME)
        raise ValueError(f"unknown optimizer {name!r}; valid names are {valid}")
    return cls(params, **kwargs)
