"""Learning-rate schedulers: the same lr (and momentum) sequences as torch.optim.lr_scheduler."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from glassnet import optim
from glassnet.nn.parameter import Parameter
from glassnet.optim import lr_scheduler

torch = pytest.importorskip("torch")


def make_pair(opt_name="SGD", lrs=(0.1, 0.03), **opt_kw):
    """Our optimizer and torch's, with one param group per lr."""
    ours = optim.__dict__[opt_name](
        [{"params": [Parameter(np.ones(2))], "lr": lr} for lr in lrs], **opt_kw
    )
    theirs = getattr(torch.optim, opt_name)(
        [{"params": [torch.ones(2, requires_grad=True)], "lr": lr} for lr in lrs], **opt_kw
    )
    return ours, theirs


def momenta(opt):
    return [g["betas"][0] if "betas" in g else g.get("momentum") for g in opt.param_groups]


def assert_same_schedule(opt, topt, sched, tsched):
    """Exact equality: the recursions do the same float operations as PyTorch's."""
    assert sched.get_last_lr() == tsched.get_last_lr()
    assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in topt.param_groups]
    assert momenta(opt) == momenta(topt)
    assert sched.last_epoch == tsched.last_epoch


def run_both(name, kw, steps, opt_name="SGD", lrs=(0.1, 0.03), **opt_kw):
    opt, topt = make_pair(opt_name, lrs, **opt_kw)
    sched = getattr(lr_scheduler, name)(opt, **kw)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kw)
    assert [g["initial_lr"] for g in opt.param_groups] == [
        g["initial_lr"] for g in topt.param_groups
    ]
    assert_same_schedule(opt, topt, sched, tsched)
    for _ in range(steps):
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
        assert_same_schedule(opt, topt, sched, tsched)
    return opt, sched


rng = np.random.default_rng(0)
SCHEDULES = [
    ("StepLR", {"step_size": int(rng.integers(2, 7)), "gamma": float(rng.uniform(0.1, 0.9))}, 40),
    ("MultiStepLR", {"milestones": [3, 7, 7, 15], "gamma": float(rng.uniform(0.1, 0.9))}, 30),
    ("ExponentialLR", {"gamma": float(rng.uniform(0.8, 0.99))}, 40),
    ("CosineAnnealingLR", {"T_max": int(rng.integers(5, 12))}, 50),
    ("CosineAnnealingLR", {"T_max": 10, "eta_min": float(rng.uniform(1e-4, 1e-2))}, 45),
    ("OneCycleLR", {"max_lr": 0.5, "total_steps": 37}, 37),
    ("OneCycleLR", {"max_lr": [0.4, 0.2], "epochs": 4, "steps_per_epoch": 9}, 36),
    ("OneCycleLR", {"max_lr": 0.3, "total_steps": 50, "anneal_strategy": "linear"}, 50),
    ("OneCycleLR", {"max_lr": 0.3, "total_steps": 41, "three_phase": True, "pct_start": 0.25}, 41),
    ("OneCycleLR", {"max_lr": 0.3, "total_steps": 20, "cycle_momentum": False}, 20),
    ("OneCycleLR", {"max_lr": 0.3, "total_steps": 25, "div_factor": 8, "final_div_factor": 90}, 25),
    (
        "OneCycleLR",
        {"max_lr": 0.2, "total_steps": 30, "base_momentum": [0.8, 0.7], "max_momentum": 0.9},
        30,
    ),
]


@pytest.mark.parametrize("case", range(len(SCHEDULES)))
def test_matches_torch_with_sgd(case):
    name, kw, steps = SCHEDULES[case]
    run_both(name, kw, steps, "SGD", momentum=0.9)


@pytest.mark.parametrize("opt_name", ["Adam", "AdamW", "RMSprop"])
def test_onecycle_cycles_adam_beta1_and_rmsprop_momentum(opt_name):
    opt, _ = run_both("OneCycleLR", {"max_lr": 3e-3, "total_steps": 25}, 25, opt_name)
    if opt_name != "RMSprop":
        assert opt.param_groups[0]["betas"][1] == 0.999  # beta2 untouched


def test_lambda_lr_matches_torch():
    kw = {"lr_lambda": [lambda e: 0.95**e, lambda e: 1.0 / (1 + e)]}
    run_both("LambdaLR", kw, 20)


def test_multistep_recursion_equals_closed_form():
    opt, _ = make_pair()
    sched = lr_scheduler.MultiStepLR(opt, milestones=[2, 5, 5, 9], gamma=0.5)
    for _ in range(12):
        opt.step()
        sched.step()
        np.testing.assert_allclose(sched.get_last_lr(), sched._closed_form_lr(), rtol=1e-15)


