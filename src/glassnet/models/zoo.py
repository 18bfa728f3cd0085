"""The model zoo: named architectures built from ``glassnet.nn``.

Every entry is a builder ``f(input_shape, num_classes, **options) -> Module`` plus a
default input shape, so ``get("lenet5")`` gives the MNIST LeNet-5 and
``get("cnn-pool", input_shape=(3, 32, 32))`` adapts a design to other data. All models
are plain ``Sequential`` / ``Residual`` / ``Concat`` trees, so ``to_torch`` converts them.

The classic study (baseline -> convolution -> pooling -> skip link), for the 8x8
digits (``digits-*``) and CIFAR-10 (``cifar10-*``):

* ``baseline``      flatten -> Linear(hidden) -> Sigmoid -> Linear(classes)
                    (one sigmoid hidden layer: 30 units for digits, 100 for CIFAR-10)
* ``cnn``           Conv2d(C, 18, 3, padding=1) -> ReLU -> flatten -> Linear(64) -> ReLU
                    -> Linear(classes)
* ``cnn-pool``      the same with MaxPool2d(2) after the ReLU (4x fewer features)
* ``cnn-pool-skip`` Concat(raw pixels, pooled conv features) -> Linear(64) -> ReLU
                    -> Linear(classes): the skip link hands the image itself to the
                    classifier next to what the convolution found.

Larger references:

* ``mnist-mlp``  784-128-10 with ReLU.
* ``lenet5``     LeCun et al. (1998), modernised as usual: ReLU and max pooling instead of
                 scaled tanh and trainable subsampling; Conv(6, 5x5, padding 2 on 28x28)
                 -> pool -> Conv(16, 5x5) -> pool -> 120 -> 84 -> classes.
* ``resnet8``, ``resnet20``  the CIFAR ResNets of He et al. (2016, section 4.2): a 3x3
                 conv with 16 filters, three stages of n basic blocks with 16/32/64
                 filters (n=1: 8 layers, n=3: 20), global average pooling, a linear
                 classifier; BatchNorm after every conv. The stage transitions use
                 projection shortcuts (1x1 conv + BN, the paper's option B) so every
                 shortcut is an ordinary layer that PyTorch has too.

Models take their classic knobs as keyword arguments, with the values above as their
defaults (``knobs(name)`` lists them): ``hidden`` and ``activation`` (sigmoid, relu,
leaky_relu, tanh) of ``baseline`` and ``mnist-mlp`` (``hidden`` may list several
layers), ``filters`` and ``hidden`` of the CNNs, ``channels`` and ``hidden`` of LeNet-5
(two each), ``widths`` of the ResNets' three stages.
"""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .. import nn
from .._numbers import is_whole

__all__ = ["get", "list_models", "info", "knobs", "ModelSpec", "register", "ACTIVATIONS"]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    builder: Callable
    input_shape: tuple[int, int, int]
    num_classes: int
    description: str
    source: str
    defaults: tuple = ()  # (option, value) pairs applied before user overrides


_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    _REGISTRY[spec.name] = spec
    return spec


# ------------------------------------------------------------------ the classic study
def _features(input_shape) -> int:
    return int(np.prod(input_shape))


# the activations a model's ``activation`` knob names (PyTorch's modules, default arguments)
ACTIVATIONS = {
    "sigmoid": nn.Sigmoid,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "gelu_tanh": functools.partial(nn.GELU, approximate="tanh"),
}


def activation_name(name) -> str:
    """The key of ``ACTIVATIONS`` that ``name`` spells ("GELU", "leaky-relu", ...); a
    ValueError naming the choices when it spells none."""
    key = str(name).strip().lower().replace("-", "_") if isinstance(name, str) else name
    if key not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose from {', '.join(ACTIVATIONS)}")
    return key


def _activation(name) -> nn.Module:
    return ACTIVATIONS[activation_name(name)]()


def _width(value, what: str) -> int:
    """A layer width knob: a whole number >= 1 (a clear error otherwise)."""
    if not is_whole(value) or value < 1:
        raise ValueError(f"{what} must be a whole number, at least 1, got {value!r}")
    return int(value)


def _widths(value, what: str) -> tuple[int, ...]:
    """One width or a sequence of them (several hidden layers)."""
    values = value if isinstance(value, (list, tuple)) else (value,)
    if not values:
        raise ValueError(f"{what} needs at least one width, got {value!r}")
    return tuple(_width(v, what) for v in values)


