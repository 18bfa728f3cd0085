"""Saving and loading: safetensors and npz round trips, torch interop, atomic writes, no pickle."""

from __future__ import annotations

import os
import re
import time

import numpy as np
import pytest

import glassnet
from glassnet import io as gio
from glassnet import nn

FORMATS = [".safetensors", ".npz"]


def model_with_buffers(dtype=np.float32):
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 5 * 5, 3),
    ).to(dtype)
    model(np.random.default_rng(0).standard_normal((3, 1, 5, 5)))  # running stats move
    return model


def leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("suffix", FORMATS)
def test_round_trip_is_bit_exact(tmp_path, suffix, dtype):
    model = model_with_buffers(dtype)
    path = glassnet.save(model, tmp_path / f"model{suffix}")
    assert path.exists()
    loaded = glassnet.load_state(path)
    state = model.state_dict()
    assert set(loaded) == set(state)
    for key, value in state.items():
        assert loaded[key].dtype == value.dtype, key
        assert loaded[key].shape == value.shape, key
        assert loaded[key].tobytes() == value.tobytes(), key
    assert loaded["1.num_batches_tracked"].dtype == np.int64
    fresh = model_with_buffers(dtype)
    fresh.load_state_dict(loaded)
    x = np.random.default_rng(1).standard_normal((2, 1, 5, 5)).astype(dtype)
    np.testing.assert_array_equal(fresh.eval()(x), model.eval()(x))
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("suffix", FORMATS)
def test_metadata_round_trip(tmp_path, suffix):
    path = gio.save_arrays(tmp_path / f"a{suffix}", {"x": np.arange(3)}, {"epoch": 3, "name": "r"})
    arrays, metadata = gio.load_arrays(path)
    assert metadata == {"epoch": "3", "name": "r"}
    np.testing.assert_array_equal(arrays["x"], np.arange(3))


def test_save_accepts_a_state_dict(tmp_path):
    state = nn.Linear(2, 2).state_dict()
    loaded = glassnet.load_state(glassnet.save(state, tmp_path / "s.npz"))
    np.testing.assert_array_equal(loaded["weight"], state["weight"])


def test_safetensors_file_loads_into_torch(tmp_path):
    pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    from glassnet.interop.torch import to_torch

    model = model_with_buffers()
    path = glassnet.save(model, tmp_path / "model.safetensors")
    tmodel = to_torch(model_with_buffers())  # same architecture, different weights
    for p in tmodel.parameters():
        p.data.zero_()
    tmodel.load_state_dict(safetensors_torch.load_file(str(path)))
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(tmodel.state_dict()[key].numpy(), value, err_msg=key)
    import torch

    x = np.random.default_rng(2).standard_normal((2, 1, 5, 5)).astype(np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(
            tmodel.eval()(torch.from_numpy(x)).numpy(), model.eval()(x), rtol=1e-5, atol=1e-6
        )


@pytest.mark.parametrize("name", ["model.pt", "model.pkl", "model.json", "model"])
def test_unsupported_extension(tmp_path, name):
    with pytest.raises(ValueError, match="safetensors"):
        glassnet.save(nn.Linear(2, 2), tmp_path / name)
    (tmp_path / name).write_bytes(b"x")
    with pytest.raises(ValueError, match="npz"):
        glassnet.load_state(tmp_path / name)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("suffix", FORMATS)
def test_truncated_file_is_a_value_error_naming_the_file(tmp_path, suffix):
    path = glassnet.save(model_with_buffers(), tmp_path / f"m{suffix}")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=str(path.name)):
        glassnet.load_state(path)


@pytest.mark.parametrize("suffix", FORMATS)
@pytest.mark.parametrize("content", [b"", b"garbage" * 20, b"\x00" * 64])
def test_corrupt_file_is_a_value_error_naming_the_file(tmp_path, suffix, content):
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f"bad{suffix}"):
        glassnet.load_state(path)


def test_damaged_array_data_is_found_by_the_checksum(tmp_path):
    """safetensors checks the header, not the data: bytes changed in the data section
    would load silently (and resume training from garbage) without glassnet's digest."""
    path = glassnet.save(model_with_buffers(), tmp_path / "m.safetensors")
    data = bytearray(path.read_bytes())
    header = 8 + int.from_bytes(data[:8], "little")
    data[header + 10 : header + 14] = b"\x7f\x7f\x7f\x7f"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="m.safetensors is corrupt"):
        glassnet.load_state(path)


