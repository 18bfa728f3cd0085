"""The tuned forms (glassnet.kernels, fast mode) give the textbook's numbers
(glassnet.nn as written, textbook mode): each conv form (by kernel rows, im2col in
the rows or window layout, gather/scatter, phases, pointwise, blocks of any size,
columns kept or rebuilt, on threads), pooling, ReLU, GELU, BatchNorm, the skip links' sum,
Linear's one-sample dL/dW, whole networks; and against PyTorch where it helps."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import glassnet as gn
from _nets import lenet5, resnet_block
from glassnet import kernels, models, nn
from glassnet.kernels import conv as conv_module

pytestmark = pytest.mark.kernels("fast")  # these test the tuned forms themselves

torch = pytest.importorskip("torch")


def _run(module, x, g, mode: str):
    """y, dL/dx and every parameter's gradient of a copy of ``module`` run in ``mode``
    (the copy starts with zero gradients; the input is copied, for in-place layers)."""
    module = copy.deepcopy(module)
    module.zero_grad()
    with kernels.use(mode):
        y = module(x.copy())
        dx = module.backward(g)
    return y, dx, {name: p.grad.copy() for name, p in module.named_parameters()}


def _assert_fast_equals_textbook(module, x, g, tol=None):
    """The fast path's y, dL/dx and parameter gradients equal the textbook path's:
    float64 to ~1e-10 and float32 to ~1e-5 of the largest value compared."""
    tol = (1e-10 if x.dtype == np.float64 else 1e-5) if tol is None else tol
    fast, textbook = _run(module, x, g, "fast"), _run(module, x, g, "textbook")
    for what, a, b in [("y", fast[0], textbook[0]), ("dx", fast[1], textbook[1])]:
        if b is None:
            assert a is None, what
            continue
        assert a.shape == b.shape and a.dtype == b.dtype, what
        np.testing.assert_allclose(a, b, rtol=0, atol=tol * max(1.0, np.abs(b).max(initial=0)))
    assert list(fast[2]) == list(textbook[2])
    for name, a in fast[2].items():
        b = textbook[2][name]
        np.testing.assert_allclose(a, b, rtol=0, atol=tol * max(1.0, np.abs(b).max(initial=0)))
    return fast


def _assert_matches_torch(layer, x, g, y, dx):
    """y, dL/dx (None: not computed), dL/dW and dL/db of a float64 layer equal the
    textbook path's (glassnet/nn as written) and PyTorch's."""
    ty, tdx, tgrads = _torch_grads(layer, x, g)
    np.testing.assert_allclose(y, ty, atol=1e-12)
    if dx is not None:
        np.testing.assert_allclose(dx, tdx, atol=1e-12)
    np.testing.assert_allclose(layer.weight.grad, tgrads["weight"], atol=1e-11)
    if layer.bias is not None:
        np.testing.assert_allclose(layer.bias.grad, tgrads["bias"], atol=1e-11)
    book_y, book_dx, book_grads = _run(layer, x, g, "textbook")
    np.testing.assert_allclose(y, book_y, rtol=1e-12, atol=1e-12)
    if dx is not None:
        np.testing.assert_allclose(dx, book_dx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.weight.grad, book_grads["weight"], rtol=1e-11, atol=1e-11)


def _torch_grads(gmodule, x, g):
    from glassnet.interop.torch import to_torch

    tm = to_torch(gmodule)
    xt = torch.tensor(x, requires_grad=True)
    out = tm(xt)
    out.backward(torch.tensor(g))
    return (
        out.detach().numpy(),
        xt.grad.numpy(),
        {n: p.grad.numpy() for n, p in tm.named_parameters()},
    )


# One layer of every kind and form: (make, input shape). Conv forms: by kernel rows,
# im2col at stride 1 (gather and scatter dL/dx), strided (phases), pointwise, groups,
# dilation, 'same' with an odd total, an empty batch.
LAYERS = [
    (lambda: nn.Conv2d(6, 16, 5), (3, 6, 12, 12)),
    (lambda: nn.Conv2d(1, 6, 5, padding=2), (3, 1, 12, 12)),
    (lambda: nn.Conv2d(8, 4, 3, padding=1), (3, 8, 9, 8)),
    (lambda: nn.Conv2d(4, 8, 3, padding=1, bias=False), (3, 4, 9, 8)),
    (lambda: nn.Conv2d(4, 6, 3, stride=2, padding=1), (3, 4, 9, 10)),
    (lambda: nn.Conv2d(4, 6, (3, 2), stride=(2, 1), dilation=2, groups=2), (3, 4, 11, 9)),
    (lambda: nn.Conv2d(4, 6, 4, padding="same", dilation=(1, 2)), (2, 4, 8, 9)),
    (lambda: nn.Conv2d(6, 4, 1, stride=2, bias=False), (3, 6, 7, 7)),
    (lambda: nn.Conv2d(6, 4, 1), (3, 6, 5, 5)),
    (lambda: nn.Conv2d(2, 4, 3, padding=1), (0, 2, 6, 6)),
    (lambda: nn.MaxPool2d(2), (3, 4, 8, 8)),
    (lambda: nn.MaxPool2d(3, stride=2, padding=1, dilation=1, ceil_mode=True), (3, 4, 9, 8)),
    (lambda: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), (3, 4, 9, 8)),
    (lambda: nn.AvgPool2d(2), (3, 4, 8, 8)),
    (lambda: nn.ReLU(), (3, 4, 5, 5)),
    (lambda: nn.ReLU(inplace=True), (3, 4, 5, 5)),
    (lambda: nn.GELU(), (3, 4, 5, 5)),
    (lambda: nn.GELU("tanh"), (3, 4, 5, 5)),
    (lambda: nn.BatchNorm2d(4), (3, 4, 5, 5)),
    (lambda: nn.BatchNorm2d(4, affine=False).eval(), (3, 4, 5, 5)),
    (lambda: nn.BatchNorm1d(5), (6, 5)),
    (lambda: nn.Linear(7, 3), (1, 7)),
    (lambda: nn.Linear(7, 3), (4, 7)),
    (lambda: nn.Residual(nn.Conv2d(3, 3, 3, padding=1)), (2, 3, 6, 6)),
]


@pytest.mark.parametrize("threaded", [False, True], ids=["one-thread", "blocks-on-threads"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", range(len(LAYERS)))
def test_every_tuned_form_equals_the_textbook(monkeypatch, case, dtype, threaded):
    """Each layer's fast path against its textbook path, also with every conv and
    pooling cut into blocks of one sample on two threads (as large layers run)."""
    if threaded:
        monkeypatch.setattr(conv_module, "THREADED_BYTES", 1)
        monkeypatch.setattr(conv_module, "THREADED_BLOCK_BYTES", 1)
        monkeypatch.setattr(kernels.threads, "SLICES_MIN_BYTES", 1)
        monkeypatch.setattr(kernels.pooling, "POOL_BLOCK_BYTES", 1)  # runs of one sample
        monkeypatch.setattr(kernels.threads, "_requested", kernels.threads._requested)
        gn.set_num_threads(2)  # the setting is restored after the test
    make, shape = LAYERS[case]
    layer = make().to(dtype)
    if isinstance(layer, nn.BatchNorm2d) and not layer.training:
        layer.running_mean[...] = [0.1, -0.2, 0.3, 0.0]
        layer.running_var[...] = [0.5, 2.0, 1.0, 1.5]
    rng = np.random.default_rng(case)
    x = rng.standard_normal(shape).astype(dtype)
    with kernels.use("textbook"):
        out_shape = copy.deepcopy(layer)(x.copy()).shape
    g = rng.standard_normal(out_shape).astype(dtype)
    _assert_fast_equals_textbook(layer, x, g)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_float32_form_is_within_float32_rounding_of_the_exact_values(monkeypatch, approximate):
    """float32 GELU (the exact one by Abramowitz & Stegun's erfc) against the textbook
    in float64 (math.erfc): y and dy/dx within a few float32 spacings, in both tails,
    at 0 and +-0, through chunks of 7 elements (a short last one) on two threads."""
    monkeypatch.setattr(kernels.activation, "GELU_CHUNK", 7)
    monkeypatch.setattr(kernels.threads, "SLICES_MIN_BYTES", 1)
    monkeypatch.setattr(kernels.threads, "_requested", kernels.threads._requested)
    gn.set_num_threads(2)
    x = np.r_[np.linspace(-12, 12, 2390), 0.0, 1.0, 0.0, -0.0, 1e-30, -1e-30, 40, -40, 3.0, -3.0]
    x = x.reshape(4, -1)
    layer = nn.GELU(approximate)
    with kernels.use("fast"):
        y = layer(x.astype(np.float32))
        slope = layer.backward(np.ones(x.shape, np.float32))
    with kernels.use("textbook"):
        exact_y = layer.to(np.float64)(x)
        exact_slope = layer.backward(np.ones(x.shape))
    assert y.dtype == slope.dtype == np.float32
    spacing = np.spacing(np.float32(1)) * np.maximum(1, np.abs(x))  # float32's at |x|
    assert np.all(np.abs(y - exact_y) <= 4 * spacing)
    assert np.all(np.abs(slope - exact_slope) <= 4 * spacing)
    assert y[0, 0] == 0 or abs(y[0, 0]) < 1e-30  # -12: far in the left tail


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", ["lenet5", "resnet-block"])
def test_lenet5_and_a_resnet_block_give_the_same_numbers_in_both_modes(name, dtype):
    """A whole LeNet-5 and a ResNet basic block (projection shortcut, BatchNorm, ReLU,
    a head) through both modes: the outputs, the input gradients and every parameter's
    gradient agree (float64 to ~1e-10, float32 to ~1e-5)."""
    model, shape = {
        "lenet5": (lenet5(), (4, 1, 28, 28)),
        "resnet-block": (resnet_block(3, 8, head=True), (4, 3, 12, 12)),
    }[name]
    model = model.to(dtype)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal((shape[0], 10)).astype(dtype)
    y, dx, grads = _assert_fast_equals_textbook(model, x, g)
    assert dx is not None and len(grads) == len(list(model.parameters()))
    assert all(np.abs(a).max() > 0 for a in grads.values())  # every gradient reached


@pytest.mark.parametrize("threaded", [False, True], ids=["one-piece", "slices-on-threads"])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_batchnorm_inference_under_no_grad_equals_the_textbook(
    monkeypatch, dtype, affine, threaded
):
    """Evaluation under no_grad, where nothing is saved for backward, folds the running
    mean into the shift (x * s + (bias - mean * s)): the textbook's y within rounding,
    for channels whose mean is a few standard deviations off zero; and with grad on,
    the same layer still saves what backward needs."""
    if threaded:
        monkeypatch.setattr(kernels.threads, "SLICES_MIN_BYTES", 1)
        monkeypatch.setattr(kernels.threads, "_requested", kernels.threads._requested)
        gn.set_num_threads(2)
    layer = nn.BatchNorm2d(4, affine=affine).to(dtype).eval()
    layer.running_mean[...] = [3.0, -2.0, 0.3, 0.0]
    layer.running_var[...] = [0.5, 2.0, 1.0, 1.5]
    if affine:
        layer.weight.data[...] = [1.5, -0.5, 2.0, 1.0]
        layer.bias.data[...] = [0.1, 0.2, -0.3, 0.0]
    rng = np.random.default_rng(9)
    x = (rng.standard_normal((5, 4, 6, 7)) + layer.running_mean.reshape(1, 4, 1, 1)).astype(dtype)
    with kernels.use("textbook"):
        expected = layer(x)
    tol = 1e-12 if dtype == np.float64 else 4e-6
    with kernels.use("fast"), gn.no_grad():
        y = layer(x)
    assert y.dtype == dtype and y.shape == x.shape
    np.testing.assert_allclose(y, expected, rtol=0, atol=tol * np.abs(expected).max())
    with kernels.use("fast"):
        y_grad = layer(x)
        dx = layer.backward(np.ones_like(x))
    np.testing.assert_allclose(y_grad, expected, rtol=0, atol=tol * np.abs(expected).max())
    scale = layer.weight.data if affine else 1.0
    expected_dx = np.ones_like(x) * (scale / np.sqrt(layer.running_var + layer.eps)).reshape(
        1, 4, 1, 1
    )
    np.testing.assert_allclose(dx, expected_dx, rtol=1e-6)


@pytest.mark.parametrize(
    "make",
    [lambda: nn.ReLU(), lambda: nn.ReLU(inplace=True), lambda: nn.GELU(), lambda: nn.GELU("tanh")],
    ids=["relu", "relu-inplace", "gelu", "gelu-tanh"],
)
def test_activations_under_no_grad_give_the_same_bits_and_save_nothing(monkeypatch, make):
    """Under no_grad ReLU makes no mask and GELU no dy/dx (only backward needs them):
    y is bit for bit the y of a forward that saves them, through chunks and slices on
    two threads, and a backward afterwards is refused as after any no_grad forward."""
    monkeypatch.setattr(kernels.activation, "GELU_CHUNK", 37)
    monkeypatch.setattr(kernels.threads, "SLICES_MIN_BYTES", 1)
    monkeypatch.setattr(kernels.threads, "_requested", kernels.threads._requested)
    gn.set_num_threads(2)
    x = np.random.default_rng(11).standard_normal((6, 3, 5, 7)).astype(np.float32) * 3
    x[0, 0, 0, :3] = [0.0, -0.0, np.nan]
    layer = make()
    with kernels.use("fast"):
        saved = layer(x.copy())
        layer.backward(np.ones_like(x))
        with gn.no_grad():
            y = layer(x.copy())
        with pytest.raises(RuntimeError, match="without a forward pass"):
            layer.backward(np.ones_like(x))
    np.testing.assert_array_equal(y, saved)
    assert np.signbit(y).tolist() == np.signbit(saved).tolist()


def test_backward_follows_the_mode_its_forward_ran_in():
    """A forward in one mode and its backward in the other still pair up: the plan (or
    the saved values, which both paths save alike) says what ran."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 6, 12, 12))
    model = nn.Sequential(nn.Conv2d(6, 8, 5), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2))
    model = model.to(np.float64)
    g = rng.standard_normal((2, 8, 4, 4))
    expected = _run(model, x, g, "textbook")
    for forward_mode, backward_mode in [("fast", "textbook"), ("textbook", "fast")]:
        m = copy.deepcopy(model)
        with kernels.use(forward_mode):
            y = m(x)
        with kernels.use(backward_mode):
            dx = m.backward(g)
        np.testing.assert_allclose(y, expected[0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dx, expected[1], rtol=1e-12, atol=1e-12)
        for name, p in m.named_parameters():
            np.testing.assert_allclose(p.grad, expected[2][name], rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("w_from_grad_cols", [True, False])
@pytest.mark.parametrize("block_bytes", [1, 5000, 10**9])
@pytest.mark.parametrize("channels", [(4, 6), (6, 4), (4, 4)])  # dx by scatter / by gather
@pytest.mark.parametrize(
    "args",
    [
        dict(stride=2, padding=1),
        dict(padding="same", dilation=2),
        dict(padding=(2, 0), kernel_size=(3, 2)),
        dict(groups=2, stride=(1, 2)),
        dict(groups=2, padding=1),
        dict(padding=3),  # more padding than the kernel spans: the scatter form
    ],
)
def test_conv_blocks_of_any_size_give_the_same_result(
    monkeypatch, w_from_grad_cols, block_bytes, channels, args
):
    """One sample per block, a few samples per block, or everything in one block; the
    input gradient by col2im's scatter-add or by the gather (transposed-conv) form, and
    in the gather form dL/dW from the gradient's columns or from x's."""
    monkeypatch.setattr(conv_module, "BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(conv_module, "W_FROM_GRAD_COLS", w_from_grad_cols)
    rng = np.random.default_rng(0)
    args = {"kernel_size": 3, **args}
    layer = nn.Conv2d(*channels, **args).to(np.float64)
    x = rng.standard_normal((5, channels[0], 9, 8))
    y = layer(x)
    g = rng.standard_normal(y.shape)
    dx = layer.backward(g)
    assert dx is not None
    _assert_matches_torch(layer, x, g, y, dx)


@pytest.mark.parametrize(
    "channels, groups, kernel",
    [((1, 6), 1, 5), ((3, 8), 1, 3), ((4, 6), 2, 3)],  # C*kh*kw per group: 25, 27, 18
)
def test_conv_weight_grad_summed_over_chunks_matches_one_product(
    monkeypatch, channels, groups, kernel
):
    """A small C*kh*kw takes the chunked dL/dW (a batch of products over slices of the
    long N*Ho*W axis, then a sum), including a last partial chunk."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, channels[0], 37, 29))  # 3 * 37 * (29 + 2) columns: 3441
    layer = nn.Conv2d(*channels, kernel, padding=1, groups=groups).to(np.float64)
    y = layer(x)
    g = rng.standard_normal(y.shape)
    cols_per_group = channels[0] // groups * kernel * kernel
    assert cols_per_group <= conv_module.SMALL_K
    assert x.shape[0] * x.shape[2] * (x.shape[3] + 2) > 3 * conv_module.LONG_SUM_CHUNK
    layer.backward(g)
    chunked = layer.weight.grad.copy()
    monkeypatch.setattr(conv_module, "SMALL_K", 0)  # one product
    layer.zero_grad()
    layer(x)
    layer.backward(g)
    np.testing.assert_allclose(chunked, layer.weight.grad, rtol=1e-12, atol=1e-12)
    _, _, tgrads = _torch_grads(layer, x, g)
    np.testing.assert_allclose(chunked, tgrads["weight"], atol=1e-10)


@pytest.mark.parametrize("channels", [(4, 6), (6, 4)])  # dx by scatter / by gather
def test_conv_columns_kept_for_backward_or_rebuilt_give_the_same_gradients(monkeypatch, channels):
    """Backward uses the columns forward kept (none, the first blocks, all of them) and
    rebuilds the rest, also where its blocks differ from forward's (the gather form
    sizes them for the gradient's columns). The gather form normally takes dL/dW from
    the gradient's columns and keeps nothing; switched off, it uses x's columns."""
    monkeypatch.setattr(conv_module, "W_FROM_GRAD_COLS", False)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((7, channels[0], 9, 8))
    layer = nn.Conv2d(*channels, 3, padding=1).to(np.float64)
    g = rng.standard_normal((7, channels[1], 9, 8))
    one_sample = channels[0] * 9 * 9 * 11 * 8  # bytes of one sample's columns (rows layout)
    monkeypatch.setattr(conv_module, "BLOCK_BYTES", 2 * one_sample)  # blocks of 2 samples
    results = []
    for keep in [0, 2 * one_sample, 5 * one_sample, 10**9]:
        monkeypatch.setattr(conv_module, "KEEP_BYTES", keep)
        layer.zero_grad()
        y = layer(x)
        kept = layer._cache[3]
        assert sum(c.nbytes for c in kept.values()) <= keep
        if keep == 10**9:
            assert len(kept) == 4  # every block
        results.append((y, layer.backward(g), layer.weight.grad.copy(), layer.bias.grad.copy()))
    ty, tdx, tgrads = _torch_grads(layer, x, g)
    np.testing.assert_allclose(results[0][0], ty, atol=1e-12)
    np.testing.assert_allclose(results[0][1], tdx, atol=1e-12)
    np.testing.assert_allclose(results[0][2], tgrads["weight"], atol=1e-11)
    for other in results[1:]:  # the same columns either way: the same numbers, bit for bit
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)
    with gn.no_grad():
        layer(x)
    assert layer._cache is None  # nothing kept (no columns either) without gradients
    layer.weight.requires_grad = False
    layer(x)
    assert layer._cache[3] == {}  # a frozen layer needs no columns for dL/dW
    layer.weight.requires_grad = True
    monkeypatch.setattr(conv_module, "W_FROM_GRAD_COLS", True)
    gather = channels[1] <= channels[0]
    layer.zero_grad()
    layer(x)
    assert (layer._cache[3] == {}) == gather  # dL/dW from g's columns: nothing to keep
    layer.backward(g)
    np.testing.assert_allclose(layer.weight.grad, tgrads["weight"], atol=1e-11)


def test_conv_runs_by_kernel_rows_only_where_chosen():
    """Stride 1, a kernel at least KERNEL_ROWS_MIN_KW wide and Cg*kh >= KERNEL_ROWS_MIN_K:
    LeNet-5's conv2, not its conv1 (1 x 5 rows), not 3x3 or strided layers."""
    assert conv_module._by_kernel_rows(nn.Conv2d(6, 16, 5))
    assert conv_module._by_kernel_rows(nn.Conv2d(2, 3, (4, 5), padding=2))
    assert not conv_module._by_kernel_rows(nn.Conv2d(1, 6, 5, padding=2))
    assert not conv_module._by_kernel_rows(nn.Conv2d(16, 16, 3, padding=1))
    assert not conv_module._by_kernel_rows(nn.Conv2d(6, 16, 5, stride=2))
    assert conv_module._by_kernel_rows(nn.Conv2d(4, 4, (5, 4), groups=2))  # 4 wide, 2 x 5 rows
    assert not conv_module._by_kernel_rows(nn.Conv2d(4, 4, (5, 3)))


KERNEL_ROWS_CASES = [
    dict(channels=(6, 16), kernel_size=5),  # LeNet-5's conv2
    dict(channels=(4, 3), kernel_size=5, padding=2),  # fewer outputs than inputs
    dict(channels=(2, 5), kernel_size=(4, 6), padding=(1, 3), bias=False),
    dict(channels=(4, 6), kernel_size=5, padding="same", dilation=(1, 2), groups=2),
    dict(channels=(3, 4), kernel_size=(3, 6), padding="same"),  # asymmetric: odd total
    dict(channels=(2, 4), kernel_size=5, padding=4, dilation=2),  # more than the span
]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch's
@pytest.mark.parametrize("input_grad", [True, False])
@pytest.mark.parametrize("block_bytes", [1, 20000, 10**9])
@pytest.mark.parametrize("case", range(len(KERNEL_ROWS_CASES)))
def test_conv_by_kernel_rows_matches_torch_and_im2col(monkeypatch, input_grad, block_bytes, case):
    """The kernel-rows form (columns over kernel rows, outputs shifted per kernel column)
    gives PyTorch's y, dL/dx, dL/dW and dL/db, and the im2col form's numbers, in blocks
    of one sample, a few, or one block; with and without the input gradient."""
    args = dict(KERNEL_ROWS_CASES[case])
    channels = args.pop("channels")
    monkeypatch.setattr(conv_module, "BLOCK_BYTES", block_bytes)
    rng = np.random.default_rng(30 + case)
    layer = nn.Conv2d(*channels, **args).to(np.float64)
    assert conv_module._by_kernel_rows(layer)
    layer.set_input_grad(input_grad)
    x = rng.standard_normal((5, channels[0], 13, 12))
    y = layer(x)
    g = rng.standard_normal(y.shape)
    dx = layer.backward(g)
    assert (dx is not None) == input_grad
    _assert_matches_torch(layer, x, g, y, dx)
    grads = layer.weight.grad.copy()
    monkeypatch.setattr(conv_module, "KERNEL_ROWS_MIN_KW", 99)  # the im2col form
    assert not conv_module._by_kernel_rows(layer)
    gn.kernels.forget_plans(layer)  # the form is chosen once per shape: choose again
    layer.zero_grad()
    np.testing.assert_allclose(layer(x), y, rtol=1e-13, atol=1e-13)
    dx2 = layer.backward(g)
    if input_grad:
        np.testing.assert_allclose(dx2, dx, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(layer.weight.grad, grads, rtol=1e-12, atol=1e-12)


def test_conv_by_kernel_rows_keeps_or_rebuilds_its_columns(monkeypatch):
    """Backward uses the row columns forward kept (none, the first blocks, all) and
    rebuilds the others: the same bits either way. A frozen layer and no_grad keep none."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((7, 6, 14, 14))
    layer = nn.Conv2d(6, 16, 5).to(np.float64)
    g = rng.standard_normal((7, 16, 10, 10))
    one_sample = 16 * 5 * 10 * 14 * 8  # Z's bytes per sample: the larger of R and Z
    assert conv_module._kernel_rows_bytes(layer, 10, 14, 8) == one_sample
    monkeypatch.setattr(conv_module, "BLOCK_BYTES", 2 * one_sample)  # blocks of 2 samples
    results = []
    for keep in [0, 2 * one_sample, 10**9]:
        monkeypatch.setattr(conv_module, "KEEP_BYTES", keep)
        layer.zero_grad()
        y = layer(x)
        kept = layer._cache[2]
        assert len(kept) == {0: 0, 2 * one_sample: 1, 10**9: 4}[keep]
        results.append((y, layer.backward(g), layer.weight.grad.copy(), layer.bias.grad.copy()))
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            np.testing.assert_array_equal(a, b)
    _, tdx, tgrads = _torch_grads(layer, x, g)
    np.testing.assert_allclose(results[0][1], tdx, atol=1e-12)
    np.testing.assert_allclose(results[0][2], tgrads["weight"], atol=1e-11)
    with gn.no_grad():
        layer(x)
    assert layer._cache is None
    layer.weight.requires_grad = False
    layer(x)
    assert layer._cache[2] == {}


def test_conv_backward_follows_the_form_its_forward_took(monkeypatch):
    """The form (kernel rows or im2col) is chosen in forward and saved: changing the
    setting between forward and backward does not mix them up."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 6, 9, 9))
    g = rng.standard_normal((3, 4, 5, 5))
    for before, after in [(4, 99), (99, 4)]:
        layer = nn.Conv2d(6, 4, 5).to(np.float64)
        monkeypatch.setattr(conv_module, "KERNEL_ROWS_MIN_KW", before)
        y = layer(x)
        monkeypatch.setattr(conv_module, "KERNEL_ROWS_MIN_KW", after)
        _assert_matches_torch(layer, x, g, y, layer.backward(g))


@pytest.mark.parametrize("step", [1, 2, 3])
@pytest.mark.parametrize("count", [1, 2, 5])
def test_shifted_copies_and_add_shifted_follow_their_definitions(count, step):
    """out[..., b, k] = a[..., k - b*step] (zeros shifted in), and its adjoint
    out[..., k] = sum_b z[..., b, k + b*step] for every k that stays inside z."""
    from glassnet.kernels.im2col import add_shifted, shifted_copies

    rng = np.random.default_rng(count * 10 + step)
    a = rng.standard_normal((2, 3, 17))
    s = shifted_copies(a, count, step)
    for b in range(count):
        for k in range(17):
            want = a[..., k - b * step] if k >= b * step else 0.0
            np.testing.assert_array_equal(s[..., b, k], want)
    z = rng.standard_normal((2, 3, count, 17))
    out = add_shifted(z, step)
    run = 17 - (count - 1) * step
    for k in range(run):
        want = sum(z[..., b, k + b * step] for b in range(count))
        np.testing.assert_allclose(out[..., k], want, rtol=1e-14)


@pytest.mark.parametrize("kernel", [2, 3, 4, 5, 9, 17])  # 4..289 offsets: uint8, int32
@pytest.mark.parametrize("stride", [1, 2, None])
def test_maxpool_first_maximum_wins_ties_for_every_kernel_size(kernel, stride):
    """Small integers make ties common; the gradient must go to the first maximum,
    as in PyTorch, whichever winner encoding the kernel size selects."""
    rng = np.random.default_rng(kernel)
    x = rng.integers(0, 3, size=(2, 3, 11, 12)).astype(np.float64)
    pool = nn.MaxPool2d(kernel, stride=stride, padding=kernel // 2)
    y = pool(x)
    g = rng.standard_normal(y.shape)
    dx = pool.backward(g)
    ty, tdx, _ = _torch_grads(pool, x, g)
    np.testing.assert_array_equal(y, ty)
    np.testing.assert_allclose(dx, tdx, atol=1e-12)


def test_maxpool_without_grad_keeps_no_state():
    pool = nn.MaxPool2d(2)
    with gn.no_grad():
        pool(np.ones((1, 1, 4, 4), dtype=np.float32))
    with pytest.raises(RuntimeError, match="without a forward pass"):
        pool.backward(np.ones((1, 1, 2, 2), dtype=np.float32))


@pytest.mark.parametrize("name", ["lenet5", "digits-cnn-pool-skip", "resnet8", "mnist-mlp"])
def test_skipping_the_input_gradient_changes_no_parameter_gradient(name):
    model = models.get(name, seed=0).to(np.float64)
    shape = (3, *model.zoo_spec["input_shape"])
    x = np.random.default_rng(1).standard_normal(shape)
    grads = []
    for enabled in (True, False):
        model.set_input_grad(enabled)
        model.zero_grad()
        y = model(x)
        dx = model.backward(np.ones_like(y))
        assert (dx is None) == (not enabled)
        grads.append({n: p.grad.copy() for n, p in model.named_parameters()})
    for n in grads[0]:
        np.testing.assert_array_equal(grads[0][n], grads[1][n], err_msg=n)


def test_fit_skips_the_input_gradient_and_restores_the_flag():
    model = models.get("digits-cnn", seed=0)
    first_conv = model[0]
    seen = []
    original = first_conv.backward

    def spy(g):
        out = original(g)
        seen.append(out is None)
        return out

    first_conv.backward = spy
    x = np.random.default_rng(0).standard_normal((16, 1, 8, 8)).astype(np.float32)
    y = np.arange(16) % 10
    gn.train.fit(model, (x, y), epochs=1, batch_size=8, progress=False)
    assert seen and all(seen)  # the first conv never computed dL/dx during fit
    assert model._input_grad and first_conv._input_grad  # restored afterwards
    model(x)
    dx = model.backward(np.ones((16, 10), dtype=np.float32))
    assert dx is not None and dx.shape == x.shape


@pytest.mark.parametrize("lead", [(1,), (1, 1), (3,)])
def test_linear_weight_grad_of_one_sample_is_the_outer_product(lead):
    """One sample takes dL/dW as a broadcast outer product instead of a K = 1 GEMM:
    the same products, so the same numbers bit for bit, and equal to PyTorch's."""
    rng = np.random.default_rng(3)
    layer = nn.Linear(7, 5).to(np.float64)
    x = rng.standard_normal((*lead, 7))
    g = rng.standard_normal((*lead, 5))
    layer(x)
    dx = layer.backward(g)
    g2, x2 = g.reshape(-1, 5), x.reshape(-1, 7)
    np.testing.assert_array_equal(layer.weight.grad, g2.T @ x2)
    _, tdx, tgrads = _torch_grads(layer, x, g)
    np.testing.assert_allclose(dx, tdx, atol=1e-12)
    np.testing.assert_allclose(layer.weight.grad, tgrads["weight"], atol=1e-12)
    np.testing.assert_allclose(layer.bias.grad, tgrads["bias"], atol=1e-12)


@pytest.mark.parametrize("seed", range(40))
def test_rows_layout_columns_equal_the_window_layout(seed):
    """im2col's rows layout, with its shared left/right padding (``rows_pads``), holds
    the window layout's columns once its garbage columns are dropped: random kernels,
    dilations, asymmetric padding and images narrower than the kernel's span."""
    from glassnet.kernels.im2col import im2col, rows_pads
    from glassnet.nn.functional import pad2d

    rng = np.random.default_rng(seed)
    kernel = tuple(int(k) for k in rng.integers(1, 5, 2))
    dilation = tuple(int(d) for d in rng.integers(1, 4, 2))
    spans = [(k - 1) * d for k, d in zip(kernel, dilation)]
    pads = tuple(int(rng.integers(0, s + 2)) for s in (spans[0], spans[0], spans[1], spans[1]))
    h = max(1, spans[0] + 1 - pads[0] - pads[1]) + int(rng.integers(0, 4))
    w = max(1, spans[1] + 1 - pads[2] - pads[3]) + int(rng.integers(0, 4))
    ho, wo = h + pads[0] + pads[1] - spans[0], w + pads[2] + pads[3] - spans[1]
    x = rng.standard_normal((2, 3, h, w))
    window = im2col(pad2d(x, *pads), kernel, (1, 1), dilation, (ho, wo))
    row_pads = rows_pads(pads, w, kernel, dilation)
    assert row_pads[0::2] == pads[0::2] and row_pads[1] >= pads[1] and row_pads[3] <= pads[3]
    rows = im2col(pad2d(x, *row_pads), kernel, (1, 1), dilation, (ho, wo), rows_layout=True)
    assert rows.shape[-1] == w + row_pads[2] + row_pads[3] >= wo
    np.testing.assert_array_equal(rows[..., :wo], window)


@pytest.mark.parametrize("input_grad", [True, False])
@pytest.mark.parametrize(
    "args",
    [
        dict(stride=2, bias=False),  # a ResNet shortcut
        dict(stride=1),
        dict(stride=(2, 1), groups=2),
        dict(dilation=2, padding="same"),  # 'same' for a 1x1 kernel: no padding
        dict(stride=(1, 3)),
        dict(stride=3, groups=3, padding="valid"),
    ],
)
def test_pointwise_conv_as_matmul_matches_im2col_and_torch(monkeypatch, input_grad, args):
    """1x1 kernels without padding skip im2col (POINTWISE_AS_MATMUL): the same output and
    gradients as the im2col path and as PyTorch; without dL/dx it returns None."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((5, 6, 7, 8))
    layer = nn.Conv2d(6, 9 if args.get("groups", 1) == 3 else 4, 1, **args).to(np.float64)
    assert conv_module._pointwise(layer)
    layer.set_input_grad(input_grad)
    g = rng.standard_normal(layer(x).shape)

    def run():
        layer.zero_grad()
        y = layer(x)
        dx = layer.backward(g)
        grads = [p.grad.copy() for p in layer.parameters()]
        return y, dx, grads

    y, dx, grads = run()
    monkeypatch.setattr(conv_module, "POINTWISE_AS_MATMUL", False)
    assert not conv_module._pointwise(layer)
    gn.kernels.forget_plans(layer)  # the form is chosen once per shape: choose again
    y2, dx2, grads2 = run()
    np.testing.assert_allclose(y, y2, rtol=1e-12, atol=1e-12)
    for a, b in zip(grads, grads2, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    ty, tdx, tgrads = _torch_grads(layer, x, g)
    np.testing.assert_allclose(y, ty, atol=1e-12)
    np.testing.assert_allclose(grads[0], tgrads["weight"], atol=1e-11)
    if input_grad:
        np.testing.assert_allclose(dx, dx2, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dx, tdx, atol=1e-12)
    else:
        assert dx is None and dx2 is None


def test_pointwise_conv_keeps_only_the_strided_samples_for_backward():
    """At stride 2 backward keeps x[:, :, ::2, ::2] (a quarter of x); at stride 1 x
    itself, not a copy."""
    x = np.random.default_rng(12).standard_normal((2, 3, 6, 6)).astype(np.float32)
    strided = nn.Conv2d(3, 4, 1, stride=2)
    strided(x)
    np.testing.assert_array_equal(strided._cache[1], x[:, :, ::2, ::2])
    plain = nn.Conv2d(3, 4, 1)
    plain(x)
    assert plain._cache[1] is x
    with gn.no_grad():
        plain(x)
    assert plain._cache is None


@pytest.mark.parametrize("seed", range(40))
def test_col2im_by_phases_equals_col2im_and_crop(seed):
    """The strided input gradient by the stride's phases (``col2im_phases``) equals the
    plain col2im (each offset's columns added into its strided pixels of the padded
    gradient), cropped: random strides, kernels, dilations, padding (more than the
    kernel spans too) and sizes whose last rows or columns no window reads."""
    from glassnet.kernels.im2col import col2im_phases, phase_width
    from glassnet.nn.functional import conv_output_size, offset_slice

    rng = np.random.default_rng(100 + seed)
    stride = tuple(int(s) for s in rng.integers(1, 4, 2))
    kernel = tuple(int(k) for k in rng.integers(1, 5, 2))
    dilation = tuple(int(d) for d in rng.integers(1, 3, 2))
    pads = tuple(int(p) for p in rng.integers(0, 4, 4))
    h, w = (int(v) for v in rng.integers(7, 14, 2))  # at least the kernel's span
    ho = conv_output_size(h, kernel[0], stride[0], pads[0] + pads[1], dilation[0])
    wo = conv_output_size(w, kernel[1], stride[1], pads[2] + pads[3], dilation[1])
    c, n = 3, 2
    dcols = rng.standard_normal((c, *kernel, n, ho, wo))
    dxp = np.zeros((n, c, h + pads[0] + pads[1], w + pads[2] + pads[3]))
    for a in range(kernel[0]):
        for b in range(kernel[1]):
            window = offset_slice(a, b, stride, dilation, (ho, wo))
            dxp.transpose(1, 0, 2, 3)[window] += dcols[:, a, b]
    expected = dxp[:, :, pads[0] : pads[0] + h, pads[2] : pads[2] + w]
    grid = np.zeros((c, *kernel, n, ho, phase_width(wo, kernel[1], dilation[1], stride[1])))
    grid[..., :wo] = dcols
    dx = np.full((n, c, h, w), np.nan)
    col2im_phases(grid, dx, pads, stride, dilation)
    np.testing.assert_allclose(dx, expected, rtol=1e-13, atol=1e-13)
