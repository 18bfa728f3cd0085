"""glassnet <-> PyTorch: the same architecture with identical weights, both ways.

``to_torch(model)`` builds the equivalent ``torch.nn`` module, layer by layer, and
loads the glassnet state_dict into it (the keys are the same by design);
``from_torch(module)`` goes back. A round trip is exact (same dtype, same bits).

PyTorch has no built-in ``Residual`` or ``Concat``: :class:`TorchResidual` and
:class:`TorchConcat` below are small torch modules with the same attribute names, so
their state_dict keys match glassnet's.

torchvision's ResNet and AlexNet (zoo ``resnet18``, ``alexnet``) convert too:
:class:`TorchBasicBlock` and :class:`TorchFlattenBefore` have torchvision's attribute
names and forward.

:func:`load_state_dict_file` reads a PyTorch weight file (``.pth``/``.pt`` with
``torch.load(weights_only=True)``, never an unrestricted pickle; or ``.safetensors``)
as a state_dict of NumPy arrays, e.g. torchvision's pretrained AlexNet.

Other layer types can be taught with :func:`register`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import numpy as np

try:
    import torch
    from torch import nn as tnn
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "glassnet.interop.torch needs PyTorch: pip install 'glassnet[torch]' "
        "(on a CPU-only machine install torch==2.13.0 from the CPU index first)"
    ) from exc

from .. import nn as gnn

__all__ = [
    "to_torch",
    "from_torch",
    "TorchResidual",
    "TorchConcat",
    "TorchBasicBlock",
    "TorchFlattenBefore",
    "register",
    "torch_dtype",
    "load_state_dict_file",
]


class TorchResidual(tnn.Module):
    """y = body(x) + shortcut(x) (identity when shortcut is None), as glassnet.nn.Residual."""

    def __init__(self, body: tnn.Module, shortcut: tnn.Module | None = None):
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x):
        return self.body(x) + (x if self.shortcut is None else self.shortcut(x))


class TorchConcat(tnn.Module):
    """Flatten each branch's output to (N, -1) and concatenate, as glassnet.nn.Concat."""

    def __init__(self, *branches: tnn.Module):
        super().__init__()
        for i, b in enumerate(branches):
            self.add_module(str(i), b)

    def forward(self, x):
        return torch.cat([b(x).flatten(1) for b in self.children()], dim=1)


class TorchBasicBlock(tnn.Module):
    """torchvision's ResNet BasicBlock (same attribute names, same forward)."""

    def __init__(self, conv1, bn1, conv2, bn2, downsample=None):
        super().__init__()
        self.conv1, self.bn1, self.relu = conv1, bn1, tnn.ReLU()
        self.conv2, self.bn2, self.downsample = conv2, bn2, downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class TorchFlattenBefore(tnn.Sequential):
    """Children in order, with ``torch.flatten(x, 1)`` before the child named ``before``
    (torchvision's ResNet: before ``fc``; AlexNet: before ``classifier``)."""

    def __init__(self, modules: OrderedDict, before: str):
        super().__init__(modules)
        self.flatten_before = before

    def forward(self, x):
        for name, m in self.named_children():
            if name == self.flatten_before:
                x = torch.flatten(x, 1)
            x = m(x)
        return x


