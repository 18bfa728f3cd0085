"""Shared helpers for the tests: seeded data, tolerance-aware comparisons, PyTorch parity.

Helpers are exposed as fixtures (``torch_parity``, ``assert_close``, ``distinct``,
``loss_parity``) so any test module can use them without importing this file.
PyTorch is optional: the parity fixtures skip the test when it is not installed.

Tolerances compare the error to the *largest magnitude of the expected tensor*
(a scaled absolute tolerance), which is what float round-off in long sums produces:
float64 ~1e-10, float32 ~1e-4.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

TOLERANCE = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-4}

_torch = None


def get_torch():
    """Import torch once (single-threaded, so pytest-xdist workers don't oversubscribe)."""
    global _torch
    if _torch is None:
        _torch = pytest.importorskip("torch")
        _torch.set_num_threads(1)
    return _torch


def tolerance(dtype) -> float:
    return TOLERANCE[np.dtype(dtype)]


def assert_close_arrays(actual, expected, tol: float, what: str = "") -> None:
    """``max|actual - expected| <= tol * max(1, max|expected|)``, with a readable failure."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    if expected.size == 0:
        return
    assert np.all(np.isfinite(actual) == np.isfinite(expected)), f"{what}: non-finite mismatch"
    finite = np.isfinite(expected)
    scale = max(1.0, float(np.abs(expected[finite]).max(initial=0.0)))
    err = float(np.abs(actual[finite] - expected[finite]).max(initial=0.0))
    assert err <= tol * scale, f"{what}: max abs error {err:.3e} > {tol:.1e} * {scale:.3g}"


def distinct_values(rng: np.random.Generator, shape, spacing: float = 0.05, center=True):
    """A random permutation of evenly spaced values: no ties, no value near a kink.

    With ``center`` the values are symmetric around 0 and at least spacing/2 away
    from it (safe for ReLU/LeakyReLU and MaxPool central differences).
    """
    n = int(np.prod(shape))
    values = (np.arange(n) - (n - 1) / 2) * spacing if center else np.arange(n) * spacing
    return rng.permutation(values).reshape(shape)


def to_tensor(array, requires_grad: bool = False):
    torch = get_torch()
    t = torch.from_numpy(np.array(array, copy=True))
    return t.requires_grad_(requires_grad)


def to_numpy(tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy()


def check_torch_parity(
    module,
    x,
    grad_out=None,
    *,
    torch_module=None,
    tol: float | None = None,
    rng: np.random.Generator | None = None,
    backward: bool = True,
):
    """Run ``module`` and its PyTorch twin on the same input and compare everything.

    The twin is ``glassnet.interop.torch.to_torch(module)`` unless ``torch_module`` is
    given. Compared: the output (values and dtype), dL/dx for a random upstream
    gradient (or ``grad_out``: an array, or a function of our output such as a
    loss's dL/dlogits), every parameter's grad (by name, in the same order)
    and the whole state_dict afterwards (BatchNorm running stats; num_batches_tracked
    exactly). Parameter grads are zeroed on both sides first. Returns
    ``(torch_module, ours, theirs)`` where ours/theirs are dicts of arrays.
    """
    get_torch()
    from glassnet.interop.torch import to_torch

    rng = np.random.default_rng(0) if rng is None else rng
    tm = to_torch(module) if torch_module is None else torch_module
    module.zero_grad()
    tm.zero_grad(set_to_none=True)

    x = np.asarray(x)
    xt = to_tensor(x, requires_grad=np.issubdtype(x.dtype, np.floating))
    y = module(x)
    yt = tm(xt)
    ours, theirs = {"output": y}, {"output": to_numpy(yt)}
    assert np.dtype(y.dtype) == theirs["output"].dtype, (
        f"output dtype {y.dtype} != torch's {theirs['output'].dtype}"
    )
    tol = tolerance(y.dtype) if tol is None else tol
    assert_close_arrays(y, theirs["output"], tol, "forward output")

    if backward:
        if grad_out is None:
            g = rng.standard_normal(y.shape).astype(y.dtype)
        else:
            g = grad_out(y) if callable(grad_out) else grad_out
        ours["input_grad"] = module.backward(g)
        yt.backward(to_tensor(g))
        theirs["input_grad"] = to_numpy(xt.grad)
        assert_close_arrays(ours["input_grad"], theirs["input_grad"], tol, "input grad")
        assert np.dtype(ours["input_grad"].dtype) == np.dtype(x.dtype), "input grad dtype"
        named = list(module.named_parameters())
        tnamed = list(tm.named_parameters())
        assert [n for n, _ in named] == [n for n, _ in tnamed]
        for (name, p), (_, tp) in zip(named, tnamed):
            tgrad = np.zeros(p.shape) if tp.grad is None else to_numpy(tp.grad)
            assert p.grad.dtype == p.data.dtype, f"{name}.grad dtype"
            assert_close_arrays(p.grad, tgrad, tol, f"grad of {name}")
            ours[f"{name}.grad"], theirs[f"{name}.grad"] = p.grad.copy(), tgrad
    assert_state_equal(module, tm, tol)
    return tm, ours, theirs


def assert_state_equal(module, torch_module, tol: float) -> None:
    """Same state_dict keys in the same order; values close; integer buffers exactly equal."""
    ours = module.state_dict()
    theirs = {k: to_numpy(v) for k, v in torch_module.state_dict().items()}
    assert list(ours) == list(theirs)
    for key, value in ours.items():
        if np.issubdtype(value.dtype, np.integer):
            assert value.dtype == theirs[key].dtype, key
            np.testing.assert_array_equal(value, theirs[key], err_msg=key)
        else:
            assert value.dtype == theirs[key].dtype, key
            assert_close_arrays(value, theirs[key], tol, key)


def check_loss_parity(loss_fn, torch_loss_fn, logits, target, grad_out=None, tol=None):
    """Compare a glassnet loss and a torch loss: value and d(loss)/d(logits).

    ``target`` is given as a numpy array; class indices go to torch as int64.
    For reduction='none', ``grad_out`` (per sample) is the upstream gradient.
    """
    torch = get_torch()
    logits = np.asarray(logits)
    tol = tolerance(logits.dtype) if tol is None else tol
    lt = to_tensor(logits, requires_grad=True)
    target = np.asarray(target)
    tt = to_tensor(target.astype(np.int64) if np.issubdtype(target.dtype, np.integer) else target)
    value = loss_fn(logits, target)
    tvalue = torch_loss_fn(lt, tt)
    assert_close_arrays(value, to_numpy(tvalue), tol, "loss value")
    if np.ndim(value) == 0:
        assert isinstance(value, float)
        dlogits = loss_fn.backward() if grad_out is None else loss_fn.backward(grad_out)
        tvalue.backward(None if grad_out is None else torch.tensor(grad_out, dtype=lt.dtype))
    else:
        g = np.ones(np.shape(value)) if grad_out is None else grad_out
        dlogits = loss_fn.backward(g.astype(logits.dtype))
        tvalue.backward(to_tensor(g.astype(logits.dtype)))
    assert dlogits.dtype == logits.dtype
    assert_close_arrays(dlogits, to_numpy(lt.grad), tol, "dloss/dlogits")
    return value, dlogits


def float64_copy(module):
    return copy.deepcopy(module).to(np.float64)


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture
def torch_parity():
    get_torch()
    return check_torch_parity


@pytest.fixture
def loss_parity():
    get_torch()
    return check_loss_parity


@pytest.fixture
def assert_close():
    return assert_close_arrays


@pytest.fixture
def distinct():
    return distinct_values


@pytest.fixture
def tnn():
    """``torch.nn`` (skips the test when PyTorch is not installed)."""
    return get_torch().nn


@pytest.fixture(autouse=True)
def _fixed_glassnet_seed():
    """Every test starts from glassnet.manual_seed(0): weight init is reproducible."""
    import glassnet

    glassnet.manual_seed(0)
    yield


# ----------------------------------------------------------------------------- kernel modes
# The layers have two paths: the textbook (glassnet.nn as written) and the tuned kernels
# (glassnet.kernels, the default). The modules below run every test in both modes; any
# other test can ask for one with ``@pytest.mark.kernels("textbook")`` (or "fast"). The
# whole suite also runs in textbook mode with GLASSNET_KERNELS=textbook in the environment.
BOTH_MODES = {"test_nn_parity", "test_nn_gradcheck", "test_gradcheck", "test_nn_reference"}


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        'kernels(mode): run the test with glassnet.kernels.use(mode) ("fast" or "textbook")',
    )


def pytest_generate_tests(metafunc):
    if metafunc.module.__name__.rpartition(".")[2] in BOTH_MODES:
        metafunc.parametrize("kernels_mode", ["fast", "textbook"], indirect=True)


@pytest.fixture(autouse=True)
def kernels_mode(request):
    """The kernel mode the test runs in ("fast" or "textbook"); restored afterwards."""
    from glassnet import kernels

    marker = request.node.get_closest_marker("kernels")
    mode = getattr(request, "param", None) or (marker.args[0] if marker else kernels.get_mode())
    with kernels.use(mode):
        yield mode


BROWSER_HOWTO = (
    "to run them: 'make browser' (Debian's chromium through apt-get, with sudo when not "
    "root) and the playwright package (pip install -e '.[dev]'); GLASSNET_CHROMIUM names "
    "another Chromium"
)


def browser_skip_note(stats: dict) -> str | None:
    """One line saying why the report's browser tests skipped and how to enable them
    (pytest lists skip reasons only with -rs), or None when none skipped."""
    reasons = []
    for report in stats.get("skipped", []):
        if "browser" not in getattr(report, "keywords", {}):
            continue
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reason = reason.removeprefix("Skipped: ")
        if reason not in reasons:
            reasons.append(reason)
    if not reasons:
        return None
    return f"browser tests skipped ({'; '.join(reasons)}); {BROWSER_HOWTO}"


def pytest_terminal_summary(terminalreporter):
    note = browser_skip_note(terminalreporter.stats)
    if note:
        terminalreporter.write_line(note, yellow=True)