@pytest.mark.parametrize("suffix", FORMATS)
def test_damaged_metadata_is_found_by_the_checksum(tmp_path, suffix):
    """A checkpoint's epoch, optimizer and scheduler state are metadata: covered too."""
    path = gio.save_arrays(tmp_path / f"c{suffix}", {"w": np.ones(3)}, {"epoch": 3})
    assert gio.load_arrays(path)[1] == {"epoch": "3"}
    if suffix == ".npz":  # the metadata is an array of the zip; rewrite it changed
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
        arrays["__metadata__"] = np.array(str(arrays["__metadata__"]).replace('"3"', '"7"'))
        np.savez(path, **arrays)
    else:
        path.write_bytes(path.read_bytes().replace(b'"epoch":"3"', b'"epoch":"7"'))
    with pytest.raises(ValueError, match=f"c{suffix} is corrupt: its arrays and metadata"):
        gio.load_arrays(path)


def test_files_with_the_earlier_arrays_only_checksum_still_load(tmp_path):
    """Files saved before the metadata was covered carry a bare digest of the arrays."""
    from safetensors.numpy import save_file

    arrays = {"w": np.arange(3, dtype=np.float32)}
    legacy = gio._digest(arrays, None)
    path = tmp_path / "old.safetensors"
    save_file(arrays, str(path), metadata={gio.DIGEST_KEY: legacy, "epoch": "3"})
    assert gio.load_arrays(path)[1] == {"epoch": "3"}
    bad = legacy[:-1] + ("0" if legacy[-1] != "0" else "1")
    save_file(arrays, str(path), metadata={gio.DIGEST_KEY: bad})
    with pytest.raises(ValueError, match="its arrays do not match the checksum saved"):
        gio.load_arrays(path)


def test_saving_leaves_the_umask_alone(tmp_path, monkeypatch):
    """Reading the umask with os.umask means setting it, which races with other threads'
    new files; on Linux it is read from /proc instead."""
    if not os.path.exists("/proc/self/status"):
        pytest.skip("no /proc")
    mask = os.umask(0o027)
    try:
        monkeypatch.setattr(os, "umask", lambda m: pytest.fail("os.umask was called"))
        path = glassnet.save(nn.Linear(2, 2), tmp_path / "m.safetensors")
    finally:
        monkeypatch.undo()
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o640


def test_failed_chmod_leaves_no_temp_file(tmp_path, monkeypatch):
    def refuse(fd, mode):
        raise PermissionError("chmod refused")

    monkeypatch.setattr(os, "fchmod", refuse)
    with pytest.raises(PermissionError):
        glassnet.save(nn.Linear(2, 2), tmp_path / "m.safetensors")
    assert leftovers(tmp_path) == [] and not (tmp_path / "m.safetensors").exists()


def test_a_file_that_is_no_zip_is_not_called_a_pickle(tmp_path):
    path = tmp_path / "page.npz"
    path.write_text("<html>404 Not Found</html>")
    with pytest.raises(ValueError, match=r"page.npz is not an .npz file \(not a zip archive\)"):
        glassnet.load_state(path)


@pytest.mark.parametrize("suffix", FORMATS)
def test_big_endian_arrays_round_trip_under_the_checksum(tmp_path, suffix):
    """safetensors stores little-endian: the checksum is taken on what is stored."""
    big = np.arange(4, dtype=">f4")
    arrays, _ = glassnet.io.load_arrays(
        glassnet.io.save_arrays(tmp_path / f"b{suffix}", {"w": big})
    )
    np.testing.assert_array_equal(arrays["w"], big)


def test_files_without_glassnets_checksum_still_load(tmp_path):
    from safetensors.numpy import save_file

    save_file({"w": np.ones((2, 2), np.float32)}, str(tmp_path / "other.safetensors"))
    arrays, meta = glassnet.io.load_arrays(tmp_path / "other.safetensors")
    assert list(arrays) == ["w"] and meta == {}


