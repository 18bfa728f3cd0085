"""nn/reference.py (the loops) equals the layers, every layer and loss, in both kernel modes."""

from __future__ import annotations

import numpy as np
import pytest

from glassnet import nn
from glassnet.nn import reference as ref

TOL = 1e-12


def backward_of(module, x, g):
    module.zero_grad()
    module(x)
    return module.backward(g)


@pytest.mark.parametrize("seed", range(4))
def test_linear_matches_reference(seed, assert_close):
    rng = np.random.default_rng(seed)
    fin, fout, n = (int(v) for v in rng.integers(1, 6, 3))
    m = nn.Linear(fin, fout, bias=seed != 1).to(np.float64)
    x = rng.standard_normal((n, fin))
    bias = None if m.bias is None else m.bias.data
    assert_close(m(x), ref.linear_forward(x, m.weight.data, bias), TOL, "forward")
    g = rng.standard_normal((n, fout))
    dx = backward_of(m, x, g)
    rdx, rdw, rdb = ref.linear_backward(x, m.weight.data, g)
    assert_close(dx, rdx, TOL, "dx")
    assert_close(m.weight.grad, rdw, TOL, "dW")
    if m.bias is not None:
        assert_close(m.bias.grad, rdb, TOL, "db")


CONV_CASES = [
    # cin, cout, kernel, stride, padding, dilation, groups, hw
    (1, 2, 3, 1, 0, 1, 1, (5, 5)),
    (2, 3, (3, 2), 2, 1, 1, 1, (6, 7)),
    (2, 2, 3, (1, 3), (2, 1), 2, 1, (7, 8)),
    (4, 6, 3, 2, 1, 1, 2, (5, 6)),
    (4, 4, (2, 3), 3, (0, 2), (2, 1), 4, (9, 7)),
    (3, 6, 1, 2, 0, 1, 3, (4, 5)),
    (2, 3, (4, 5), 1, (1, 2), (1, 2), 1, (7, 11)),  # by kernel rows (Conv2d._by_kernel_rows)
    (4, 4, 3, 1, 1, 1, 1, (6, 5)),  # out <= in channels: dL/dx by the gather form
    (1, 2, 3, 1, 1, 1, 1, (28, 40)),  # a long dL/dW sum, taken in chunks
]


@pytest.mark.parametrize("case", range(len(CONV_CASES)))
def test_conv2d_matches_reference(case, assert_close):
    cin, cout, k, s, p, d, g, hw = CONV_CASES[case]
    rng = np.random.default_rng(case)
    conv = nn.Conv2d(cin, cout, k, stride=s, padding=p, dilation=d, groups=g, bias=case != 2)
    conv = conv.to(np.float64)
    x = rng.standard_normal((2, cin, *hw))
    bias = None if conv.bias is None else conv.bias.data
    y = conv(x)
    assert_close(y, ref.conv2d_forward(x, conv.weight.data, bias, s, p, d, g), TOL, "forward")
    grad = rng.standard_normal(y.shape)
    dx = backward_of(conv, x, grad)
    rdx, rdw, rdb = ref.conv2d_backward(x, conv.weight.data, grad, s, p, d, g)
    assert_close(dx, rdx, TOL, "dx")
    assert_close(conv.weight.grad, rdw, TOL, "dW")
    if conv.bias is not None:
        assert_close(conv.bias.grad, rdb, TOL, "db")


@pytest.mark.parametrize("case", range(len(CONV_CASES)))
def test_conv2d_on_threads_matches_reference(case, assert_close, monkeypatch):
    """The same cases with every layer run in blocks of one sample on two threads, as
    large layers run (the cases are too small to be threaded on their own)."""
    import glassnet
    from glassnet.kernels import conv

    monkeypatch.setattr(conv, "THREADED_BYTES", 1)
    monkeypatch.setattr(conv, "THREADED_BLOCK_BYTES", 1)
    before = glassnet.get_num_threads()
    glassnet.set_num_threads(2)
    try:
        test_conv2d_matches_reference(case, assert_close)
    finally:
        glassnet.set_num_threads(before)


POOL_CASES = [
    # kernel, stride, padding, dilation, hw
    (2, None, 0, 1, (6, 6)),
    (3, 2, 1, 1, (7, 6)),
    ((3, 2), (1, 2), (1, 1), 1, (5, 7)),
    (3, 3, 1, 2, (9, 8)),
    (2, 1, 1, (1, 2), (4, 6)),
]