def test_cosine_recursion_equals_closed_form():
    opt, _ = make_pair()
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=8, eta_min=1e-3)
    for _ in range(30):
        opt.step()
        sched.step()
        np.testing.assert_allclose(sched.get_last_lr(), sched._closed_form_lr(), rtol=1e-12)


def test_construction_sets_initial_lr_and_step_zero():
    opt, _ = make_pair(lrs=(0.1,))
    sched = lr_scheduler.StepLR(opt, step_size=2)
    assert opt.param_groups[0]["initial_lr"] == 0.1 and sched.base_lrs == [0.1]
    assert sched.last_epoch == 0 and sched.get_last_lr() == [0.1]
    one = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10)
    assert opt.param_groups[0]["initial_lr"] == 1.0 / 25
    assert opt.param_groups[0]["lr"] == pytest.approx(1.0 / 25, rel=1e-14)
    assert opt.param_groups[0]["momentum"] == 0.95 and one.last_epoch == 0


def test_onecycle_past_total_steps_raises_like_torch():
    opt, topt = make_pair(momentum=0.9)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=12)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.1, total_steps=12)
    for _ in range(12):
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
    with pytest.raises(ValueError, match="Tried to step 13 times"):
        tsched.step()
    with pytest.raises(ValueError, match="Tried to step 13 times. The specified number of total"):
        sched.step()


PLATEAUS = [
    {},
    {"patience": 2, "factor": 0.5},
    {"patience": 1, "cooldown": 3, "factor": 0.3, "min_lr": 1e-3},
    {"mode": "max", "patience": 2, "threshold": 0.05, "threshold_mode": "abs"},
    {"mode": "max", "patience": 0, "min_lr": [0.01, 0.02]},
    {"patience": 3, "threshold_mode": "abs", "threshold": 0.1, "cooldown": 1, "eps": 1e-3},
]


@pytest.mark.parametrize("case", range(len(PLATEAUS)))
def test_reduce_on_plateau_matches_torch(case):
    kw = PLATEAUS[case]
    rng = np.random.default_rng(100 + case)
    # A noisy metric that improves, then plateaus, then improves a little again.
    metrics = np.concatenate(
        [np.linspace(1.0, 0.5, 10), np.full(25, 0.5), np.linspace(0.5, 0.4, 10)]
    ) + 0.02 * rng.standard_normal(45)
    opt, topt = make_pair()
    sched = lr_scheduler.ReduceLROnPlateau(opt, **kw)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
    assert "initial_lr" not in opt.param_groups[0]
    lrs = set()
    for m in metrics:
        sched.step(m)
        tsched.step(m)
        assert sched.get_last_lr() == tsched.get_last_lr()
        for attr in ["best", "num_bad_epochs", "cooldown_counter", "last_epoch"]:
            assert getattr(sched, attr) == getattr(tsched, attr), attr
        lrs.add(sched.get_last_lr()[0])
    assert len(lrs) > 1  # the schedule did reduce


ROUND_TRIPS = [
    ("StepLR", {"step_size": 3, "gamma": 0.5}, "SGD"),
    ("MultiStepLR", {"milestones": [2, 6, 9]}, "SGD"),
    ("ExponentialLR", {"gamma": 0.9}, "Adam"),
    ("CosineAnnealingLR", {"T_max": 7, "eta_min": 0.001}, "SGD"),
    ("OneCycleLR", {"max_lr": 0.2, "total_steps": 20}, "SGD"),
    ("OneCycleLR", {"max_lr": 0.01, "total_steps": 20, "three_phase": True}, "Adam"),
    ("LambdaLR", {"lr_lambda": lambda e: 1.0 / (1 + e)}, "SGD"),
]


@pytest.mark.parametrize("case", range(len(ROUND_TRIPS)))
def test_state_dict_round_trip(case):
    name, kw, opt_name = ROUND_TRIPS[case]
    opt_kw = {"momentum": 0.9} if opt_name == "SGD" else {}
    opt_a, _ = make_pair(opt_name, **opt_kw)
    sched_a = getattr(lr_scheduler, name)(opt_a, **kw)
    for _ in range(8):
        opt_a.step()
        sched_a.step()
    saved_opt, saved_sched = opt_a.state_dict(), sched_a.state_dict()
    assert "optimizer" not in saved_sched

    # Resume, in PyTorch's recommended order: scheduler, then optimizer, then scheduler state.
    opt_b, _ = make_pair(opt_name, **opt_kw)
    sched_b = getattr(lr_scheduler, name)(opt_b, **kw)
    opt_b.load_state_dict(saved_opt)
    sched_b.load_state_dict(saved_sched)
    assert sched_b.get_last_lr() == sched_a.get_last_lr()
    for _ in range(10):
        for opt, sched in [(opt_a, sched_a), (opt_b, sched_b)]:
            opt.step()
            sched.step()
        assert sched_b.get_last_lr() == sched_a.get_last_lr()
        assert momenta(opt_b) == momenta(opt_a)
        assert sched_b.last_epoch == sched_a.last_epoch


