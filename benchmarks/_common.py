"""Shared machinery of the benchmarks: machine facts, fair timing, result files.

Fair timing, the rules every script here follows:

* one process, the same thread count for NumPy's BLAS (threadpoolctl) and PyTorch
  (``torch.set_num_threads``), pinned once by :func:`pin_threads`;
* warm-up calls first (first calls allocate, fill caches, pick kernels);
* the engines are *interleaved*: repetition r times glassnet, then PyTorch, then the
  next repetition in the opposite order, so a slow spell of the machine (the other
  core busy, a frequency drop) hits both engines alike;
* the figure is the *median* over repetitions, and ratios are glassnet / PyTorch
  medians from the same run.

Results go to ``benchmarks/results/<YYYY-MM-DD>-<name>.json`` (everything, machine
facts included) and a markdown table beside it, both written atomically.
"""

from __future__ import annotations

# isort: off
# first, before NumPy loads OpenBLAS: glassnet shortens the BLAS threads' spin-wait
# (glassnet/kernels/blas_spin.py); every script imports this module before NumPy
import glassnet

# isort: on

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from glassnet import io as gio

RESULTS_DIR = Path(__file__).resolve().parent / "results"

# environment variables that change how BLAS / OpenMP run (recorded, never changed)
_ENV_PREFIXES = (
    "OPENBLAS_",
    "OMP_",
    "MKL_",
    "GOTO",
    "NVPL_",
    "BLIS_",
    "KMP_",
    "VECLIB_",
    "MALLOC_",
    "GLASSNET_",
)


# ----------------------------------------------------------------------------- arguments
def parse_args(description: str, add_arguments: Callable | None = None) -> argparse.Namespace:
    """The flags every benchmark takes: --quick, --threads N, --out DIR, --no-save."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--quick", action="store_true", help="few repetitions: a smoke run, not a measurement"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=available_cores(),
        help="threads for NumPy's BLAS and PyTorch alike (default: all cores, %(default)s)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="results folder")
    parser.add_argument("--no-save", action="store_true", help="print only, write no files")
    parser.add_argument(
        "--replace",
        action="store_true",
        help="overwrite an earlier run of the same day and setting (default: keep it and "
        "file this one as <date>-<name>-2, -3, ...)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=None,
        metavar="S",
        help="before each case wait up to S seconds for other processes to leave the cores "
        "(default: 0 with --quick, else 120)",
    )
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args()
    if args.wait_quiet is None:
        args.wait_quiet = 0.0 if args.quick else 120.0
    return args


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


# ----------------------------------------------------------------------------- threads
_LIMITS = []  # keeps the threadpoolctl limiter alive for the whole process


def pin_threads(n: int) -> None:
    """Same thread count for NumPy's BLAS (and any OpenMP pool) and for PyTorch, and
    the allocator setting that glassnet's training loop uses, for both engines."""
    from threadpoolctl import threadpool_limits

    keep_freed_memory()

    _LIMITS.append(threadpool_limits(limits=n))
    glassnet.set_num_threads(n)  # its own threads for conv blocks and batch slices
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(n)


def keep_freed_memory() -> bool:
    """What ``Trainer.fit`` does (glassnet/kernels/allocator.py): glibc keeps freed blocks for
    reuse, so neither engine pays page faults for each step's fresh temporaries. It is
    process-wide, so PyTorch in the same process gets it too."""
    from glassnet.kernels import allocator

    return allocator.keep_freed_memory_unless_disabled()


# ----------------------------------------------------------------------------- machine
_CPU_FIELDS = ("model name", "cpu family", "model")


