"""Bad input: clear errors that name the layer and the shapes, dtype rules, bad arguments."""

from __future__ import annotations

import re

import numpy as np
import pytest

from glassnet import nn


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120),
        nn.BatchNorm1d(120),
        nn.Tanh(),
        nn.Linear(120, 10),
    )


# ----------------------------------------------------------------------------- shapes
SHAPE_ERRORS = [
    # module, input shape, words the message must contain
    (lambda: nn.Linear(4, 3), (2, 5), ["Linear", "4", "(2, 5)"]),
    (lambda: nn.Linear(4, 3), (4,), ["Linear", "in_features", "(4,)"]),
    (lambda: nn.Linear(4, 3), (2, 3, 7), ["Linear", "4", "(2, 3, 7)"]),
    (lambda: nn.Conv2d(3, 8, 3), (3, 8, 8), ["Conv2d", "(N, C_in, H, W)", "(3, 8, 8)"]),
    (lambda: nn.Conv2d(3, 8, 3), (2, 4, 8, 8), ["Conv2d", "3", "(2, 4, 8, 8)"]),
    (lambda: nn.Conv2d(3, 8, 5), (2, 3, 3, 3), ["Conv2d", "(2, 3, 3, 3)", "too small"]),
    (lambda: nn.Conv2d(2, 2, 3, dilation=3), (1, 2, 6, 9), ["Conv2d", "(1, 2, 6, 9)"]),
    (lambda: nn.MaxPool2d(2), (2, 5, 5), ["MaxPool2d", "(N, C, H, W)", "(2, 5, 5)"]),
    (lambda: nn.MaxPool2d(3), (2, 1, 2, 2), ["MaxPool2d", "(2, 1, 2, 2)", "too small"]),
    (lambda: nn.AvgPool2d(2), (5, 5), ["AvgPool2d", "(N, C, H, W)", "(5, 5)"]),
    (lambda: nn.AdaptiveAvgPool2d(2), (2, 5), ["AdaptiveAvgPool2d", "(2, 5)"]),
    (lambda: nn.BatchNorm2d(3), (2, 4, 5, 5), ["BatchNorm2d", "3", "(2, 4, 5, 5)"]),
    (lambda: nn.BatchNorm2d(3), (2, 3, 5), ["BatchNorm2d", "(N, C, H, W)", "(2, 3, 5)"]),
    (lambda: nn.BatchNorm1d(3), (2, 3, 5, 5), ["BatchNorm1d", "(N, C)", "(2, 3, 5, 5)"]),
    (lambda: nn.BatchNorm1d(3), (4, 2), ["BatchNorm1d", "3", "(4, 2)"]),
    (lambda: nn.BatchNorm1d(3), (1, 3), ["BatchNorm1d", "more than 1 value", "(1, 3)"]),
    (lambda: nn.Unflatten(1, (2, 2)), (2, 5), ["Unflatten", "(2, 2)", "5"]),
    (lambda: nn.Flatten(2, 1), (2, 3, 4), ["Flatten", "(2, 3, 4)"]),
    (lambda: nn.Softmax(dim=3), (2, 3), ["dim 3", "2-D"]),
    (lambda: nn.Residual(nn.Linear(4, 3)), (2, 4), ["Residual", "(2, 3)", "(2, 4)"]),
    (lambda: lenet5(), (2, 1, 28, 27), ["Linear", "400", "(2, 320)"]),
    (lambda: lenet5(), (2, 3, 28, 28), ["Conv2d", "1", "(2, 3, 28, 28)"]),
]


@pytest.mark.parametrize("make, shape, words", SHAPE_ERRORS)
def test_wrong_shapes_name_layer_and_shapes(make, shape, words):
    with pytest.raises(ValueError) as info:
        make()(np.zeros(shape, dtype=np.float32))
    for word in words:
        assert word in str(info.value), f"{word!r} not in {str(info.value)!r}"


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda: nn.Flatten(3), (2, 3, 4)),  # a modulo would flatten the batch axis
        (lambda: nn.Flatten(-5, -1), (2, 3, 4)),
        (lambda: nn.Flatten(0, 3), (2, 3, 4)),
        (lambda: nn.Flatten(), (5,)),
        (lambda: nn.Unflatten(5, (2, 2)), (2, 3, 4)),
        (lambda: nn.Unflatten(-4, (2, 2)), (2, 3, 4)),
    ],
)
def test_dims_out_of_range_raise_index_error_like_torch(make, shape):
    module = make()
    with pytest.raises(IndexError, match=f"{type(module).__name__}: .*out of range"):
        module(np.zeros(shape, dtype=np.float32))


