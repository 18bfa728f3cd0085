"""What a run's record says about its curves: the best epoch (never chosen on the test
set) and the epoch times (the warm-up epoch apart, the median with its range)."""

from __future__ import annotations

import pytest

from glassnet.study import CompareConfig, TrainConfig
from glassnet.study.records import best_epoch, epoch_timing


def epochs(val, test, seconds=None):
    seconds = seconds or [0.1] * len(test)
    out = []
    for i, (t, s) in enumerate(zip(test, seconds)):
        e = {"epoch": i + 1, "test_accuracy": t, "seconds": s}
        if val is not None:
            e["val_accuracy"] = val[i]
        out.append(e)
    return out


def test_the_best_epoch_is_chosen_on_validation_never_on_test():
    # the test curve peaks at epoch 1, the validation curve at epoch 3
    history = epochs(val=[0.80, 0.85, 0.90, 0.90], test=[0.99, 0.70, 0.75, 0.80])
    assert best_epoch(history) == {
        "best_epoch": 3,  # the first of equal values, as ModelCheckpoint keeps it
        "best_val_accuracy": 0.90,
        "best_epoch_on": "val_accuracy",
    }


def test_without_a_validation_split_there_is_no_best_epoch():
    history = epochs(val=None, test=[0.99, 0.70])
    assert best_epoch(history) == {
        "best_epoch": None,
        "best_val_accuracy": None,
        "best_epoch_on": None,
    }
    assert best_epoch([]) == best_epoch(history)


def test_epoch_times_leave_out_the_warm_up_epoch():
    # PyTorch's first epoch pays for its warm-up; one later epoch was slowed by the machine
    history = epochs(None, [0.5] * 5, seconds=[3.9, 0.05, 0.06, 0.9, 0.07])
    timing = epoch_timing(history)
    assert timing["seconds"] == pytest.approx(3.9 + 0.05 + 0.06 + 0.9 + 0.07)
    assert timing["first_epoch_seconds"] == 3.9
    assert timing["seconds_per_epoch"] == pytest.approx(0.065)  # median of the later four
    assert timing["seconds_per_epoch_range"] == [0.05, 0.9]
    one = epoch_timing(epochs(None, [0.5], seconds=[0.3]))  # a single epoch stands alone
    assert one["seconds_per_epoch"] == one["first_epoch_seconds"] == one["seconds"] == 0.3


def test_compare_and_train_hold_a_validation_split_out_by_default():
    for config in (CompareConfig(), TrainConfig()):
        assert 0 < config.val_size < 0.5, type(config).__name__
