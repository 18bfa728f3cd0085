"""The canonical file formats, on tiny files written here: idx, CIFAR-10 binary and python."""

from __future__ import annotations

import gzip
import os
import pickle
import struct

import numpy as np
import pytest

from glassnet.data import formats
from glassnet.data.formats import (
    UnsafePickleError,
    read_cifar_binary,
    read_cifar_python,
    read_idx,
    restricted_loads,
    write_idx,
)

# ------------------------------------------------------------------------------ idx


def idx_bytes(code: int, dims, payload: bytes) -> bytes:
    """An idx file built by hand from the spec (not by write_idx)."""
    return bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload


def test_read_idx_hand_built_labels(tmp_path):
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(idx_bytes(0x08, [5], bytes([5, 0, 4, 1, 9])))
    labels = read_idx(path)
    assert labels.dtype == np.uint8 and labels.tolist() == [5, 0, 4, 1, 9]


def test_read_idx_big_endian_int32_and_gzip(tmp_path):
    values = [1, -2, 70000, 2**31 - 1, 0, 3]
    path = tmp_path / "x-idx2-int.gz"
    path.write_bytes(gzip.compress(idx_bytes(0x0C, [2, 3], struct.pack(">6i", *values))))
    array = read_idx(path)
    assert array.shape == (2, 3)
    assert array.dtype == np.int32 and array.dtype.isnative
    assert array.ravel().tolist() == values


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_idx_roundtrip(tmp_path, name, dtype):
    rng = np.random.default_rng(0)
    array = (rng.random((4, 5, 6)) * 100).astype(dtype)
    write_idx(tmp_path / name, array)
    raw = (tmp_path / name).read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == name.endswith(".gz")
    back = read_idx(tmp_path / name)
    assert back.dtype == dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_idx_gzip_detected_by_content_not_name(tmp_path):
    path = tmp_path / "no-suffix"
    path.write_bytes(gzip.compress(idx_bytes(0x08, [3], b"\x01\x02\x03")))
    assert read_idx(path).tolist() == [1, 2, 3]


def test_read_idx_gives_writable_arrays_of_every_dtype(tmp_path):
    for dtype in (np.uint8, np.int16, np.float32):
        write_idx(tmp_path / "a", np.arange(6, dtype=dtype).reshape(2, 3))
        array = read_idx(tmp_path / "a")
        assert array.flags.writeable and array.dtype == dtype
        array[0, 0] = 5


@pytest.mark.parametrize(
    "content, message",
    [
        (idx_bytes(0x08, [2, 3], bytes(5)), "truncated"),
        (idx_bytes(0x08, [2, 3], bytes(7)), "trailing"),
        (b"\x1f\x00\x08\x01" + struct.pack(">I", 1) + b"\x00", "magic"),
        (idx_bytes(0x07, [1], b"\x00"), "dtype code"),
        (idx_bytes(0x08, [], b""), "0 dimensions"),
        (b"\x00\x00\x08\x03\x00\x00", "header"),
        (b"\x00\x00", "too short"),
        # shapes whose int64 product wraps around: "truncated", never a negative size
        (idx_bytes(0x08, [2**32 - 1, 2**32 - 1], b""), r"truncated.*\(18446744065119617025 "),
        (idx_bytes(0x08, [65536] * 4, b""), "truncated"),
    ],
)
def test_idx_corrupt_files_raise_clear_errors(tmp_path, content, message):
    path = tmp_path / "bad-idx"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_idx_truncated_gzip(tmp_path):
    good = gzip.compress(idx_bytes(0x08, [1000], bytes(range(256)) * 3 + bytes(232)))
    path = tmp_path / "cut.gz"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_idx_corrupted_gzip_fails_crc(tmp_path):
    payload = idx_bytes(0x08, [4096], np.random.default_rng(1).bytes(4096))
    data = bytearray(gzip.compress(payload, compresslevel=0))  # stored: a flipped byte stays valid
    data[len(data) // 2] ^= 0xFF
    path = tmp_path / "flip.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="gzip"):
        read_idx(path)


# ---------------------------------------------------------------------- CIFAR binary


def cifar_records(labels, seed=0):
    """Records built by hand: 1 label byte, then 1024 R, 1024 G, 1024 B bytes."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(len(labels), 3, 32, 32), dtype=np.uint8)
    blob = b"".join(bytes([lab]) + img.tobytes() for lab, img in zip(labels, images))
    return images, blob


def test_read_cifar_binary(tmp_path):
    images, blob = cifar_records([6, 9, 9, 4])
    path = tmp_path / "data_batch_1.bin"
    path.write_bytes(blob)
    x, y = read_cifar_binary(path)
    assert x.shape == (4, 3, 32, 32) and x.dtype == np.uint8
    assert y.dtype == np.int64 and y.tolist() == [6, 9, 9, 4]
    np.testing.assert_array_equal(x, images)
    # the record layout: byte 1 + 1024 is the first green pixel of image 0
    assert x[0, 1, 0, 0] == blob[1 + 1024] and x[1, 2, 31, 31] == blob[2 * 3073 - 1]


def test_write_cifar_binary_roundtrip(tmp_path):
    images, _ = cifar_records([1, 2, 3])
    formats.write_cifar_binary(tmp_path / "b.bin", images, [1, 2, 3])
    x, y = read_cifar_binary(tmp_path / "b.bin")
    np.testing.assert_array_equal(x, images)
    assert y.tolist() == [1, 2, 3]


@pytest.mark.parametrize("cut", [1, 3072, 3074])
def test_cifar_binary_truncated(tmp_path, cut):
    _, blob = cifar_records([1, 2])
    path = tmp_path / "test_batch.bin"
    path.write_bytes(blob[:-cut])
    with pytest.raises(ValueError, match="3073") as info:
        read_cifar_binary(path)
    assert str(path) in str(info.value)


def test_cifar_binary_empty_and_bad_label(tmp_path):
    (tmp_path / "empty.bin").write_bytes(b"")
    with pytest.raises(ValueError, match="multiple"):
        read_cifar_binary(tmp_path / "empty.bin")
    _, blob = cifar_records([1, 10])
    (tmp_path / "label.bin").write_bytes(blob)
    with pytest.raises(ValueError, match="label 10"):
        read_cifar_binary(tmp_path / "label.bin")


# ---------------------------------------------------------------------- CIFAR python


def py3_batch(labels, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(len(labels), 3072), dtype=np.uint8)
    batch = {
        "batch_label": b"training batch 1 of 5",
        "labels": list(labels),
        "data": data,
        "filenames": [f"img_{i}.png".encode() for i in range(len(labels))],
    }
    return data, batch


def _short(b: bytes) -> bytes:  # a Python 2 str: SHORT_BINSTRING or BINSTRING
    return b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + struct.pack("<i", len(b)) + b


def _int(v: int) -> bytes:
    return b"J" + struct.pack("<i", v)


def py2_batch_bytes(data: np.ndarray, labels) -> bytes:
    """The bytes Python 2's cPickle (protocol 2) wrote for the official CIFAR-10 batches."""
    out = b"\x80\x02}("  # PROTO 2, EMPTY_DICT, MARK
    out += _short(b"batch_label") + _short(b"training batch 1 of 5")
    out += _short(b"labels") + b"](" + b"".join(_int(v) for v in labels) + b"e"
    out += _short(b"data")
    out += b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + _short(b"b")
    out += b"\x87R(K\x01" + _int(data.shape[0]) + _int(data.shape[1]) + b"\x86"
    out += b"cnumpy\ndtype\n" + _short(b"u1") + b"K\x00K\x01\x87R(K\x03" + _short(b"|")
    out += b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    out += b"\x89" + _short(data.tobytes()) + b"tbu."  # BUILD the array, SETITEMS, STOP
    return out


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_read_cifar_python_py3_pickles(tmp_path, protocol):
    data, batch = py3_batch([3, 8, 8, 0, 6])
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(batch, protocol=protocol))
    x, y = read_cifar_python(path)
    assert x.shape == (5, 3, 32, 32) and x.dtype == np.uint8
    assert y.dtype == np.int64 and y.tolist() == [3, 8, 8, 0, 6]
    np.testing.assert_array_equal(x.reshape(5, -1), data)


