"""AlexNet and ResNet-18 with torchvision's module names, so its weight files load unchanged.

    >>> import glassnet as gn
    >>> model = gn.models.get("resnet18")                                  # doctest: +SKIP
    >>> state = gn.interop.torch.load_state_dict_file("resnet18-f37072fd.pth")  # doctest: +SKIP
    >>> model.load_state_dict(state)                                       # doctest: +SKIP

Every parameter and buffer has the key torchvision gives it (``conv1.weight``,
``layer2.0.downsample.1.running_var``, ``features.10.bias``, ``classifier.6.weight``),
and the modules carry the same names (``glassnet.train.extract_features(model, x,
"features.9")`` reads the layer torchvision calls ``features.9``: conv4 after its ReLU;
``features`` counts conv1 0, conv2 3, conv3 6, conv4 8, conv5 10).

Two pieces have no ready-made glassnet container:

* :class:`BasicBlock` -- ResNet's block: ``relu(bn2(conv2(relu(bn1(conv1(x))))) + s(x))``
  with ``s = downsample`` (1x1 strided conv + BN) or the identity. torchvision applies its
  one ``relu`` module twice; a glassnet layer caches its input for backward, so the
  second application is a parameterless twin (``relu_out``, kept off the module tree).
* :class:`FlattenBefore` -- torchvision's ``ResNet`` and ``AlexNet`` are their children in
  order with a ``torch.flatten(x, 1)`` written in ``forward`` before the classifier;
  this Sequential does the same, so no ``Flatten`` module appears among the names.

Backward of the block, given g = dL/dy and z = body(x) + s(x), y = relu(z)::

    gz = g * (z > 0);   dL/dx = body'(gz) + s'(gz)      (s' = identity without downsample)
"""

from __future__ import annotations

from collections import OrderedDict

from .. import nn
from ..nn.functional import add

__all__ = ["BasicBlock", "FlattenBefore", "alexnet", "resnet18"]


class BasicBlock(nn.Module):
    """torchvision's ResNet BasicBlock: conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, ReLU.

    state_dict keys: ``conv1.weight``, ``bn1.*``, ``conv2.weight``, ``bn2.*`` and, when
    the block changes the shape, ``downsample.0.weight`` and ``downsample.1.*``.
    """

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        # torchvision's second use of `relu`: kept off the module tree (no state, and
        # named_modules() stays torchvision's)
        object.__setattr__(self, "relu_out", nn.ReLU())
        self.stride = stride

    def _body(self):
        return (self.conv1, self.bn1, self.relu, self.conv2, self.bn2)

    def forward(self, x):
        out = x
        for m in self._body():
            out = m(out)
        identity = x if self.downsample is None else self.downsample(x)
        if identity.shape != out.shape:
            raise ValueError(
                f"BasicBlock: the body gives {out.shape} but the shortcut {identity.shape}; "
                "a block that changes the shape needs a downsample"
            )
        return self.relu_out(add(out, identity.astype(out.dtype, copy=False)))

    def backward(self, grad_out):
        g = self.relu_out.backward(grad_out)
        grad_body = g
        for m in reversed(self._body()):
            if grad_body is None:  # nothing below needs a gradient (frozen, no input grad)
                break
            grad_body = m.backward(grad_body)
        grad_skip = g if self.downsample is None else self.downsample.backward(g)
        if not self._input_grad:
            return None
        return add(grad_body, grad_skip)

    def set_input_grad(self, enabled: bool = True) -> BasicBlock:
        """As Sequential: a layer of the body needs dL/d(its input) if the block's input
        does or an earlier layer of the body has trainable parameters."""
        super().set_input_grad(enabled)
        needed = bool(enabled)
        for m in self._body():
            m.set_input_grad(needed)
            needed = needed or any(p.requires_grad for p in m.parameters())
        self.relu_out.set_input_grad(True)
        if self.downsample is not None:
            self.downsample.set_input_grad(enabled)
        return self

    def extra_repr(self) -> str:
        return f"stride={self.stride}"