@pytest.mark.parametrize("case", range(len(POOL_CASES)))
def test_maxpool2d_matches_reference(case, assert_close):
    k, s, p, d, hw = POOL_CASES[case]
    rng = np.random.default_rng(case)
    x = rng.standard_normal((2, 3, *hw))
    if case == 0:
        x = np.round(x)  # ties: both must pick the first maximum
    pool = nn.MaxPool2d(k, s, p, d)
    y = pool(x)
    np.testing.assert_array_equal(y, ref.maxpool2d_forward(x, k, s, p, d))
    g = rng.standard_normal(y.shape)
    assert_close(backward_of(pool, x, g), ref.maxpool2d_backward(x, g, k, s, p, d), TOL, "dx")


@pytest.mark.parametrize("case", range(len(POOL_CASES)))
def test_maxpool2d_nan_and_minus_inf_match_reference(case):
    k, s, p, d, hw = POOL_CASES[case]
    rng = np.random.default_rng(case)
    x = rng.standard_normal((2, 3, *hw))
    x[0, 1] = -np.inf
    x[rng.random(x.shape) < 0.1] = np.nan
    pool = nn.MaxPool2d(k, s, p, d)
    y = pool(x)
    np.testing.assert_array_equal(y, ref.maxpool2d_forward(x, k, s, p, d))
    g = rng.standard_normal(y.shape)
    dx, rdx = backward_of(pool, x, g), ref.maxpool2d_backward(x, g, k, s, p, d)
    np.testing.assert_allclose(dx, rdx, rtol=1e-12, atol=1e-12)  # sums in another order


@pytest.mark.parametrize("case", [c for c in range(len(POOL_CASES)) if POOL_CASES[c][3] == 1])
def test_avgpool2d_matches_reference(case, assert_close):
    k, s, p, _, hw = POOL_CASES[case]
    rng = np.random.default_rng(case)
    x = rng.standard_normal((2, 3, *hw))
    pool = nn.AvgPool2d(k, s, p)
    y = pool(x)
    assert_close(y, ref.avgpool2d_forward(x, k, s, p), TOL, "forward")
    g = rng.standard_normal(y.shape)
    assert_close(backward_of(pool, x, g), ref.avgpool2d_backward(x, g, k, s, p), TOL, "dx")


@pytest.mark.parametrize("case", range(len(POOL_CASES)))
@pytest.mark.parametrize("include_pad", [True, False])
def test_avgpool2d_options_match_reference(case, include_pad, assert_close):
    """ceil_mode (windows reaching past the padding), count_include_pad and
    divisor_override, for both poolings where they apply."""
    k, s, p, d, hw = POOL_CASES[case]
    rng = np.random.default_rng(10 + case)
    x = rng.standard_normal((2, 2, *hw))
    for override in (None, 3):
        pool = nn.AvgPool2d(k, s, p, True, include_pad, override)
        y = pool(x)
        assert_close(y, ref.avgpool2d_forward(x, k, s, p, True, include_pad, override), TOL, "y")
        g = rng.standard_normal(y.shape)
        want = ref.avgpool2d_backward(x, g, k, s, p, True, include_pad, override)
        assert_close(backward_of(pool, x, g), want, TOL, "dx")
    pool = nn.MaxPool2d(k, s, p, d, ceil_mode=True)
    y = pool(x)
    np.testing.assert_array_equal(y, ref.maxpool2d_forward(x, k, s, p, d, ceil_mode=True))
    g = rng.standard_normal(y.shape)
    want = ref.maxpool2d_backward(x, g, k, s, p, d, ceil_mode=True)
    assert_close(backward_of(pool, x, g), want, TOL, "dx")


@pytest.mark.parametrize("size, hw", [(1, (5, 4)), ((2, 3), (7, 5)), ((3, 3), (6, 6))])
def test_adaptive_avgpool2d_matches_reference(size, hw, assert_close):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, *hw))
    pool = nn.AdaptiveAvgPool2d(size)
    y = pool(x)
    assert_close(y, ref.adaptive_avgpool2d_forward(x, size), TOL, "forward")
    g = rng.standard_normal(y.shape)
    want = ref.adaptive_avgpool2d_backward(x, g, size)
    assert_close(backward_of(pool, x, g), want, TOL, "dx")


