"""The benchmark harness's own tools (benchmarks/_common.py), where a bug would skew figures."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import _common as C  # noqa: E402


@pytest.fixture(autouse=True)
def no_settle(monkeypatch):
    monkeypatch.setattr(C, "SETTLE_S", 0.0)


def _job(name, epochs, log, running, fail_at=None):
    def job(epoch_end):
        for epoch in range(1, epochs + 1):
            running.append(name)
            assert len(running) == 1, f"{running} run at once"
            log.append((name, epoch))
            if epoch == fail_at:
                running.remove(name)
                raise RuntimeError(f"{name} failed at epoch {epoch}")
            running.remove(name)
            epoch_end(epoch, {})
        return f"{name} done"

    return job


def test_take_turns_alternates_epochs_one_job_at_a_time():
    log, running = [], []
    jobs = {"a": _job("a", 3, log, running), "b": _job("b", 5, log, running)}
    results = C.take_turns(jobs)
    assert results == {"a": "a done", "b": "b done"}
    # a and b alternate while both run; b finishes its last two epochs alone
    assert log == [("a", 1), ("b", 1), ("a", 2), ("b", 2), ("a", 3), ("b", 3), ("b", 4), ("b", 5)]


def test_take_turns_keeps_going_after_a_failure_and_raises_it():
    log, running = [], []
    jobs = {"a": _job("a", 3, log, running, fail_at=2), "b": _job("b", 3, log, running)}
    with pytest.raises(RuntimeError, match="a failed at epoch 2"):
        C.take_turns(jobs)
    assert log == [("a", 1), ("b", 1), ("a", 2), ("b", 2), ("b", 3)]
    # no job thread left waiting for its turn
    assert not [t for t in threading.enumerate() if t.name in jobs and t.is_alive()]


def test_interleaved_times_each_engine_after_wake_s_of_untimed_calls():
    """After the pause, an engine runs untimed for at least wake_s (glassnet's threads
    need ~0.1 s to come out of idle) before its timed block starts."""
    events = []

    def engine(name):
        def timed():
            events.append((name, "timed", C.time.perf_counter()))

        def wake():
            events.append((name, "wake", C.time.perf_counter()))

        return timed, wake

    fns, wakes = {}, {}
    for name in ("a", "b"):
        fns[name], wakes[name] = engine(name)
    C.interleaved(fns, repeats=3, warmup=0, number=1, settle_s=0.0, wake=wakes, wake_s=0.01)
    blocks = 0
    for i, (name, kind, t) in enumerate(events):
        if kind != "timed":
            continue
        j = i
        while j > 0 and events[j - 1][:2] == (name, "wake"):
            j -= 1
        assert j < i, "a timed block without wake-up calls before it"
        assert t - events[j][2] >= 0.01
        blocks += 1
    assert blocks == 6


def test_results_are_filed_under_the_date_the_run_started(tmp_path):
    """A run that crosses midnight keeps the date its header shows."""
    import argparse

    args = argparse.Namespace(no_save=False, threads=C.available_cores(), quick=False, out=tmp_path)
    C.write_results(args, "demo", {"machine": {"date": "2000-01-02"}}, "# demo")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "2000-01-02-demo.json",
        "2000-01-02-demo.md",
    ]
