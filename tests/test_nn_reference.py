"""nn/reference.py (the textbook loops) equals the fast vectorised layers, both ways."""

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