def test_reference_conv_is_not_trivially_equal():
    """The oracle itself is sensitive: a different stride or weight changes its answer."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 2, 6, 6)), rng.standard_normal((3, 2, 3, 3))
    a = ref.conv2d_forward(x, w, None, 1, 1)
    w2 = w.copy()
    w2[0, 0, 0, 0] += 1e-3
    assert not np.allclose(a, ref.conv2d_forward(x, w2, None, 1, 1))
    assert ref.conv2d_forward(x, w, None, 2, 1).shape == (1, 3, 3, 3)


@pytest.mark.parametrize(
    "shape, options",
    [
        ((4, 3), {}),  # BatchNorm1d on (N, C)
        ((3, 2, 5), dict(affine=False)),  # BatchNorm1d on (N, C, L)
        ((2, 3, 4, 3), {}),
        ((2, 3, 4, 3), dict(eval=True)),  # running statistics: a fixed affine map
        ((2, 3, 4, 3), dict(eval=True, track_running_stats=False)),  # batch stats in eval
    ],
)
def test_batchnorm_matches_reference(shape, options, assert_close):
    options = dict(options)
    evaluate = options.pop("eval", False)
    layer = (nn.BatchNorm2d if len(shape) == 4 else nn.BatchNorm1d)(shape[1], **options)
    layer = layer.to(np.float64)
    rng = np.random.default_rng(len(shape))
    if layer.affine:
        layer.weight.data[...] = rng.uniform(0.5, 2, shape[1])
        layer.bias.data[...] = rng.standard_normal(shape[1])
    if layer.track_running_stats:
        layer.running_mean[...] = rng.standard_normal(shape[1])
        layer.running_var[...] = rng.uniform(0.5, 2, shape[1])
    if evaluate:
        layer.eval()
    x = 3 * rng.standard_normal(shape) + 1
    g = rng.standard_normal(shape)
    weight = layer.weight.data if layer.affine else None
    bias = layer.bias.data if layer.affine else None
    fixed = {}
    if evaluate and layer.track_running_stats:
        fixed = dict(mean=layer.running_mean.copy(), var=layer.running_var.copy())
    want_y, mean, var = ref.batchnorm_forward(x, weight, bias, layer.eps, **fixed)
    want_dx, want_dw, want_db = ref.batchnorm_backward(x, g, weight, layer.eps, **fixed)
    before = None if fixed or not layer.track_running_stats else layer.running_var.copy()
    assert_close(layer(x), want_y, TOL, "forward")
    if before is not None:  # the running variance moved towards the unbiased batch variance
        m = x.size // shape[1]
        assert_close(layer.running_var, 0.9 * before + 0.1 * var * m / (m - 1), TOL, "var")
    layer.zero_grad()
    assert_close(layer.backward(g), want_dx, TOL, "dx")
    if layer.affine:
        assert_close(layer.weight.grad, want_dw, TOL, "dweight")
        assert_close(layer.bias.grad, want_db, TOL, "dbias")


@pytest.mark.parametrize("name", ["ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "GELU-tanh"])
def test_activations_match_reference(name, assert_close):
    forward, backward = {
        "ReLU": (ref.relu_forward, ref.relu_backward),
        "LeakyReLU": (
            lambda x: ref.leaky_relu_forward(x, 0.2),
            lambda x, g: ref.leaky_relu_backward(x, g, 0.2),
        ),
        "Sigmoid": (ref.sigmoid_forward, ref.sigmoid_backward),
        "Tanh": (ref.tanh_forward, ref.tanh_backward),
        "GELU": (ref.gelu_forward, ref.gelu_backward),
        "GELU-tanh": (
            lambda x: ref.gelu_forward(x, "tanh"),
            lambda x, g: ref.gelu_backward(x, g, "tanh"),
        ),
    }[name]
    layer = {"LeakyReLU": lambda: nn.LeakyReLU(0.2), "GELU-tanh": lambda: nn.GELU("tanh")}.get(
        name, getattr(nn, name.split("-")[0])
    )()
    rng = np.random.default_rng(0)
    x = rng.permutation(np.linspace(-6, 6, 2 * 3 * 4 * 5)).reshape(2, 3, 4, 5)  # no 0 exactly
    g = rng.standard_normal(x.shape)
    assert_close(layer(x.copy()), forward(x), TOL, "forward")
    assert_close(layer.backward(g), backward(x, g), TOL, "dx")


@pytest.mark.parametrize("cls", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("dim", [1, -1, 0])
def test_softmax_and_log_softmax_match_reference(cls, dim, assert_close):
    rng = np.random.default_rng(1)
    x = 4 * rng.standard_normal((3, 4, 5))
    g = rng.standard_normal(x.shape)
    layer = getattr(nn, cls)(dim=dim)
    name = "softmax" if cls == "Softmax" else "log_softmax"
    axis = dim % x.ndim
    assert_close(layer(x), getattr(ref, f"{name}_forward")(x, axis), TOL, "forward")
    assert_close(layer.backward(g), getattr(ref, f"{name}_backward")(x, g, axis), TOL, "dx")


def test_dropout_matches_reference_given_its_mask(assert_close):
    """The mask is the layer's own draw (read off the output where x is nonzero)."""
    rng = np.random.default_rng(2)
    x = rng.uniform(0.5, 1.5, (4, 3, 5))  # never 0: y == 0 exactly where dropped
    layer = nn.Dropout(0.3).to(np.float64)
    y = layer(x)
    keep = y != 0
    assert 0 < keep.mean() < 1
    assert_close(y, ref.dropout_forward(x, keep, 0.3), TOL, "forward")
    g = rng.standard_normal(x.shape)
    assert_close(layer.backward(g), ref.dropout_backward(g, keep, 0.3), TOL, "dx")