def test_unflatten_infers_one_minus_one_like_torch():
    x = np.arange(24, dtype=np.float32).reshape(2, 12)
    m = nn.Unflatten(1, (-1, 2, 3))
    assert m(x).shape == (2, 2, 2, 3)
    assert m.backward(np.ones((2, 2, 2, 3), np.float32)).shape == (2, 12)
    with pytest.raises(ValueError, match="cannot split dimension 1 of size 12"):
        nn.Unflatten(1, (-1, 5))(x)
    with pytest.raises(ValueError, match="at most one -1"):
        nn.Unflatten(1, (-1, -1))


@pytest.mark.parametrize(
    "loss, args, words",
    [
        (nn.CrossEntropyLoss(), (np.zeros((2, 3, 4)), [0, 1]), ["CrossEntropyLoss", "(2, 3, 4)"]),
        (nn.CrossEntropyLoss(), (np.zeros((2, 3)), [0, 1, 2]), ["(2,)", "(3,)"]),
        (nn.CrossEntropyLoss(), (np.zeros((2, 3)), np.zeros((2, 4))), ["(2, 3)", "(2, 4)"]),
        (nn.CrossEntropyLoss(), (np.zeros((2, 3)), np.array([0.5, 1.0])), ["integer"]),
        (nn.CrossEntropyLoss(weight=np.ones(4)), (np.zeros((2, 3)), [0, 1]), ["weight", "(4,)"]),
        (nn.NLLLoss(weight=np.ones(4)), (np.zeros((2, 3)), [0, 1]), ["weight", "(4,)"]),
        (nn.NLLLoss(), (np.zeros(3), [0]), ["NLLLoss", "(3,)"]),
        (nn.MSELoss(), (np.zeros((2, 3)), np.zeros((3, 2))), ["MSELoss", "(2, 3)", "(3, 2)"]),
    ],
)
def test_loss_shape_errors(loss, args, words):
    with pytest.raises(ValueError) as info:
        loss(*args)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("loss", [nn.CrossEntropyLoss(), nn.NLLLoss()])
@pytest.mark.parametrize("target, position", [([0, 3, 1], 1), ([0, 1, -2], 2), ([7, 0, 9], 0)])
def test_target_out_of_range_names_position(loss, target, position):
    with pytest.raises(ValueError, match=rf"target -?\d+ at position {position}\b.*3 classes"):
        loss(np.zeros((3, 3)), np.array(target))


def test_ignored_target_is_not_out_of_range():
    loss = nn.CrossEntropyLoss(ignore_index=-1)
    assert np.isfinite(loss(np.zeros((2, 3)), np.array([-1, 2])))


def test_torch_tensor_input_is_a_clear_type_error():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"numpy\(\)"):
        nn.Linear(4, 3)(torch.zeros(2, 4))


def test_object_array_is_refused():
    with pytest.raises(TypeError, match="object"):
        nn.ReLU()(np.array([[object()]]))


# ----------------------------------------------------------------------------- backward misuse
def small_modules():
    conv = nn.Conv2d(2, 3, 3, padding=1)
    return [
        (nn.Linear(4, 3), (2, 4)),
        (conv, (2, 2, 5, 5)),
        (nn.MaxPool2d(2), (2, 2, 4, 4)),
        (nn.AvgPool2d(2), (2, 2, 4, 4)),
        (nn.AdaptiveAvgPool2d(1), (2, 2, 4, 4)),
        (nn.AdaptiveAvgPool2d(3), (2, 2, 4, 5)),
        (nn.ReLU(), (2, 3)),
        (nn.LeakyReLU(), (2, 3)),
        (nn.Sigmoid(), (2, 3)),
        (nn.Tanh(), (2, 3)),
        (nn.Softmax(dim=1), (2, 3)),
        (nn.LogSoftmax(dim=1), (2, 3)),
        (nn.BatchNorm1d(3), (4, 3)),
        (nn.BatchNorm2d(2), (2, 2, 3, 3)),
        (nn.Dropout(0.5), (2, 3)),
        (nn.Flatten(), (2, 3, 2)),
        (nn.Unflatten(1, (3, 2)), (2, 6)),
        (nn.Identity(), (2, 3)),
        (nn.Sequential(nn.Linear(4, 3), nn.ReLU()), (2, 4)),
        (nn.Residual(nn.Linear(4, 4)), (2, 4)),
        (nn.Concat(nn.Flatten(), nn.Linear(4, 2)), (2, 4)),
    ]


