"""Optimizers: PyTorch parity, param groups, in-place float32 updates, state_dict, validation."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from glassnet import optim
from glassnet.nn.parameter import Parameter

torch = pytest.importorskip("torch")

TOL = {np.float64: dict(rtol=1e-12, atol=1e-12), np.float32: dict(rtol=1e-6, atol=1e-6)}
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}

# (optimizer, flags). Numeric hyperparameters are drawn from a seeded generator per case.
CASES = [
    ("SGD", {}),
    ("SGD", {"momentum": True}),
    ("SGD", {"momentum": True, "dampening": True}),
    ("SGD", {"momentum": True, "nesterov": True}),
    ("SGD", {"weight_decay": True}),
    ("SGD", {"momentum": True, "weight_decay": True, "dampening": True}),
    ("SGD", {"momentum": True, "nesterov": True, "weight_decay": True, "maximize": True}),
    ("Adam", {}),
    ("Adam", {"betas": True}),
    ("Adam", {"amsgrad": True}),
    ("Adam", {"weight_decay": True}),
    ("Adam", {"weight_decay": True, "decoupled_weight_decay": True}),
    ("Adam", {"amsgrad": True, "weight_decay": True, "maximize": True, "betas": True}),
    ("AdamW", {}),
    ("AdamW", {"amsgrad": True, "weight_decay": True}),
    ("AdamW", {"maximize": True, "betas": True, "weight_decay": True}),
    ("RMSprop", {}),
    ("RMSprop", {"alpha": True}),
    ("RMSprop", {"momentum": True}),
    ("RMSprop", {"centered": True}),
    ("RMSprop", {"centered": True, "momentum": True, "weight_decay": True}),
    ("RMSprop", {"weight_decay": True, "maximize": True, "alpha": True}),
]


def draw_kwargs(flags: dict, rng: np.random.Generator) -> dict:
    """Turn flags into concrete hyperparameters (random, but fixed by the seed)."""
    kw = {"lr": float(rng.uniform(1e-3, 5e-2))}
    for flag in flags:
        if flag == "momentum":
            kw["momentum"] = float(rng.uniform(0.5, 0.95))
        elif flag == "dampening":
            kw["dampening"] = float(rng.uniform(0.1, 0.6))
        elif flag == "weight_decay":
            kw["weight_decay"] = float(rng.uniform(1e-3, 0.2))
        elif flag == "betas":
            kw["betas"] = (float(rng.uniform(0.5, 0.95)), float(rng.uniform(0.9, 0.9999)))
        elif flag == "alpha":
            kw["alpha"] = float(rng.uniform(0.8, 0.999))
        else:  # boolean switches
            kw[flag] = True
    return kw


def random_shapes(rng, n=3):
    shapes = [tuple(int(s) for s in rng.integers(1, 6, size=rng.integers(1, 4))) for _ in range(n)]
    return shapes + [()]  # a 0-d parameter too


def make_pair(name, kw, dtype, shapes, rng, groups=None):
    """Our optimizer and torch's on identical starting values."""
    ours = [Parameter(rng.standard_normal(s).astype(dtype)) for s in shapes]
    theirs = [torch.tensor(p.data.copy(), requires_grad=True) for p in ours]
    if groups is None:
        opt = getattr(optim, name)(ours, **kw)
        topt = getattr(torch.optim, name)(theirs, foreach=False, **kw)
    else:  # groups: list of (indices, extra kwargs)
        opt = getattr(optim, name)(
            [{"params": [ours[i] for i in idx], **g} for idx, g in groups], **kw
        )
        topt = getattr(torch.optim, name)(
            [{"params": [theirs[i] for i in idx], **g} for idx, g in groups], foreach=False, **kw
        )
    return ours, theirs, opt, topt


def step_both(ours, theirs, opt, topt, rng):
    for p, t in zip(ours, theirs):
        g = rng.standard_normal(p.shape).astype(p.dtype)
        p.grad[...] = g
        t.grad = torch.tensor(g.copy())
    opt.step()
    topt.step()


