"""Every layer and loss against central differences in float64 (glassnet.gradcheck).

Shapes and hyperparameters are drawn from a generator seeded by the test's parameter,
so each case is random but reproducible. Inputs to ReLU and MaxPool are permutations
of evenly spaced values (no ties, nothing near a kink), so central differences are
valid there.
"""

from __future__ import annotations

import numpy as np
import pytest

import glassnet
from glassnet import nn

MAX_CHECKS = 40


def assert_gradcheck(module, x, *args, max_checks=MAX_CHECKS, **kw):
    """Gradcheck must pass and must have checked the input and every parameter."""
    result = glassnet.gradcheck(module, x, *args, max_checks=max_checks, **kw)
    assert result, f"{module!r}\n{result}"
    names = [t.name for t in result.tensors]
    expected = ["input"]
    if isinstance(module, nn.Module):
        expected += [n for n, _ in module.named_parameters()]
    assert names == expected
    assert all(t.checked > 0 for t in result.tensors)
    return result


def spaced(rng, shape, spacing=0.05):
    n = int(np.prod(shape))
    return rng.permutation((np.arange(n) - (n - 1) / 2) * spacing).reshape(shape)


def randomize_bn(bn, rng):
    """Non-trivial affine parameters and running statistics."""
    if bn.affine:
        bn.weight.data[...] = rng.uniform(0.5, 1.5, bn.num_features)
        bn.bias.data[...] = rng.standard_normal(bn.num_features)
    if bn.track_running_stats:
        bn.running_mean[...] = rng.standard_normal(bn.num_features)
        bn.running_var[...] = rng.uniform(0.5, 2.0, bn.num_features)
    return bn


# ----------------------------------------------------------------------------- Linear
@pytest.mark.parametrize("seed", range(6))
def test_linear(seed):
    rng = np.random.default_rng(seed)
    fin, fout = (int(v) for v in rng.integers(1, 7, 2))
    lead = (int(rng.integers(1, 5)),) if seed % 3 else (2, int(rng.integers(1, 4)))
    m = nn.Linear(fin, fout, bias=seed % 2 == 0)
    assert_gradcheck(m, rng.standard_normal((*lead, fin)))