MODULE_IDS = [type(m).__name__ for m, _ in small_modules()]


@pytest.mark.parametrize("index", range(len(MODULE_IDS)), ids=MODULE_IDS)
def test_backward_before_forward_is_a_clear_runtime_error(index):
    module, shape = small_modules()[index]
    y = module(np.ones(shape, dtype=np.float32))
    fresh, _ = small_modules()[index]
    with pytest.raises(RuntimeError, match=r"backward\(\) called without a forward"):
        fresh.backward(np.ones_like(y))


@pytest.mark.parametrize("index", range(len(MODULE_IDS)), ids=MODULE_IDS)
def test_backward_twice_after_one_forward_raises(index):
    module, shape = small_modules()[index]
    y = module(np.random.default_rng(0).standard_normal(shape).astype(np.float32))
    module.backward(np.ones_like(y))
    with pytest.raises(RuntimeError, match="once per forward"):
        module.backward(np.ones_like(y))


@pytest.mark.parametrize("index", range(len(MODULE_IDS)), ids=MODULE_IDS)
def test_backward_with_wrong_gradient_shape(index):
    module, shape = small_modules()[index]
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    y = module(x)
    bad_shapes = [
        (y.shape[0] + 1, *y.shape[1:]),  # batch
        (*y.shape[:-1], 2 * y.shape[-1]),  # last axis (features, width)
        (*y.shape, 1),  # rank
    ]
    for bad in bad_shapes:
        module(x)
        with pytest.raises(ValueError):
            module.backward(np.ones(bad, dtype=np.float32))


def test_backward_error_message_names_the_layer():
    with pytest.raises(RuntimeError, match=r"^Conv2d\.backward\(\)"):
        nn.Conv2d(1, 1, 1).backward(np.zeros((1, 1, 2, 2)))
    m = nn.Linear(4, 3)
    m(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"Linear\.backward.*\(2, 3\).*\(2, 4\)"):
        m.backward(np.zeros((2, 4)))


@pytest.mark.parametrize(
    "loss, args",
    [
        (nn.CrossEntropyLoss(), (np.zeros((2, 3)), np.array([0, 1]))),
        (nn.NLLLoss(), (np.zeros((2, 3)), np.array([0, 1]))),
        (nn.MSELoss(), (np.zeros((2, 3)), np.ones((2, 3)))),
    ],
)
def test_loss_backward_before_and_twice(loss, args):
    with pytest.raises(RuntimeError, match="without a forward"):
        loss.backward()
    loss(*args)
    loss.backward()
    with pytest.raises(RuntimeError, match="without a forward"):
        loss.backward()


# ----------------------------------------------------------------------------- dtypes
PARAM_LAYERS = [
    (lambda: nn.Linear(4, 3), (2, 4)),
    (lambda: nn.Conv2d(2, 3, 3, padding=1), (2, 2, 5, 5)),
    (lambda: nn.BatchNorm1d(3), (4, 3)),
    (lambda: nn.BatchNorm2d(2), (2, 2, 3, 3)),
    (lambda: nn.BatchNorm2d(2, affine=False), (2, 2, 3, 3)),
    (lambda: nn.Residual(nn.Linear(4, 4)), (2, 4)),
    (lambda: nn.Sequential(nn.Residual(nn.ReLU()), nn.Linear(4, 2)), (2, 4)),
    (lambda: nn.Sequential(nn.Concat(nn.Flatten(), nn.Linear(4, 2)), nn.ReLU()), (2, 4)),
    (
        lambda: nn.Concat(nn.Flatten(), nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten())),
        (2, 1, 4, 4),
    ),
    (lenet5, (3, 1, 28, 28)),
]


