"""The model zoo: every model builds, has its documented size and shape, converts to PyTorch
with the same outputs, resolves study short names, adapts to other inputs, seeds reproducibly."""

from __future__ import annotations

import numpy as np
import pytest

import glassnet
from glassnet import models, nn

# Parameter counts, worked out from the architectures (weights + biases):
EXPECTED_PARAMS = {
    # 64*30+30 + 30*10+10
    "digits-baseline": 2_260,
    # conv 1*18*9+18 = 180; 18*8*8=1152 -> 64: 73,792; 64 -> 10: 650
    "digits-cnn": 74_622,
    # 180; pooled 18*4*4=288 -> 64: 18,496; 650
    "digits-cnn-pool": 19_326,
    # 180; (64 raw + 288 pooled) -> 64: 22,592; 650
    "digits-cnn-pool-skip": 23_422,
    # 3072*100+100 + 100*10+10
    "cifar10-baseline": 308_310,
    # conv 3*18*9+18 = 504; 18*32*32 -> 64: 1,179,712; 650
    "cifar10-cnn": 1_180_866,
    # 504; 18*16*16 -> 64: 294,976; 650
    "cifar10-cnn-pool": 296_130,
    # 504; (3072 + 4608) -> 64: 491,584; 650
    "cifar10-cnn-pool-skip": 492_738,
    "mnist-mlp": 101_770,  # 784*128+128 + 128*10+10
    "lenet5": 61_706,  # 156 + 2,416 + 48,120 + 10,164 + 850
    "resnet8": 78_042,
    "resnet20": 272_474,  # He et al. report ~0.27M
}
# torchvision's architectures at 1000 classes (torchvision's documented sizes); their
# weight files and outputs are tested against torch in test_torchvision_models.py
# whitening 24*3*4+24 = 312; 3x3 convs 24*64*9 + 64*64*9 + 64*256*9 + 3*256*256*9 =
# 1,967,616; BatchNorm 2*(2*64 + 4*256) = 2,304; head 256*10 = 2,560
EXPECTED_PARAMS["airbench"] = 1_972_792
TORCHVISION_PARAMS = {"alexnet": 61_100_840, "resnet18": 11_689_512}


def sample_input(model_name, n=3, seed=0):
    shape = models.info(model_name)["input_shape"]
    return np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)


def test_the_zoo_lists_every_model():
    assert models.list() == sorted(EXPECTED_PARAMS | TORCHVISION_PARAMS)


@pytest.mark.parametrize("name", sorted(TORCHVISION_PARAMS))
def test_torchvision_architectures_have_torchvisions_sizes(name):
    assert models.get(name, seed=0).num_parameters() == TORCHVISION_PARAMS[name]
    assert models.list_models() == models.list()


@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMS))
def test_parameter_count_and_output_shape(name):
    model = models.get(name, seed=0)
    assert model.num_parameters() == EXPECTED_PARAMS[name]
    assert sum(p.data.size for p in model.parameters()) == EXPECTED_PARAMS[name]
    info = models.info(name)
    assert info["parameters"] == EXPECTED_PARAMS[name]
    assert info["description"] and info["source"]
    x = sample_input(name)
    model.eval()
    out = model(x)
    assert out.shape == (3, 10) and out.dtype == np.float32
    assert np.isfinite(out).all()


@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMS))
def test_to_torch_gives_the_same_outputs_in_eval_mode(name):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    from glassnet.interop.torch import to_torch

    model = models.get(name, seed=0)
    x = sample_input(name, n=4)
    model.train()
    model(x * 2 + 0.5)  # non-trivial BatchNorm running statistics (ResNets)
    model.eval()
    ours = model(x)
    tm = to_torch(model)
    assert not tm.training
    assert sum(p.numel() for p in tm.parameters()) == EXPECTED_PARAMS[name]
    with torch.no_grad():
        theirs = tm(torch.from_numpy(x)).numpy()
    assert theirs.shape == ours.shape
    scale = max(1.0, float(np.abs(theirs).max()))
    assert float(np.abs(ours - theirs).max()) <= 1e-4 * scale
    np.testing.assert_array_equal(ours.argmax(1), theirs.argmax(1))


def test_lenet5_layers():
    shapes = {k: v.shape for k, v in models.get("lenet5").state_dict().items()}
    assert shapes == {
        "0.weight": (6, 1, 5, 5),
        "0.bias": (6,),
        "3.weight": (16, 6, 5, 5),
        "3.bias": (16,),
        "7.weight": (120, 400),
        "7.bias": (120,),
        "9.weight": (84, 120),
        "9.bias": (84,),
        "11.weight": (10, 84),
        "11.bias": (10,),
    }


