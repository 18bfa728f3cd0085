"""History: per-epoch and per-iteration records, Keras-style access, CSV and JSON files."""

from __future__ import annotations

import csv
import json
import math

import pytest

from glassnet.train import History


def make_history() -> History:
    h = History(meta={"optimizer": "Adam", "lr": 1e-3})
    rows = [
        (0.9, 0.70, 1.1, 0.60, 1e-3),
        (0.5, 0.85, 0.7, 0.80, 5e-4),
        (0.3, 0.92, 0.8, 0.78, 1e-4),
    ]
    for epoch, (tl, ta, vl, va, lr) in enumerate(rows, start=1):
        h.log_epoch(
            epoch=epoch,
            train_loss=tl,
            train_accuracy=ta,
            val_loss=vl,
            val_accuracy=va,
            lr=lr,
            seconds=0.1 * epoch,
        )
        h.log_iteration(step=10 * epoch, epoch=epoch, examples_seen=320 * epoch, loss=tl + 0.01)
    return h


def test_getitem_keys_len_contains():
    h = make_history()
    assert len(h) == 3
    assert h["val_accuracy"] == [0.60, 0.80, 0.78]
    assert h["epoch"] == [1, 2, 3]
    assert h.keys() == [
        "epoch",
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "lr",
        "seconds",
    ]
    assert "val_loss" in h and "test_loss" not in h
    assert h.history["train_loss"] == [0.9, 0.5, 0.3]


def test_unknown_key_names_what_was_recorded():
    h = make_history()
    with pytest.raises(KeyError, match="test_accuracy.*recorded: epoch, train_loss"):
        h["test_accuracy"]
    with pytest.raises(KeyError):
        History()["train_loss"]


def test_best_and_last():
    h = make_history()
    assert h.best("val_accuracy") == (2, 0.80)
    assert h.best("val_loss", mode="min") == (2, 0.7)
    assert h.best("train_loss", mode="min") == (3, 0.3)
    assert h.last("val_accuracy") == 0.78
    assert History().last("val_accuracy") is None


def test_best_skips_nan_and_missing_values():
    h = History()
    h.log_epoch(epoch=1, val_loss=float("nan"))
    h.log_epoch(epoch=2, val_loss=0.5)
    h.log_epoch(epoch=3)
    h.log_epoch(epoch=4, val_loss=0.7)
    assert h.best("val_loss", mode="min") == (2, 0.5)
    assert h.best("val_loss", mode="max") == (4, 0.7)
    assert h["val_loss"][2] is None
    with pytest.raises(KeyError, match="no finite values"):
        h.best("test_loss")


def test_json_round_trip(tmp_path):
    h = make_history()
    h.log_epoch(epoch=4, train_loss=float("nan"), train_accuracy=0.5)  # NaN survives too
    path = tmp_path / "sub" / "history.json"
    h.to_json(path)
    back = History.from_json(path)
    assert back.epochs[:3] == h.epochs[:3]
    assert math.isnan(back.epochs[3]["train_loss"])
    assert back.iterations == h.iterations
    assert back.meta == h.meta
    assert set(json.loads(path.read_text())) == {"epochs", "iterations", "meta"}


def test_csv_round_trip_is_exact(tmp_path):
    h = make_history()
    h.log_epoch(epoch=4, train_loss=1 / 3, train_accuracy=0.1 + 0.2, lr=1e-3, seconds=0.4)
    path = tmp_path / "history.csv"
    text = h.to_csv(path)
    assert path.read_text() == text
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    # the canonical column order, then anything else
    assert list(rows[0]) == [
        "epoch",
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
        "lr",
        "seconds",
    ]
    assert len(rows) == 4
    for row, epoch in zip(rows, h.epochs):
        for key, value in row.items():
            if epoch.get(key) is None:
                assert value == ""  # not recorded in that epoch
            else:
                assert float(value) == epoch[key]  # repr: floats come back bit for bit
                assert type(epoch[key])(value) == epoch[key]


def test_csv_extra_columns_and_custom_keys():
    h = History()
    h.log_epoch(epoch=1, train_loss=0.5, my_metric=7)
    text = h.to_csv(extra_columns={"model": "cnn", "engine": "glassnet"})
    lines = text.splitlines()
    assert lines[0] == "model,engine,epoch,train_loss,my_metric"
    assert lines[1] == "cnn,glassnet,1,0.5,7"


def test_to_dict_from_dict_and_repr():
    h = make_history()
    back = History.from_dict(h.to_dict())
    assert back.epochs == h.epochs and back.iterations == h.iterations
    assert back.epochs is not h.epochs
    assert "epochs=3" in repr(h) and "val_accuracy=0.78" in repr(h)
    assert repr(History()) == "History(empty)"
