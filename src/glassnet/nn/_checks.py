"""Input checks shared by the layers: clear errors that name the layer and the shapes."""

from __future__ import annotations

import numpy as np

from .parameter import Parameter


def check_real(a: np.ndarray, who: str, what: str = "") -> None:
    """TypeError unless ``a`` holds real numbers (floats, integers or bools): complex
    values, strings, objects and dates are refused, since a cast to float would drop an
    imaginary part with only a warning, or fail later with a less clear message.
    ``what`` names the argument: ``"target as "`` gives "expects target as a real...".
    """
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{who} expects {what}a real numeric array, got dtype {a.dtype}")


def as_input(
    module, x, ndims: tuple[int, ...], what: str, dim: int | None = None, size: int | None = None
) -> np.ndarray:
    """Validate ``x`` for ``module`` and return it as a float array.

    ``ndims``: accepted numbers of dimensions; ``what``: how the expected layout is
    described in the error (``"(N, C, H, W)"``). If ``dim``/``size`` are given,
    ``x.shape[dim]`` must equal ``size`` (a channel or feature count).

    Integer and boolean inputs are converted to the module's dtype (float32 unless
    the module was moved with ``.to()``); float inputs are converted to the dtype of
    the module's parameters, so a float32 model never silently computes in float64.
    Modules without parameters keep a float input's dtype.
    """
    name = type(module).__name__
    if not isinstance(x, np.ndarray):
        if isinstance(x, Parameter):
            x = x.data
        elif hasattr(x, "detach") and hasattr(x, "numpy"):
            raise TypeError(f"{name} expects a numpy array, got a torch tensor: pass t.numpy()")
        x = np.asarray(x)
    if x.ndim not in ndims:
        raise ValueError(
            f"{name} expects input of shape {what} ({' or '.join(map(str, ndims))}-D), "
            f"got shape {x.shape}"
        )
    if dim is not None and x.shape[dim] != size:
        raise ValueError(
            f"{module!r} expects {size} at dimension {dim} of input {what}, got shape {x.shape}"
        )
    check_real(x, name)
    target = None
    for p in module._parameters.values():
        if p is not None:
            target = p.data.dtype
            break
    if target is not None:
        if x.dtype != target:
            x = x.astype(target)
    elif x.dtype.kind != "f":  # integers and bools (the kinds left after the check above)
        x = x.astype(np.float32)
    return x


def check_grad(module, grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The upstream gradient must have the output's shape."""
    grad = np.asarray(grad)
    if grad.shape != tuple(shape):
        raise ValueError(
            f"{type(module).__name__}.backward expects a gradient of the output's shape "
            f"{tuple(shape)}, got {grad.shape}"
        )
    return grad