class FlattenBefore(nn.Sequential):
    """A Sequential that flattens to (N, -1) just before the child named ``before``:
    torchvision's ``torch.flatten(x, 1)`` inside ``ResNet.forward`` / ``AlexNet.forward``."""

    def __init__(self, modules: OrderedDict, before: str):
        super().__init__(modules)
        if before not in self._modules:
            raise ValueError(f"FlattenBefore: no child named {before!r}")
        object.__setattr__(self, "flatten_before", before)

    def forward(self, x):
        shape = None
        for name, m in self._modules.items():
            if name == self.flatten_before:
                shape = x.shape
                x = x.reshape(x.shape[0], -1)
            x = m(x)
        self._save_for_backward(shape)
        return x

    def backward(self, grad_out):
        (shape,) = self._saved()
        for name, m in reversed(self._modules.items()):
            if grad_out is None:
                break
            grad_out = m.backward(grad_out)
            if name == self.flatten_before and grad_out is not None:
                grad_out = grad_out.reshape(shape)
        return grad_out


def _layer(inplanes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    downsample = None
    if stride != 1 or inplanes != planes:
        downsample = nn.Sequential(
            nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
        )
    layers = [BasicBlock(inplanes, planes, stride, downsample)]
    layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


def resnet18(input_shape, num_classes):
    """ResNet-18 (He et al. 2016, ImageNet form) exactly as torchvision builds it:
    7x7/2 conv, 3x3/2 max pool, four stages of two BasicBlocks (64, 128, 256, 512
    filters), global average pooling, a linear classifier. Initialised as torchvision
    does (Kaiming normal, fan_out, for the convs; BN weight 1, bias 0)."""
    c, h, w = input_shape
    if min(h, w) < 32:
        raise ValueError(f"resnet18 halves its input 5 times: it needs at least 32x32, got {h}x{w}")
    model = FlattenBefore(
        OrderedDict(
            conv1=nn.Conv2d(c, 64, 7, stride=2, padding=3, bias=False),
            bn1=nn.BatchNorm2d(64),
            relu=nn.ReLU(),
            maxpool=nn.MaxPool2d(3, stride=2, padding=1),
            layer1=_layer(64, 64, 2, 1),
            layer2=_layer(64, 128, 2, 2),
            layer3=_layer(128, 256, 2, 2),
            layer4=_layer(256, 512, 2, 2),
            avgpool=nn.AdaptiveAvgPool2d((1, 1)),
            fc=nn.Linear(512, num_classes),
        ),
        before="fc",
    )
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return model


def _alexnet_side(side: int) -> int:
    side = (side + 2 * 2 - 11) // 4 + 1  # conv 11x11 / 4, padding 2
    for _ in range(3):  # the three 3x3 / 2 max pools (the convs between keep the size)
        side = (side - 3) // 2 + 1 if side >= 3 else 0
    return side


def alexnet(input_shape, num_classes, dropout: float = 0.5):
    """AlexNet (Krizhevsky et al. 2012) as torchvision builds it (its one-GPU variant
    with 64/192/384/256/256 filters): ``features`` (5 convs, 3 max pools),
    ``avgpool`` = AdaptiveAvgPool2d((6, 6)), ``classifier`` (Dropout, 9216-4096, ReLU,
    Dropout, 4096-4096, ReLU, 4096-classes). Inputs of 224x224 give 6x6 before the
    pooling; any input of at least 63x63 works (the pooling adapts)."""
    c, h, w = input_shape
    if min(_alexnet_side(h), _alexnet_side(w)) < 1:
        raise ValueError(f"alexnet needs inputs of at least 63x63 pixels, got {h}x{w}")
    features = nn.Sequential(
        nn.Conv2d(c, 64, 11, stride=4, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2),
        nn.Conv2d(64, 192, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2),
        nn.Conv2d(192, 384, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2),
    )
    classifier = nn.Sequential(
        nn.Dropout(dropout),
        nn.Linear(256 * 6 * 6, 4096),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(4096, 4096),
        nn.ReLU(),
        nn.Linear(4096, num_classes),
    )
    return FlattenBefore(
        OrderedDict(features=features, avgpool=nn.AdaptiveAvgPool2d((6, 6)), classifier=classifier),
        before="classifier",
    )
