"""ONNX export (issue 26): every zoo model exports, passes onnx.checker, and onnxruntime
gives glassnet's outputs; a layer without an ONNX form is named in the error."""

from __future__ import annotations

import numpy as np
import pytest

import glassnet as gn
from glassnet import nn

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
gx = pytest.importorskip("glassnet.interop.onnx")

# the ImageNet designs at small inputs (still exercising AdaptiveAvgPool2d to 6x6)
SMALL = {"alexnet": (3, 64, 64), "resnet18": (3, 32, 32)}


def _run(path, x):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x})[0]


@pytest.mark.parametrize("name", gn.models.list())
def test_every_zoo_model_exports_and_onnxruntime_agrees(name, tmp_path):
    model = gn.models.get(name, input_shape=SMALL.get(name), seed=0)
    shape = model.zoo_spec["input_shape"]
    rng = np.random.default_rng(0)
    model.train()
    model(rng.standard_normal((4, *shape)).astype(np.float32) * 2 + 0.5)  # BN statistics
    model.eval()
    path = gx.export(model, tmp_path / f"{name}.onnx")
    gx.check(path)
    x = rng.standard_normal((3, *shape)).astype(np.float32)
    expected = model(x)
    got = _run(path, x)
    assert got.shape == expected.shape
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * scale)
    # the batch size is free
    np.testing.assert_allclose(_run(path, x[:1]), expected[:1], rtol=0, atol=1e-5 * scale)


def test_export_leaves_the_model_in_its_mode_and_keeps_weight_names(tmp_path):
    model = gn.models.get("lenet5", seed=0)
    model.train()
    gx.export(model, tmp_path / "m.onnx")
    assert model.training
    proto = onnx.load(str(tmp_path / "m.onnx"))
    names = {t.name for t in proto.graph.initializer}
    assert {"0.weight", "0.bias", "11.weight", "11.bias"} <= names
    assert [i.name for i in proto.graph.input] == ["input"]
    assert [o.name for o in proto.graph.output] == ["logits"]


def test_layers_and_options_without_onnx_form_are_named(tmp_path):
    class Square(nn.Module):
        def forward(self, x):
            return x * x

    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), Square())
    with pytest.raises(TypeError, match=r"layer '2' \(Square\)"):
        gx.export(model, tmp_path / "x.onnx", (1, 2, 2))
    assert not (tmp_path / "x.onnx").exists()
    bn = nn.Sequential(nn.Flatten(), nn.BatchNorm1d(4, track_running_stats=False))
    with pytest.raises(TypeError, match=r"layer '1' \(BatchNorm1d\).*batch statistics"):
        gx.export(bn, tmp_path / "x.onnx", (1, 2, 2))
    with pytest.raises(ValueError, match="input_shape"):
        gx.export(nn.Sequential(nn.Flatten()), tmp_path / "x.onnx")


def test_more_layers_agree(tmp_path):
    """Layers the zoo does not use: LeakyReLU, Tanh, AvgPool2d, 'same' padding,
    Unflatten, Softmax, a Linear on 3-D input (MatMul + Add)."""
    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding="same", dilation=2),
        nn.LeakyReLU(0.2),
        nn.AvgPool2d(2, stride=2, padding=1, count_include_pad=False),
        nn.Tanh(),
        nn.Linear(5, 3),  # on (N, 4, 5, 5): the last axis
        nn.Flatten(),
        nn.Unflatten(1, (4, 15)),
        nn.Sigmoid(),
        nn.Flatten(),
        nn.Softmax(dim=1),
    )
    x = np.random.default_rng(1).standard_normal((2, 2, 9, 9)).astype(np.float32)
    model.eval()
    expected = model(x)
    path = gx.export(model, tmp_path / "more.onnx", (2, 9, 9))
    np.testing.assert_allclose(_run(path, x), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_exports_with_erf_or_tanh(approximate, tmp_path):
    """Opset 17 has no Gelu: the export spells it out (Erf, or Tanh), onnxruntime agrees."""
    model = nn.Sequential(nn.Linear(6, 5), nn.GELU(approximate), nn.Linear(5, 3))
    x = (4 * np.random.default_rng(2).standard_normal((7, 6))).astype(np.float32)
    model.eval()
    expected = model(x)
    path = gx.export(model, tmp_path / "gelu.onnx", (6,))
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert ("Erf" in ops) == (approximate == "none") and ("Tanh" in ops) == (approximate == "tanh")
    np.testing.assert_allclose(_run(path, x), expected, rtol=0, atol=2e-6)