def torch_dtype(dtype) -> torch.dtype:
    return {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[
        np.dtype(dtype)
    ]


# --------------------------------------------------------------------------- glassnet -> torch
def _conv(m: gnn.Conv2d):
    return tnn.Conv2d(
        m.in_channels,
        m.out_channels,
        m.kernel_size,
        m.stride,
        m.padding,
        m.dilation,
        m.groups,
        m.bias is not None,
    )


def _bn(cls):
    def make(m):
        return cls(m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats)

    return make


_TO_TORCH: dict[type, Callable] = {
    gnn.Linear: lambda m: tnn.Linear(m.in_features, m.out_features, m.bias is not None),
    gnn.Conv2d: _conv,
    gnn.MaxPool2d: lambda m: tnn.MaxPool2d(
        m.kernel_size, m.stride, m.padding, m.dilation, ceil_mode=m.ceil_mode
    ),
    gnn.AvgPool2d: lambda m: tnn.AvgPool2d(
        m.kernel_size, m.stride, m.padding, m.ceil_mode, m.count_include_pad, m.divisor_override
    ),
    gnn.AdaptiveAvgPool2d: lambda m: tnn.AdaptiveAvgPool2d(m.output_size),
    gnn.Flatten: lambda m: tnn.Flatten(m.start_dim, m.end_dim),
    gnn.Unflatten: lambda m: tnn.Unflatten(m.dim, m.unflattened_size),
    gnn.Identity: lambda m: tnn.Identity(),
    gnn.ReLU: lambda m: tnn.ReLU(),
    gnn.LeakyReLU: lambda m: tnn.LeakyReLU(m.negative_slope),
    gnn.Sigmoid: lambda m: tnn.Sigmoid(),
    gnn.Tanh: lambda m: tnn.Tanh(),
    gnn.GELU: lambda m: tnn.GELU(approximate=m.approximate),
    gnn.Softmax: lambda m: tnn.Softmax(m.dim),
    gnn.LogSoftmax: lambda m: tnn.LogSoftmax(m.dim),
    gnn.BatchNorm1d: _bn(tnn.BatchNorm1d),
    gnn.BatchNorm2d: _bn(tnn.BatchNorm2d),
    gnn.Dropout: lambda m: tnn.Dropout(m.p),
}


def _build_torch(m: gnn.Module) -> tnn.Module:
    from ..models.torchvision import BasicBlock, FlattenBefore

    if isinstance(m, FlattenBefore):
        children = OrderedDict((k, _build_torch(c)) for k, c in m.named_children())
        return TorchFlattenBefore(children, m.flatten_before)
    if isinstance(m, BasicBlock):
        parts = [_build_torch(c) for c in (m.conv1, m.bn1, m.conv2, m.bn2)]
        down = None if m.downsample is None else _build_torch(m.downsample)
        return TorchBasicBlock(*parts, down)
    if isinstance(m, gnn.Sequential):
        return tnn.Sequential(OrderedDict((k, _build_torch(c)) for k, c in m.named_children()))
    if isinstance(m, gnn.ModuleList):
        return tnn.ModuleList([_build_torch(c) for c in m])
    if isinstance(m, gnn.Residual):
        shortcut = None if m.shortcut is None else _build_torch(m.shortcut)
        return TorchResidual(_build_torch(m.body), shortcut)
    if isinstance(m, gnn.Concat):
        return TorchConcat(*[_build_torch(c) for c in m.children()])
    maker = _TO_TORCH.get(type(m))
    if maker is None:
        raise TypeError(
            f"to_torch: no PyTorch equivalent is known for {type(m).__name__}; teach one with "
            "glassnet.interop.torch.register(GlassnetClass, to_torch=..., from_torch=...)"
        )
    return maker(m)


def to_torch(model: gnn.Module) -> tnn.Module:
    """The equivalent ``torch.nn`` module, with identical weights, buffers and mode."""
    module = _build_torch(model).to(torch_dtype(model.dtype))
    state = {k: torch.from_numpy(np.array(v, copy=True)) for k, v in model.state_dict().items()}
    module.load_state_dict(state, strict=True)
    _copy_modes(model, module)
    return module


def _copy_modes(source, target) -> None:
    """Each submodule's train/eval flag, by name (a BatchNorm frozen in eval mode inside
    a training model stays frozen); names the other side lacks take the top's mode."""
    modes = {name: m.training for name, m in source.named_modules()}
    for name, m in target.named_modules():
        object.__setattr__(m, "training", bool(modes.get(name, source.training)))


# --------------------------------------------------------------------------- torch -> glassnet
def _t_conv(m: tnn.Conv2d):
    if m.padding_mode != "zeros":
        raise TypeError(f"from_torch: Conv2d padding_mode={m.padding_mode!r} is not supported")
    return gnn.Conv2d(
        m.in_channels,
        m.out_channels,
        m.kernel_size,
        m.stride,
        m.padding,
        m.dilation,
        m.groups,
        m.bias is not None,
    )


def _t_maxpool(m: tnn.MaxPool2d):
    return gnn.MaxPool2d(m.kernel_size, m.stride, m.padding, m.dilation, ceil_mode=m.ceil_mode)


def _t_bn(cls):
    def make(m):
        if m.affine and getattr(m, "bias", None) is None:  # torch 2.13's BatchNorm(bias=False)
            raise TypeError(
                f"from_torch: {type(m).__name__}(bias=False) is not supported: glassnet's "
                "affine BatchNorm always has a weight and a bias"
            )
        return cls(m.num_features, m.eps, m.momentum, m.affine, m.track_running_stats)

    return make


_FROM_TORCH: dict[type, Callable] = {
    tnn.Linear: lambda m: gnn.Linear(m.in_features, m.out_features, m.bias is not None),
    tnn.Conv2d: _t_conv,
    tnn.MaxPool2d: _t_maxpool,
    tnn.AvgPool2d: lambda m: gnn.AvgPool2d(
        m.kernel_size, m.stride, m.padding, m.ceil_mode, m.count_include_pad, m.divisor_override
    ),
    tnn.AdaptiveAvgPool2d: lambda m: gnn.AdaptiveAvgPool2d(m.output_size),
    tnn.Flatten: lambda m: gnn.Flatten(m.start_dim, m.end_dim),
    tnn.Unflatten: lambda m: gnn.Unflatten(m.dim, m.unflattened_size),
    tnn.Identity: lambda m: gnn.Identity(),
    tnn.ReLU: lambda m: gnn.ReLU(),
    tnn.LeakyReLU: lambda m: gnn.LeakyReLU(m.negative_slope),
    tnn.Sigmoid: lambda m: gnn.Sigmoid(),
    tnn.Tanh: lambda m: gnn.Tanh(),
    tnn.GELU: lambda m: gnn.GELU(approximate=m.approximate),
    tnn.Softmax: lambda m: gnn.Softmax(m.dim),
    tnn.LogSoftmax: lambda m: gnn.LogSoftmax(m.dim),
    tnn.BatchNorm1d: _t_bn(gnn.BatchNorm1d),
    tnn.BatchNorm2d: _t_bn(gnn.BatchNorm2d),
    tnn.Dropout: lambda m: gnn.Dropout(m.p),
}


def _is_basic_block(m) -> bool:
    """torchvision's BasicBlock (or this module's twin), recognised by its parts."""
    names = ("conv1", "bn1", "conv2", "bn2", "downsample")
    return type(m).__name__ in ("BasicBlock", "TorchBasicBlock") and all(
        hasattr(m, n) for n in names
    )


def _build_glassnet(m: tnn.Module) -> gnn.Module:
    from ..models.torchvision import BasicBlock, FlattenBefore

    if isinstance(m, TorchFlattenBefore):
        children = OrderedDict((k, _build_glassnet(c)) for k, c in m.named_children())
        return FlattenBefore(children, m.flatten_before)
    if _is_basic_block(m):
        block = BasicBlock(m.conv1.in_channels, m.conv1.out_channels, m.conv1.stride[0])
        for name in ("conv1", "bn1", "conv2", "bn2"):
            setattr(block, name, _build_glassnet(getattr(m, name)))
        block.downsample = None if m.downsample is None else _build_glassnet(m.downsample)
        return block
    if isinstance(m, tnn.Sequential):
        return gnn.Sequential(OrderedDict((k, _build_glassnet(c)) for k, c in m.named_children()))
    if isinstance(m, tnn.ModuleList):
        return gnn.ModuleList([_build_glassnet(c) for c in m])
    if isinstance(m, TorchResidual):
        shortcut = None if m.shortcut is None else _build_glassnet(m.shortcut)
        return gnn.Residual(_build_glassnet(m.body), shortcut)
    if isinstance(m, TorchConcat):
        return gnn.Concat(*[_build_glassnet(c) for c in m.children()])
    maker = _FROM_TORCH.get(type(m))
    if maker is None:
        raise TypeError(
            f"from_torch: no glassnet equivalent is known for {type(m).__name__}; teach one "
            "with glassnet.interop.torch.register(...)"
        )
    return maker(m)


def from_torch(module: tnn.Module) -> gnn.Module:
    """The equivalent glassnet model, with identical weights, buffers and mode."""
    model = _build_glassnet(module)
    # floating buffers count too: BatchNorm(affine=False) has running stats but no parameters
    dtypes = {p.dtype for p in module.parameters()}
    dtypes |= {b.dtype for b in module.buffers() if b.is_floating_point()}
    if dtypes == {torch.float64}:
        model.to(np.float64)
    elif dtypes - {torch.float32, torch.float64}:
        raise TypeError(f"from_torch: only float32/float64 parameters are supported, got {dtypes}")
    model.load_state_dict(
        {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}, strict=True
    )
    _copy_modes(module, model)
    return model


def register(
    glassnet_cls: type,
    to_torch: Callable | None = None,
    from_torch: tuple[type, Callable] | None = None,
) -> None:
    """Teach the converters a new layer: ``to_torch(m) -> torch module`` and
    ``from_torch=(TorchClass, make)`` with ``make(torch_module) -> glassnet module``."""
    if to_torch is not None:
        _TO_TORCH[glassnet_cls] = to_torch
    if from_torch is not None:
        _FROM_TORCH[from_torch[0]] = from_torch[1]


# --------------------------------------------------------------------------- weight files
def load_state_dict_file(path) -> OrderedDict:
    """A state_dict of NumPy arrays from a PyTorch weight file.

    ``.pth`` / ``.pt`` / ``.bin`` are read with ``torch.load(map_location="cpu",
    weights_only=True)``: tensors and plain containers only, never arbitrary pickled
    objects. A file holding ``{"state_dict": ...}`` or ``{"model": ...}`` (common
    checkpoint layouts) gives that inner dict. ``.safetensors`` is read with the
    safetensors library. Load the result with ``model.load_state_dict(state)``, which
    names any missing or unexpected key and any shape that differs.
    """
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such weight file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from ..io import load_arrays

        arrays, _ = load_arrays(path)
        return OrderedDict(arrays)
    if suffix not in (".pth", ".pt", ".bin", ".ckpt"):
        raise ValueError(
            f"{path}: unknown weight file type {suffix!r}; expected .pth, .pt or .safetensors"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, a zip that is cut short, ...
        raise ValueError(
            f"{path}: cannot read it as a PyTorch weight file with weights_only=True "
            f"(only tensors and plain containers are accepted): {exc}"
        ) from None
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not obj:
        raise ValueError(f"{path}: holds {type(obj).__name__}, not a state_dict of tensors")
    state = OrderedDict()
    for key, value in obj.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(
                f"{path}: entry {key!r} is a {type(value).__name__}, not a tensor: not a state_dict"
            )
        state[str(key)] = value.detach().cpu().numpy()
    return state
