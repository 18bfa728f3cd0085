"""Gradient checking by central differences, in float64.

For a module f and a random fixed projection r (so the check is of a scalar
L = sum(r * f(x))), the analytic gradients come from one backward pass with
``grad_out = r``; each numeric gradient entry is::

    dL/dθ_k  ≈  (L(θ + h e_k) - L(θ - h e_k)) / (2h)          (error O(h^2))

for every entry of the input and of every parameter (or a random sample of
entries when a tensor is large). An entry passes when
``|analytic - numeric| <= atol + rtol * |numeric|``. The check runs on a float64
*copy* of the module, so the module you pass in is not changed, and it reseeds
glassnet's generator (and any module's own ``generator``) before every forward so
dropout draws the same mask each time.

Parameters with ``requires_grad=False`` are not checked (backward gives them no
gradient). Each parameter's ``.grad`` starts the backward pass holding random values
that are taken off afterwards, so a backward that overwrites ``.grad`` instead of
adding to it fails. A backward that is 1% off fails with the defaults (see the tests).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from . import random as _random
from .nn.module import Module

__all__ = ["gradcheck", "GradcheckResult", "TensorCheck"]


@dataclass
class TensorCheck:
    """Errors for one tensor: the input, or one named parameter."""

    name: str
    shape: tuple[int, ...]
    checked: int
    max_abs_error: float
    max_rel_error: float
    passed: bool


@dataclass
class GradcheckResult:
    """Truthy when every checked tensor passed; ``str()`` gives a table."""

    tensors: list[TensorCheck] = field(default_factory=list)
    atol: float = 0.0
    rtol: float = 0.0

    @property
    def passed(self) -> bool:
        return all(t.passed for t in self.tensors)

    def __bool__(self) -> bool:
        return self.passed

    def __getitem__(self, name: str) -> TensorCheck:
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(name)

    def __str__(self) -> str:
        width = max([len(t.name) for t in self.tensors] + [6])
        lines = [
            f"{'tensor':<{width}}  {'shape':<18} {'checked':>7}  {'max abs err':>11}  "
            f"{'max rel err':>11}  result"
        ]
        for t in self.tensors:
            lines.append(
                f"{t.name:<{width}}  {str(t.shape):<18} {t.checked:>7}  {t.max_abs_error:>11.2e}  "
                f"{t.max_rel_error:>11.2e}  {'ok' if t.passed else 'FAIL'}"
            )
        verdict = "PASSED" if self.passed else "FAILED"
        lines.append(f"gradcheck {verdict} (atol={self.atol:g}, rtol={self.rtol:g})")
        return "\n".join(lines)


def gradcheck(
    module_or_fn,
    x,
    *args,
    backward=None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    max_checks: int | None = 400,
    check_input: bool = True,
    seed: int = 0,
) -> GradcheckResult:
    """Check a module's (or function's) backward against central differences.

    ``module_or_fn``: a ``Module`` (its float64 copy is checked, in its current
    train/eval mode), a loss (extra ``*args`` such as targets are passed to it), or a
    plain function ``f(x, *args)`` together with ``backward=lambda g: dL/dx``.
    ``max_checks``: entries sampled per tensor (``None``: all of them).
    """
    if not eps > 0:  # central differences divide by 2 * eps
        raise ValueError(f"gradcheck: eps must be positive, got {eps!r}")
    rng = np.random.default_rng(seed)
    x = np.array(x, dtype=np.float64, copy=True)
    if isinstance(module_or_fn, Module):
        module = copy.deepcopy(module_or_fn).to(np.float64).set_input_grad(True)
        forward, back = module, module.backward
        # frozen parameters get no gradient (backward leaves their .grad alone), as in torch
        params = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
    else:
        if backward is None:
            raise ValueError("gradcheck of a plain function needs backward=...")
        forward, back, params = module_or_fn, backward, []

    state = _random.get_rng_state()
    private = []  # modules' own generators (Dropout(generator=...)) are held fixed too
    if isinstance(module_or_fn, Module):
        private = [
            m.generator
            for m in module.modules()
            if isinstance(getattr(m, "generator", None), np.random.Generator)
        ]
    private_states = [g.bit_generator.state for g in private]

    def run(inp):
        _random.set_rng_state(state)  # same dropout masks on every evaluation
        for g, s in zip(private, private_states):
            g.bit_generator.state = s
        # a copy: an in-place layer (ReLU(inplace=True)) would change the perturbed array
        return np.asarray(forward(inp.copy(), *args), dtype=np.float64)

    y = run(x)
    r = rng.standard_normal(y.shape)
    # backward must *add* to .grad (gradients of a module used twice, or of several
    # batches, add up): start from random values and take them off afterwards, so that
    # a backward that overwrites .grad fails the check
    prefill = np.random.default_rng(seed + 1)  # not rng: the entries checked stay the same
    before = {name: prefill.standard_normal(p.grad.shape) for name, p in params}
    for name, p in params:
        p.grad[...] = before[name]
    grad_x = np.asarray(back(r if y.ndim else float(r)))
    analytic = {"input": grad_x}
    for name, p in params:
        analytic[name] = p.grad - before[name]

    def loss(inp):
        return float(np.sum(run(inp) * r))

    result = GradcheckResult(atol=atol, rtol=rtol)
    targets = ([("input", x)] if check_input else []) + [(n, p.data) for n, p in params]
    for name, array in targets:
        flat = array.reshape(-1)
        idx = np.arange(flat.size)
        if max_checks is not None and flat.size > max_checks:
            idx = rng.choice(flat.size, size=max_checks, replace=False)
        got = np.asarray(analytic[name], dtype=np.float64).reshape(-1)[idx]
        numeric = np.array([_central(loss, x, flat, i, eps) for i in idx])
        ok = np.abs(got - numeric) <= atol + rtol * np.abs(numeric)
        # A failure can be a kink (ReLU at 0, a max-pool tie) inside [θ-h, θ+h] rather than
        # a wrong backward: retry with smaller steps, which move the kink out of the window.
        # A wrong backward stays wrong at every step size.
        for k in np.flatnonzero(~ok):
            for h in (eps / 10, eps / 100):
                retry = _central(loss, x, flat, idx[k], h)
                if abs(got[k] - retry) <= atol + rtol * abs(retry):
                    numeric[k], ok[k] = retry, True
                    break
        abs_err = np.abs(got - numeric)
        rel_err = abs_err / np.maximum(np.maximum(np.abs(numeric), np.abs(got)), 1e-8)
        result.tensors.append(
            TensorCheck(
                name=name,
                shape=tuple(array.shape),
                checked=len(idx),
                max_abs_error=float(abs_err.max()) if len(idx) else 0.0,
                max_rel_error=float(rel_err.max()) if len(idx) else 0.0,
                passed=bool(ok.all()),
            )
        )
    _random.set_rng_state(state)
    return result


def _central(loss, x, flat: np.ndarray, i: int, h: float) -> float:
    """(L(θ_i + h) - L(θ_i - h)) / 2h, with θ the array that ``flat`` views."""
    original = flat[i]
    flat[i] = original + h
    plus = loss(x)
    flat[i] = original - h
    minus = loss(x)
    flat[i] = original
    return (plus - minus) / (2 * h)