def _hidden_layers(features: int, hidden, activation, num_classes: int) -> list[nn.Module]:
    """Linear -> activation for each hidden width, then the output Linear."""
    layers, width = [], features
    for h in _widths(hidden, "hidden"):
        layers += [nn.Linear(width, h), _activation(activation)]
        width = h
    return [*layers, nn.Linear(width, num_classes)]


def baseline(input_shape, num_classes, hidden: int = 30, activation: str = "sigmoid"):
    """``hidden``: the hidden layer's width (a list: several layers); ``activation``:
    sigmoid (the classic), relu, leaky_relu or tanh."""
    return nn.Sequential(
        nn.Flatten(), *_hidden_layers(_features(input_shape), hidden, activation, num_classes)
    )


def _conv_features(channels: int, filters: int, pool: bool) -> list[nn.Module]:
    """The study's feature extractor: 3x3 conv (padding 1), ReLU, optional 2x2 max pool."""
    filters = _width(filters, "filters")
    layers = [nn.Conv2d(channels, filters, 3, padding=1), nn.ReLU()]
    return layers + [nn.MaxPool2d(2)] if pool else layers


def _classifier(features: int, hidden: int, num_classes: int) -> list[nn.Module]:
    hidden = _width(hidden, "hidden")
    return [nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, num_classes)]


