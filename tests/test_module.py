"""The Module contract: names and order like torch, state_dict, modes, grads, dtype, repr,
hooks, no_grad, load_state_dict, and glassnet.manual_seed."""

from __future__ import annotations

import copy
from collections import OrderedDict

import numpy as np
import pytest

import glassnet
from _nets import concat_net, lenet5, resnet_block
from glassnet import nn
from glassnet.random import get_rng_state, set_rng_state


# torch twins built by hand (not through interop), so names are checked independently
def torch_lenet5(tnn):
    return tnn.Sequential(
        tnn.Conv2d(1, 6, 5, padding=2),
        tnn.ReLU(),
        tnn.MaxPool2d(2),
        tnn.Conv2d(6, 16, 5),
        tnn.ReLU(),
        tnn.MaxPool2d(2),
        tnn.Flatten(),
        tnn.Linear(400, 120),
        tnn.ReLU(),
        tnn.Linear(120, 84),
        tnn.ReLU(),
        tnn.Linear(84, 10),
    )


def torch_resnet_block(tnn):
    class Residual(tnn.Module):
        def __init__(self, body, shortcut):
            super().__init__()
            self.body, self.shortcut = body, shortcut

    body = tnn.Sequential(
        tnn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False),
        tnn.BatchNorm2d(8),
        tnn.ReLU(),
        tnn.Conv2d(8, 8, 3, padding=1, bias=False),
        tnn.BatchNorm2d(8),
    )
    shortcut = tnn.Sequential(tnn.Conv2d(3, 8, 1, stride=2, bias=False), tnn.BatchNorm2d(8))
    return tnn.Sequential(Residual(body, shortcut), tnn.ReLU())


def torch_concat_net(tnn):
    branches = tnn.Module()
    branches.add_module("0", tnn.Flatten())
    branches.add_module(
        "1",
        tnn.Sequential(
            tnn.Conv2d(1, 18, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten()
        ),
    )
    return tnn.Sequential(branches, tnn.Linear(784 + 18 * 14 * 14, 10))


PAIRS = [(lenet5, torch_lenet5), (resnet_block, torch_resnet_block), (concat_net, torch_concat_net)]
PAIR_IDS = ["lenet5", "resnet-block", "concat"]


# ----------------------------------------------------------------------------- names
@pytest.mark.parametrize("ours, theirs", PAIRS, ids=PAIR_IDS)
def test_parameter_names_order_and_shapes_equal_torch(ours, theirs, tnn):
    model, tmodel = ours(), theirs(tnn)
    named = [(n, p.shape) for n, p in model.named_parameters()]
    tnamed = [(n, tuple(p.shape)) for n, p in tmodel.named_parameters()]
    assert named == tnamed
    assert [p.shape for p in model.parameters()] == [s for _, s in tnamed]
    assert model.num_parameters() == sum(p.numel() for p in tmodel.parameters())


@pytest.mark.parametrize("ours, theirs", PAIRS, ids=PAIR_IDS)
def test_state_dict_keys_equal_torch(ours, theirs, tnn):
    state = ours().state_dict()
    tstate = theirs(tnn).state_dict()
    assert list(state) == list(tstate)
    for key, value in state.items():
        assert value.shape == tuple(tstate[key].shape), key
        assert str(value.dtype) == str(tstate[key].dtype).replace("torch.", ""), key


def test_batchnorm_state_dict_entries():
    bn = nn.BatchNorm2d(4)
    state = bn.state_dict()
    assert list(state) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert (
        state["num_batches_tracked"].dtype == np.int64 and state["num_batches_tracked"].shape == ()
    )
    assert list(nn.BatchNorm1d(3, affine=False).state_dict()) == [
        "running_mean",
        "running_var",
        "num_batches_tracked",
    ]
    assert list(nn.BatchNorm1d(3, track_running_stats=False).state_dict()) == ["weight", "bias"]


def test_state_dict_is_a_copy():
    m = nn.Linear(3, 2)
    state = m.state_dict()
    state["weight"][...] = 7
    assert not np.any(m.weight.data == 7)


def test_named_modules_children_and_buffers():
    model = resnet_block()
    names = [n for n, _ in model.named_modules()]
    assert names[:4] == ["", "0", "0.body", "0.body.0"]
    assert "0.shortcut.1" in names
    assert [type(c).__name__ for c in model.children()] == ["Residual", "ReLU"]
    buffers = [n for n, _ in model.named_buffers()]
    assert buffers[:3] == [
        "0.body.1.running_mean",
        "0.body.1.running_var",
        "0.body.1.num_batches_tracked",
    ]
    assert len(list(model.buffers())) == 9


def test_shared_parameter_is_listed_once():
    lin = nn.Linear(3, 3)
    model = nn.Sequential(lin, nn.ReLU(), lin)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]


