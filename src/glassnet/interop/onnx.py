"""Export a glassnet model to ONNX, built with the ``onnx`` package alone (no PyTorch).

    >>> import glassnet as gn
    >>> model = gn.models.get("lenet5")
    >>> gn.interop.onnx.export(model, "lenet5.onnx", (1, 28, 28))        # doctest: +SKIP

The graph is the model in evaluation mode: BatchNorm uses its running statistics,
Dropout is the identity. The input is ``input`` of shape (N, C, H, W) with a free batch
size N, the output ``logits`` (N, classes); weights are float32 initializers named by
their state_dict keys. Each glassnet layer becomes the ONNX operator of the same
meaning (opset 17)::

    Conv2d -> Conv            Linear -> Gemm (2-D input) or MatMul + Add
    MaxPool2d -> MaxPool      AvgPool2d -> AveragePool
    AdaptiveAvgPool2d -> GlobalAveragePool for (1, 1), else A_h @ x @ A_w.T (two
                         MatMuls with constant averaging matrices: the input size is fixed)
    BatchNorm1d/2d -> BatchNormalization (running statistics)
    ReLU, LeakyReLU, Sigmoid, Tanh, Softmax, LogSoftmax -> the same operators
    GELU -> Erf (or Tanh) with Mul and Add (Gelu is opset 20's)
    Flatten, Unflatten -> Flatten / Reshape;   Dropout, Identity -> Identity
    Sequential -> a chain; Residual -> body + shortcut (Add); Concat -> Flatten each
    branch, Concat; torchvision's BasicBlock and flatten-before-classifier likewise.

A layer with no ONNX form here (or an option without one, such as a BatchNorm that
uses batch statistics in evaluation) raises ``TypeError`` naming the layer by its path
in the model (e.g. ``features.3``). :func:`check` runs ``onnx.checker`` on the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("glassnet.interop.onnx needs onnx: pip install 'glassnet[onnx]'") from exc

from .. import nn
from ..io import atomic_write

__all__ = ["export", "to_onnx", "check", "OPSET"]

OPSET = 17


class _Graph:
    """Nodes and initializers under construction, with unique value names."""

    def __init__(self, shapes: dict):
        self.nodes, self.initializers, self.shapes = [], [], shapes
        self._used: set[str] = set()

    def name(self, hint: str) -> str:
        base = hint or "v"
        name, i = base, 1
        while name in self._used:
            i += 1
            name = f"{base}_{i}"
        self._used.add(name)
        return name

    def const(self, array, hint: str) -> str:
        name = self.name(hint)
        array = np.asarray(array)
        if np.issubdtype(array.dtype, np.floating):
            array = array.astype(np.float32)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], hint: str, **attrs) -> str:
        out = self.name(hint)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out


def _trace_shapes(model: nn.Module, input_shape) -> dict:
    """Input and output shapes of every module (by object id) on two zero images."""
    shapes, handles = {}, []

    def hook(mod, args, out):
        shapes[id(mod)] = (args[0].shape, out.shape)

    for _, m in model.named_modules():
        handles.append(m.register_forward_hook(hook))
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with nn.no_grad():
            model(np.zeros((2, *input_shape), dtype=model.dtype))
    finally:
        for h in handles:
            h.remove()
        for m, training in modes:
            object.__setattr__(m, "training", training)
    return shapes


def _unsupported(path: str, m, why: str = "") -> TypeError:
    where = f"layer {path!r}" if path else "the model"
    return TypeError(
        f"cannot export {where} ({type(m).__name__}) to ONNX{': ' + why if why else ''}; "
        "glassnet.interop.onnx knows "
        + ", ".join(sorted(c.__name__ for c in _LEAVES))
        + " and the containers Sequential, Residual, Concat"
    )


def _key(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# ------------------------------------------------------------------------- leaf layers
def _conv(g: _Graph, m: nn.Conv2d, x: str, path: str) -> str:
    if m.padding == "valid":
        pads = [0, 0, 0, 0]
    elif m.padding == "same":
        (t, b), (left, r) = (
            nn.functional.same_padding(k, d) for k, d in zip(m.kernel_size, m.dilation)
        )
        pads = [t, left, b, r]
    else:
        pads = [m.padding[0], m.padding[1], m.padding[0], m.padding[1]]
    inputs = [x, g.const(m.weight.data, _key(path, "weight"))]
    if m.bias is not None:
        inputs.append(g.const(m.bias.data, _key(path, "bias")))
    return g.node(
        "Conv",
        inputs,
        path or "conv",
        kernel_shape=list(m.kernel_size),
        strides=list(m.stride),
        pads=pads,
        dilations=list(m.dilation),
        group=m.groups,
    )


def _linear(g: _Graph, m: nn.Linear, x: str, path: str) -> str:
    w = g.const(m.weight.data, _key(path, "weight"))
    in_shape = g.shapes[id(m)][0]
    if len(in_shape) == 2:
        inputs = [x, w] + ([g.const(m.bias.data, _key(path, "bias"))] if m.bias is not None else [])
        return g.node("Gemm", inputs, path or "linear", transB=1)
    wt = g.const(m.weight.data.T, _key(path, "weight_t"))
    y = g.node("MatMul", [x, wt], _key(path, "matmul"))
    if m.bias is None:
        return y
    return g.node("Add", [y, g.const(m.bias.data, _key(path, "bias"))], path or "linear")


def _pool_pads(m) -> list[int]:
    return [m.padding[0], m.padding[1], m.padding[0], m.padding[1]]


def _maxpool(g: _Graph, m: nn.MaxPool2d, x: str, path: str) -> str:
    return g.node(
        "MaxPool",
        [x],
        path or "maxpool",
        kernel_shape=list(m.kernel_size),
        strides=list(m.stride),
        pads=_pool_pads(m),
        dilations=list(m.dilation),
        ceil_mode=int(m.ceil_mode),
    )


def _avgpool(g: _Graph, m: nn.AvgPool2d, x: str, path: str) -> str:
    if m.divisor_override is not None:
        raise _unsupported(path, m, "ONNX's AveragePool has no divisor_override")
    return g.node(
        "AveragePool",
        [x],
        path or "avgpool",
        kernel_shape=list(m.kernel_size),
        strides=list(m.stride),
        pads=_pool_pads(m),
        ceil_mode=int(m.ceil_mode),
        count_include_pad=int(m.count_include_pad),
    )


def _adaptive(g: _Graph, m: nn.AdaptiveAvgPool2d, x: str, path: str) -> str:
    (_, _, h, w), (_, _, oh, ow) = g.shapes[id(m)]
    if (oh, ow) == (1, 1):
        return g.node("GlobalAveragePool", [x], path or "avgpool")
    a_h = nn.AdaptiveAvgPool2d._matrix(h, oh, np.float32)  # (oh, H)
    a_w = nn.AdaptiveAvgPool2d._matrix(w, ow, np.float32)  # (ow, W)
    t = g.node("MatMul", [x, g.const(a_w.T, _key(path, "cols"))], _key(path, "pool_cols"))
    return g.node("MatMul", [g.const(a_h, _key(path, "rows")), t], path or "avgpool")


def _batchnorm(g: _Graph, m, x: str, path: str) -> str:
    if not m.track_running_stats or m.running_mean is None:
        raise _unsupported(
            path, m, "with track_running_stats=False it normalises with batch statistics"
        )
    c = m.num_features
    scale = m.weight.data if m.affine else np.ones(c, np.float32)
    bias = m.bias.data if m.affine else np.zeros(c, np.float32)
    inputs = [
        x,
        g.const(scale, _key(path, "weight")),
        g.const(bias, _key(path, "bias")),
        g.const(m.running_mean, _key(path, "running_mean")),
        g.const(m.running_var, _key(path, "running_var")),
    ]
    return g.node("BatchNormalization", inputs, path or "bn", epsilon=float(m.eps))


def _softmax(op: str):
    def emit(g: _Graph, m, x: str, path: str) -> str:
        rank = len(g.shapes[id(m)][0])
        dim = m.dim
        if dim is None:  # PyTorch's legacy rule (as glassnet's layer)
            dim = 0 if rank in (0, 1, 3) else 1
        return g.node(op, [x], path or op.lower(), axis=int(dim))

    return emit


def _flatten(g: _Graph, m: nn.Flatten, x: str, path: str) -> str:
    in_shape, out_shape = g.shapes[id(m)]
    end = m.end_dim % len(in_shape)
    if m.start_dim % len(in_shape) == 1 and end == len(in_shape) - 1:
        return g.node("Flatten", [x], path or "flatten", axis=1)
    return _reshape(g, out_shape, x, path)


def _reshape(g: _Graph, out_shape, x: str, path: str) -> str:
    shape = g.const(np.array([-1, *out_shape[1:]], dtype=np.int64), _key(path, "shape"))
    return g.node("Reshape", [x, shape], path or "reshape")


def _simple(op: str, **attrs):
    def emit(g: _Graph, m, x: str, path: str) -> str:
        return g.node(op, [x], path or op.lower(), **attrs)

    return emit


_LEAVES = {
    nn.Conv2d: _conv,
    nn.Linear: _linear,
    nn.MaxPool2d: _maxpool,
    nn.AvgPool2d: _avgpool,
    nn.AdaptiveAvgPool2d: _adaptive,
    nn.BatchNorm1d: _batchnorm,
    nn.BatchNorm2d: _batchnorm,
    nn.ReLU: _simple("Relu"),
    nn.Sigmoid: _simple("Sigmoid"),
    nn.Tanh: _simple("Tanh"),
    nn.Softmax: _softmax("Softmax"),
    nn.LogSoftmax: _softmax("LogSoftmax"),
    nn.Flatten: _flatten,
    nn.Unflatten: lambda g, m, x, path: _reshape(g, g.shapes[id(m)][1], x, path),
    nn.Identity: _simple("Identity"),
    nn.Dropout: _simple("Identity"),  # evaluation mode
}


def _leaky(g: _Graph, m: nn.LeakyReLU, x: str, path: str) -> str:
    return g.node("LeakyRelu", [x], path or "leakyrelu", alpha=float(m.negative_slope))


_LEAVES[nn.LeakyReLU] = _leaky


def _gelu(g: _Graph, m: nn.GELU, x: str, path: str) -> str:
    """Opset 17 has no Gelu (it came in 20): y = x (1 + gate) / 2, the gate
    erf(x / sqrt 2), or tanh(sqrt(2/pi) (x + 0.044715 x^3)) for approximate="tanh"."""
    key = path or "gelu"
    if m.approximate == "tanh":
        cube = g.node("Mul", [x, g.node("Mul", [x, x], _key(key, "square"))], _key(key, "cube"))
        inner = g.node(
            "Add",
            [x, g.node("Mul", [cube, g.const(0.044715, _key(key, "k"))], _key(key, "kcube"))],
            _key(key, "inner"),
        )
        scaled = g.node("Mul", [inner, g.const(np.sqrt(2 / np.pi), _key(key, "c"))], _key(key, "u"))
        gate = g.node("Tanh", [scaled], _key(key, "tanh"))
    else:
        scaled = g.node("Mul", [x, g.const(np.sqrt(0.5), _key(key, "c"))], _key(key, "u"))
        gate = g.node("Erf", [scaled], _key(key, "erf"))
    one_plus = g.node("Add", [gate, g.const(1.0, _key(key, "one"))], _key(key, "one_plus"))
    half = g.node("Mul", [x, g.const(0.5, _key(key, "half"))], _key(key, "half_x"))
    return g.node("Mul", [half, one_plus], key)


_LEAVES[nn.GELU] = _gelu


# ------------------------------------------------------------------------- containers
def _emit(g: _Graph, m: nn.Module, x: str, path: str) -> str:
    from ..models.torchvision import BasicBlock, FlattenBefore

    if id(m) not in g.shapes and not isinstance(m, (nn.Sequential,)):
        raise _unsupported(path, m, "it did not run in the model's forward")
    if isinstance(m, FlattenBefore):
        for name, child in m.named_children():
            if name == m.flatten_before:
                x = g.node("Flatten", [x], _key(path, "flatten"), axis=1)
            x = _emit(g, child, x, _key(path, name))
        return x
    if isinstance(m, nn.Sequential):
        for name, child in m.named_children():
            x = _emit(g, child, x, _key(path, name))
        return x
    if isinstance(m, nn.Residual):
        y = _emit(g, m.body, x, _key(path, "body"))
        s = x if m.shortcut is None else _emit(g, m.shortcut, x, _key(path, "shortcut"))
        return g.node("Add", [y, s], _key(path, "add"))
    if isinstance(m, BasicBlock):
        y = x
        for name in ("conv1", "bn1", "relu", "conv2", "bn2"):
            y = _emit(g, getattr(m, name), y, _key(path, name))
        s = x if m.downsample is None else _emit(g, m.downsample, x, _key(path, "downsample"))
        return g.node("Relu", [g.node("Add", [y, s], _key(path, "add"))], _key(path, "relu_out"))
    if isinstance(m, nn.Concat):
        flat = [
            g.node("Flatten", [_emit(g, b, x, _key(path, n))], _key(path, f"{n}.flat"), axis=1)
            for n, b in m.named_children()
        ]
        return g.node("Concat", flat, path or "concat", axis=1)
    emit = _LEAVES.get(type(m))
    if emit is None:
        raise _unsupported(path, m)
    return emit(g, m, x, path)


def to_onnx(model: nn.Module, input_shape, name: str | None = None) -> onnx.ModelProto:
    """The ONNX model (in memory) of ``model`` in evaluation mode, for inputs
    (N, *input_shape) with any batch size N."""
    input_shape = tuple(int(s) for s in input_shape)
    if len(input_shape) < 1 or min(input_shape) < 1:
        raise ValueError(f"input_shape must be positive sizes without the batch, got {input_shape}")
    shapes = _trace_shapes(model, input_shape)
    g = _Graph(shapes)
    g.name("input")
    out = _emit(g, model, "input", "")
    out_shape = shapes[id(model)][1]
    # the last node's output is renamed "logits" (a graph output needs its own name)
    g.nodes.append(helper.make_node("Identity", [out], ["logits"], name="logits"))
    graph = helper.make_graph(
        g.nodes,
        name or type(model).__name__,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", *input_shape])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", *out_shape[1:]])],
        g.initializers,
    )
    proto = helper.make_model(
        graph, producer_name="glassnet", opset_imports=[helper.make_opsetid("", OPSET)]
    )
    proto.ir_version = min(proto.ir_version, 9)  # readable by onnxruntime releases since 1.16
    spec = getattr(model, "zoo_spec", None)
    if spec:
        helper.set_model_props(proto, {"glassnet.model": str(spec.get("model"))})
    return proto


def export(model: nn.Module, path, input_shape=None) -> Path:
    """Write ``model`` (evaluation mode) to ``path`` as ONNX, atomically; checks it with
    ``onnx.checker`` first. ``input_shape`` (C, H, W): default the zoo model's."""
    if input_shape is None:
        spec = getattr(model, "zoo_spec", None)
        if not spec:
            raise ValueError("export: give input_shape (C, H, W); the model has no zoo spec")
        input_shape = spec["input_shape"]
    proto = to_onnx(model, input_shape, name=(getattr(model, "zoo_spec", None) or {}).get("model"))
    onnx.checker.check_model(proto, full_check=True)
    path = Path(path)
    with atomic_write(path) as f:
        f.write(proto.SerializeToString())
    return path


def check(path) -> None:
    """``onnx.checker.check_model`` on a file (raises on an invalid model)."""
    onnx.checker.check_model(str(path), full_check=True)