def cpu_model() -> str:
    """The CPU's name with its family and model numbers: a VM may name only the
    vendor line ("AMD EPYC"), and the numbers tell its generations apart (family 25
    is Zen 3/4, 26 is Zen 5), whose BLAS kernels and caches differ."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in _CPU_FIELDS and key not in fields:
                    fields[key] = value.strip()
                if not line.strip() and fields:  # the first processor's block is enough
                    break
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine()
    if "cpu family" in fields:
        name += f" (family {fields['cpu family']}, model {fields.get('model', '?')})"
    return name


def machine_info(threads: int) -> dict:
    """What a reader needs to judge the figures: glassnet.io.machine_info() (CPU, cores,
    versions, as a run folder records them) and the benchmark's own: the CPU's family,
    cores available, threads, BLAS, load, env vars."""
    info = gio.machine_info()
    info |= {
        "date": _dt.date.today().isoformat(),
        "time": _dt.datetime.now().isoformat(timespec="seconds"),
        "cpu_model": cpu_model(),
        "cores_available": available_cores(),
        "cpu_count": os.cpu_count(),
        "threads_used": threads,
        "freed_memory_kept": _freed_memory_kept(),
        "load_average_at_start": load_average(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "env": {k: v for k, v in sorted(os.environ.items()) if k.startswith(_ENV_PREFIXES)},
    }
    # OpenBLAS variables that change NumPy's speed on this kind of machine: always shown
    for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_THREAD_TIMEOUT"):
        info["env"].setdefault(key, None)
    info["openblas_thread_timeout"] = _openblas_thread_timeout()
    try:
        from threadpoolctl import threadpool_info

        info["threadpools"] = [
            {
                k: p.get(k)
                for k in (
                    "user_api",
                    "internal_api",
                    "prefix",
                    "version",
                    "architecture",
                    "num_threads",
                    "threading_layer",
                )
                if p.get(k) is not None
            }
            for p in threadpool_info()
        ]
    except ImportError:
        info["threadpools"] = []
    blas = [p for p in info["threadpools"] if p.get("user_api") == "blas"]
    numpy_blas = [p for p in blas if "scipy_openblas64" in p.get("prefix", "")] or blas
    if numpy_blas:
        b = numpy_blas[0]
        info["numpy_blas"] = f"{b.get('internal_api')} {b.get('version')} ({b.get('architecture')})"
        info["numpy_blas_kernels"] = b.get("architecture")
    if os.environ.get("OPENBLAS_CORETYPE"):
        info["numpy_blas_own_kernels"] = blas_own_kernels()
    for module in ("torch", "sklearn"):
        try:
            mod = __import__(module)
            info[module] = mod.__version__
        except ImportError:
            info[module] = None
    if info["torch"]:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["torch_mkldnn"] = bool(torch.backends.mkldnn.is_available())
    try:
        import glassnet

        info["glassnet"] = getattr(glassnet, "__version__", "?")
        info["glassnet_threads"] = glassnet.get_num_threads()
        info["glassnet_path"] = str(Path(glassnet.__file__).parent)
    except ImportError:
        info["glassnet"] = None
    info["git"] = git_state(Path(info.get("glassnet_path") or Path(__file__).parent))
    return info


def blas_own_kernels() -> str | None:
    """The GEMM kernels NumPy's OpenBLAS picks for this CPU by itself, asked of a child
    process without OPENBLAS_CORETYPE (None if that fails).

    The variable forces a kernel family, and the environment can set it for the whole
    machine: on 2026-11-23 this project's VMs (AMD EPYC family 26, Zen 5) came with
    OPENBLAS_CORETYPE=Haswell, AVX2 kernels that run a 1024^3 float32 matmul at 220
    GFLOP/s on 2 threads, where OpenBLAS's own pick (SkylakeX, AVX-512) runs it at
    420-430. The benchmarks record both and warn (``blas_warning``); they never change
    the variable, since it is the user's."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    code = (
        "import numpy, threadpoolctl\n"
        "print([p.get('architecture') for p in threadpoolctl.threadpool_info()"
        " if p.get('internal_api') == 'openblas'][0])"  # NumPy's: the only library loaded
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def blas_warning(info: dict) -> str | None:
    """A line for the results when OPENBLAS_CORETYPE made NumPy's OpenBLAS use other
    kernels than it would pick itself, else None; from the run's machine record alone."""
    forced, own = info.get("numpy_blas_kernels"), info.get("numpy_blas_own_kernels")
    if not (forced and own) or forced.lower() == own.lower():
        return None
    return (
        f"OPENBLAS_CORETYPE={info['env'].get('OPENBLAS_CORETYPE')} in the environment: NumPy's "
        f"GEMMs ran on OpenBLAS's {forced} kernels, where on this CPU it picks {own} by "
        f"itself. glassnet's figures (and the matmul's) are those of the forced kernels; "
        f"PyTorch does not use OpenBLAS. Unset the variable to measure OpenBLAS's own pick."
    )


