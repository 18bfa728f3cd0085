"""Parity with PyTorch: same weights, same input and upstream gradient, same numbers.

For every layer (over random shapes and hyperparameters) the forward output, the input
gradient, every parameter gradient and the state_dict afterwards (BatchNorm's running
statistics and num_batches_tracked) must equal torch's: float64 to ~1e-10, float32 to
~1e-4 of the tensor's scale (see ``conftest.check_torch_parity``). Then whole networks
(LeNet-5, a ResNet basic block, a Concat skip net) through a few hand-written SGD
steps, and the losses with all their options.
"""

from __future__ import annotations

import numpy as np
import pytest

from _nets import concat_net, lenet5, resnet_block
from glassnet import nn
from glassnet.interop.torch import to_torch

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")

DTYPES = [np.float32, np.float64]


def cast(module, x, dtype):
    return module.to(dtype), np.asarray(x, dtype=dtype)


# ----------------------------------------------------------------------------- layer cases
def linear_case(rng, seed):
    fin, fout = (int(v) for v in rng.integers(1, 9, 2))
    lead = (int(rng.integers(1, 6)),) if seed % 2 else (2, int(rng.integers(1, 4)))
    return nn.Linear(fin, fout, bias=seed % 3 != 1), rng.standard_normal((*lead, fin))