CE_CASES = [
    dict(),
    dict(reduction="sum"),
    dict(reduction="none"),
    dict(label_smoothing=0.2),
    dict(weight=[0.5, 2.0, 1.0, 1.5], ignore_index=2),
    dict(weight=[0.5, 2.0, 1.0, 1.5], label_smoothing=0.1, reduction="none"),
    dict(probabilities=True, label_smoothing=0.3),
]


@pytest.mark.parametrize("case", range(len(CE_CASES)))
def test_cross_entropy_matches_reference(case, assert_close):
    options = dict(CE_CASES[case])
    rng = np.random.default_rng(3 + case)
    logits = 3 * rng.standard_normal((6, 4))
    if options.pop("probabilities", False):
        target = rng.dirichlet(np.ones(4), 6)
    else:
        target = np.array([0, 2, 1, 3, 2, 1])
    loss_fn = nn.CrossEntropyLoss(**options)
    upstream = rng.uniform(0.5, 1.5, 6) if options.get("reduction") == "none" else None
    want_loss, want_grad = ref.cross_entropy(logits, target, grad_out=upstream, **options)
    assert_close(loss_fn(logits, target), want_loss, TOL, "loss")
    assert_close(loss_fn.backward(upstream), want_grad, TOL, "dlogits")


@pytest.mark.parametrize(
    "options", [dict(), dict(reduction="sum"), dict(weight=[1.0, 3.0, 0.5], ignore_index=0)]
)
def test_nll_loss_matches_reference(options, assert_close):
    rng = np.random.default_rng(4)
    log_probs = np.log(rng.dirichlet(np.ones(3), 5))
    target = np.array([0, 1, 2, 1, 0])
    loss_fn = nn.NLLLoss(**options)
    want_loss, want_grad = ref.nll_loss(log_probs, target, **options)
    assert_close(loss_fn(log_probs, target), want_loss, TOL, "loss")
    assert_close(loss_fn.backward(), want_grad, TOL, "dinput")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_matches_reference(reduction, assert_close):
    rng = np.random.default_rng(5)
    x, t = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    upstream = rng.standard_normal((4, 3)) if reduction == "none" else 0.7
    loss_fn = nn.MSELoss(reduction=reduction)
    want_loss, want_grad = ref.mse_loss(x, t, reduction, grad_out=upstream)
    assert_close(loss_fn(x, t), want_loss, TOL, "loss")
    assert_close(loss_fn.backward(upstream), want_grad, TOL, "dx")


@pytest.mark.parametrize("projection", [False, True])
def test_residual_block_matches_reference(projection, assert_close):
    """Residual(Linear, shortcut) against the loops: y = F(x) + s(x); g reaches both
    branches unchanged; dL/dx is the sum of the branches' input gradients."""
    rng = np.random.default_rng(6)
    body = nn.Linear(4, 4).to(np.float64)
    shortcut = nn.Linear(4, 4, bias=False).to(np.float64) if projection else None
    block = nn.Residual(body, shortcut)
    x, g = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    body_y = ref.linear_forward(x, body.weight.data, body.bias.data)
    skip_y = ref.linear_forward(x, shortcut.weight.data) if projection else x
    assert_close(block(x), ref.residual_forward(body_y, skip_y), TOL, "forward")
    body_dx, body_dw, _ = ref.linear_backward(x, body.weight.data, g)
    skip_dx = ref.linear_backward(x, shortcut.weight.data, g)[0] if projection else g
    block.zero_grad()
    assert_close(block.backward(g), ref.residual_backward(g, body_dx, skip_dx), TOL, "dx")
    assert_close(body.weight.grad, body_dw, TOL, "dW of the body")


def test_concat_matches_reference(assert_close):
    rng = np.random.default_rng(7)
    conv = nn.Conv2d(1, 2, 3, padding=1).to(np.float64)
    net = nn.Concat(nn.Flatten(), nn.Sequential(conv, nn.Flatten()))
    x = rng.standard_normal((2, 1, 4, 4))
    conv_y = ref.conv2d_forward(x, conv.weight.data, conv.bias.data, 1, 1)
    y = net(x)
    assert_close(y, ref.concat_forward([x, conv_y]), TOL, "forward")
    g = rng.standard_normal(y.shape)
    g_flat, g_conv = ref.concat_backward(g, [x.shape, conv_y.shape])
    want_dx = g_flat + ref.conv2d_backward(x, conv.weight.data, g_conv, 1, 1)[0]
    assert_close(net.backward(g), want_dx, TOL, "dx")