def test_plateau_state_dict_round_trip():
    opt_a, _ = make_pair()
    sched_a = lr_scheduler.ReduceLROnPlateau(opt_a, patience=1, cooldown=2)
    metrics = [1.0, 0.9, 0.9, 0.9, 0.9, 0.95, 0.8, 0.85, 0.85, 0.85, 0.85, 0.85]
    for m in metrics[:5]:
        sched_a.step(m)
    saved = sched_a.state_dict()
    opt_b, _ = make_pair()
    opt_b.load_state_dict(opt_a.state_dict())
    sched_b = lr_scheduler.ReduceLROnPlateau(opt_b)
    sched_b.load_state_dict(saved)
    for m in metrics[5:]:
        sched_a.step(m)
        sched_b.step(m)
        assert sched_a.get_last_lr() == sched_b.get_last_lr()
        assert sched_a.cooldown_counter == sched_b.cooldown_counter


def test_state_dict_is_a_copy_and_lambdas_are_skipped():
    opt, _ = make_pair()
    sched = lr_scheduler.MultiStepLR(opt, milestones=[1, 2])
    sd = sched.state_dict()
    sd["base_lrs"][0] = 42.0
    sd["milestones"][5] = 1
    assert sched.base_lrs[0] == 0.1 and 5 not in sched.milestones

    class Warmup:
        def __init__(self):
            self.factor = 0.5

        def __call__(self, epoch):
            return self.factor * (epoch + 1)

    warm = Warmup()
    lam = lr_scheduler.LambdaLR(opt, [lambda e: 1.0, warm])
    sd = lam.state_dict()
    assert sd["lr_lambdas"] == [None, {"factor": 0.5}]
    copy.deepcopy(sd)  # plain data only
    warm.factor = 9.0
    lam.load_state_dict(sd)
    assert warm.factor == 0.5


def test_scheduler_errors():
    opt, _ = make_pair(momentum=0.9)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        lr_scheduler.StepLR(object(), step_size=2)
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(opt, step_size=2, last_epoch=4)
    with pytest.raises(ValueError, match="either total_steps OR"):
        lr_scheduler.OneCycleLR(opt, max_lr=0.1)
    with pytest.raises(ValueError, match="positive integer total_steps"):
        lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=0)
    with pytest.raises(ValueError, match="positive integer epochs"):
        lr_scheduler.OneCycleLR(opt, max_lr=0.1, epochs=-1, steps_per_epoch=3)
    with pytest.raises(ValueError, match="pct_start"):
        lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10, pct_start=1.5)
    with pytest.raises(ValueError, match="anneal_strategy"):
        lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10, anneal_strategy="step")
    with pytest.raises(ValueError, match="max_lr must have the same length"):
        lr_scheduler.OneCycleLR(opt, max_lr=[0.1, 0.2, 0.3], total_steps=10)
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 1"):
        lr_scheduler.LambdaLR(opt, [lambda e: 1.0])
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        lr_scheduler.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode sideways is unknown"):
        lr_scheduler.ReduceLROnPlateau(opt, mode="sideways")
    with pytest.raises(ValueError, match="threshold mode rel2 is unknown"):
        lr_scheduler.ReduceLROnPlateau(opt, threshold_mode="rel2")
    with pytest.raises(ValueError, match="expected 2 min_lrs, got 3"):
        lr_scheduler.ReduceLROnPlateau(opt, min_lr=[0, 0, 0])

    class Plain(optim.Optimizer):  # an optimizer with neither momentum nor betas
        def __init__(self, params):
            super().__init__(params, {"lr": 0.1})

    with pytest.raises(ValueError, match="must support momentum or beta1"):
        lr_scheduler.OneCycleLR(Plain([Parameter(np.ones(1))]), max_lr=0.1, total_steps=5)


def test_exports():
    for name in lr_scheduler.__all__:
        assert getattr(optim, name) is getattr(lr_scheduler, name)
        assert hasattr(torch.optim.lr_scheduler, name)
    assert optim.lr_scheduler is lr_scheduler


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda o: lr_scheduler.StepLR(o, step_size=0), "step_size must be a whole number"),
        (lambda o: lr_scheduler.StepLR(o, step_size=1.5), "step_size must be a whole number"),
        (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=0), "T_max must be positive, got 0"),
    ],
)
def test_periods_that_would_divide_by_zero_are_refused_up_front(make, message):
    opt = optim.SGD([Parameter(np.zeros(2, np.float32))], lr=0.1)
    with pytest.raises(ValueError, match=message):
        make(opt)
