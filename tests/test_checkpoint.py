"""Training checkpoints: nested state <-> one .safetensors/.npz file, without pickle."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import glassnet
from glassnet import nn
from glassnet.train import checkpoint as ckpt
from glassnet.train import load_checkpoint, save_checkpoint

SUFFIXES = [".safetensors", ".npz"]


def assert_same(a, b, where="root"):
    """Deep equality that also checks types, array dtypes/shapes and bit-exact values."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype, f"{where}: dtype {a.dtype} != {b.dtype}"
        assert a.shape == b.shape, f"{where}: shape {a.shape} != {b.shape}"
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for k in a:
            assert type(k) is type(next(kb for kb in b if kb == k)), f"{where}: key type of {k!r}"
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}.{i}")
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def rich_state() -> dict:
    rng = np.random.default_rng(5)
    return {
        "epoch": 3,
        "nothing": None,
        "flags": [True, False],
        "floats": {"lr": 1e-3, "third": 1 / 3, "nan": float("nan"), "inf": float("inf")},
        "text": "ünïcode ✓",
        "rng": np.random.default_rng(123).bit_generator.state,  # 128-bit integers
        "big": 2**127 + 12345,
        "negative_big": -(2**70),
        "tuple": (1, (2.5, "x"), [3, None]),
        "empty": {"dict": {}, "list": [], "tuple": ()},
        # an optimizer's state is keyed by parameter index
        "optimizer": {
            "state": {
                0: {"step": 7, "exp_avg": rng.standard_normal((3, 2)).astype(np.float32)},
                1: {"step": 7, "exp_avg": rng.standard_normal(4).astype(np.float32)},
            },
            "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0, 1]}],
        },
        "arrays": {
            "f16": rng.standard_normal((2, 3)).astype(np.float16),
            "f32": rng.standard_normal((4, 1, 3, 3)).astype(np.float32),
            "f64": rng.standard_normal(5),
            "i8": np.array([-128, 0, 127], dtype=np.int8),
            "u8": np.arange(10, dtype=np.uint8),
            "i32": np.array([[1, -2], [3, 4]], dtype=np.int32),
            "i64": np.array([2**62, -(2**62)], dtype=np.int64),
            "bool": np.array([True, False, True]),
            "scalar_i64": np.array(12, dtype=np.int64),  # BatchNorm's num_batches_tracked
            "scalar_f32": np.array(0.25, dtype=np.float32),
            "empty": np.zeros((0, 3), dtype=np.float32),
        },
        "numpy_scalars": [np.float64(0.5), np.int64(9)],
    }


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_round_trip_of_a_rich_state(tmp_path, suffix):
    state = rich_state()
    path = save_checkpoint(tmp_path / f"ck{suffix}", state)
    assert path == tmp_path / f"ck{suffix}"
    back = load_checkpoint(path)
    expected = dict(state)
    expected["numpy_scalars"] = [0.5, 9]  # NumPy scalars come back as Python numbers
    assert_same(expected, back)
    # the PCG64 state restores the generator exactly
    g = np.random.default_rng()
    g.bit_generator.state = back["rng"]
    assert g.integers(1 << 60) == np.random.default_rng(123).integers(1 << 60)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_loaded_arrays_are_writable_copies(tmp_path, suffix):
    path = save_checkpoint(tmp_path / f"ck{suffix}", {"a": np.ones(3, dtype=np.float32)})
    back = load_checkpoint(path)
    back["a"] += 1  # e.g. a model weight trained further after resuming
    np.testing.assert_array_equal(load_checkpoint(path)["a"], np.ones(3))


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_keys_that_would_collide_as_array_names(tmp_path, suffix):
    # "a.b" and a["b"] flatten to the same dotted name; 1 and "1" too
    state = {
        "a.b": np.zeros(2),
        "a": {"b": np.ones(2)},
        "mixed": {1: np.full(2, 3.0), "1": np.full(2, 4.0)},
    }
    back = load_checkpoint(save_checkpoint(tmp_path / f"ck{suffix}", state))
    assert_same(state, back)