def test_sequential_indexing_like_torch():
    model = lenet5()
    assert len(model) == 12
    assert isinstance(model[0], nn.Conv2d) and isinstance(model[-1], nn.Linear)
    head = model[6:]
    assert isinstance(head, nn.Sequential) and len(head) == 6
    assert [n for n, _ in head.named_parameters()][:2] == ["7.weight", "7.bias"]
    assert [type(m).__name__ for m in model][:3] == ["Conv2d", "ReLU", "MaxPool2d"]
    with pytest.raises(IndexError, match="out of range"):
        model[12]
    named = nn.Sequential(OrderedDict(conv=nn.Conv2d(1, 2, 3), act=nn.ReLU()))
    assert list(named.state_dict()) == ["conv.weight", "conv.bias"]
    assert named.conv is named[0]
    model.append(nn.Softmax(dim=1))
    assert len(model) == 13 and isinstance(model[12], nn.Softmax)


def test_a_sequential_item_can_be_replaced_like_torch():
    """model[11] = nn.Linear(84, 10), the way to put a new head on LeNet-5, was refused
    ('Sequential' object does not support item assignment)."""
    model = lenet5()
    head = nn.Linear(84, 3)
    model[11] = head
    assert model[-1] is head and model[11] is head and getattr(model, "11") is head
    keys = list(model.state_dict())
    assert keys[-2:] == ["11.weight", "11.bias"] and model.state_dict()["11.weight"].shape == (
        3,
        84,
    )
    model[-2] = nn.Tanh()  # a negative index, and the order kept
    assert [type(m).__name__ for m in model][-3:] == ["Linear", "Tanh", "Linear"]
    x = np.zeros((2, 1, 28, 28), dtype=np.float32)
    assert model(x).shape == (2, 3)
    with pytest.raises(IndexError, match="out of range"):
        model[12] = nn.ReLU()
    with pytest.raises(TypeError, match="Module objects"):
        model[0] = "conv"
    layers = nn.ModuleList([nn.ReLU(), nn.ReLU()])
    layers[1] = nn.Tanh()
    assert isinstance(layers[1], nn.Tanh) and len(layers) == 2


def test_module_must_call_super_init():
    class Broken(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.zeros(2))

    with pytest.raises(RuntimeError, match="super"):
        Broken()


def test_custom_module_registration():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 2)
            self.scale = nn.Parameter(np.ones(2))
            self.register_buffer("count", np.zeros(1))
            self.note = "not state"

        def forward(self, x):
            return self.fc(x) * self.scale.data

    net = Net()
    assert list(net.state_dict()) == ["scale", "count", "fc.weight", "fc.bias"]
    net.count = np.ones(1)  # assigning an array to a buffer keeps it a buffer
    assert net.state_dict()["count"][0] == 1
    del net.scale
    assert [n for n, _ in net.named_parameters()] == ["fc.weight", "fc.bias"]


# ----------------------------------------------------------------------------- modes and grads
def test_train_eval_recurse():
    model = resnet_block()
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model.train(False)
    assert not any(m.training for m in model.modules())


def test_eval_mode_changes_batchnorm_and_dropout():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(5, 5), nn.BatchNorm1d(5), nn.Dropout(0.5))
    x = rng.standard_normal((8, 5)).astype(np.float32)
    a = model(x)
    model.eval()
    b, c = model(x), model(x)
    np.testing.assert_array_equal(b, c)  # deterministic in eval
    assert not np.allclose(a, b)


