"""Winograd F(2x2, 3x3) (glassnet/kernels/winograd.py): its transforms follow their
matrices, and the form gives the textbook's y, dL/dx, dL/dW and dL/db on odd and even
images (1x1 and 3x3 included), every padding, with and without bias, in float64 and
float32, on any number of threads, with V kept or rebuilt; it runs only where the plan
should pick it, and a backward follows the form its forward took."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import glassnet as gn
from glassnet import kernels, nn
from glassnet.kernels import conv as conv_module
from glassnet.kernels import winograd

pytestmark = pytest.mark.kernels("fast")  # these test the tuned form itself

B_T = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])
A_T = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)


def _winograd_everywhere(monkeypatch, min_channels: int = 1) -> None:
    """Winograd on (it is off by default) for every 3x3 stride-1 layer at least
    ``min_channels`` wide, on images of any size."""
    monkeypatch.setattr(conv_module, "WINOGRAD", True)
    monkeypatch.setattr(winograd, "MIN_CHANNELS", min_channels)
    monkeypatch.setattr(winograd, "MAX_GEMM_SHARE", np.inf)


@pytest.fixture
def any_width(monkeypatch):
    """Winograd for every 3x3 stride-1 layer, however narrow (small, fast tests)."""
    _winograd_everywhere(monkeypatch)


def _run(layer, x, g, mode: str):
    """y, dL/dx, dL/dW, dL/db (None without bias) and the plan's form, of a copy of
    ``layer`` in ``mode``."""
    layer = copy.deepcopy(layer)
    layer.zero_grad()
    with kernels.use(mode):
        y = layer(x)
        form = kernels.conv.plan(layer, x).form
        dx = layer.backward(g)
    db = None if layer.bias is None else layer.bias.grad.copy()
    return y, dx, layer.weight.grad.copy(), db, form


def _assert_winograd_equals_textbook(layer, x, tol):
    rng = np.random.default_rng(x.shape[0])
    with kernels.use("textbook"):
        out_shape = copy.deepcopy(layer)(x).shape
    g = rng.standard_normal(out_shape).astype(x.dtype)
    *fast, form = _run(layer, x, g, "fast")
    *book, _ = _run(layer, x, g, "textbook")
    assert form == "winograd"
    for what, a, b in zip(["y", "dx", "dW", "db"], fast, book):
        if b is None:
            assert a is None, what
            continue
        assert a.shape == b.shape and a.dtype == b.dtype == x.dtype, what
        scale = max(1.0, np.abs(b).max(initial=0))
        np.testing.assert_allclose(a, b, rtol=0, atol=tol * scale, err_msg=what)


# ------------------------------------------------------------ the transforms
def test_the_transforms_follow_their_matrices():
    """U = G g G^T, V = B^T d B of each overlapping 4x4 tile, Y = A^T M A, and one
    tile of F(2x2, 3x3) is the 3x3 convolution of its 4x4 input."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((3, 2, 3, 3))
    u = winograd.weight_transform(w).reshape(4, 4, 3, 2)
    for o in range(3):
        for c in range(2):
            np.testing.assert_allclose(u[:, :, o, c], G @ w[o, c] @ G.T, rtol=1e-14)

    th, tw = 2, 3
    xp = rng.standard_normal((4, 2, 2 * th + 2, 2 * tw + 2))  # (B, C, ...): tiles exactly
    grid = winograd.Grid(4, th, tw)
    phases = np.empty((2, 2, 2, grid.span))
    winograd.to_phases(xp, (0, 0, 0, 0), grid, phases)
    v = np.empty((16, 2, grid.size))
    winograd.input_transform(phases, grid, v, np.empty((4, 2, grid.size + 1)))
    v = grid.grid(v).reshape(4, 4, 2, 4, th + 1, tw + 1)
    for ty in range(th):
        for tx in range(tw):
            d = xp[3, 1, 2 * ty : 2 * ty + 4, 2 * tx : 2 * tx + 4]
            np.testing.assert_allclose(v[:, :, 1, 3, ty, tx], B_T @ d @ B_T.T, atol=1e-14)

    m = rng.standard_normal((16, 3, 5))
    out = np.empty((2, 2, 3, 5))
    winograd.output_transform(m, out, np.empty((4, 3, 5)))
    want = A_T @ m[:, 1, 4].reshape(4, 4) @ A_T.T
    np.testing.assert_allclose(out[:, :, 1, 4], want, atol=1e-14)

    # the three together: one output tile of the convolution
    d = rng.standard_normal((4, 4))
    k = rng.standard_normal((3, 3))
    tile = A_T @ ((G @ k @ G.T) * (B_T @ d @ B_T.T)) @ A_T.T
    direct = [[np.sum(d[i : i + 3, j : j + 3] * k) for j in range(2)] for i in range(2)]
    np.testing.assert_allclose(tile, direct, atol=1e-13)


