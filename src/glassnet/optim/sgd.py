"""Stochastic gradient descent, with momentum, Nesterov momentum and weight decay."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..nn.parameter import Parameter
from .optimizer import Optimizer, _check_non_negative

__all__ = ["SGD"]


class SGD(Optimizer):
    """SGD, exactly as ``torch.optim.SGD``.

    For each parameter theta with gradient g (g = -g when ``maximize``)::

        g  = g + weight_decay * theta                 (L2 penalty, if weight_decay != 0)
        b  = g                                        (first step: the buffer starts at g)
        b  = momentum * b + (1 - dampening) * g       (later steps, if momentum != 0)
        g  = g + momentum * b   if nesterov   else   g = b
        theta = theta - lr * g

    With ``momentum=0`` this is plain gradient descent, ``theta -= lr * g``. Note the
    PyTorch convention: ``lr`` multiplies the whole velocity, and the first buffer is
    the raw gradient (dampening is not applied on the first step).

    State per parameter: ``momentum_buffer`` (only when momentum != 0).
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ):
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        _check_non_negative(group, "lr", "learning rate")
        _check_non_negative(group, "momentum", "momentum value")
        _check_non_negative(group, "weight_decay", "weight_decay value")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _update(
        self, param: Parameter, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        lr = float(group["lr"])
        momentum = float(group["momentum"])
        dampening = float(group["dampening"])
        weight_decay = float(group["weight_decay"])

        if weight_decay != 0:
            grad = grad + weight_decay * param.data

        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(grad, copy=True)
            else:
                buf *= momentum
                buf += grad if dampening == 0 else (1 - dampening) * grad
            if group["nesterov"]:
                grad = grad + momentum * buf
            else:
                grad = buf

        param.data -= lr * grad