def _openblas_thread_timeout() -> int | None:
    """The spin-wait exponent NumPy's OpenBLAS read at load (0: its built-in 28), or None
    where that can't be asked (another BLAS, no threadpoolctl): proof that
    OPENBLAS_THREAD_TIMEOUT reached the library, not just the environment."""
    import ctypes

    try:
        from threadpoolctl import threadpool_info

        paths = [p["filepath"] for p in threadpool_info() if p.get("internal_api") == "openblas"]
        numpy_paths = [p for p in paths if "numpy" in p] or paths
        return int(ctypes.CDLL(numpy_paths[0]).openblas_thread_timeout()) if numpy_paths else None
    except (ImportError, OSError, AttributeError, IndexError):
        return None


def git_state(where: Path) -> dict | None:
    """The commit of the glassnet measured, and how many files of its src/ had
    uncommitted changes (the figures are of the tree as it was at the start)."""
    import subprocess

    try:
        root = subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], cwd=where, capture_output=True, text=True
        ).stdout.strip()
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "src"], cwd=root, capture_output=True, text=True
        ).stdout.split("\n")
    except OSError:
        return None
    if not root:
        return None
    return {"commit": head or None, "src_changed_files": len([d for d in dirty if d.strip()])}


def _freed_memory_kept() -> bool:
    from glassnet.kernels import allocator

    return allocator.enabled_by_environment() and allocator.available()


def _forced_kernels(info: dict) -> str:
    own = info.get("numpy_blas_own_kernels")
    return f"; kernels forced by OPENBLAS_CORETYPE, its own pick: {own}" if own else ""


def machine_line(info: dict) -> str:
    env = ", ".join(f"{k}={v}" for k, v in info["env"].items())
    git = info.get("git") or {}
    code = f"glassnet {git.get('commit')}" + (
        f" (+{git['src_changed_files']} uncommitted src files)"
        if git.get("src_changed_files")
        else ""
    )
    return (
        f"{code}, kernels: {info.get('kernels', 'fast')}; "
        f"{info['date']}, {info['cpu_model']}, {info['cores_available']} cores, "
        f"{info['threads_used']} threads (glassnet's own: {info.get('glassnet_threads')}); "
        f"numpy {info['numpy']} ({info.get('numpy_blas', '?')}{_forced_kernels(info)}), "
        f"torch {info.get('torch')}, scikit-learn {info.get('sklearn')}, "
        f"Python {info['python']}; "
        f"freed memory kept for reuse: {'yes' if info.get('freed_memory_kept') else 'no'}; "
        f"OpenBLAS spin-wait exponent in use: {info.get('openblas_thread_timeout')} "
        "(0 = its default 28); "
        f"env: {env or 'none'}"
    )


def load_average() -> list[float] | None:
    """1/5/15-minute load averages: above ~0.5 another process shared the cores."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:  # pragma: no cover
        return None


def _busy_jiffies() -> tuple[int, int]:
    """(busy jiffies of the whole machine, jiffies of this process and its children)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    busy = sum(fields[:8]) - fields[3] - fields[4]  # all but idle and iowait
    with open("/proc/self/stat") as f:
        mine = f.read().rsplit(")", 1)[1].split()
    return busy, sum(int(v) for v in mine[11:15])  # utime stime cutime cstime


