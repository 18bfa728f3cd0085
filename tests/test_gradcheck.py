"""glassnet.gradcheck itself: it catches a backward that is 1% off, reports per tensor,
and leaves the module it is given alone."""

from __future__ import annotations

import numpy as np
import pytest

import glassnet
from glassnet import nn
from glassnet.random import get_rng_state


class LinearDxOff(nn.Linear):
    """A Linear whose input gradient is 1% too large."""

    def backward(self, grad_out):
        return 1.01 * super().backward(grad_out)


class LinearDwOff(nn.Linear):
    """A Linear whose weight gradient is 1% too large."""

    def backward(self, grad_out):
        before = self.weight.grad.copy()
        dx = super().backward(grad_out)
        self.weight.grad[...] = before + 1.01 * (self.weight.grad - before)
        return dx


class BatchNormDbOff(nn.BatchNorm1d):
    """A BatchNorm whose bias gradient is 1% too small."""

    def backward(self, grad_out):
        before = self.bias.grad.copy()
        dx = super().backward(grad_out)
        self.bias.grad[...] = before + 0.99 * (self.bias.grad - before)
        return dx


class LinearOverwritesGrad(nn.Linear):
    """A Linear whose backward sets weight.grad instead of adding to it."""

    def backward(self, grad_out):
        dx = super().backward(grad_out)
        self.weight.grad[...] = grad_out.T @ self._x_for_test
        return dx

    def forward(self, x):
        self._x_for_test = x
        return super().forward(x)


def x34():
    return np.random.default_rng(0).standard_normal((3, 4))


def test_correct_linear_passes():
    result = glassnet.gradcheck(nn.Linear(4, 3), x34())
    assert result and result.passed and bool(result) is True
    assert [t.name for t in result.tensors] == ["input", "weight", "bias"]
    for t in result.tensors:
        assert t.passed and t.max_abs_error < 1e-8


def test_one_percent_off_input_gradient_fails():
    result = glassnet.gradcheck(LinearDxOff(4, 3), x34())
    assert not result and bool(result) is False and not result.passed
    assert not result["input"].passed
    assert result["weight"].passed and result["bias"].passed
    assert result["input"].max_rel_error == pytest.approx(0.01 / 1.01, rel=1e-3)
    text = str(result)
    assert "FAIL" in text and "gradcheck FAILED" in text
    assert "input" in text and "weight" in text


def test_one_percent_off_weight_gradient_fails():
    result = glassnet.gradcheck(LinearDwOff(4, 3), x34())
    assert not result
    assert result["input"].passed and result["bias"].passed
    assert not result["weight"].passed
    assert result["weight"].max_abs_error > 1e-4


def test_one_percent_off_bias_gradient_fails():
    x = np.random.default_rng(1).standard_normal((6, 3))
    result = glassnet.gradcheck(BatchNormDbOff(3), x)
    assert not result
    assert [t.name for t in result.tensors if not t.passed] == ["bias"]


def test_off_gradient_inside_a_network_is_caught():
    net = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), LinearDxOff(5, 3), nn.Sigmoid())
    result = glassnet.gradcheck(net, x34())
    assert not result
    assert not result["input"].passed  # 0.weight/0.bias see the error too
    assert not result["0.weight"].passed
    assert result["2.weight"].passed


def test_sign_error_in_a_function_is_caught():
    x = np.random.default_rng(2).standard_normal(5)
    good = glassnet.gradcheck(np.sin, x, backward=lambda g: g * np.cos(x))
    bad = glassnet.gradcheck(np.sin, x, backward=lambda g: -g * np.cos(x))
    assert good and not bad
    assert [t.name for t in good.tensors] == ["input"]


def test_plain_function_needs_a_backward():
    with pytest.raises(ValueError, match="backward"):
        glassnet.gradcheck(np.sin, np.ones(3))


