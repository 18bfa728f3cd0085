"""Readers for the canonical dataset file formats: idx (MNIST) and CIFAR-10.

Nothing here downloads or caches; every function takes a path and returns NumPy
arrays, or raises ``ValueError`` naming the file and what is wrong with it.

The idx format (MNIST, Fashion-MNIST)
-------------------------------------
An idx file is a tiny header followed by raw numbers, all big-endian::

    byte 0-1   0x00 0x00          always zero
    byte 2     dtype code         0x08 uint8, 0x09 int8, 0x0B int16,
                                  0x0C int32, 0x0D float32, 0x0E float64
    byte 3     ndim               number of dimensions
    then       ndim x uint32      the size of each dimension
    then       the data           prod(dims) items, row-major (C order)

So ``train-images-idx3-ubyte`` starts with ``00 00 08 03`` (the "magic number"
0x00000803: uint8, 3 dims), then 60000, 28, 28, then 60000*28*28 pixel bytes.
The label file has magic 0x00000801 and one dimension. The files are usually
gzipped (``.gz``); we recognise gzip by its first two bytes ``1f 8b``, not by
the file name, and gzip itself checks a CRC32 of the content when it reaches the
end, so a corrupted download is caught there.

CIFAR-10, binary version (``cifar-10-batches-bin/*.bin``)
--------------------------------------------------------
A flat sequence of 3073-byte records, no header: 1 label byte (0-9), then the
32x32 image as 1024 red, 1024 green, 1024 blue bytes, each plane row-major. That
is already NCHW order, so the whole file is one ``reshape``.

CIFAR-10, python version (``cifar-10-batches-py/data_batch_1`` ...)
-------------------------------------------------------------------
Each batch is a Python *pickle* of a dict ``{b"data": uint8 array (N, 3072),
b"labels": [N ints], b"batch_label": ..., b"filenames": [...]}`` (same pixel
layout as the binary version). A pickle is a small program that the unpickler
runs; a crafted one can call any importable function (``os.system`` ...). So we
never call ``pickle.load`` on it: :class:`RestrictedUnpickler` only lets through
the few functions NumPy uses to rebuild an array; everything else is refused.
"""

from __future__ import annotations

import gzip
import importlib
import io
import math
import os
import pickle
import zlib
from pathlib import Path

import numpy as np

__all__ = [
    "IDX_DTYPES",
    "read_idx",
    "idx_size_problem",
    "cifar_binary_size_problem",
    "write_idx",
    "read_cifar_binary",
    "write_cifar_binary",
    "read_cifar_python",
    "restricted_loads",
    "RestrictedUnpickler",
    "UnsafePickleError",
]

# idx dtype code -> big-endian NumPy dtype
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

CIFAR_IMAGE_BYTES = 3 * 32 * 32
CIFAR_RECORD_BYTES = 1 + CIFAR_IMAGE_BYTES