class OthersCpu:
    """Context manager: how many cores *other* processes kept busy meanwhile (Linux).

    ``with OthersCpu() as m: ...`` then ``m.cores``; 0 on a quiet machine. A figure
    above ~0.3 means a co-tenant competed for the cores and the timings are suspect.
    """

    cores: float | None = None

    def __enter__(self):
        try:
            self._start = (time.perf_counter(), *_busy_jiffies())
        except (OSError, ValueError, IndexError):
            self._start = None
        return self

    def __exit__(self, *exc):
        if self._start is None:
            return False
        t0, busy0, mine0 = self._start
        busy1, mine1 = _busy_jiffies()
        ticks = (time.perf_counter() - t0) * os.sysconf("SC_CLK_TCK")
        self.cores = round(max(0.0, (busy1 - busy0) - (mine1 - mine0)) / max(ticks, 1), 2)
        return False


def wait_for_quiet(max_wait_s: float, threshold: float = 0.25) -> float | None:
    """Wait (up to ``max_wait_s``) until other processes use < ``threshold`` cores."""
    deadline = time.perf_counter() + max_wait_s
    while True:
        with OthersCpu() as m:
            time.sleep(0.5)
        if m.cores is None or m.cores < threshold or time.perf_counter() > deadline:
            return m.cores


def measure_case(fn: Callable[..., dict], wait_quiet_s: float, *args, **kwargs) -> dict:
    """``fn(*args, **kwargs)`` after waiting for a quiet machine; its result dict gets
    ``others_cpu_before`` (others' cores just before) and ``others_cpu`` (during)."""
    quiet = wait_for_quiet(wait_quiet_s)
    with OthersCpu() as others:
        r = fn(*args, **kwargs)
    r["others_cpu_before"], r["others_cpu"] = quiet, others.cores
    return r


# ----------------------------------------------------------------------------- timing
def time_calls(fn: Callable[[], object], number: int) -> float:
    """Seconds per call of ``fn`` over ``number`` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def per_call(fn: Callable[[], object], min_s: float = 0.02, min_calls: int = 3) -> float:
    """Seconds per call of ``fn``, from back-to-back calls lasting at least ``min_s``."""
    calls, start = 0, time.perf_counter()
    while calls < min_calls or time.perf_counter() - start < min_s:
        fn()
        calls += 1
    return (time.perf_counter() - start) / calls


def calls_for(fn: Callable[[], object], target_s: float, cap: int = 10_000) -> int:
    """How many back-to-back calls of ``fn`` take about ``target_s`` (at least 1)."""
    return int(max(1, min(cap, target_s / max(per_call(fn), 1e-7))))


# Two effects of this machine (2 vCPUs of a VM) that an interleaved timing must dodge:
# * after a call, OpenBLAS's worker threads busy-wait for ~0.1 s and PyTorch's OpenMP
#   threads for ~0.05 s before they sleep; an engine timed right after the other one
#   fights those spinning threads (measured: a torch Linear 784->128 forward+backward
#   took 10 ms right after NumPy matmuls instead of 0.57 ms; 0.2 s of pause cured it);
# * after that pause, the first calls pay for waking the idle threads (and vCPU): up to
#   several ms, whatever the work, and for glassnet's threaded layers ~0.1 s in all.
#   Those threads wait on a lock and hand the GIL to each other many times per layer;
#   after a long idle each hand-over wakes a vCPU that the host has stopped polling,
#   and it takes ~0.1 s of steady work before hand-overs are quick again. Measured
#   (2026-11-22, ResNet's 16->32 stride-2 conv, fwd+bwd, 2 threads): 11.7 ms in a
#   steady loop; after a 0.25 s pause, the first call 21-27 ms and the next 14-16 ms;
#   with 0.05 / 0.1 / 0.2 / 0.4 s of calls after the pause, 14.2 / 13.1 / 13.0 / 13.0
#   ms. PyTorch's conv, whose threads spin instead of sleeping: 9.9 ms after one call,
#   10.7-11.3 ms after 0.05-0.4 s, 11.1 ms in a steady loop.
# So every timed block starts with a pause of SETTLE_S, then untimed calls for at least
# WAKE_S (at least one call): the engines are timed in the steady state that training
# runs in, not while waking up.
SETTLE_S = 0.25
WAKE_S = 0.15


def interleaved(
    fns: dict[str, Callable[[], object]],
    repeats: int,
    warmup: int = 2,
    number: int | str | None = None,
    target_s: float = 0.05,
    settle_s: float = SETTLE_S,
    wake: bool | dict[str, Callable[[], object]] = True,
    wake_s: float = WAKE_S,
) -> dict[str, dict]:
    """Time several engines on the same work, interleaved; per-call seconds.

    ``number`` calls make one repetition (chosen so the slowest engine's repetition
    lasts about ``target_s`` when None; ``"each"``: every engine gets its own count
    for ``target_s``). Each repetition runs every engine once, the order alternating
    between repetitions; every timed block starts after a pause of ``settle_s`` and
    (``wake``) untimed calls for at least ``wake_s`` (of ``wake[name]``, a cheaper
    one, where given), see SETTLE_S.
    Returns, per engine, the median, the min and all repetition times (s per call).
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
        time.sleep(settle_s)
    if number == "each":  # engines of very different speed: each its own call count
        numbers = {name: calls_for(fn, target_s) for name, fn in fns.items()}
    else:
        number = number or min(calls_for(fn, target_s) for fn in fns.values())
        numbers = dict.fromkeys(fns, number)
    times: dict[str, list[float]] = {name: [] for name in fns}
    others: dict[str, list[float | None]] = {name: [] for name in fns}
    names = list(fns)
    for r in range(repeats):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            time.sleep(settle_s)  # let the other engine's idle threads stop spinning
            if wake:  # wake this engine's threads, untimed, for at least wake_s
                wake_fn = wake[name] if isinstance(wake, dict) else fns[name]
                start = time.perf_counter()
                wake_fn()
                while time.perf_counter() - start < wake_s:
                    wake_fn()
            with OthersCpu() as m:
                times[name].append(time_calls(fns[name], numbers[name]))
            others[name].append(m.cores)
    return {name: summary(ts, numbers[name], others[name]) for name, ts in times.items()}


