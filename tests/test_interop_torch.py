"""glassnet.interop.torch: to_torch / from_torch build the same model with identical weights."""

from __future__ import annotations

import numpy as np
import pytest

from glassnet import nn

torch = pytest.importorskip("torch")
from glassnet.interop.torch import (  # noqa: E402
    TorchConcat,
    TorchResidual,
    from_torch,
    register,
    to_torch,
)

tnn = torch.nn


def lenet_like():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2),
        nn.Tanh(),
        nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.MaxPool2d(2, ceil_mode=True),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120),
        nn.BatchNorm1d(120, momentum=None),
        nn.LeakyReLU(0.1),
        nn.Dropout(0.25),
        nn.Linear(120, 10),
        nn.GELU("tanh"),
        nn.Linear(10, 10),
        nn.GELU(),
        nn.LogSoftmax(dim=1),
    )


def resnet_block_like():
    body = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 8, (3, 1), padding="same", bias=False),
        nn.BatchNorm2d(8, affine=False),
    )
    shortcut = nn.Sequential(nn.Conv2d(3, 8, 1, stride=2, bias=False), nn.BatchNorm2d(8))
    return nn.Sequential(
        nn.Residual(body, shortcut),
        nn.ReLU(),
        nn.Residual(nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=2), nn.Sigmoid())),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 4),
        nn.Softmax(dim=1),
    )


def concat_like():
    return nn.Sequential(
        nn.Unflatten(1, (1, 8, 8)),
        nn.Concat(
            nn.Flatten(),
            nn.Sequential(
                nn.Conv2d(1, 4, 3, padding="valid", dilation=2),
                nn.ReLU(),
                nn.MaxPool2d(2, stride=1, padding=1),
                nn.Flatten(),
            ),
            nn.Identity(),
        ),
        nn.Linear(64 + 4 * 5 * 5 + 64, 3),
    )


MODELS = {
    "lenet": (lenet_like, (1, 28, 28)),
    "resnet": (resnet_block_like, (3, 8, 8)),
    "concat": (concat_like, (64,)),
}


def perturb(model, rng):
    """Make every parameter and buffer non-default, so a lost value would show."""
    for p in model.parameters():
        p.data[...] = rng.standard_normal(p.shape)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean[...] = rng.standard_normal(m.num_features)
            m.running_var[...] = rng.uniform(0.5, 2, m.num_features)
            m.num_batches_tracked[...] = 7
    return model


def assert_same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        va = sa[k] if isinstance(sa[k], np.ndarray) else sa[k].numpy()
        vb = sb[k] if isinstance(sb[k], np.ndarray) else sb[k].numpy()
        assert va.dtype == vb.dtype, k
        assert va.tobytes() == vb.tobytes(), k


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(MODELS))
def test_round_trip_is_exact(name, dtype):
    make, shape = MODELS[name]
    model = perturb(make(), np.random.default_rng(0)).to(dtype)
    tmodel = to_torch(model)
    assert_same_state(model, tmodel)
    expected_dtype = torch.float64 if dtype == np.float64 else torch.float32
    assert all(p.dtype == expected_dtype for p in tmodel.parameters())
    back = from_torch(tmodel)
    assert_same_state(model, back)
    assert repr(back) == repr(model)
    assert back.dtype == dtype
    # the rebuilt models compute the same function (eval: dropout off, running stats)
    x = np.random.default_rng(1).standard_normal((2, *shape)).astype(dtype)
    model.eval()
    back.eval()
    tmodel.eval()
    np.testing.assert_array_equal(back(x), model(x))
    with torch.no_grad():
        ty = tmodel(torch.from_numpy(x)).numpy()
    tol = 1e-10 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(ty, model(x), rtol=tol, atol=tol)


def test_train_and_eval_mode_carried():
    model = lenet_like()
    assert to_torch(model).training
    model.eval()
    tmodel = to_torch(model)
    assert not any(m.training for m in tmodel.modules())
    back = from_torch(tmodel)
    assert not any(m.training for m in back.modules())
    tmodel.train()
    assert all(m.training for m in from_torch(tmodel).modules())


def test_each_submodules_mode_is_carried():
    """A BatchNorm frozen in eval mode inside a training model (fine-tuning) stays so,
    both ways, and the two models then compute the same thing."""
    from glassnet import models

    model = models.get("resnet8", seed=0).to(np.float64)
    frozen = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)][::2]
    for m in frozen:
        m.eval()
    tmodel = to_torch(model)
    modes = {name: m.training for name, m in model.named_modules()}
    assert {name: m.training for name, m in tmodel.named_modules()} == modes
    assert {name: m.training for name, m in from_torch(tmodel).named_modules()} == modes
    x = np.random.default_rng(0).standard_normal((4, 3, 32, 32))
    np.testing.assert_allclose(
        model(x), tmodel(torch.from_numpy(x)).detach().numpy(), rtol=1e-10, atol=1e-10
    )


def test_torch_names_and_hyperparameters():
    tmodel = to_torch(resnet_block_like())
    assert isinstance(tmodel[0], TorchResidual) and tmodel[2].shortcut is None
    conv = tmodel[0].body[3]
    assert conv.padding == "same" and conv.kernel_size == (3, 1) and conv.bias is None
    assert tmodel[2].body[0].groups == 2
    assert not tmodel[0].body[4].affine
    lenet = to_torch(lenet_like())
    assert lenet[6].ceil_mode and lenet[9].momentum is None and lenet[11].p == 0.25
    concat = to_torch(concat_like())
    assert isinstance(concat[1], TorchConcat)
    assert getattr(concat[1], "1")[0].dilation == (2, 2)