@pytest.mark.parametrize("index", range(len(PARAM_LAYERS)))
@pytest.mark.parametrize("in_dtype", [np.uint8, np.int64, bool])
def test_integer_input_is_cast_to_module_dtype(index, in_dtype):
    make, shape = PARAM_LAYERS[index]
    x = np.random.default_rng(0).integers(0, 3, shape).astype(in_dtype)
    m = make()
    y = m(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, make_like(m)(x.astype(np.float32)), rtol=1e-6)
    assert m.backward(np.ones_like(y)).dtype == np.float32
    m64 = make_like(m).to(np.float64)
    y64 = m64(x)
    assert y64.dtype == np.float64
    assert m64.backward(np.ones_like(y64)).dtype == np.float64


def make_like(module):
    """A module with the same weights (and fresh caches)."""
    import copy

    m = copy.deepcopy(module)
    m.zero_grad()
    return m


@pytest.mark.parametrize("index", range(len(PARAM_LAYERS)))
def test_float64_input_to_float32_module_stays_float32(index):
    make, shape = PARAM_LAYERS[index]
    x = np.random.default_rng(1).standard_normal(shape)
    m = make()
    y = m(x)
    assert y.dtype == np.float32, "no silent upcast to float64"
    np.testing.assert_allclose(y, make_like(m)(x.astype(np.float32)), rtol=1e-5, atol=1e-6)
    dx = m.backward(np.ones_like(y))
    assert dx.dtype == np.float32
    for p in m.parameters():
        assert p.grad.dtype == np.float32


def test_float32_input_to_float64_module_computes_in_float64():
    m = nn.Linear(3, 2).to(np.float64)
    y = m(np.ones((1, 3), dtype=np.float32))
    assert y.dtype == np.float64


def test_parameter_free_layers_keep_float_dtype():
    for m in (nn.ReLU(), nn.Tanh(), nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.2)):
        x = np.random.default_rng(0).standard_normal((2, 2, 4, 4))
        assert m(x).dtype == np.float64
        assert m(x.astype(np.float32)).dtype == np.float32
        assert m(x.astype(np.int32)).dtype == np.float32


def test_loss_integer_logits_are_cast():
    loss = nn.CrossEntropyLoss()
    value = loss(np.array([[1, 2, 3], [3, 2, 1]]), np.array([2, 0]))
    assert np.isfinite(value)
    assert loss.backward().dtype == np.float32


def test_loss_returns_python_float_and_grad_in_logits_dtype():
    for dtype in (np.float32, np.float64):
        loss = nn.CrossEntropyLoss()
        value = loss(np.zeros((2, 3), dtype=dtype), np.array([0, 1]))
        assert isinstance(value, float)
        assert abs(value - np.log(3)) < 1e-6
        assert loss.backward().dtype == dtype


CLASS_LOSSES = [nn.CrossEntropyLoss, nn.NLLLoss]


@pytest.mark.parametrize(
    "dtype, grad_dtype",
    [
        (bool, np.float32),
        (np.int8, np.float32),
        (np.uint8, np.float32),
        (np.float16, np.float16),  # floats keep their precision
        (np.float64, np.float64),
    ],
)
def test_loss_input_dtype_rules(dtype, grad_dtype):
    """Which logits a loss casts to float32 and which it keeps: unchanged since the dtype
    tests moved from np.issubdtype to dtype.kind."""
    x = np.array([[2, 0, 0], [0, 1, 0]]).astype(dtype)
    for loss in [cls() for cls in CLASS_LOSSES]:
        assert isinstance(loss(x, np.array([0, 1])), float)
        assert loss.backward().dtype == grad_dtype
        mse = nn.MSELoss()
        mse(x, np.zeros((2, 3)))
        assert mse.backward().dtype == grad_dtype


