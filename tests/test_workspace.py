"""The kernels' workspace: buffers a layer reuses between steps, with the same results
as fresh arrays and no output ever overwritten (glassnet/kernels/workspace.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from glassnet import kernels, models, nn, optim
from glassnet.kernels import workspace

pytestmark = pytest.mark.kernels("fast")


@pytest.fixture(autouse=True)
def _fresh_workspace():
    was = workspace.enabled()
    workspace.enable(True)
    yield
    workspace.enable(was)


def _train_steps(model, batches, lr=0.05):
    """A user's own loop; returns the logits of every step and the final weights."""
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    outputs = []
    for x, y in batches:
        logits = model(x)
        outputs.append(logits)  # held on to: must not be overwritten by later steps
        loss_fn(logits, y)
        opt.zero_grad()
        model.backward(loss_fn.backward())
        opt.step()
    return outputs, [p.data.copy() for p in model.parameters()]


def _batches(shape, sizes, seed=0):
    rng = np.random.default_rng(seed)
    return [
        (rng.standard_normal((n, *shape)).astype(np.float32), rng.integers(0, 10, n)) for n in sizes
    ]


@pytest.mark.parametrize("name, shape", [("lenet5", (1, 28, 28)), ("resnet8", (3, 16, 16))])
def test_reused_buffers_give_the_same_steps_as_fresh_arrays(name, shape):
    # batch sizes change between steps (a short last batch), so buffers are reused
    # as prefixes and padded borders laid out for one size serve another
    batches = _batches(shape, [6, 6, 4, 6, 3])
    workspace.enable(False)
    fresh_out, fresh_w = _train_steps(models.get(name, input_shape=shape, seed=1), batches)
    workspace.enable(True)
    model = models.get(name, input_shape=shape, seed=1)
    reused_out, reused_w = _train_steps(model, batches)
    assert workspace.nbytes(model) > 0
    for a, b in zip(fresh_out, reused_out):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(fresh_w, reused_w):
        np.testing.assert_array_equal(a, b)
    # the logits of every step are distinct arrays: none was written over
    assert not any(
        np.shares_memory(a, b) for i, a in enumerate(reused_out) for b in reused_out[i + 1 :]
    )


def test_columns_are_reused_from_step_to_step():
    model = models.get("lenet5", seed=0)
    conv = model[0]
    batches = _batches((1, 28, 28), [8, 8])
    _train_steps(model, batches[:1])
    held = {id(a[0]): a[0] for a in workspace._buffers[conv].values()}
    _train_steps(model, batches[1:])
    again = {id(a[0]) for a in workspace._buffers[conv].values()}
    assert held and set(held) == again


def test_inference_reuses_scratch_only_and_keeps_every_output():
    shape = (3, 12, 12)
    xs = [x for x, _ in _batches(shape, [5, 7, 5])]
    model = models.get("resnet8", input_shape=shape, seed=3).eval()
    with nn.no_grad():
        outs = [model(x) for x in xs]
    roles = {role[0] for slots in workspace._buffers.values() for role in slots}
    assert roles == {"scratch"}  # nothing is kept for a backward that will not come
    workspace.enable(False)
    with nn.no_grad():
        fresh = [model(x) for x in xs]
    for a, b in zip(outs, fresh):
        np.testing.assert_array_equal(a, b)


def test_fast_steps_with_the_workspace_equal_the_textbook():
    shape = (3, 10, 10)
    batches = _batches(shape, [4, 4, 3])
    with kernels.use("textbook"):
        model = models.get("resnet8", input_shape=shape, seed=2, dtype=np.float64)
        _, textbook = _train_steps(model, [(x.astype(np.float64), y) for x, y in batches])
    model = models.get("resnet8", input_shape=shape, seed=2, dtype=np.float64)
    _, fast = _train_steps(model, [(x.astype(np.float64), y) for x, y in batches])
    for a, b in zip(textbook, fast):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10)


def test_padded_keeps_zero_borders_across_batch_sizes():
    owner = nn.Identity()
    rng = np.random.default_rng(0)
    for n in (4, 2, 6, 1, 6):
        x = rng.standard_normal((n, 2, 3, 5)).astype(np.float32)
        out = workspace.padded(owner, ("x_pad",), x, 1, 2, 3, 0)
        np.testing.assert_array_equal(out, np.pad(x, ((0, 0), (0, 0), (1, 2), (3, 0))))
        out[...] = 7.0  # a caller scribbling over the whole buffer is not expected, but
        # the interior is rewritten each call; restore the border for the next call
        out[:, :, :1] = 0
        out[:, :, 4:] = 0
        out[:, :, :, :3] = 0
    # another sample shape lays the buffer out again
    x = rng.standard_normal((3, 1, 4, 4)).astype(np.float32)
    out = workspace.padded(owner, ("x_pad",), x, 1, 1, 1, 1)
    np.testing.assert_array_equal(out, np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))))


def test_release_and_disable_give_the_memory_back():
    model = models.get("lenet5", seed=0)
    _train_steps(model, _batches((1, 28, 28), [4]))
    assert workspace.nbytes(model) > 0
    workspace.release(model)
    assert workspace.nbytes(model) == 0
    _train_steps(model, _batches((1, 28, 28), [4]))
    workspace.enable(False)
    assert workspace.nbytes() == 0
    _train_steps(model, _batches((1, 28, 28), [4]))
    assert workspace.nbytes() == 0


def test_environment_turns_it_off():
    code = (
        "import numpy as np; from glassnet import models, nn; "
        "from glassnet.kernels import workspace; m = models.get('lenet5', seed=0); "
        "lf = nn.CrossEntropyLoss(); x = np.zeros((2, 1, 28, 28), np.float32); "
        "lf(m(x), np.zeros(2, int)); "
        "m.backward(lf.backward()); print(workspace.enabled(), workspace.nbytes())"
    )
    env = {**os.environ, "GLASSNET_WORKSPACE": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "0"]
