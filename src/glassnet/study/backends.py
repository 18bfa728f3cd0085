"""Where independent trainings run: this process, local worker processes, or Ray.

A *task* is a plain dict (a trial of a sweep, a (model, engine) run of compare) and a
*runner* a module-level function ``runner(task) -> record`` (a JSON-friendly dict).
:func:`run_tasks` hands every task to a runner and calls ``on_result(i, record)`` in
the calling process as each one finishes, so the caller can save it at once:

* ``jobs=1``: one after the other in this process, with one BLAS thread as in a worker
  (restored afterwards);
* ``jobs=N``: N worker processes (``spawn``ed; each sets its BLAS, and glassnet's own
  block threads, to one thread, so N workers use N cores without fighting over them);
* ``ray_address="HOST:PORT"`` or ``"auto"``: Ray *tasks* on an existing cluster, one
  CPU each, the same runner, the same records.

Every task carries its own seed, so where it runs does not change its record.
Ray is optional (``pip install 'glassnet[ray]'``) and imported only here, only when a
cluster is named. The cluster's nodes need glassnet installed (the same version) and,
for the downloaded datasets, the data folder at the same path.

Why Ray tasks and not Ray Tune: a trial is one call of the same runner that the local
workers call, so a record is the same wherever it ran, and the sweep's own folder,
resume and report stay the one implementation; Tune would bring its own trial
bookkeeping, result folders and extra dependencies. The price: no ASHA-style early
stopping of bad trials (every trial trains its epochs; a trial that diverges stops at
once).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import signal
import socket
from collections.abc import Callable

__all__ = ["run_tasks", "default_jobs", "check_ray_address", "RayUnavailableError"]


class RayUnavailableError(ValueError):
    """Ray is not installed, or the cluster named cannot be reached."""


def default_jobs() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


_IN_WORKER = False


def in_worker() -> bool:
    """True in a worker process (or Ray worker) running tasks for :func:`run_tasks`."""
    return _IN_WORKER


def one_thread() -> None:
    """This process's BLAS and glassnet's block loops to one thread (a worker's setting:
    the workers share the cores)."""
    from .. import threads

    global _IN_WORKER
    _IN_WORKER = True
    blas = threads._get_blas()
    if blas is not None:
        blas.set(1)
    threads.set_num_threads(1)


@contextlib.contextmanager
def one_thread_here():
    """Run tasks in this process as a worker runs them: one BLAS thread and no block
    threads of glassnet's, then the settings as they were. A multi-threaded matrix
    product may round differently in the last bits, so this is what keeps a record
    the same wherever its task ran."""
    from .. import threads

    global _IN_WORKER
    blas = threads._get_blas()
    saved = (_IN_WORKER, blas.get() if blas is not None else None, threads._requested)
    one_thread()
    try:
        yield
    finally:
        _IN_WORKER, blas_threads, threads._requested = saved
        if blas is not None:
            blas.set(blas_threads)


def _worker_init() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    one_thread()


def run_tasks(
    tasks: list[dict],
    runner: Callable[[dict], dict],
    on_result: Callable[[int, dict], None],
    jobs: int = 1,
    ray_address: str | None = None,
) -> None:
    """Run ``runner(task)`` for every task; ``on_result(index, record)`` as each ends.
    Ctrl-C stops the workers (records already handed over stay with the caller)."""
    if not tasks:
        return
    if ray_address:
        _run_ray(tasks, runner, on_result, ray_address)
    elif jobs <= 1 or len(tasks) == 1:
        with one_thread_here():
            for i, task in enumerate(tasks):
                on_result(i, runner(task))
    else:
        _run_processes(tasks, runner, on_result, min(jobs, len(tasks)))


def _run_processes(tasks, runner, on_result, jobs: int) -> None:
    context = multiprocessing.get_context("spawn")
    pool = cf.ProcessPoolExecutor(jobs, mp_context=context, initializer=_worker_init)
    try:
        futures = {pool.submit(runner, task): i for i, task in enumerate(tasks)}
        for future in cf.as_completed(futures):
            on_result(futures[future], future.result())
    except BaseException:
        # Ctrl-C (or an error): stop the workers we started, by their process ids
        for process in list(getattr(pool, "_processes", {}).values()):
            if process.is_alive():
                process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


# ---------------------------------------------------------------------------- Ray
def check_ray_address(address: str, timeout: float = 3.0) -> None:
    """A quick RayUnavailableError for an address with nothing listening (``ray.init``
    itself retries for a minute or more before it gives up)."""
    if address == "auto" or address.startswith("ray://"):
        return
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise RayUnavailableError(
            f"--ray-address takes HOST:PORT (the head node's GCS address, e.g. "
            f"10.0.0.5:6379) or 'auto', got {address!r}"
        )
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise RayUnavailableError(
            f"cannot reach a Ray cluster at {address} ({exc.strerror or exc}); start one with "
            f"'ray start --head --port {port}' or check the address"
        ) from None


def _import_ray():
    try:
        import ray
    except ImportError:
        raise RayUnavailableError(
            "running on a Ray cluster needs Ray: pip install 'glassnet[ray]'"
        ) from None
    return ray


def _ray_runner(runner, task):
    """What a Ray worker runs: the same runner, with one BLAS thread as a local worker."""
    one_thread()
    return runner(task)


def _run_ray(tasks, runner, on_result, address: str) -> None:
    ray = _import_ray()
    check_ray_address(address)
    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(address=address, log_to_driver=False, logging_level="ERROR")
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise RayUnavailableError(
                f"cannot connect to the Ray cluster at {address}: {exc}"
            ) from None
    remote = ray.remote(num_cpus=1, max_retries=0)(_ray_runner)
    pending = {remote.remote(runner, task): i for i, task in enumerate(tasks)}
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                on_result(pending.pop(ref), ray.get(ref))
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        if started_here:
            ray.shutdown()