def test_read_cifar_python_py2_pickle(tmp_path):
    data = np.random.default_rng(3).integers(0, 256, size=(3, 3072), dtype=np.uint8)
    path = tmp_path / "test_batch"
    path.write_bytes(py2_batch_bytes(data, [1, 2, 9]))
    x, y = read_cifar_python(path)
    assert y.tolist() == [1, 2, 9]
    np.testing.assert_array_equal(x.reshape(3, -1), data)
    # the same pixel layout as the binary version: red plane first
    np.testing.assert_array_equal(x[:, 0].reshape(3, -1), data[:, :1024])


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_malicious_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    _, batch = py3_batch([1])
    batch["data"] = _Evil(marker)
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(UnsafePickleError, match="system") as info:
        read_cifar_python(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, pickle.UnpicklingError)
    assert not marker.exists()


@pytest.mark.parametrize(
    "payload",
    [
        b"cbuiltins\neval\n(V1+1\ntR.",
        b"cbuiltins\ngetattr\n.",
        b"c_codecs\nencode\n(Vabc\nVrot13\ntR.",  # only latin1 encoding is let through
        b"cnumpy\nload\n.",
        b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nrecarray\nK\x00\x85C\x01b\x87R.",
    ],
)
def test_restricted_unpickler_refuses_globals(payload):
    with pytest.raises(UnsafePickleError):
        restricted_loads(b"\x80\x02" + payload)


def test_restricted_unpickler_refuses_object_arrays():
    array = np.array([1, "a", None], dtype=object)
    with pytest.raises(UnsafePickleError, match="object"):
        restricted_loads(pickle.dumps(array, protocol=2))


def test_restricted_unpickler_accepts_plain_data():
    value = {
        "a": [1, 2.5, "s", b"b", None, True],
        "arr": np.arange(6, dtype=np.int16).reshape(2, 3),
    }
    for protocol in (2, 4, 5):
        back = restricted_loads(pickle.dumps(value, protocol=protocol))
        assert back["a"] == value["a"]
        np.testing.assert_array_equal(back["arr"], value["arr"])


@pytest.mark.parametrize(
    "obj, message",
    [
        ([1, 2], "dict"),
        ({"data": np.zeros((2, 3072), np.uint8)}, "labels"),
        ({"data": np.zeros((2, 3072), np.uint8), "labels": [1]}, "labels"),
        ({"data": np.zeros((2, 100), np.uint8), "labels": [1, 2]}, "3072"),
        ({"data": np.zeros((2, 3072), np.float32), "labels": [1, 2]}, "uint8"),
        ({"data": np.zeros((2, 3072), np.uint8), "labels": [1, 12]}, "label 12"),
    ],
)
def test_cifar_python_bad_structure(tmp_path, obj, message):
    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps(obj, protocol=4))
    with pytest.raises(ValueError, match=message):
        read_cifar_python(path)


def test_cifar_python_truncated(tmp_path):
    _, batch = py3_batch([1, 2])
    blob = pickle.dumps(batch, protocol=2)
    path = tmp_path / "batch"
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="not a readable") as info:
        read_cifar_python(path)
    assert str(path) in str(info.value)
