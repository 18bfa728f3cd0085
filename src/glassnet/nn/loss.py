"""Losses: CrossEntropyLoss, NLLLoss, MSELoss.

Usage (as PyTorch, but the backward is explicit)::

    loss = loss_fn(logits, targets)     # a float (or per-sample array with reduction='none')
    dlogits = loss_fn.backward()        # dL/dlogits, same shape as logits

Cross-entropy from logits z (N, C) fuses log-softmax and the negative log likelihood,
which is both stabler and simpler to differentiate. With p = softmax(z) and a target
distribution q_i over classes (a one-hot row for class indices, smoothed by
label_smoothing eps: q = (1 - eps) * onehot + eps / C, scaled by class weights w)::

    loss_i     = -sum_c q_ic * log p_ic
    dloss_i/dz = p_i * sum_c q_ic - q_i          (= p_i - onehot_i in the plain case)

``reduction='mean'`` divides the sum by sum_i w[y_i] (N without weights), like PyTorch.
"""

from __future__ import annotations

import numpy as np

from ._checks import check_grad, check_real
from .functional import log_softmax
from .module import Module

__all__ = ["CrossEntropyLoss", "NLLLoss", "MSELoss"]

_REDUCTIONS = ("mean", "sum", "none")


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction

    def _reduce(self, per_sample: np.ndarray, normalizer: float):
        if self.reduction == "none":
            return per_sample
        total = per_sample.sum()
        if self.reduction == "sum":
            return float(total)
        return float(total / normalizer) if normalizer > 0 else float("nan")

    def _upstream(self, grad_out, n: int, dtype) -> np.ndarray:
        """Per-sample multiplier of the upstream gradient (1/normalizer for 'mean')."""
        if self.reduction == "none":
            g = np.ones(n, dtype=dtype) if grad_out is None else check_grad(self, grad_out, (n,))
            return np.asarray(g, dtype=dtype)
        g = 1.0 if grad_out is None else float(np.asarray(grad_out).reshape(()))
        return np.full(n, g, dtype=dtype)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}" if self.reduction != "mean" else ""


def _check_logits(module, x, name="input") -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(
            f"{type(module).__name__} expects {name} of shape (N, C), got shape {x.shape}"
        )
    return _real(module, x, name)


def _real(module, x: np.ndarray, name: str) -> np.ndarray:
    """x as floats: floats kept, integers and bools cast to float32; what is not real
    refused, as the layers refuse it (``check_real``)."""
    # dtype.kind, not np.issubdtype: the same answer for NumPy's dtypes, at a fraction of
    # the cost on every training step
    if x.dtype.kind == "f":
        return x
    check_real(x, type(module).__name__, f"{name} as ")
    return x.astype(np.float32)


def _check_class_targets(module, y, n: int, c: int, ignore_index: int) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(
            f"{type(module).__name__} expects class-index targets of shape ({n},), got {y.shape}"
        )
    # signed or unsigned integers ("iu"; bool is "b"). Unlike np.issubdtype(np.integer),
    # timedelta64 ("m") is refused here rather than failing later as an index.
    if y.dtype.kind not in "iu":
        if y.dtype.kind == "f" and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        else:
            raise ValueError(
                f"{type(module).__name__}: targets must be integer class indices, got {y.dtype}"
            )
    valid = y != ignore_index
    bad = valid & ((y < 0) | (y >= c))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{type(module).__name__}: target {int(y[i])} at position {i} is out of range "
            f"for {c} classes"
        )
    return y