@pytest.mark.parametrize(
    "a, dtype",
    [
        (np.array([[1 + 2j, 0, 0], [0, 1, 0]], dtype=np.complex64), "complex64"),
        (np.array([[2, 0, 0], [0, 1, 0]], dtype=object), "object"),
        (np.array([["a", "b", "c"], ["d", "e", "f"]]), "<U1"),
    ],
)
def test_losses_refuse_non_real_arrays_naming_the_dtype(a, dtype):
    """A cast would drop a complex value's imaginary part with only a warning: the
    losses refuse what the layers refuse (test_non_real_input_is_a_type_error...)."""
    x = np.zeros((2, 3), np.float32)
    for loss in [cls() for cls in CLASS_LOSSES]:
        with pytest.raises(TypeError, match=f"input as a real numeric array, got dtype {dtype}"):
            loss(a, np.array([0, 1]))
    with pytest.raises(TypeError, match=f"probability targets as a real numeric.*{dtype}"):
        nn.CrossEntropyLoss()(x, a)
    with pytest.raises(TypeError, match=f"MSELoss expects input as a real numeric.*{dtype}"):
        nn.MSELoss()(a, x)
    with pytest.raises(TypeError, match=f"MSELoss expects target as a real numeric.*{dtype}"):
        nn.MSELoss()(x, a)


def test_mse_keeps_integer_targets_exact_for_float64_input():
    big = np.array([[2**25 + 1]], dtype=np.int64)  # not a float32 value
    assert nn.MSELoss()(np.full((1, 1), 2.0**25 + 1), big) == 0.0


@pytest.mark.parametrize("cls", CLASS_LOSSES)
@pytest.mark.parametrize(
    "target",
    [
        np.array([0, 2], dtype=np.int8),
        np.array([0, 2], dtype=np.uint8),
        np.array([0, 2], dtype=np.int64),
        np.array([0, 2], dtype=np.float16),  # whole numbers in a float array: accepted
        np.array([0, 2], dtype=np.float32),
    ],
    ids=lambda t: str(t.dtype),
)
def test_class_targets_accepted_dtypes(cls, target):
    assert np.isfinite(cls()(np.zeros((2, 3), np.float32), target))


@pytest.mark.parametrize("cls", CLASS_LOSSES)
@pytest.mark.parametrize(
    "target",
    [
        np.array([False, True]),
        np.array([0.5, 2], dtype=np.float16),
        np.array([0, 2], dtype=np.complex64),
        np.array([0, 2], dtype=object),
        np.array([0, 2], dtype="m8[s]"),  # np.issubdtype calls it an integer; it is none
    ],
    ids=lambda t: str(t.dtype),
)
def test_class_targets_refused_dtypes(cls, target):
    with pytest.raises(
        ValueError, match=re.escape(f"targets must be integer class indices, got {target.dtype}")
    ):
        cls()(np.zeros((2, 3), np.float32), target)


def test_losses_do_not_call_np_issubdtype(monkeypatch):
    """np.issubdtype costs about half a microsecond a call, on every training step: the
    losses test dtype.kind instead."""

    def refuse(*args):
        raise AssertionError("np.issubdtype called")

    monkeypatch.setattr(np, "issubdtype", refuse)
    x = np.zeros((2, 3), np.float32)
    for loss in [cls() for cls in CLASS_LOSSES]:
        loss(x, np.array([0, 2]))
        loss.backward()
        loss(x, np.array([0.0, 2.0]))  # float targets take the other branch
    mse = nn.MSELoss()
    mse(np.zeros((2, 3), np.int64), x)
    mse.backward()