def assert_same(ours, theirs, dtype):
    for p, t in zip(ours, theirs):
        assert p.data.dtype == dtype
        np.testing.assert_allclose(p.data, t.detach().numpy(), **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_matches_torch(case, dtype):
    name, flags = CASES[case]
    rng = np.random.default_rng(1000 + case)
    kw = draw_kwargs(flags, rng)
    ours, theirs, opt, topt = make_pair(name, kw, dtype, random_shapes(rng), rng)
    arrays = [p.data for p in ours]
    for _ in range(7):
        step_both(ours, theirs, opt, topt, rng)
        assert_same(ours, theirs, dtype)
    assert all(p.data is a for p, a in zip(ours, arrays))  # updated in place
    # Same state entries with the same values (torch keeps `step` as a tensor).
    for p, t in zip(ours, theirs):
        ts = topt.state[t]
        assert set(opt.state.get(p, {})) == set(ts)
        for key, value in ts.items():
            if key == "step":
                assert opt.state[p]["step"] == float(value) == 7
            else:
                assert opt.state[p][key].dtype == dtype
                np.testing.assert_allclose(opt.state[p][key], value.numpy(), **TOL[dtype])


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_param_groups_match_torch(name):
    rng = np.random.default_rng(7)
    kw = {"lr": 0.01, "momentum": 0.9} if name != "Adam" else {"lr": 0.01}
    groups = [([0, 2], {}), ([1, 3], {"lr": 0.1, "weight_decay": 0.05})]
    if name == "Adam":
        groups[1][1]["betas"] = (0.8, 0.99)
    ours, theirs, opt, topt = make_pair(name, kw, np.float64, random_shapes(rng), rng, groups)
    assert [g["lr"] for g in opt.param_groups] == [0.01, 0.1]
    for _ in range(5):
        step_both(ours, theirs, opt, topt, rng)
        assert_same(ours, theirs, np.float64)


ALL = [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.01}),
    ("AdamW", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}),
]


@pytest.mark.parametrize("name,kw", ALL)
def test_frozen_params_are_skipped(name, kw):
    rng = np.random.default_rng(3)
    frozen = Parameter(rng.standard_normal((3, 2)), requires_grad=False)
    live = Parameter(rng.standard_normal((4,)))
    before = frozen.data.copy()
    opt = getattr(optim, name)([frozen, live], **kw)
    for _ in range(3):
        frozen.grad[...] = rng.standard_normal(frozen.shape)
        live.grad[...] = rng.standard_normal(live.shape)
        opt.step()
    np.testing.assert_array_equal(frozen.data, before)
    assert frozen not in opt.state or not opt.state[frozen]
    assert not np.allclose(live.data, 0) and opt.state[live]


@pytest.mark.parametrize("name,kw", ALL)
def test_in_place_and_float32_stays_float32(name, kw):
    rng = np.random.default_rng(4)
    p = Parameter(rng.standard_normal((5, 3)).astype(np.float32))
    data, grad = p.data, p.grad
    kw = dict(kw, lr=np.float64(kw["lr"]))  # a NumPy float64 scalar must not upcast either
    opt = getattr(optim, name)([p], **kw)
    for _ in range(3):
        before = p.data.copy()
        p.grad[...] = rng.standard_normal(p.shape)
        opt.step()
        assert p.data is data and p.grad is grad
        assert p.data.dtype == np.float32
        assert not np.array_equal(p.data, before)
    for value in opt.state[p].values():
        if isinstance(value, np.ndarray):
            assert value.dtype == np.float32
    opt.zero_grad()
    assert p.grad is grad and not p.grad.any()


def test_step_does_not_modify_grad_and_returns_closure_loss():
    rng = np.random.default_rng(5)
    p = Parameter(rng.standard_normal(6))
    opt = optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.1, maximize=True)
    p.grad[...] = g = rng.standard_normal(6)
    assert opt.step(lambda: 1.5) == 1.5
    np.testing.assert_array_equal(p.grad, g)


# ---------------------------------------------------------------- state_dict