# ----------------------------------------------------------------------------- Conv2d
def draw_conv(seed):
    """A random Conv2d and an input it accepts; the seed cycles through padding kinds."""
    rng = np.random.default_rng(seed)
    groups = 1 + seed % 2
    cin = groups * int(rng.integers(1, 3))
    cout = groups * int(rng.integers(1, 3))
    kernel = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    dilation = (1 + (seed // 2) % 2, int(rng.integers(1, 3)))
    kind = ["int", "tuple", "same", "valid"][seed % 4]
    stride = (1, 1) if kind == "same" else (1 + seed % 3, int(rng.integers(1, 4)))
    padding = {
        "int": int(rng.integers(0, 3)),
        "tuple": (int(rng.integers(0, 3)), int(rng.integers(0, 3))),
        "same": "same",
        "valid": "valid",
    }[kind]
    conv = nn.Conv2d(
        cin,
        cout,
        kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        bias=seed % 5 != 0,
    )
    span = [d * (k - 1) + 1 for d, k in zip(dilation, kernel)]
    hw = [s + int(rng.integers(0, 5)) for s in span]
    x = rng.standard_normal((int(rng.integers(1, 3)), cin, *hw))
    return conv, x


@pytest.mark.parametrize("seed", range(16))
def test_conv2d(seed):
    conv, x = draw_conv(seed)
    assert_gradcheck(conv, x)


def test_conv2d_covers_the_hyperparameters():
    """The random cases above include every feature the brief asks for."""
    convs = [draw_conv(s)[0] for s in range(16)]
    assert {c.stride[0] for c in convs} >= {1, 2, 3}
    assert {c.dilation[0] for c in convs} == {1, 2}
    assert {c.groups for c in convs} == {1, 2}
    assert {"same", "valid"} <= {c.padding for c in convs if isinstance(c.padding, str)}
    assert any(c.kernel_size[0] != c.kernel_size[1] for c in convs)
    assert any(c.bias is None for c in convs)
    assert any(isinstance(c.padding, tuple) and max(c.padding) > 0 for c in convs)


@pytest.mark.parametrize(
    "args", [dict(padding=(2, 1)), dict(padding="same", dilation=(2, 1), groups=2)]
)
def test_conv2d_by_kernel_rows(args):
    """Kernels 5 wide with Cg*kh >= 8 (4 x 4, 2 x 4) run by kernel rows
    (glassnet.kernels.conv._by_kernel_rows)."""
    from glassnet.kernels import conv as tuned

    conv = nn.Conv2d(4, 2, (4, 5), **args)
    assert tuned._by_kernel_rows(conv)
    x = np.random.default_rng(2).standard_normal((2, 4, 8, 7))
    assert_gradcheck(conv, x)


def test_conv2d_same_even_kernel_dilated():
    conv = nn.Conv2d(2, 3, (2, 4), padding="same", dilation=(3, 1))
    x = np.random.default_rng(1).standard_normal((2, 2, 5, 6))
    assert conv(x).shape == (2, 3, 5, 6)
    assert_gradcheck(conv, x)


# ----------------------------------------------------------------------------- pooling
def draw_pool(seed, cls):
    rng = np.random.default_rng(seed)
    kernel = (int(rng.integers(1, 4)), int(rng.integers(2, 4)))
    stride = None if seed % 4 == 0 else (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    padding = (int(rng.integers(0, kernel[0] // 2 + 1)), int(rng.integers(0, kernel[1] // 2 + 1)))
    if seed % 3 == 1:
        padding = (kernel[0] // 2, kernel[1] // 2)
    ceil_mode = seed % 2 == 1
    kw = {}
    if cls is nn.MaxPool2d:
        dilation = (1 + seed % 2, int(rng.integers(1, 3)))
        kw["dilation"] = dilation
    else:
        dilation = (1, 1)
        kw["count_include_pad"] = seed % 3 != 2
        kw["divisor_override"] = 5 if seed % 5 == 3 else None
    pool = cls(kernel, stride=stride, padding=padding, ceil_mode=ceil_mode, **kw)
    span = [d * (k - 1) + 1 for d, k in zip(dilation, kernel)]
    hw = [s + int(rng.integers(0, 6)) for s in span]
    return pool, (int(rng.integers(1, 3)), int(rng.integers(1, 3)), *hw)


@pytest.mark.parametrize("seed", range(12))
def test_maxpool2d(seed):
    pool, shape = draw_pool(seed, nn.MaxPool2d)
    assert_gradcheck(pool, spaced(np.random.default_rng(seed), shape))


@pytest.mark.parametrize("seed", range(12))
def test_avgpool2d(seed):
    pool, shape = draw_pool(seed, nn.AvgPool2d)
    assert_gradcheck(pool, np.random.default_rng(seed).standard_normal(shape))


def test_pool_cases_cover_the_hyperparameters():
    maxes = [draw_pool(s, nn.MaxPool2d)[0] for s in range(12)]
    avgs = [draw_pool(s, nn.AvgPool2d)[0] for s in range(12)]
    for pools in (maxes, avgs):
        assert any(max(p.padding) > 0 for p in pools)
        assert any(p.stride != p.kernel_size for p in pools)
        assert any(p.ceil_mode for p in pools)
        assert any(max(p.padding) > 0 and p.ceil_mode for p in pools)
    assert any(max(p.dilation) > 1 for p in maxes)
    assert any(not p.count_include_pad and max(p.padding) > 0 for p in avgs)
    assert any(p.divisor_override for p in avgs)


@pytest.mark.parametrize(
    "output_size, hw",
    [(1, (5, 4)), (2, (6, 4)), (3, (7, 5)), ((2, 3), (5, 7)), ((None, 2), (3, 5)), (4, (3, 3))],
)
def test_adaptive_avgpool2d(output_size, hw):
    x = np.random.default_rng(sum(hw)).standard_normal((2, 3, *hw))
    assert_gradcheck(nn.AdaptiveAvgPool2d(output_size), x)


# ----------------------------------------------------------------------------- activations
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(
    "make", [nn.ReLU, lambda: nn.LeakyReLU(0.2), nn.LeakyReLU], ids=["relu", "leaky", "leaky01"]
)
def test_piecewise_linear_activations(make, seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(1, 5, size=int(rng.integers(1, 5))))
    x = spaced(rng, shape)
    assert_gradcheck(make(), x, max_checks=None)


@pytest.mark.parametrize(
    "make",
    [nn.Sigmoid, nn.Tanh, nn.GELU, lambda: nn.GELU("tanh")],
    ids=["sig", "tanh", "gelu", "gelu-t"],
)
@pytest.mark.parametrize("seed", range(2))
def test_smooth_activations(make, seed):
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(1, 5, size=int(rng.integers(1, 5))))
    assert_gradcheck(make(), 2 * rng.standard_normal(shape), max_checks=None)


@pytest.mark.parametrize("cls", [nn.Softmax, nn.LogSoftmax])
@pytest.mark.parametrize(
    "shape, dim", [((4, 5), 1), ((4, 5), 0), ((3, 4, 5), -1), ((2, 3, 4, 2), 1), ((6,), 0)]
)
def test_softmax_family(cls, shape, dim):
    rng = np.random.default_rng(len(shape) + dim)
    assert_gradcheck(cls(dim=dim), 2 * rng.standard_normal(shape))


@pytest.mark.parametrize("cls", [nn.Softmax, nn.LogSoftmax])
def test_softmax_family_default_dim(cls):
    rng = np.random.default_rng(3)
    assert_gradcheck(cls(), rng.standard_normal((3, 4, 2)))


# ----------------------------------------------------------------------------- BatchNorm
BN_CASES = [
    (nn.BatchNorm1d, (6, 3), {}),
    (nn.BatchNorm1d, (4, 3, 5), {}),
    (nn.BatchNorm1d, (5, 2), {"affine": False}),
    (nn.BatchNorm1d, (3, 2, 4), {"momentum": None}),
    (nn.BatchNorm2d, (3, 2, 3, 4), {}),
    (nn.BatchNorm2d, (2, 3, 3, 3), {"affine": False}),
    (nn.BatchNorm2d, (2, 2, 3, 2), {"eps": 1e-3, "momentum": 0.3}),
    (nn.BatchNorm2d, (2, 2, 3, 2), {"track_running_stats": False}),
    (nn.BatchNorm1d, (4, 3), {"track_running_stats": False, "affine": False}),
]


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("cls, shape, kw", BN_CASES)
def test_batchnorm(cls, shape, kw, training):
    rng = np.random.default_rng(len(shape) * 7 + shape[0])
    bn = randomize_bn(cls(shape[1], **kw), rng)
    bn.train(training)
    assert_gradcheck(bn, rng.standard_normal(shape) * 2 + 1)


# ----------------------------------------------------------------------------- Dropout, shape
@pytest.mark.parametrize("p", [0.0, 0.3, 0.7])
def test_dropout_train(p):
    x = np.random.default_rng(0).standard_normal((4, 6))
    result = assert_gradcheck(nn.Dropout(p), x, max_checks=None)
    assert result["input"].checked == 24


def test_dropout_train_with_own_generator():
    """gradcheck must also hold a Dropout's private generator fixed between evaluations."""
    x = np.random.default_rng(0).standard_normal((4, 6))
    assert_gradcheck(nn.Dropout(0.5, generator=np.random.default_rng(3)), x)


def test_dropout_eval():
    x = np.random.default_rng(0).standard_normal((3, 5))
    assert_gradcheck(nn.Dropout(0.5).eval(), x)


@pytest.mark.parametrize(
    "module, shape",
    [
        (nn.Flatten(), (2, 3, 2, 2)),
        (nn.Flatten(0, 1), (2, 3, 4)),
        (nn.Flatten(2), (2, 3, 2, 2)),
        (nn.Unflatten(1, (2, 3)), (2, 6)),
        (nn.Unflatten(-1, (2, 2)), (3, 2, 4)),
        (nn.Identity(), (3, 4)),
        (nn.Identity(54, unused="x"), (2, 1, 3)),
    ],
)
def test_shape_layers(module, shape):
    assert_gradcheck(module, np.random.default_rng(0).standard_normal(shape))


# ----------------------------------------------------------------------------- containers
def test_sequential():
    m = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3), nn.Sigmoid(), nn.Linear(3, 2))
    assert_gradcheck(m, np.random.default_rng(0).standard_normal((3, 5)))


def test_residual_identity():
    body = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 4))
    assert_gradcheck(nn.Residual(body), np.random.default_rng(1).standard_normal((3, 4)))


def resnet_block(cin=2, cout=4, act=nn.Tanh):
    body = nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        act(),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
    )
    shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=2, bias=False), nn.BatchNorm2d(cout))
    return nn.Residual(body, shortcut)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_residual_conv_bn_shortcut(training):
    rng = np.random.default_rng(2)
    block = resnet_block()
    for m in block.modules():
        if isinstance(m, nn.BatchNorm2d):
            randomize_bn(m, rng)
    block.train(training)
    assert_gradcheck(block, rng.standard_normal((2, 2, 5, 5)), max_checks=25)