def _read_maybe_gzip(path: Path) -> bytes:
    """The file's bytes, decompressed if it starts with the gzip magic 1f 8b."""
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:  # truncated or CRC mismatch
        raise ValueError(f"{path}: corrupt or truncated gzip data ({exc})") from exc


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an idx file (gzipped or not) into an array of its native dtype.

    The result has the header's shape and a native-endian dtype (uint8 for MNIST).
    Raises ``ValueError`` when the magic number, dtype code or size is wrong.
    """
    path = Path(path)
    data = _read_maybe_gzip(path)
    dtype, dims, header_len = _idx_header(path, data)
    expected = math.prod(dims) * dtype.itemsize  # Python ints: no int64 overflow
    actual = len(data) - header_len
    if actual != expected:
        what = "truncated" if actual < expected else "has trailing bytes"
        raise ValueError(
            f"{path}: idx file {what}: header says shape {dims} of {dtype.name} "
            f"({expected} data bytes) but the file holds {actual}"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(dims)
    # a copy: frombuffer's view of the bytes is read-only (for uint8, astype would keep it)
    return array.astype(dtype.newbyteorder("="))


_IDX_HEADER_MAX = 4 + 4 * 255  # the magic number, then at most 255 dimension sizes


def _idx_header(path: Path, data: bytes) -> tuple[np.dtype, tuple[int, ...], int]:
    """``(dtype, dims, header length)`` from the file's first bytes (at least the
    header's); ValueError naming the file and what is wrong."""
    if len(data) < 4:
        raise ValueError(f"{path}: too short for an idx header ({len(data)} bytes)")
    zero, code, ndim = data[0:2], data[2], data[3]
    if zero != b"\x00\x00":
        raise ValueError(
            f"{path}: not an idx file (magic number 0x{data[:4].hex()} should start with 0000)"
        )
    if code not in IDX_DTYPES:
        raise ValueError(f"{path}: unknown idx dtype code 0x{code:02x}")
    if ndim == 0:
        raise ValueError(f"{path}: idx header declares 0 dimensions")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise ValueError(f"{path}: truncated idx header (needs {header_len} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    return IDX_DTYPES[code], dims, header_len


def idx_size_problem(path: str | os.PathLike) -> str | None:
    """Why the idx file at ``path`` is not whole, or None; reads a few bytes only.

    The header gives the data's size, so a plain file's length must be
    ``header + prod(dims) * itemsize``. A gzipped file ends with its uncompressed
    length modulo 2**32 (gzip's ISIZE field), which a download cut short does not
    hold. This is a quick look for ``glassnet datasets``; only reading the whole
    file (``read_idx``, or the MD5 in ``verify``) proves the content.
    """
    path = Path(path)
    try:
        with path.open("rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            stream = gzip.GzipFile(fileobj=raw) if gzipped else raw
            head = stream.read(_IDX_HEADER_MAX)  # the header and perhaps some data
            raw.seek(0, os.SEEK_END)
            length = raw.tell()
            if gzipped:
                raw.seek(-4, os.SEEK_END)
                isize = int.from_bytes(raw.read(4), "little")
    except (OSError, EOFError, zlib.error) as exc:
        return f"unreadable ({exc})"
    try:
        dtype, dims, header_len = _idx_header(path, head)
    except ValueError as exc:
        return str(exc).removeprefix(f"{path}: ")
    expected = header_len + math.prod(dims) * dtype.itemsize
    if gzipped and isize != expected % 2**32:
        # (a file cut short has no real trailer: its last 4 bytes say nothing useful)
        return f"gzip data ends early or is damaged (the header implies {expected} bytes)"
    if not gzipped and length != expected:
        return f"{length} bytes where the header implies {expected}"
    return None


def cifar_binary_size_problem(path: str | os.PathLike) -> str | None:
    """Why the CIFAR-10 binary batch at ``path`` cannot be whole, or None (its size
    must be a positive multiple of the 3073-byte record); reads nothing."""
    size = Path(path).stat().st_size
    if size == 0 or size % CIFAR_RECORD_BYTES:
        return f"{size} bytes, not a whole number of {CIFAR_RECORD_BYTES}-byte records"
    return None


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an idx file, gzipped when ``path`` ends in ``.gz``."""
    array = np.asarray(array)
    codes = {dt.newbyteorder("=").str: code for code, dt in IDX_DTYPES.items()}
    key = array.dtype.newbyteorder("=").str
    if key not in codes:
        raise ValueError(f"idx cannot store dtype {array.dtype}")
    code = codes[key]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    payload = header + array.astype(IDX_DTYPES[code], copy=False).tobytes()
    path = Path(path)
    if path.suffix == ".gz":
        payload = gzip.compress(payload)
    path.write_bytes(payload)


def _check_cifar_labels(path: Path, labels: np.ndarray) -> None:
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        bad = labels[(labels < 0) | (labels > 9)][0]
        raise ValueError(f"{path}: CIFAR-10 label {bad} outside 0..9")


def read_cifar_binary(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 binary batch: ``(images uint8 (N, 3, 32, 32), labels int64 (N,))``."""
    path = Path(path)
    data = path.read_bytes()
    if len(data) == 0 or len(data) % CIFAR_RECORD_BYTES:
        raise ValueError(
            f"{path}: size {len(data)} bytes is not a positive multiple of the "
            f"{CIFAR_RECORD_BYTES}-byte CIFAR-10 record (1 label + 3072 pixels); "
            "truncated or not a CIFAR-10 binary batch"
        )
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, CIFAR_RECORD_BYTES)
    labels = records[:, 0].astype(np.int64)
    _check_cifar_labels(path, labels)
    images = records[:, 1:].reshape(-1, 3, 32, 32).copy()
    return images, labels


def write_cifar_binary(path: str | os.PathLike, images: np.ndarray, labels) -> None:
    """Write uint8 images (N, 3, 32, 32) and labels as a CIFAR-10 binary batch."""
    images = np.asarray(images, dtype=np.uint8).reshape(-1, CIFAR_IMAGE_BYTES)
    labels = np.asarray(labels, dtype=np.uint8).reshape(-1, 1)
    Path(path).write_bytes(np.concatenate([labels, images], axis=1).tobytes())


# ---------------------------------------------------------------- safe unpickling


class UnsafePickleError(ValueError, pickle.UnpicklingError):
    """A pickle asked for something other than plain data and NumPy arrays."""


def _numpy_attr(module_names: tuple[str, ...], name: str):
    for module_name in module_names:
        try:
            return getattr(importlib.import_module(module_name), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"NumPy has no {name} in {module_names}")  # pragma: no cover


def _plain_dtype(*args):
    """``np.dtype`` that refuses the object dtype (which would unpickle arbitrary items)."""
    dtype = np.dtype(*args)
    if dtype.hasobject:
        raise UnsafePickleError("pickle asks for an object-dtype array, which is refused")
    return dtype


def _safe_reconstruct(cls, shape, dtype_char):
    if cls is not np.ndarray:
        raise UnsafePickleError(f"pickle asks to rebuild {cls!r}, only numpy.ndarray is allowed")
    return _numpy_attr(("numpy._core.multiarray", "numpy.core.multiarray"), "_reconstruct")(
        cls, shape, dtype_char
    )


def _safe_frombuffer(buffer, dtype, shape, order):
    _plain_dtype(dtype)
    return _numpy_attr(("numpy._core.numeric", "numpy.core.numeric"), "_frombuffer")(
        buffer, dtype, shape, order
    )


def _safe_scalar(dtype, *args):
    _plain_dtype(dtype)
    return _numpy_attr(("numpy._core.multiarray", "numpy.core.multiarray"), "scalar")(dtype, *args)


def _latin1_encode(text, encoding="latin1"):
    """How protocol-2 pickles written by Python 3 spell a ``bytes`` object."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise UnsafePickleError(f"pickle asks for _codecs.encode(..., {encoding!r})")
    return text.encode("latin1")


_NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")
_ALLOWED = {
    **{(m, "_reconstruct"): _safe_reconstruct for m in _NUMPY_MODULES},
    **{(m, "scalar"): _safe_scalar for m in _NUMPY_MODULES},
    ("numpy.core.numeric", "_frombuffer"): _safe_frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _safe_frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _plain_dtype,
    ("_codecs", "encode"): _latin1_encode,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that rebuilds only plain data and NumPy arrays.

    Dicts, lists, tuples, str, bytes, ints, floats, bools and None are built by
    pickle opcodes without importing anything. Any import (``find_class``) outside
    a short allow-list of NumPy array/dtype constructors raises
    :class:`UnsafePickleError`, so ``os.system`` and friends are never reached.
    """

    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to unpickle global {module}.{name}: only NumPy arrays and "
                "plain data are allowed"
            ) from None

    def persistent_load(self, pid):
        raise UnsafePickleError("refusing a pickle with persistent ids")