@pytest.mark.parametrize(("name", "convs"), [("resnet8", 7 + 2), ("resnet20", 19 + 2)])
def test_resnet_depth(name, convs):
    # 6n+1 3x3 convs + the classifier = depth; plus two 1x1 projection shortcuts
    model = models.get(name)
    mods = list(model.modules())
    assert sum(isinstance(m, nn.Conv2d) for m in mods) == convs
    assert sum(isinstance(m, nn.BatchNorm2d) for m in mods) == convs
    assert sum(isinstance(m, nn.Linear) for m in mods) == 1
    assert sum(isinstance(m, nn.Residual) for m in mods) == (convs - 3) // 2
    with pytest.raises(ValueError, match="6n\\+2"):
        models.get("resnet8", depth=10)


@pytest.mark.parametrize(
    ("name", "dataset", "expected"),
    [
        ("cnn", "digits", "digits-cnn"),
        ("baseline", "digits", "digits-baseline"),
        ("cnn-pool-skip", "cifar10", "cifar10-cnn-pool-skip"),
        ("CNN_Pool", "digits", "digits-cnn-pool"),
        ("cnn", None, "digits-cnn"),
        ("cnn-pool", "mnist", "cnn-pool"),  # no registered variant: the builder adapts
        ("lenet5", "digits", "lenet5"),
        ("resnet8", "cifar10", "resnet8"),
    ],
)
def test_study_short_names_resolve_per_dataset(name, dataset, expected):
    assert models.resolve(name, dataset) == expected


def test_unknown_model_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown model 'lenet6'") as info:
        models.get("lenet6")
    for name in ("lenet5", "resnet20", "digits-cnn-pool-skip", "mnist-mlp"):
        assert name in str(info.value)
    assert "short names baseline, cnn, cnn-pool, cnn-pool-skip" in str(info.value)
    with pytest.raises(ValueError, match="unknown model"):
        models.resolve("transformer", "digits")


@pytest.mark.parametrize(
    ("typo", "nearest"),
    [
        ("mnist_mpl", "mnist-mlp"),
        ("lenet", "lenet5"),
        ("resnet-8", "resnet8"),
        ("cnnpool", "cnn-pool"),
    ],
)
def test_an_unknown_model_name_suggests_the_nearest(typo, nearest):
    with pytest.raises(
        ValueError, match=f"unknown model '{typo}' \\(did you mean '{nearest}'\\?\\)"
    ):
        models.get(typo)


def test_a_name_like_no_model_gets_no_suggestion():
    with pytest.raises(ValueError) as info:
        models.get("transformer")
    assert "did you mean" not in str(info.value)


def test_unknown_option_lists_the_accepted_ones():
    with pytest.raises(ValueError, match=r"no option\(s\) \['dropout'\].*\['filters', 'hidden'\]"):
        models.get("digits-cnn", dropout=0.5)
    with pytest.raises(ValueError, match="no option"):
        models.get("lenet5", filters=10)
    with pytest.raises(ValueError, match="two widths"):
        models.get("lenet5", hidden=10)


def test_options_change_the_architecture():
    model = models.get("digits-cnn", filters=4, hidden=16)
    # conv 1*4*9+4 = 40; 4*64 -> 16: 4,112; 16 -> 10: 170
    assert model.num_parameters() == 40 + 4_112 + 170
    assert models.get("digits-baseline", hidden=5).num_parameters() == 64 * 5 + 5 + 5 * 10 + 10
    assert model.zoo_spec["options"] == {"filters": 4, "hidden": 16}
    baseline = models.get("digits-baseline")
    assert baseline.zoo_spec["options"] == {"hidden": 30, "activation": "sigmoid"}


def test_a_saved_model_records_every_option_and_rebuilds_as_saved(tmp_path, monkeypatch):
    """zoo_spec spells out the defaults too, so a default changed in a later version
    (here: the registry's hidden width, and a builder's own default) does not change
    what a file saved before it rebuilds as."""
    import dataclasses

    from glassnet.models import zoo

    model = models.get("digits-baseline", seed=0)
    lenet = models.get("lenet5", seed=0)
    assert lenet.zoo_spec["options"] == {"channels": (6, 16), "hidden": (120, 84)}
    glassnet.save(model, tmp_path / "baseline.safetensors")
    glassnet.save(lenet, tmp_path / "lenet5.safetensors")
    spec = zoo._REGISTRY["digits-baseline"]
    wider = dataclasses.replace(spec, defaults=(("hidden", 31),))
    monkeypatch.setitem(zoo._REGISTRY, "digits-baseline", wider)
    monkeypatch.setattr(zoo.lenet5, "__defaults__", ((8, 16), (120, 84)))
    # the changes bite on a fresh model...
    assert models.get("digits-baseline").num_parameters() != model.num_parameters()
    assert models.get("lenet5").num_parameters() != lenet.num_parameters()
    for saved, path in ((model, "baseline.safetensors"), (lenet, "lenet5.safetensors")):
        back = glassnet.load(tmp_path / path)  # ...but not on the saved ones
        assert back.num_parameters() == saved.num_parameters()
        x = np.random.default_rng(0).standard_normal((2, *saved.zoo_spec["input_shape"]))
        np.testing.assert_array_equal(back(x.astype(np.float32)), saved(x.astype(np.float32)))