def test_float32_module_is_checked_on_a_float64_copy():
    """In float32 central differences with eps=1e-6 would be noise; the copy is float64."""
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.Tanh(), nn.Flatten(), nn.Linear(12, 2))
    assert model.dtype == np.float32
    x = np.random.default_rng(3).standard_normal((2, 2, 4, 4)).astype(np.float32)
    result = glassnet.gradcheck(model, x)
    assert result, str(result)
    assert max(t.max_abs_error for t in result.tensors) < 1e-7


def test_the_module_passed_in_is_not_modified():
    model = nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.Dropout(0.3), nn.Linear(5, 2))
    for p in model.parameters():
        p.grad[...] = 0.25  # a marker that must survive
    before = {k: v.copy() for k, v in model.state_dict().items()}
    x = x34().astype(np.float32)
    x_before = x.copy()
    rng_before = get_rng_state()
    result = glassnet.gradcheck(model, x)
    assert result, str(result)
    assert model.dtype == np.float32 and model.training
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)
        assert v.dtype == before[k].dtype
    for p in model.parameters():
        assert p.data.dtype == np.float32 and np.all(p.grad == 0.25)
    np.testing.assert_array_equal(x, x_before)
    assert get_rng_state() == rng_before
    with pytest.raises(RuntimeError):  # no forward happened on the original
        model.backward(np.ones((3, 2), dtype=np.float32))


def test_eval_mode_is_kept_on_the_copy():
    bn = nn.BatchNorm1d(3)
    bn.running_mean[...] = [1.0, -1.0, 0.5]
    bn.eval()
    x = np.random.default_rng(4).standard_normal((4, 3))
    assert glassnet.gradcheck(bn, x)
    assert not bn.training and int(bn.num_batches_tracked) == 0


def test_max_checks_and_check_input():
    m = nn.Linear(30, 20)  # weight has 600 entries
    x = np.random.default_rng(5).standard_normal((2, 30))
    result = glassnet.gradcheck(m, x, max_checks=17)
    assert [t.checked for t in result.tensors] == [17, 17, 17]
    result = glassnet.gradcheck(m, x, max_checks=None)
    assert [t.checked for t in result.tensors] == [60, 600, 20]
    result = glassnet.gradcheck(m, x, max_checks=50, check_input=False)
    assert [t.name for t in result.tensors] == ["weight", "bias"]
    assert result["weight"].shape == (20, 30)


def test_loss_with_extra_arguments():
    logits = np.random.default_rng(6).standard_normal((4, 3))
    result = glassnet.gradcheck(nn.CrossEntropyLoss(), logits, np.array([0, 2, 1, 2]))
    assert result and result["input"].checked == 12


def test_result_lookup_and_table():
    result = glassnet.gradcheck(nn.Linear(2, 2), np.ones((1, 2)))
    with pytest.raises(KeyError):
        result["nope"]
    assert "gradcheck PASSED" in str(result)
    assert isinstance(result, glassnet.GradcheckResult)


def test_tolerances_are_used():
    """A 1% error passes when the caller allows 2%: the verdict follows rtol."""
    result = glassnet.gradcheck(LinearDxOff(4, 3), x34(), rtol=0.02)
    assert result


def test_a_backward_that_overwrites_grad_fails():
    """Gradients must add up into .grad (a module used twice, several batches)."""
    result = glassnet.gradcheck(LinearOverwritesGrad(4, 3), x34())
    assert not result["weight"].passed and result["bias"].passed and result["input"].passed


def test_frozen_parameters_are_not_checked():
    layer = nn.Linear(4, 3)
    layer.weight.requires_grad = False
    result = glassnet.gradcheck(layer, x34())
    assert result.passed and [t.name for t in result.tensors] == ["input", "bias"]


def test_in_place_layer_is_checked_from_the_unchanged_input():
    x = x34()
    assert glassnet.gradcheck(nn.ReLU(inplace=True), x).passed
    np.testing.assert_array_equal(x, x34())  # and the caller's array is not clamped