def _cnn(input_shape, num_classes, filters: int, hidden: int, pool: bool):
    c, h, w = input_shape
    size = (h // 2) * (w // 2) if pool else h * w
    return nn.Sequential(
        *_conv_features(c, filters, pool),
        nn.Flatten(),
        *_classifier(filters * size, hidden, num_classes),
    )


def cnn(input_shape, num_classes, filters: int = 18, hidden: int = 64):
    return _cnn(input_shape, num_classes, filters, hidden, pool=False)


def cnn_pool(input_shape, num_classes, filters: int = 18, hidden: int = 64):
    return _cnn(input_shape, num_classes, filters, hidden, pool=True)


def cnn_pool_skip(input_shape, num_classes, filters: int = 18, hidden: int = 64):
    c, h, w = input_shape
    conv_branch = nn.Sequential(*_conv_features(c, filters, pool=True), nn.Flatten())
    features = c * h * w + filters * (h // 2) * (w // 2)
    return nn.Sequential(
        nn.Concat(nn.Flatten(), conv_branch), *_classifier(features, hidden, num_classes)
    )


# ------------------------------------------------------------------ references
def mlp(input_shape, num_classes, hidden=128, activation: str = "relu"):
    """``hidden``: one width or a list (one hidden layer each); ``activation`` as baseline's."""
    return nn.Sequential(
        nn.Flatten(), *_hidden_layers(_features(input_shape), hidden, activation, num_classes)
    )


def lenet5(input_shape, num_classes, channels=(6, 16), hidden=(120, 84)):
    """``channels``: the two convolutions' filters; ``hidden``: the two hidden layers'."""
    c, h, w = input_shape
    pad = 2 if (h, w) == (28, 28) else 0  # 28x28 MNIST is padded to LeNet's 32x32
    # conv 5 (with pad), pool 2, conv 5, pool 2: each side on its own (inputs may be oblong)
    sh, sw = (((side + 2 * pad - 4) // 2 - 4) // 2 for side in (h, w))
    if min(sh, sw) <= 0:
        raise ValueError(f"lenet5 needs inputs of at least 12x12 pixels, got {input_shape}")
    c1, c2 = _pair(channels, "channels")
    h1, h2 = _pair(hidden, "hidden")
    return nn.Sequential(
        nn.Conv2d(c, c1, 5, padding=pad),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(c2 * sh * sw, h1),
        nn.ReLU(),
        nn.Linear(h1, h2),
        nn.ReLU(),
        nn.Linear(h2, num_classes),
    )


def _pair(value, what: str) -> tuple[int, int]:
    widths = _widths(value, what)
    if len(widths) != 2:
        raise ValueError(f"{what} takes two widths, e.g. {what}=6/16, got {value!r}")
    return widths


def basic_block(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """conv3x3-BN-ReLU-conv3x3-BN plus the shortcut, then ReLU (He et al. 2016)."""
    body = nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
    )
    shortcut = None
    if stride != 1 or in_channels != out_channels:
        shortcut = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
            nn.BatchNorm2d(out_channels),
        )
    return nn.Sequential(nn.Residual(body, shortcut), nn.ReLU())


def cifar_resnet(input_shape, num_classes, depth: int = 20, widths=(16, 32, 64)):
    if (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n+2 (8, 14, 20, 32, ...), got {depth}")
    blocks = (depth - 2) // 6
    widths = _widths(widths, "widths")
    if len(widths) != 3:
        raise ValueError(f"widths takes the three stages' filters, e.g. 16/32/64, got {widths!r}")
    c = input_shape[0]
    layers = [
        nn.Conv2d(c, widths[0], 3, padding=1, bias=False),
        nn.BatchNorm2d(widths[0]),
        nn.ReLU(),
    ]
    in_ch = widths[0]
    for stage, width in enumerate(widths):
        for b in range(blocks):
            stride = 2 if stage > 0 and b == 0 else 1
            layers.append(basic_block(in_ch, width, stride))
            in_ch = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_ch, num_classes)]
    model = nn.Sequential(*layers)
    for m in model.modules():  # He initialisation for the convolutions, as in the paper
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return model


_DIGITS, _CIFAR, _MNIST = (1, 8, 8), (3, 32, 32), (1, 28, 28)
_STUDY = (
    ("baseline", baseline, "one sigmoid hidden layer"),
    ("cnn", cnn, "3x3 conv (18 filters) + a 64-unit hidden layer"),
    ("cnn-pool", cnn_pool, "3x3 conv (18) + 2x2 max pooling + 64 hidden"),
    ("cnn-pool-skip", cnn_pool_skip, "pooled conv features concatenated with the raw image"),
)
for _short, _builder, _text in _STUDY:
    register(
        ModelSpec(
            f"digits-{_short}",
            _builder,
            _DIGITS,
            10,
            f"classic study on 8x8 digits: {_text}",
            "glassnet classic study",
            (("hidden", 30),) if _short == "baseline" else (),
        )
    )
    register(
        ModelSpec(
            f"cifar10-{_short}",
            _builder,
            _CIFAR,
            10,
            f"classic study on CIFAR-10: {_text}",
            "glassnet classic study",
            (("hidden", 100),) if _short == "baseline" else (),
        )
    )
register(
    ModelSpec(
        "mnist-mlp", mlp, _MNIST, 10, "MLP 784-128-10 with ReLU", "the standard MNIST MLP baseline"
    )
)
register(
    ModelSpec(
        "lenet5",
        lenet5,
        _MNIST,
        10,
        "LeNet-5 with ReLU and max pooling (61,706 parameters on MNIST)",
        "LeCun, Bottou, Bengio, Haffner 1998",
    )
)
register(
    ModelSpec(
        "resnet8",
        cifar_resnet,
        _CIFAR,
        10,
        "CIFAR ResNet-8 (1 block per stage)",
        "He, Zhang, Ren, Sun 2016, section 4.2",
        (("depth", 8),),
    )
)
register(
    ModelSpec(
        "resnet20",
        cifar_resnet,
        _CIFAR,
        10,
        "CIFAR ResNet-20 (3 blocks per stage)",
        "He, Zhang, Ren, Sun 2016, section 4.2",
        (("depth", 20),),
    )
)


def _airbench(input_shape, num_classes, widths=(64, 256, 256), activation="relu"):
    # ReLU by default: models saved before the knob (options {}) rebuild as they were;
    # the recipe asks for airbench94's GELU (Recipe94.activation)
    from .airbench import airbench

    return airbench(input_shape, num_classes, widths, activation)


register(
    ModelSpec(
        "airbench",
        _airbench,
        _CIFAR,
        10,
        "the fast CIFAR-10 recipe's net: 2x2 patch whitening, three conv blocks 64/256/256 "
        "(glassnet train --recipe cifar10-94)",
        "after Keller Jordan's airbench94 (2024)",
    )
)


# short names of the study resolve per dataset: ("cnn", "digits") -> "digits-cnn"
STUDY_MODELS = tuple(short for short, _, _ in _STUDY)


def list_models() -> list[str]:
    """Names accepted by :func:`get`."""
    return sorted(_REGISTRY)


def resolve(name: str, dataset: str | None = None) -> str:
    """Full zoo name for ``name``; study short names need the dataset ('cnn' -> 'digits-cnn')."""
    key = name.strip().lower().replace("_", "-")
    if key in _REGISTRY:
        return key
    if key in STUDY_MODELS:
        prefix = {"digits": "digits", "cifar10": "cifar10"}.get((dataset or "digits").lower())
        if prefix is not None:
            return f"{prefix}-{key}"
        return key  # builders adapt to the dataset's input shape
    nearest = difflib.get_close_matches(key, [*list_models(), *STUDY_MODELS], n=1, cutoff=0.6)
    hint = f" (did you mean {nearest[0]!r}?)" if nearest else ""
    raise ValueError(
        f"unknown model {name!r}{hint}; available: {', '.join(list_models())}, and the study's "
        f"short names {', '.join(STUDY_MODELS)} (digits-... or cifar10-... by dataset)"
    )


def _builder_for(name: str) -> tuple[Callable, tuple, int, dict]:
    if name in _REGISTRY:
        spec = _REGISTRY[name]
        return spec.builder, spec.input_shape, spec.num_classes, dict(spec.defaults)
    builder = {short: b for short, b, _ in _STUDY}[name]
    return builder, _DIGITS, 10, {}


def knobs(name: str) -> dict:
    """The options ``get(name, **options)`` accepts, with this model's defaults:
    ``knobs("baseline")`` -> ``{"hidden": 30, "activation": "sigmoid"}``."""
    builder, _, _, defaults = _builder_for(resolve(name))
    return {**_signature_defaults(builder), **defaults}


def _signature_defaults(builder) -> dict:
    """The builder's keyword options and their defaults (input shape and classes aside)."""
    return {
        p.name: p.default
        for p in inspect.signature(builder).parameters.values()
        if p.name not in ("input_shape", "num_classes") and p.default is not p.empty
    }


def get(
    name: str,
    input_shape=None,
    num_classes: int | None = None,
    dtype=np.float32,
    seed: int | None = None,
    **overrides,
) -> nn.Module:
    """Build a zoo model. ``input_shape`` (C, H, W) and ``num_classes`` adapt it to other
    data; other keyword arguments override the builder's options (e.g. ``hidden=64``).
    ``seed`` reseeds glassnet's generator first, for reproducible weights."""
    key = resolve(name)
    builder, default_shape, default_classes, defaults = _builder_for(key)
    options = {**defaults, **overrides}
    accepted = set(inspect.signature(builder).parameters) - {"input_shape", "num_classes"}
    unknown = set(options) - accepted
    if unknown:
        raise ValueError(
            f"model {name!r} has no option(s) {sorted(unknown)}; it accepts {sorted(accepted)}"
        )
    if seed is not None:
        from ..random import manual_seed

        manual_seed(seed)
    shape = tuple(int(s) for s in (input_shape or default_shape))
    if len(shape) != 3:
        raise ValueError(f"input_shape must be (C, H, W), got {input_shape!r}")
    classes = default_classes if num_classes is None else num_classes
    if not is_whole(classes) or classes < 1:
        raise ValueError(f"num_classes must be a whole number, at least 1, got {num_classes!r}")
    classes = int(classes)
    if min(shape) < 1:
        raise ValueError(f"input_shape must be positive, got {input_shape!r}")
    model = builder(shape, classes, **options)
    # what it takes to rebuild this architecture (saved beside the weights), with every
    # option spelled out, defaults included: a default changed in a later version must
    # not change what a saved file rebuilds as
    model.zoo_spec = {
        "model": key,
        "options": {**_signature_defaults(builder), **options},
        "input_shape": list(shape),
        "num_classes": classes,
    }
    return model.to(dtype) if np.dtype(dtype) != np.float32 else model


def info(name: str) -> dict:
    """Description, source, default input shape and parameter count of a zoo model."""
    key = resolve(name)
    spec = _REGISTRY.get(key)
    model = get(key)
    return {
        "name": key,
        "description": spec.description if spec else "",
        "source": spec.source if spec else "",
        "input_shape": spec.input_shape if spec else _DIGITS,
        "num_classes": spec.num_classes if spec else 10,
        "parameters": model.num_parameters(),
    }


# ------------------------------------------------ torchvision's names (issue 26)
def _register_torchvision() -> None:
    from . import torchvision as tv

    register(
        ModelSpec(
            "alexnet",
            tv.alexnet,
            (3, 224, 224),
            1000,
            "AlexNet with torchvision's module names (its .pth loads unchanged)",
            "Krizhevsky, Sutskever, Hinton 2012; torchvision.models.alexnet",
        )
    )
    register(
        ModelSpec(
            "resnet18",
            tv.resnet18,
            (3, 224, 224),
            1000,
            "ResNet-18 with torchvision's module names (its .pth loads unchanged)",
            "He, Zhang, Ren, Sun 2016; torchvision.models.resnet18",
        )
    )


_register_torchvision()
