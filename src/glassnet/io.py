"""Saving and loading: safetensors or npz, never pickle; every write is atomic.

``save(model, "model.safetensors")`` writes the model's state_dict (PyTorch's keys,
so ``safetensors.torch.load_file`` + ``torch_model.load_state_dict`` reads it too);
``load_state(path)`` reads it back as an ordered dict of arrays, which
``model.load_state_dict`` accepts. A zoo model's file also names its architecture:
``glassnet.load(path)`` (:mod:`glassnet.models.saved`) returns the model itself.

Atomic means: the data goes to a temporary file in the same folder, is flushed to
disk, and only then renamed over the target (``os.replace`` is atomic on POSIX and
Windows). A run killed mid-write leaves the previous file intact, never half a file.

Every file also carries a SHA-256 of its arrays and its other metadata in its metadata
(``glassnet.sha256``): safetensors checks a file's header but not its data, so a
damaged checkpoint would otherwise load. Files without it (written by other tools)
load unchecked.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import tempfile
import time
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

__all__ = [
    "save",
    "load_state",
    "save_arrays",
    "load_arrays",
    "atomic_write",
    "write_json",
    "read_json",
    "machine_info",
    "run_folder_lock",
    "RunFolderInUseError",
    "remove_temp_files",
]

_FORMATS = (".safetensors", ".npz")

# A temporary file of atomic_write untouched for this long is a leftover of a killed
# process, not another process's write in progress (which touches it as it writes).
STALE_TEMP_AGE_S = 3600.0


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb", encoding: str | None = None):
    """Open a temporary file beside ``path``; rename it over ``path`` on success only.

    A process killed mid-write (SIGKILL, power loss) cannot remove its temporary file,
    so each write first removes the leftovers of earlier writes to the same ``path``:
    see ``_remove_stale_temps``.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temps(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:  # a read-only folder, a file where a folder should be...
        raise _cannot_write(path, exc) from exc
    ours = True  # whether an OSError comes from this write (else from the caller's code)
    try:
        with os.fdopen(fd, mode, encoding=encoding if "b" not in mode else None) as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())  # mkstemp makes 0600: the usual mode
            try:
                yield f
            except OSError as exc:  # a full disk is this write's; the rest the caller's
                ours = exc.errno in _FULL
                raise
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and ours:
            raise _cannot_write(path, exc) from exc
        raise


_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _cannot_write(path: Path, exc: OSError) -> OSError:
    """The error of a failed write, naming the file the user asked for rather than the
    hidden temporary file (or nothing at all, for a full disk): the same OSError
    subclass, the same errno. Whatever ``path`` held before is untouched."""
    why = exc.strerror or str(exc)
    culprit = Path(str(exc.filename)) if exc.filename else None  # a parent, say, not our temp
    own = culprit is not None and (culprit == path or culprit.name.startswith(f".{path.name}."))
    where = f" ({culprit})" if culprit is not None and not own else ""
    message = f"cannot write {path}: {why}{where}; whatever it held is unchanged"
    try:
        return type(exc)(exc.errno, message) if exc.errno is not None else type(exc)(message)
    except TypeError:  # a subclass with its own constructor
        return OSError(exc.errno, message)


def _remove_stale_temps(path: Path) -> None:
    """Delete ``.{path.name}.XXXX.tmp`` files beside ``path`` older than STALE_TEMP_AGE_S.

    Only the names atomic_write gives its temporary files for this very ``path`` are
    candidates: mkstemp's random part has no dot, so the temporary files of ``a.b``
    (``.a.b.XXXX.tmp``) are never taken for those of ``a``. Only regular files are
    removed, never links. Files modified within the last STALE_TEMP_AGE_S may belong
    to a write in progress in another process and are kept. Cleaning up is a courtesy:
    any error (a file removed meanwhile, no permission) is ignored, never raised.
    """
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[A-Za-z0-9_]+\.tmp")
    cutoff = time.time() - STALE_TEMP_AGE_S
    with contextlib.suppress(OSError), os.scandir(path.parent) as entries:
        for entry in entries:
            if not pattern.fullmatch(entry.name):
                continue
            with contextlib.suppress(OSError):
                if (
                    entry.is_file(follow_symlinks=False)
                    and entry.stat(follow_symlinks=False).st_mtime < cutoff
                ):
                    os.unlink(entry.path)


def remove_temp_files(folder) -> list[Path]:
    """Delete every temporary file of :func:`atomic_write` (``.<name>.XXXXXXXX.tmp``) in
    ``folder`` and its subfolders, whatever its age: for a caller that holds the
    folder's :func:`run_folder_lock`, so that no other write can be in progress there.
    They are the full-size leftovers of a process killed mid-save. Returns those removed."""
    pattern = re.compile(r"\..+\.[A-Za-z0-9_]+\.tmp")
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for path in [folder, *(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink())]:
        with contextlib.suppress(OSError), os.scandir(path) as entries:
            for entry in entries:
                if pattern.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)
                        removed.append(Path(entry.path))
    return removed


