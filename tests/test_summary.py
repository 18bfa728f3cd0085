"""glassnet.summary: per-layer output shapes and parameter counts, totals, memory estimate."""

from __future__ import annotations

import numpy as np
import pytest

import glassnet
from _nets import concat_net, lenet5, resnet_block

LENET_ROWS = [
    ("0", "Conv2d", (6, 28, 28), 6 * 25 + 6),
    ("1", "ReLU", (6, 28, 28), 0),
    ("2", "MaxPool2d", (6, 14, 14), 0),
    ("3", "Conv2d", (16, 10, 10), 16 * 6 * 25 + 16),
    ("4", "ReLU", (16, 10, 10), 0),
    ("5", "MaxPool2d", (16, 5, 5), 0),
    ("6", "Flatten", (400,), 0),
    ("7", "Linear", (120,), 400 * 120 + 120),
    ("8", "ReLU", (120,), 0),
    ("9", "Linear", (84,), 120 * 84 + 84),
    ("10", "ReLU", (84,), 0),
    ("11", "Linear", (10,), 84 * 10 + 10),
]


def test_lenet5_rows():
    s = glassnet.summary(lenet5(), (1, 28, 28))
    got = [(r.name, r.kind, r.output_shape[1:], r.params) for r in s.rows]
    assert got == LENET_ROWS
    assert all(r.output_shape[0] == 2 and r.depth == 0 for r in s.rows)
    assert s.total_params == 61706 == sum(r[3] for r in LENET_ROWS)
    assert s.trainable_params == 61706
    assert s.dtype == np.float32
    assert s.param_bytes == 61706 * 4
    activations = sum(int(np.prod(r[2])) for r in LENET_ROWS)
    assert s.activation_bytes == activations * 4


@pytest.mark.parametrize(
    "make, shape", [(lenet5, (1, 28, 28)), (resnet_block, (3, 8, 8)), (concat_net, (1, 28, 28))]
)
def test_totals_equal_parameter_sizes_and_torch(make, shape):
    model = make()
    s = glassnet.summary(model, shape)
    assert s.total_params == sum(p.size for p in model.parameters())
    assert s.total_params == sum(r.params for r in s.rows)  # each row counts its own only
    pytest.importorskip("torch")
    from glassnet.interop.torch import to_torch

    assert s.total_params == sum(p.numel() for p in to_torch(model).parameters())


def test_str_contains_rows_and_totals():
    text = str(glassnet.summary(lenet5(), (1, 28, 28)))
    assert "Total params: 61,706" in text
    assert "Trainable params: 61,706" in text
    assert "Non-trainable params: 0" in text
    assert "(N, 16, 5, 5)" in text and "48,120" in text
    assert "Conv2d" in text and "MiB" in text
    lines = text.splitlines()
    assert lines.index(next(line for line in lines if "Conv2d" in line)) < lines.index(
        next(line for line in lines if "Linear" in line)
    )


def test_nested_containers_in_declaration_order():
    s = glassnet.summary(resnet_block(), (3, 8, 8))
    names = [r.name for r in s.rows]
    assert names == [
        "0",
        "0.body",
        "0.body.0",
        "0.body.1",
        "0.body.2",
        "0.body.3",
        "0.body.4",
        "0.shortcut",
        "0.shortcut.0",
        "0.shortcut.1",
        "1",
    ]
    rows = {r.name: r for r in s.rows}
    assert rows["0"].output_shape == (2, 8, 4, 4) and rows["0"].params == 0
    assert rows["0.body.1"].params == 16 and rows["0.body.1"].depth == 2
    assert rows["0.shortcut.0"].params == 3 * 8


def test_concat_rows():
    s = glassnet.summary(concat_net(), (1, 28, 28))
    rows = {r.name: r for r in s.rows}
    assert rows["0"].output_shape == (2, 784 + 18 * 14 * 14)
    assert rows["0.0"].output_shape == (2, 784)
    assert rows["0.1.2"].output_shape == (2, 18, 14, 14)


def test_summary_leaves_the_model_alone():
    model = resnet_block()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    glassnet.summary(model, (3, 8, 8))
    assert model.training and all(m.training for m in model.modules())
    for k, v in model.state_dict().items():  # no running-stat update, no batch counted
        np.testing.assert_array_equal(v, before[k], err_msg=k)
    assert all(not m._forward_hooks for m in model.modules())
    model.eval()
    glassnet.summary(model, (3, 8, 8))
    assert not model.training


def test_frozen_parameters_and_float64():
    model = lenet5().to(np.float64)
    model[0].requires_grad_(False)
    s = glassnet.summary(model, (1, 28, 28), batch_size=1)
    assert s.trainable_params == 61706 - 156
    assert "Non-trainable params: 156" in str(s)
    assert s.dtype == np.float64 and s.param_bytes == 61706 * 8
    assert s.rows[0].output_shape == (1, 6, 28, 28)


def test_wrong_input_shape_is_reported():
    with pytest.raises(ValueError, match="Conv2d"):
        glassnet.summary(lenet5(), (3, 28, 28))


def test_a_reused_module_gets_a_row_per_call_in_call_order():
    """One ReLU object at two places: two rows, named by their places, in call order
    (they used to be keyed by the module: hooked twice and all named by its last place)."""
    relu, lin = glassnet.nn.ReLU(), glassnet.nn.Linear(4, 5)
    model = glassnet.nn.Sequential(relu, lin, relu)
    s = glassnet.summary(model, (4,))
    got = [(r.name, r.kind, r.output_shape, r.params) for r in s.rows]
    assert got == [("0", "ReLU", (2, 4), 0), ("1", "Linear", (2, 5), 25), ("2", "ReLU", (2, 5), 0)]
    assert s.total_params == 25
    assert s.activation_bytes == (4 + 5 + 5) * 4  # every call's output is kept
    assert all("forward" not in m.__dict__ and not m._forward_hooks for m in model.modules())


def test_a_module_inside_and_outside_a_residual_counts_its_parameters_once():
    lin = glassnet.nn.Linear(4, 4)
    model = glassnet.nn.Sequential(lin, glassnet.nn.Residual(lin), glassnet.nn.ReLU())
    s = glassnet.summary(model, (4,))
    assert [(r.name, r.depth) for r in s.rows] == [("0", 0), ("1", 0), ("1.body", 1), ("2", 0)]
    rows = {r.name: r for r in s.rows}
    assert rows["0"].params == 20 and rows["0"].shared_params == 0
    assert rows["1.body"].params == 0 and rows["1.body"].shared_params == 20
    assert s.total_params == 20 == sum(r.params for r in s.rows)
    assert s.total_params == sum(p.size for p in model.parameters())
    assert "(+20 shared)" in str(s)