def test_zero_grad():
    model = lenet5()
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    y = model(x)
    model.backward(np.ones_like(y))
    assert all(np.any(p.grad != 0) for p in model.parameters())
    model.zero_grad()
    assert all(np.all(p.grad == 0) for p in model.parameters())
    for p in model.parameters():
        assert p.grad.shape == p.data.shape and p.grad.dtype == p.data.dtype


def test_gradients_accumulate_over_two_backwards():
    rng = np.random.default_rng(1)
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.Tanh(), nn.Flatten(), nn.Linear(12, 2))
    model.to(np.float64)
    x, g = rng.standard_normal((2, 2, 4, 4)), rng.standard_normal((2, 2))
    model(x)
    model.backward(g)
    first = [p.grad.copy() for p in model.parameters()]
    model(x)
    model.backward(g)
    for p, f in zip(model.parameters(), first):
        np.testing.assert_allclose(p.grad, 2 * f, rtol=1e-12)


def test_requires_grad_false_freezes_a_parameter():
    m = nn.Linear(3, 2)
    m.weight.requires_grad = False
    y = m(np.ones((1, 3), dtype=np.float32))
    m.backward(np.ones_like(y))
    assert np.all(m.weight.grad == 0) and np.any(m.bias.grad != 0)
    assert m.num_parameters(trainable_only=True) == 2


def test_no_grad_makes_backward_raise_and_restores():
    m = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    x = np.ones((1, 3), dtype=np.float32)
    with glassnet.no_grad():
        assert not nn.is_grad_enabled()
        y = m(x)
    assert nn.is_grad_enabled()
    with pytest.raises(RuntimeError, match="no_grad"):
        m.backward(np.ones_like(y))
    m(x)
    m.backward(np.ones_like(y))  # fine again outside no_grad
    with pytest.raises(KeyError), glassnet.no_grad():
        {}["raised inside no_grad"]
    assert nn.is_grad_enabled()


# ----------------------------------------------------------------------------- dtype
def test_to_float64_converts_params_grads_and_buffers():
    model = resnet_block()
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    y = model(x)
    model.backward(np.ones_like(y))
    grads = [p.grad.copy() for p in model.parameters()]
    state = model.state_dict()
    assert model.to(np.float64) is model
    assert model.dtype == np.float64
    for p, g in zip(model.parameters(), grads):
        assert p.data.dtype == np.float64 and p.grad.dtype == np.float64
        np.testing.assert_array_equal(p.grad, g)  # values kept
    for name, b in model.named_buffers():
        expected = np.int64 if name.endswith("num_batches_tracked") else np.float64
        assert b.dtype == expected, name
        np.testing.assert_array_equal(b, state[name])
    with pytest.raises(RuntimeError):  # the float32 cache was dropped
        model.backward(np.ones_like(y))
    assert model(x).dtype == np.float64
    model.float()
    assert all(p.data.dtype == np.float32 for p in model.parameters())
    assert model.double().dtype == np.float64


def test_parameter_basics():
    p = nn.Parameter(np.arange(6).reshape(2, 3))
    assert p.dtype == np.float32 and p.shape == (2, 3) and p.size == 6 and p.numel() == 6
    assert np.all(p.grad == 0) and p.grad.shape == p.shape
    a = np.ones(3)
    q = nn.Parameter(a)
    a[0] = 5
    assert q.data[0] == 1  # a copy
    assert q.dtype == np.float64
    assert "shape=(3,)" in repr(q)


# ----------------------------------------------------------------------------- repr
def test_repr_like_torch():
    s = repr(nn.Sequential(nn.Linear(4, 3), nn.ReLU()))
    assert "Linear(in_features=4, out_features=3, bias=True)" in s
    assert "(0): " in s and "(1): ReLU()" in s
    assert s.startswith("Sequential(\n  (0): ")
    assert repr(nn.Linear(2, 2, bias=False)) == "Linear(in_features=2, out_features=2, bias=False)"


def test_repr_equals_torch_for_lenet(tnn):
    assert repr(lenet5()) == repr(torch_lenet5(tnn))


