"""Threads: running a layer's blocks of samples on more than one core.

NumPy runs its matrix products (BLAS) on several cores, but every other operation, the
im2col copies, the transposes, the additions of ``col2im``, on one. In a convolution
those copies cost about as much as the products, so with 2 cores one core mostly idles
(or spins, see :mod:`glassnet.kernels.blas_spin`) for a large share of a training step. PyTorch
runs everything on all its threads.

glassnet's convolutions cut their work into blocks of samples anyway, so that a block's
columns stay in the CPU cache (see :mod:`glassnet.kernels.conv`). :func:`parallel_map` runs
those blocks on a few Python threads instead of one after the other: NumPy releases
the GIL inside copies, ufuncs and matrix products, so the threads really run at the
same time, each doing its block's copies *and* its block's product. While they do,
BLAS is told to use one thread per call; otherwise each block's product would start a
BLAS thread per core, and 2 x 2 threads would fight over 2 cores.

Results do not depend on the number of threads: the blocks are the same either way, a
block's work is the same sequence of NumPy calls in any thread, and the caller
combines the per-block results in block order (the tests check this bit for bit).

Setting BLAS's thread count needs the BLAS library's own function, and OpenBLAS's count
is process-wide. glassnet finds the OpenBLAS that NumPy's wheels ship with ``ctypes``
(standard library). Where none is found (NumPy built on MKL, Apple Accelerate, ...),
glassnet uses no threads of its own and lets BLAS do what it does.

    glassnet.get_num_threads()    # default: the number of threads BLAS uses
    glassnet.set_num_threads(1)   # like torch.set_num_threads; 1: no threads of glassnet's

The environment variable ``GLASSNET_NUM_THREADS`` sets the default. While a parallel
region runs, other threads of the process that call BLAS get one BLAS thread too, and
one region runs at a time (a second one, or one nested in the first, runs serially).
"""

from __future__ import annotations

import ctypes
import glob
import os
import threading
from collections.abc import Callable, Sequence

__all__ = [
    "get_num_threads",
    "set_num_threads",
    "parallel_map",
    "batch_slices",
    "even_slices",
    "sum_in_order",
    "blas_threads_controllable",
    "SLICES_MIN_BYTES",
    "BATCH_PIECES",
]

SLICES_MIN_BYTES = 4 * 2**20  # batch_slices: smaller passes stay in one piece
BATCH_PIECES = 4  # batch_slices: pieces of a larger pass (enough for 1, 2 or 4 threads)

# (set, get) names that OpenBLAS builds export: NumPy's wheels (scipy-openblas, 64-bit
# integers) add a prefix and a suffix; a system OpenBLAS has the plain names
_OPENBLAS_NAMES = [
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
]


class _Blas:
    """get/set of the thread count of the OpenBLAS that NumPy loaded."""

    def __init__(self, set_fn, get_fn):
        self._set, self._get = set_fn, get_fn

    def get(self) -> int:
        return int(self._get())

    def set(self, n: int) -> None:
        self._set(int(n))


def _candidate_libraries() -> list[str]:
    """Paths of loaded shared libraries that look like OpenBLAS, NumPy's own first.

    Order matters: SciPy (which scikit-learn imports) ships a second OpenBLAS, and
    setting *its* thread count would leave NumPy's at 2 per block, 4 threads on 2
    cores (measured: ResNet-8's step 2.4x slower once scikit-learn was imported)."""
    import numpy as np  # makes sure NumPy's BLAS is loaded

    # realpath: /proc/self/maps names resolved paths, also when the venv is a symlink
    site = os.path.dirname(os.path.dirname(os.path.realpath(np.__file__)))
    own = [os.path.join(site, "numpy.libs"), os.path.join(site, "numpy")]  # wheels' places
    paths: list[str] = []
    try:  # Linux: the libraries this process has mapped
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.rsplit(" ", 1)[-1].strip()
                if "openblas" in os.path.basename(path).lower() and path not in paths:
                    paths.append(path)
    except OSError:
        pass
    if not paths:  # elsewhere: the libraries bundled with NumPy's wheel
        for pattern in ("numpy.libs/*openblas*", "numpy/.dylibs/*openblas*"):
            paths += sorted(glob.glob(os.path.join(site, pattern)))
    return sorted(paths, key=lambda p: not any(p.startswith(d + os.sep) for d in own))


def _find_blas() -> _Blas | None:
    for path in _candidate_libraries():
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for set_name, get_name in _OPENBLAS_NAMES:
            set_fn, get_fn = getattr(lib, set_name, None), getattr(lib, get_name, None)
            if set_fn is not None and get_fn is not None:
                set_fn.argtypes, set_fn.restype = [ctypes.c_int], None
                get_fn.argtypes, get_fn.restype = [], ctypes.c_int
                return _Blas(set_fn, get_fn)
    return None


_state_lock = threading.Lock()  # guards the lazily built globals below
_region_lock = threading.Lock()  # one parallel region at a time (BLAS's count is global)
_blas: _Blas | None | bool = False  # False: not looked for yet
_requested: int | None = None  # set_num_threads(n), or None for the default
_workers: list[_Worker] = []


def _get_blas() -> _Blas | None:
    global _blas
    if _blas is False:
        with _state_lock:
            if _blas is False:
                _blas = _find_blas()
    return _blas  # type: ignore[return-value]