class RunFolderInUseError(OSError):
    """Another process holds the run folder's lock (it is training into it)."""


LOCK_NAME = ".glassnet.lock"


@contextlib.contextmanager
def run_folder_lock(folder):
    """Hold ``folder`` for one writer: an exclusive lock (``flock``) on its
    ``.glassnet.lock`` file, which the system releases when the process ends, even by
    ``kill -9``. A second process is refused with :class:`RunFolderInUseError` naming
    the first one's process id (two ``glassnet train --out same`` runs 0.1 s apart both
    ran and reported success; the folder kept the last). Holding the lock, the
    temporary files that killed writes left there are removed. A folder made here that
    holds nothing but the lock file on leaving is removed again (a run refused by its
    checks leaves nothing). Where the system has no ``flock`` (Windows) nothing is locked
    (nor cleaned)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"run folder {folder} is a file, not a folder")
    made = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _cannot_write(folder, exc) from exc
    lock_path = folder / LOCK_NAME
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        fcntl = None
    fd, held = None, False
    try:
        while fcntl is not None and not held:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 32).decode("ascii", "replace").strip()
                raise RunFolderInUseError(
                    f"{folder} is in use by another glassnet run"
                    + (f" (process {holder})" if holder.isdigit() else "")
                    + ": wait for it to finish, or give another --out"
                ) from None
            if not _same_file(fd, lock_path):  # its holder removed it meanwhile: again
                os.close(fd)
                fd = None
                continue
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            held = True
            remove_temp_files(folder)  # no other writer can be at work there now
        yield folder
    finally:
        if held:  # (a refused process must not touch the holder's files)
            with contextlib.suppress(OSError):
                lock_path.unlink()  # the next holder checks it locked the file still there
                if made and not any(folder.iterdir()):
                    folder.rmdir()
        if fd is not None:
            os.close(fd)  # releases the lock


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False


def _umask() -> int:
    """The process's umask, read without setting it where the OS allows: ``os.umask``
    can only be read by setting it, and for that moment another thread's new files
    would get the wrong mode."""
    with contextlib.suppress(OSError, ValueError):  # Linux 4.7+
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json(path, obj) -> None:
    with atomic_write(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, default=_json_default)
        f.write("\n")


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in _FORMATS:
        raise ValueError(
            f"unsupported file type {path.suffix!r} for {path}: use .safetensors or .npz "
            "(glassnet never pickles)"
        )
    return suffix


# what safetensors stores of NumPy's kinds and sizes (complex128 and strings it does not)
_SAFETENSORS_KINDS = {"b": (1,), "i": (1, 2, 4, 8), "u": (1, 2, 4, 8), "f": (2, 4, 8), "c": (8,)}


def _check_savable(path: Path, arrays: dict, fmt: str) -> None:
    """TypeError naming the entry that cannot be saved, before anything is written:
    names must be strings, values numeric arrays (for .safetensors, of a dtype it has)."""
    for key, a in arrays.items():
        if not isinstance(key, str):
            raise TypeError(f"cannot save {path}: names must be strings, got {key!r}")
        kind = a.dtype.kind
        if kind not in "biufc":
            raise TypeError(f"cannot save {path}: {key!r} is not a numeric array ({a.dtype})")
        if fmt == ".safetensors" and a.dtype.itemsize not in _SAFETENSORS_KINDS[kind]:
            raise TypeError(
                f"cannot save {path}: safetensors has no {a.dtype} ({key!r}); "
                "save to .npz, or cast the array"
            )


def save_arrays(path, arrays: dict, metadata: dict | None = None) -> Path:
    """Write named arrays (+ string metadata) to .safetensors or .npz, atomically."""
    path = Path(path)
    fmt = _format(path)
    # np.asarray(order="C"), not np.ascontiguousarray, which turns 0-d arrays (BatchNorm's
    # num_batches_tracked) into shape (1,)
    # little-endian, as safetensors stores them: the checksum then sees the bytes on disk
    arrays = OrderedDict((k, _little_endian(np.asarray(v, order="C"))) for k, v in arrays.items())
    _check_savable(path, arrays, fmt)
    metadata = {  # safetensors metadata is str -> str: anything else is stored as JSON
        str(k): v if isinstance(v, str) else json.dumps(v, default=_json_default)
        for k, v in (metadata or {}).items()
    }
    metadata[DIGEST_KEY] = _digest(arrays, metadata)  # load_arrays finds damage by it
    if fmt == ".safetensors":
        try:
            from safetensors.numpy import save as st_save
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "saving .safetensors needs the 'safetensors' package "
                "(pip install 'glassnet[io]'), or save to .npz instead"
            ) from exc
        blob = st_save(dict(arrays), metadata=metadata or None)
        with atomic_write(path) as f:
            f.write(blob)
    else:
        payload = dict(arrays)
        if metadata:
            payload["__metadata__"] = np.array(json.dumps(metadata))
        with atomic_write(path) as f:
            np.savez(f, **payload)
    return path


def load_arrays(path) -> tuple[OrderedDict, dict]:
    """Read ``(arrays, metadata)`` written by :func:`save_arrays` (or by safetensors/numpy)."""
    path = Path(path)
    fmt = _format(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        if fmt == ".safetensors":
            from safetensors import safe_open

            arrays = OrderedDict()
            with safe_open(str(path), framework="numpy") as f:
                metadata = dict(f.metadata() or {})
                for key in f.keys():
                    arrays[key] = f.get_tensor(key)
        else:
            with np.load(path, allow_pickle=False) as data:
                arrays = OrderedDict((k, data[k]) for k in data.files if k != "__metadata__")
                metadata = (
                    json.loads(str(data["__metadata__"])) if "__metadata__" in data.files else {}
                )
    except ImportError:
        raise
    except ValueError as exc:
        if fmt == ".npz" and not zipfile.is_zipfile(path):  # numpy tries it as a pickle
            raise ValueError(f"{path} is not an .npz file (not a zip archive)") from None
        if "pickle" in str(exc).lower():  # numpy's advice would be to allow unsafe loading
            raise ValueError(
                f"{path} is not an .npz file of plain arrays: numpy would read it as pickled "
                "Python objects, which glassnet never loads (a pickle can run code)"
            ) from None
        raise ValueError(f"{path} is not a readable {fmt} file ({exc})") from exc
    except Exception as exc:
        raise ValueError(f"{path} is not a readable {fmt} file ({exc})") from exc
    saved = metadata.pop(DIGEST_KEY, None)  # files from other tools have none
    if saved is not None:
        covers_metadata = saved.startswith(_ALL)
        if saved != _digest(arrays, metadata if covers_metadata else None):
            what = "arrays and metadata do" if covers_metadata else "arrays do"
            raise ValueError(f"{path} is corrupt: its {what} not match the checksum saved")
    return arrays, metadata


DIGEST_KEY = "glassnet.sha256"
# the digest's prefix when it covers the metadata too; files saved before that carry a
# bare digest of the arrays, still checked as such (a damaged prefix fails either way)
_ALL = "arrays+metadata:"


def _little_endian(a: np.ndarray) -> np.ndarray:
    return a.astype(a.dtype.newbyteorder("<")) if a.dtype.byteorder == ">" else a


def _digest(arrays, metadata: dict | None) -> str:
    """SHA-256 of the arrays' names, dtypes, shapes and bytes, by name (safetensors
    stores them in its own order), then of the metadata's keys and values (a
    checkpoint's epoch, optimizer and scheduler state live there), each prefixed by
    its length. safetensors checks a file's header but not its data: a damaged
    checkpoint would load. ``metadata=None``: the arrays only (files saved before the
    metadata was covered)."""
    h = hashlib.sha256()
    for key in sorted(arrays):
        a = arrays[key]
        h.update(f"{key}|{a.dtype.str}|{a.shape}|".encode())
        h.update(np.ascontiguousarray(a).view(np.uint8).reshape(-1).data)
    if metadata is None:
        return h.hexdigest()
    for key in sorted(k for k in metadata if k != DIGEST_KEY):
        for text in (key, metadata[key]):
            data = text.encode()
            h.update(f"{len(data)}:".encode() + data)
    return _ALL + h.hexdigest()


def save(model_or_state, path, metadata: dict | None = None) -> Path:
    """Save a model's state_dict (or a state_dict) to .safetensors / .npz, atomically.

    A zoo model (built by ``glassnet.models.get``) also records its architecture (its
    ``zoo_spec``: name, options, input shape, classes), so that ``glassnet.load(path)``
    and ``glassnet evaluate`` rebuild it; ``metadata`` adds to that (or overrides it)."""
    spec = getattr(model_or_state, "zoo_spec", None)
    if isinstance(spec, dict):
        metadata = {**spec, **(metadata or {})}
    state = model_or_state.state_dict() if hasattr(model_or_state, "state_dict") else model_or_state
    return save_arrays(path, state, metadata)


def load_state(path) -> OrderedDict:
    """Load a state_dict saved by :func:`save` as an ordered dict of arrays."""
    return load_arrays(path)[0]


def machine_info() -> dict:
    """The machine a run or a measurement was made on: CPU, core count, platform and
    the versions of Python, NumPy, glassnet, PyTorch and scikit-learn (read from the
    installed packages' metadata, without importing them). Run folders record it in
    results.json; the benchmarks add their own fields to it. ``kernels``: the layers'
    path, "fast" or "textbook" (glassnet.kernels)."""
    from . import __version__, kernels

    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "glassnet": __version__,
        "kernels": kernels.get_mode(),
    }
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    for key, dist in (("torch", "torch"), ("sklearn", "scikit-learn")):
        try:  # the installed version, without importing torch (1.4 s) for a glassnet run
            info[key] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return info