def test_from_torch_of_a_plain_torch_model():
    torch.manual_seed(0)
    tmodel = tnn.Sequential(
        tnn.Conv2d(3, 4, 3, stride=2, padding=(1, 0)),
        tnn.BatchNorm2d(4),
        tnn.ReLU(),
        tnn.AvgPool2d(2, count_include_pad=False, padding=1, divisor_override=3),
        tnn.Flatten(),
        tnn.Linear(4 * 3 * 2, 5),
    ).double()
    model = from_torch(tmodel)
    assert model.dtype == np.float64
    assert model[3].divisor_override == 3 and not model[3].count_include_pad
    assert_same_state(model, tmodel)
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 8))
    np.testing.assert_allclose(model(x), tmodel(torch.from_numpy(x)).detach().numpy(), rtol=1e-10)


def test_batchnorm_without_affine_keeps_float64_both_ways():
    model = nn.Sequential(nn.BatchNorm1d(3, affine=False)).to(np.float64)
    model[0].running_mean[...] = [0.1, 0.2, 0.3]
    tmodel = to_torch(model)
    assert tmodel[0].running_mean.dtype == torch.float64
    back = from_torch(tmodel)
    assert back[0].running_mean.dtype == np.float64
    assert_same_state(model, back)


def test_converted_models_are_independent_copies():
    model = lenet_like()
    tmodel = to_torch(model)
    with torch.no_grad():
        tmodel[0].weight.add_(1)
    assert not np.array_equal(model[0].weight.data, tmodel[0].weight.detach().numpy())
    back = from_torch(tmodel)
    tmodel[0].weight.data.zero_()
    assert np.any(back[0].weight.data != 0)


def test_unknown_layer_is_a_helpful_type_error():
    class Swish(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match=r"Swish.*register"):
        to_torch(nn.Sequential(nn.Linear(2, 2), Swish()))

    class TorchOnly(tnn.Module):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match=r"TorchOnly.*register"):
        from_torch(tnn.Sequential(tnn.Linear(2, 2), TorchOnly()))
    with pytest.raises(TypeError, match="SiLU"):
        from_torch(tnn.Sequential(tnn.SiLU()))


def test_unsupported_torch_options_are_refused():
    with pytest.raises(TypeError, match="padding_mode"):
        from_torch(tnn.Conv2d(1, 1, 3, padding=1, padding_mode="reflect"))
    with pytest.raises(TypeError, match="float32/float64"):
        from_torch(tnn.Linear(2, 2).half())


def test_register_teaches_a_new_layer():
    class Scale(nn.Module):
        def forward(self, x):
            return 2 * x

    class TorchScale(tnn.Module):
        def forward(self, x):
            return 2 * x

    register(Scale, to_torch=lambda m: TorchScale(), from_torch=(TorchScale, lambda m: Scale()))
    tmodel = to_torch(nn.Sequential(nn.Linear(2, 2), Scale()))
    assert isinstance(tmodel[1], TorchScale)
    assert isinstance(from_torch(tmodel)[1], Scale)


def test_batchnorm_without_bias_is_refused_clearly():
    try:
        bn = tnn.BatchNorm1d(3, bias=False)
    except TypeError:
        pytest.skip("this torch has no BatchNorm(bias=...)")
    with pytest.raises(TypeError, match="bias=False"):
        from_torch(bn)


@pytest.mark.parametrize(
    "make",
    [
        lambda lib, p: lib.Adam(p, lr=0.01, weight_decay=0.1, amsgrad=True),
        lambda lib, p: lib.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
        lambda lib, p: lib.RMSprop(p, lr=0.01, momentum=0.5, centered=True),
    ],
    ids=["adam", "sgd", "rmsprop"],
)
def test_optimizer_state_dict_from_torch_resumes_the_same_steps(make):
    """A torch optimizer's state_dict (tensors, Adam's step a 0-d tensor, torch-only
    group keys such as 'foreach') loads into the glassnet optimizer, and the next steps
    match torch's."""
    from glassnet import optim

    ours = nn.Linear(3, 2).to(np.float64)
    theirs = to_torch(ours)
    t_opt = make(torch.optim, theirs.parameters())
    x = torch.tensor(np.random.default_rng(0).standard_normal((5, 3)))

    def torch_step():
        t_opt.zero_grad()
        theirs(x).pow(2).sum().backward()
        t_opt.step()

    for _ in range(3):
        torch_step()
    ours.load_state_dict(theirs.state_dict())
    opt = make(optim, ours.parameters())
    opt.load_state_dict(t_opt.state_dict())
    for _ in range(2):
        torch_step()
        opt.zero_grad()
        y = ours(x.numpy())
        ours.backward(2 * y)
        opt.step()
    for p, tp in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_batchnorm_state_without_num_batches_tracked_loads_like_torch():
    """Older PyTorch checkpoints lack the counter: torch keeps the module's own (here
    7), and so does glassnet, also on a partial load that does not mention it."""
    theirs = tnn.BatchNorm2d(3)
    theirs.train()(torch.randn(4, 3, 5, 5))
    state = {k: v for k, v in theirs.state_dict().items() if k != "num_batches_tracked"}
    ours = nn.BatchNorm2d(3)
    ours.num_batches_tracked[...] = 7
    missing, unexpected = ours.load_state_dict(state)
    counted = tnn.BatchNorm2d(3)
    counted.num_batches_tracked.fill_(7)
    counted.load_state_dict(state)
    assert missing == [] and unexpected == []
    assert int(ours.num_batches_tracked) == int(counted.num_batches_tracked) == 7
    net = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    net[1].num_batches_tracked[...] = 5
    net.load_state_dict({"0.weight": np.eye(3), "0.bias": np.zeros(3)}, strict=False)
    assert int(net[1].num_batches_tracked) == 5
    np.testing.assert_array_equal(ours.running_var, theirs.running_var.numpy())