def restricted_loads(data: bytes, encoding: str = "bytes"):
    """``pickle.loads`` through :class:`RestrictedUnpickler`.

    ``encoding="bytes"`` reads the Python 2 strings of the original CIFAR-10
    batches as ``bytes`` (which NumPy needs for the pixel buffer).
    """
    return RestrictedUnpickler(io.BytesIO(data), encoding=encoding).load()


def _key(key) -> str:
    return key.decode("latin1") if isinstance(key, bytes) else key


def read_cifar_python(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 python batch safely: ``(images uint8 (N,3,32,32), labels int64)``."""
    path = Path(path)
    try:
        batch = restricted_loads(path.read_bytes())
    except UnsafePickleError as exc:
        raise UnsafePickleError(f"{path}: {exc}") from None
    except Exception as exc:  # truncated or garbage pickles raise many different types
        raise ValueError(f"{path}: not a readable CIFAR-10 python batch ({exc!r})") from exc
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: expected a pickled dict, got {type(batch).__name__}")
    batch = {_key(k): v for k, v in batch.items()}
    missing = {"data", "labels"} - set(batch)
    if missing:
        raise ValueError(f"{path}: CIFAR-10 batch lacks key(s) {sorted(missing)}")
    data = batch["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8:
        raise ValueError(f"{path}: 'data' should be a uint8 array, got {type(data).__name__}")
    if data.ndim != 2 or data.shape[1] != CIFAR_IMAGE_BYTES:
        raise ValueError(f"{path}: 'data' has shape {data.shape}, expected (N, 3072)")
    labels = np.asarray(batch["labels"])
    if labels.ndim != 1 or labels.dtype.kind not in "iu" or len(labels) != len(data):
        raise ValueError(
            f"{path}: 'labels' should be {len(data)} integers, got "
            f"shape {labels.shape} dtype {labels.dtype}"
        )
    labels = labels.astype(np.int64)
    _check_cifar_labels(path, labels)
    return np.ascontiguousarray(data).reshape(-1, 3, 32, 32), labels