@pytest.mark.parametrize(
    "call",
    [
        "Conv2d(3, 8, (3, 5), stride=2, padding=1, dilation=2, groups=1, bias=False)",
        "Conv2d(4, 8, 3, groups=2)",
        "BatchNorm1d(5, eps=1e-3, momentum=None, affine=False)",
        "Dropout(0.25)",
        "LeakyReLU(0.2)",
        "Flatten(0, 2)",
        "MaxPool2d(3, 2, 1)",
        "Softmax(dim=1)",
        "Unflatten(1, (2, 3))",
    ],
)
def test_layer_repr_equals_torch(call, tnn):
    expected = repr(eval("tnn." + call, {"tnn": tnn}))
    got = repr(eval("nn." + call, {"nn": nn}))
    if got.startswith("BatchNorm"):  # torch 2.13 also prints its new bias= flag
        expected = expected.replace(", bias=False", "").replace(", bias=True", "")
    assert got == expected


def test_nested_repr_indents_children():
    s = repr(resnet_block())
    assert "(0): Residual(\n    (body): Sequential(\n      (0): Conv2d(" in s
    assert "(shortcut): Sequential(" in s


# ----------------------------------------------------------------------------- hooks
def test_forward_hooks():
    m = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    seen = []
    handle = m[0].register_forward_hook(lambda mod, inputs, out: seen.append((mod, inputs, out)))
    x = np.ones((1, 3), dtype=np.float32)
    m(x)
    assert len(seen) == 1 and seen[0][0] is m[0] and seen[0][1][0] is x
    assert seen[0][2].shape == (1, 2)
    handle.remove()
    m(x)
    assert len(seen) == 1
    # a hook that returns a value replaces the output
    m[1].register_forward_hook(lambda mod, inputs, out: out * 0 + 5)
    np.testing.assert_array_equal(m(x), np.full((1, 2), 5))


# ----------------------------------------------------------------------------- load_state_dict
def test_load_state_dict_round_trip():
    a, b = resnet_block(), resnet_block()
    b.apply(lambda m: m.reset_parameters() if hasattr(m, "reset_parameters") else None)
    a(np.random.default_rng(0).standard_normal((2, 3, 6, 6)))  # move running stats
    missing, unexpected = b.load_state_dict(a.state_dict())
    assert missing == [] and unexpected == []
    for (k, v), (_, w) in zip(a.state_dict().items(), b.state_dict().items()):
        np.testing.assert_array_equal(v, w, err_msg=k)
        assert v.dtype == w.dtype


def test_load_state_dict_keeps_the_model_dtype():
    a = nn.Linear(3, 2)
    state = {k: v.astype(np.float64) for k, v in a.state_dict().items()}
    b = nn.Linear(3, 2)
    b.load_state_dict(state)
    assert b.weight.data.dtype == np.float32
    np.testing.assert_array_equal(b.weight.data, a.weight.data)


def test_load_state_dict_accepts_torch_tensors(tnn):
    t = torch_lenet5(tnn)
    m = lenet5()
    m.load_state_dict(t.state_dict())
    np.testing.assert_array_equal(m[0].weight.data, t[0].weight.detach().numpy())


def _snapshot(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def _assert_unchanged(model, snap):
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, snap[k], err_msg=k)


@pytest.mark.parametrize("problem", ["shape", "missing", "unexpected", "nan"])
def test_load_state_dict_refuses_and_leaves_model_unchanged(problem):
    model = resnet_block()
    snap = _snapshot(model)
    state = {k: v + 1 for k, v in resnet_block().state_dict().items()}
    key = "0.body.3.weight"
    if problem == "shape":
        state[key] = np.zeros((8, 8, 3, 2))
        words = [key, "(8, 8, 3, 2)", "(8, 8, 3, 3)"]
    elif problem == "missing":
        del state[key]
        words = ["missing", key]
    elif problem == "unexpected":
        state["0.body.9.weight"] = np.zeros(3)
        words = ["unexpected", "0.body.9.weight"]
    else:
        state[key][0, 0, 0, 0] = np.nan
        words = [key, "NaN"]
    with pytest.raises(ValueError) as info:
        model.load_state_dict(state)
    for word in words:
        assert word in str(info.value)
    _assert_unchanged(model, snap)