def test_pack_unpack_without_files():
    arrays: dict = {}
    state = rich_state()
    tree = ckpt.pack(state, arrays)
    json.dumps(tree)  # everything but the arrays is plain JSON
    assert all(isinstance(v, np.ndarray) for v in arrays.values())
    assert len(arrays) == 13
    back = ckpt.unpack(json.loads(json.dumps(tree)), arrays)
    assert_same(back["optimizer"], state["optimizer"])
    assert_same(back["tuple"], state["tuple"])


def test_unsupported_objects_are_refused_with_their_place():
    with pytest.raises(TypeError, match=r"set.*root\.a\.0"):
        ckpt.pack({"a": [{1, 2}]}, {})
    with pytest.raises(TypeError, match="function"):
        ckpt.pack({"f": lambda x: x}, {})


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_corrupt_file_is_a_value_error_naming_the_file(tmp_path, suffix):
    path = save_checkpoint(tmp_path / f"ck{suffix}", rich_state())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])  # truncated
    with pytest.raises(ValueError, match=str(path.name)):
        load_checkpoint(path)
    path.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ValueError, match=str(path.name)):
        load_checkpoint(path)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_corrupt_metadata_is_a_value_error_naming_the_file(tmp_path, suffix):
    from glassnet.io import save_arrays

    path = tmp_path / f"ck{suffix}"
    save_arrays(path, {"root.x": np.zeros(1)}, {ckpt.CHECKPOINT_KEY: "{not json"})
    with pytest.raises(ValueError, match=f"{path.name}.*corrupt"):
        load_checkpoint(path)
    # a reference to an array the file does not hold
    meta = json.dumps({"version": 1, "state": {"w": {"__array__": "missing"}}})
    save_arrays(path, {"root.x": np.zeros(1)}, {ckpt.CHECKPOINT_KEY: meta})
    with pytest.raises(ValueError, match=path.name):
        load_checkpoint(path)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_plain_weights_file_is_a_clear_value_error(tmp_path, suffix):
    model = nn.Sequential(nn.Linear(3, 2))
    path = glassnet.save(model, tmp_path / f"model{suffix}")
    with pytest.raises(ValueError, match="not a glassnet training checkpoint.*load_state"):
        load_checkpoint(path)
    # and the other way round: a checkpoint's weights are not a bare state_dict
    assert set(glassnet.load_state(path)) == {"0.weight", "0.bias"}


def test_missing_file_and_wrong_extension(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "nope.safetensors")
    with pytest.raises(ValueError, match="pkl"):
        save_checkpoint(tmp_path / "state.pkl", {"a": 1})
    assert not (tmp_path / "state.pkl").exists()


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_failure_mid_write_keeps_the_old_checkpoint(tmp_path, suffix, monkeypatch):
    path = tmp_path / f"last{suffix}"
    save_checkpoint(path, {"epoch": 1, "w": np.zeros(1000, dtype=np.float32)})
    before = path.read_bytes()

    def broken_fsync(fd):  # the bytes are in the temporary file; then the disk "fails"
        assert os.fstat(fd).st_size > 0
        raise OSError("disk full")

    monkeypatch.setattr(glassnet.io.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"epoch": 2, "w": np.ones(1000, dtype=np.float32)})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert load_checkpoint(path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temp file left


def test_unpackable_state_writes_nothing(tmp_path):
    path = tmp_path / "last.safetensors"
    save_checkpoint(path, {"epoch": 1})
    with pytest.raises(TypeError):
        save_checkpoint(path, {"epoch": 2, "oops": object()})
    assert load_checkpoint(path) == {"epoch": 1}


def test_keys_that_json_cannot_give_back_are_refused_when_saving():
    from glassnet.train.checkpoint import pack

    assert pack({1: 2, None: 3}, {}) == {"__items__": [[1, 2], [None, 3]]}
    with pytest.raises(TypeError, match="cannot store a tuple dict key in a checkpoint"):
        pack({(1, 2): 3}, {})