def test_concat_skip_net():
    rng = np.random.default_rng(4)
    net = nn.Sequential(
        nn.Concat(
            nn.Flatten(),
            nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten()),
        ),
        nn.Linear(16 + 3 * 4, 3),
    )
    assert_gradcheck(net, rng.standard_normal((2, 1, 4, 4)), max_checks=25)


# ----------------------------------------------------------------------------- losses
def ce_case(seed):
    rng = np.random.default_rng(seed)
    n, c = int(rng.integers(2, 6)), int(rng.integers(2, 6))
    logits = 2 * rng.standard_normal((n, c))
    y = rng.integers(0, c, n)
    return rng, n, c, logits, y


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("seed", range(4))
def test_cross_entropy_class_targets(seed, reduction):
    rng, n, c, logits, y = ce_case(seed)
    kw = {"reduction": reduction}
    if seed % 2:
        kw["weight"] = rng.uniform(0.2, 2.0, c)
    if seed >= 2:
        kw["label_smoothing"] = float(rng.uniform(0.05, 0.3))
    if seed in (1, 2):
        kw["ignore_index"] = int(y[0])  # ignore one class (not all samples: y[1] may differ)
        y[1] = (y[0] + 1) % c
    assert_gradcheck(nn.CrossEntropyLoss(**kw), logits, y, max_checks=None)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_probability_targets(reduction, smoothing):
    rng, n, c, logits, _ = ce_case(7)
    q = rng.dirichlet(np.ones(c), size=n)
    loss = nn.CrossEntropyLoss(
        weight=rng.uniform(0.5, 1.5, c), reduction=reduction, label_smoothing=smoothing
    )
    assert_gradcheck(loss, logits, q, max_checks=None)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss(reduction, weighted):
    rng, n, c, logits, y = ce_case(11)
    kw = {"reduction": reduction, "ignore_index": int(y[0])} if weighted else {}
    if weighted:
        kw["weight"] = rng.uniform(0.2, 2.0, c)
        y[1] = (y[0] + 1) % c
    x = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    assert_gradcheck(nn.NLLLoss(**kw), x, y, max_checks=None)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss(reduction):
    rng = np.random.default_rng(5)
    x, t = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    assert_gradcheck(nn.MSELoss(reduction=reduction), x, t, max_checks=None)


def test_loss_after_network():
    """A whole step's gradient: network + cross-entropy, checked as one function."""
    rng = np.random.default_rng(6)
    net = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
    x, y = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    net = net.to(np.float64)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)

    def backward(g):
        return net.backward(loss_fn.backward(g))

    result = glassnet.gradcheck(lambda inp: loss_fn(net(inp), y), x, backward=backward)
    assert result, str(result)