def conv_case(rng, seed):
    groups = 1 + seed % 2
    cin, cout = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 4))
    kernel = (int(rng.integers(1, 4)), int(rng.integers(1, 5)))
    dilation = (1 + (seed // 2) % 2, int(rng.integers(1, 3)))
    kind = seed % 4
    stride = (1, 1) if kind == 2 else (1 + seed % 3, int(rng.integers(1, 4)))
    padding = [
        int(rng.integers(0, 3)),
        (int(rng.integers(0, 3)), int(rng.integers(0, 3))),
        "same",
        "valid",
    ][kind]
    conv = nn.Conv2d(cin, cout, kernel, stride, padding, dilation, groups, bias=seed % 5 != 0)
    span = [d * (k - 1) + 1 for d, k in zip(dilation, kernel)]
    x = rng.standard_normal(
        (int(rng.integers(1, 4)), cin, *(s + int(rng.integers(0, 6)) for s in span))
    )
    return conv, x


def pool_case(rng, seed, cls):
    kernel = (int(rng.integers(1, 4)), int(rng.integers(2, 4)))
    stride = None if seed % 4 == 0 else (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    padding = (int(rng.integers(0, kernel[0] // 2 + 1)), int(rng.integers(0, kernel[1] // 2 + 1)))
    kw = {"ceil_mode": seed % 2 == 1}
    dilation = (1, 1)
    if cls is nn.MaxPool2d:
        dilation = (1 + seed % 2, int(rng.integers(1, 3)))
        kw["dilation"] = dilation
    else:
        kw["count_include_pad"] = seed % 3 != 2
        kw["divisor_override"] = 3 if seed % 5 == 3 else None
    pool = cls(kernel, stride=stride, padding=padding, **kw)
    span = [d * (k - 1) + 1 for d, k in zip(dilation, kernel)]
    x = rng.standard_normal(
        (2, int(rng.integers(1, 4)), *(s + int(rng.integers(0, 7)) for s in span))
    )
    return pool, x


def adaptive_case(rng, seed):
    output = [1, 2, 3, (2, 3), (None, 2), 5][seed % 6]
    hw = (int(rng.integers(1, 9)) + 2, int(rng.integers(1, 9)) + 2)
    return nn.AdaptiveAvgPool2d(output), rng.standard_normal((2, 3, *hw))


def activation_case(rng, seed):
    shape = tuple(int(s) for s in rng.integers(1, 5, size=int(rng.integers(2, 5))))
    dim = int(rng.integers(-len(shape), len(shape)))
    module = [
        nn.ReLU(),
        nn.LeakyReLU(float(rng.uniform(0.01, 0.5))),
        nn.Sigmoid(),
        nn.Tanh(),
        nn.Softmax(dim=dim),
        nn.LogSoftmax(dim=dim),
        nn.GELU(),
        nn.GELU("tanh"),
    ][seed % 8]
    return module, 3 * rng.standard_normal(shape)


def batchnorm_case(rng, seed):
    cls, shape = [
        (nn.BatchNorm1d, (int(rng.integers(2, 9)), 3)),
        (nn.BatchNorm1d, (int(rng.integers(1, 5)), 4, int(rng.integers(2, 6)))),
        (nn.BatchNorm2d, (int(rng.integers(1, 4)), 3, int(rng.integers(2, 5)), 3)),
    ][seed % 3]
    kw = [
        {},
        {"affine": False},
        {"momentum": None},
        {"eps": 1e-3, "momentum": 0.25},
        {"track_running_stats": False},  # batch statistics in eval mode too
    ][seed % 5]
    bn = cls(shape[1], **kw)
    if bn.affine:
        bn.weight.data[...] = rng.uniform(0.5, 1.5, shape[1])
        bn.bias.data[...] = rng.standard_normal(shape[1])
    return bn, 2 * rng.standard_normal(shape) + 1


def shape_case(rng, seed):
    return [
        (nn.Flatten(), (2, 3, 2, 2)),
        (nn.Flatten(0, 1), (2, 3, 4)),
        (nn.Flatten(-2), (2, 3, 4, 5)),
        (nn.Unflatten(1, (2, 3)), (4, 6)),
        (nn.Identity(), (3, 4)),
    ][seed % 5][0], rng.standard_normal(
        [(2, 3, 2, 2), (2, 3, 4), (2, 3, 4, 5), (4, 6), (3, 4)][seed % 5]
    )


CASES = {
    "linear": (linear_case, 6),
    "conv2d": (conv_case, 12),
    "maxpool2d": (lambda rng, s: pool_case(rng, s, nn.MaxPool2d), 10),
    "avgpool2d": (lambda rng, s: pool_case(rng, s, nn.AvgPool2d), 10),
    "adaptive": (adaptive_case, 6),
    "activation": (activation_case, 16),
    "batchnorm": (batchnorm_case, 12),
    "shape": (shape_case, 5),
}
PARAMS = [(kind, seed) for kind, (_, count) in CASES.items() for seed in range(count)]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("kind, seed", PARAMS, ids=[f"{k}-{s}" for k, s in PARAMS])
def test_layer_parity(kind, seed, dtype, torch_parity):
    make, _ = CASES[kind]
    module, x = make(np.random.default_rng(seed), seed)
    module, x = cast(module, x, dtype)
    tm, ours, theirs = torch_parity(module, x)
    assert set(ours) == set(theirs)
    if kind == "batchnorm":  # a second batch in train mode, then eval: running stats in use
        torch_parity(module, 0.5 * x - 0.2, torch_module=tm)
        module.eval()
        tm.eval()
        torch_parity(module, x, torch_module=tm)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_batchnorm_running_stats_over_many_batches(dtype, torch_parity, assert_close):
    rng = np.random.default_rng(0)
    for momentum in (0.1, None):
        bn = nn.BatchNorm2d(3, momentum=momentum).to(dtype)
        tm = None
        for step in range(4):
            x = (rng.standard_normal((4, 3, 2, 2)) * (step + 1) + step).astype(dtype)
            tm, _, _ = torch_parity(bn, x, torch_module=tm)
        assert int(bn.num_batches_tracked) == 4
        assert bn.num_batches_tracked.dtype == np.int64
        assert not np.allclose(bn.running_mean, 0)


def test_maxpool_ties_go_where_torch_sends_them(torch_parity):
    """Integer-valued inputs are full of ties; torch sends the gradient to the first max."""
    rng = np.random.default_rng(1)
    x = rng.integers(0, 3, (2, 2, 7, 7)).astype(np.float64)
    for pool in (nn.MaxPool2d(3, 2, 1), nn.MaxPool2d(2), nn.MaxPool2d((3, 2), 1, dilation=2)):
        torch_parity(pool.to(np.float64), x)


@pytest.mark.parametrize(
    "pool",
    [
        nn.MaxPool2d(2),
        nn.MaxPool2d(3, 2, 1),
        nn.MaxPool2d(3, 1, 1),  # overlapping windows: gradients add up
        nn.MaxPool2d(2, 2, 1, ceil_mode=True),
        nn.MaxPool2d((3, 2), 1, (1, 0), dilation=2),
    ],
    ids=repr,
)
def test_maxpool_nan_and_minus_inf_windows_like_torch(pool):
    """A window with NaN outputs NaN and its gradient goes to its last NaN; a window
    of -inf's sends it to its first pixel inside the image, never to the padding."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 7, 8))
    x[0, 0] = -np.inf  # whole channels of -inf: border windows reach into the padding
    x[1, 2, :3] = -np.inf
    x[rng.random(x.shape) < 0.08] = np.nan
    x[1, 1, 2:4, 2:4] = np.nan  # windows with several NaNs
    g = rng.standard_normal(pool(x).shape)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.max_pool2d(
        tx, pool.kernel_size, pool.stride, pool.padding, pool.dilation, pool.ceil_mode
    )
    ty.backward(torch.tensor(g))
    y = pool(x)
    np.testing.assert_array_equal(y, ty.detach().numpy())  # NaN and -inf in the same places
    np.testing.assert_allclose(pool.backward(g), tx.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda: nn.Conv2d(2, 4, 3, padding=1), (0, 2, 6, 6)),  # stride 1, rows layout
        (lambda: nn.Conv2d(2, 4, 3, stride=2), (0, 2, 7, 7)),  # strided, window layout
        (lambda: nn.Conv2d(2, 4, 5), (0, 2, 9, 9)),  # by kernel rows
        (lambda: nn.Conv2d(2, 4, 1, stride=2), (0, 2, 6, 6)),  # pointwise
        (lambda: nn.Linear(3, 2), (0, 3)),
        (lambda: nn.MaxPool2d(2), (0, 2, 4, 4)),
        (lambda: nn.BatchNorm2d(2).eval(), (0, 2, 3, 3)),
        (lambda: nn.Flatten(), (0, 2, 3)),
    ],
)
def test_empty_batch_like_torch(make, shape):
    """N = 0 runs (torch allows it): empty output and input gradient, no parameter
    gradient."""
    module = make()
    t_module = to_torch(module)
    x = np.zeros(shape, dtype=np.float32)
    y = module(x)
    dx = module.backward(np.zeros_like(y))
    assert dx.shape == shape
    for p in module.parameters():
        np.testing.assert_array_equal(p.grad, 0)
    assert y.shape == tuple(t_module(torch.zeros(shape)).shape)


@pytest.mark.parametrize("inplace", [False, True])
def test_relu_of_infinities_nan_and_zeros_like_torch(inplace):
    """max(x, 0) exactly: -inf gives 0 (not NaN, as x * [x > 0] would), NaN stays NaN."""
    values = [-np.inf, -2.0, -0.0, 0.0, 3.0, np.inf, np.nan]
    x = np.array(values, dtype=np.float32).reshape(1, 7)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.relu(tx)
    g = np.arange(1, 8, dtype=np.float32).reshape(1, 7)
    ty.backward(torch.tensor(g))
    relu = nn.ReLU(inplace=inplace)
    y = relu(x.copy())
    np.testing.assert_array_equal(y, ty.detach().numpy())  # NaN == NaN here
    assert not np.signbit(y[0, :5]).any()  # no -0.0 where torch gives 0
    # the gradient is blocked where x <= 0 only: it flows at +inf and at NaN
    np.testing.assert_array_equal(relu.backward(g), tx.grad.numpy())


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_sigmoid_tails_to_full_relative_precision(dtype):
    """Each value, however small, within a few ulps of torch's (a scale-relative
    tolerance would not see the far negative tail, where 1 + tanh(x/2) cancels)."""
    x = np.concatenate([-np.geomspace(1e-3, 700, 60), np.geomspace(1e-3, 700, 60)])
    x = x.astype(dtype).reshape(2, -1)
    m = nn.Sigmoid().to(dtype)
    y = m(x)
    g = np.random.default_rng(0).uniform(0.5, 2, x.shape).astype(dtype)
    dx = m.backward(g)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.sigmoid(tx)
    ty.backward(torch.tensor(g))
    assert y.dtype == dtype and dx.dtype == dtype
    tiny = np.finfo(dtype).tiny  # below it, subnormals: compare absolutely
    rtol = 8 * np.finfo(dtype).eps
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=rtol, atol=tiny)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=3 * rtol, atol=tiny)
    assert y[0, 40] > 0  # sigmoid(-20) = 2e-9, not 0


def test_functional_sigmoid_takes_integers_and_scalars():
    from glassnet.nn.functional import sigmoid

    np.testing.assert_allclose(sigmoid(np.array([0, 2])), [0.5, 1 / (1 + np.exp(-2))])
    assert np.isscalar(sigmoid(np.float32(-17.0))) and sigmoid(np.float32(-17.0)) > 4e-8
    assert sigmoid(np.array(0.0)) == 0.5 and sigmoid(np.float32(1)).dtype == np.float32


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_dropout_eval_is_identity_like_torch(dtype, torch_parity):
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(dtype)
    m = nn.Dropout(0.4).eval()
    _, ours, _ = torch_parity(m, x)
    np.testing.assert_array_equal(ours["output"], x)


def test_dropout_train_is_inverted_dropout():
    """Masks come from glassnet's generator (torch's can't be shared): check the rule."""
    x = np.random.default_rng(0).uniform(1, 2, (200, 50)).astype(np.float32)
    m = nn.Dropout(0.3)
    y = m(x)
    kept = y != 0
    assert y.dtype == np.float32
    np.testing.assert_allclose(y[kept], x[kept] / np.float32(0.7), rtol=1e-6)
    assert abs(kept.mean() - 0.7) < 0.02
    g = np.random.default_rng(1).standard_normal(x.shape).astype(np.float32)
    dx = m.backward(g)
    np.testing.assert_allclose(dx, g * kept / np.float32(0.7), rtol=1e-6)


# ----------------------------------------------------------------------------- containers


def identity_residual_net():
    body = nn.Sequential(nn.Linear(6, 6), nn.Tanh(), nn.Linear(6, 6))
    return nn.Sequential(nn.Residual(body), nn.LeakyReLU(0.1), nn.Linear(6, 3))


NETS = {
    "lenet5-relu": (lenet5, (1, 28, 28)),
    "lenet5-tanh": (lambda: lenet5(nn.Tanh), (1, 28, 28)),
    "resnet-block": (lambda: resnet_block(head=True), (3, 8, 8)),
    "concat-skip": (concat_net, (1, 28, 28)),
    "identity-residual": (identity_residual_net, (6,)),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(NETS))
def test_network_parity_through_sgd_steps(name, dtype, torch_parity, assert_close):
    """Forward, backward and three hand-written SGD steps stay equal to PyTorch's."""
    make, shape = NETS[name]
    rng = np.random.default_rng(42)
    model = make().to(dtype)
    tm = None
    loss_fn, tloss = nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    lr = 0.05
    tol = 1e-10 if dtype == np.float64 else 2e-4
    for _step in range(3):
        x = rng.standard_normal((4, *shape)).astype(dtype)
        y = rng.integers(0, 10 if name != "identity-residual" else 3, 4)

        def dlogits(logits, y=y):
            loss_fn(logits, y)
            return loss_fn.backward()

        tm, ours, _ = torch_parity(model, x, dlogits, torch_module=tm, tol=tol)
        # the upstream gradient was our loss's dL/dlogits: it must equal torch's too
        tlogits = torch.from_numpy(ours["output"].copy()).requires_grad_(True)
        tloss(tlogits, torch.from_numpy(y)).backward()
        assert_close(dlogits(ours["output"]), tlogits.grad.numpy(), tol, "dlogits")
        for p in model.parameters():
            p.data -= lr * p.grad
        with torch.no_grad():
            for tp in tm.parameters():
                tp -= lr * tp.grad
        for (name_, p), (_, tp) in zip(model.named_parameters(), tm.named_parameters()):
            assert_close(p.data, tp.detach().numpy(), tol, name_)
    model.eval()
    tm.eval()
    x = rng.standard_normal((3, *shape)).astype(dtype)
    torch_parity(model, x, torch_module=tm, tol=tol)


# ----------------------------------------------------------------------------- losses
def ce_inputs(seed, dtype):
    rng = np.random.default_rng(seed)
    n, c = int(rng.integers(3, 9)), int(rng.integers(2, 7))
    return rng, (3 * rng.standard_normal((n, c))).astype(dtype), rng.integers(0, c, n)


CE_OPTIONS = [
    {},
    {"weight": True},
    {"label_smoothing": 0.1},
    {"ignore_index": True},
    {"weight": True, "label_smoothing": 0.2},
    {"weight": True, "ignore_index": True},
    {"weight": True, "label_smoothing": 0.15, "ignore_index": True},
    {"label_smoothing": 1.0},
]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("options", range(len(CE_OPTIONS)))
def test_cross_entropy_parity(options, reduction, dtype, loss_parity):
    rng, logits, y = ce_inputs(options, dtype)
    c = logits.shape[1]
    kw = dict(CE_OPTIONS[options], reduction=reduction)
    if kw.get("weight"):
        kw["weight"] = rng.uniform(0.2, 2.0, c)
    if kw.get("ignore_index"):
        kw["ignore_index"] = int(y[0])
        y[-1] = (y[0] + 1) % c
    tkw = dict(kw)
    if "weight" in tkw:
        tkw["weight"] = torch.tensor(
            kw["weight"], dtype=torch.float64 if dtype == np.float64 else torch.float32
        )
    grad_out = rng.standard_normal(len(y)) if reduction == "none" else 0.7
    loss_parity(nn.CrossEntropyLoss(**kw), torch.nn.CrossEntropyLoss(**tkw), logits, y, grad_out)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    "options",
    [{}, {"weight": True}, {"label_smoothing": 0.3}, {"weight": True, "label_smoothing": 0.1}],
)
def test_cross_entropy_probability_targets_parity(options, reduction, dtype, loss_parity):
    rng, logits, _ = ce_inputs(5, dtype)
    c = logits.shape[1]
    q = rng.dirichlet(np.ones(c), size=logits.shape[0]).astype(dtype)
    kw = dict(options, reduction=reduction)
    tkw = dict(kw)
    if kw.get("weight"):
        kw["weight"] = rng.uniform(0.2, 2.0, c)
        tkw["weight"] = torch.tensor(kw["weight"], dtype=torch.from_numpy(logits).dtype)
    loss_parity(nn.CrossEntropyLoss(**kw), torch.nn.CrossEntropyLoss(**tkw), logits, q)


def test_cross_entropy_default_backward_is_mean_gradient(loss_parity):
    _, logits, y = ce_inputs(9, np.float64)
    value, dlogits = loss_parity(nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss(), logits, y)
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    expected = (p - np.eye(logits.shape[1])[y]) / len(y)
    np.testing.assert_allclose(dlogits, expected, rtol=1e-12, atol=1e-15)


def test_cross_entropy_all_targets_ignored_like_torch():
    """torch: the mean over no targets is nan, and the gradient is zero (not nan)."""
    logits = np.random.default_rng(0).standard_normal((3, 4))
    loss_fn = nn.CrossEntropyLoss(ignore_index=2)
    assert np.isnan(loss_fn(logits, np.array([2, 2, 2])))
    np.testing.assert_array_equal(loss_fn.backward(), np.zeros((3, 4)))
    nll = nn.NLLLoss(ignore_index=1)
    assert np.isnan(nll(logits, np.array([1, 1, 1])))
    np.testing.assert_array_equal(nll.backward(), np.zeros((3, 4)))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_of_masked_logits_like_torch(reduction):
    """A logit of -inf (a masked class) that is not the target costs nothing: the loss
    stays finite (0 * -inf must not turn into NaN). An ignored row holding +inf does not
    reach the loss either; its gradient is NaN in both libraries."""
    logits = np.array([[2, -np.inf, 0.5], [0.1, 0.2, -np.inf], [np.inf, 1, 2], [0, 1, 2]])
    y = np.array([0, 1, -100, 2])
    ours = nn.CrossEntropyLoss(reduction=reduction)
    with np.errstate(invalid="ignore"):
        value = ours(logits, y)
        grad = ours.backward(np.ones_like(value))
    t = torch.tensor(logits, requires_grad=True)
    tv = torch.nn.functional.cross_entropy(t, torch.tensor(y), reduction=reduction)
    tv.backward(torch.ones_like(tv))
    counted = value[[0, 1, 3]] if reduction == "none" else value
    assert np.isfinite(counted).all()
    np.testing.assert_allclose(value, tv.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-12)  # NaN row equal too


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    "options",
    [{}, {"weight": True}, {"ignore_index": True}, {"weight": True, "ignore_index": True}],
)
def test_nll_loss_parity(options, reduction, dtype, loss_parity):
    rng, logits, y = ce_inputs(3, dtype)
    c = logits.shape[1]
    logp = (logits - np.log(np.exp(logits.astype(np.float64)).sum(1, keepdims=True))).astype(dtype)
    kw = dict(options, reduction=reduction)
    tkw = dict(kw)
    if kw.get("weight"):
        kw["weight"] = rng.uniform(0.2, 2.0, c)
        tkw["weight"] = torch.tensor(kw["weight"], dtype=torch.from_numpy(logp).dtype)
    if kw.get("ignore_index"):
        kw["ignore_index"] = tkw["ignore_index"] = int(y[0])
        y[-1] = (y[0] + 1) % c
    grad_out = rng.standard_normal(len(y)) if reduction == "none" else None
    loss_parity(nn.NLLLoss(**kw), torch.nn.NLLLoss(**tkw), logp, y, grad_out)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_parity(reduction, dtype, loss_parity):
    rng = np.random.default_rng(2)
    x, t = (
        rng.standard_normal((2, 3, 4)).astype(dtype),
        rng.standard_normal((2, 3, 4)).astype(dtype),
    )
    grad_out = rng.standard_normal(x.shape) if reduction == "none" else 1.5
    loss_parity(
        nn.MSELoss(reduction=reduction), torch.nn.MSELoss(reduction=reduction), x, t, grad_out
    )


def test_logsoftmax_nll_equals_cross_entropy(assert_close):
    _, logits, y = ce_inputs(4, np.float64)
    ls, nll, ce = nn.LogSoftmax(dim=1), nn.NLLLoss(), nn.CrossEntropyLoss()
    a = nll(ls(logits), y)
    b = ce(logits, y)
    assert abs(a - b) < 1e-12
    assert_close(ls.backward(nll.backward()), ce.backward(), 1e-12)


@pytest.mark.parametrize(
    "make, make_torch",
    [
        (lambda: nn.LeakyReLU(0.2, inplace=True), lambda: torch.nn.LeakyReLU(0.2, inplace=True)),
        (lambda: nn.ReLU(inplace=True), lambda: torch.nn.ReLU(inplace=True)),
        (lambda: nn.Dropout(1.0, inplace=True), lambda: torch.nn.Dropout(1.0, inplace=True)),
    ],
)
def test_inplace_changes_the_input_array_as_torch_does(make, make_torch):
    x = np.array([[-1.0, 2.0, -3.0, 0.5]], dtype=np.float32)
    xt = torch.from_numpy(x.copy())
    y = make()(x)
    with torch.no_grad():
        yt = make_torch()(xt)
    assert y is x  # the same array, changed
    np.testing.assert_array_equal(x, xt.numpy())
    np.testing.assert_array_equal(y, yt.numpy())


@pytest.mark.parametrize("ndim", [1, 2, 3, 4])
@pytest.mark.parametrize("cls", ["Softmax", "LogSoftmax"])
def test_softmax_without_dim_picks_torchs_legacy_dim(cls, ndim, torch_parity):
    """dim=None: torch's implicit choice (0 for 1-D and 3-D input, else 1), which it
    warns about; glassnet makes the same choice."""
    import warnings

    x = np.random.default_rng(ndim).standard_normal((2, 3, 4, 5)[:ndim])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        torch_parity(getattr(nn, cls)(dim=None).to(np.float64), x)