def test_pickled_npz_message_does_not_suggest_unsafe_loading(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, weight=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(ValueError, match="pickled Python objects, which glassnet never loads") as e:
        glassnet.load_state(path)
    assert "allow_pickle" not in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        glassnet.load_state(tmp_path / "nope.safetensors")


def test_npz_with_object_array_is_refused(tmp_path):
    """np.load must run with allow_pickle=False: an object array (pickle inside) is refused."""
    path = tmp_path / "evil.npz"
    np.savez(path, weight=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(ValueError, match="evil.npz"):
        glassnet.load_state(path)


def test_npz_does_not_unpickle(tmp_path, monkeypatch):
    calls = []
    real_load = np.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("allow_pickle"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(np, "load", spy)
    glassnet.load_state(glassnet.save(nn.Linear(2, 2), tmp_path / "m.npz"))
    assert calls == [False]


@pytest.mark.parametrize("suffix", FORMATS)
def test_failed_write_keeps_previous_file_and_leaves_no_temp(tmp_path, suffix, monkeypatch):
    path = tmp_path / f"model{suffix}"
    old = nn.Linear(3, 2)
    glassnet.save(old, path)
    before = path.read_bytes()

    def boom(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)  # everything is written; the final sync fails
    with pytest.raises(OSError, match="disk full"):
        glassnet.save(nn.Linear(3, 2), path)
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []
    monkeypatch.undo()
    loaded = glassnet.load_state(path)
    np.testing.assert_array_equal(loaded["weight"], old.weight.data)


def test_failed_npz_write_midway(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    glassnet.save(nn.Linear(3, 2), path)
    before = path.read_bytes()

    def half_then_fail(f, **arrays):
        f.write(b"PK\x03\x04 partial")
        raise RuntimeError("killed")

    monkeypatch.setattr(np, "savez", half_then_fail)
    with pytest.raises(RuntimeError, match="killed"):
        glassnet.save(nn.Linear(3, 2), path)
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_atomic_write_creates_folders_and_replaces(tmp_path):
    target = tmp_path / "a" / "b" / "out.txt"
    with gio.atomic_write(target, "w", encoding="utf-8") as f:
        f.write("one")
    with gio.atomic_write(target, "w", encoding="utf-8") as f:
        f.write("two")
        assert target.read_text() == "one"  # not visible until the block ends
    assert target.read_text() == "two"
    assert leftovers(target.parent) == []


def test_atomic_write_removes_stale_temps_of_the_same_path_only(tmp_path):
    """A process killed mid-save leaves its temporary file; the next write to that path
    removes it once it is old, and leaves fresh ones (another process may be writing)
    and everyone else's files alone."""
    target = tmp_path / "out.txt"
    old = tmp_path / ".out.txt.k1ll3d_x.tmp"
    fresh = tmp_path / ".out.txt.wr1t1ng_.tmp"
    others = [
        tmp_path / ".other.abc.tmp",
        tmp_path / ".out.txt.bak.abcd1234.tmp",  # a leftover of writing out.txt.bak
        tmp_path / "out.txt.abcd1234.tmp",  # not hidden: not atomic_write's
    ]
    long_ago = time.time() - gio.STALE_TEMP_AGE_S - 60
    for p in [old, fresh, *others]:
        p.write_text("partial")
    for p in [old, *others]:
        os.utime(p, (long_ago, long_ago))
    with gio.atomic_write(target, "w", encoding="utf-8") as f:
        f.write("done")
    assert target.read_text() == "done"
    assert not old.exists()
    assert fresh.exists() and all(p.exists() for p in others)


def test_json_helpers(tmp_path):
    path = tmp_path / "m.json"
    gio.write_json(path, {"a": np.float32(1.5), "b": np.arange(2), "c": np.int64(3)})
    assert gio.read_json(path) == {"a": 1.5, "b": [0, 1], "c": 3}


# ---------------------------------------------------- failed writes name the target
def test_a_full_disk_names_the_file_and_keeps_what_it_held(tmp_path):
    import errno

    target = tmp_path / "w.bin"
    target.write_bytes(b"old")
    with pytest.raises(OSError, match=r"cannot write .*w\.bin: No space left on device") as info:
        with gio.atomic_write(target) as f:
            f.write(b"new, half")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert info.value.errno == errno.ENOSPC
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["w.bin"]  # no temporary file left


def test_other_errors_of_the_callers_writes_pass_unchanged(tmp_path):
    with pytest.raises(FileNotFoundError, match="elsewhere") as info:
        with gio.atomic_write(tmp_path / "w.bin"):
            raise FileNotFoundError(2, "No such file", "elsewhere")
    assert "cannot write" not in str(info.value)


def test_a_folder_in_the_way_is_named_and_the_temporary_file_is_not(tmp_path):
    (tmp_path / "model.safetensors").mkdir()
    with pytest.raises(IsADirectoryError) as info:
        glassnet.save(nn.Linear(2, 2), tmp_path / "model.safetensors")
    message = str(info.value)
    assert f"cannot write {tmp_path / 'model.safetensors'}: Is a directory" in message
    assert ".tmp" not in message
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match=r"cannot write .*file/m\.safetensors: .*\(.*file\)"):
        glassnet.save(nn.Linear(2, 2), tmp_path / "file" / "m.safetensors")


def test_a_refused_temporary_file_keeps_its_error_class(tmp_path, monkeypatch):
    import errno
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / ".w.bin.x.tmp"))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(PermissionError, match=r"cannot write .*w\.bin: Permission denied;"):
        with gio.atomic_write(tmp_path / "w.bin"):
            pass


@pytest.mark.parametrize(
    "arrays, fragment",
    [
        ({"a": "hello"}, "'a' is not a numeric array (<U5)"),
        ({"a": np.array([object()])}, "'a' is not a numeric array (object)"),
        ({1: np.zeros(2)}, "names must be strings, got 1"),
        ({"z": np.zeros(2, np.complex128)}, "safetensors has no complex128 ('z'); save to .npz"),
    ],
)
def test_what_cannot_be_saved_is_named_before_anything_is_written(tmp_path, arrays, fragment):
    path = tmp_path / "x.safetensors"
    with pytest.raises(TypeError, match=re.escape(f"cannot save {path}: {fragment}")):
        glassnet.save(arrays, path)
    assert list(tmp_path.iterdir()) == []


def test_npz_keeps_complex128(tmp_path):
    z = np.array([1 + 2j, 3 - 4j])
    glassnet.save({"z": z}, tmp_path / "x.npz")
    np.testing.assert_array_equal(glassnet.load_state(tmp_path / "x.npz")["z"], z)


# ------------------------------------------------------------ save and load a model
@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_a_saved_zoo_model_loads_back_whole(tmp_path, suffix):
    """gn.save recorded no architecture, so gn.load did not exist and glassnet evaluate
    refused the file ("no 'model' metadata")."""
    model = glassnet.models.get("digits-cnn-pool", seed=3, hidden=20)
    path = glassnet.save(model, tmp_path / f"model{suffix}")
    loaded = glassnet.load(path)
    assert type(loaded) is type(model) and loaded.zoo_spec == model.zoo_spec
    x = np.random.default_rng(0).standard_normal((5, 1, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(loaded.eval()(x), model.eval()(x))
    assert glassnet.models.load is glassnet.load


def test_a_float64_model_loads_back_in_float64(tmp_path):
    model = glassnet.models.get("digits-baseline", seed=0).to(np.float64)
    loaded = glassnet.load(glassnet.save(model, tmp_path / "m.safetensors"))
    assert all(p.data.dtype == np.float64 for p in loaded.parameters())


def test_load_of_weights_without_an_architecture_says_what_to_do(tmp_path):
    path = glassnet.save(nn.Sequential(nn.Linear(3, 2)), tmp_path / "mine.safetensors")
    with pytest.raises(ValueError, match=r"load_state_dict\(glassnet.load_state\(path\)\)"):
        glassnet.load(path)


def test_the_checkpoint_key_of_load_is_that_of_the_checkpoints():
    from glassnet.models import saved
    from glassnet.train import checkpoint

    assert saved._CHECKPOINT_KEY == checkpoint.CHECKPOINT_KEY


def test_a_run_folder_lock_refuses_a_second_holder_and_leaves_no_trace(tmp_path):
    folder = tmp_path / "run"
    with gio.run_folder_lock(folder):
        with pytest.raises(gio.RunFolderInUseError, match=rf"process {os.getpid()}\)"):
            with gio.run_folder_lock(folder):
                pass
        assert (folder / ".glassnet.lock").exists()
        (folder / "kept.txt").write_text("x")
    assert [p.name for p in folder.iterdir()] == ["kept.txt"]
    with gio.run_folder_lock(tmp_path / "empty"):
        pass
    assert not (tmp_path / "empty").exists()  # made for the lock, left empty: removed
    a_file = tmp_path / "file"
    a_file.write_text("mine")
    with pytest.raises(FileExistsError, match="is a file"):
        with gio.run_folder_lock(a_file):
            pass