# ------------------------------------------------------------ against the textbook
SHAPES = [  # (batch, in, out, H, W, padding, bias): odd and even, 1x1 and 3x3 images
    (1, 1, 1, 3, 3, 0, True),
    (2, 3, 5, 1, 1, 1, True),
    (3, 4, 2, 1, 1, 2, False),
    (1, 2, 3, 2, 2, 1, True),
    (4, 5, 6, 3, 3, 1, False),
    (2, 7, 4, 6, 6, 1, True),
    (9, 3, 3, 7, 5, 1, True),
    (5, 8, 7, 8, 9, 0, True),
    (3, 20, 20, 5, 4, 2, False),
    (2, 17, 11, 4, 7, 0, True),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("shape", SHAPES, ids=[str(s) for s in SHAPES])
def test_winograd_equals_the_textbook(any_width, shape, dtype):
    n, c, o, h, w, pad, bias = shape
    layer = nn.Conv2d(c, o, 3, padding=pad, bias=bias).to(dtype)
    x = np.random.default_rng(h * 10 + w).standard_normal((n, c, h, w)).astype(dtype)
    _assert_winograd_equals_textbook(layer, x, 1e-10 if dtype == np.float64 else 2e-6)


@pytest.mark.parametrize("seed", range(12))
def test_winograd_equals_the_textbook_on_random_shapes(any_width, seed):
    """Batch 1..9, channels 1..20, images 1..11 px, padding 0..2 (and 'same'), bias on
    or off; float64 to 1e-10 and float32 to its rounding."""
    rng = np.random.default_rng(100 + seed)
    pad = int(rng.integers(0, 3))
    h, w = (int(v) for v in rng.integers(max(1, 3 - 2 * pad), 12, size=2))
    n, c, o = (int(v) for v in rng.integers(1, [10, 21, 21]))
    padding = "same" if seed == 11 else pad
    dtype = np.float32 if seed % 2 else np.float64
    layer = nn.Conv2d(c, o, 3, padding=padding, bias=bool(seed % 3)).to(dtype)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    _assert_winograd_equals_textbook(layer, x, 1e-10 if dtype == np.float64 else 2e-6)


def test_float32_stays_float32(any_width, monkeypatch):
    """No hidden float64: every array the form makes from float32 data is float32."""
    layer = nn.Conv2d(4, 6, 3, padding=1)
    x = np.random.default_rng(0).standard_normal((2, 4, 5, 5)).astype(np.float32)
    assert winograd.weight_transform(layer.weight.data).dtype == np.float32
    made = []
    real_matmul = np.matmul

    def matmul(*args, **kwargs):
        out = real_matmul(*args, **kwargs)
        made.append(out.dtype)
        return out

    monkeypatch.setattr(winograd.np, "matmul", matmul)
    y = layer(x)
    dx = layer.backward(np.ones_like(y))
    assert kernels.conv.plan(layer, x).form == "winograd"
    assert made and set(made) == {np.dtype(np.float32)}
    assert y.dtype == dx.dtype == layer.weight.grad.dtype == np.float32


@pytest.mark.parametrize("keep", [0, 2**40], ids=["rebuilt", "kept"])
def test_threads_blocks_and_kept_v_do_not_change_the_numbers(any_width, monkeypatch, keep):
    """Blocks of one sample on 1 or 2 threads give the same numbers bit for bit (dL/dW
    parts added in block order), V kept or rebuilt; and equal the textbook."""
    monkeypatch.setattr(conv_module, "THREADED_BYTES", 1)
    monkeypatch.setattr(conv_module, "THREADED_BLOCK_BYTES", 1)
    monkeypatch.setattr(winograd, "BLOCK_BYTES", 1)
    monkeypatch.setattr(conv_module, "KEEP_BYTES", keep)
    monkeypatch.setattr(kernels.threads, "_requested", kernels.threads._requested)
    rng = np.random.default_rng(5)
    layer = nn.Conv2d(5, 6, 3, padding=1).to(np.float64)
    x = rng.standard_normal((5, 5, 7, 6))
    g = rng.standard_normal((5, 6, 7, 6))
    results = []
    for threads in (1, 2):
        gn.set_num_threads(threads)
        results.append(_run(layer, x, g, "fast"))
    for a, b in zip(results[0][:4], results[1][:4]):
        np.testing.assert_array_equal(a, b)
    _assert_winograd_equals_textbook(layer, x, 1e-10)


def test_frozen_weight_and_no_input_gradient(any_width):
    """Only what is asked for is computed: no dL/dx with set_input_grad(False), no
    dL/dW for a frozen weight, and what is computed equals the textbook."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4, 6, 5))
    g = rng.standard_normal((3, 3, 6, 5))
    layer = nn.Conv2d(4, 3, 3, padding=1).to(np.float64)
    book = _run(layer, x, g, "textbook")

    no_dx = copy.deepcopy(layer).set_input_grad(False)
    y, dx, dw, db, form = _run(no_dx, x, g, "fast")
    assert form == "winograd" and dx is None
    np.testing.assert_allclose(dw, book[2], atol=1e-10)
    np.testing.assert_allclose(db, book[3], atol=1e-10)

    frozen = copy.deepcopy(layer)
    frozen.weight.requires_grad = False
    y, dx, dw, db, form = _run(frozen, x, g, "fast")
    assert not dw.any()
    np.testing.assert_allclose(dx, book[1], atol=1e-10)
    np.testing.assert_allclose(y, book[0], atol=1e-10)


def test_backward_follows_the_form_its_forward_took(monkeypatch):
    """The plan is chosen in forward and saved: turning Winograd on or off, or the mode,
    between forward and backward does not mix the forms up."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 6, 6))
    g = rng.standard_normal((2, 4, 6, 6))
    layer = nn.Conv2d(3, 4, 3, padding=1).to(np.float64)
    book = _run(layer, x, g, "textbook")
    _winograd_everywhere(monkeypatch)
    for before, after, mode_after in [(1, 99, "fast"), (99, 1, "fast"), (1, 1, "textbook")]:
        probe = copy.deepcopy(layer)
        monkeypatch.setattr(winograd, "MIN_CHANNELS", before)
        y = probe(x)
        saved_form = probe._cache[0].form  # the plan forward saved
        assert saved_form == ("winograd" if before == 1 else "im2col")
        monkeypatch.setattr(winograd, "MIN_CHANNELS", after)
        with kernels.use(mode_after):
            dx = probe.backward(g)
        for a, b in [(y, book[0]), (dx, book[1]), (probe.weight.grad, book[2])]:
            np.testing.assert_allclose(a, b, atol=1e-10)


# ------------------------------------------------------------ where it runs
def _form(layer, shape=(2, 1, 16, 16)) -> str:
    x = np.zeros((shape[0], layer.in_channels, *shape[2:]), np.float32)
    with kernels.use("fast"):
        return kernels.conv.plan(layer, x).form


def test_the_plan_picks_winograd_only_where_it_should(monkeypatch):
    """Off by default; switched on, only 3x3 stride-1 undilated ungrouped layers at
    least MIN_CHANNELS wide on images where its GEMMs are short enough."""
    wide = winograd.MIN_CHANNELS
    assert _form(nn.Conv2d(wide, wide, 3, padding=1), (2, wide, 15, 15)) == "im2col"
    monkeypatch.setattr(conv_module, "WINOGRAD", True)  # the switch
    assert winograd.gemm_share(15, 15) <= winograd.MAX_GEMM_SHARE < winograd.gemm_share(7, 7)
    assert _form(nn.Conv2d(wide, wide, 3, padding=1), (2, wide, 15, 15)) == "winograd"
    assert _form(nn.Conv2d(wide, 2 * wide, 3, bias=False), (2, wide, 32, 31)) == "winograd"
    assert _form(nn.Conv2d(wide, wide, 3, padding=2), (2, wide, 16, 16)) == "winograd"
    # small images (7x7, 3x3), narrow layers, and everything but 3x3 stride 1
    # dilation 1 groups 1, as before
    assert _form(nn.Conv2d(wide, wide, 3, padding=1), (2, wide, 7, 7)) == "im2col"
    assert _form(nn.Conv2d(wide, wide, 3, padding=1), (2, wide, 3, 3)) == "im2col"
    assert _form(nn.Conv2d(wide // 2, wide, 3, padding=1)) == "im2col"
    assert _form(nn.Conv2d(wide, wide // 2, 3, padding=1)) == "im2col"
    assert _form(nn.Conv2d(wide, wide, 3, stride=2, padding=1)) == "im2col"
    assert _form(nn.Conv2d(wide, wide, 3, padding=2, dilation=2)) == "im2col"
    assert _form(nn.Conv2d(wide, wide, 3, padding=1, groups=2)) == "im2col"
    assert _form(nn.Conv2d(wide, wide, 1)) == "pointwise"
    assert _form(nn.Conv2d(wide, wide, 5, padding=2)) == "by kernel rows"
    assert _form(nn.Conv2d(wide, wide, (3, 5), padding=1)) == "by kernel rows"
    assert _form(nn.Conv2d(wide, wide, 3, padding=1), (0, wide, 15, 15)) == "empty batch"
    with kernels.use("textbook"):
        layer = nn.Conv2d(wide, wide, 3, padding=1)
        x = np.zeros((1, wide, 15, 15), np.float32)
        assert kernels.conv.plan(layer, x).form == "textbook"