def test_load_state_dict_non_strict_reports_and_loads_the_rest():
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    source = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    source[1].running_mean[...] = 3
    state = source.state_dict()
    del state["1.running_var"]
    state["2.weight"] = np.zeros(1)
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert missing == ["1.running_var"] and unexpected == ["2.weight"]
    np.testing.assert_array_equal(model[1].running_mean, 3)
    np.testing.assert_array_equal(model[0].weight.data, source[0].weight.data)
    # a wrong shape is an error even when not strict
    state["0.weight"] = np.zeros((3, 3))
    with pytest.raises(ValueError, match="0.weight"):
        model.load_state_dict(state, strict=False)


def test_loaded_parameters_are_written_in_place():
    """Optimizers hold the Parameter objects: loading must not replace them."""
    model = nn.Linear(3, 2)
    params = list(model.parameters())
    data = [p.data for p in params]
    model.load_state_dict({k: v * 0 for k, v in model.state_dict().items()})
    assert all(p is q for p, q in zip(params, model.parameters()))
    assert all(np.all(d == 0) for d in data)


# ----------------------------------------------------------------------------- seeding and init
def test_manual_seed_reproduces_models():
    glassnet.manual_seed(0)
    a = lenet5()
    glassnet.manual_seed(0)
    b = lenet5()
    glassnet.manual_seed(1)
    c = lenet5()
    for (k, v), w, u in zip(
        a.state_dict().items(), b.state_dict().values(), c.state_dict().values()
    ):
        np.testing.assert_array_equal(v, w, err_msg=k)
        if k.endswith("weight"):
            assert not np.array_equal(v, u), k


def test_manual_seed_reproduces_dropout_masks():
    x = np.ones((4, 10), dtype=np.float32)
    glassnet.manual_seed(3)
    a = nn.Dropout(0.5)(x)
    glassnet.manual_seed(3)
    b = nn.Dropout(0.5)(x)
    np.testing.assert_array_equal(a, b)
    c = nn.Dropout(0.5)(x)
    assert not np.array_equal(a, c)


def test_rng_state_round_trip():
    import json

    glassnet.manual_seed(5)
    state = get_rng_state()
    json.dumps(state)  # serialisable, for checkpoints
    a = lenet5().state_dict()
    set_rng_state(state)
    b = lenet5().state_dict()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.mark.parametrize("bad", [-1, 1.5, "0", True])
def test_manual_seed_refuses_bad_seeds(bad):
    with pytest.raises(ValueError):
        glassnet.manual_seed(bad)


def test_default_init_matches_torch_bounds():
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias (PyTorch's default)."""
    glassnet.manual_seed(0)
    conv = nn.Conv2d(8, 64, 3)
    bound = 1 / np.sqrt(8 * 9)
    for p in (conv.weight.data, conv.bias.data):
        assert np.abs(p).max() <= bound
        assert np.abs(p).max() > 0.9 * bound
    w = nn.Linear(400, 300).weight.data
    assert abs(w.std() - (1 / np.sqrt(400)) / np.sqrt(3)) < 0.02 / np.sqrt(400)
    assert w.dtype == np.float32


def test_init_functions_fill_in_place():
    from glassnet.nn import init

    glassnet.manual_seed(0)
    w = nn.Parameter(np.empty((200, 100), dtype=np.float32))
    assert init.kaiming_normal_(w, nonlinearity="relu") is w
    assert abs(w.data.std() - np.sqrt(2 / 100)) < 0.01
    init.xavier_uniform_(w)
    assert np.abs(w.data).max() <= np.sqrt(6 / 300) + 1e-7
    init.zeros_(w)
    assert np.all(w.data == 0)
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    with pytest.raises(ValueError):
        init.kaiming_uniform_(np.zeros(3))


def test_deepcopy_is_independent():
    a = nn.Linear(2, 2)
    b = copy.deepcopy(a)
    b.weight.data += 1
    assert not np.array_equal(a.weight.data, b.weight.data)