@pytest.mark.parametrize("case", range(len(CASES)))
def test_state_dict_round_trip(case):
    name, flags = CASES[case]
    rng = np.random.default_rng(2000 + case)
    kw = draw_kwargs(flags, rng)
    shapes = random_shapes(rng)
    a = [Parameter(rng.standard_normal(s)) for s in shapes]
    opt_a = getattr(optim, name)(a, **kw)
    grads = [[rng.standard_normal(s) for s in shapes] for _ in range(6)]
    for step in range(3):
        for p, g in zip(a, grads[step]):
            p.grad[...] = g
        opt_a.step()
    saved = opt_a.state_dict()
    b = [Parameter(p.data) for p in a]
    opt_b = getattr(optim, name)(b, lr=123.0)  # other hyperparameters: the load restores them
    opt_b.load_state_dict(saved)
    assert opt_b.param_groups[0]["lr"] == kw["lr"]
    for step in range(3, 6):
        for params in (a, b):
            for p, g in zip(params, grads[step]):
                p.grad[...] = g
        opt_a.step()
        opt_b.step()
        for p, q in zip(a, b):
            np.testing.assert_array_equal(p.data, q.data)


@pytest.mark.parametrize("name,kw", ALL)
def test_state_dict_structure_matches_torch(name, kw):
    rng = np.random.default_rng(6)
    ours, theirs, opt, topt = make_pair(name, kw, np.float64, random_shapes(rng), rng)
    for _ in range(2):
        step_both(ours, theirs, opt, topt, rng)
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert set(sd) == set(tsd) == {"state", "param_groups"}
    assert len(sd["param_groups"]) == len(tsd["param_groups"])
    for g, tg in zip(sd["param_groups"], tsd["param_groups"]):
        assert set(g) <= set(tg), set(g) - set(tg)
        for key in g:
            assert g[key] == tg[key], key
    assert set(sd["state"]) == set(tsd["state"])
    for i in sd["state"]:
        assert set(sd["state"][i]) == set(tsd["state"][i])


def test_repr_lines_match_torch():
    rng = np.random.default_rng(8)
    for name, kw in ALL:
        _, _, opt, topt = make_pair(name, kw, np.float64, [(2,)], rng)
        text, ttext = repr(opt), repr(topt)
        assert text.startswith(f"{name} (\nParameter Group 0\n") and text.endswith(")")
        for line in text.splitlines():
            assert line in ttext.splitlines(), line


def test_state_dict_is_a_snapshot_and_load_copies():
    p = Parameter(np.ones(3))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad[...] = 1.0
    opt.step()
    sd = opt.state_dict()
    buf = sd["state"][0]["momentum_buffer"].copy()
    opt.step()
    np.testing.assert_array_equal(sd["state"][0]["momentum_buffer"], buf)  # not aliased
    q = Parameter(np.ones(3))
    opt2 = optim.SGD([q], lr=0.1, momentum=0.9)
    opt2.load_state_dict(sd)
    sd["state"][0]["momentum_buffer"][...] = 99.0
    sd["param_groups"][0]["lr"] = 5.0
    np.testing.assert_array_equal(opt2.state[q]["momentum_buffer"], buf)
    assert opt2.param_groups[0]["lr"] == 0.1
    assert opt2.param_groups[0]["params"][0] is q


def test_load_casts_to_param_dtype():
    p = Parameter(np.ones(3, dtype=np.float64))
    opt = optim.Adam([p])
    p.grad[...] = 1.0
    opt.step()
    q = Parameter(np.ones(3, dtype=np.float32))
    opt2 = optim.Adam([q])
    opt2.load_state_dict(opt.state_dict())
    assert opt2.state[q]["exp_avg"].dtype == np.float32


def _trained_sgd(shapes):
    params = [Parameter(np.ones(s)) for s in shapes]
    opt = optim.SGD(params, lr=0.1, momentum=0.9)
    for p in params:
        p.grad[...] = 1.0
    opt.step()
    return opt


def test_bad_loads_raise():
    sd = _trained_sgd([(2,), (3,)]).state_dict()
    with pytest.raises(ValueError, match="number of parameter groups"):
        a, b = Parameter(np.ones(2)), Parameter(np.ones(3))
        optim.SGD([{"params": [a]}, {"params": [b]}]).load_state_dict(sd)
    with pytest.raises(ValueError, match="doesn't match the size"):
        optim.SGD([Parameter(np.ones(2))]).load_state_dict(sd)
    with pytest.raises(ValueError, match="has shape"):
        optim.SGD([Parameter(np.ones(2)), Parameter(np.ones(4))]).load_state_dict(sd)
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        optim.SGD([Parameter(np.ones(2))]).load_state_dict({"state": {}})
    bad = copy.deepcopy(sd)
    bad["state"][7] = bad["state"].pop(0)
    with pytest.raises(ValueError, match="unknown parameter index 7"):
        optim.SGD([Parameter(np.ones(2)), Parameter(np.ones(3))]).load_state_dict(bad)
    bad = copy.deepcopy(sd)
    bad["param_groups"][0]["lr"] = -1.0
    opt = optim.SGD([Parameter(np.ones(2)), Parameter(np.ones(3))], lr=0.5)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        opt.load_state_dict(bad)
    assert opt.param_groups[0]["lr"] == 0.5 and not opt.state  # nothing changed