def blas_threads_controllable() -> bool:
    """True when glassnet found NumPy's OpenBLAS and can set its thread count."""
    return _get_blas() is not None


def set_num_threads(n: int) -> None:
    """Use ``n`` threads (the caller's included) for glassnet's block loops."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n must be a positive int, got {n!r}")
    global _requested
    _requested = n


def get_num_threads() -> int:
    """Threads glassnet uses: set_num_threads's value, else ``GLASSNET_NUM_THREADS``,
    else as many as BLAS uses; always 1 where BLAS's count can't be set."""
    blas = _get_blas()
    if blas is None:
        return 1
    if _requested is not None:
        return _requested
    env = os.environ.get("GLASSNET_NUM_THREADS", "").strip()
    if env:
        try:
            value = int(env)
        except ValueError:
            value = 0
        if value < 1:
            raise ValueError(f"GLASSNET_NUM_THREADS must be a positive integer, got {env!r}")
        return value
    return max(1, blas.get())


class _Worker:
    """A daemon thread that runs one task at a time, handed over by ``run``."""

    def __init__(self):
        self._go = threading.Event()
        self._done = threading.Event()
        self._task: Callable[[], None] | None = None
        self._thread = threading.Thread(target=self._loop, name="glassnet-worker", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            self._go.wait()
            self._go.clear()
            task, self._task = self._task, None
            try:
                task()
            finally:
                self._done.set()

    def run(self, task: Callable[[], None]) -> None:
        self._done.clear()
        self._task = task
        self._go.set()

    def wait(self) -> None:
        self._done.wait()


def _get_workers(n: int) -> list[_Worker]:
    with _state_lock:
        while len(_workers) < n:
            _workers.append(_Worker())
        return _workers[:n]


def _forget_workers_after_fork() -> None:
    """A forked child has none of the parent's threads: start new ones when needed."""
    global _state_lock, _region_lock
    _workers.clear()
    _state_lock, _region_lock = threading.Lock(), threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_workers_after_fork)


def parallel_map(fn: Callable, items: Sequence) -> list:
    """``[fn(item) for item in items]``, the items shared out over glassnet's threads.

    The caller's thread takes part; the threads take the next item in order as they
    become free. Runs serially when glassnet has one thread, when there is one item,
    or when another parallel region is running (a nested call from inside ``fn``, or
    another user thread). Results come back in item order. Once ``fn`` raises (or the
    user interrupts), no further item starts; the items already running finish, then
    the exception of the earliest failed item is raised again.
    """
    if len(items) <= 1:  # the common case for small layers: no settings to look up
        return [fn(item) for item in items]
    threads = min(get_num_threads(), len(items))
    if threads <= 1 or not _region_lock.acquire(blocking=False):
        return [fn(item) for item in items]
    try:
        results: list = [None] * len(items)
        errors: list = [None] * len(items)
        next_item = iter(range(len(items)))
        take = threading.Lock()
        stop = threading.Event()  # set on the first failure: no new item starts

        def drain() -> None:
            while True:
                with take:
                    i = None if stop.is_set() else next(next_item, None)
                if i is None:
                    return
                try:
                    results[i] = fn(items[i])
                except BaseException as e:  # noqa: BLE001  (raised again below)
                    errors[i] = e  # a KeyboardInterrupt inside fn too
                    stop.set()

        interrupt = None  # a KeyboardInterrupt between items or while waiting
        blas = _get_blas()
        before = blas.get()
        blas.set(1)  # one BLAS thread per block: threads x 1, not threads x cores
        workers = _get_workers(threads - 1)
        try:
            for w in workers:
                w.run(drain)
            drain()
        except BaseException as e:  # noqa: BLE001
            stop.set()
            interrupt = e
        finally:
            # never leave while a worker still runs items: its next task would start
            # before this one ended, and it writes into the caller's arrays
            for w in workers:
                while True:
                    try:
                        w.wait()
                        break
                    except BaseException as e:  # noqa: BLE001  (Ctrl-C: stop, keep waiting)
                        stop.set()
                        interrupt = interrupt or e
            blas.set(before)
        if interrupt is not None:
            raise interrupt
        for e in errors:
            if e is not None:
                raise e
        return results
    finally:
        _region_lock.release()


def batch_slices(n: int, nbytes: int) -> list[slice]:
    """Consecutive slices that cover ``range(n)``, to share a pass over a batch out with
    :func:`parallel_map`: BATCH_PIECES of them, or one where the pass touches fewer
    than SLICES_MIN_BYTES (``nbytes``), as handing it over would cost more than it
    saves. The cut depends on the sizes only, never on the number of threads, so sums
    made of per-slice parts come out the same with any number of threads."""
    if nbytes < SLICES_MIN_BYTES or n <= 1:  # the usual case for small layers: one piece
        return [slice(0, n)]
    return even_slices(n, min(BATCH_PIECES, n))


def even_slices(n: int, count: int) -> list[slice]:
    """``count`` consecutive slices covering ``range(n)``, their sizes differing by one
    at most."""
    bounds = [n * i // count for i in range(count + 1)]
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]


def sum_in_order(parts: Sequence):
    """The per-block or per-slice parts of a sum (arrays), added in their order: the
    same numbers however many threads computed the parts."""
    total = parts[0].copy()
    for part in parts[1:]:
        total += part
    return total
