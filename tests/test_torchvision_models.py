"""Zoo alexnet/resnet18 load a torchvision-style state_dict unchanged (issue 26).

torchvision itself does not load against this CPU build of torch, so the reference
networks are written here in torch.nn with torchvision's module names and forward."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import glassnet as gn

torch = pytest.importorskip("torch")
tnn = torch.nn
gi = pytest.importorskip("glassnet.interop.torch")


class TVBasicBlock(tnn.Module):
    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = tnn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = tnn.BatchNorm2d(planes)
        self.relu = tnn.ReLU(inplace=True)
        self.conv2 = tnn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = tnn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = tnn.Sequential(
                tnn.Conv2d(inplanes, planes, 1, stride, bias=False), tnn.BatchNorm2d(planes)
            )

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class TVResNet18(tnn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        self.conv1 = tnn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = tnn.BatchNorm2d(64)
        self.relu = tnn.ReLU(inplace=True)
        self.maxpool = tnn.MaxPool2d(3, 2, 1)
        specs = [(64, 64, 1), (64, 128, 2), (128, 256, 2), (256, 512, 2)]
        for i, (a, b, s) in enumerate(specs, start=1):
            setattr(self, f"layer{i}", tnn.Sequential(TVBasicBlock(a, b, s), TVBasicBlock(b, b)))
        self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
        self.fc = tnn.Linear(512, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class TVAlexNet(tnn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        self.features = tnn.Sequential(
            tnn.Conv2d(3, 64, 11, 4, 2), tnn.ReLU(True), tnn.MaxPool2d(3, 2),
            tnn.Conv2d(64, 192, 5, padding=2), tnn.ReLU(True), tnn.MaxPool2d(3, 2),
            tnn.Conv2d(192, 384, 3, padding=1), tnn.ReLU(True),
            tnn.Conv2d(384, 256, 3, padding=1), tnn.ReLU(True),
            tnn.Conv2d(256, 256, 3, padding=1), tnn.ReLU(True), tnn.MaxPool2d(3, 2),
        )  # fmt: skip
        self.avgpool = tnn.AdaptiveAvgPool2d((6, 6))
        self.classifier = tnn.Sequential(
            tnn.Dropout(0.5), tnn.Linear(256 * 36, 4096), tnn.ReLU(True),
            tnn.Dropout(0.5), tnn.Linear(4096, 4096), tnn.ReLU(True), tnn.Linear(4096, num_classes),
        )  # fmt: skip

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def _randomise_bn(module):
    """Non-trivial running statistics and affine parameters (fresh BN is the identity)."""
    g = torch.Generator().manual_seed(1)
    for m in module.modules():
        if isinstance(m, tnn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


def _compare(tmodel, name, shape, tmp_path, classes):
    torch.manual_seed(0)
    _randomise_bn(tmodel)
    tmodel.eval()
    path = tmp_path / f"{name}.pth"
    torch.save(tmodel.state_dict(), path)
    state = gi.load_state_dict_file(path)
    model = gn.models.get(name, input_shape=shape, num_classes=classes)
    assert list(model.state_dict()) == list(tmodel.state_dict())
    assert [n for n, _ in model.named_modules()] == [n for n, _ in tmodel.named_modules()]
    model.load_state_dict(state)
    x = np.random.default_rng(0).standard_normal((2, *shape)).astype(np.float32)
    expected = tmodel(torch.from_numpy(x)).detach().numpy()
    got = gn.train.predict(model, x)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4 * max(scale, 1.0))
    return model, x, expected


def test_resnet18_loads_a_torchvision_state_dict(tmp_path):
    model, x, expected = _compare(TVResNet18(7), "resnet18", (3, 64, 64), tmp_path, 7)
    # and back to torch: the converted module gives the same logits
    back = gi.to_torch(model).eval()
    np.testing.assert_allclose(back(torch.from_numpy(x)).detach().numpy(), expected, atol=1e-4)
    again = gi.from_torch(back)
    np.testing.assert_allclose(gn.train.predict(again, x), expected, atol=1e-4)


def test_alexnet_loads_a_torchvision_state_dict_at_a_non_dividing_size(tmp_path):
    # 95x127 leaves 2x3 before AdaptiveAvgPool2d((6, 6)): overlapping, uneven bins
    model, x, expected = _compare(TVAlexNet(5), "alexnet", (3, 95, 127), tmp_path, 5)
    assert gn.train.extract_features(model, x, "features.10", progress=False).shape == (
        2,
        256 * 5 * 7,
    )


def test_resnet18_backward_matches_torch():
    torch.manual_seed(0)
    tmodel = TVResNet18(3).double()
    _randomise_bn(tmodel)
    model = gn.models.get("resnet18", input_shape=(3, 32, 32), num_classes=3, dtype=np.float64)
    model.load_state_dict({k: v.numpy() for k, v in tmodel.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((2, 3, 32, 32))
    xt = torch.from_numpy(x).requires_grad_(True)
    out = tmodel(xt)
    g = np.random.default_rng(2).standard_normal(out.shape)
    out.backward(torch.from_numpy(g))
    y = model(x)
    np.testing.assert_allclose(y, out.detach().numpy(), atol=1e-10)
    dx = model.backward(g)
    np.testing.assert_allclose(dx, xt.grad.numpy(), atol=1e-10)
    tgrads = dict(tmodel.named_parameters())
    for name, p in model.named_parameters():
        ref = tgrads[name].grad.numpy()
        scale = max(np.abs(ref).max(), 1.0)  # conv1's gradients reach ~1e3 here
        np.testing.assert_allclose(p.grad, ref, rtol=0, atol=1e-10 * scale, err_msg=name)


def test_load_state_dict_file_errors(tmp_path):
    tmodel = tnn.Sequential(OrderedDict(fc=tnn.Linear(3, 2)))
    torch.save(tmodel.state_dict(), tmp_path / "w.pth")
    model = gn.models.get("resnet18", input_shape=(3, 32, 32), num_classes=2)
    with pytest.raises(ValueError, match="missing keys: conv1.weight"):
        model.load_state_dict(gi.load_state_dict_file(tmp_path / "w.pth"))
    wrong = gn.models.get("resnet18", input_shape=(3, 32, 32), num_classes=4).state_dict()
    with pytest.raises(ValueError, match="size mismatch for 'fc.weight'"):
        model.load_state_dict(wrong)
    # a pickle of an arbitrary object is refused by weights_only=True
    torch.save({"fc.weight": torch.zeros(2, 3), "extra": object()}, tmp_path / "evil.pth")
    with pytest.raises(ValueError, match="weights_only=True"):
        gi.load_state_dict_file(tmp_path / "evil.pth")
    (tmp_path / "w.txt").write_text("x")
    with pytest.raises(ValueError, match="unknown weight file type"):
        gi.load_state_dict_file(tmp_path / "w.txt")
    with pytest.raises(FileNotFoundError):
        gi.load_state_dict_file(tmp_path / "none.pth")
    # safetensors too, and a checkpoint dict holding a state_dict
    gn.save(model, tmp_path / "m.safetensors")
    loaded = gi.load_state_dict_file(tmp_path / "m.safetensors")
    assert sorted(loaded) == sorted(model.state_dict())
    model.load_state_dict(loaded)
    torch.save({"state_dict": tmodel.state_dict(), "epoch": 3}, tmp_path / "ckpt.pt")
    assert list(gi.load_state_dict_file(tmp_path / "ckpt.pt")) == ["fc.weight", "fc.bias"]


def test_alexnet_refuses_too_small_inputs():
    with pytest.raises(ValueError, match="at least 63x63"):
        gn.models.get("alexnet", input_shape=(3, 32, 32))
