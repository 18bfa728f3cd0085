"""A sweep and a compare study on a real Ray cluster started here: a head node (``ray
start --head`` on 127.0.0.1) and a second node joined to it, both stopped at the end.
Their records must be the local runs', trial by trial. Needs the 'ray' extra (the
Makefile installs it)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import glassnet.study

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None, reason="needs Ray: pip install 'glassnet[ray]'"
)

RAY = Path(sys.executable).parent / "ray"
START_TIMEOUT = 120  # seconds for the cluster to come up (the failure message, not a limit)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _stop(process: subprocess.Popen) -> None:
    """Stop one ``ray start --block`` and the node processes it started: its process
    group, which this test created (asked first, then killed: Ray's servers may linger)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


@pytest.fixture(scope="module")
def ray_cluster():
    """``HOST:PORT`` of a two-node Ray cluster on this machine (head: 1 CPU, second
    node: 1 CPU)."""
    if not RAY.exists():
        pytest.skip(f"no ray command beside {sys.executable}")
    port = _free_port()
    temp = tempfile.mkdtemp(prefix="gnray")  # short: Ray's socket paths must stay short
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "OPENBLAS_NUM_THREADS": "1"}
    common = [
        "--num-cpus",
        "1",
        "--block",
        "--disable-usage-stats",
        "--node-ip-address",
        "127.0.0.1",
    ]
    log = open(Path(temp) / "start.log", "w")  # noqa: SIM115 (closed at the end)
    head = subprocess.Popen(
        [
            str(RAY),
            "start",
            "--head",
            "--port",
            str(port),
            "--include-dashboard=false",
            "--temp-dir",
            temp,
            *common,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    nodes = [head]
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _listening(port):
            if head.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail("the Ray head did not start:\n" + Path(log.name).read_text()[-3000:])
            time.sleep(0.5)
        nodes.append(
            subprocess.Popen(
                [str(RAY), "start", "--address", address, *common],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        )
        import ray

        ray.init(address=address, logging_level="ERROR", log_to_driver=False)
        try:
            while len([n for n in ray.nodes() if n["Alive"]]) < 2:
                if nodes[1].poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        "the second Ray node did not join:\n" + Path(log.name).read_text()[-3000:]
                    )
                time.sleep(0.5)
        finally:
            ray.shutdown()
        yield address
    finally:
        for node in reversed(nodes):
            _stop(node)
        log.close()
        shutil.rmtree(temp, ignore_errors=True)


def _without_times(trials):
    return {
        t["key"]: {
            **{k: v for k, v in t.items() if k not in ("seconds", "wall_seconds", "history")},
            "history": [{k: v for k, v in e.items() if k != "seconds"} for e in t["history"]],
        }
        for t in trials
    }


@pytest.mark.slow
def test_sweep_and_compare_on_a_ray_cluster_equal_the_local_runs(ray_cluster, tmp_path):
    grid = "lr=0.003,0.03 hidden=8,32"
    lines = []
    _, remote = glassnet.study.sweep(
        grid=grid,
        seeds=2,
        epochs=2,
        out=tmp_path / "ray",
        ray_address=ray_cluster,
        log=lines.append,
    )
    assert f"on the Ray cluster at {ray_cluster}" in lines[0]
    _, local = glassnet.study.sweep(
        grid=grid, seeds=2, epochs=2, out=tmp_path / "local", jobs=1, log=lambda *a: None
    )
    assert remote["counts"] == {"ok": 8, "diverged": 0, "failed": 0}
    assert _without_times(remote["trials"]) == _without_times(local["trials"])
    assert remote["best"] == local["best"]
    assert (tmp_path / "ray" / "report.html").is_file()

    # compare's (model, engine) runs on the same cluster
    from glassnet.study import CompareConfig, run_compare

    config = CompareConfig(models=["baseline", "cnn"], engines=["glassnet"], epochs=1)
    _, remote = run_compare(
        config, out=tmp_path / "c-ray", ray_address=ray_cluster, log=lambda *a: None, report=False
    )
    _, local = run_compare(config, out=tmp_path / "c-local", log=lambda *a: None, report=False)
    keys = ("model", "engine", "status", "final_test_accuracy", "test_predictions")
    assert [{k: r.get(k) for k in keys} for r in remote["runs"]] == [
        {k: r.get(k) for k in keys} for r in local["runs"]
    ]