def test_adapting_to_other_inputs_and_classes():
    model = models.get("cnn-pool", input_shape=(3, 32, 32))
    assert model.num_parameters() == EXPECTED_PARAMS["cifar10-cnn-pool"]
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)
    assert model(x).shape == (2, 10)
    skip = models.get("cnn-pool-skip", input_shape=(1, 28, 28), num_classes=3)
    # conv 180; (784 + 18*14*14) -> 64; 64 -> 3
    assert skip.num_parameters() == 180 + (784 + 3528) * 64 + 64 + 64 * 3 + 3
    assert skip(np.zeros((5, 1, 28, 28), np.float32)).shape == (5, 3)
    lenet = models.get("lenet5", input_shape=(3, 32, 32))  # CIFAR: no padding
    assert lenet(np.zeros((1, 3, 32, 32), np.float32)).shape == (1, 10)
    resnet = models.get("resnet8", input_shape=(1, 8, 8))
    assert resnet(np.zeros((2, 1, 8, 8), np.float32)).shape == (2, 10)
    assert skip.zoo_spec == {
        "model": "digits-cnn-pool-skip",
        "options": {"filters": 18, "hidden": 64},  # the defaults, spelled out
        "input_shape": [1, 28, 28],
        "num_classes": 3,
    }


@pytest.mark.parametrize("shape", [(1, 28, 36), (3, 20, 32), (3, 70, 90)])
def test_every_zoo_model_runs_on_oblong_images(shape):
    """A model that builds for an input shape must also run on it (lenet5 sized its
    first Linear from the height alone)."""
    for name in models.list():
        if name == "airbench" and min(shape[1:]) < 25:
            with pytest.raises(ValueError, match="at least 25x25"):  # four poolings
                models.get(name, input_shape=shape, num_classes=4)
            continue
        if name in TORCHVISION_PARAMS and min(shape[1:]) < 63:
            with pytest.raises(ValueError, match="at least"):  # ImageNet designs
                models.get(name, input_shape=shape, num_classes=4)
            continue
        model = models.get(name, input_shape=shape, num_classes=4)
        assert model(np.zeros((2, *shape), np.float32)).shape == (2, 4), name


def test_impossible_shapes_are_value_errors():
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        models.get("digits-cnn", input_shape=(8, 8))
    with pytest.raises(ValueError, match="12x12"):
        models.get("lenet5", input_shape=(1, 8, 8))


def test_seed_makes_weights_reproducible():
    a = models.get("digits-cnn-pool-skip", seed=3).state_dict()
    b = models.get("digits-cnn-pool-skip", seed=3).state_dict()
    c = models.get("digits-cnn-pool-skip", seed=4).state_dict()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["1.weight"], c["1.weight"])
    # without seed=, glassnet.manual_seed decides
    glassnet.manual_seed(3)
    d = models.get("digits-cnn-pool-skip").state_dict()
    np.testing.assert_array_equal(a["1.weight"], d["1.weight"])


def test_rebuilding_from_the_zoo_spec():
    model = models.get("cnn", input_shape=(3, 16, 16), num_classes=4, hidden=8, seed=1)
    spec = model.zoo_spec
    twin = models.get(
        spec["model"],
        input_shape=spec["input_shape"],
        num_classes=spec["num_classes"],
        **spec["options"],
    )
    twin.load_state_dict(model.state_dict())
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)
    np.testing.assert_array_equal(model(x), twin(x))


def test_float64_models():
    model = models.get("digits-cnn-pool-skip", dtype=np.float64, seed=0)
    assert all(p.data.dtype == np.float64 for p in model.parameters())
    assert model(np.zeros((2, 1, 8, 8))).dtype == np.float64


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_classes=0), "num_classes must be a whole number, at least 1, got 0"),
        (dict(num_classes=2.5), "num_classes must be a whole number, at least 1, got 2.5"),
        (dict(input_shape=(1, 0, 28)), r"input_shape must be positive, got \(1, 0, 28\)"),
    ],
)
def test_get_refuses_class_counts_and_shapes_it_cannot_build(kwargs, message):
    """num_classes=0 had built the default 10 classes without a word."""
    with pytest.raises(ValueError, match=message):
        models.get("lenet5", **kwargs)