class CrossEntropyLoss(_Loss):
    """Softmax + negative log likelihood from raw logits (N, C).

    Targets are class indices (N,) or class probabilities (N, C). Indices held in a
    float array are taken when every value is a whole number (as scikit-learn and
    Keras take them; PyTorch asks for int64). ``weight`` (C,)
    rescales each class; ``ignore_index`` targets contribute nothing;
    ``label_smoothing`` mixes the target with the uniform distribution.
    """

    def __init__(
        self,
        weight=None,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ):
        super().__init__(reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
        self.weight = None if weight is None else np.asarray(weight, dtype=np.float64)
        self.ignore_index = int(ignore_index)
        self.label_smoothing = float(label_smoothing)

    def forward(self, logits, target):
        z = _check_logits(self, logits)
        n, c = z.shape
        w = np.ones(c, dtype=z.dtype) if self.weight is None else self.weight.astype(z.dtype)
        if w.shape != (c,):
            raise ValueError(f"CrossEntropyLoss: weight has shape {w.shape}, expected ({c},)")
        eps = self.label_smoothing
        target = np.asarray(target)
        if target.ndim == 2:  # class probabilities
            if target.shape != z.shape:
                raise ValueError(
                    f"CrossEntropyLoss: probability targets must have the logits' shape "
                    f"{z.shape}, got {target.shape}"
                )
            check_real(target, "CrossEntropyLoss", "probability targets as ")
            q = ((1 - eps) * target.astype(z.dtype) + eps / c) * w
            normalizer = float(n)
        else:
            y = _check_class_targets(self, target, n, c, self.ignore_index)
            valid = y != self.ignore_index
            safe_y = np.where(valid, y, 0)
            q = np.zeros_like(z)
            if eps > 0:
                q += (eps / c) * w
            q[np.arange(n), safe_y] += (1 - eps) * w[safe_y]
            q[~valid] = 0
            normalizer = float(w[safe_y][valid].sum())
        logp = log_softmax(z, axis=1)
        self._save_for_backward(logp, q, normalizer)
        loss = self._reduce(-(q * logp).sum(axis=1), normalizer)
        if (loss != loss) if isinstance(loss, float) else np.isnan(loss).any():  # NaN: rare
            # Classes with no target weight (q = 0) add nothing, even where log p is -inf
            # (a masked logit) or NaN (an ignored row holding inf): 0 * -inf would be NaN.
            loss = self._reduce(-(q * np.where(q != 0, logp, 0)).sum(axis=1), normalizer)
        return loss

    def backward(self, grad_out=None) -> np.ndarray:
        logp, q, normalizer = self._saved()
        n = logp.shape[0]
        scale = self._upstream(grad_out, n, logp.dtype)
        if self.reduction == "mean":  # nothing counted (all ignored): zero gradient, as torch
            scale = scale / normalizer if normalizer > 0 else np.zeros_like(scale)
        grad = np.exp(logp) * q.sum(axis=1, keepdims=True) - q
        return grad * scale[:, None]

    def extra_repr(self) -> str:
        parts = [super().extra_repr()]
        if self.label_smoothing:
            parts.append(f"label_smoothing={self.label_smoothing}")
        return ", ".join(p for p in parts if p)


class NLLLoss(_Loss):
    """Negative log likelihood of log-probabilities (N, C): loss_i = -w[y_i] * x[i, y_i].

    Backward: dL/dx[i, y_i] = -w[y_i] (divided by sum_i w[y_i] for 'mean'); 0 elsewhere.
    Pair it with ``LogSoftmax(dim=1)``.
    """

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(reduction)
        self.weight = None if weight is None else np.asarray(weight, dtype=np.float64)
        self.ignore_index = int(ignore_index)

    def forward(self, input, target):
        x = _check_logits(self, input)
        n, c = x.shape
        y = _check_class_targets(self, target, n, c, self.ignore_index)
        w = np.ones(c, dtype=x.dtype) if self.weight is None else self.weight.astype(x.dtype)
        if w.shape != (c,):
            raise ValueError(f"NLLLoss: weight has shape {w.shape}, expected ({c},)")
        valid = y != self.ignore_index
        safe_y = np.where(valid, y, 0)
        wy = np.where(valid, w[safe_y], 0).astype(x.dtype)
        per_sample = -wy * x[np.arange(n), safe_y]
        normalizer = float(wy.sum())
        self._save_for_backward(x.shape, x.dtype, safe_y, wy, normalizer)
        return self._reduce(per_sample, normalizer)

    def backward(self, grad_out=None) -> np.ndarray:
        shape, dtype, safe_y, wy, normalizer = self._saved()
        scale = self._upstream(grad_out, shape[0], dtype)
        if self.reduction == "mean":  # nothing counted (all ignored): zero gradient, as torch
            scale = scale / normalizer if normalizer > 0 else np.zeros_like(scale)
        grad = np.zeros(shape, dtype=dtype)
        grad[np.arange(shape[0]), safe_y] = -wy * scale
        return grad


class MSELoss(_Loss):
    """Mean squared error: loss = mean((x - y)^2);  dL/dx = 2 (x - y) / numel."""

    def forward(self, input, target):
        x = np.asarray(input)
        t = np.asarray(target)
        if x.shape != t.shape:
            raise ValueError(f"MSELoss: input shape {x.shape} and target shape {t.shape} differ")
        x = _real(self, x, "input")
        check_real(t, "MSELoss", "target as ")
        diff = x - t.astype(x.dtype, copy=False)
        self._save_for_backward(diff)
        sq = diff * diff
        if self.reduction == "none":
            return sq
        return float(sq.sum()) if self.reduction == "sum" else float(sq.mean())

    def backward(self, grad_out=None) -> np.ndarray:
        (diff,) = self._saved()
        if self.reduction == "none":
            g = np.ones_like(diff) if grad_out is None else check_grad(self, grad_out, diff.shape)
            return 2 * diff * g
        g = 1.0 if grad_out is None else float(np.asarray(grad_out).reshape(()))
        if self.reduction == "mean":
            g /= diff.size
        return (2 * g) * diff
