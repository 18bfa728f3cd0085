"""RMSprop: divide the gradient by a running root-mean-square of recent gradients."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..nn.parameter import Parameter
from .optimizer import Optimizer, _check_non_negative

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop (Hinton, 2012), exactly as ``torch.optim.RMSprop``.

    For each parameter theta with gradient g (g = -g when ``maximize``)::

        g     = g + weight_decay * theta                 (L2 penalty, if weight_decay != 0)
        v     = alpha * v + (1 - alpha) * g**2           (mean square, starts at 0)
        if centered:                                     (subtract the squared mean gradient)
            g_avg = alpha * g_avg + (1 - alpha) * g
            avg   = sqrt(v - g_avg**2) + eps
        else:
            avg   = sqrt(v) + eps
        if momentum > 0:
            b     = momentum * b + g / avg               (buffer starts at 0)
            theta = theta - lr * b
        else:
            theta = theta - lr * g / avg

    eps is added outside the square root (TensorFlow adds it inside). In the
    centered variant, v - g_avg**2 is a variance, >= 0 in exact arithmetic; we clamp
    the rare tiny negative from rounding to 0 where PyTorch would produce NaN.

    State per parameter: ``step``, ``square_avg`` (v), ``momentum_buffer`` (b, if
    momentum > 0) and ``grad_avg`` (g_avg, if centered).
    """

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ):
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "maximize": maximize,
        }
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        _check_non_negative(group, "lr", "learning rate")
        _check_non_negative(group, "eps", "epsilon value")
        _check_non_negative(group, "momentum", "momentum value")
        _check_non_negative(group, "weight_decay", "weight_decay value")
        _check_non_negative(group, "alpha", "alpha value")

    def _update(
        self, param: Parameter, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        lr = float(group["lr"])
        alpha = float(group["alpha"])
        eps = float(group["eps"])
        weight_decay = float(group["weight_decay"])
        momentum = float(group["momentum"])

        if not state:  # lazy initialisation on the first step
            state["step"] = 0
            state["square_avg"] = np.zeros_like(param.data)
        state["step"] += 1

        if weight_decay != 0:
            grad = grad + weight_decay * param.data

        square_avg = state["square_avg"]
        square_avg *= alpha
        square_avg += (1 - alpha) * (grad * grad)

        if group["centered"]:
            if "grad_avg" not in state:
                state["grad_avg"] = np.zeros_like(param.data)
            grad_avg = state["grad_avg"]
            grad_avg *= alpha
            grad_avg += (1 - alpha) * grad
            avg = np.sqrt(np.maximum(square_avg - grad_avg * grad_avg, 0))
        else:
            avg = np.sqrt(square_avg)
        avg += eps

        if momentum > 0:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = np.zeros_like(param.data)
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += grad / avg
            param.data -= lr * buf
        else:
            param.data -= lr * (grad / avg)