QUIET = 0.3  # other processes' cores below which a repetition counts as undisturbed


def take_turns(jobs: dict[str, Callable[[Callable[[int, dict], None]], object]]) -> dict:
    """Run long jobs (whole training runs) in turns, one epoch each; their results.

    Each job is called as ``job(epoch_end)`` in its own thread and must call
    ``epoch_end(epoch, logs)`` after every epoch (``RunSpec.epoch_end``): that hands the
    turn to the next job still running and waits for its own next turn. Only one job
    runs at any time, so the engines' epochs alternate and a slow spell of the shared
    machine (minutes long here) lands on both instead of on whichever ran then. A job
    that finishes or fails leaves the rotation; the first error is raised at the end.
    """
    names = list(jobs)
    active = list(names)
    state = {"turn": names[0]}
    cond = threading.Condition()
    results: dict[str, object] = {}
    errors: list[BaseException] = []

    def pass_turn(name: str, leaving: bool) -> None:  # called with cond held
        i = active.index(name)
        if leaving:
            active.remove(name)
            state["turn"] = active[i % len(active)] if active else None
        else:
            state["turn"] = active[(i + 1) % len(active)]
        cond.notify_all()

    def wait_turn(name: str) -> None:  # called with cond held
        cond.wait_for(lambda: state["turn"] == name)

    def worker(name: str) -> None:
        def epoch_end(epoch: int, logs: dict) -> None:
            with cond:
                pass_turn(name, leaving=False)
                wait_turn(name)
            time.sleep(SETTLE_S)  # the other engine's idle threads stop spinning

        with cond:
            wait_turn(name)
        try:
            results[name] = jobs[name](epoch_end)
        except BaseException as exc:  # noqa: BLE001 (re-raised in the caller's thread)
            errors.append(exc)
        finally:
            with cond:
                pass_turn(name, leaving=True)

    threads = [threading.Thread(target=worker, args=(n,), name=n, daemon=True) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def summary(times: list[float], number: int = 1, others: list | None = None) -> dict:
    """Median over the *quiet* repetitions (other processes < QUIET cores) when at least
    3 were quiet, else over all; ``quiet_repeats`` says which (0: all were used)."""
    quiet = [t for t, o in zip(times, others or []) if o is not None and o < QUIET]
    use = quiet if len(quiet) >= min(3, len(times)) else times
    return {
        "median_s": statistics.median(use),
        "min_s": min(times),
        "repeats": len(times),
        "quiet_repeats": len(quiet) if use is quiet else 0,
        "calls_per_repeat": number,
        "times_s": times,
        "others_cores": others,
    }


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


# ----------------------------------------------------------------------------- matmul
def matmul_call(m: int, k: int, n: int, dtype=np.float32) -> Callable[[], object]:
    """A plain NumPy ``(m, k) @ (k, n)`` on random operands, into a fixed output: the
    yardstick call that ``matmul_gflops`` (and layers.py, beside each conv) times."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    out = np.empty((m, n), dtype=dtype)
    return lambda: np.matmul(a, b, out=out)


def matmul_gflops(m: int, k: int, n: int, repeats: int, dtype=np.float32) -> dict:
    """GFLOP/s of a plain NumPy ``(m, k) @ (k, n)`` in the current thread setting."""
    res = interleaved({"numpy": matmul_call(m, k, n, dtype)}, repeats, warmup=2)["numpy"]
    res["gflops"] = 2.0 * m * k * n / res["median_s"] / 1e9
    res["shape"] = f"({m}x{k}) @ ({k}x{n})"
    return res


# ----------------------------------------------------------------------------- output
def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} us"


def fmt(value, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def md_table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with glassnet.io.atomic_write: never a half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with gio.atomic_write(path, "w", encoding="utf-8") as f:
        f.write(text)


def write_results(args, name: str, payload: dict, markdown: str) -> tuple[Path, Path] | None:
    """``<out>/<date>-<name>.json`` and ``.md``; ``-<N>thread`` when not all cores are
    used, ``-coretype-<name>`` when OPENBLAS_CORETYPE forces NumPy's GEMM kernels,
    ``-quick`` for a --quick run. The date is the run's start (its machine record),
    so a run that crosses midnight files under the date its header shows. A second
    run of the same day and setting is filed as ``<stem>-2``, ``-3``, ... rather than
    overwriting the first (the machine under a run can change between sessions), unless
    ``args.replace``."""
    if args.no_save:
        return None
    date = payload.get("machine", {}).get("date") or _dt.date.today().isoformat()
    stem = f"{date}-{name}"
    if args.threads != available_cores():
        stem += f"-{args.threads}thread"
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    if coretype:  # NumPy's GEMM kernels forced: a different measurement (blas_own_kernels)
        stem += f"-coretype-{coretype.lower()}"
    if args.quick:
        stem += "-quick"
    json_path, md_path = args.out / f"{stem}.json", args.out / f"{stem}.md"
    if not getattr(args, "replace", False):  # an earlier run is a measurement: keep it
        run = 1
        while json_path.exists() or md_path.exists():
            run += 1
            json_path, md_path = args.out / f"{stem}-{run}.json", args.out / f"{stem}-{run}.md"
        if run > 1:
            print(f"\nkept the earlier run {stem}.* (--replace overwrites it)")
    atomic_write(json_path, json.dumps(payload, indent=1, default=_jsonable) + "\n")
    atomic_write(md_path, markdown.rstrip() + "\n")
    print(f"\nwrote {json_path}\n      {md_path}")
    return json_path, md_path


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def header(title: str, info: dict, quick: bool) -> str:
    note = "\n\n**--quick smoke run: too few repetitions to quote.**" if quick else ""
    warning = blas_warning(info)
    if warning:
        note += f"\n\n**{warning}**"
    return f"# {title}\n\nMachine: {machine_line(info)}{note}\n"
