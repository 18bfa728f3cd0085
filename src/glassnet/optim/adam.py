"""Adam and AdamW: per-coordinate step sizes from running moments of the gradient."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..nn.parameter import Parameter
from .optimizer import Optimizer, _check_non_negative

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), exactly as ``torch.optim.Adam``.

    For each parameter theta with gradient g (g = -g when ``maximize``), at step t = 1, 2, ...::

        g      = g + weight_decay * theta                  (L2 penalty, coupled)
            or theta = theta * (1 - lr * weight_decay)     (if decoupled_weight_decay: AdamW)
        m      = beta1 * m + (1 - beta1) * g               (first moment, starts at 0)
        v      = beta2 * v + (1 - beta2) * g**2            (second moment, starts at 0)
        v_max  = max(v_max, v);  v = v_max                 (only if amsgrad)
        m_hat  = m / (1 - beta1**t)                        (bias corrections)
        v_hat  = v / (1 - beta2**t)
        theta  = theta - lr * m_hat / (sqrt(v_hat) + eps)

    Note that eps is added to sqrt(v_hat), after the bias correction, as in PyTorch.

    State per parameter: ``step`` (a plain number here; PyTorch keeps a tensor),
    ``exp_avg`` (m), ``exp_avg_sq`` (v) and, with amsgrad, ``max_exp_avg_sq``.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ):
        defaults = {
            "lr": lr,
            "betas": tuple(betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        _check_non_negative(group, "lr", "learning rate")
        _check_non_negative(group, "eps", "epsilon value")
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), but got {betas!r}")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        _check_non_negative(group, "weight_decay", "weight_decay value")

    def _update(
        self, param: Parameter, grad: np.ndarray, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        lr = float(group["lr"])
        beta1, beta2 = (float(b) for b in group["betas"])
        eps = float(group["eps"])
        weight_decay = float(group["weight_decay"])

        if not state:  # lazy initialisation on the first step
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(param.data)
            state["exp_avg_sq"] = np.zeros_like(param.data)
        state["step"] += 1
        step = state["step"]

        if weight_decay != 0:
            if group["decoupled_weight_decay"]:
                param.data *= 1 - lr * weight_decay
            else:
                grad = grad + weight_decay * param.data

        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= beta1
        m += (1 - beta1) * grad
        v *= beta2
        v += (1 - beta2) * (grad * grad)

        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        step_size = lr / bias_correction1
        bias_correction2_sqrt = bias_correction2**0.5

        if group["amsgrad"]:
            if "max_exp_avg_sq" not in state:
                state["max_exp_avg_sq"] = np.zeros_like(param.data)
            v_max = state["max_exp_avg_sq"]
            np.maximum(v_max, v, out=v_max)
            denom = np.sqrt(v_max) / bias_correction2_sqrt + eps
        else:
            denom = np.sqrt(v) / bias_correction2_sqrt + eps

        param.data -= step_size * (m / denom)


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter, 2019): Adam with *decoupled* weight decay.

    Instead of adding ``weight_decay * theta`` to the gradient (where Adam's scaling
    by 1 / sqrt(v_hat) would distort it), the weights shrink directly before the
    Adam step::

        theta = theta * (1 - lr * weight_decay)
        theta = theta - lr * m_hat / (sqrt(v_hat) + eps)     (m_hat, v_hat as in Adam)

    Same as ``torch.optim.AdamW`` (default ``weight_decay=1e-2``), which is Adam with
    ``decoupled_weight_decay=True``.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ):
        super().__init__(
            params,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            decoupled_weight_decay=True,
        )

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        for group in self.param_groups:  # AdamW is always decoupled, as in PyTorch
            group["decoupled_weight_decay"] = True