# ---------------------------------------------------------------- construction and validation


@pytest.mark.parametrize(
    "name,kw,match",
    [
        ("SGD", {"lr": -0.1}, "Invalid learning rate: -0.1"),
        ("SGD", {"momentum": -0.5}, "Invalid momentum value: -0.5"),
        ("SGD", {"weight_decay": -1.0}, "Invalid weight_decay value"),
        ("SGD", {"nesterov": True}, "Nesterov momentum requires a momentum"),
        ("SGD", {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, "zero dampening"),
        ("SGD", {"lr": "fast"}, "Invalid learning rate"),
        ("Adam", {"lr": -1e-3}, "Invalid learning rate"),
        ("Adam", {"eps": -1e-8}, "Invalid epsilon value"),
        ("Adam", {"betas": (1.0, 0.999)}, "Invalid beta parameter at index 0: 1.0"),
        ("Adam", {"betas": (0.9, -0.1)}, "Invalid beta parameter at index 1"),
        ("Adam", {"betas": (0.9,)}, "betas must be a pair"),
        ("Adam", {"weight_decay": -0.1}, "Invalid weight_decay value"),
        ("AdamW", {"betas": (0.9, 1.5)}, "Invalid beta parameter at index 1"),
        ("RMSprop", {"alpha": -0.5}, "Invalid alpha value"),
        ("RMSprop", {"eps": -1.0}, "Invalid epsilon value"),
        ("RMSprop", {"momentum": -0.1}, "Invalid momentum value"),
        ("RMSprop", {"lr": float("nan")}, "Invalid learning rate"),
    ],
)
def test_bad_hyperparameters(name, kw, match):
    with pytest.raises(ValueError, match=match):
        getattr(optim, name)([Parameter(np.ones(2))], **kw)
    # The same value in a param group is checked too.
    with pytest.raises(ValueError, match=match):
        getattr(optim, name)([{"params": [Parameter(np.ones(2))], **kw}])


def test_bad_params():
    p = Parameter(np.ones(2))
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([])
    with pytest.raises(TypeError, match="iterable of Parameters"):
        optim.SGD(p)
    with pytest.raises(TypeError, match="can only optimize Parameters"):
        optim.SGD([np.ones(2)])
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": {p}}])
    with pytest.raises(ValueError, match="duplicate"):
        optim.SGD([p, p])
    opt = optim.SGD([p])
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [p]})


def test_add_param_group_fills_defaults_and_steps():
    p, q = Parameter(np.ones(2)), Parameter(np.ones(2))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": q, "lr": 0.5})
    assert opt.param_groups[1]["momentum"] == 0.9 and opt.param_groups[1]["params"] == [q]
    p.grad[...] = q.grad[...] = 1.0
    opt.step()
    np.testing.assert_allclose(p.data, 0.9)
    np.testing.assert_allclose(q.data, 0.5)


def test_defaults_match_torch():
    for name in ["SGD", "Adam", "AdamW", "RMSprop"]:
        ours = getattr(optim, name)([Parameter(np.ones(1))]).defaults
        theirs = getattr(torch.optim, name)([torch.ones(1, requires_grad=True)]).defaults
        for key, value in ours.items():
            assert theirs[key] == value, (name, key)


def test_get_by_name():
    p = Parameter(np.ones(2))
    opt = optim.get("AdamW", [p], lr=0.5)
    assert type(opt) is optim.AdamW and opt.param_groups[0]["lr"] == 0.5
    for name, cls in [("sgd", optim.SGD), ("ADAM", optim.Adam), ("RMSprop", optim.RMSprop)]:
        assert type(optim.get(name, [Parameter(np.ones(1))])) is cls
    with pytest.raises(ValueError, match="'sgd', 'adam', 'adamw', 'rmsprop'"):
        optim.get("adagrad", [p])