# ----------------------------------------------------------------------------- constructors
@pytest.mark.parametrize(
    "make, pattern",
    [
        (lambda: nn.Conv2d(3, 8, 3, groups=2), "divisible by groups"),
        (lambda: nn.Conv2d(4, 6, 3, groups=4), "divisible by groups"),
        (lambda: nn.Conv2d(4, 8, 3, groups=0), "groups"),
        (lambda: nn.Conv2d(3, 8, 3, stride=2, padding="same"), "same"),
        (lambda: nn.Conv2d(3, 8, 3, padding="full"), "full"),
        (lambda: nn.Conv2d(3, 8, 3, padding=-1), "non-negative"),
        (lambda: nn.Conv2d(3, 8, 0), "positive"),
        (lambda: nn.Conv2d(0, 8, 3), "in_channels (0) and out_channels (8) must be positive"),
        (lambda: nn.Conv2d(-2, 8, 3), "in_channels (-2)"),
        (lambda: nn.Conv2d(3, 0, 3), "out_channels (0) must be positive"),
        (lambda: nn.Conv2d(3, 8, 3, stride=0), "positive"),
        (lambda: nn.Conv2d(3, 8, (3, 3, 3)), "kernel_size"),
        (lambda: nn.Conv2d(3, 8, 3, padding_mode="reflect"), "padding_mode"),
        (lambda: nn.MaxPool2d(2, padding=2), "half of the kernel"),
        (lambda: nn.MaxPool2d(3, padding=2), "half of the kernel"),
        (lambda: nn.AvgPool2d((2, 4), padding=(1, 3)), "half of the kernel"),
        (lambda: nn.MaxPool2d(2, stride=0), "positive"),
        (lambda: nn.MaxPool2d(2, return_indices=True), "return_indices"),
        (lambda: nn.AvgPool2d(2, divisor_override=0), "divisor_override"),
        (lambda: nn.AdaptiveAvgPool2d(0), "positive"),
        (lambda: nn.AdaptiveAvgPool2d((1, 2, 3)), "2 entries"),
        (lambda: nn.Dropout(1.5), "between 0 and 1"),
        (lambda: nn.Dropout(-0.1), "between 0 and 1"),
        (lambda: nn.CrossEntropyLoss(reduction="avg"), "avg"),
        (lambda: nn.NLLLoss(reduction="avg"), "avg"),
        (lambda: nn.MSELoss(reduction="avg"), "avg"),
        (lambda: nn.CrossEntropyLoss(label_smoothing=1.5), "label_smoothing"),
        (lambda: nn.Linear(0, 3), "positive"),
        (lambda: nn.BatchNorm2d(0), "num_features"),
        (lambda: nn.Concat(), "at least one"),
    ],
)
def test_bad_constructor_arguments(make, pattern):
    with pytest.raises(ValueError, match=re.escape(pattern)):
        make()


def test_containers_refuse_non_modules():
    with pytest.raises(TypeError, match="Module"):
        nn.Sequential(nn.ReLU(), lambda x: x)
    with pytest.raises(TypeError, match="Module"):
        nn.Concat(nn.ReLU(), "flatten")


def test_to_refuses_non_float_dtype():
    with pytest.raises(ValueError, match="floating"):
        nn.Linear(2, 2).to(np.int32)


@pytest.mark.parametrize("module", [nn.Linear(2, 3), nn.ReLU(), nn.Flatten()])
@pytest.mark.parametrize(
    "x, dtype",
    [
        (np.ones((2, 2), dtype=np.complex64), "complex64"),  # astype would drop the imaginary part
        (np.array([["a", "b"], ["c", "d"]]), "<U1"),
        (np.array([[1, None], [2, 3]], dtype=object), "object"),
    ],
)
def test_non_real_input_is_a_type_error_naming_the_dtype(module, x, dtype):
    with pytest.raises(TypeError, match=f"real numeric array, got dtype {dtype}"):
        module(x)


def test_bool_and_integer_input_become_float():
    assert nn.ReLU()(np.array([[True, False]])).dtype == np.float32
    assert nn.Linear(2, 3)(np.array([[1, 2]], dtype=np.int64)).dtype == np.float32


@pytest.mark.parametrize("given, hint", [("w.safetensors", "glassnet.load_state"), ([1, 2], "")])
def test_load_state_dict_wants_a_mapping_and_points_a_path_to_load_state(given, hint):
    with pytest.raises(TypeError, match=f"load_state_dict expects a dict of arrays.*{hint}"):
        nn.Linear(2, 2).load_state_dict(given)


def test_gradcheck_refuses_a_zero_step_and_dataloader_a_scalar():
    from glassnet import gradcheck
    from glassnet.data import DataLoader

    with pytest.raises(ValueError, match="eps must be positive, got 0"):
        gradcheck(nn.Linear(2, 2), np.zeros((1, 2)), eps=0)
    with pytest.raises(ValueError, match=r"arrays of samples.*got shapes \(\) and \(\)"):
        DataLoader(np.float32(1), np.int64(1))
