"""Small reference networks shared by the tests (LeNet-5, a ResNet block, a Concat skip net)."""

from __future__ import annotations

from glassnet import nn


def lenet5(act=nn.ReLU):
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2),
        act(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5),
        act(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120),
        act(),
        nn.Linear(120, 84),
        act(),
        nn.Linear(84, 10),
    )


def resnet_block(cin=3, cout=8, head=False):
    """A stride-2 basic block with a projection shortcut, then ReLU (and a classifier head)."""
    body = nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
    )
    shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=2, bias=False), nn.BatchNorm2d(cout))
    layers = [nn.Residual(body, shortcut), nn.ReLU()]
    if head:
        layers.append(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cout, 10)))
    return nn.Sequential(*layers)


def concat_net():
    return nn.Sequential(
        nn.Concat(
            nn.Flatten(),
            nn.Sequential(nn.Conv2d(1, 18, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten()),
        ),
        nn.Linear(28 * 28 + 18 * 14 * 14, 10),
    )
