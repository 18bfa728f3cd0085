"""The network of the fast CIFAR-10 recipe (``glassnet train --recipe cifar10-94``).

Its design follows Keller Jordan's airbench94 (github.com/KellerJordan/cifar10-airbench),
the fastest published way to 94% on CIFAR-10; this is glassnet's own version of it, as
the recipe builds it (``activation="gelu"``)::

    whiten   Conv2d(3, 24, 2x2, no padding) whose 24 filters are fixed before training
             to whiten 2x2 patches (below); its bias learns for the first epochs only
    GELU
    block 1  Conv 3x3 (24 -> 64)   -> MaxPool 2 -> BN -> GELU -> Conv 3x3 (64 -> 64)   -> BN -> GELU
    block 2  Conv 3x3 (64 -> 256)  -> MaxPool 2 -> BN -> GELU -> Conv 3x3 (256 -> 256) -> BN -> GELU
    block 3  Conv 3x3 (256 -> 256) -> MaxPool 2 -> BN -> GELU -> Conv 3x3 (256 -> 256) -> BN -> GELU
    head     MaxPool 3 -> Flatten -> Linear(256, 10, no bias)

Images go 32 -> 31 (the 2x2 whitening) -> 15 -> 7 -> 3 -> 1 pixels. The 3x3 convs
have no bias (BatchNorm's shift is the bias) and start as a partial identity
(``dirac_``: the first ``in_channels`` filters pass their channel through), so the
untrained network already carries the whitened image forward. BatchNorm's scale is
frozen at 1 (only its shift learns), with eps 1e-12 and momentum 0.4 as in airbench.

Where this differs from airbench94: float32 NCHW instead of float16 channels-last, and
the logits' 1/9 scale is applied by the recipe's loss (``LOGIT_SCALE``), not by a layer,
so the model is a plain ``Sequential`` that converts to PyTorch and ONNX unchanged.
The zoo's ``airbench`` (and this function) default to ReLU, so that models saved
before the ``activation`` knob rebuild as they were; the recipe asks for GELU.

**Patch whitening.** Take every 2x2 patch of some training images as a 12-vector p
(3 channels x 2 x 2), estimate Sigma = E[p p^T], and diagonalise it, Sigma = V diag(l) V^T.
The filter v_i / sqrt(l_i + eps) maps a patch to its coordinate along the i-th
principal direction with unit variance, so the first layer's 12 outputs are
decorrelated and equally scaled; the layer keeps those 12 filters and their negatives
(24 outputs, so the activation after it loses little: what one filter's GELU cuts off,
its negative's passes).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .. import nn

__all__ = ["airbench", "conv_block", "dirac_", "whitening_filters", "WHITEN_EPS"]

WHITEN_EPS = 5e-4  # added to the eigenvalues: the smallest directions are not blown up


def dirac_(weight: np.ndarray) -> np.ndarray:
    """Make the first ``C_in`` filters of a (C_out, C_in, kh, kw) kernel pass channel i
    through unchanged (a 1 at the centre of filter i's channel i, 0 elsewhere); the
    filters after them keep their values. Returns ``weight`` (changed in place)."""
    out_channels, in_channels, kh, kw = weight.shape
    n = min(out_channels, in_channels)
    weight[:n] = 0
    weight[np.arange(n), np.arange(n), kh // 2, kw // 2] = 1
    return weight


def conv_block(in_channels: int, out_channels: int, activation=nn.ReLU) -> nn.Sequential:
    """conv -> pool -> BN -> act -> conv -> BN -> act, the convs 3x3 'same' without bias;
    ``activation`` makes each act (a class or function, called with no arguments)."""

    def conv(cin, cout):
        layer = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        dirac_(layer.weight.data)
        return layer

    def norm(c):
        layer = nn.BatchNorm2d(c, eps=1e-12, momentum=0.4)
        layer.weight.requires_grad = False  # the scale stays 1; only the shift learns
        return layer

    return nn.Sequential(
        OrderedDict(
            conv1=conv(in_channels, out_channels),
            pool=nn.MaxPool2d(2),
            norm1=norm(out_channels),
            act1=activation(),
            conv2=conv(out_channels, out_channels),
            norm2=norm(out_channels),
            act2=activation(),
        )
    )


def airbench(input_shape, num_classes, widths=(64, 256, 256), activation="relu"):
    """The recipe's network for ``input_shape`` (C, H, W) images; ``widths`` are the
    three blocks' channels, ``activation`` a name of ``glassnet.models.ACTIVATIONS``
    ("gelu" is airbench94's and the recipe's; "relu", the default, is what glassnet ran
    before it had a GELU and runs a training step ~5% faster). The whitening filters
    start as the default init: the recipe sets them from the training images
    (:func:`whitening_filters`)."""
    from .zoo import _activation, _widths

    def act() -> nn.Module:
        return _activation(activation)

    widths = _widths(widths, "widths")
    if len(widths) != 3:
        raise ValueError(f"widths takes the three blocks' channels, e.g. 64/256/256, got {widths}")
    c, h, w = input_shape
    if min(h, w) < 25:
        raise ValueError(
            f"airbench needs images of at least 25x25 pixels (four poolings), got {h}x{w}"
        )
    whiten_width = 2 * c * 2 * 2
    layers = OrderedDict(
        whiten=nn.Conv2d(c, whiten_width, 2, padding=0, bias=True),
        act=act(),
        block1=conv_block(whiten_width, widths[0], act),
        block2=conv_block(widths[0], widths[1], act),
        block3=conv_block(widths[1], widths[2], act),
        pool=nn.MaxPool2d(3),
        flatten=nn.Flatten(),
        head=nn.Linear(widths[2] * _side(h) * _side(w), num_classes, bias=False),
    )
    layers["whiten"].weight.requires_grad = False  # fixed by the data, never trained
    return nn.Sequential(layers)


def _side(pixels: int) -> int:
    """Pixels left of one side after the whitening (-1), three 2x2 poolings and the 3x3 one."""
    return (pixels - 1) // 2 // 2 // 2 // 3


def whitening_filters(images: np.ndarray, eps: float = WHITEN_EPS) -> np.ndarray:
    """The (2*C*4, C, 2, 2) whitening kernel estimated from ``images`` (N, C, H, W):
    the eigenvectors of the 2x2 patches' second-moment matrix, each divided by
    sqrt(its eigenvalue + eps), largest eigenvalue first, then the same filters negated."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 4 or min(images.shape[2:]) < 2 or len(images) == 0:
        raise ValueError(f"whitening needs (N, C, H, W) images of at least 2x2, got {images.shape}")
    n, c, h, w = images.shape
    # every 2x2 patch as a row (c, a, b) -- the layout of a (C, 2, 2) filter
    patches = np.stack(
        [images[:, :, a : h - 1 + a, b : w - 1 + b] for a in (0, 1) for b in (0, 1)], axis=2
    )  # (N, C, 4, H-1, W-1)
    patches = patches.transpose(0, 3, 4, 1, 2).reshape(-1, c * 4)
    second_moment = patches.T @ patches / len(patches)
    eigenvalues, eigenvectors = np.linalg.eigh(second_moment)  # ascending
    order = np.argsort(eigenvalues)[::-1]
    filters = (eigenvectors[:, order] / np.sqrt(eigenvalues[order] + eps)).T
    filters = filters.reshape(c * 4, c, 2, 2)
    return np.concatenate([filters, -filters]).astype(np.float32)
